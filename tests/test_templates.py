"""The embedded template set: enough templates, exact answers recomputed independently, a safe
evaluator, and deterministic instantiation."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.data import load_items
from engine.data.embedded.templates import (
    FEMALE_NAMES,
    MALE_NAMES,
    TEMPLATES,
    EvalError,
    default_items,
    evaluate,
    format_number,
    get_template,
    instantiate,
)

# --------------------------------------------------------------------------- an independent
# evaluator: a recursive-descent parser over + - * / ( ) and integers, written separately from
# engine.data.embedded.templates.evaluate (which walks Python's AST), so answers are checked two
# ways.

_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|(\w+)|(.))")


def _tokens(expr: str, env: dict[str, int]) -> list[object]:
    out: list[object] = []
    for number, name, op in _TOKEN.findall(expr):
        if number:
            out.append(Fraction(number))
        elif name:
            out.append(Fraction(env[name]))
        elif op.strip():
            out.append(op)
    return out


def independent_eval(expr: str, env: dict[str, int] | None = None) -> Fraction:
    toks = _tokens(expr, env or {})
    pos = 0

    def peek() -> object:
        return toks[pos] if pos < len(toks) else None

    def take() -> object:
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def atom() -> Fraction:
        tok = take()
        if tok == "(":
            value = add()
            assert take() == ")"
            return value
        if tok == "-":
            return -atom()
        assert isinstance(tok, Fraction), tok
        return tok

    def mul() -> Fraction:
        value = atom()
        while peek() in ("*", "/"):
            if take() == "*":
                value *= atom()
            else:
                value /= atom()
        return value

    def add() -> Fraction:
        value = mul()
        while peek() in ("+", "-"):
            if take() == "+":
                value += mul()
            else:
                value -= mul()
        return value

    result = add()
    assert pos == len(toks), f"trailing tokens in {expr!r}"
    return result


# --------------------------------------------------------------------------- the set


def test_at_least_forty_templates_with_unique_names_and_a_step_mix() -> None:
    assert len(TEMPLATES) >= 40
    assert len({t.name for t in TEMPLATES}) == len(TEMPLATES)
    steps = [t.steps for t in TEMPLATES]
    assert steps.count(1) >= 8 and steps.count(2) >= 15 and steps.count(3) >= 5


def _check_instance(template_name: str, seed: int) -> None:
    tmpl = get_template(template_name)
    item = instantiate(tmpl, seed)
    values = item.fields["values"]
    # The answer, recomputed with the independent evaluator, is the gold and a positive integer.
    answer = independent_eval(tmpl.answer, values)
    assert answer.denominator == 1 and answer > 0
    assert item.gold == str(answer.numerator)
    # Constraints hold and every computed quantity shown is a positive integer.
    for constraint in tmpl.constraints:
        left, op, right = re.match(r"(.+?)\s*(<=|>=|<|>)\s*(.+)", constraint).groups()
        lhs, rhs = independent_eval(left, values), independent_eval(right, values)
        assert {"<": lhs < rhs, ">": lhs > rhs, "<=": lhs <= rhs, ">=": lhs >= rhs}[op]
    for text in (tmpl.question, tmpl.solution):
        for expr in re.findall(r"\[\[(.+?)\]\]", text):
            value = independent_eval(expr, values)
            assert value.denominator == 1 and value > 0, (template_name, seed, expr)
    # Fully rendered; the solution ends with the answer sentence.
    for text in (item.question, item.solution or ""):
        assert "{" not in text and "[[" not in text
    assert item.solution and item.solution.endswith(f"The answer is {item.gold}.")
    # Every variable's value appears in the question, every person is a known name.
    for var, value in values.items():
        if f"{{{var}}}" in tmpl.question:
            assert re.search(rf"\b{value}\b", item.question)
    for person in item.fields["names"].values():
        assert person in FEMALE_NAMES or person in MALE_NAMES
        assert person in item.question
    assert item.dataset == "embedded" and item.answer_type == "number"
    assert item.fields["template"] == template_name


@pytest.mark.parametrize("template_name", [t.name for t in TEMPLATES])
def test_every_template_instantiates_for_many_seeds(template_name: str) -> None:
    for seed in range(40):
        _check_instance(template_name, seed)


@settings(max_examples=80, deadline=None)
@given(st.sampled_from([t.name for t in TEMPLATES]), st.integers(0, 2**40))
def test_any_seed_gives_a_valid_exact_instance(template_name: str, seed: int) -> None:
    _check_instance(template_name, seed)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([t.name for t in TEMPLATES]), st.integers(0, 10**6))
def test_instantiation_is_deterministic(template_name: str, seed: int) -> None:
    assert instantiate(template_name, seed) == instantiate(template_name, seed)


def test_pinned_names_are_kept_and_pronouns_follow_gender() -> None:
    item = instantiate("pencils_bought", 5, names={"name": "Ava"})
    assert item.fields["names"] == {"name": "Ava"}
    assert "She buys" in item.question
    item = instantiate("pencils_bought", 5, names={"name": "Liam"})
    assert "He buys" in item.question


def test_two_person_templates_use_two_different_names() -> None:
    for seed in range(30):
        item = instantiate("candy_shared", seed)
        assert item.fields["names"]["name"] != item.fields["names"]["name2"]


def test_default_items_have_stable_ids_and_template_fields() -> None:
    items = default_items()
    assert len(items) == len(TEMPLATES)
    assert [i.item_id for i in items] == [f"embedded-{t.name}" for t in TEMPLATES]
    assert items == default_items()
    assert all(i.fields["template_seed"] == 0 for i in items)
    loaded = load_items("embedded")
    assert loaded.items == items and loaded.skipped == 0
    assert load_items("embedded", limit=5).items == items[:5]
    other = instantiate(TEMPLATES[0], 3)
    assert other.item_id == f"embedded-{TEMPLATES[0].name}-s3"


def test_unknown_template_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="pencils_bought"):
        get_template("nope")


# --------------------------------------------------------------------------- evaluator


@pytest.mark.parametrize(
    ("expr", "value"),
    [("16-3-4", 9), ("80000*1.5", 120000), ("5*.25", Fraction(5, 4)), ("(1+2)*3", 9),
     ("7//2", 3), ("7%4", 3), ("2**3", 8), ("-3+5", 2), ("10/4", Fraction(5, 2)),
     ("3 < 4", 1), ("3 > 4", 0), ("1 < 2 and 2 < 1", 0)],
)
def test_evaluate_is_exact(expr: str, value: Fraction) -> None:
    assert evaluate(expr) == value


@pytest.mark.parametrize(
    "expr",
    ["__import__('os')", "a.b", "f(1)", "[1, 2]", "'text'", "1/0", "2**100", "x + 1",
     "lambda: 1", "1 if 2 else 3", "True + 1", "9" * 600],
)
def test_evaluate_rejects_anything_outside_arithmetic(expr: str) -> None:
    with pytest.raises(EvalError):
        evaluate(expr)


_leaf = st.integers(0, 50).map(str)
_exprs = st.recursive(
    _leaf,
    lambda inner: st.tuples(inner, st.sampled_from("+-*"), inner).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(_exprs, st.integers(1, 9))
def test_evaluate_agrees_with_the_independent_parser(expr: str, divisor: int) -> None:
    full = f"{expr} / {divisor}"
    assert evaluate(full) == independent_eval(full)


def test_format_number() -> None:
    assert format_number(Fraction(18)) == "18"
    assert format_number(Fraction(5, 2)) == "2.5"
    assert format_number(Fraction(-3)) == "-3"
    assert format_number(Fraction(1, 3)) == "0.333333"
