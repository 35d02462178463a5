"""Answer extraction: the rules that find the model's first committed answer in its output.

Why this needs care: base models keep writing after they answer (a made-up "Q: ..." with its own
"The answer is 7."), chat models write "**Answer: 18**", MedCalc prompts ask for JSON, and the paper
behind this tool shows that the choice of grader changes the verdict. So every extraction records
which rule matched (the rule names are stable, they are stored in the database), it reflects the
model's first committed answer, and model text is never executed.

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

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Literal

from engine.grading.dates import DATE_RE, GA_RE, GestationalAge, date_value, format_date, ga_value
from engine.grading.numbers import (
    NUMBER_RE,
    WORD_NUMBER_RE,
    clean_latex,
    format_number,
    number_value,
    word_number_value,
)

Span = tuple[int, int]
# What an extraction looks for; MedCalc's decimal and integer answers are numbers.
Kind = Literal["number", "date", "gestational_age"]

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
            | Exercise\s*+\d*+\s*+[:.]
            | Next\ question\s*+[:.]
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
# a number word that can be an answer ("twenty-five marbles"), for the same purpose as a digit
_ANSWER_WORD_RE = re.compile(
    r"\b(?i:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\w+teen|twenty|thirty|"
    r"forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|dozen)\b"
)


def truncate_run_on(output: str, *, answered: re.Pattern[str] | None = None) -> str:
    """Cut `output` where the model starts a made-up new question or turn.

    Base models keep going after their answer ("... The answer is 18.\\n\\nQ: Tom has ..."); the
    invented continuation has its own answers, which must not be graded. A marker only counts once
    some answer text (a digit or a number word; `answered` says what counts for other kinds of
    answer) precedes it, so an output that opens by restating the question is left alone.
    """
    for m in _NEW_TURN_RE.finditer(output):
        if m.start() == 0:
            continue
        if answered is not None:
            if answered.search(output, 0, m.start()):
                return output[: m.start()]
        elif _DIGIT_RE.search(output, 0, m.start()) or _ANSWER_WORD_RE.search(output, 0, m.start()):
            return output[: m.start()]
    return output


# ---------------------------------------------------------------------------------------------
# Extraction machinery: rules yield fragments, a kind-specific parser reads the answer from them
# ---------------------------------------------------------------------------------------------

# A number directly followed by an operator and another number starts an expression, not an
# answer ("Answer: 16 - 3 - 4 = 9").
_OPERATOR_AFTER_RE = re.compile(r"[ \t]*(?:[-+*×÷^=−]|x\s)[ \t]*\(?\d")
_EXPRESSION_RE = re.compile(r"\d[ \t]*(?:[-+*×÷^=−]|x\s)[ \t]*\(?\d|\d[ \t]*/[ \t]*\(")

Value = Fraction | date | GestationalAge


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
class Extraction:
    """An extracted answer: its value, canonical text, the rule that found it, where it sits."""

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
        for m in NUMBER_RE.finditer(s):
            if (v := number_value(m)) is not None:
                return v, m.span()
    elif kind == "date":
        for m in DATE_RE.finditer(s):
            if (d := date_value(m)) is not None:
                return d, m.span()
    else:
        if m := GA_RE.search(s):
            return ga_value(m), m.span()
    return None


def _value_at(kind: Kind, s: str, pos: int = 0) -> tuple[Value, Span] | None:
    """The answer of `kind` that starts `s[pos:]`, after filler (strict rules)."""
    p = _FILLER_RE.match(s, pos).end()  # type: ignore[union-attr]  # matches the empty string
    box = _BOX_RE.match(s, p)
    if box:  # "The answer is $\boxed{1{,}000}$": the box right here, not a later one
        start, end = next(_boxes(s[p:]), (0, 0))
        if start != box.end() - p + int(s.startswith("{", box.end())):
            return None  # unclosed brace
        found = _search_value(kind, clean_latex(s[p + start : p + end]))
        return (found[0], (p + start, p + end)) if found else None
    if kind == "number":
        m = NUMBER_RE.match(s, p)
        if m is None:  # "The answer is twenty-five." / "**Answer:** a dozen eggs"
            w = WORD_NUMBER_RE.match(s, p)
            wv = word_number_value(w) if w else None
            return (wv, w.span()) if w and wv is not None else None
        if _OPERATOR_AFTER_RE.match(s, m.end()):
            return None
        v = number_value(m)
        return (v, m.span()) if v is not None else None
    if kind == "date":
        m = DATE_RE.match(s, p)
        d = date_value(m) if m else None
        return (d, m.span()) if d is not None and m else None
    m = GA_RE.match(s, p)
    return (ga_value(m), m.span()) if m else None


def _display(value: Value) -> str:
    if isinstance(value, Fraction):
        return format_number(value)
    if isinstance(value, date):
        return format_date(value)
    return str(value)


def _parse_fragment(kind: Kind, frag: _Fragment) -> Extraction | None:
    found = _value_at(kind, frag.text) if frag.strict else _search_value(kind, frag.text)
    if found is None:
        return None
    value, (s, e) = found
    span = (frag.start + s, frag.start + e) if frag.verbatim else (frag.start, frag.end)
    return Extraction(value, _display(value), frag.rule, span)


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
_BOLD_BEFORE_RE = re.compile(
    r"\*\*\s*(?:(?:the|my|final|correct|corrected|revised|updated|new)\s+)*$", re.I
)
_FINAL_BEFORE_RE = re.compile(r"final\s+$", re.I)
_ANSWER_LABEL_RE = re.compile(
    r"\s*(?:(?:the|my|final|correct|corrected|revised|updated|new)\s+)*answer\b\s*(?:is\b|:|=|：)?\s*",
    re.I,
)
# what may follow a bold bare answer: ":15" of "2:15", a unit ("eggs", "km/L", "%"), a period
_BOLD_TAIL_RE = re.compile(
    r"(?::[0-5]\d)?\s*(?:%|[^\W\d_]+(?:[ \t/]+[^\W\d_]+){0,3})?\s*[.!]?\s*$"
)


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
        cleaned = clean_latex(raw)
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


# Word numbers the last-number fallback passes over: "one of them", "half of it" are rarely the
# answer; after a marker ("The answer is one.") they count.
_WEAK_WORD_NUMBERS = {"zero", "one", "half", "a half", "one half", "one-half", "a-half"}


def _last_value(kind: Kind, text: str, *, weak: bool = False) -> Extraction | None:
    """The last answer of `kind` anywhere in the text (the flexible-extract fallback).

    List and step enumerators are passed over: a base model that writes "Step 4:" and stops has
    not answered 4. So is the ":15" of "2:15" (the hour part is the number; graders that know the
    question convert it), and numbers written as words count ("so Ben has twenty-five marbles"),
    "one" and "half" only when `weak` (the output has no other number).
    """
    pattern = {"number": NUMBER_RE, "date": DATE_RE, "gestational_age": GA_RE}[kind]
    enumerators = {m.span(1) for m in _ENUMERATOR_RE.finditer(text)} if kind == "number" else set()
    matches: list[tuple[re.Match[str], bool]] = [(m, False) for m in pattern.finditer(text)]
    if kind == "number":
        matches += [(m, True) for m in WORD_NUMBER_RE.finditer(text)
                    if weak or m[0].lower() not in _WEAK_WORD_NUMBERS]
        matches.sort(key=lambda pair: pair[0].start())
    for m, is_word in reversed(matches):
        if m.span() in enumerators:
            continue
        value: Value | None
        if is_word:
            value = word_number_value(m)
        elif kind == "number":
            if _MINUTES_RE.search(text, max(0, m.start() - 3), m.start()):
                continue
            value = number_value(m)
        elif kind == "date":
            value = date_value(m)
        else:
            value = ga_value(m)
        if value is not None:
            return Extraction(value, _display(value), _LAST_RULE[kind], m.span())
    return None


_MINUTES_RE = re.compile(r"(?<![\d:])\d{1,2}:$")  # "2:" right before the "15" of "2:15"

# A bare number opening the output, alone on its line: " 18\n\nQuestion: ...", "$18", "28 stickers."
_LEADING_PREFIX_RE = re.compile(r"\s*(?:(?:A|Answer)\s*[:.]\s*)?", re.I)
_LEADING_TAIL_RE = re.compile(  # at most one unit word: "28 stickers.", "12.5 km/L"
    r"(?::[0-5]\d)?[ \t]*(?:%|[^\W\d_]+(?:/[^\W\d_]+)?)?[ \t]*[.!]?[ \t]*(?:\n|$)"
)


def _leading_value(text: str) -> Extraction | None:
    """`leading-number`: a base model's completion that starts with its answer, then runs on."""
    p = _LEADING_PREFIX_RE.match(text).end()  # type: ignore[union-attr]  # matches ""
    found = _value_at("number", text, p)
    if found is None or text[p:found[1][0]].strip("$ \t*"):
        return None
    if not _LEADING_TAIL_RE.match(text, found[1][1]):
        return None
    return Extraction(found[0], _display(found[0]), "leading-number", found[1])


