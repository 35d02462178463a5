"""Answer extraction and grading: GSM8K-style numbers, MedCalc-Bench outputs, math-verify.

Why this needs care: base models keep writing after they answer (a made-up "Q: ..." with its own
"The answer is 7."), chat models write "**Answer: 18**", MedCalc prompts ask for JSON, and the paper
behind this tool shows that the choice of grader changes the verdict. So every grade records which
rule matched (the rule names are stable, they are stored in the database), the grade reflects the
model's first committed answer, numbers are compared exactly (fractions, not floats), and model
text is never executed.

Rules, in priority order (GSM8K; MedCalc puts `json-answer` first and ends with `last-date` or
`last-gestational-age` for those output types):

* `answer-is`     "The answer is 18", "the final answer is 18", "Answer: 18"
* `final-answer`  "Final answer: 18"
* `hashes`        "#### 18"
* `boxed`         "\\boxed{18}", "\\boxed{\\frac{3}{4}}" (first box)
* `bold`          "**Answer: 18**", "**Answer:** 18" (first), else a bold bare number "**$18**"
                  (the last one: chat models also bold intermediate results)
* `last-number`   the last number in the output (lm-evaluation-harness "flexible-extract")
* `none`          nothing found: extracted None, not correct

Before extraction the output is cut where the model starts a made-up new turn ("Q:", "Question:",
"Human:", "<|im_start|>", ... once some answer text, i.e. a digit, came before it).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Literal

from engine.errors import GradeInputError
from engine.records import AnswerType, Grade, Item

__all__ = [
    "GRADERS",
    "MEDCALC_OUTPUT_TYPES",
    "GradeInputError",
    "default_grader",
    "extract_number_answer",
    "grade",
    "grade_gsm8k",
    "grade_jsonl_records",
    "grade_math_verify",
    "grade_medcalc",
    "grade_with_span",
    "numbers_equal",
    "parse_number",
    "truncate_run_on",
]

Span = tuple[int, int]
Kind = Literal["number", "date", "gestational_age"]

MEDCALC_OUTPUT_TYPES: tuple[AnswerType, ...] = ("decimal", "integer", "date", "gestational_age")
_ANSWER_TYPES: frozenset[str] = frozenset(
    ("number", "decimal", "integer", "date", "gestational_age", "text")
)

# ---------------------------------------------------------------------------------------------
# Cutting run-on outputs
# ---------------------------------------------------------------------------------------------

_TURN_TOKENS = (
    r"<\|im_start\|>|<\|im_end\|>|<\|endoftext\|>|<\|eot_id\|>|<\|start_header_id\|>"
    r"|<\|user\|>|<\|end\|>|<start_of_turn>|<end_of_turn>|</s>"
)
_NEW_TURN_RE = re.compile(
    rf"""
    (?:{_TURN_TOKENS})
    | (?<![\w*])(?:Q\d*+|Question\ ?\d*+):   # anywhere, as lm-evaluation-harness stops at "Q:"
    | (?:^|(?<=[.!?]\ ))                 # a line start, or right after a sentence
      [ \t]*+
      (?:
          (?:[#>]++[ \t]*+)?             # markdown "## ", "> "; possessive: no backtracking
          (?i:
              Q\d*+\s*+[:.)]
            | Question\s*+\d*+\s*+[:.]
            | Problem\s*+\d*+\s*+[:.]
            | Human\s*+:
            | User\s*+:
            | Here\ is\ the\ patient\ note
          )
        | \#{{2,}}+[ \t]*+(?i:Instruction|Question|Problem|Input)
      )
    """,
    re.M | re.X,
)
_DIGIT_RE = re.compile(r"\d")


def truncate_run_on(output: str) -> str:
    """Cut `output` where the model starts a made-up new question or turn.

    Base models keep going after their answer ("... The answer is 18.\\n\\nQ: Tom has ..."); the
    invented continuation has its own answers, which must not be graded. A marker only counts once
    some answer text (a digit) precedes it, so an output that opens by restating the question is
    left alone.
    """
    for m in _NEW_TURN_RE.finditer(output):
        if m.start() > 0 and _DIGIT_RE.search(output, 0, m.start()):
            return output[: m.start()]
    return output


# ---------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------

# 1,000,000 | 18 | 18.5 | .5 (thousands groups must be exactly three digits)
_UNSIGNED = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+"
_NUMBER_RE = re.compile(
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
      | (?P<num>{_UNSIGNED})(?:[ \t]*/[ \t]*(?P<den>{_UNSIGNED})(?![/\d]))?
    )
    """,
    re.X,
)
# A number directly followed by an operator and another number starts an expression, not an
# answer ("Answer: 16 - 3 - 4 = 9").
_OPERATOR_AFTER_RE = re.compile(r"[ \t]*(?:[-+*×÷^=−]|x\s)[ \t]*\(?\d")
_EXPRESSION_RE = re.compile(r"\d[ \t]*(?:[-+*×÷^=−]|x\s)[ \t]*\(?\d|\d[ \t]*/[ \t]*\(")


