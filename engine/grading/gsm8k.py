"""GSM8K grading: the first committed number in the output, compared exactly with the gold."""

from __future__ import annotations

from engine.grading.extract import Span, extract
from engine.grading.numbers import format_number, normalise_text, parse_number
from engine.records import Grade


def extract_number_answer(output: str) -> tuple[str | None, str, Span | None]:
    """The model's first committed numeric answer: (normalised number, rule name, span in output).

    The span lets the UI highlight the text the verdict rests on; the rule name is stored so that
    a grade can be audited or re-derived later.
    """
    found = extract(output, "number", json_first=False)
    if found is None:
        return None, "none", None
    return found.display, found.rule, found.span


def grade_gsm8k(output: str, gold: str) -> Grade:
    """Grade a GSM8K-style numeric answer: first committed answer, exact numeric comparison.

    The grade's span is where that answer sits in `output` (None when nothing was found).
    """
    found = extract(output, "number", json_first=False)
    gold_value = parse_number(gold)
    if found is None:
        return Grade(None, False, "none", "gsm8k", f"no answer found; gold {gold.strip()}")
    if gold_value is None:
        correct = normalise_text(found.display) == normalise_text(gold)
        detail = "gold is not a number"
        return Grade(found.display, correct, found.rule, "gsm8k", detail, found.span)
    correct = found.value == gold_value
    detail = f"{found.display} {'=' if correct else '!='} gold {format_number(gold_value)}"
    return Grade(found.display, correct, found.rule, "gsm8k", detail, found.span)