# Notes and asides after an answer: "Note: if she also sold ...", "(This assumes no tax.)".
_NOTE_RE = re.compile(
    r"""(?:^|(?<=[.!?])[ \t]++)[ \t>*_]*+\(?[ \t*_]*+
        (?i:note\b|n\.b\.|p\.s\.|remember\b|this\ assumes\b|assuming\b|if\b[^\n]*\bwould\b)
      | ^[ \t]*\((?=[^\n]*\)[ \t*_]*$)""",
    re.M | re.X,
)


def strip_trailing_notes(text: str) -> str:
    """`text` up to a trailing note or aside that follows some answer text (a digit)."""
    for m in _NOTE_RE.finditer(text):
        if _DIGIT_RE.search(text, 0, m.start()):
            return text[: m.start()]
    return text


# An instruct model correcting itself: a committed answer after one of these replaces the first.
CORRECTION_RE = re.compile(
    r"""\b(?i:wait\b|actually\b|oops\b|hold\ on\b|hmm+\b|correction\b|
        i\ made\ (?:a|an)\ (?:mistake|error)|made\ (?:a|an)\ (?:mistake|error)|
        (?:let\ me|let's|i\ (?:need|should)\ to|i'll)\ (?:re-?check|re-?calculate|redo|re-?do|
            re-?evaluate|re-?examine|double[- ]check|reconsider|re-?read|correct|fix|re-?compute)|
        on\ second\ thought|upon\ (?:re|further|closer|review)|
        mis-?(?:added|read|calculated|counted|computed|subtracted|multiplied)|
        that(?:'s|\ is)\ (?:wrong|incorrect|not\ right)|i\ forgot|forgot\ (?:to|the|about)|
        i\ reali[sz]ed?|my\ mistake|sorry|i\ misread|re-?reading)""",
    re.X,
)
_LABEL_BEFORE_RE = re.compile(r"answer\W{0,12}$", re.I)
_FINAL_LABEL_BEFORE_RE = re.compile(r"final\s+answer\W{0,12}$", re.I)


