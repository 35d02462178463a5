"""Replaying a GSM8K worked solution with new question numbers.

A GSM8K solution annotates each calculator step as `<<expr=result>>`. To recompute the gold for
new numbers, every operand of every step is traced to where it comes from (a question number, an
earlier step's result, a percentage factor or a constant), then the steps are evaluated again in
order with exact fractions. `engine.perturb.numbers` decides which question numbers change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from engine.data.embedded.templates import EvalError, evaluate, format_number

__all__ = [
    "Op",
    "Step",
    "expr_with",
    "parse_steps",
    "plan_steps",
    "replay_steps",
    "rewrite_solution",
    "visible_equation_without_annotation",
]

_ANNOTATION_RE = re.compile(r"<<([^<>=]*)=([^<>]*)>>")
_OPERAND_RE = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_MAX_DECIMALS = 4


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
class Step:
    """One `<<expr=result>>` annotation of a worked solution."""

    expr: str
    result: Fraction
    operands: list[tuple[int, int, Fraction]]  # (start, end, value) within expr
    shape: str  # expr with operand i replaced by the name v<i>, parsed once and reused


def parse_steps(solution: str) -> list[Step] | None:
    """The annotations in order; None if one does not evaluate exactly to its stated result."""
    steps: list[Step] = []
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
        steps.append(Step(expr, result, operands, shape))
    return steps


def visible_equation_without_annotation(solution: str) -> bool:
    """True if the solution shows 'a op b = c' arithmetic that has no annotation to replay."""
    for line in solution.splitlines():
        if line.strip().startswith("####"):
            continue
        stripped = _ANNOTATION_RE.sub(" ", line)
        n_eq = len(re.findall(r"\d\s*[-+*/x×÷]\s*\$?\d[\d,.]*\s*=", stripped))
        if n_eq > len(_ANNOTATION_RE.findall(line)):
            return True
    return False


# One traced operand: ("q", value), ("r", step indexes, constant or None), ("a", percent,
# kind) or ("c", value); see `plan_steps`.
Op = tuple[Any, ...]


def plan_steps(steps: Sequence[Step], changeable: set[Fraction], percents: set[Fraction],
          constants: set[Fraction]) -> tuple[list[list[Op]], set[Fraction]] | None:
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
    plans: list[list[Op]] = []
    used: set[Fraction] = set()
    for index, step in enumerate(steps):
        ops: list[Op] = []
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


def replay_steps(steps: Sequence[Step], plans: Sequence[Sequence[Op]],
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


def expr_with(step: Step, names: Mapping[str, Fraction]) -> str:
    """The step's expression written with the new operand values."""
    pieces: list[str] = []
    last = 0
    for index, (start, end, _) in enumerate(step.operands):
        pieces += [step.expr[last:start], format_number(names[f"v{index}"])]
        last = end
    pieces.append(step.expr[last:])
    return "".join(pieces)


def rewrite_solution(solution: str, steps: Sequence[Step],
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


