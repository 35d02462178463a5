"""GSM8K grading: the model's committed number, read in the light of the question, compared
exactly with the gold.

`grade_gsm8k(output, gold, question)` extracts; `compare_number(answer, gold, question)` judges a
bare answer string that something else extracted (the extract-llm grader), with the same rules.
"""

from __future__ import annotations

import re
from fractions import Fraction

from engine.grading.asked import (
    as_duration,
    candidates,
    choose,
    counted_nouns,
    read_question,
    sentence_around,
)
from engine.grading.extract import Extraction, Span, extract
from engine.grading.numbers import format_number, normalise_text, parse_number
from engine.records import Grade

_SCALE_AFTER_RE = re.compile(r"[ \t]+(thousand|million|billion)\b", re.I)
_SCALES = {"thousand": 1000, "million": 10**6, "billion": 10**9}

# rules whose answer the model did not mark: the question may pick another number of the sentence
_UNMARKED_RULES = ("last-number", "leading-number")


def extract_number_answer(output: str) -> tuple[str | None, str, Span | None]:
    """The model's first committed numeric answer: (normalised number, rule name, span in output).

    The span lets the UI highlight the text the verdict rests on; the rule name is stored so that
    a grade can be audited or re-derived later.
    """
    found = extract(output, "number", json_first=False)
    if found is None:
        return None, "none", None
    return found.display, found.rule, found.span


def read_answer(output: str, question: str = "") -> Extraction | None:
    """The committed number of `output`, with the question's say where the output leaves it open:
    a duration "2:15" in the unit asked, one of several numbers in an unmarked final sentence, a
    marked answer whose unit contradicts the question while its clause holds one that fits."""
    found = extract(output, "number", json_first=False)
    if found is None:
        return found
    scale = _SCALE_AFTER_RE.match(output, found.span[1])
    if scale and isinstance(found.value, Fraction):  # "The answer is 2 million."
        value = found.value * _SCALES[scale[1].lower()]
        found = Extraction(value, format_number(value), found.rule, (found.span[0], scale.end()))
    if not question:
        return found
    asked = read_question(question)
    assert not isinstance(found.value, str)
    duration = as_duration(output, found.span, found.value, asked.time_unit)  # type: ignore[arg-type]
    if duration is not None:
        value, rule = duration
        return Extraction(value, format_number(value), rule, found.span)
    marked = found.rule not in _UNMARKED_RULES
    start, end = sentence_around(output, found.span[0])
    if marked:  # only the answer's own clause: "The answer is 9 eggs for $18."
        start = max(start, found.span[0] - 2 if "$" in output[found.span[0] - 2:found.span[0]]
                    else found.span[0])
    cands = candidates(output, start, end)
    at = found.span[0]
    picked = next((c for c in cands if c.span[0] <= at < c.span[1]), None)  # "$20" holds "20"
    if picked is not None:
        better = choose(asked, cands, picked, counted_nouns(question), marked=marked)
        if better is not None:
            cand, rule = better
            return Extraction(cand.value, format_number(cand.value), rule, cand.span)
    return found


def grade_gsm8k(output: str, gold: str, question: str = "") -> Grade:
    """Grade a GSM8K-style numeric answer: the committed answer, exact numeric comparison.

    `question` (optional) settles what the output alone cannot: "2:15" is 135 when minutes are
    asked, and "He buys 5 notebooks for $20." answers 5 to "how many notebooks". The grade's span
    is where that answer sits in `output` (None when nothing was found).
    """
    found = read_answer(output, question)
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


def compare_number(answer: str, gold: str, question: str = "") -> Grade:
    """Judge a bare extracted answer ("18", "$1,250", "twenty-five", "2:15") against the gold."""
    return grade_gsm8k(answer, gold, question)
