"""engine.store.browse: the SQL behind the Runs and SQL screens, on a prefilled store."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest
from test_tui_support import fill_store, wide_store

from engine.store import browse
from engine.store.store import Store, StoreError


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    return fill_store(tmp_path / "store.duckdb")


def test_list_runs_newest_first_with_accuracy(store: Store) -> None:
    runs = browse.list_runs(store)
    assert [r.run_id for r in runs] == ["run-b", "run-a"]
    a = runs[1]
    assert a.answers == 6
    assert a.base_accuracy == pytest.approx(2 / 3)
    assert a.instruct_accuracy == pytest.approx(2 / 3)


def test_missing_store_is_empty_not_an_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "none.duckdb")
    assert browse.list_runs(store) == []
    assert browse.list_answers(store, browse.AnswerFilter()).total == 0
    assert browse.filter_values(store) == browse.FilterValues([], [], [])


def test_filter_values(store: Store) -> None:
    v = browse.filter_values(store)
    assert v.roles == ["base", "instruct"]
    assert v.modes == ["zero-shot", "zero-shot-cot"]
    assert v.perturbations == ["numbers"]
    assert browse.filter_values(store, "run-b").perturbations == []


def test_filters(store: Store) -> None:
    def ids(**kw: object) -> set[tuple[str, str]]:
        page = browse.list_answers(store, browse.AnswerFilter(**kw))  # type: ignore[arg-type]
        return {(r.item_id, r.role) for r in page.rows}

    assert len(ids()) == 6  # distinct (item, role) pairs across both runs
    assert browse.list_answers(store, browse.AnswerFilter()).total == 8
    assert ids(run_id="run-b") == {("apples-1", "base"), ("apples-1", "instruct")}
    assert ids(run_id="run-a", role="base") == {
        ("apples-1", "base"), ("pens-2", "base"), ("apples-1~numbers", "base")}
    assert ids(mode="zero-shot") == {("apples-1", "base"), ("apples-1", "instruct")}
    assert ids(perturbation="numbers") == {
        ("apples-1~numbers", "base"), ("apples-1~numbers", "instruct")}
    assert ("apples-1~numbers", "base") not in ids(perturbation=browse.ORIGINAL)
    assert ids(verdict="wrong") == {("apples-1", "instruct"), ("apples-1~numbers", "base")}
    assert ids(item_id="apples-1", run_id="run-a", role="base") == {
        ("apples-1", "base"), ("apples-1~numbers", "base")}


def test_flips(store: Store) -> None:
    def flips(kind: str) -> set[tuple[str, str]]:
        page = browse.list_answers(store, browse.AnswerFilter(run_id="run-a", flips=kind))  # type: ignore[arg-type]
        return {(r.item_id, r.role) for r in page.rows}

    # base right / instruct wrong on apples-1; the reverse on its variant
    assert flips("roles") == {
        ("apples-1", "base"), ("apples-1", "instruct"),
        ("apples-1~numbers", "base"), ("apples-1~numbers", "instruct")}
    # only the base model was right on the original and wrong on the variant
    assert flips("variant") == {("apples-1", "base"), ("apples-1~numbers", "base")}
    assert flips("any") == flips("roles") | flips("variant")
    # a flip filter keeps working with a role filter: the flag is computed before filtering
    page = browse.list_answers(store, browse.AnswerFilter(run_id="run-a", flips="roles",
                                                          role="instruct"))
    assert {r.item_id for r in page.rows} == {"apples-1", "apples-1~numbers"}
    row = next(r for r in page.rows if r.item_id == "apples-1")
    assert row.flip == "base≠instruct"


def test_limit_reports_total(store: Store) -> None:
    page = browse.list_answers(store, browse.AnswerFilter(limit=3))
    assert len(page.rows) == 3
    assert page.total == 8


def test_compare_set_finds_all_four(store: Store) -> None:
    data = browse.compare_set(store, "g001-run-a-instruct")
    assert data.focus == "original"
    assert data.original.item_id == "apples-1"
    assert data.variant is not None and data.variant.item_id == "apples-1~numbers"
    assert set(data.answers) == {("original", "base"), ("original", "instruct"),
                                 ("variant", "base"), ("variant", "instruct")}
    inst = data.answers[("original", "instruct")]
    assert inst.extracted == "8"
    assert inst.span is not None
    assert inst.output[inst.span[0]:inst.span[1]] == "8"
    from_variant = browse.compare_set(store, "g004-run-a-base")
    assert from_variant.focus == "variant"
    assert from_variant.original.item_id == "apples-1"


def test_compare_set_without_variant(store: Store) -> None:
    data = browse.compare_set(store, "g006-run-b-base")
    assert data.variant is None
    assert set(data.answers) == {("original", "base"), ("original", "instruct")}
    assert data.mode == "zero-shot"
    with pytest.raises(StoreError):
        browse.compare_set(store, "nope")


def test_locate_answer_falls_back_to_last_occurrence() -> None:
    assert browse.locate_answer("7 then 7", "7", grader="medcalc") == (7, 8)
    assert browse.locate_answer("no answer", None) is None
    assert browse.locate_answer("x", "42") is None


def test_run_query_and_refusals(store: Store) -> None:
    result = browse.run_query(store, "SELECT item_id, role FROM generations ORDER BY 1, 2;")
    assert result.columns == ["item_id", "role"]
    assert result.rows == 8
    assert not result.truncated
    for bad in ("DELETE FROM runs", "DROP TABLE runs", "INSERT INTO runs (run_id) VALUES ('x')",
                "SELECT 1; UPDATE runs SET status = 'x'"):
        with pytest.raises(StoreError, match="read-only"):
            browse.run_query(store, bad)
    with pytest.raises(StoreError):
        browse.run_query(store, "SELECT nope FROM nowhere")


def test_run_query_caps_large_results(tmp_path: Path) -> None:
    store = wide_store(tmp_path / "wide.duckdb", 3000)
    result = browse.run_query(store, "SELECT * FROM generations", max_rows=1000)
    assert result.rows == 1000
    assert result.truncated


@pytest.mark.parametrize("fmt", browse.EXPORT_FORMATS)
def test_export(store: Store, tmp_path: Path, fmt: browse.ExportFormat) -> None:
    target = tmp_path / f"out.{fmt}"
    n = browse.export_query(store, "SELECT item_id, role, correct FROM generations "
                                   "ORDER BY item_id, role;", target, fmt)
    assert n == 8
    if fmt == "csv":
        rows = list(csv.DictReader(target.open()))
        assert rows[0] == {"item_id": "apples-1", "role": "base", "correct": "true"}
    elif fmt == "jsonl":
        lines = [json.loads(x) for x in target.read_text().splitlines()]
        assert len(lines) == 8 and lines[0]["item_id"] == "apples-1"
    else:
        import pyarrow.parquet as pq

        assert pq.read_table(target).num_rows == 8


def test_export_refuses_writes(store: Store, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="read-only"):
        browse.export_query(store, "DELETE FROM runs", tmp_path / "x.csv", "csv")
    with pytest.raises(StoreError):
        browse.export_query(store, "SELECT 1", tmp_path / "x.xml", "xml")  # type: ignore[arg-type]


def test_hundred_thousand_rows_are_fast(tmp_path: Path) -> None:
    store = wide_store(tmp_path / "big.duckdb", 100_000)
    t0 = time.perf_counter()
    result = browse.run_query(store, "SELECT * FROM generations")
    assert result.rows == 100_000
    assert time.perf_counter() - t0 < 5.0
