"""MedCalc-Bench grading: the benchmark's own rule for each output type.

decimal answers must fall inside the row's limits, integers must match after rounding, dates must
be the same day and gestational ages the same number of days. The gold's shape can override the
declared type, because MedCalc-Bench's own labels are inconsistent (see `_medcalc_kind`).
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from engine.grading.dates import DATE_RE, GA_RE, GestationalAge, date_value, format_date, ga_value
from engine.grading.extract import Kind, extract
from engine.grading.numbers import NUMBER_RE, parse_number
from engine.records import AnswerType, Grade, Item

MEDCALC_OUTPUT_TYPES: tuple[AnswerType, ...] = ("decimal", "integer", "date", "gestational_age")


def _parse_gold_ga(gold: str) -> GestationalAge | None:
    """Gold gestational age: "('34 weeks', '6 days')", "(4, 3)", or total days ("31")."""
    m = GA_RE.search(gold)
    if m:
        return ga_value(m)
    days = parse_number(gold)
    if days is not None and days.denominator == 1 and days >= 0:
        return GestationalAge(int(days) // 7, int(days) % 7)
    return None


_FULL_DATE_RE = re.compile(r"\s*\d{1,2}/\d{1,2}/\d{4}\s*$|\s*\d{4}-\d{1,2}-\d{1,2}\s*$")
_TOLERANCE = Fraction(1, 10**9)  # absorbs float noise in the CSV limits (8.549999999999999)


def _field(item: Item, *names: str) -> Any:
    """The first non-empty of `names` in the item's fields (loaders and CSV headers differ)."""
    for name in names:
        value = item.fields.get(name)
        if value is not None and value != "":
            return value
    return None


def limit_value(value: Any) -> Fraction | None:
    """A MedCalc limit as an exact number, or None when it is absent or not one number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Fraction(str(value))
    return parse_number(str(value)) if NUMBER_RE.fullmatch(str(value).strip()) else None


def _limits(item: Item) -> tuple[Fraction | None, Fraction | None]:
    lo = limit_value(_field(item, "lower_limit", "Lower Limit"))
    hi = limit_value(_field(item, "upper_limit", "Upper Limit"))
    return lo, hi


def has_limits(item: Item) -> bool:
    """Whether the item carries both MedCalc limits (a sign that it wants the medcalc grader)."""
    lo = _field(item, "lower_limit", "Lower Limit")
    hi = _field(item, "upper_limit", "Upper Limit")
    return lo is not None and hi is not None


_GA_GOLD_RE = re.compile(r"\s*[(\[]\s*\d+\s*,\s*\d+\s*[)\]]\s*|.*\bweeks?\b.*", re.I | re.S)


def gold_shape(gold: str) -> AnswerType | None:
    """The type a gold's own shape implies (gestational_age, date), else None."""
    if _GA_GOLD_RE.fullmatch(gold):
        return "gestational_age"
    if _FULL_DATE_RE.match(gold):
        return "date"
    return None


def _medcalc_kind(item: Item) -> str:
    """MedCalc output type: decimal, integer, date or gestational_age.

    The gold's shape wins over the declared type: MedCalc-Bench v1.0 labels gestational age
    "integer" (and one_shot.csv labels it "date") while its gold is "('34 weeks', '6 days')".
    """
    gold = item.gold
    shape = gold_shape(gold)
    if shape is not None:
        return shape
    declared = item.answer_type
    if declared not in MEDCALC_OUTPUT_TYPES:
        declared = str(_field(item, "output_type", "Output Type") or "").strip().lower()
        declared = declared.replace(" ", "_")
    if declared in MEDCALC_OUTPUT_TYPES:
        return declared
    lo, hi = _limits(item)
    value = parse_number(gold)
    has_range = lo is not None and hi is not None and lo != hi
    if has_range or (value is not None and value.denominator != 1):
        return "decimal"
    return "integer"


def _extraction_kind(medcalc_kind: str) -> Kind:
    """What to extract for a MedCalc output type: decimals and integers are numbers."""
    if medcalc_kind == "date":
        return "date"
    if medcalc_kind == "gestational_age":
        return "gestational_age"
    return "number"


def grade_medcalc(output: str, item: Item) -> Grade:
    """Grade a MedCalc-Bench answer with the benchmark's own rule for its output type.

    decimal: inside [Lower Limit, Upper Limit] (gold ±5% when absent); integer: equal after
    rounding (Python's round, as the official script); date: same day as MM/DD/YYYY; gestational
    age: same number of days ((4 weeks, 3 days) == 31 days). JSON "answer" fields come first,
    then the prose rules of the GSM8K grader. The grade's span is where the answer sits in
    `output` (None when nothing was found).
    """
    kind = _medcalc_kind(item)
    gold = item.gold.strip()
    found = extract(output, _extraction_kind(kind), json_first=True)
    if found is None:
        return Grade(None, False, "none", "medcalc", f"{kind}: no answer found; gold {gold}")
    extracted, rule = found.display, found.rule

    def verdict(correct: bool, detail: str) -> Grade:
        return Grade(extracted, correct, rule, "medcalc", f"{kind}: {detail}", found.span)

    if kind == "date":
        m = DATE_RE.search(gold)
        gold_date = date_value(m) if m else None
        if gold_date is None:
            return verdict(False, f"gold {gold!r} is not a date")
        ok = found.value == gold_date
        return verdict(ok, f"{extracted} {'=' if ok else '!='} gold {format_date(gold_date)}")
    if kind == "gestational_age":
        gold_ga = _parse_gold_ga(gold)
        if gold_ga is None or not isinstance(found.value, GestationalAge):
            return verdict(False, f"gold {gold!r} is not a gestational age")
        ok = found.value.total_days == gold_ga.total_days
        return verdict(ok, f"{extracted} {'=' if ok else '!='} gold {gold_ga}")

    assert isinstance(found.value, Fraction)
    gold_value = parse_number(gold)
    if gold_value is None:
        return verdict(False, f"gold {gold!r} is not a number")
    if kind == "integer":
        ok = round(found.value) == round(gold_value)
        return verdict(ok, f"round({extracted}) = {round(found.value)}, gold {round(gold_value)}")
    lo, hi = _limits(item)
    source = "limits"
    if lo is None or hi is None:
        lo, hi, source = gold_value * Fraction(95, 100), gold_value * Fraction(105, 100), "gold ±5%"
    lo, hi = min(lo, hi), max(lo, hi)
    tol = _TOLERANCE * max(1, abs(lo), abs(hi))
    ok = lo - tol <= found.value <= hi + tol
    where = "in" if ok else "not in"
    return verdict(ok, f"{extracted} {where} [{_format_float(lo)}, {_format_float(hi)}] ({source})")


def _format_float(x: Fraction) -> str:
    """A limit for the detail text, short enough to read (limits come from floats anyway)."""
    return f"{float(x):.6g}"
