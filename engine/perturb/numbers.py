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
from itertools import pairwise

from engine.data.embedded.templates import format_number
from engine.perturb._solution import (
    Op,
    Step,
    expr_with,
    parse_steps,
    plan_steps,
    replay_steps,
    rewrite_solution,
    visible_equation_without_annotation,
)
from engine.perturb._template import reinstantiate, template_of
from engine.perturb.quantities import (
    UnitLimit,
    agree_article,
    limit_for,
    people_count_after,
)
from engine.perturb.registry import register, reject
from engine.perturb.text import FEMALE_RECOGNISED, IMPLIED, MALE_RECOGNISED, NUMBER_WORDS
from engine.records import Item

__all__ = ["new_numbers"]

_QNUM_RE = re.compile(
    r"(?P<dollar>\$\s?)?(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)"
    r"(?P<pct>\s?(?:%|percent\b))?"
)
# A determiner before a count of people that points back at a group already counted.
_BACK_REFERENCE = re.compile(r"\b(?:the|these|those|all|both|all\s+the|all\s+of\s+the|"
                             r"each\s+of\s+the)\s+$", re.IGNORECASE)
# Counts of people that leave someone out: "and his 3 friends", "3 of her friends", "4 others".
_WITH_BEFORE = re.compile(r"\b(?:(?:and|with|plus)\s+(?:his|her|their|my|our|your)|with)\s+$",
                          re.IGNORECASE)
_OTHERS_AFTER = re.compile(r"\s+(?:of\s+(?:his|her|their|my|our|your)\b|other\b|others\b|more\s+"
                           r"friends\b)", re.IGNORECASE)
_CLOCK_AFTER = re.compile(r"\s?(?:[ap]\.\s?m\b\.?|[ap]m\b|o['’]clock\b|noon\b|midnight\b)",
                          re.IGNORECASE)
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
    limit: UnitLimit | None = None  # what its unit allows (days per week <= 7...)
    people: bool = False  # counts people ("3 friends")
    age: bool = False
    companions: bool = False  # people besides someone named: "Henry and his 3 friends"


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
        if _CLOCK_AFTER.match(text[end:end + 10]):
            fixed = True  # a clock time: "8 a.m.", "5 pm", "7 o'clock"
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
        percent = m.group("pct") is not None
        limit = limit_for(text, start, end, percent=percent and value <= 100)
        if limit is not None and not limit.low <= value <= limit.high:
            fixed = True  # already outside what its unit allows: not ours to judge
        people = people_count_after(text, end)
        companions = people and bool(
            _WITH_BEFORE.search(text[max(0, start - 24):m.start()])
            or _OTHERS_AFTER.match(text[end:end + 40]))
        if people and _BACK_REFERENCE.search(text[max(0, start - 16):m.start()]):
            fixed = True  # "the 3 friends", "all 4 of them": a group counted before
        found.append(_QNum(start, end, value, num, decimals, "," in num, percent, fixed,
                           limit, people, limit is not None and limit.label == "age",
                           companions))
    names = _person_names(text)
    if len(names) >= 2:
        for q in found:
            if q.people and q.value == len(names):
                q.fixed = True  # "Mark, Susan and Bob ... 3 friends": counts the names
    _fix_calendar_links(text, found)
    return found


_ORDINAL_WORDS = {w: i for i, w in enumerate((
    "zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
    "ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth",
    "sixteenth", "seventeenth", "eighteenth", "nineteenth", "twentieth"))}
_ORDINAL_RE = re.compile(r"\b(?:(\d+)(?:st|nd|rd|th)|([a-z]+))\b", re.IGNORECASE)
_AMOUNT_UNIT_RE = re.compile(r"\b(?:(\d+(?:\.\d+)?)|([a-z]+))[\s-]+([a-z]+)\b", re.IGNORECASE)


def _fix_calendar_links(text: str, found: list[_QNum]) -> None:
    """Fix numbers tied to words that will not change with them.

    An ordinal k ("the twelfth month", "the 3rd floor") keeps the numbers k and k - 1 ("for 11
    months ... on the twelfth month"). An amount in a unit that converts ("two weeks", "3
    hours") keeps a number equal to it in the smaller unit ("for 14 days ... these two weeks",
    "3 hours ... 180 minutes"), and a digit amount stays with it.
    """
    by_value: dict[Fraction, list[_QNum]] = {}
    for q in found:
        by_value.setdefault(q.value, []).append(q)
    for m in _ORDINAL_RE.finditer(text):
        k = int(m.group(1)) if m.group(1) else _ORDINAL_WORDS.get(m.group(2).lower())
        if k is None or k < 3:
            continue
        for q in by_value.get(Fraction(k), []) + by_value.get(Fraction(k - 1), []):
            q.fixed = True
    for m in _AMOUNT_UNIT_RE.finditer(text):
        amount_text, word, unit = m.group(1), m.group(2), m.group(3).lower()
        if unit not in IMPLIED:
            continue
        if amount_text is not None:
            amount = Fraction(amount_text)
        elif word is not None and word.lower() in NUMBER_WORDS:
            amount = Fraction(NUMBER_WORDS[word.lower()])
        else:
            continue
        for factor in IMPLIED[unit]:
            tied = by_value.get(amount * factor, [])
            if tied and amount * factor != amount:
                for q in tied:
                    q.fixed = True
                for q in by_value.get(amount, []) if amount_text is not None else []:
                    q.fixed = True