def _number_value(m: re.Match[str]) -> Fraction | None:
    """Exact value of a `_NUMBER_RE` match, or None (zero denominator, absurdly long digits)."""
    try:
        if m["num"] is not None:
            value = Fraction(m["num"].replace(",", ""))
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


def _format_number(x: Fraction) -> str:
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


def _clean_latex(s: str) -> str:
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
    matches = _NUMBER_RE.finditer(_clean_latex(text))
    values = [v for m in matches if (v := _number_value(m)) is not None]
    return values[0] if len(values) == 1 else None


def _normalise_text(s: str) -> str:
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
    return _normalise_text(a) == _normalise_text(b)


# ---------------------------------------------------------------------------------------------
# Dates and gestational ages (MedCalc)
# ---------------------------------------------------------------------------------------------

_MONTH_NAMES = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_DATE_RE = re.compile(
    rf"""
    (?<![\d/.])
    (?:
        (?P<m>\d{{1,2}})(?P<sep>[/\-.])(?P<d>\d{{1,2}})(?P=sep)(?P<y>\d{{4}}|\d{{2}})(?![\d/])
      | (?P<iy>\d{{4}})(?P<isep>[/\-.])(?P<im>\d{{1,2}})(?P=isep)(?P<id>\d{{1,2}})(?![\d/])
      | (?P<mn>{_MONTH_NAMES})\.?\s+(?P<md>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<my>\d{{4}})
      | (?P<dd>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mn2>{_MONTH_NAMES})\.?,?\s+(?P<dy>\d{{4}})
    )
    """,
    re.X | re.I,
)


def _date_value(m: re.Match[str]) -> date | None:
    """A valid calendar date from a `_DATE_RE` match (US order M/D/Y, as MedCalc asks)."""
    if m["m"] is not None:
        y, mo, d = int(m["y"]), int(m["m"]), int(m["d"])
        if len(m["y"]) == 2:
            y += 2000 if y < 69 else 1900  # the strptime %y convention
    elif m["iy"] is not None:
        y, mo, d = int(m["iy"]), int(m["im"]), int(m["id"])
    elif m["mn"] is not None:
        y, mo, d = int(m["my"]), _MONTHS[m["mn"][:3].lower()], int(m["md"])
    else:
        y, mo, d = int(m["dy"]), _MONTHS[m["mn2"][:3].lower()], int(m["dd"])
    try:
        return date(y, mo, d)
    except ValueError:
        return None


def _format_date(d: date) -> str:
    return f"{d.month:02d}/{d.day:02d}/{d.year:04d}"


_GA_RE = re.compile(
    r"""
    (?<![\w.])
    (?:
        (?:[(\[]\s*)?['"]?(?P<w>\d{1,3})\s*(?:weeks?|wks?|w)(?![a-z])\s*['"]?\s*
        (?:,|and|\+|&)?\s*['"]?\s*(?P<d>\d{1,3})\s*(?:days?|d)(?![a-z])\s*['"]?\s*[)\]]?
      | [(\[]\s*(?P<w2>\d{1,3})\s*,\s*(?P<d2>\d{1,3})\s*[)\]]
      | (?P<wo>\d{1,3})\s*(?:weeks?|wks?)(?![a-z])
      | (?P<do>\d{1,4})\s*days?(?![a-z])
    )
    """,
    re.X | re.I,
)


@dataclass(frozen=True)
class _GestationalAge:
    weeks: int
    days: int

    @property
    def total_days(self) -> int:
        return self.weeks * 7 + self.days

    def __str__(self) -> str:
        return f"({self.weeks} weeks, {self.days} days)"


