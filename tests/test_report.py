"""Reports built from a store of hand-made answers whose statistics are known in advance."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.analysis import ReportFilters, build_report, regrade, stats
from engine.records import Item
from engine.render import print_report, report_tables, to_csv, to_json, to_markdown, write_csv_dir
from engine.store.store import Store, generation_key

T0 = datetime(2026, 1, 1, 12, 0, 0)


def start_run(store: Store, run_id: str, *, pair: str = "p", when: datetime = T0) -> None:
    store.start_run(
        {
            "run_id": run_id,
            "config_hash": run_id,
            "kind": "headless",
            "pair": pair,
            "dataset": "d",
            "modes": ["zero-shot-cot", "few-shot-cot"],
            "perturbations": ["numbers"],
            "strategy": "greedy",
            "started_at": when,
        }
    )
    store.finish_run(run_id, "completed")


def gen(
    run_id: str,
    item_id: str,
    role: str,
    mode: str,
    correct: bool,
    *,
    dataset: str = "d",
    original_id: str | None = None,
    perturbation: str | None = None,
    strategy: str = "greedy",
    sample_index: int = 0,
    extracted: str | None = None,
    score: float | None = None,
    output: str = "",
    when: datetime = T0,
) -> dict[str, Any]:
    shots = 8 if mode == "few-shot-cot" else 0
    chat = role == "instruct"
    key = generation_key(run_id, item_id, role, mode, shots, chat, strategy, sample_index)
    return {
        "generation_id": key,
        "run_id": run_id,
        "dataset": dataset,
        "item_id": item_id,
        "original_id": original_id,
        "perturbation": perturbation,
        "role": role,
        "model_name": f"{role}-model",
        "model_sha256": f"sha-{role}",
        "mode": mode,
        "shots": shots,
        "chat_template": chat,
        "strategy": strategy,
        "sample_index": sample_index,
        "prompt": "Q: ...",
        "output": output or f"The answer is {extracted or ('1' if correct else '2')}.",
        "output_token_ids": [1, 2, 3],
        "extracted": extracted if extracted is not None else ("1" if correct else "2"),
        "correct": correct,
        "grader": "gsm8k",
        "grader_rule": "answer-is",
        "tokens": 3,
        "finish_reason": "stop",
        "score": score,
        "created_at": when,
    }


def bits(n_true: int, n: int = 10) -> list[bool]:
    return [i < n_true for i in range(n)]


# Per (role, mode, variant): which of the 10 items are right.
DESIGN: dict[tuple[str, str, str], list[bool]] = {
    ("base", "zero-shot-cot", "original"): bits(3),
    ("instruct", "zero-shot-cot", "original"): bits(8),
    ("base", "few-shot-cot", "original"): bits(6),
    ("instruct", "few-shot-cot", "original"): bits(7),
    ("base", "zero-shot-cot", "numbers"): bits(2),
    ("instruct", "zero-shot-cot", "numbers"): bits(4),
    ("base", "few-shot-cot", "numbers"): bits(5),
    ("instruct", "few-shot-cot", "numbers"): bits(6),
}


def make_store(path: Path, design: dict[tuple[str, str, str], list[bool]] = DESIGN) -> Store:
    store = Store(path)
    start_run(store, "r1")
    items = [Item("d", f"q{i}", f"question {i}", "1") for i in range(10)]
    items += [
        Item("d", f"q{i}~numbers", f"question {i}'", "1", original_id=f"q{i}",
             perturbation="numbers")
        for i in range(10)
    ]
    store.record_items(items)
    rows = []
    for (role, mode, variant), verdicts in design.items():
        for i, ok in enumerate(verdicts):
            if variant == "original":
                rows.append(gen("r1", f"q{i}", role, mode, ok))
            else:
                rows.append(gen("r1", f"q{i}~numbers", role, mode, ok, original_id=f"q{i}",
                                perturbation="numbers"))
    store.insert_generations(rows)
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Read-only for the tests that use it: built once."""
    return make_store(tmp_path_factory.mktemp("report") / "r.duckdb")


def find(rows: Sequence[Any], **where: Any) -> Any:
    hits = [r for r in rows if all(getattr(r, k) == v for k, v in where.items())]
    assert len(hits) == 1, (where, hits)
    return hits[0]


