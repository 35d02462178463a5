"""`numbers`: new numbers in the question, with the gold recomputed.

GSM8K items: the `<<expr=result>>` calculator annotations of the worked solution are replayed
with the new numbers (`engine.perturb._solution`); a variant is emitted only when every step
replays exactly (see `_numbers_gsm8k`), otherwise None. Embedded items: re-instantiated from
their template with the same names.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

from engine.data.embedded.templates import format_number
from engine.perturb._solution import (
    Step,
    expr_with,
    parse_steps,
    plan_steps,
    replay_steps,
    rewrite_solution,
    visible_equation_without_annotation,
)
from engine.perturb._template import reinstantiate, template_of
from engine.perturb.registry import register
from engine.perturb.text import IMPLIED, NUMBER_WORDS
from engine.records import Item

__all__ = ["new_numbers"]

_QNUM_RE = re.compile(
    r"(?P<dollar>\$\s?)?(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)"
    r"(?P<pct>\s?(?:%|percent\b))?"
)
_UNIT_SUFFIXES = {"kg", "km", "cm", "mm", "ml", "mph", "lb", "lbs", "oz", "ft", "x", "g"}

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
        if word in NUMBER_WORDS:
            values.add(Fraction(NUMBER_WORDS[word]))
        values.update(IMPLIED.get(word, ()))
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



def _derived_unchanged(qnums: Sequence[_QNum], used: set[Fraction], changeable: set[Fraction],
                       steps: Sequence[Step]) -> bool:
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
    steps = parse_steps(solution)
    if not steps:
        return None
    gold_text = solution.rpartition("####")[2].strip().replace(",", "")
    try:
        gold = Fraction(gold_text)
    except (ValueError, ZeroDivisionError):
        return None
    if gold != steps[-1].result or visible_equation_without_annotation(solution):
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

    planned = plan_steps(steps, changeable, percent_values, constants)
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
        replay = replay_steps(steps, plans, mapping)
        if replay is None:
            continue
        new_steps = [(expr_with(step, names), result)
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
        new_solution = rewrite_solution(solution, steps, new_steps, visible_map, new_gold)
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




@register("numbers", description="new numbers; gold recomputed by replaying the worked solution "
          "(GSM8K annotations) or the template (embedded)", changes_gold=True)
def new_numbers(item: Item, rng: random.Random) -> Item | None:
    """New numbers for an embedded template item or a GSM8K item with an annotated solution."""
    if template_of(item) is not None:
        return reinstantiate(item, rng, keep_names=True)
    return _numbers_gsm8k(item, rng)
