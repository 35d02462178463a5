"""The perturbation registry: each built-in module registers its function with `@register`.

Why a registry filled by a decorator: a perturbation is one module that says its own name,
description and whether it changes the gold, next to the code; nothing else has to be edited to
add one. `PERTURBATIONS` keeps registration order, which is the order users see them in.

Why reason codes: a perturbation that cannot make a valid variant says why by raising
`Rejected(code)` (`reject(code)`), with `code` one of the `reasons` it registered, so coverage
reports (`tunelens perturbations --stats`) count rejections by the module's own reasons instead of
guessing them afterwards. Returning None still works and counts as the reason "none".
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from engine.errors import PerturbationError
from engine.records import Item

__all__ = ["PERTURBATIONS", "PerturbFn", "Perturbation", "Rejected", "get", "register", "reject"]

PerturbFn = Callable[[Item, random.Random], Item | None]


class Rejected(Exception):
    """Raised by a perturbation for an item it cannot perturb validly; `code` says why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def reject(code: str) -> Rejected:
    """The `Rejected` to raise for reason `code` (`raise reject("branching")`)."""
    return Rejected(code)


@dataclass(frozen=True)
class Perturbation:
    """A named perturbation; `changes_gold` says whether variants get a new gold answer;
    `reasons` maps each rejection code the module raises to what it means."""

    name: str
    description: str
    fn: PerturbFn
    changes_gold: bool
    reasons: Mapping[str, str] = field(default_factory=dict)


PERTURBATIONS: dict[str, Perturbation] = {}


def register(name: str, *, description: str, changes_gold: bool = False,
             reasons: Mapping[str, str] | None = None) -> Callable[[PerturbFn], PerturbFn]:
    """Register the decorated function as perturbation `name`; the function is returned as is.
    `reasons`: the rejection codes it may raise (`reject(code)`), each with its meaning."""

    def decorate(fn: PerturbFn) -> PerturbFn:
        if name in PERTURBATIONS:
            raise RuntimeError(f"perturbation {name!r} registered twice")
        PERTURBATIONS[name] = Perturbation(name, description, fn, changes_gold,
                                           MappingProxyType(dict(reasons or {})))
        return fn

    return decorate


def get(name: str) -> Perturbation:
    """The perturbation called `name`; PerturbationError naming the known ones otherwise."""
    try:
        return PERTURBATIONS[name]
    except KeyError:
        raise PerturbationError(
            f"unknown perturbation {name!r}; known: {', '.join(PERTURBATIONS)}") from None
