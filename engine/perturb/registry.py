"""The perturbation registry: each built-in module registers its function with `@register`.

Why a registry filled by a decorator: a perturbation is one module that says its own name,
description and whether it changes the gold, next to the code; nothing else has to be edited to
add one. `PERTURBATIONS` keeps registration order, which is the order users see them in.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from engine.errors import PerturbationError
from engine.records import Item

__all__ = ["PERTURBATIONS", "PerturbFn", "Perturbation", "get", "register"]

PerturbFn = Callable[[Item, random.Random], Item | None]


@dataclass(frozen=True)
class Perturbation:
    """A named perturbation; `changes_gold` says whether variants get a new gold answer."""

    name: str
    description: str
    fn: PerturbFn
    changes_gold: bool


PERTURBATIONS: dict[str, Perturbation] = {}


def register(name: str, *, description: str,
             changes_gold: bool = False) -> Callable[[PerturbFn], PerturbFn]:
    """Register the decorated function as perturbation `name`; the function is returned as is."""

    def decorate(fn: PerturbFn) -> PerturbFn:
        if name in PERTURBATIONS:
            raise RuntimeError(f"perturbation {name!r} registered twice")
        PERTURBATIONS[name] = Perturbation(name, description, fn, changes_gold)
        return fn

    return decorate


def get(name: str) -> Perturbation:
    """The perturbation called `name`; PerturbationError naming the known ones otherwise."""
    try:
        return PERTURBATIONS[name]
    except KeyError:
        raise PerturbationError(
            f"unknown perturbation {name!r}; known: {', '.join(PERTURBATIONS)}") from None