def _ga_value(m: re.Match[str]) -> _GestationalAge:
    if m["w"] is not None:
        return _GestationalAge(int(m["w"]), int(m["d"]))
    if m["w2"] is not None:
        return _GestationalAge(int(m["w2"]), int(m["d2"]))
    if m["wo"] is not None:
        return _GestationalAge(int(m["wo"]), 0)
    days = int(m["do"])
    return _GestationalAge(days // 7, days % 7)


def _parse_gold_ga(gold: str) -> _GestationalAge | None:
    """Gold gestational age: "('34 weeks', '6 days')", "(4, 3)", or total days ("31")."""
    m = _GA_RE.search(gold)
    if m:
        return _ga_value(m)
    days = parse_number(gold)
    if days is not None and days.denominator == 1 and days >= 0:
        return _GestationalAge(int(days) // 7, int(days) % 7)
    return None


# ---------------------------------------------------------------------------------------------
# Extraction machinery: rules yield fragments, a kind-specific parser reads the answer from them
# ---------------------------------------------------------------------------------------------

Value = Fraction | date | _GestationalAge


@dataclass(frozen=True)
class _Fragment:
    """A piece of output where a rule expects the answer.

    `text` is what to parse; when it is a verbatim slice of the output (`verbatim`), a parsed span
    maps back exactly, otherwise (decoded JSON, cleaned LaTeX) the whole fragment span is reported.
    `strict` fragments must start with the answer (after filler such as spaces, "**", "$").
    """

    rule: str
    text: str
    start: int
    end: int
    verbatim: bool = True
    strict: bool = True


@dataclass(frozen=True)
class _Extraction:
    value: Value
    display: str
    rule: str
    span: Span


_FILLER_RE = re.compile(
    r"""(?:
        \s | \* | _ | : | = | ~ | ≈ | " | ' | \\?\$ | \\\( | \\\[ | \{
      | \\text(?:bf)?\s*\{ | \\mathbf\s*\{ | \\approx
      | (?i:approximately|approx\.?|about|around|roughly|therefore|thus|then|simply)\b
      | (?i:equals?(?:\s+to)?)\b
    )*""",
    re.X,
)
_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*(?=\{)|\\boxed\s+(?=[^\s{])")
_WINDOW = 200  # how far after a marker the answer may start


def _matching_braces(text: str) -> dict[int, int]:
    """Index of each "{" -> index of its "}", in one pass (boxes nest: \\boxed{\\frac{3}{4}})."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for i, c in enumerate(text):
        if c == "{":
            stack.append(i)
        elif c == "}" and stack:
            pairs[stack.pop()] = i
    return pairs


def _boxes(text: str) -> Iterator[tuple[int, int]]:
    """Spans of the contents of every \\boxed{...} / \\fbox{...} / "\\boxed 18" in order."""
    pairs: dict[int, int] | None = None
    for m in _BOX_RE.finditer(text):
        if text.startswith("{", m.end()):
            if pairs is None:
                pairs = _matching_braces(text)
            close = pairs.get(m.end())
            if close is not None:
                yield m.end() + 1, close
        else:
            end = m.end()
            while end < len(text) and not text[end].isspace() and text[end] not in "$.,;":
                end += 1
            yield m.end(), end


def _search_value(kind: Kind, s: str) -> tuple[Value, Span] | None:
    """The first answer of `kind` anywhere in `s` (lenient: JSON values, box contents)."""
    if kind == "number":
        if _EXPRESSION_RE.search(s):  # "str(round(140 * 70 / 72))": never evaluate it
            return None
        for m in _NUMBER_RE.finditer(s):
            if (v := _number_value(m)) is not None:
                return v, m.span()
    elif kind == "date":
        for m in _DATE_RE.finditer(s):
            if (d := _date_value(m)) is not None:
                return d, m.span()
    else:
        if m := _GA_RE.search(s):
            return _ga_value(m), m.span()
    return None


def _value_at(kind: Kind, s: str, pos: int = 0) -> tuple[Value, Span] | None:
    """The answer of `kind` that starts `s[pos:]`, after filler (strict rules)."""
    p = _FILLER_RE.match(s, pos).end()  # type: ignore[union-attr]  # matches the empty string
    box = _BOX_RE.match(s, p)
    if box:  # "The answer is $\boxed{1{,}000}$": the box right here, not a later one
        start, end = next(_boxes(s[p:]), (0, 0))
        if start != box.end() - p + int(s.startswith("{", box.end())):
            return None  # unclosed brace
        found = _search_value(kind, _clean_latex(s[p + start : p + end]))
        return (found[0], (p + start, p + end)) if found else None
    if kind == "number":
        m = _NUMBER_RE.match(s, p)
        if m is None or _OPERATOR_AFTER_RE.match(s, m.end()):
            return None
        v = _number_value(m)
        return (v, m.span()) if v is not None else None
    if kind == "date":
        m = _DATE_RE.match(s, p)
        d = _date_value(m) if m else None
        return (d, m.span()) if d is not None and m else None
    m = _GA_RE.match(s, p)
    return (_ga_value(m), m.span()) if m else None


def _display(value: Value) -> str:
    if isinstance(value, Fraction):
        return _format_number(value)
    if isinstance(value, date):
        return _format_date(value)
    return str(value)


def _parse_fragment(kind: Kind, frag: _Fragment) -> _Extraction | None:
    found = _value_at(kind, frag.text) if frag.strict else _search_value(kind, frag.text)
    if found is None:
        return None
    value, (s, e) = found
    span = (frag.start + s, frag.start + e) if frag.verbatim else (frag.start, frag.end)
    return _Extraction(value, _display(value), frag.rule, span)


# --- rules -----------------------------------------------------------------------------------

_ANSWER_IS_RE = re.compile(
    r"\banswer\b(?:\s+to\s+[^.\n:]{1,60}?(?=\s+(?:is|was)\b))?\s*"
    r"(?P<verb>is\b|was\b|would\s+be\b|will\s+be\b|should\s+be\b|[:=：])",
    re.I,
)
# "Answer: 18" counts at the start of a line only: mid-sentence "convert the answer to weeks: 28
# days / 7" is working, not a committed answer.
_LABEL_LINE_START_RE = re.compile(r"(?:^|\n)[ \t#>*_\-]*(?:(?:the|my|correct)\s+)?$", re.I)
_FINAL_ANSWER_RE = re.compile(r"\bfinal\s+answer\b\s*(?:\(s\))?\s*[:=：]", re.I)
_HASHES_RE = re.compile(r"####")
_BOLD_RE = re.compile(r"\*\*([^*\n]{1,200}?)\*\*")
_BOLD_BEFORE_RE = re.compile(r"\*\*\s*(?:(?:the|my|final|correct)\s+)*$", re.I)
_FINAL_BEFORE_RE = re.compile(r"final\s+$", re.I)
_ANSWER_LABEL_RE = re.compile(
    r"\s*(?:(?:the|my|final|correct)\s+)*answer\b\s*(?:is\b|:|=|：)?\s*", re.I
)
_BOLD_TAIL_RE = re.compile(r"\s*(?:%|[^\W\d_]+(?:[ \t/]+[^\W\d_]+){0,3})?\s*[.!]?\s*$")


def _window(text: str, start: int, rule: str) -> _Fragment:
    end = min(len(text), start + _WINDOW)
    return _Fragment(rule, text[start:end], start, end)


def _bold_before(text: str, pos: int) -> bool:
    return bool(_BOLD_BEFORE_RE.search(text, max(0, pos - 40), pos))


def _answer_is_fragments(text: str) -> Iterator[_Fragment]:
    for m in _ANSWER_IS_RE.finditer(text):
        if _bold_before(text, m.start()):
            continue  # "**Answer: 18**" belongs to the bold rule
        if m["verb"] in ":=：":
            if _FINAL_BEFORE_RE.search(text, max(0, m.start() - 12), m.start()):
                continue  # "Final answer: 18" belongs to the final-answer rule
            if not _LABEL_LINE_START_RE.search(text, max(0, m.start() - 40), m.start()):
                continue
        yield _window(text, m.end(), "answer-is")


def _final_answer_fragments(text: str) -> Iterator[_Fragment]:
    for m in _FINAL_ANSWER_RE.finditer(text):
        if not _bold_before(text, m.start()):
            yield _window(text, m.end(), "final-answer")


def _hashes_fragments(text: str) -> Iterator[_Fragment]:
    for m in _HASHES_RE.finditer(text):
        yield _window(text, m.end(), "hashes")


def _boxed_fragments(text: str) -> Iterator[_Fragment]:
    for start, end in _boxes(text):
        raw = text[start:end]
        cleaned = _clean_latex(raw)
        yield _Fragment("boxed", cleaned, start, end, verbatim=cleaned == raw, strict=False)


def _bold_fragments(kind: Kind) -> Callable[[str], Iterator[_Fragment]]:
    def fragments(text: str) -> Iterator[_Fragment]:
        bolds = list(_BOLD_RE.finditer(text))
        # 1. labelled: "**Answer: 18**", "**Final Answer:** 18" (first one)
        for m in bolds:
            label = _ANSWER_LABEL_RE.match(m[1])
            if not label:
                continue
            rest = m.start(1) + label.end()
            if rest < m.end(1):
                yield _Fragment("bold", text[rest : m.end(1)], rest, m.end(1))
            else:
                yield _window(text, m.end(), "bold")
        # 2. a bold bare answer: "**$18**", "**18 eggs**" (last one)
        for m in reversed(bolds):
            content = m[1]
            if _ANSWER_LABEL_RE.match(content):
                continue
            found = _value_at(kind, content)
            if found and _BOLD_TAIL_RE.match(content, found[1][1]):
                yield _Fragment("bold", content, m.start(1), m.end(1))

    return fragments


_JSON_KEY_RE = re.compile(r"""["']answer["']\s*:\s*""", re.I)
_JSON_VALUE_END_RE = re.compile(r"[}\n]")
_JSON_MAX_VALUE = 2000
_JSON = json.JSONDecoder(strict=False)  # strict=False: raw newlines inside strings


def _json_fragments(text: str) -> Iterator[_Fragment]:
    """The value of each "answer" key, as MedCalc's prompt asks: {"answer": "17.2"}.

    Reads only the value with a JSON decoder, so code fences, truncated reasoning, trailing text
    and single quotes do not matter; nothing is evaluated.
    """
    for m in _JSON_KEY_RE.finditer(text):
        p = m.end()
        if p >= len(text):
            continue
        first = text[p]
        if first in '"[{-0123456789':
            try:  # bounded: an answer is short, and a runaway string must not cost O(n) per key
                value, length = _JSON.raw_decode(text[p : p + _JSON_MAX_VALUE])
            except (ValueError, RecursionError):
                pass
            else:
                end = p + length
                if isinstance(value, str):
                    if text[p + 1 : end - 1] == value:
                        yield _Fragment("json-answer", value, p + 1, end - 1, strict=False)
                    else:
                        yield _Fragment("json-answer", value, p, end, False, strict=False)
                elif isinstance(value, dict) and {"weeks", "days"} <= value.keys():
                    synthetic = f"{value['weeks']} weeks, {value['days']} days"
                    yield _Fragment("json-answer", synthetic, p, end, False, strict=False)
                elif isinstance(value, int | float | list | dict) and not isinstance(value, bool):
                    yield _Fragment("json-answer", text[p:end], p, end, strict=False)
                continue
        if first == "'":
            close = text.find("'", p + 1, min(len(text), p + _WINDOW))
            if close > 0:
                yield _Fragment("json-answer", text[p + 1 : close], p + 1, close, strict=False)
                continue
        limit = min(len(text), p + _WINDOW)
        stop = _JSON_VALUE_END_RE.search(text, p, limit)
        end = stop.start() if stop else limit
        yield _Fragment("json-answer", text[p:end], p, end, strict=False)


_LAST_RULE: dict[Kind, str] = {
    "number": "last-number",
    "date": "last-date",
    "gestational_age": "last-gestational-age",
}


# "1. ", "2) ", "Step 4:" at the start of a line number a list, they are not quantities.
_ENUMERATOR_RE = re.compile(r"(?im)^[ \t]*(?:step[ \t]+)?(\d{1,3})(?:[.):][ \t]|[.):]?$)")


def _last_value(kind: Kind, text: str) -> _Extraction | None:
    """The last answer of `kind` anywhere in the text (the flexible-extract fallback).

    List and step enumerators are passed over: a base model that writes "Step 4:" and stops has
    not answered 4.
    """
    pattern = {"number": _NUMBER_RE, "date": _DATE_RE, "gestational_age": _GA_RE}[kind]
    enumerators = {m.span(1) for m in _ENUMERATOR_RE.finditer(text)} if kind == "number" else set()
    for m in reversed(list(pattern.finditer(text))):
        if m.span() in enumerators:
            continue
        value: Value | None
        if kind == "number":
            value = _number_value(m)
        elif kind == "date":
            value = _date_value(m)
        else:
            value = _ga_value(m)
        if value is not None:
            return _Extraction(value, _display(value), _LAST_RULE[kind], m.span())
    return None


def _extract(output: str, kind: Kind, *, json_first: bool) -> _Extraction | None:
    """Apply the rules in priority order to the run-on-truncated output; first hit wins."""
    text = truncate_run_on(output)
    rules: list[Callable[[str], Iterator[_Fragment]]] = [
        _answer_is_fragments,
        _final_answer_fragments,
        _hashes_fragments,
        _boxed_fragments,
        _bold_fragments(kind),
    ]
    if json_first:
        rules.insert(0, _json_fragments)
    for rule in rules:
        for frag in rule(text):
            if (found := _parse_fragment(kind, frag)) is not None:
                return found
    return _last_value(kind, text)


# ---------------------------------------------------------------------------------------------
# GSM8K
# ---------------------------------------------------------------------------------------------


def extract_number_answer(output: str) -> tuple[str | None, str, Span | None]:
    """The model's first committed numeric answer: (normalised number, rule name, span in output).

    The span lets the UI highlight the text the verdict rests on; the rule name is stored so that
    a grade can be audited or re-derived later.
    """
    found = _extract(output, "number", json_first=False)
    if found is None:
        return None, "none", None
    return found.display, found.rule, found.span


def grade_gsm8k(output: str, gold: str) -> Grade:
    """Grade a GSM8K-style numeric answer: first committed answer, exact numeric comparison."""
    found = _extract(output, "number", json_first=False)
    gold_value = parse_number(gold)
    if found is None:
        return Grade(None, False, "none", "gsm8k", f"no answer found; gold {gold.strip()}")
    if gold_value is None:
        correct = _normalise_text(found.display) == _normalise_text(gold)
        return Grade(found.display, correct, found.rule, "gsm8k", "gold is not a number")
    correct = found.value == gold_value
    detail = f"{found.display} {'=' if correct else '!='} gold {_format_number(gold_value)}"
    return Grade(found.display, correct, found.rule, "gsm8k", detail)


# ---------------------------------------------------------------------------------------------
# MedCalc-Bench
# ---------------------------------------------------------------------------------------------

_FULL_DATE_RE = re.compile(r"\s*\d{1,2}/\d{1,2}/\d{4}\s*$|\s*\d{4}-\d{1,2}-\d{1,2}\s*$")
_TOLERANCE = Fraction(1, 10**9)  # absorbs float noise in the CSV limits (8.549999999999999)


def _field(item: Item, *names: str) -> Any:
    for name in names:
        value = item.fields.get(name)
        if value is not None and value != "":
            return value
    return None


def _limit(value: Any) -> Fraction | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Fraction(str(value))
    return parse_number(str(value)) if _NUMBER_RE.fullmatch(str(value).strip()) else None


_GA_GOLD_RE = re.compile(r"\s*[(\[]\s*\d+\s*,\s*\d+\s*[)\]]\s*|.*\bweeks?\b.*", re.I | re.S)


def _gold_shape(gold: str) -> AnswerType | None:
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
    shape = _gold_shape(gold)
    if shape is not None:
        return shape
    declared = item.answer_type
    if declared not in MEDCALC_OUTPUT_TYPES:
        declared = str(_field(item, "output_type", "Output Type") or "").strip().lower()
        declared = declared.replace(" ", "_")
    if declared in MEDCALC_OUTPUT_TYPES:
        return declared
    lo = _limit(_field(item, "lower_limit", "Lower Limit"))
    hi = _limit(_field(item, "upper_limit", "Upper Limit"))
    value = parse_number(gold)
    has_range = lo is not None and hi is not None and lo != hi
    if has_range or (value is not None and value.denominator != 1):
        return "decimal"
    return "integer"


def _extraction_kind(medcalc_kind: str) -> Kind:
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
    then the prose rules of the GSM8K grader.
    """
    kind = _medcalc_kind(item)
    gold = item.gold.strip()
    found = _extract(output, _extraction_kind(kind), json_first=True)
    if found is None:
        return Grade(None, False, "none", "medcalc", f"{kind}: no answer found; gold {gold}")
    extracted, rule = found.display, found.rule

    def verdict(correct: bool, detail: str) -> Grade:
        return Grade(extracted, correct, rule, "medcalc", f"{kind}: {detail}")

    if kind == "date":
        m = _DATE_RE.search(gold)
        gold_date = _date_value(m) if m else None
        if gold_date is None:
            return verdict(False, f"gold {gold!r} is not a date")
        ok = found.value == gold_date
        return verdict(ok, f"{extracted} {'=' if ok else '!='} gold {_format_date(gold_date)}")
    if kind == "gestational_age":
        gold_ga = _parse_gold_ga(gold)
        if gold_ga is None or not isinstance(found.value, _GestationalAge):
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
    lo = _limit(_field(item, "lower_limit", "Lower Limit"))
    hi = _limit(_field(item, "upper_limit", "Upper Limit"))
    source = "limits"
    if lo is None or hi is None:
        lo, hi, source = gold_value * Fraction(95, 100), gold_value * Fraction(105, 100), "gold ±5%"
    lo, hi = min(lo, hi), max(lo, hi)
    tol = _TOLERANCE * max(1, abs(lo), abs(hi))
    ok = lo - tol <= found.value <= hi + tol
    where = "in" if ok else "not in"
    return verdict(ok, f"{extracted} {where} [{_format_float(lo)}, {_format_float(hi)}] ({source})")


def _format_float(x: Fraction) -> str:
    return f"{float(x):.6g}"


# ---------------------------------------------------------------------------------------------
# math-verify
# ---------------------------------------------------------------------------------------------

_MATH_VERIFY_MAX_CHARS = 2000
_MATH_VERIFY_STARTUP_SECONDS = 120.0  # spawning Python and importing sympy, on a slow machine


def grade_math_verify(output: str, gold: str, *, timeout_seconds: int | None = 5) -> Grade:
    """Second opinion by symbolic equivalence (math-verify), for answers like 3/4 vs 0.75.

    math-verify bounds its time with signal.alarm, which fails off the main thread, and sympy can
    hold the GIL on inputs like "9^{9^{9^9}}", freezing every thread of the app. So with a timeout
    the work runs in a child process (started once, reused) that is killed when it overruns; with
    `timeout_seconds=None` it runs in this thread with no time bound at all. The input is cut at
    run-on turns and bounded to its last 2000 characters. Never raises: failures grade as "error".
    """
    text = truncate_run_on(output)[-_MATH_VERIFY_MAX_CHARS:]
    gold_value = parse_number(gold)
    gold_text = _format_number(gold_value) if gold_value is not None else gold.strip()
    gold_text = gold_text[:_MATH_VERIFY_MAX_CHARS]
    if timeout_seconds is None:
        return _math_verify_core(gold_text, text, None)
    try:
        return _MATH_VERIFY_PROCESS.run(gold_text, text, timeout_seconds)
    except Exception as e:  # the child overran or could not start: a grade, not a crash
        detail = f"{type(e).__name__}: {e}"[:300]
        return Grade(None, False, "error", "math-verify", detail)


def _math_verify_core(gold_text: str, text: str, timeout: int | None) -> Grade:
    """parse + verify, gold first (argument order matters to math-verify)."""
    try:
        from math_verify import parse, verify
    except ImportError as e:  # pragma: no cover - math-verify is a dependency
        return Grade(None, False, "error", "math-verify", f"math-verify unavailable: {e}")
    _quiet_math_verify_logging()
    try:
        gold_parsed = parse(gold_text, parsing_timeout=timeout)  # type: ignore[arg-type]
        if not gold_parsed:
            return Grade(None, False, "error", "math-verify", f"could not parse gold {gold_text!r}")
        pred = parse(text, parsing_timeout=timeout)  # type: ignore[arg-type]
        if not pred:
            return Grade(None, False, "none", "math-verify", "no parsable answer")
        extracted = str(pred[-1] if len(pred) > 1 else pred[0]).strip().strip("*$ ")
        ok = bool(verify(gold_parsed, pred, timeout_seconds=timeout))
    except Exception as e:  # timeouts, sympy errors: a grade, not a crash
        return Grade(None, False, "error", "math-verify", f"{type(e).__name__}: {e}"[:300])
    return Grade(extracted, ok, "math-verify", "math-verify", f"gold {gold_text}")


def _quiet_math_verify_logging() -> None:
    """Keep math-verify's warnings off stderr (they would tear through a Textual screen)."""
    for name in ("math_verify", "latex2sympy2_extended"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


def _math_verify_stdio() -> None:
    """Child process loop: one JSON request per stdin line, one JSON Grade per stdout line."""
    import math_verify  # noqa: F401  # import before reporting ready: sympy takes seconds

    _quiet_math_verify_logging()
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        # This is the child's main thread, so math-verify's own signal.alarm timeouts work.
        result = _math_verify_core(request["gold"], request["text"], request["timeout"])
        print(json.dumps(dataclasses.asdict(result)), flush=True)


class _MathVerifyProcess:
    """One reusable child process for math-verify, killed and restarted when a call overruns.

    A plain subprocess speaking JSON lines, not multiprocessing: spawn re-imports the caller's
    __main__ (breaking unguarded scripts) and fork is unsafe next to llama.cpp and UI threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()

    def run(self, gold_text: str, text: str, timeout_seconds: int) -> Grade:
        with self._lock:  # one request at a time on the pipe
            if self._process is None or self._process.poll() is not None:
                self._start()
            assert self._process is not None and self._process.stdin is not None
            request = {"gold": gold_text, "text": text, "timeout": timeout_seconds}
            try:
                self._process.stdin.write(json.dumps(request) + "\n")
                self._process.stdin.flush()
            except OSError:
                self._stop()
                raise
            # math-verify may spend the timeout in parse and again in verify; then the kill.
            limit = 3 * timeout_seconds + 2
            reply = self._next_line(limit)
            if reply is None:
                self._stop()
                raise TimeoutError(f"math-verify did not answer within {limit} s")
            return Grade(**json.loads(reply))

    def _next_line(self, timeout: float) -> str | None:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def _start(self) -> None:
        self._stop()
        root = str(Path(__file__).resolve().parents[2])  # so the child imports this engine
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        process = subprocess.Popen(
            [sys.executable, "-c", "from engine.grading.graders import _math_verify_stdio as f; f()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            env=env,
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def pump(stream: IO[str] = process.stdout) -> None:  # type: ignore[assignment]
            for line in stream:
                lines.put(line)
            lines.put(None)  # EOF: the child died

        threading.Thread(target=pump, name="tunelens-math-verify-reader", daemon=True).start()
        self._process, self._lines = process, lines
        ready = self._next_line(_MATH_VERIFY_STARTUP_SECONDS)
        if ready is None or ready.strip() != "ready":
            self._stop()
            raise RuntimeError("math-verify worker process did not start")

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()
        self._process = None


_MATH_VERIFY_PROCESS = _MathVerifyProcess()


# ---------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------


def _has_limits(item: Item) -> bool:
    lo = _field(item, "lower_limit", "Lower Limit")
    hi = _field(item, "upper_limit", "Upper Limit")
    return lo is not None and hi is not None


def default_grader(item: Item) -> str:
    """The grader an item gets unless one is chosen: medcalc for MedCalc items, else gsm8k."""
    if "medcalc" in item.dataset.lower():
        return "medcalc"
    if item.answer_type in ("date", "gestational_age"):
        return "medcalc"
    if item.answer_type in ("decimal", "integer") and _has_limits(item):
        return "medcalc"
    return "gsm8k"


def _gsm8k_item(item: Item, output: str) -> Grade:
    return grade_gsm8k(output, item.gold)


def _medcalc_item(item: Item, output: str) -> Grade:
    return grade_medcalc(output, item)


def _math_verify_item(item: Item, output: str) -> Grade:
    return grade_math_verify(output, item.gold)


# name -> grader taking (item, output), for listing and choosing graders by name.
GRADERS: dict[str, Callable[[Item, str], Grade]] = {
    "gsm8k": _gsm8k_item,
    "medcalc": _medcalc_item,
    "math-verify": _math_verify_item,
}


def grade(item: Item, output: str, grader: str | None = None) -> Grade:
    """Grade `output` for `item` with the named grader, or the item's default one."""
    name = grader or default_grader(item)
    try:
        fn = GRADERS[name]
    except KeyError:
        raise ValueError(f"unknown grader {name!r} (choose from {', '.join(GRADERS)})") from None
    return fn(item, output)


def grade_with_span(
    item: Item, output: str, grader: str | None = None
) -> tuple[Grade, Span | None]:
    """`grade` plus the (start, end) span in `output` of the text the verdict rests on.

    For highlighting the answer in the UI, for every grader that extracts from the text (gsm8k,
    medcalc: JSON answers, dates, gestational ages); None for math-verify or when nothing matched.
    """
    result = grade(item, output, grader)
    if result.extracted is None or result.grader not in ("gsm8k", "medcalc"):
        return result, None
    if result.grader == "gsm8k":
        found = _extract(output, "number", json_first=False)
    else:
        found = _extract(output, _extraction_kind(_medcalc_kind(item)), json_first=True)
    return result, (found.span if found is not None else None)


# ---------------------------------------------------------------------------------------------
# `tunelens grade FILE.jsonl`
# ---------------------------------------------------------------------------------------------


def _one_line(s: str, limit: int = 120) -> str:
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _record_id(rec: dict[str, Any], lineno: int) -> Any:
    return rec["id"] if rec.get("id") is not None else lineno


def _record_item(rec: dict[str, Any], lineno: int, fail: Callable[[str], GradeInputError]) -> Item:
    if "output" not in rec:
        raise fail("missing key 'output' (expected an object with 'output' and 'gold')")
    if not isinstance(rec["output"], str):
        raise fail(f"'output' must be a string, got {type(rec['output']).__name__}")
    if "gold" not in rec:
        raise fail("missing key 'gold' (expected an object with 'output' and 'gold')")
    gold = rec["gold"]
    if isinstance(gold, bool) or not isinstance(gold, str | int | float | list):
        raise fail(f"'gold' must be a string or a number, got {type(gold).__name__}")
    gold_text = gold if isinstance(gold, str) else json.dumps(gold)
    fields: dict[str, Any] = {}
    limits: list[Fraction] = []
    for key in ("lower_limit", "upper_limit"):
        value = rec.get(key)
        if value is None or value == "":
            continue
        limit = _limit(value)
        # MedCalc's CSV repeats a date or gestational-age gold as its "limits": accept those.
        if limit is None and not (isinstance(value, str) and value.strip() == gold_text.strip()):
            raise fail(f"'{key}' must be a number, got {_one_line(repr(value), 40)}")
        fields[key] = value
        if limit is not None:
            limits.append(limit)
    answer_type = rec.get("answer_type")
    if answer_type is None:
        # Without a type: the gold's shape, else numeric limits mean a MedCalc-style answer.
        answer_type = _gold_shape(gold_text) or "number"
        if answer_type == "number" and len(limits) == 2:
            answer_type = "decimal" if limits[0] != limits[1] else "integer"
    elif answer_type not in _ANSWER_TYPES:
        raise fail(
            f"unknown answer_type {_one_line(repr(answer_type), 40)} "
            f"(expected one of {', '.join(sorted(_ANSWER_TYPES))})"
        )
    return Item(
        dataset=str(rec.get("dataset") or "jsonl"),
        item_id=str(_record_id(rec, lineno)),
        question=str(rec.get("question") or ""),
        gold=gold_text,
        answer_type=answer_type,
        fields=fields,
    )


def grade_jsonl_records(
    lines: Iterable[str], source: str = "<stdin>", grader: str | None = None
) -> Iterator[dict[str, Any]]:
    """Grade JSON Lines records for `tunelens grade FILE.jsonl`, one result dict per record.

    Each line is an object with `output` and `gold`, optionally `id`, `grader`, `answer_type`,
    `lower_limit`, `upper_limit`, `dataset`. Grader choice: the `grader` argument (a command-line
    flag) overrides a record's `grader`, which overrides the default for the item. Limits without
    an `answer_type` mean a MedCalc-style answer (decimal, or integer when they are equal), and a
    gold like "(4 weeks, 3 days)" or "09/23/2014" implies its type. Blank lines are skipped.
    Each result keeps the record's keys except `output` and adds `id` (the line number if absent),
    `line`, `correct`, `extracted`, `rule`, `grader` and `detail`. A malformed line raises
    GradeInputError with a one-line "SOURCE:LINE: problem" message.
    """
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue

        def fail(what: str, lineno: int = lineno) -> GradeInputError:
            return GradeInputError(f"{source}:{lineno}: {what}")

        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise fail(
                f"invalid JSON ({e.msg} at column {e.colno}); expected one object per line"
            ) from None
        if not isinstance(rec, dict):
            raise fail(f"expected a JSON object with 'output' and 'gold', got {type(rec).__name__}")
        item = _record_item(rec, lineno, fail)
        name = grader or rec.get("grader") or default_grader(item)
        if not isinstance(name, str) or name not in GRADERS:
            choices = ", ".join(GRADERS)
            raise fail(f"unknown grader {_one_line(repr(name), 40)} (choose from {choices})")
        result = GRADERS[name](item, rec["output"])
        out = {k: v for k, v in rec.items() if k != "output"}
        out.update(
            id=_record_id(rec, lineno),
            line=lineno,
            correct=result.correct,
            extracted=result.extracted,
            rule=result.rule,
            grader=result.grader,
            detail=result.detail,
        )
        yield out