def test_accuracy_rows_have_wilson_intervals(store: Store) -> None:
    report = build_report(store)
    assert len(report.accuracy) == 8
    row = find(report.accuracy, role="instruct", setting="zero-shot-cot", variant="original")
    ref = stats.proportion(8, 10)
    assert (row.n, row.correct, row.accuracy) == (10, 8, 0.8)
    assert (row.low, row.high) == (pytest.approx(ref.low), pytest.approx(ref.high))
    assert row.interval == "wilson" and row.metric == "greedy" and row.model == "instruct-model"
    few = find(report.accuracy, role="base", setting="few-shot-cot/8", variant="numbers")
    assert few.accuracy == pytest.approx(0.5)


def test_paired_rows_and_mcnemar(store: Store) -> None:
    report = build_report(store)
    row = find(report.paired, setting="zero-shot-cot", variant="original")
    # base right on items 0-2, instruct on 0-7: 3 both, 0 base only, 5 instruct only, 2 neither
    assert (row.both_correct, row.base_only, row.instruct_only, row.both_wrong) == (3, 0, 5, 2)
    assert row.difference == pytest.approx(0.5)
    assert row.p_value == pytest.approx(2 / 32) and row.test == "exact"
    assert row.diff_low is not None and row.diff_low > 0
    assert len(report.paired) == 4


def test_drop_pairs_each_variant_with_its_original(store: Store) -> None:
    report = build_report(store)
    row = find(report.drops, role="instruct", setting="zero-shot-cot")
    assert row.perturbation == "numbers" and row.n == 10
    assert row.original_accuracy == pytest.approx(0.8)
    assert row.perturbed_accuracy == pytest.approx(0.4)
    assert row.relative_drop == pytest.approx(0.5)
    assert row.drop_low is not None and row.drop_low < 0.5 < row.drop_high


def test_zero_to_few_shot_gain(store: Store) -> None:
    report = build_report(store)
    row = find(report.gains, role="base", variant="original")
    assert (row.zero_setting, row.few_setting) == ("zero-shot-cot", "few-shot-cot/8")
    assert row.gain == pytest.approx(0.3)  # 3/10 -> 6/10 on the same items
    assert row.p_value == pytest.approx(0.25)  # 0 vs 3 discordant: 2 / 8


def test_convergence_with_too_few_tasks_says_so(store: Store) -> None:
    report = build_report(store)
    (conv,) = report.convergence
    assert [t.variant for t in conv.tasks] == ["original", "numbers"]
    assert conv.tasks[0].instruct_zero == pytest.approx(0.8)
    assert conv.tasks[0].base_few == pytest.approx(0.6)
    assert conv.tasks[0].base_zero == pytest.approx(0.3)
    assert conv.few.spearman_r is None and "only 2 tasks" in conv.few.note
    table = next(t for t in report_tables(report) if t.key == "convergence")
    assert "only 2 tasks" in table.display_rows[0][-1]
    assert "-" in table.display_rows[0][3]  # no r printed