def _person_names(text: str) -> set[str]:
    return {w for w in re.findall(r"\b[A-Z][a-z]+\b", text)
            if w in FEMALE_RECOGNISED or w in MALE_RECOGNISED}


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
    and the same side of 1, so "1.25 times faster" never becomes "0.95 times faster"), within
    what the number's unit allows (`quantities.UNIT_LIMITS`: days per week <= 7...)."""
    out = [c for c in _raw_candidates(q) if (c > 1) == (q.value > 1) and c > 0]
    if q.limit is not None:
        out = [c for c in out if q.limit.low <= c <= q.limit.high]
    return out


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


def _dangling_step(plans: Sequence[Sequence[Op]]) -> bool:
    """True if a step that depends on a question number gives a result no later step uses.

    Such a result was carried on outside the annotations ("4 * 25 = 100 cents. Since 100 cents
    = $1 ... $5 - $1"), so replaying the annotations would keep the old value downstream.
    """
    depends: list[bool] = []
    consumed: set[int] = set()
    for ops in plans:
        dep = False
        for op in ops:
            if op[0] in ("q", "a"):
                dep = True
            elif op[0] == "r":
                consumed.update(op[1])
                dep = dep or any(depends[j] for j in op[1])
        depends.append(dep)
    return any(dep and i not in consumed for i, dep in enumerate(depends[:-1]))


def _implicit_count(qnums: Sequence[_QNum], used: set[Fraction], changeable: set[Fraction],
                    plans: Sequence[Sequence[Op]], by_value: dict[Fraction, _QNum]) -> bool:
    """True if a count of people besides someone ("and his 3 friends", "3 of her friends") would
    change and also appears, one more or one less, as a constant of the solution or a number
    that stays: "Henry and his 3 friends" solved with "56 / 4" (4 = 3 + Henry, used without an
    annotation that says so)."""
    counts = {v for v in used if by_value[v].companions}
    if not counts:
        return False
    neighbours = {v + d for v in counts for d in (-1, 1)}
    constants = {op[1] for ops in plans for op in ops if op[0] == "c"}
    unchanged = {q.value for q in qnums} - used
    return bool(neighbours & (constants | unchanged))


_SHARE_RE = re.compile(r"\bwhat\s+(?:(percent|percentage)|(fraction|proportion|share))\b",
                       re.IGNORECASE)


def _share_asked(question: str) -> Fraction | None:
    """100 if the question asks for a percentage, 1 for a fraction or share, else None."""
    m = _SHARE_RE.search(question)
    if m is None:
        return None
    return Fraction(100) if m.group(1) else Fraction(1)


def _order_kept(mapping: dict[Fraction, Fraction], others: set[Fraction]) -> bool:
    """True if the new numbers keep the order of the old ones among themselves and against the
    question's numbers that stay: "starts with 47 WPM ... has increased to 52 WPM" never reads
    "starts with 55 ... increased to 45"."""
    pairs = sorted([*mapping.items(), *((v, v) for v in others - set(mapping))])
    return all(a[1] < b[1] for a, b in pairwise(pairs))


def _age_gaps_kept(ages: Sequence[_QNum], mapping: dict[Fraction, Fraction]) -> bool:
    """A gap of 15 years or more between two ages (a parent and a child) stays one: "Tom is 40
    and his son 10" never becomes "Tom is 30 and his son 20"."""
    for i, a in enumerate(ages):
        for b in ages[i + 1:]:
            new_a, new_b = mapping.get(a.value, a.value), mapping.get(b.value, b.value)
            if abs(a.value - b.value) >= 15 and abs(new_a - new_b) < 15:
                return False
    return True


