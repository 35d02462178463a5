"""Numbers in model outputs: finding them, their exact value, their canonical text.

Numbers are compared exactly (fractions, not floats), so that float error cannot flip a verdict,
and written back canonically ("18", "1250.5", "1/3") so that stored extractions compare as text.
"""

from __future__ import annotations

import re
from fractions import Fraction

# 1,000,000 | 1 000 000 (thin, narrow no-break, no-break or plain space) | 18 | 18.5 | .5 |
# 3,5 (a decimal comma: one or two digits after it, so 3,500 stays three thousand five hundred).
# Thousands groups must be exactly three digits, with one separator throughout.
_GROUP_SEPARATORS = (",", r"\u2009", r"\u202f", r"\u00a0", r"\x20")
_THOUSANDS = "|".join(rf"\d{{1,3}}(?:{sep}\d{{3}})+(?!\d|{sep}\d)" for sep in _GROUP_SEPARATORS)
_UNSIGNED = rf"(?:{_THOUSANDS}|\d+,\d{{1,2}}(?![\d]|,\d)|\d+)(?:\.\d+)?|\.\d+"
_SEPARATORS_RE = re.compile(r"[,\u2009\u202f\u00a0 ]")
_DECIMAL_COMMA_RE = re.compile(r"\d+,\d{1,2}")
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


def plain_digits(text: str) -> str:
    """A matched number as Fraction() reads it: "3,5" -> "3.5", "1 234,00"... -> "1234"."""
    if _DECIMAL_COMMA_RE.fullmatch(text.lstrip("-")):
        return text.replace(",", ".")
    return _SEPARATORS_RE.sub("", text)


MAX_EXPONENT = 300  # past this a "number" is overflow or noise, not an answer


def number_value(m: re.Match[str]) -> Fraction | None:
    """Exact value of a `NUMBER_RE` match, or None (zero denominator, absurdly long digits)."""
    try:
        if m["num"] is not None:
            value = Fraction(plain_digits(m["num"]))
            if m["exp"] is not None:
                power = int(m["exp"][1:])
                if abs(power) > MAX_EXPONENT:
                    return None  # 1e309 and beyond: no answer, never read as 1 (or infinity)
                value *= Fraction(10) ** power
            if m["den"] is not None:
                den = Fraction(plain_digits(m["den"]))
                if den == 0:
                    return None
                value /= den
        else:
            num = Fraction(plain_digits(m["fn"] or m["fn1"]))
            den = Fraction(plain_digits(m["fd"] or m["fd1"]))
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


# ---------------------------------------------------------------------------------------------
# Numbers written as words: "twenty-five", "one hundred and five", "a dozen", "one half"
# ---------------------------------------------------------------------------------------------

_UNITS_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
)
_TENS_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety"
_UNITS = {w: i for i, w in enumerate(_UNITS_WORDS.split())}
_TENS = {w: 10 * i for i, w in enumerate(_TENS_WORDS.split(), start=2)}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_SMALL = "|".join(sorted([*_UNITS, *_TENS], key=len, reverse=True))
_WORD = rf"(?:{_SMALL}|hundred|thousand|million|billion)"
WORD_NUMBER_RE = re.compile(
    rf"""(?<![\w-])(?i:
        (?P<half>(?:(?:a|one)[ -])?half)
      | (?:(?P<dozens>{_SMALL})[ -]|(?P<a>a)[ ])dozen
      | (?P<words>(?:{_SMALL})(?:(?:[ -]|[ ]and[ ])(?:{_WORD}))*)
    )(?![\w-])""",
    re.X,
)


def word_number_value(m: re.Match[str]) -> Fraction | None:
    """The value of a `WORD_NUMBER_RE` match ("one hundred and five" -> 105), or None."""
    if m["half"]:
        return Fraction(1, 2)
    if m["a"]:
        return Fraction(12)
    if m["dozens"]:
        small = m["dozens"].lower()
        return Fraction(12 * (_UNITS.get(small) or _TENS.get(small, 0)))
    total, current, last_small = 0, 0, None
    for word in re.split(r"[ -]+", m["words"].lower()):
        if word == "and":
            continue
        if word in _SCALES:
            scale = _SCALES[word]
            if scale == 100:
                current = (current or 1) * 100
            else:
                total += (current or 1) * scale
                current = 0
            last_small = None
            continue
        value = _UNITS.get(word, _TENS.get(word))
        if value is None:
            return None
        # "twenty five" is 25; "five five" or "twenty thirty" is two numbers, not one
        if last_small is not None and not (last_small in _TENS and word in _UNITS and value < 10):
            return None
        current += value
        last_small = word
    return Fraction(total + current)
