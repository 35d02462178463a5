"""`--items`: choosing items by id so that runs on linked benchmarks share items."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.data.select import parse_item_list, select_items
from engine.errors import DatasetError
from engine.run.config import RunConfig
from engine.run.workload import build_workload

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
P2 = DATA / "gsm-symbolic" / "GSM_p2.jsonl"
GSM8K = DATA / "gsm8k" / "test.jsonl"
HARD = DATA / "math-perturb" / "math_perturb_hard.jsonl"
SIMPLE = DATA / "math-perturb" / "math_perturb_simple.jsonl"


def test_parse_item_list() -> None:
    assert parse_item_list(" a, b,,a ,c ") == ("a", "b", "c")


def test_one_list_selects_linked_items_on_both_sides() -> None:
    """A P2 variant answers to the GSM8K id it varies, so one list serves both runs."""
    wanted = ("gsm8k-test-473", "gsm8k-test-103")
    p2 = build_workload("gsm-symbolic-p2", str(P2), item_ids=wanted, limit=4)
    variants = [i for i in p2.items if i.is_variant]
    assert len(variants) == 4 and p2.originals == 1  # the first 4 (all of template 0 = 473)
    assert {v.fields["gsm8k_item_id"] for v in variants} == {"gsm8k-test-473"}
    assert p2.items[0].item_id == "gsm-symbolic-p2-orig-473"  # its original comes first
    every = build_workload("gsm-symbolic-p2", str(P2), item_ids=wanted)
    assert {i.fields.get("gsm8k_item_id") for i in every.items if i.is_variant} == set(wanted)
    assert len([i for i in every.items if i.is_variant]) == 100  # 50 instances each
    gsm = build_workload("gsm8k", str(GSM8K), item_ids=wanted)
    assert [i.item_id for i in gsm.items] == ["gsm8k-test-103", "gsm8k-test-473"]  # file order


def test_unknown_ids_are_one_line_naming_them() -> None:
    with pytest.raises(DatasetError) as err:
        build_workload("math-perturb-hard", str(HARD), item_ids=("math-perturb-1", "nope"))
    text = str(err.value)
    assert "\n" not in text and "nope" in text and "math-perturb-hard" in text


def test_math_perturb_sets_share_ids() -> None:
    ids = ("math-perturb-1", "math-perturb-2")
    a = build_workload("math-perturb-simple", str(SIMPLE), item_ids=ids)
    b = build_workload("math-perturb-hard", str(HARD), item_ids=ids)
    assert [i.item_id for i in a.items] == [i.item_id for i in b.items] == list(ids)


def test_select_keeps_a_named_original() -> None:
    from engine.records import Item

    orig = Item("d", "o1", "q", "1", fields={"role": "original"})
    var = Item("d", "v1", "q'", "1", original_id="o1", perturbation="p")
    assert [i.item_id for i in select_items([orig, var], ["o1"], dataset="d")] == ["o1"]
    assert [i.item_id for i in select_items([orig, var], ["v1"], dataset="d")] == ["o1", "v1"]


def test_items_change_the_run_hash_only_when_given() -> None:
    plain = RunConfig(pair="demo", dataset="gsm8k")
    assert RunConfig(pair="demo", dataset="gsm8k", items=()).config_hash() == plain.config_hash()
    assert RunConfig(pair="demo", dataset="gsm8k", items=("a",)).config_hash() != (
        plain.config_hash())
