"""Grading model outputs: extract the committed answer, judge it against the gold.

`grade(item, output)` is the entry point; the Grade it returns says which rule found the answer
and where it sits in the output (`span`). One module per grader family (gsm8k, medcalc,
math_verify) behind the name registry; numbers, dates and the extraction rules they share live
in numbers, dates and extract.
"""

from __future__ import annotations

from engine.errors import GradeInputError, GraderError
from engine.grading.extract import Span, truncate_run_on
from engine.grading.gsm8k import extract_number_answer, grade_gsm8k
from engine.grading.jsonl import grade_jsonl_records
from engine.grading.math_verify import grade_math_verify
from engine.grading.medcalc import MEDCALC_OUTPUT_TYPES, grade_medcalc
from engine.grading.numbers import numbers_equal, parse_number
from engine.grading.registry import GRADERS, Grader, default_grader, get_grader, register
from engine.records import Grade, Item

__all__ = [
    "GRADERS",
    "MEDCALC_OUTPUT_TYPES",
    "GradeInputError",
    "Grader",
    "GraderError",
    "default_grader",
    "extract_number_answer",
    "get_grader",
    "grade",
    "grade_gsm8k",
    "grade_jsonl_records",
    "grade_math_verify",
    "grade_medcalc",
    "grade_with_span",
    "numbers_equal",
    "parse_number",
    "register",
    "truncate_run_on",
]


def grade(item: Item, output: str, grader: str | None = None) -> Grade:
    """Grade `output` for `item` with the named grader, or the item's default one.

    The Grade's `span` is where the extracted answer sits in `output`, for every grader that
    extracts from the text (gsm8k, medcalc); None for math-verify or when nothing matched.
    """
    return get_grader(grader or default_grader(item))(item, output)


def grade_with_span(
    item: Item, output: str, grader: str | None = None
) -> tuple[Grade, Span | None]:
    """`grade` and its span as a pair (the span is `Grade.span`; prefer reading it there)."""
    result = grade(item, output, grader)
    return result, result.span