def test_convergence_across_tasks(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.duckdb")
    start_run(store, "r1")
    rows = []
    # six datasets (tasks): instruct zero-shot and base few-shot rise together; base zero-shot flat
    for t in range(6):
        for i in range(10):
            item = f"t{t}q{i}"  # generation ids do not include the dataset
            rows.append(gen("r1", item, "instruct", "zero-shot-cot", i < t + 2, dataset=f"d{t}"))
            rows.append(gen("r1", item, "base", "few-shot-cot", i < t + 1, dataset=f"d{t}"))
            rows.append(gen("r1", item, "base", "zero-shot-cot", i < (t % 2) + 1,
                            dataset=f"d{t}"))
    store.insert_generations(rows)
    report = build_report(store)
    (conv,) = report.convergence
    assert conv.few.n == 6
    assert conv.few.spearman_r == pytest.approx(1.0)
    assert conv.few.pearson_r == pytest.approx(1.0)
    assert conv.zero is not None and conv.zero.spearman_r is not None
    assert abs(conv.zero.spearman_r) < 0.9


def test_sampling_and_cot_decoding_metrics(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    start_run(store, "r1")
    rows = []
    # sampling: 18 and 18.0 are one answer (2 votes), 7 has 2 votes, tie -> earliest (18), right
    for s, (ext, ok) in enumerate([("18", True), ("7", False), ("18.0", True), (None, False),
                                   ("7", False)]):
        rows.append(gen("r1", "q0", "instruct", "zero-shot-cot", ok, strategy="sample",
                        sample_index=s, extracted=ext or ""))
    # cot-decoding: the most confident branch (0.9) is wrong, another is right
    for b, (score, ok) in enumerate([(0.2, False), (None, False), (0.9, False), (0.5, True)]):
        rows.append(gen("r1", "q0", "base", "zero-shot-cot", ok, strategy="cot-decoding",
                        sample_index=b, score=score))
    rows[3]["extracted"] = None  # no answer extracted: does not vote
    store.insert_generations(rows)
    report = build_report(store, ReportFilters(pass_k=(2,)))
    acc = {(r.role, r.metric): r for r in report.accuracy}
    assert acc[("instruct", "pass@1")].accuracy == pytest.approx(0.4)
    assert acc[("instruct", "pass@1")].interval == "bootstrap-percentile"
    assert acc[("instruct", "maj@5")].accuracy == 1.0
    assert acc[("instruct", "pass@5")].accuracy == 1.0
    assert acc[("instruct", "pass@2")].accuracy == pytest.approx(stats.pass_at_k(5, 2, 2))
    assert acc[("base", "best-path")].accuracy == 0.0
    assert acc[("base", "pass@4")].accuracy == 1.0
    answers = {(o.role, o.metric): o.answer for o in report.outcomes}
    assert answers[("instruct", "maj@5")] == "18"  # the majority answer, as first written
    assert answers[("base", "best-path")] == "2"  # the wrong, most confident branch
    assert answers[("instruct", "pass@5")] is None
    items = json.loads(to_json(report))["tables"]["items"]
    assert {r["metric"] for r in items} == {"pass@1", "maj@5", "pass@5", "pass@2", "best-path",
                                            "pass@4"}


def test_newest_answer_wins_over_reruns(tmp_path: Path) -> None:
    store = Store(tmp_path / "d.duckdb")
    start_run(store, "old", when=T0)
    start_run(store, "new", when=T0 + timedelta(hours=1))
    store.insert_generations(
        [
            gen("old", "q0", "base", "zero-shot-cot", False, when=T0),
            gen("new", "q0", "base", "zero-shot-cot", True, when=T0 + timedelta(hours=1)),
        ]
    )
    report = build_report(store)
    (row,) = report.accuracy
    assert row.n == 1 and row.accuracy == 1.0
    assert any("1 older answers" in n for n in report.notes)
    only_old = build_report(store, ReportFilters(runs=("old",)))
    assert only_old.accuracy[0].accuracy == 0.0 and not only_old.notes


def test_filters(store: Store) -> None:
    assert build_report(store, ReportFilters(pair="other")).empty
    assert build_report(store, ReportFilters(dataset="nope")).empty
    assert not build_report(store, ReportFilters(dataset="d", pair="p")).empty


def test_regrade_and_grader_agreement(tmp_path: Path) -> None:
    store = Store(tmp_path / "g.duckdb")
    start_run(store, "r1")
    items = [Item("d", f"q{i}", "how much?", "0.75") for i in range(4)]
    store.record_items(items)
    outputs = [
        ("The answer is 0.75.", "0.75", True),
        ("So 75% are left. The answer is 75%", "75", False),  # gsm8k: 75 != 0.75; math-verify: =
        ("The answer is 3/4.", "0.75", True),
        ("The answer is 12.", "12", False),
    ]
    rows, grades = [], []
    for i, (out, ext, ok) in enumerate(outputs):
        r = gen("r1", f"q{i}", "instruct", "zero-shot-cot", ok, extracted=ext, output=out)
        rows.append(r)
        grades.append({"generation_id": r["generation_id"], "grader": "gsm8k", "extracted": ext,
                       "correct": ok, "rule": "answer-is"})
    store.insert_generations(rows, grades)
    assert build_report(store).agreement == []

    result = regrade(store, "math-verify")
    assert result.graded == 4 and result.already == 0 and result.changed == 1
    again = regrade(store, "math-verify")
    assert again.graded == 0 and again.already == 4

    report = build_report(store)
    (agree,) = report.agreement
    assert (agree.grader_a, agree.grader_b) == ("gsm8k", "math-verify")
    assert (agree.n, agree.both_correct, agree.a_only, agree.b_only, agree.both_wrong) == (
        4, 2, 0, 1, 1,
    )
    assert agree.agreement == pytest.approx(0.75)
    (d,) = report.disagreements
    assert d.item_id == "q1" and d.correct_a is False and d.correct_b is True
    by_mv = build_report(store, ReportFilters(grader="math-verify"))
    assert by_mv.accuracy[0].accuracy == pytest.approx(0.75)
    with pytest.raises(ValueError):
        regrade(store, "nope")


def test_renderers(store: Store, tmp_path: Path) -> None:
    report = build_report(store)
    doc = json.loads(to_json(report))
    assert doc["tables"]["accuracy"][0]["n"] == 10
    assert {"accuracy", "paired", "drops", "gains", "convergence", "runs"} <= set(doc["tables"])
    text = to_csv(report)
    sections = [s for s in text.split("\n\n") if s.strip()]
    acc = next(s for s in sections if s.startswith("# accuracy"))
    parsed = list(csv.DictReader(io.StringIO(acc.split("\n", 1)[1])))
    assert len(parsed) == 8 and float(parsed[0]["accuracy"]) >= 0
    md = to_markdown(report)
    assert "## base vs instruct (same items)" in md and "| dataset |" in md
    paths = write_csv_dir(report_tables(report), tmp_path / "csv")
    assert {p.name for p in paths} >= {"accuracy.csv", "paired.csv", "drops.csv"}

    from rich.console import Console

    console = Console(record=True, width=200)
    print_report(report, console)
    out = console.export_text()
    assert "80.0% [49.0%, 94.3%]" in out  # instruct zero-shot original, Wilson 8/10
    assert "+50.0 pp" in out and "3/0/5/2" in out


def test_cli_report_and_plots(store: Store, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from tunelens.cli import main

    plots = tmp_path / "plots"
    code = main(["report", "--db", str(store.path), "--format", "json", "--plot-dir", str(plots),
                 "--resamples", "200"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["tables"]["paired"]) == 4
    names = {p.name for p in plots.iterdir()}
    assert "accuracy-p-d-greedy-greedy.png" in names and "accuracy-p-d-greedy-greedy.svg" in names
    assert any(n.startswith("perturbation-") for n in names)
    assert any(n.startswith("convergence-") for n in names)
    assert (plots / "accuracy-p-d-greedy-greedy.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["report", "--db", str(store.path), "--pair", "none"]) == 1


def test_terminal_plots(store: Store) -> None:
    from engine.render.plots import draw_plotext, terminal_plots

    report = build_report(store)
    plots = terminal_plots(report)
    assert [p.key for p in terminal_plots(report)] == [p.key for p in plots]
    kinds = {p.kind for p in plots}
    assert {"bar", "slope", "scatter"} <= kinds
    bar = next(p for p in plots if p.kind == "bar")
    base = next(s for s in bar.series if s.name == "base")
    assert base.values[bar.labels.index("zero-shot-cot original")] == pytest.approx(0.3)
    import plotext

    for p in plots:
        draw_plotext(p, plotext)
        plotext.plotsize(80, 20)
        assert plotext.build()


def test_two_models_in_one_role_count_the_last_listed(tmp_path: Path) -> None:
    """Two model files named differently under one role (e.g. a re-quantised base): as before
    issue 14, one outcome per item counts in the tables (the model listed last, by name), and
    both in the per-item table."""
    store = Store(tmp_path / "m.duckdb")
    start_run(store, "r1")
    rows = []
    for i in range(4):
        a = gen("r1", f"q{i}", "base", "zero-shot-cot", True)
        b = gen("r1", f"q{i}", "base", "zero-shot-cot", i == 0)
        b.update(generation_id=b["generation_id"] + "-b", model_name="base-model-z",
                 model_sha256="sha-z")
        rows += [a, b]
    store.insert_generations(rows)
    report = build_report(store)
    (row,) = report.accuracy
    assert (row.n, row.correct) == (4, 1)  # base-model-z sorts after base-model: its verdicts
    assert row.model == "base-model-z"
    assert len(report.outcomes) == 8
    assert [o.model_name for o in report.outcomes[:2]] == ["base-model", "base-model-z"]
