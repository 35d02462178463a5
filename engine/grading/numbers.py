"""Numbers in model outputs: finding them, their exact value, their canonical text.

Numbers are compared exactly (fractions, not floats), so that float error cannot flip a verdict,
and written back canonically ("18", "1250.5", "1/3") so that stored extractions compare as text.
"""

from __future__ import annotations

import re
from fractions import Fraction

# 1,000,000 | 18 | 18.5 | .5 (thousands groups must be exactly three digits)
_UNSIGNED = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+"
NUMBER_RE = re.compile(
    rf"""
    (?<![\w.^/])                                # not inside a word, a number or a unit like /1.73
    (?P<sign>[-−])?
    (?:\\?\$\s?)?                               # currency, plain or LaTeX-escaped
    (?P<sign2>[-−])?
    (?:
        (?:(?P<whole>\d+)[ \t]*)?                # mixed number: 3\frac{{1}}{{2}}
        \\[dt]?frac\s*
        (?:\{{\s*(?P<fn>-?(?:{_UNSIGNED}))\s*\}}|(?P<fn1>\d))\s*
        (?:\{{\s*(?P<fd>{_UNSIGNED})\s*\}}|(?P<fd1>\d))
      | (?P<num>{_UNSIGNED})
        (?:[ \t]*/[ \t]*(?P<den>{_UNSIGNED})(?![/\d])
          | (?P<exp>[eE][-+]?\d{{1,4}})(?!\w|\.\d)       # scientific notation: 2.5e3
        )?
    )
    """,
    re.X,
)


MAX_EXPONENT = 300  # past this a "number" is overflow or noise, not an answer


def number_value(m: re.Match[str]) -> Fraction | None:
    """Exact value of a `NUMBER_RE` match, or None (zero denominator, absurdly long digits)."""
    try:
        if m["num"] is not None:
            value = Fraction(m["num"].replace(",", ""))
            if m["exp"] is not None:
                power = int(m["exp"][1:])
                if abs(power) > MAX_EXPONENT:
                    return None  # 1e309 and beyond: no answer, never read as 1 (or infinity)
                value *= Fraction(10) ** power
            if m["den"] is not None:
                den = Fraction(m["den"].replace(",", ""))
                if den == 0:
                    return None
                value /= den
        else:
            num = Fraction((m["fn"] or m["fn1"]).replace(",", ""))
            den = Fraction((m["fd"] or m["fd1"]).replace(",", ""))
            if den == 0:
                return None
            value = num / den
            if m["whole"]:
                value += int(m["whole"])
    except (ValueError, ZeroDivisionError):  # int() refuses more than 4300 digits
        return None
    return -value if (m["sign"] or m["sign2"]) else value


def format_number(x: Fraction) -> str:
    """Canonical text: "18", "1250.5", "-0.75", or "1/3" when no finite decimal exists."""
    if x.denominator == 1:
        return str(x.numerator)
    den, power, k = x.denominator, 1, 0
    reduced = den
    for p in (2, 5):
        while reduced % p == 0:
            reduced //= p
    if reduced != 1:
        return f"{x.numerator}/{x.denominator}"
    while power % den:
        power *= 10
        k += 1
    scaled = x.numerator * (power // den)
    digits = str(abs(scaled)).rjust(k + 1, "0")
    sign = "-" if scaled < 0 else ""
    return f"{sign}{digits[:-k]}.{digits[-k:]}"


_LATEX_TEXT_RE = re.compile(
    r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}"
)
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?")


def clean_latex(s: str) -> str:
    """Undo LaTeX formatting that hides a number: \\text{}, 1{,}000, 1\\,000, \\%, \\$."""
    s = _LATEX_TEXT_RE.sub(r" \1 ", s)
    s = _DEGREE_RE.sub("", s)
    for old, new in (
        ("{,}", ","),
        ("\\!", ""),
        ("\\,", ""),
        ("\\;", " "),
        ("\\ ", " "),
        ("\\%", "%"),
        ("\\$", "$"),
        ("\\left", ""),
        ("\\right", ""),
    ):
        s = s.replace(old, new)
    return s


def parse_number(text: str) -> Fraction | None:
    """The exact value of a text holding exactly one number ("$1,250.50", "3/4", "18 eggs").

    None when the text holds no number or several, so that "2 or 3" is not silently read as 2.
    A GSM8K worked solution is reduced to its "#### N" line first.
    """
    if "####" in text:
        text = text.rsplit("####", 1)[1]
    matches = NUMBER_RE.finditer(clean_latex(text))
    values = [v for m in matches if (v := number_value(m)) is not None]
    return values[0] if len(values) == 1 else None


def normalise_text(s: str) -> str:
    return " ".join(s.strip().strip("*_").rstrip(".").casefold().split())


def numbers_equal(a: str, b: str) -> bool:
    """Whether two answer strings are the same number ("18.0" == "18", "3/4" == "0.75").

    Exact rational comparison, so 0.1 + 0.2 style float error cannot flip a verdict. Strings that
    are not single numbers are compared as normalised text (case, spaces, trailing period).
    """
    x, y = parse_number(a), parse_number(b)
    if x is not None and y is not None:
        return x == y
    if x is not None or y is not None:
        return False
    return normalise_text(a) == normalise_text(b)
