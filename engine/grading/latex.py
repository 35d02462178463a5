"""LaTeX answers (MATH-500, MATH-Perturb): the model's committed answer as written, and the
normal form that equivalence is judged on.

Extraction follows the GSM8K rules' shape: the output is cut where a base model starts an invented
next problem, the first committed answer wins (`answer-is`, `final-answer`, `boxed`, `bold`, in
that priority), an instruct model's correction after it replaces it (`self-correction`), and a
bare run-on answer is the last inline maths before the cut (`last-math`). Normalising removes
what a careful grader ignores: `\\dfrac`, `\\left`, `\\$`, `^\\circ`, `\\%`, units in `\\text{}`,
"x = ", thousands separators; it writes mixed numbers and simple inequalities in the gold's form.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from engine.grading.extract import CORRECTION_RE, Span, truncate_run_on

# Some answer text before a new-problem marker: a digit, a box, inline maths or an answer label.
_LATEX_ANSWERED_RE = re.compile(r"\d|\\boxed|\$|\\\(|\banswer\b", re.I)
_MAX_ANSWER = 300


@dataclass(frozen=True)
class LatexAnswer:
    """An extracted LaTeX answer: as written, the rule that found it, where it sits."""

    text: str
    rule: str
    span: Span


# --- reading a maths value at a position -----------------------------------------------------

_LEAD_RE = re.compile(r"[ \t:*_]*+")
_DELIMS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))
_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_PLAIN_END_RE = re.compile(r"\.(?=\s|$)|\n|\*\*|(?<=\S),\s+(?:so|and|which)\b|\s+I hope\b")


def _brace_end(text: str, open_at: int) -> int | None:
    """Index of the "}" matching the "{" at `open_at` (None when unclosed)."""
    depth = 0
    for i in range(open_at, min(len(text), open_at + 4 * _MAX_ANSWER)):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
            continue
        if c == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif c == "}" and (i == 0 or text[i - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return i
    return None


def boxes(text: str) -> Iterator[Span]:
    """Spans of the contents of every \\boxed{...} in order (nested braces matched)."""
    for m in _BOX_RE.finditer(text):
        close = _brace_end(text, m.end() - 1)
        if close is not None:
            yield m.end(), close


def _value_at(text: str, p: int) -> Span | None:
    """The maths answer that starts at `p` (after filler): a box, a delimited formula, or plain
    text to the end of the sentence."""
    p = _LEAD_RE.match(text, p).end()  # type: ignore[union-attr]  # matches ""
    if p >= len(text):
        return None
    if _BOX_RE.match(text, p):
        return _shift(next(boxes(text[p:p + 4 * _MAX_ANSWER]), None), p)
    for opening, closing in _DELIMS:
        if text.startswith(opening, p):
            start = p + len(opening)
            end = _closing(text, closing, start)
            if end < 0:
                return None
            inner = text[start:end]
            if box := next(boxes(inner), None):  # "$x = \boxed{5}$"
                return _shift(box, start)
            return (start, end) if inner.strip() else None
    end_m = _PLAIN_END_RE.search(text, p, p + _MAX_ANSWER)
    end = end_m.start() if end_m else min(len(text), p + _MAX_ANSWER)
    if text.find("$", p, end) >= 0:  # "x = $5$ cm": the formula, not the sentence
        start = text.index("$", p, end) + 1
        close = text.find("$", start, end)
        return (start, close) if close > start else None
    return (p, end) if text[p:end].strip() else None


def _closing(text: str, closing: str, start: int) -> int:
    """Index of `closing` after `start`, passing over escaped dollars ("$\\$9.85$")."""
    i = start
    limit = min(len(text), start + _MAX_ANSWER)
    while (i := text.find(closing, i, limit)) >= 0:
        if closing == "$" and i > 0 and text[i - 1] == "\\":
            i += 1
            continue
        return i
    return -1


def _shift(span: Span | None, by: int) -> Span | None:
    return None if span is None else (span[0] + by, span[1] + by)


# --- rules -------------------------------------------------------------------------------------

_ANSWER_IS_RE = re.compile(
    r"\b(?:the\s+)?(?:final\s+)?answer\b\s*"
    r"(?:is|would\s+be|will\s+be|should\s+be|remains)\b\s*:?",
    re.I,
)
_FINAL_ANSWER_RE = re.compile(r"\bfinal\s+answer\b\s*[:：]", re.I)
# "Answer: $5$" at a line start ("**Answer:**" is the bold rule's)
_ANSWER_LABEL_RE = re.compile(r"(?:^|\n)[ \t#>]*(?:\\textbf\{)?answer\s*[:：]\}?", re.I)
_BOLD_LABEL_RE = re.compile(
    r"\*\*\s*(?:(?:the|my|final|correct|corrected)\s+)*answer\s*[:：]?\s*(?:\*\*)?", re.I
)


def _after(pattern: re.Pattern[str], rule: str, text: str) -> Iterator[LatexAnswer]:
    for m in pattern.finditer(text):
        span = _value_at(text, m.end())
        if span is not None:
            # "Final Answer: The final answer is $5$" reads the formula, not "The final ..."
            inner = _ANSWER_IS_RE.match(text, _LEAD_RE.match(text, m.end()).end())  # type: ignore[union-attr]
            if rule == "final-answer" and inner:
                span = _value_at(text, inner.end()) or span
            yield LatexAnswer(text[span[0]:span[1]], rule, span)


def _boxed(text: str) -> Iterator[LatexAnswer]:
    for s, e in boxes(text):
        yield LatexAnswer(text[s:e], "boxed", (s, e))


_RULES = (
    lambda t: _after(_FINAL_ANSWER_RE, "final-answer", t),
    lambda t: _after(_ANSWER_IS_RE, "answer-is", t),
    lambda t: _after(_ANSWER_LABEL_RE, "answer-is", t),
    _boxed,
    lambda t: _after(_BOLD_LABEL_RE, "bold", t),
)
_MATHS_RE = re.compile(r"[\d\\^=+\-/]")
_INLINE_MATH_RE = re.compile(r"\$([^$]{1,300})\$|\\\((.{1,300}?)\\\)")


def extract_latex(output: str) -> LatexAnswer | None:
    """The model's committed LaTeX answer (see the module docstring for the rules)."""
    text = truncate_run_on(output, answered=_LATEX_ANSWERED_RE)
    for rule in _RULES:
        first = next(rule(text), None)
        if first is not None:
            return _correction(text, first) or first
    last = None
    for m in _INLINE_MATH_RE.finditer(text):
        last = m
    if last is not None:
        g = 1 if last[1] is not None else 2
        body = last[g]
        if box := next(boxes(body), None):
            s, e = last.start(g) + box[0], last.start(g) + box[1]
            return LatexAnswer(text[s:e], "last-math", (s, e))
        return LatexAnswer(body, "last-math", last.span(g))
    stripped = text.strip()
    if 0 < len(stripped) <= 40 and "\n" not in stripped and _MATHS_RE.search(stripped):
        # a bare answer: " p - q", "14/3", "\\frac{1}{2}" (not a sentence)
        s = text.index(stripped)
        return LatexAnswer(stripped, "bare", (s, s + len(stripped)))
    return None


