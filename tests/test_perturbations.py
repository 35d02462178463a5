"""Perturbations: deterministic per seed, never crash on any GSM8K test item, and keep the gold
right. The `numbers` gold is recomputed here independently, by replaying the original worked
solution with the recorded number mapping through a separate little parser."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.data import load_items
from engine.data.embedded.templates import FEMALE_NAMES, MALE_NAMES, default_items, get_template
from engine.perturb import (
    PERTURBATIONS,
    numbers_coverage,
    parse_perturb_spec,
    perturb,
    split_sentences,
    variant_id,
)
from engine.perturb.text import FEMALE_RECOGNISED as _FEMALE_RECOGNISED
from engine.records import Item

REPO = Path(__file__).resolve().parents[1]
GSM8K_TEST = REPO.parent / "shared" / "datasets" / "gsm8k" / "test.jsonl"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_templates import independent_eval  # noqa: E402


@pytest.fixture(scope="module")
def gsm8k() -> list[Item]:
    if not GSM8K_TEST.is_file():
        pytest.fail(f"shared dataset missing: {GSM8K_TEST}")
    items = load_items("gsm8k", GSM8K_TEST).items
    assert len(items) == 1319
    return items


_NUM = re.compile(r"\d[\d,]*(?:\.\d+)?|\.\d+")


def numbers_of(text: str) -> list[str]:
    return [t.rstrip(",") for t in _NUM.findall(text)]


def values_of(text: str) -> list[Fraction]:
    return [Fraction(t.replace(",", "")) for t in numbers_of(text)]


# --------------------------------------------------------------------------- every item


@pytest.fixture(scope="module")
def variants(gsm8k: list[Item]) -> dict[str, list[tuple[Item, Item | None]]]:
    """Every perturbation over every GSM8K test item, twice: the runs must be identical."""
    out: dict[str, list[tuple[Item, Item | None]]] = {}
    for name in PERTURBATIONS:
        first = [perturb(item, [name], 11) for item in gsm8k]
        second = [perturb(item, [name], 11) for item in gsm8k]
        assert first == second, f"{name} is not deterministic"
        out[name] = list(zip(gsm8k, first, strict=True))
    return out


def test_every_perturbation_runs_on_every_gsm8k_item(variants) -> None:
    counts = {name: sum(v is not None for _, v in pairs) for name, pairs in variants.items()}
    assert counts["symbolic"] == 0  # embedded templates only
    assert counts["irrelevant"] > 1200 and counts["format"] > 1200
    assert counts["names"] > 500 and counts["reorder"] > 150 and counts["numbers"] > 500


def test_variant_provenance(variants) -> None:
    for name, pairs in variants.items():
        for original, variant in pairs:
            if variant is None:
                continue
            assert variant.original_id == original.item_id
            assert variant.item_id == variant_id(original.item_id, [name], 11)
            assert variant.perturbation == name and variant.perturbation_seed == 11
            assert list(variant.perturbation_params) == [name]
            json.dumps(variant.perturbation_params)  # JSON-serialisable
            assert variant.dataset == original.dataset


def test_gold_unchanged_perturbations_keep_gold_and_numbers(variants) -> None:
    for name in ("names", "reorder", "format"):
        for original, variant in variants[name]:
            if variant is None:
                continue
            assert variant.gold == original.gold
            assert Counter(numbers_of(variant.question)) == Counter(numbers_of(original.question))
            assert variant.question != original.question


def test_irrelevant_adds_exactly_one_sentence_with_one_number(variants) -> None:
    for original, variant in variants["irrelevant"]:
        assert variant is not None
        params = variant.perturbation_params["irrelevant"]
        sentence = params["sentence"]
        assert variant.gold == original.gold
        assert variant.question.replace(sentence + " ", "", 1) == original.question
        assert numbers_of(sentence) == [str(params["number"])]
        assert Counter(numbers_of(variant.question)) == Counter(
            [*numbers_of(original.question), str(params["number"])]
        )
        # The new number is not one of the problem's numbers, and the question still comes last.
        assert str(params["number"]) not in numbers_of(original.question)
        assert split_sentences(variant.question)[-1] == split_sentences(original.question)[-1]


def test_names_swaps_known_names_within_gender(variants) -> None:
    for original, variant in variants["names"]:
        if variant is None:
            continue
        params = variant.perturbation_params["names"]
        mapping = params["mapping"]
        assert mapping
        for old, new in mapping.items():
            assert not re.search(rf"\b{old}\b", variant.question)
            assert re.search(rf"\b{new}\b", variant.question)
            assert not re.search(rf"\b{new}\b", original.question)
            female = old in _FEMALE_RECOGNISED
            if old in params.get("gender_from_pronouns", ()):
                female = not female  # the pronouns said the other gender
            assert new in (FEMALE_NAMES if female else MALE_NAMES)  # so the pronouns stay right
        back = variant.question
        for old, new in mapping.items():
            back = re.sub(rf"\b{new}\b", old, back)
        assert back == original.question


def test_reorder_moves_the_question_sentence_first(variants) -> None:
    for original, variant in variants["reorder"]:
        if variant is None:
            continue
        moved = variant.perturbation_params["reorder"]["moved"]
        assert moved.endswith("?") and variant.question.startswith(moved)
        assert sorted(variant.question.split()) == sorted(original.question.split())


def test_format_touches_no_digit(variants) -> None:
    for original, variant in variants["format"]:
        assert variant is not None
        strip = re.compile(r"\D")
        assert strip.sub("", variant.question) == strip.sub("", original.question)
        assert variant.perturbation_params["format"]["ops"]


# --------------------------------------------------------------------------- numbers


_ANN = re.compile(r"<<([^<>=]*)=([^<>]*)>>")


def replay_independently(solution: str, mapping: dict[str, str], question: str = "") -> Fraction:
    """Replay the ORIGINAL annotations with the recorded mapping, by this file's own rules:
    a question number is replaced by its new value, the factor of a percentage in the question
    (p/100, 1 - p/100, 1 + p/100) follows it, an earlier result is replaced by that step's new
    result, anything else is a constant. The last step is the gold."""
    value_map = {Fraction(k.replace(",", "")): Fraction(v.replace(",", ""))
                 for k, v in mapping.items()}
    percents = {Fraction(p) for p in re.findall(r"(\d+(?:\.\d+)?)\s?(?:%|percent)", question)}
    factor_map: dict[Fraction, Fraction] = {}
    for old, new in value_map.items():
        if old not in percents:
            continue
        for o, n in ((old / 100, new / 100), (1 - old / 100, 1 - new / 100),
                     (1 + old / 100, 1 + new / 100)):
            factor_map.setdefault(o, n)
    results: dict[Fraction, Fraction] = {}
    last = None
    for expr, result in _ANN.findall(solution):
        def sub(m: re.Match[str]) -> str:
            value = Fraction(m.group(0))
            if value in value_map:
                new = value_map[value]
            elif value in results:
                new = results[value]
            elif value in factor_map:
                new = factor_map[value]
            else:
                new = value
            return f"({new.numerator}/{new.denominator})"

        new_expr = re.sub(r"\d+(?:\.\d+)?|\.\d+", sub, expr)
        value = independent_eval(new_expr)
        results[Fraction(result.replace(",", ""))] = value
        last = value
    assert last is not None
    return last


def test_numbers_gold_recomputed_independently(variants) -> None:
    checked = changed = 0
    for original, variant in variants["numbers"]:
        if variant is None:
            continue
        params = variant.perturbation_params["numbers"]
        mapping = params["mapping"]
        assert mapping and params["old_gold"] == original.gold
        expected = replay_independently(original.solution or "", mapping, original.question)
        assert Fraction(variant.gold) == expected, original.item_id
        assert expected.denominator == 1  # GSM8K golds are integers and stay integers
        assert (expected > 0) == (Fraction(original.gold) > 0)
        # The question's numbers are the original ones with the mapping applied, in order.
        value_map = {Fraction(k.replace(",", "")): Fraction(v.replace(",", ""))
                     for k, v in mapping.items()}
        assert values_of(variant.question) == [value_map.get(v, v)
                                               for v in values_of(original.question)]
        # The rewritten solution ends with the new gold and its annotations replay to it.
        assert (variant.solution or "").rstrip().endswith(f"#### {variant.gold}")
        assert replay_independently(variant.solution or "", {}) == expected
        checked += 1
        changed += variant.gold != original.gold
    assert checked > 500 and changed > 0.8 * checked


def test_numbers_coverage_on_gsm8k(gsm8k: list[Item]) -> None:
    n_valid, n_total = numbers_coverage(gsm8k)
    assert n_total == 1319
    assert n_valid / n_total > 0.40


def test_numbers_keeps_integers_and_magnitudes(variants) -> None:
    for _, variant in variants["numbers"]:
        if variant is None:
            continue
        for old, new in variant.perturbation_params["numbers"]["mapping"].items():
            o, n = Fraction(old.replace(",", "")), Fraction(new.replace(",", ""))
            assert o != n and n > 0
            assert ("." in old) == ("." in new)
            assert o / 3 <= n <= o * 3 or o < 10


# --------------------------------------------------------------------------- embedded items


def test_symbolic_and_numbers_on_templates_recompute_the_answer() -> None:
    for item in default_items():
        for name in ("symbolic", "numbers"):
            variant = perturb(item, [name], 5)
            assert variant is not None, (item.item_id, name)
            params = variant.perturbation_params[name]
            tmpl = get_template(item.fields["template"])
            expected = independent_eval(tmpl.answer, params["values"])
            assert variant.gold == str(expected.numerator)
            assert params["values"] != params["old_values"]
            if name == "numbers":
                assert variant.fields["names"] == item.fields["names"]
            assert perturb(item, [name], 5) == variant


def test_all_perturbations_apply_to_embedded_items() -> None:
    items = default_items()
    for name in PERTURBATIONS:
        made = [perturb(item, [name], 2) for item in items]
        assert sum(v is not None for v in made) >= (10 if name == "reorder" else 25), name


def test_names_then_numbers_keeps_the_new_names_on_templates() -> None:
    item = default_items()[0]
    variant = perturb(item, ["names", "numbers"], 4)
    assert variant is not None
    new_name = variant.perturbation_params["names"]["mapping"][item.fields["names"]["name"]]
    assert new_name in variant.question
    assert variant.fields["names"]["name"] == new_name


def test_rebuilding_after_a_text_edit_gives_no_variant() -> None:
    item = default_items()[0]
    assert perturb(item, ["irrelevant", "numbers"], 1) is None


# --------------------------------------------------------------------------- composition, specs


def test_composition_records_each_step_and_the_original(gsm8k: list[Item]) -> None:
    made = 0
    for item in gsm8k[:200]:
        variant = perturb(item, ["numbers", "irrelevant"], 3)
        if variant is None:
            continue
        made += 1
        assert variant.perturbation == "numbers+irrelevant"
        assert variant.original_id == item.item_id
        assert variant.item_id == f"{item.item_id}~numbers+irrelevant@3"
        assert list(variant.perturbation_params) == ["numbers", "irrelevant"]
        sentence = variant.perturbation_params["irrelevant"]["sentence"]
        assert sentence in variant.question
        mapping = variant.perturbation_params["numbers"]["mapping"]
        assert Fraction(variant.gold) == replay_independently(item.solution or "", mapping,
                                                             item.question)
    assert made > 50


def test_different_seeds_give_different_variants(gsm8k: list[Item]) -> None:
    item = gsm8k[0]
    a, b = perturb(item, ["irrelevant"], 1), perturb(item, ["irrelevant"], 2)
    assert a is not None and b is not None and a.question != b.question


def test_variants_do_not_depend_on_python_hash_seed(gsm8k: list[Item]) -> None:
    code = (
        "import json; from engine.data import load_items; from engine.perturb import "
        f"perturb; items = load_items('gsm8k', {str(GSM8K_TEST)!r}, limit=40).items; "
        "print(json.dumps([[v.question, v.gold] if v else None for n in "
        "('numbers', 'names', 'irrelevant', 'format') for v in (perturb(i, [n], 9) "
        "for i in items)]))"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
            env={"PYTHONHASHSEED": hash_seed, "PATH": "/usr/bin:/bin"},
        )
        outputs.add(proc.stdout)
    assert len(outputs) == 1


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("numbers", [["numbers"]]),
        ("numbers,names", [["numbers"], ["names"]]),
        ("numbers+irrelevant,names", [["numbers", "irrelevant"], ["names"]]),
        (" Format , reorder ", [["format"], ["reorder"]]),
        ("symbolic+names", [["symbolic", "names"]]),
        ("names,names", [["names"]]),
    ],
)
def test_parse_perturb_spec(spec: str, expected: list[list[str]]) -> None:
    assert parse_perturb_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("numbrs", r"unknown perturbation 'numbrs'; known: numbers, names"),
        ("names+names", "repeated"),
        ("names+symbolic", "symbolic"),
        ("", "no perturbation"),
    ],
)
def test_parse_perturb_spec_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_perturb_spec(spec)


def test_perturb_rejects_unknown_names(gsm8k: list[Item]) -> None:
    with pytest.raises(ValueError, match="known"):
        perturb(gsm8k[0], ["bogus"], 0)


def test_split_sentences_keeps_abbreviations_and_decimals() -> None:
    text = "Mr. Smith paid $1.50 for 2.5 kg. Then he left!  How much is left?"
    assert split_sentences(text) == ["Mr. Smith paid $1.50 for 2.5 kg.", "Then he left!",
                                     "How much is left?"]


# --------------------------------------------------------------------------- property tests


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_items_and_specs(gsm8k: list[Item], data: st.DataObject) -> None:
    item = data.draw(st.sampled_from(gsm8k))
    names = data.draw(st.lists(st.sampled_from(["numbers", "names", "irrelevant", "reorder",
                                                "format"]), min_size=1, max_size=3, unique=True))
    seed = data.draw(st.integers(0, 2**31))
    variant = perturb(item, names, seed)
    assert variant == perturb(item, names, seed)
    if variant is None:
        return
    assert variant.original_id == item.item_id
    if "numbers" not in names:
        assert variant.gold == item.gold
    elif names[0] == "numbers":
        mapping = variant.perturbation_params["numbers"]["mapping"]
        assert Fraction(variant.gold) == replay_independently(item.solution or "", mapping,
                                                             item.question)


_text = st.text(alphabet=st.sampled_from(list("abc XYZ Tom Ava 0123456789.,$%?!<>=#*/+-\n")),
                max_size=120)


@settings(max_examples=120, deadline=None)
@given(_text, _text, st.sampled_from(list(PERTURBATIONS)), st.integers(0, 1000))
def test_odd_items_never_crash(question: str, solution: str, name: str, seed: int) -> None:
    item = Item("gsm8k", "odd", question, "7", solution=solution)
    variant = perturb(item, [name], seed)
    assert variant is None or isinstance(variant, Item)
