"""Graders by name: what `--grader NAME`, the runner and regrading choose from.

A grader is a function `(item, output) -> Grade`; `register` adds one under a stable name (the
name is stored with every grade). The built-in ones wrap the GSM8K, MedCalc and math-verify
graders, which take the parts of the item they need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.data import find_spec
from engine.errors import GraderError
from engine.grading.gsm8k import grade_gsm8k
from engine.grading.math_verify import grade_math_verify
from engine.grading.medcalc import grade_medcalc, has_limits
from engine.records import Grade, Item

GradeFunction = Callable[[Item, str], Grade]


@dataclass(frozen=True)
class Grader:
    """A named grader; calling it grades one output for one item."""

    name: str
    description: str
    function: GradeFunction

    def __call__(self, item: Item, output: str) -> Grade:
        return self.function(item, output)


# name -> grader, in the order they are listed.
GRADERS: dict[str, Grader] = {}


def register(name: str, description: str) -> Callable[[GradeFunction], GradeFunction]:
    """Decorator: make `function(item, output) -> Grade` the grader called `name`."""

    def add(function: GradeFunction) -> GradeFunction:
        GRADERS[name] = Grader(name, description, function)
        return function

    return add


def grader_names() -> str:
    """The registered names, for "choose from ..." messages."""
    return ", ".join(GRADERS)


def get_grader(name: str) -> Grader:
    """The grader called `name`; GraderError naming the choices when there is none."""
    try:
        return GRADERS[name]
    except KeyError:
        raise GraderError(f"unknown grader {name!r} (choose from {grader_names()})") from None


def default_grader(item: Item) -> str:
    """The grader an item gets unless one is chosen: its dataset spec's, else by its answer.

    Items of a registered benchmark get the spec's grader; items from a user's file (or records
    graded with `tunelens grade`) get medcalc when their answer looks like MedCalc's, else gsm8k.
    """
    spec = find_spec(item.dataset)
    if spec is not None and spec.name != "file":
        return spec.grader
    if "medcalc" in item.dataset.lower():
        return "medcalc"
    if item.answer_type in ("date", "gestational_age"):
        return "medcalc"
    if item.answer_type in ("decimal", "integer") and has_limits(item):
        return "medcalc"
    return "gsm8k"


@register("gsm8k", "committed number (question-aware), compared exactly with the gold")
def _gsm8k(item: Item, output: str) -> Grade:
    return grade_gsm8k(output, item.gold, item.question)


@register("medcalc", "MedCalc-Bench rules: limits, rounding, dates, gestational ages")
def _medcalc(item: Item, output: str) -> Grade:
    return grade_medcalc(output, item)


@register("math-verify", "symbolic equivalence with the gold (math-verify, time-bounded)")
def _math_verify(item: Item, output: str) -> Grade:
    return grade_math_verify(output, item.gold)