def _correction(text: str, first: LatexAnswer) -> LatexAnswer | None:
    """The last committed answer after a correction cue, when it differs from the first."""
    cue = CORRECTION_RE.search(text, first.span[1])
    if cue is None:
        return None
    later = [a for rule in _RULES for a in rule(text) if a.span[0] >= cue.end()]
    if not later:
        return None
    last = max(later, key=lambda a: a.span[0])
    if normalise_latex(last.text) == normalise_latex(first.text):
        return None
    return LatexAnswer(last.text, "self-correction", last.span)


# --- normal form -------------------------------------------------------------------------------

_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|textrm|textit|mathrm|mathbf|mbox|operatorname)\s*\{")
_UNIT_WORDS = (
    r"(?:square\s+|cubic\s+|sq\.?\s+)?(?:units?|cm|centimeters?|centimetres?|mm|millimeters?|"
    r"meters?|metres?|m|km|kilometers?|inches|inch|in|feet|foot|ft|yards?|yd|miles?|mi|"
    r"degrees?|dollars?|cents?|hours?|minutes?|seconds?|days?|weeks?|years?|kg|g|grams?|pounds?|"
    r"lbs?|ounces?|oz|liters?|litres?|mph|percent)"
)
_UNITS_TAIL_RE = re.compile(
    rf"(?<=[\w}}).])\s+(?:{_UNIT_WORDS})(?:\^\{{?\d\}}?|\^\d)?\.?\s*$", re.I
)
_ASSIGN_RE = re.compile(
    r"^\s*(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_\{?\w+\}?)?(?:\^\{-1\})?(?:\s*\([a-z]\))?\s*=\s*(?!=)"
)
_MIXED_RE = re.compile(r"^(-?)(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}$")
_THOUSANDS_RE = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_LE = r"(?:<|\\le(?:q)?\b|≤)"
_GE = r"(?:>|\\ge(?:q)?\b|≥)"
_CHAIN_RE = re.compile(rf"^(.+?)\s*({_LE})\s*[a-z]\s*({_LE})\s*(.+)$")
_LOWER_RE = re.compile(rf"^[a-z]\s*({_GE})\s*(.+)$")
_UPPER_RE = re.compile(rf"^[a-z]\s*({_LE})\s*(.+)$")


def _unwrap_text(s: str) -> str:
    """\\text{Evelyn} -> Evelyn, \\mbox{ cm} -> " cm" (nested braces kept)."""
    while m := _TEXT_CMD_RE.search(s):
        close = _brace_end(s, m.end() - 1)
        if close is None:
            break
        s = s[: m.start()] + " " + s[m.end():close] + " " + s[close + 1:]
    return s


def _split_top(s: str) -> list[str]:
    """`s` split at commas outside brackets and braces."""
    parts, depth, cur = [], 0, []
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    return parts


def normalise_latex(answer: str) -> str:
    """The form equivalence is judged on (see the module docstring); idempotent."""
    s = answer.strip()
    for opening, closing in _DELIMS:
        if s.startswith(opening) and s.endswith(closing) and len(s) > len(opening) + len(closing):
            s = s[len(opening):-len(closing)].strip()
    if (box := next(boxes(s), None)) and s.startswith("\\boxed") and box[1] == len(s) - 1:
        s = s[box[0]:box[1]]
    s = s.replace("\\displaystyle", "").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = re.sub(r"\\left\b|\\right\b|\\big[lr]?\b|\\Big[lr]?\b", "", s)
    for old, new in (("\\!", ""), ("\\,", ""), ("\\;", " "), ("\\:", " "), ("\\ ", " "),
                     ("~", " "), ("{,}", ""), ("\\%", ""), ("%", ""), ("\\$", ""), ("$", ""),
                     ("°", "")):
        s = s.replace(old, new)
    s = re.sub(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ", "", s)
    s = re.sub(r"\\text\s*\{\s*\}", "", s)
    s = _unwrap_text(s)
    s = " ".join(s.split()).strip().rstrip(".").strip()
    while (t := _UNITS_TAIL_RE.sub("", s).strip()) != s and t:
        s = t
    s = ",".join(_ASSIGN_RE.sub("", part, count=1).strip() for part in _split_top(s)) \
        if "=" in s else s
    s = s.replace(",", ", ") if not _THOUSANDS_RE.match(s) else s.replace(",", "")
    s = " ".join(s.split())
    if m := _MIXED_RE.match(s):
        whole, num, den = int(m[2]), int(m[3]), int(m[4])
        s = f"{m[1]}\\frac{{{whole * den + num}}}{{{den}}}"
    if m := _CHAIN_RE.match(s):
        lo, hi = m[1].strip(), m[4].strip()
        s = f"{'(' if m[2] == '<' else '['}{lo}, {hi}{')' if m[3] == '<' else ']'}"
    elif m := _LOWER_RE.match(s):
        s = f"{'(' if m[1] == '>' else '['}{m[2].strip()}, \\infty)"
    elif m := _UPPER_RE.match(s):
        s = f"(-\\infty, {m[2].strip()}{')' if m[1] == '<' else ']'}"
    return s


_WORDY_RE = re.compile(r"^\(?[A-Za-z][A-Za-z .'-]*\)?$")


def text_form(normalised: str) -> str | None:
    """A word or option-letter answer ("Evelyn", "(C)") for a text comparison; None for maths.

    Single letters other than option letters are variables ("p"), so they count as maths unless
    written as an option "(C)" or capitalised A-E."""
    s = normalised.strip()
    if not _WORDY_RE.match(s):
        return None
    bare = s.strip("()").strip()
    if len(bare) == 1:
        return bare.casefold() if s.startswith("(") or bare in "ABCDE" else None
    tokens = bare.replace("-", " - ").split()
    if any(len(t) == 1 for t in tokens):
        return None  # "p - q", "x y": maths in letters
    if len(tokens) == 1 and bare.islower() and len(bare) <= 3:
        return None  # "xy", "abc": products of variables
    return bare.casefold()