def _later_correction(kind: Kind, text: str, first: Extraction,
                      rules: list[Callable[[str], Iterator[_Fragment]]]) -> Extraction | None:
    """`self-correction`: the last committed answer after a correction cue (or a later "final
    answer"), when it differs from the first one."""
    cue = CORRECTION_RE.search(text, first.span[1])
    after = cue.end() if cue else first.span[1]
    later: list[Extraction] = []
    for rule in rules:
        for frag in rule(text):
            if frag.start < after:
                continue
            found = _parse_fragment(kind, frag)
            if found is None or found.span[0] < after:
                continue
            if cue is None and not _FINAL_LABEL_BEFORE_RE.search(
                text, max(0, frag.start - 40), frag.start
            ):
                continue
            if (found.rule == "bold"
                    and not _LABEL_BEFORE_RE.search(text, max(0, frag.start - 40), frag.start)
                    and _DIGIT_RE.search(text, found.span[1])):
                continue  # a bare bold number in re-checked working, not the last word
            later.append(found)
    if not later:
        return None
    last = max(later, key=lambda e: e.span[0])
    if last.value == first.value:
        return None
    return Extraction(last.value, last.display, "self-correction", last.span)


def extract(output: str, kind: Kind, *, json_first: bool) -> Extraction | None:
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
                return _later_correction(kind, text, found, rules) or found
    if kind == "number" and (leading := _leading_value(text)) is not None:
        return leading
    body = strip_trailing_notes(text)
    found = _last_value(kind, body)
    return found if found is not None or kind != "number" else _last_value(kind, body, weak=True)