def _numbers_gsm8k(item: Item, rng: random.Random, attempts: int = 200) -> Item | None:
    """New question numbers with the gold recomputed by replaying the calculator annotations.

    Which numbers change: plain numbers of the question that the annotations use. Left alone:
    0, 1 and 2 (2 is too often also implicit: "parents", "he and his wife"), numbers written
    twice (two roles, one maybe implicit), years, times (3:30), fractions (1/2), ordinals and
    numbers glued to words (2nd, 5k), values the wording implies (number words, "dozen" → 12,
    "week" → 7...), and numbers the computation does not use. New values keep their kind:
    integer or the same decimals, the same roundness and side of 1, a similar magnitude;
    percentages stay percentages (their factors p/100, 1 - p/100, 1 + p/100 follow).

    Also left alone: clock times ("8 a.m."), numbers tied to an ordinal or a converted amount
    ("11 months ... the twelfth month", "14 days ... two weeks"), numbers already outside
    what their unit allows,
    counts of people that point back at a group ("the 3 friends", "all 4 of them") or that
    equal the number of names in the problem. New values stay within their unit's limits
    (`quantities.UNIT_LIMITS`: days per week <= 7, hours per day <= 24, weeks per year <= 52,
    shares <= 100%, ages <= 100...), keep the order of the question's numbers (so "starts at
    47 ... increased to 52" stays an increase) and parent-child age gaps, and the article
    before a new number agrees with it ("an 8 foot pool").

    Emitted only if: every annotation evaluates exactly to its stated result; the gold equals
    the last annotation's result; every annotation operand is traced to an earlier result, a
    question number, a percentage factor or an implied constant, without ambiguity; no visible
    'a op b = c' arithmetic lacks an annotation; no number left in the question looks derived
    from a changed one; the problem has no branching words ("cheaper", "enough", "which one",
    "if ... more than 5"...); no count of companions ("and his 3 friends") would change while
    the solution uses it one more or less as a constant; and every recomputed result keeps its
    sign, stays an integer where it was one and a short decimal otherwise, and an asked
    percentage of a whole stays at most 100. Why not: the reason
    codes in `_REASONS`, raised with `reject`. The visible solution text is rewritten best
    effort; the annotations and the gold are exact.
    """
    solution = item.solution or ""
    if "####" not in solution:
        raise reject("no-solution")
    if _BRANCH_WORDS.search(item.question):
        raise reject("branching")
    steps = parse_steps(solution)
    if steps is None:
        raise reject("inexact-annotation")
    if not steps:
        raise reject("no-annotation")
    gold_text = solution.rpartition("####")[2].strip().replace(",", "")
    try:
        gold = Fraction(gold_text)
    except (ValueError, ZeroDivisionError):
        raise reject("gold-not-a-number") from None
    if gold != steps[-1].result:
        raise reject("gold-not-last-step")
    if visible_equation_without_annotation(solution):
        raise reject("unannotated-arithmetic")

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
        raise reject("untraceable-operand")
    plans, used = planned
    if not used:
        raise reject("no-changeable-number")  # no question number feeds the computation
    if _dangling_step(plans):
        raise reject("unused-result")
    if _implicit_count(qnums, used, changeable, plans, by_value):
        raise reject("implicit-count")
    if _derived_unchanged(qnums, used, changeable, steps):
        raise reject("derived-number")
    results = {s.result for s in steps}
    options = {v: [c for c in _candidates(by_value[v]) if c not in constants and c not in results]
               for v in sorted(used)}
    if not all(options.values()):
        raise reject("no-candidate-value")
    ages = [q for q in qnums if q.age]
    share = _share_asked(item.question)
    question_values = {q.value for q in qnums}
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
        if gold >= 0 > new_gold_value:
            continue
        if share and gold <= share < new_gold_value:
            continue  # "what percentage of their day" cannot become 350%
        if not _order_kept(mapping, question_values) or not _age_gaps_kept(ages, mapping):
            continue
        # Only the numbers the computation uses change; the rest of the problem stays put.
        used_map = mapping
        pieces: list[str] = []
        last = 0
        for q in qnums:
            if q.value in used_map and not q.fixed:
                new_text = _format_like(q, used_map[q.value])
                pieces.append(agree_article(item.question[last:q.start], new_text))
                pieces.append(new_text)
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
    raise reject("no-valid-replay")




_REASONS = {
    "no-solution": "no worked solution with a '#### N' line",
    "branching": "the solution path may depend on comparing numbers (cheaper, enough, if ... more)",
    "inexact-annotation": "an annotation does not evaluate exactly to its stated result",
    "no-annotation": "the solution has no <<expr=result>> annotation",
    "gold-not-a-number": "the '#### N' gold is not a number",
    "gold-not-last-step": "the gold is not the last annotation's result",
    "unannotated-arithmetic": "the solution shows 'a op b = c' arithmetic with no annotation",
    "untraceable-operand": "an annotation operand comes from no question number, earlier result "
                           "or implied constant, or from two of them",
    "no-changeable-number": "no question number that may change feeds the computation",
    "unused-result": "a step that depends on a question number gives a result no later step "
                     "uses (carried on outside the annotations: 100 cents -> $1)",
    "implicit-count": "a count of people that would change is also used, one more or one less, "
                      "without an annotation (\"he and his 3 friends\" -> 4)",
    "derived-number": "a number left in the question looks computed from one that changes",
    "no-candidate-value": "a number has no new value of its kind within its unit's limits",
    "no-valid-replay": "200 draws gave no replay that stays integer, same-signed and plausible",
    "no-template": "an embedded item whose template gives nothing new",
}


@register("numbers", description="new numbers; gold recomputed by replaying the worked solution "
          "(GSM8K annotations) or the template (embedded)", changes_gold=True, reasons=_REASONS)
def new_numbers(item: Item, rng: random.Random) -> Item | None:
    """New numbers for an embedded template item or a GSM8K item with an annotated solution."""
    if template_of(item) is not None:
        variant = reinstantiate(item, rng, keep_names=True)
        if variant is None:
            raise reject("no-template")
        return variant
    return _numbers_gsm8k(item, rng)
