"""Named, seeded, deterministic perturbations of items: Item -> variant Item, or None.

Why: the question behind tunelens is whether instruction tuning improves reasoning or only the
way a model talks. A model that reasons should keep its accuracy when the numbers, names, wording
or order of a problem change, and should ignore an irrelevant sentence (GSM-Symbolic, GSM-NoOp,
GSM-Plus ideas). Each perturbation is a pure function of (item, seeded RNG); the RNG of a step is
derived from (seed, item id, step) with hashlib, so a variant is identical on every machine and a
run can be resumed.

Spec syntax (`parse_perturb_spec`): a comma separates variants, each run on its own; a plus
composes steps in order. "numbers,names" gives two variants per item; "numbers+irrelevant,names"
gives one variant with new numbers and an irrelevant sentence, and one with new names.

Perturbations:
- numbers    new numbers, gold recomputed by replaying the `<<expr=result>>` calculator
             annotations of a GSM8K solution (embedded items: re-instantiated from the template
             with the same names). Emitted only when every step replays exactly (see
             `_numbers_gsm8k`); otherwise None.
- names      person names swapped for other names of the same gender; gold unchanged.
- irrelevant one sentence with a number about an unrelated topic (weather, a lighthouse...)
             inserted before the question sentence (GSM-NoOp idea); gold unchanged.
- reorder    the question sentence moved to the front ("How many ...? Facts..."), only when it
             has no pronoun or demonstrative that needs the facts before it; gold unchanged.
- format     surface noise: doubled spaces, line breaks, letter case, a few keyboard typos in
             long words; digits are never touched; gold unchanged.
- symbolic   embedded template items only: a fresh instantiation with new numbers and names.

A variant's `perturbation_params` maps each step's name to what it changed (JSON-serialisable).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from engine.data.embedded.templates import (
    FEMALE_NAMES,
    MALE_NAMES,
    EvalError,
    evaluate,
    format_number,
    get_template,
    instantiate,
    stable_int,
)
from engine.records import Item

__all__ = [
    "PERTURBATIONS",
    "Perturbation",
    "numbers_coverage",
    "parse_perturb_spec",
    "perturb",
    "split_sentences",
    "variant_id",
]

PerturbFn = Callable[[Item, random.Random], Item | None]


@dataclass(frozen=True)
class Perturbation:
    """A named perturbation; `changes_gold` says whether variants get a new gold answer."""

    name: str
    description: str
    fn: PerturbFn
    changes_gold: bool


# --------------------------------------------------------------------------- text helpers

_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "prof", "mt", "no",
                  "approx", "e.g", "i.e", "a.m", "p.m"}
_BOUNDARY_RE = re.compile(r"[.!?][\"'”’)]*(\s+)")


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence; abbreviations such as "Mr." and decimals do not split."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY_RE.finditer(text):
        end = match.start(1)
        nxt = text[match.end():match.end() + 1]
        if not nxt or not (nxt.isupper() or nxt.isdigit() or nxt in "$\"'“‘("):
            continue
        word = re.search(r"([\w.]+)[.!?][\"'”’)]*$", text[start:end])
        if word and word.group(1).lower() in _ABBREVIATIONS and text[match.start()] == ".":
            continue
        spans.append((start, end))
        start = match.end()
    while start < len(text) and text[start].isspace():
        start += 1
    if start < len(text.rstrip()):
        spans.append((start, len(text.rstrip())))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def split_sentences(text: str) -> list[str]:
    """Split a problem into sentences (keeps abbreviations such as "Mr." and decimals intact)."""
    return [text[a:b].strip() for a, b in _sentence_spans(text)]


def _question_index(sentences: Sequence[str]) -> int:
    """Index of the question sentence: the last one with '?', else the last sentence."""
    for i in range(len(sentences) - 1, -1, -1):
        if "?" in sentences[i]:
            return i
    return len(sentences) - 1


_DIGITS_RE = re.compile(r"\d+(?:[.,]\d+)*")


def _numbers_in(text: str) -> list[str]:
    return _DIGITS_RE.findall(text)


# --------------------------------------------------------------------------- numbers (GSM8K)

_ANNOTATION_RE = re.compile(r"<<([^<>=]*)=([^<>]*)>>")
_OPERAND_RE = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_QNUM_RE = re.compile(
    r"(?P<dollar>\$\s?)?(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)"
    r"(?P<pct>\s?(?:%|percent\b))?"
)
_UNIT_SUFFIXES = {"kg", "km", "cm", "mm", "ml", "mph", "lb", "lbs", "oz", "ft", "x", "g"}

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000, "million": 1000000,
    "once": 1, "single": 1,
}
# Values a solution may use without annotating where they come from, keyed by a word in the
# problem that implies them. A question number with such a value is never changed, so an
# annotation operand of that value is unambiguous.
_IMPLIED: dict[str, tuple[Fraction | int, ...]] = {}
for _words, _values in (
    ("half halves halfway", (2, Fraction(1, 2))),
    ("twice double doubled doubles doubling pair pairs twins both couple", (2,)),
    ("triple tripled triples thrice triplets third thirds", (3, Fraction(1, 3))),
    ("quadruple fourth fourths", (4, Fraction(1, 4))),
    ("quarter quarters", (4, Fraction(1, 4), 25, Fraction(3, 4))),
    ("fifth fifths", (5, Fraction(1, 5))),
    ("dime dimes", (10,)),
    ("nickel nickels", (5,)),
    ("penny pennies cent cents", (100,)),
    ("dozen dozens", (12,)),
    ("week weeks weekly", (7, 52)),
    ("weekday weekdays", (5,)),
    ("weekend weekends", (2,)),
    ("day days daily", (24, 7, 30, 365)),
    ("hour hours hourly", (60, 24)),
    ("minute minutes", (60,)),
    ("seconds", (60,)),  # "second" alone is mostly the ordinal
    ("year years yearly annual annually", (12, 52, 365)),
    ("month months monthly", (12, 30, 31, 4)),
    ("percent percentage", (100,)),
    ("century", (100,)),
    ("decade decades", (10,)),
    ("feet foot inch inches", (12,)),
    ("yard yards", (3, 36)),
    ("mile miles", (5280,)),
    ("kilometer kilometers kilometre kilometres meter meters metre metres", (1000, 100)),
    ("gallon gallons", (4, 128)),
    ("quart quarts", (2, 4)),
    ("pound pounds", (16,)),
    ("kilogram kilograms gram grams", (1000,)),
    ("liter liters litre litres", (1000,)),
    ("legs leg", (2, 4)),
    ("parents grandparents wife husband partner", (2, 4)),
    ("triangle triangles tricycle tricycles", (3,)),
    ("square squares rectangle rectangles car cars quadruplets seasons", (4,)),
    ("hexagon hexagons", (6,)),
    ("spider spiders octopus", (8,)),
    ("wheels wheel", (2, 3, 4)),
):
    for _w in _words.split():
        _IMPLIED[_w] = tuple(Fraction(v) for v in _values)

# Problems whose solution path can depend on comparing numbers; replaying annotations with new
# numbers could then follow the wrong branch, so `numbers` leaves them alone.
_BRANCH_WORDS = re.compile(
    r"\b(cheaper|cheapest|better|best|more expensive|less expensive|enough|at least|at most|"
    r"maximum|minimum|whether|either|exceeds?|round|rounded|nearest|choose|choice|decide|"
    r"decides|maximi[sz]e|minimi[sz]e|prefer|optimal|compare|compared)\b"
    r"|(?:^|[.?!]\s+)Which\b|\bwhich (?:one|option|of|is (?:more|less|the))\b"
    r"|\b(?:if|when|unless|for)\b[^.?!]*\b(?:more than|less than|fewer than|greater than|over|"
    r"under|above|below|up to|beyond)\s+\$?\d",
    re.IGNORECASE,
)
_MAX_DECIMALS = 4


@dataclass
class _QNum:
    start: int
    end: int
    value: Fraction
    text: str
    decimals: int
    commas: bool
    percent: bool
    fixed: bool


def _scan_question_numbers(text: str) -> list[_QNum]:
    found: list[_QNum] = []
    for m in _QNUM_RE.finditer(text):
        num = m.group("num")
        start, end = m.start("num"), m.end("num")
        before = text[start - 1] if start > 0 else " "
        after = text[end:end + 1]
        after2 = text[end:end + 2]
        fixed = False
        if before.isalnum() or before in "_.:/" or (before == "-" and m.group("dollar") is None):
            fixed = True
        if after in (":", "/") or re.match(r"-\d", after2) or re.match(r"\.\d", after2):
            fixed = True
        if after.isalpha():
            word = re.match(r"[A-Za-z]+", text[end:])
            suffix = word.group(0).lower() if word else ""
            if suffix not in _UNIT_SUFFIXES:
                fixed = True  # ordinals (2nd), times (3pm), "5k"...
        plain = num.replace(",", "")
        value = Fraction(plain)
        if "," not in num and "." not in num and 1900 <= value <= 2100:
            fixed = True  # a year
        if value in (0, 1, 2):
            fixed = True  # 2 is too often also implicit ("parents", "he and his wife")
        decimals = len(plain.split(".")[1]) if "." in plain else 0
        found.append(_QNum(start, end, value, num, decimals, "," in num,
                           m.group("pct") is not None, fixed))
    return found


def _implied_values(text: str) -> set[Fraction]:
    values: set[Fraction] = {Fraction(0), Fraction(1)}
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in _NUMBER_WORDS:
            values.add(Fraction(_NUMBER_WORDS[word]))
        values.update(_IMPLIED.get(word, ()))
    if "%" in text:
        values.add(Fraction(100))
    return values


def _candidates(q: _QNum) -> list[Fraction]:
    """New values of similar magnitude and the same kind (integer-ness, decimals, roundness,
    and the same side of 1, so "1.25 times faster" never becomes "0.95 times faster")."""
    return [c for c in _raw_candidates(q) if (c > 1) == (q.value > 1) and c > 0]


def _raw_candidates(q: _QNum) -> list[Fraction]:
    scale = 10 ** q.decimals
    units = int(q.value * scale)
    if q.percent and q.decimals == 0 and units < 100:
        step = 5 if units % 5 == 0 else 1
        lo = max(step, (units // 2) // step * step)
        hi = min(95, max(lo + step, units * 3 // 2))
        return [Fraction(v) for v in range(lo, hi + 1, step) if v != units]
    if units < 10:
        return [Fraction(v, scale) for v in range(2, 10) if v != units]
    zeros = 0
    while units % 10 ** (zeros + 1) == 0 and zeros < 6:
        zeros += 1
    unit = 10**zeros
    base = units // unit
    if base < 5:
        lo, hi = (base + 1) // 2, 2 * base + 1
    else:
        lo, hi = max(1, base // 2), base * 3 // 2 + 1
    return [Fraction(b * unit, scale) for b in range(lo, hi + 1) if b != base]


def _format_like(q: _QNum, value: Fraction) -> str:
    if q.decimals:
        text = f"{float(value):.{q.decimals}f}"
        if q.text.startswith("."):
            text = text.removeprefix("0")
    else:
        text = str(int(value))
    if q.commas and value >= 1000:
        whole, dot, frac = text.partition(".")
        text = f"{int(whole):,}" + (dot + frac if dot else "")
    return text


def _clean_decimal(value: Fraction) -> bool:
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    return den == 1 and max(twos, fives) <= _MAX_DECIMALS


@dataclass
class _Step:
    expr: str
    result: Fraction
    operands: list[tuple[int, int, Fraction]]  # (start, end, value) within expr
    shape: str  # expr with operand i replaced by the name v<i>, parsed once and reused


def _parse_steps(solution: str) -> list[_Step] | None:
    steps: list[_Step] = []
    for m in _ANNOTATION_RE.finditer(solution):
        expr, result_text = m.group(1), m.group(2).strip().replace(",", "")
        try:
            result = Fraction(result_text)
            if evaluate(expr) != result:
                return None  # rounded or wrong annotation: cannot be replayed exactly
        except (ValueError, ZeroDivisionError, EvalError):
            return None
        operands = [(o.start(), o.end(), Fraction(o.group())) for o in _OPERAND_RE.finditer(expr)]
        shape = "".join(
            f"{expr[operands[i - 1][1] if i else 0:start]}v{i}"
            for i, (start, _, _) in enumerate(operands)
        ) + expr[operands[-1][1] if operands else 0:]
        steps.append(_Step(expr, result, operands, shape))
    return steps


def _visible_equation_without_annotation(solution: str) -> bool:
    """True if the solution shows 'a op b = c' arithmetic that has no annotation to replay."""
    for line in solution.splitlines():
        if line.strip().startswith("####"):
            continue
        stripped = _ANNOTATION_RE.sub(" ", line)
        n_eq = len(re.findall(r"\d\s*[-+*/x×÷]\s*\$?\d[\d,.]*\s*=", stripped))
        if n_eq > len(_ANNOTATION_RE.findall(line)):
            return True
    return False


_Op = tuple[Any, ...]


def _plan(steps: Sequence[_Step], changeable: set[Fraction], percents: set[Fraction],
          constants: set[Fraction]) -> tuple[list[list[_Op]], set[Fraction]] | None:
    """Trace every annotation operand to its source, once per item; None if one is untraceable.

    An operand is a question number ("q"), an earlier step's result ("r", the steps giving that
    value, and the constant it might also be), a percentage of a question number written as a
    factor ("a": p/100, 1 - p/100 or 1 + p/100), or a constant ("c"). A value that is both a
    question number and an earlier result is ambiguous, and so is the item.
    """
    alias_of: dict[Fraction, tuple[Fraction, int]] = {}
    for p in sorted(percents):
        for old, kind in ((p / 100, 0), (1 - p / 100, -1), (1 + p / 100, 1)):
            if old not in changeable and old not in constants:
                alias_of.setdefault(old, (p, kind))
    producers: dict[Fraction, list[int]] = {}
    plans: list[list[_Op]] = []
    used: set[Fraction] = set()
    for index, step in enumerate(steps):
        ops: list[_Op] = []
        for _, _, value in step.operands:
            refs = producers.get(value)
            if value in changeable:
                if refs:
                    return None
                ops.append(("q", value))
                used.add(value)
            elif refs:
                if value in alias_of:
                    return None
                ops.append(("r", tuple(refs), value if value in constants else None))
            elif value in alias_of:
                ops.append(("a", *alias_of[value]))
                used.add(alias_of[value][0])
            elif value in constants:
                ops.append(("c", value))
            else:
                return None  # a number the solution got from somewhere we cannot see
        plans.append(ops)
        producers.setdefault(step.result, []).append(index)
    return plans, used


def _run(steps: Sequence[_Step], plans: Sequence[Sequence[_Op]],
         mapping: Mapping[Fraction, Fraction]) -> list[tuple[dict[str, Fraction], Fraction]] | None:
    """Recompute every step with new question numbers; None if a result stops being sensible
    (sign flips, an integer becomes a fraction, a long decimal) or a traced value is ambiguous."""
    out: list[tuple[dict[str, Fraction], Fraction]] = []
    for step, ops in zip(steps, plans, strict=True):
        names: dict[str, Fraction] = {}
        for index, op in enumerate(ops):
            kind = op[0]
            if kind == "q":
                value = mapping[op[1]]
            elif kind == "r":
                values = {out[j][1] for j in op[1]}
                if op[2] is not None:
                    values.add(op[2])
                if len(values) > 1:
                    return None
                value = values.pop()
            elif kind == "a":
                base = mapping[op[1]] / 100
                value = base if op[2] == 0 else 1 + op[2] * base
            else:
                value = op[1]
            names[f"v{index}"] = value
        try:
            new = evaluate(step.shape, names)
        except EvalError:
            return None
        old = step.result
        if (old > 0) != (new > 0) or (old < 0) != (new < 0):
            return None
        if old.denominator == 1 and new.denominator != 1:
            return None
        if not _clean_decimal(new):
            return None
        out.append((names, new))
    return out


def _expr_with(step: _Step, names: Mapping[str, Fraction]) -> str:
    pieces: list[str] = []
    last = 0
    for index, (start, end, _) in enumerate(step.operands):
        pieces += [step.expr[last:start], format_number(names[f"v{index}"])]
        last = end
    pieces.append(step.expr[last:])
    return "".join(pieces)


def _rewrite_solution(solution: str, steps: Sequence[_Step],
                      new_steps: Sequence[tuple[str, Fraction]],
                      value_map: Mapping[Fraction, Fraction], new_gold: str) -> str:
    """The solution with annotations rebuilt and the visible numbers mapped.

    The number written right after an annotation is that step's new result; other visible
    numbers map through the results of the steps before them, then the question mapping.
    """
    out: list[str] = []
    results: dict[Fraction, Fraction] = {}
    last = 0
    matches = list(_ANNOTATION_RE.finditer(solution))
    for step, (expr, result), m in zip(steps, new_steps, matches, strict=True):
        out.append(_map_visible(solution[last:m.start()], {**value_map, **results}))
        out.append(f"<<{expr}={format_number(result)}>>")
        last = m.end()
        echo = re.match(r"\d[\d,]*(?:\.\d+)?", solution[last:])
        if echo:
            out.append(_format_result_like(echo.group(0), result))
            last += echo.end()
        results[step.result] = result
    tail = solution[last:]
    head, sep, _ = tail.rpartition("####")
    mapping = {**value_map, **results}
    if sep:
        out.append(_map_visible(head, mapping) + f"#### {new_gold}")
    else:
        out.append(_map_visible(tail, mapping))
    return "".join(out)


def _format_result_like(token: str, value: Fraction) -> str:
    text = format_number(value)
    if token.startswith(".") and text.startswith("0."):
        return text[1:]  # ".05" stays in that style
    if "," in token and value.denominator == 1 and abs(value) >= 1000:
        text = f"{int(value):,}"
    elif "." in token and value.denominator == 1:
        text += "." + "0" * len(token.split(".")[1])  # "$16.00" stays money-shaped
    return text


def _map_visible(text: str, value_map: Mapping[Fraction, Fraction]) -> str:
    def sub(m: re.Match[str]) -> str:
        token = m.group(0)
        try:
            value = Fraction(token.replace(",", ""))
        except ValueError:
            return token
        if value not in value_map:
            return token
        return _format_result_like(token, value_map[value])

    return re.sub(r"(?<![\w.])(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?!\d)", sub, text)


def _derived_unchanged(qnums: Sequence[_QNum], used: set[Fraction], changeable: set[Fraction],
                       steps: Sequence[_Step]) -> bool:
    """True if a number that stays in the question looks computed from one that changes.

    E.g. "... 10 liters ... 15 liters ... spill 1 ... the remaining 24 liters": 24 = 10 + 15 - 1
    would contradict new values of 10 and 15. Checked for one-operation and two-operation
    combinations of a changing number with other numbers of the problem (or a step's result).
    """
    unchanged = changeable - used  # plain numbers the computation does not use
    if not unchanged:
        return False
    pool = {q.value for q in qnums} | {s.result for s in steps} | {Fraction(0)}
    if unchanged & {s.result for s in steps}:
        return True
    singles: set[Fraction] = set()
    for a in used:
        for b in pool:
            singles.update({a + b, a - b, b - a, a * b})
            if b:
                singles.add(a / b)
            if a:
                singles.add(b / a)
    if unchanged & singles:
        return True
    for x in singles:
        for c in pool:
            if x + c in unchanged or x - c in unchanged:
                return True
    return False


def _numbers_gsm8k(item: Item, rng: random.Random, attempts: int = 200) -> Item | None:
    """New question numbers with the gold recomputed by replaying the calculator annotations.

    Which numbers change: plain numbers of the question that the annotations use. Left alone:
    0, 1 and 2 (2 is too often also implicit: "parents", "he and his wife"), numbers written
    twice (two roles, one maybe implicit), years, times (3:30), fractions (1/2), ordinals and
    numbers glued to words (2nd, 5k), values the wording implies (number words, "dozen" → 12,
    "week" → 7...), and numbers the computation does not use. New values keep their kind:
    integer or the same decimals, the same roundness and side of 1, a similar magnitude;
    percentages stay percentages (their factors p/100, 1 - p/100, 1 + p/100 follow).

    Emitted only if: every annotation evaluates exactly to its stated result; the gold equals
    the last annotation's result; every annotation operand is traced to an earlier result, a
    question number, a percentage factor or an implied constant, without ambiguity; no visible
    'a op b = c' arithmetic lacks an annotation; no number left in the question looks derived
    from a changed one; the problem has no branching words ("cheaper", "enough", "which one",
    "if ... more than 5"...); and every recomputed result keeps its sign, stays an integer where
    it was one and a short decimal otherwise. The visible solution text is rewritten best
    effort; the annotations and the gold are exact.
    """
    solution = item.solution or ""
    if "####" not in solution or _BRANCH_WORDS.search(item.question):
        return None
    steps = _parse_steps(solution)
    if not steps:
        return None
    gold_text = solution.rpartition("####")[2].strip().replace(",", "")
    try:
        gold = Fraction(gold_text)
    except (ValueError, ZeroDivisionError):
        return None
    if gold != steps[-1].result or _visible_equation_without_annotation(solution):
        return None

    qnums = _scan_question_numbers(item.question)
    implied = _implied_values(item.question)
    fixed_values = {q.value for q in qnums if q.fixed} | implied
    counts = Counter(q.value for q in qnums)
    # A value written twice may play two roles, one of them used implicitly: leave it alone.
    changeable = {q.value for q in qnums
                  if not q.fixed and q.value not in fixed_values and counts[q.value] == 1}
    constants = fixed_values | {q.value for q in qnums}
    percent_values = {q.value for q in qnums if q.percent and q.value in changeable}
    by_value: dict[Fraction, _QNum] = {}
    for q in qnums:
        by_value.setdefault(q.value, q)

    planned = _plan(steps, changeable, percent_values, constants)
    if planned is None:
        return None
    plans, used = planned
    if not used:
        return None  # no question number feeds the computation
    if _derived_unchanged(qnums, used, changeable, steps):
        return None
    results = {s.result for s in steps}
    options = {v: [c for c in _candidates(by_value[v]) if c not in constants and c not in results]
               for v in sorted(used)}
    if not all(options.values()):
        return None
    for _ in range(attempts):
        mapping: dict[Fraction, Fraction] = {}
        for value, choices in options.items():
            new = rng.choice(choices)
            for _retry in range(8):
                if new not in mapping.values():
                    break
                new = rng.choice(choices)
            mapping[value] = new
        if len(set(mapping.values())) != len(mapping):
            continue
        replay = _run(steps, plans, mapping)
        if replay is None:
            continue
        new_steps = [(_expr_with(step, names), result)
                     for step, (names, result) in zip(steps, replay, strict=True)]
        new_gold_value = new_steps[-1][1]
        if gold.denominator == 1 and new_gold_value.denominator != 1:
            continue
        # Only the numbers the computation uses change; the rest of the problem stays put.
        used_map = mapping
        pieces: list[str] = []
        last = 0
        for q in qnums:
            if q.value in used_map and not q.fixed:
                pieces.append(item.question[last:q.start])
                pieces.append(_format_like(q, used_map[q.value]))
                last = q.end
        pieces.append(item.question[last:])
        question = "".join(pieces)
        new_gold = format_number(new_gold_value)
        visible_map = dict(used_map)
        for p in percent_values & set(used_map):
            new_p = used_map[p]
            for old, new in ((p / 100, new_p / 100), (1 - p / 100, 1 - new_p / 100),
                             (1 + p / 100, 1 + new_p / 100)):
                if old not in changeable and old not in constants:
                    visible_map.setdefault(old, new)
        new_solution = _rewrite_solution(solution, steps, new_steps, visible_map, new_gold)
        params = {
            "mapping": {_format_like(by_value[v], v): _format_like(by_value[v], n)
                        for v, n in sorted(used_map.items())},
            "steps": [{"expr": s.expr, "result": format_number(s.result), "new_expr": e,
                       "new_result": format_number(r)} for s, (e, r) in zip(steps, new_steps,
                                                                             strict=True)],
            "old_gold": item.gold,
            "new_gold": new_gold,
        }
        return replace(item, question=question, gold=new_gold, solution=new_solution,
                       perturbation_params=params)
    return None


# --------------------------------------------------------------------------- numbers / symbolic


def _template_of(item: Item) -> str | None:
    name = item.fields.get("template") if isinstance(item.fields, dict) else None
    if not isinstance(name, str) or item.dataset != "embedded":
        return None
    try:
        get_template(name)
    except KeyError:
        return None
    return name


def _reinstantiate(item: Item, rng: random.Random, keep_names: bool) -> Item | None:
    name = _template_of(item)
    if name is None:
        return None
    old_values = item.fields.get("values", {})
    old_names = dict(item.fields.get("names", {}))
    for _ in range(20):
        seed = rng.randrange(1, 2**31)
        fresh = instantiate(name, seed, names=old_names if keep_names else None)
        if fresh.fields["values"] == old_values:
            continue
        if not keep_names and old_names and any(
                fresh.fields["names"].get(s) == n for s, n in old_names.items()):
            continue
        params = {"template": name, "template_seed": seed, "old_values": old_values,
                  "values": fresh.fields["values"], "old_gold": item.gold, "new_gold": fresh.gold}
        if not keep_names:
            params["names"] = fresh.fields["names"]
        return replace(item, question=fresh.question, gold=fresh.gold, solution=fresh.solution,
                       fields={**item.fields, **fresh.fields}, perturbation_params=params)
    return None


def _numbers(item: Item, rng: random.Random) -> Item | None:
    if _template_of(item) is not None:
        return _reinstantiate(item, rng, keep_names=True)
    return _numbers_gsm8k(item, rng)


def _symbolic(item: Item, rng: random.Random) -> Item | None:
    return _reinstantiate(item, rng, keep_names=False)


# --------------------------------------------------------------------------- names

def _words(text: str) -> set[str]:
    return set(text.split())


# Recognised first names (no everyday-word readings such as May, Rose, Bill or Will), by gender.
_FEMALE_RECOGNISED = set(FEMALE_NAMES) | _words("""
Janet Sally Sarah Martha Amy Mary Jane Hannah Julie Julia Kelly Maria Jenny Dora Anne Susan
Madeline Ashley Sharon Ellen Melanie Jill Samantha Cindy Sandra Sophia Brittany Lily Jenna Carly
Erin Anna Carla Marissa Naomi Carmen Betty Wendy Erica Alice Bernadette Jennifer Becky Jana Emma
Greta Ava Claire Gretchen Beatrice Sara Brianna Kylie Nancy Andrea Carol Joanne Kate Clara Sofie
Denise Sophie Shawna Wanda Amalia Marie Polly Marcy Judy Shiela Freda Jessica Harriet Elise
Shannon Laurel Lucy Lisa Lillian Tasha Heather Angela Cherrie Suzanne Kathy Ophelia Octavia
Paisley Frances Karen Mia Melissa Tanya Becca Kora Rafaela Bethany Betsy Rachel Rebecca Emily
Olivia Isabella Charlotte Abigail Madison Elizabeth Natalie Victoria Grace Zoe Chloe Megan Lauren
Stephanie Nicole Michelle Kimberly Amanda Melinda Linda Barbara Patricia Dorothy Helen Margaret
Ruth Sharon Deborah Donna Debra Carolyn Janice Kristen Tina Monica Veronica Vanessa Gina Paula
Diana Natasha Irene Gloria Teresa Louise Jasmine Kayla Alexis Leah Hailey Ella Aria Scarlett
Layla Nora Riley Penelope Camila Mila Luna Stella Violet Hazel Aurora Savannah Audrey Brooklyn
Bella Claudia Alicia Annie Tracy Wanda Edith Agnes Ursula Eva Amelia Elena Laura Nina Rita Tara
Priya Aisha Fatima Mei Yuki Ingrid Rosa Leila Mariah Tiffany Kendra Lena Tamika Yolanda
""")
_MALE_RECOGNISED = set(MALE_NAMES) | _words("""
John James Peter Tom Mike Tim Robert Adam Jason Ali Bob Paul Billy Charlie Jim George David Jack
Raymond Ben Steve Carl Jake Joe Richard Harry Jerry Marcus Carlos Fred Brian Bobby Jeff Boris
Henry Aaron Jamal Juan Gary Andy Joey Stanley Daniel Stephen Luke Gerald Johnny Tony Nick
Timothy Walter Wayne Liam Anthony Tommy Greg Joseph Zack Sean Michael Gabriel Mitchell Larry
Gunther Arnold Craig Nate Leo Igor Kyle Brandon Dylan Seth Jimmy Colby Thomas Oliver Bruce Jon
Benny Rob Jonathan Ron Tobias Micah Stan Kory Camden Allen Lloyd Ted Jerome Cody Ryan Adrien
Dave Blake Rick Brady Ferdinand Matthew Darren Theo Mason Allan Lillian Frederick Matt Royce
Mack Martin Patrick Gordy Carson Isaias Vince Xavier William Christopher Andrew Joshua Kevin
Eric Jeremy Scott Justin Edward Ronald Kenneth Donald Mark Steven Gregory Jose Samuel Benjamin
Nathan Zachary Alexander Ethan Noah Lucas Mateo Logan Elijah Owen Caleb Isaac Levi Hunter
Connor Wyatt Austin Evan Ian Cole Jordan Aiden Jackson Dominic Victor Hugo Felix Oscar Omar
Ahmed Ravi Arjun Kenji Hiro Diego Marco Luis Ivan Tomas Derek Travis Trevor Troy Dennis Roger
Harold Howard Eugene Ralph Russell Philip Louis Randy Gerardo Hector Pedro Manuel Ricardo
""") - {"Jordan", "Lillian"}
_FEMALE_RECOGNISED -= _MALE_RECOGNISED
_TITLES_RE = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Mister|Aunt|Uncle|Grandma|Grandpa|Sir|Lady|"
                        r"Saint|St|Prof|Professor|Coach|Officer|Captain|King|Queen|Prince|"
                        r"Princess)\.?\s+$")


def _names(item: Item, rng: random.Random) -> Item | None:
    text_all = item.question + "\n" + (item.solution or "")
    present: list[str] = []
    titled: set[str] = set()
    for m in re.finditer(r"\b[A-Z][a-z]+\b", item.question):
        word = m.group(0)
        if word not in _FEMALE_RECOGNISED and word not in _MALE_RECOGNISED:
            continue
        if _TITLES_RE.search(item.question[max(0, m.start() - 12):m.start()]):
            titled.add(word)
        if word not in present:
            present.append(word)
    for m in re.finditer(r"\b[A-Z][a-z]+\b", item.solution or ""):
        if _TITLES_RE.search((item.solution or "")[max(0, m.start() - 12):m.start()]):
            titled.add(m.group(0))
    present = [n for n in present if n not in titled]
    if not present:
        return None
    capitalised = set(re.findall(r"\b[A-Z][a-z]+\b", text_all))
    mapping: dict[str, str] = {}
    for name in present:
        pool = FEMALE_NAMES if name in _FEMALE_RECOGNISED else MALE_NAMES
        choices = [n for n in pool if n not in capitalised and n not in mapping.values()]
        if not choices:
            return None
        mapping[name] = rng.choice(choices)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, mapping)) + r")\b")

    def swap(text: str) -> str:
        return pattern.sub(lambda m: mapping[m.group(1)], text)

    fields = dict(item.fields)
    if isinstance(fields.get("names"), dict):
        fields["names"] = {slot: mapping.get(n, n) for slot, n in fields["names"].items()}
    return replace(item, question=swap(item.question),
                   solution=swap(item.solution) if item.solution else item.solution,
                   fields=fields, perturbation_params={"mapping": mapping})


# --------------------------------------------------------------------------- irrelevant

# (sentence, words that must not appear in the problem for the sentence to be used): each is
# about a topic no grade-school problem quantity shares, so its number cannot be taken for data.
_IRRELEVANT: tuple[tuple[str, frozenset[str]], ...] = tuple(
    (sentence, frozenset(guard.split()))
    for sentence, guard in (
        ("The weather forecast says it will be {n} degrees on Sunday.",
         "degree degrees temperature weather forecast sunday celsius fahrenheit"),
        ("The lighthouse on the coast is {n} metres tall.",
         "lighthouse coast metre metres meter meters tall height"),
        ("The old bridge in the next town was painted {n} years ago.",
         "bridge town painted paint year years ago age old"),
        ("A nearby lake is {n} feet deep at its deepest point.",
         "lake feet foot deep depth water"),
        ("The town's clock tower has {n} steps up to the top.",
         "clock tower step steps stairs town"),
        ("The museum downtown keeps a map that is {n} years old.",
         "museum map year years old age downtown"),
        ("A famous statue in the capital is {n} feet tall.",
         "statue capital feet foot tall height"),
        ("The mountain road to the village has {n} sharp bends.",
         "mountain road village bend bends curve curves"),
    )
)


def _irrelevant(item: Item, rng: random.Random) -> Item | None:
    words = set(re.findall(r"[a-z]+", item.question.lower()))
    options = [s for s, guard in _IRRELEVANT if not (guard & words)]
    if not options:
        return None
    sentence = rng.choice(options)
    existing = set()
    for token in _numbers_in(item.question + " " + item.gold):
        try:
            existing.add(Fraction(token.replace(",", "")))
        except ValueError:  # "1.2.3" and the like
            continue
    choices = [n for n in range(3, 98) if Fraction(n) not in existing]
    number = rng.choice(choices)
    sentence = sentence.format(n=number)
    spans = _sentence_spans(item.question)
    if not spans:
        return None
    sentences = [item.question[a:b] for a, b in spans]
    position = _question_index(sentences) if len(spans) > 1 else 0
    at = spans[position][0]
    # Insert without touching the original spacing elsewhere.
    question = item.question[:at] + sentence + " " + item.question[at:]
    return replace(item, question=question,
                   perturbation_params={"sentence": sentence, "number": number,
                                        "position": position})


# --------------------------------------------------------------------------- reorder

_REFERRING = re.compile(
    r"\b(he|she|him|her|his|hers|they|them|their|theirs|it|its|this|that|these|those|"
    r"then|such|same|other|others|another|remaining|rest|each|both|all|total|together|"
    r"altogether|there|here|now|after|before|first|second|last|new|extra|more|less|left)\b",
    re.IGNORECASE,
)


def _reorder(item: Item, rng: random.Random) -> Item | None:
    """Question sentence first, facts after; only when the question needs no earlier context.

    The rule is conservative on purpose: the question sentence must be the last sentence, end
    with '?', and contain no pronoun, demonstrative or word that points back at the facts
    ("it", "that", "remaining", "total", "now", "left"...). Moving such a question first keeps
    its meaning because it refers to the facts only through nouns.
    """
    spans = _sentence_spans(item.question)
    if len(spans) < 2:
        return None
    q_start, q_end = spans[-1]
    question = item.question[q_start:q_end].strip()
    facts = item.question[:q_start].rstrip()
    if not question.endswith("?") or "?" in facts:
        return None
    if _REFERRING.search(question):
        return None
    return replace(item, question=f"{question} {facts}",
                   perturbation_params={"rule": "question-first", "moved": question})


# --------------------------------------------------------------------------- format

_KEYBOARD_NEIGHBOURS = {
    "a": "qwsz", "b": "vghn", "c": "xdfv", "d": "serfcx", "e": "wsdr", "f": "drtgvc",
    "g": "ftyhbv", "h": "gyujnb", "i": "ujko", "j": "huikmn", "k": "jiolm", "l": "kop",
    "m": "njk", "n": "bhjm", "o": "iklp", "p": "ol", "q": "wa", "r": "edft", "s": "awedxz",
    "t": "rfgy", "u": "yhji", "v": "cfgb", "w": "qase", "x": "zsdc", "y": "tghu", "z": "asx",
}
_PROTECTED_WORDS = set(_NUMBER_WORDS) | set(_IMPLIED) | {
    "not", "no", "never", "none", "without", "more", "less", "fewer", "than", "each", "every",
    "times", "total", "left", "remaining", "percent", "per", "cost", "costs", "price",
}


def _typo(word: str, rng: random.Random) -> str:
    kind = rng.choice(("swap", "neighbour", "drop"))
    i = rng.randrange(1, len(word) - 2)
    if kind == "swap" and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "neighbour" and word[i].lower() in _KEYBOARD_NEIGHBOURS:
        repl = rng.choice(_KEYBOARD_NEIGHBOURS[word[i].lower()])
        repl = repl.upper() if word[i].isupper() else repl
        return word[:i] + repl + word[i + 1:]
    return word[:i] + word[i + 1:]


def _format(item: Item, rng: random.Random) -> Item | None:
    """Surface noise that a reader ignores; digits and number words are never touched."""
    ops = rng.sample(["spaces", "newlines", "case", "typos"], k=rng.choice((2, 3)))
    # Line breaks are placed at sentence ends, which need the original capitals: before case.
    ops.sort(key=["typos", "spaces", "newlines", "case"].index)
    text = item.question
    details: dict[str, Any] = {}
    if "typos" in ops:
        names = _FEMALE_RECOGNISED | _MALE_RECOGNISED
        words = [m for m in re.finditer(r"\b[A-Za-z]{5,}\b", text)
                 if m.group(0).lower() not in _PROTECTED_WORDS and m.group(0) not in names]
        if words:
            chosen = sorted(rng.sample(words, k=min(len(words), rng.choice((1, 2)))),
                            key=lambda m: m.start())
            typos = []
            pieces, last = [], 0
            for m in chosen:
                new = _typo(m.group(0), rng)
                typos.append({"word": m.group(0), "typo": new})
                pieces += [text[last:m.start()], new]
                last = m.end()
            text = "".join([*pieces, text[last:]])
            details["typos"] = typos
        else:
            ops.remove("typos")
    if "spaces" in ops:
        spaces = [m.start() for m in re.finditer(r"(?<=\S) (?=\S)", text)]
        if spaces:
            chosen_spaces = set(rng.sample(spaces, k=min(len(spaces), rng.randint(1, 3))))
            text = "".join(ch * 2 if i in chosen_spaces else ch for i, ch in enumerate(text))
            details["spaces"] = len(chosen_spaces)
        else:
            ops.remove("spaces")
    if "newlines" in ops:
        sentences = split_sentences(text)
        if len(sentences) > 1:
            text = "\n".join(sentences) if rng.random() < 0.5 else "\n\n".join(sentences)
            details["newlines"] = len(sentences) - 1
        else:
            ops.remove("newlines")
    if "case" in ops:
        if rng.random() < 0.5:
            text = text.lower()
            details["case"] = "lower"
        else:
            words = [m for m in re.finditer(r"\b[A-Za-z]{4,}\b", text)]
            if words:
                m = rng.choice(words)
                text = text[:m.start()] + m.group(0).upper() + text[m.end():]
                details["case"] = f"upper:{m.group(0)}"
            else:
                ops.remove("case")
    if not ops or text == item.question:
        return None
    return replace(item, question=text, perturbation_params={"ops": ops, **details})


# --------------------------------------------------------------------------- registry

PERTURBATIONS: dict[str, Perturbation] = {
    p.name: p
    for p in (
        Perturbation("numbers", "new numbers; gold recomputed by replaying the worked solution "
                     "(GSM8K annotations) or the template (embedded)", _numbers, True),
        Perturbation("names", "person names swapped for others of the same gender", _names, False),
        Perturbation("irrelevant", "an irrelevant sentence with a number inserted before the "
                     "question (GSM-NoOp style)", _irrelevant, False),
        Perturbation("reorder", "question sentence moved first when it refers to no earlier "
                     "sentence", _reorder, False),
        Perturbation("format", "spacing, line breaks, letter case and a few typos; numbers "
                     "untouched", _format, False),
        Perturbation("symbolic", "embedded items only: a fresh template instance with new "
                     "numbers and names", _symbolic, True),
    )
}
# Steps that rebuild an embedded item's text from its template (discarding earlier text edits).
_REBUILDS = {"numbers", "symbolic"}
_REBUILD_SAFE_BEFORE = {"names", "numbers", "symbolic"}


def variant_id(original_id: str, names: Sequence[str], seed: int) -> str:
    """Stable id of a variant: '<original>~<step+step>@<seed>'."""
    return f"{original_id}~{'+'.join(names)}@{seed}"


def parse_perturb_spec(spec: str) -> list[list[str]]:
    """Parse '--perturb': ',' separates variants, '+' composes steps within one variant.

    "numbers,names" → [["numbers"], ["names"]]; "numbers+irrelevant,names" →
    [["numbers", "irrelevant"], ["names"]]. Raises ValueError for unknown or repeated names,
    and for `symbolic` after another step (it would discard that step's changes).
    """
    variants: list[list[str]] = []
    for chunk in spec.split(","):
        chunk = chunk.strip()
        if not chunk:
            continue
        steps = [s.strip().lower() for s in chunk.split("+")]
        for step in steps:
            if step not in PERTURBATIONS:
                raise ValueError(f"unknown perturbation {step!r}; known: "
                                 f"{', '.join(PERTURBATIONS)}")
        if len(set(steps)) != len(steps):
            raise ValueError(f"perturbation repeated in {chunk!r}")
        if "symbolic" in steps[1:]:
            raise ValueError(f"'symbolic' must come first in {chunk!r}: it rebuilds the item")
        if steps not in variants:
            variants.append(steps)
    if not variants:
        raise ValueError(f"no perturbation in {spec!r}; known: {', '.join(PERTURBATIONS)}")
    return variants


def _step_rng(seed: int, item_id: str, index: int, name: str) -> random.Random:
    return random.Random(stable_int("perturb", seed, item_id, index, name))


def perturb(item: Item, names: Sequence[str], seed: int) -> Item | None:
    """Apply perturbations in order; None if any step cannot produce a valid variant.

    The variant's `original_id` is `item.item_id`, `perturbation` the '+'-joined names,
    `perturbation_params` {step name: what it changed}. Never raises for odd items.
    """
    names = list(names)
    if not names:
        raise ValueError("no perturbation given")
    for name in names:
        if name not in PERTURBATIONS:
            raise ValueError(f"unknown perturbation {name!r}; known: {', '.join(PERTURBATIONS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"perturbation repeated in {'+'.join(names)!r}")
    current = replace(item, perturbation_params={})
    params: dict[str, Any] = {}
    for index, name in enumerate(names):
        if (name in _REBUILDS and _template_of(current) is not None
                and not set(names[:index]) <= _REBUILD_SAFE_BEFORE):
            return None
        try:
            out = PERTURBATIONS[name].fn(current, _step_rng(seed, item.item_id, index, name))
        except (ValueError, ArithmeticError, KeyError, IndexError, EvalError):
            return None  # a malformed item: no variant rather than a crash
        if out is None:
            return None
        params[name] = out.perturbation_params
        current = out
    return replace(
        current,
        item_id=variant_id(item.item_id, names, seed),
        original_id=item.item_id,
        perturbation="+".join(names),
        perturbation_seed=seed,
        perturbation_params=params,
    )


def numbers_coverage(items: Iterable[Item], seed: int = 0) -> tuple[int, int]:
    """(items with a valid `numbers` variant, items): how much of a set `numbers` can perturb."""
    n_valid = n_total = 0
    for item in items:
        n_total += 1
        if perturb(item, ["numbers"], seed) is not None:
            n_valid += 1
    return n_valid, n_total
