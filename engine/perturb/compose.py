"""Applying perturbations: one or several steps in order, each with its own seeded RNG.

Each perturbation is a pure function of (item, seeded RNG); the RNG of a step is derived from
(seed, item id, step) with hashlib, so a variant is identical on every machine and a run can be
resumed.

Spec syntax (`parse_perturb_spec`): a comma separates variants, each run on its own; a plus
composes steps in order. "numbers,names" gives two variants per item; "numbers+irrelevant,names"
gives one variant with new numbers and an irrelevant sentence, and one with new names.

A variant's `perturbation_params` maps each step's name to what it changed (JSON-serialisable).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from engine.data.embedded.templates import EvalError, stable_int
from engine.errors import PerturbationError
from engine.perturb._template import template_of
from engine.perturb.registry import PERTURBATIONS, Rejected, get
from engine.records import Item

__all__ = ["Attempt", "attempt", "numbers_coverage", "parse_perturb_spec", "perturb",
           "variant_id"]

# Steps that rebuild an embedded item's text from its template (discarding earlier text edits).
_REBUILDS = {"numbers", "symbolic"}
_REBUILD_SAFE_BEFORE = {"names", "numbers", "symbolic"}


def variant_id(original_id: str, names: Sequence[str], seed: int) -> str:
    """Stable id of a variant: '<original>~<step+step>@<seed>'."""
    return f"{original_id}~{'+'.join(names)}@{seed}"


def _check_steps(steps: Sequence[str], written: str) -> None:
    """PerturbationError for an unknown or a repeated step of the variant `written`."""
    for step in steps:
        get(step)
    if len(set(steps)) != len(steps):
        raise PerturbationError(f"perturbation repeated in {written!r}")


def parse_perturb_spec(spec: str) -> list[list[str]]:
    """Parse '--perturb': ',' separates variants, '+' composes steps within one variant.

    "numbers,names" → [["numbers"], ["names"]]; "numbers+irrelevant,names" →
    [["numbers", "irrelevant"], ["names"]]. Raises PerturbationError (a ValueError) for unknown
    or repeated names, and for `symbolic` after another step (it would discard that step's
    changes).
    """
    variants: list[list[str]] = []
    for chunk in spec.split(","):
        chunk = chunk.strip()
        if not chunk:
            continue
        steps = [s.strip().lower() for s in chunk.split("+")]
        _check_steps(steps, chunk)
        if "symbolic" in steps[1:]:
            raise PerturbationError(
                f"'symbolic' must come first in {chunk!r}: it rebuilds the item")
        if steps not in variants:
            variants.append(steps)
    if not variants:
        raise PerturbationError(
            f"no perturbation in {spec!r}; known: {', '.join(PERTURBATIONS)}")
    return variants


def _step_rng(seed: int, item_id: str, index: int, name: str) -> random.Random:
    return random.Random(stable_int("perturb", seed, item_id, index, name))


@dataclass(frozen=True)
class Attempt:
    """What applying a chain to one item gave: the variant, or the step and reason it failed.

    `reason` is a code the step's module registered (`Perturbation.reasons`), "none" for a step
    that returned None without one, "rebuild-after-edit" for a template rebuild after a text
    edit, or "error:<exception>" for a malformed item the step could not read.
    """

    variant: Item | None
    step: str | None = None
    reason: str | None = None


def attempt(item: Item, names: Sequence[str], seed: int) -> Attempt:
    """Apply perturbations in order; the variant, or which step rejected the item and why.

    The variant's `original_id` is `item.item_id`, `perturbation` the '+'-joined names,
    `perturbation_params` {step name: what it changed}. Never raises for odd items; raises
    PerturbationError (a ValueError) for no, unknown or repeated names.
    """
    names = list(names)
    if not names:
        raise PerturbationError("no perturbation given")
    _check_steps(names, "+".join(names))
    current = replace(item, perturbation_params={})
    params: dict[str, Any] = {}
    for index, name in enumerate(names):
        if (name in _REBUILDS and template_of(current) is not None
                and not set(names[:index]) <= _REBUILD_SAFE_BEFORE):
            return Attempt(None, name, "rebuild-after-edit")
        try:
            out = get(name).fn(current, _step_rng(seed, item.item_id, index, name))
        except Rejected as rejected:
            return Attempt(None, name, rejected.code)
        except (ValueError, ArithmeticError, KeyError, IndexError, EvalError) as exc:
            # a malformed item: no variant rather than a crash
            return Attempt(None, name, f"error:{type(exc).__name__}")
        if out is None:
            return Attempt(None, name, "none")
        params[name] = out.perturbation_params
        current = out
    return Attempt(replace(
        current,
        item_id=variant_id(item.item_id, names, seed),
        original_id=item.item_id,
        perturbation="+".join(names),
        perturbation_seed=seed,
        perturbation_params=params,
    ))


def perturb(item: Item, names: Sequence[str], seed: int) -> Item | None:
    """Apply perturbations in order; None if any step cannot produce a valid variant (see
    `attempt` for why). Raises PerturbationError (a ValueError) for no, unknown or repeated
    names."""
    return attempt(item, names, seed).variant


def numbers_coverage(items: Iterable[Item], seed: int = 0) -> tuple[int, int]:
    """(items with a valid `numbers` variant, items): how much of a set `numbers` can perturb."""
    n_valid = n_total = 0
    for item in items:
        n_total += 1
        if perturb(item, ["numbers"], seed) is not None:
            n_valid += 1
    return n_valid, n_total
