"""Gold numbers in one normal form ("1,200", "$18.00", "50%", "3/4" → "1200", "18", "50", "0.75"),
so that graders compare like with like whatever the dataset wrote."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from engine.data.embedded.templates import format_number

_DECIMAL_RE = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)$")
_FRACTION_RE = re.compile(r"^[-+]?\d+\s*/\s*\d+$")


def normalize_number(text: Any) -> str | None:
    """Normalise a gold number ("1,200", "$18.00", "50%", "3/4") to GSM8K's form, else None."""
    if isinstance(text, bool) or text is None:
        return None
    if isinstance(text, int):
        return str(text)
    if isinstance(text, float):
        text = repr(text)
    s = str(text).strip().replace(",", "").replace(" ", "")
    s = s.removeprefix("$").removesuffix("%").rstrip(".")
    if s.startswith("-$"):
        s = "-" + s[2:]
    if _DECIMAL_RE.match(s):
        return format_number(Fraction(s.rstrip(".") or "0"))
    if _FRACTION_RE.match(s):
        num, den = (part.strip() for part in s.split("/"))
        if int(den) == 0:
            return None
        value = Fraction(int(num), int(den))
        if _terminates(value):
            return format_number(value)
        return f"{value.numerator}/{value.denominator}"
    return None


def _terminates(value: Fraction) -> bool:
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    return den == 1


def gold_from_answer(answer: Any) -> tuple[str | None, str]:
    """Gold from a plain number or a GSM8K-style '... #### N' answer; returns (gold, raw)."""
    if answer is None:
        return None, ""
    raw = str(answer).strip()
    if "####" in raw:
        raw = raw.split("####")[-1].strip()
    return normalize_number(raw), raw
