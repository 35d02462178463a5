"""Grading model outputs: extract the committed answer, judge it against the gold.

`grade(item, output)` is the entry point; the Grade it returns says which rule found the answer
and where it sits in the output (`span`). One module per grader family (gsm8k, medcalc,
math_verify, extract_llm) behind the name registry; numbers, dates and the extraction rules
they share live in numbers, dates and extract, LaTeX answers in latex, what a word problem asks
in asked.

The comparators also judge a bare answer that something else extracted (a model-based
extractor): `compare_number(answer, gold, question)`, `compare_latex(answer, gold)`, and
`grade_medcalc(answer, item)` (a bare "17.2" or "04/12/2021" is its own answer).
"""

from __future__ import annotations

from engine.errors import GradeInputError, GraderError
from engine.grading.extract import Span, truncate_run_on
from engine.grading.extract_llm import (
    PROMPT_VERSION,
    Extraction,
    ExtractLLMGrader,
    Extractor,
    clean_extraction,
    extraction_messages,
)
from engine.grading.gsm8k import compare_number, extract_number_answer, grade_gsm8k
from engine.grading.jsonl import grade_jsonl_records
from engine.grading.latex import extract_latex, normalise_latex
from engine.grading.math_verify import compare_latex, grade_math_verify
from engine.grading.medcalc import MEDCALC_OUTPUT_TYPES, grade_medcalc
from engine.grading.numbers import numbers_equal, parse_number
from engine.grading.registry import GRADERS, Grader, default_grader, get_grader, register
from engine.records import Grade, Item

__all__ = [
    "GRADERS",
    "MEDCALC_OUTPUT_TYPES",
    "PROMPT_VERSION",
    "ExtractLLMGrader",
    "Extraction",
    "Extractor",
    "GradeInputError",
    "Grader",
    "GraderError",
    "clean_extraction",
    "compare_latex",
    "compare_number",
    "default_grader",
    "extract_latex",
    "extract_number_answer",
    "extraction_messages",
    "get_grader",
    "grade",
    "grade_gsm8k",
    "grade_jsonl_records",
    "grade_math_verify",
    "grade_medcalc",
    "grade_with_span",
    "normalise_latex",
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
