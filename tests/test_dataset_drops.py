"""Cross-benchmark drops (MATH-500 -> MATH-P-Hard unpaired; MATH-P-Simple -> Hard and GSM8K ->
GSM-Symbolic P2 paired), each table's provenance footer and the `--explain` queries, on a store of
hand-made answers whose statistics are known in advance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_report import find, gen, start_run

from engine.analysis import ReportFilters, build_report, stats
from engine.analysis.dataset_drops import unpaired_drop_ci
from engine.records import Item
from engine.store.store import Store

ROLES = ("base", "instruct")
MODE = "zero-shot-cot"


def bits(n_true: int, n: int) -> list[bool]:
    return [i < n_true for i in range(n)]


# Per dataset and role: which items are right (in item order).
MATH500 = {"base": bits(4, 10), "instruct": bits(8, 10)}
HARD = {"base": bits(1, 8), "instruct": bits(3, 8)}
SIMPLE = {"base": bits(3, 8), "instruct": [True, True, True, True, True, True, False, False]}
GSM8K = {"base": bits(3, 5), "instruct": bits(4, 5)}
# P2: two variants (instances 0 and 1) of GSM8K items 0-3 (item 4 has none).
P2 = {"base": [True, False, True, True, False, False, False, False],
      "instruct": [True, True, True, False, True, True, False, False]}


def p2_items() -> list[Item]:
    out = []
    for k in range(4):
        gsm = 10 + k  # GSM8K test indexes 10..13
        for instance in range(2):
            out.append(Item("gsm-symbolic-p2", f"gsm-symbolic-p2-{k}-{instance}", f"p2 {k}", "1",
                            original_id=f"gsm-symbolic-p2-orig-{gsm}",
                            perturbation="gsm-symbolic-p2",
                            fields={"source_original_id": str(gsm),
                                    "gsm8k_item_id": f"gsm8k-test-{gsm}"}))
    return out


def make_store(path: Path) -> Store:
    store = Store(path)
    for run in ("m500", "hard", "simple", "gsm", "p2"):
        start_run(store, run)
    items = [Item("math500", f"math500-test-x-{i}", f"m {i}", "1") for i in range(10)]
    for name in ("hard", "simple"):
        items += [Item(f"math-perturb-{name}", f"math-perturb-{i}", f"{name} {i}", "1",
                       fields={"problem_id": str(i)}) for i in range(8)]
    items += [Item("gsm8k", f"gsm8k-test-{10 + i}", f"g {i}", "1") for i in range(5)]
    variants = p2_items()
    items += variants
    store.record_items(items)
    rows: list[dict[str, Any]] = []
    for role in ROLES:
        rows += [gen("m500", f"math500-test-x-{i}", role, MODE, ok, dataset="math500")
                 for i, ok in enumerate(MATH500[role])]
        for run, design in (("hard", HARD), ("simple", SIMPLE)):
            rows += [gen(run, f"math-perturb-{i}", role, MODE, ok,
                         dataset=f"math-perturb-{run}") for i, ok in enumerate(design[role])]
        rows += [gen("gsm", f"gsm8k-test-{10 + i}", role, MODE, ok, dataset="gsm8k")
                 for i, ok in enumerate(GSM8K[role])]
        rows += [gen("p2", v.item_id, role, MODE, ok, dataset="gsm-symbolic-p2",
                     original_id=v.original_id, perturbation="gsm-symbolic-p2")
                 for v, ok in zip(variants, P2[role], strict=True)]
    store.insert_generations(rows)
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return make_store(tmp_path_factory.mktemp("drops") / "d.duckdb")


def test_math500_to_hard_is_unpaired_per_role(store: Store) -> None:
    report = build_report(store)
    assert len(report.dataset_drops) == 2
    base = find(report.dataset_drops, role="base")
    assert (base.source, base.target, base.setting) == ("math500", "math-perturb-hard", MODE)
    assert (base.n_source, base.n_target) == (10, 8)  # no shared items, all of each side
    assert base.source_accuracy == pytest.approx(0.4) and base.target_accuracy == 0.125
    assert base.drop == pytest.approx(0.275)
    assert base.relative_drop == pytest.approx(0.275 / 0.4)
    inst = find(report.dataset_drops, role="instruct")
    assert inst.drop == pytest.approx(0.425) and inst.relative_drop == pytest.approx(0.425 / 0.8)
    for row in report.dataset_drops:
        assert row.drop_low is not None and row.drop_high is not None
        assert row.drop_low <= row.drop <= row.drop_high
        assert "only 8 items: optimistic interval" in row.note


def test_unpaired_bootstrap_resamples_each_side_on_its_own() -> None:
    """The same 0/1 list on both sides: a paired bootstrap sees no difference at all ([0, 0]),
    an unpaired one the spread of two independent samples (normal approximation +-1.96 sd)."""
    values = [float(i % 2) for i in range(200)]
    absolute, relative = unpaired_drop_ci(values, values, resamples=4000, seed=3)
    paired = stats.paired_difference_ci(values, values, resamples=4000, seed=3)
    assert (paired.low, paired.high) == (0.0, 0.0)
    half_width = 1.96 * np.sqrt(2 * 0.25 / 200)
    assert absolute.estimate == 0.0 and relative.estimate == 0.0
    assert absolute.low == pytest.approx(-half_width, rel=0.15)
    assert absolute.high == pytest.approx(half_width, rel=0.15)
    again = unpaired_drop_ci(values, values, resamples=4000, seed=3)
    assert again == (absolute, relative)  # seeded: the same interval every time


def test_unpaired_drop_undefined_when_source_is_zero() -> None:
    absolute, relative = unpaired_drop_ci([0.0] * 5, [1.0, 0.0], resamples=200)
    assert absolute.estimate == pytest.approx(-0.5)
    assert relative.estimate is None and relative.low is None


def test_simple_to_hard_pairs_by_problem_id_with_mcnemar(store: Store) -> None:
    report = build_report(store)
    rows = [r for r in report.linked_drops if r.source == "math-perturb-simple"]
    assert [r.role for r in rows] == ["base", "instruct"]
    for row in rows:
        xs, ys = SIMPLE[row.role], HARD[row.role]
        assert (row.target, row.via, row.n, row.n_target) == ("math-perturb-hard", "problem_id",
                                                             8, 8)
        ref = stats.mcnemar(xs, ys)
        assert (row.both_correct, row.source_only, row.target_only, row.both_wrong) == (
            ref.both, ref.a_only, ref.b_only, ref.neither)
        assert row.p_value == pytest.approx(ref.p_value) and row.test == "exact"
        assert row.drop == pytest.approx((sum(xs) - sum(ys)) / 8)
        paired = stats.paired_difference_ci([float(y) for y in ys], [float(x) for x in xs],
                                            resamples=2000, seed=0)
        assert (row.drop_low, row.drop_high) == (paired.low, paired.high)
        assert (row.relative_low is None) == row.note.startswith("relative interval undefined")
    inst = rows[1]
    assert (inst.both_correct, inst.source_only, inst.target_only) == (3, 3, 0)


def test_gsm8k_to_p2_links_variants_to_their_gsm8k_item(store: Store) -> None:
    report = build_report(store)
    rows = {r.role: r for r in report.linked_drops if r.source == "gsm8k"}
    base, inst = rows["base"], rows["instruct"]
    # GSM8K item 14 has no P2 variant: 4 linked items, 8 variants.
    assert (base.n, base.n_target, base.via) == (4, 8, "original_id")
    assert base.source_accuracy == pytest.approx(0.75)  # items 10-12 right, 13 wrong
    assert base.target_accuracy == pytest.approx((0.5 + 1 + 0 + 0) / 4)
    assert inst.source_accuracy == 1.0
    assert inst.target_accuracy == pytest.approx((1 + 0.5 + 1 + 0) / 4)
    # Several variants per item: no 2x2 table, and the note says why.
    assert base.test == "n/a" and base.p_value is None and base.both_correct is None
    assert "several variants per item: no McNemar" in base.note


def test_one_variant_per_item_gets_mcnemar(tmp_path: Path) -> None:
    store = make_store(tmp_path / "one.duckdb")
    with store.connect() as con:  # keep instance 0 only
        con.execute("DELETE FROM generations WHERE item_id LIKE 'gsm-symbolic-p2-%-1'")
    row = next(r for r in build_report(store).linked_drops
               if r.source == "gsm8k" and r.role == "base")
    assert (row.n, row.n_target, row.test) == (4, 4, "exact")
    xs = GSM8K["base"][:4]
    ys = P2["base"][0::2]
    ref = stats.mcnemar(xs, ys)
    assert (row.both_correct, row.source_only, row.target_only, row.both_wrong) == (
        ref.both, ref.a_only, ref.b_only, ref.neither)


def tables_json(store: Store) -> dict[str, Any]:
    import json

    from engine.render import to_json

    doc = json.loads(to_json(build_report(store)))
    return {k: doc["tables"][k] for k in ("dataset_drops", "linked_drops")}


def test_same_answers_in_another_order_give_the_same_tables(store: Store, tmp_path: Path
                                                            ) -> None:
    """Rows come back from the store in insertion order; the tables must not depend on it."""
    other = Store(tmp_path / "reversed.duckdb")
    other.ensure()
    with other.connect() as con:
        con.execute(f"ATTACH '{store.path}' AS src (READ_ONLY)")
        for name, order in (("runs", "run_id"), ("items", "item_id"),
                            ("generations", "generation_id")):
            con.execute(f"INSERT INTO {name} SELECT * FROM src.{name} ORDER BY {order} DESC")
        con.execute("DETACH src")
    first = tables_json(store)
    assert first["dataset_drops"] and first["linked_drops"]
    assert tables_json(other) == first
    assert tables_json(store) == first


def test_report_shows_the_tables_with_their_sources(store: Store) -> None:
    from rich.console import Console

    from engine.render import print_report, report_tables, to_markdown

    report = build_report(store)
    keys = [t.key for t in report_tables(report)]
    assert keys.index("drops") + 1 == keys.index("dataset_drops")
    assert keys.index("dataset_drops") + 1 == keys.index("linked_drops")
    console = Console(record=True, width=300)
    print_report(report, console)
    out = console.export_text()
    assert "benchmark -> benchmark (unpaired)" in out and "math500 -> math-perturb-hard" in out
    assert "gsm8k -> gsm-symbolic-p2" in out and "4 (8)" in out
    assert "from 36 answers of runs hard, m500 · grader gsm8k · greedy" in out
    assert "from 56 answers of runs gsm, hard, p2, simple" in out
    md = to_markdown(report)
    assert "_from 78 answers of runs gsm, hard, m500, p2, simple" in md


def test_each_source_query_returns_its_n(store: Store) -> None:
    report = build_report(store)
    sources = report.sources.tables
    # Known in advance: 2 roles x (10 + 8 + 8 + 5 + 8) answers; the unpaired drop reads
    # math500 and P-Hard (2 x 18), the paired ones P-Simple + P-Hard (2 x 16) and the linked
    # GSM8K items and their variants (2 x (4 + 8)); nothing is perturbed.
    expected = {"accuracy": 78, "paired": 78, "items": 78, "dataset_drops": 36,
                "linked_drops": 56, "drops": 0, "agreement": 0}
    for key, n in expected.items():
        assert sources[key].n == n, key
    for key, source in sources.items():
        assert len(store.query(source.sql).rows) == source.n, key
    assert sources["dataset_drops"].runs == ("hard", "m500")
    assert sources["accuracy"].graders == ("gsm8k",)


def test_sources_follow_the_grader_and_run_filters(store: Store) -> None:
    report = build_report(store, ReportFilters(runs=("gsm", "p2")))
    sources = report.sources.tables
    assert sources["accuracy"].n == 26 and sources["linked_drops"].n == 24
    assert sources["dataset_drops"].n == 0 and not report.dataset_drops
    for source in sources.values():
        assert len(store.query(source.sql).rows) == source.n


def explain_blocks(text: str) -> list[tuple[str, int, str]]:
    """(name, n, sql) of each block `report --explain` prints."""
    import re

    out = []
    for block in text.strip().split("\n\n-- "):
        head, _, rest = block.lstrip("- ").partition("\n")
        m = re.match(r"(table|figure) (\S+) \(.*\): (\d+) ", head)
        assert m, head
        sql = "\n".join(line for line in rest.splitlines() if not line.startswith("-- "))
        out.append((m.group(2), int(m.group(3)), sql))
    return out


def test_explain_prints_a_query_per_table_and_figure(store: Store, capsys: pytest.CaptureFixture
                                                     ) -> None:
    from tunelens.cli import main

    assert main(["report", "--explain", "--db", str(store.path), "--resamples", "200"]) == 0
    blocks = explain_blocks(capsys.readouterr().out)
    names = [b[0] for b in blocks]
    for key in ("runs", "accuracy", "dataset_drops", "linked_drops", "items"):
        assert key in names
    assert "drops-p-greedy-greedy" in names  # the drop-interval figure
    assert "accuracy-p-math500-greedy-greedy" in names
    counts = dict((b[0], b[1]) for b in blocks)
    assert counts["dataset_drops"] == 36 and counts["accuracy-p-math500-greedy-greedy"] == 20
    # The drop figure shows both drop tables; their 16 P-Hard answers count once.
    assert counts["drops-p-greedy-greedy"] == 36 + 56 - 16
    for name, n, sql in blocks:  # each pasted into `tunelens query` gives its n rows
        assert main(["query", sql, "--format", "csv", "--db", str(store.path)]) == 0, name
        lines = capsys.readouterr().out.strip().splitlines()
        assert len(lines) - 1 == n, name


def test_drop_figure_draws_the_cross_benchmark_intervals(store: Store) -> None:
    from engine.render.plots import build_figures, close_figures

    report = build_report(store)
    figures = build_figures(report)
    try:
        fig = next(f for f in figures if f.stem == "drops-p-greedy-greedy")
        bars = fig.fig.axes[0].containers
        rows = [*report.dataset_drops, *report.linked_drops]
        assert len(bars) == len(rows) == 6
        for row, bar in zip(rows, bars, strict=True):
            data_line, _caps, segments = bar.lines
            assert data_line.get_xdata()[0] == pytest.approx(row.relative_drop)
            if row.relative_low is None:
                assert segments == ()
                continue
            (x0, _), (x1, _) = segments[0].get_segments()[0]
            assert (x0, x1) == (pytest.approx(row.relative_low), pytest.approx(row.relative_high))
    finally:
        close_figures(figures)
