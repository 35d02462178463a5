"""The reproduce presets: their definition, and end-to-end runs on the tiny pair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.analysis import preset_table, stats
from engine.run.presets import PRESETS, preset_configs
from engine.store.store import Store
from tunelens.commands.reproduce import run_preset


def test_instruct_vs_base_is_the_papers_gsm8k_protocol() -> None:
    preset = PRESETS["instruct-vs-base"]
    (config,) = preset_configs(preset, pair="p", data_file="test.jsonl", limit=5)
    assert config.modes == ("zero-shot-cot", "few-shot-cot")
    assert config.shots == 8
    assert config.perturb == (("numbers",),)
    assert config.roles == ("base", "instruct")
    assert config.decoding.strategy == "greedy" and config.decoding.samples == 1
    assert config.dataset == "gsm8k" and config.limit == 5
    assert preset.variants == ("original", "numbers")


def test_pass_k_preset_decodes_like_the_paper() -> None:
    base, inst = preset_configs(PRESETS["instruct-vs-base-pass-k"], pair="p")
    assert base.roles == ("base",) and base.decoding.strategy == "cot-decoding"
    assert inst.roles == ("instruct",) and inst.decoding.strategy == "sample"
    assert inst.decoding.temperature == pytest.approx(0.05)
    assert base.decoding.samples == inst.decoding.samples == 20
    assert base.config_hash() != inst.config_hash()
    small = preset_configs(PRESETS["instruct-vs-base-pass-k"], pair="p", samples=3, shots=2)
    assert [c.decoding.samples for c in small] == [3, 3] and small[0].shots == 2


def test_preset_refuses_other_datasets() -> None:
    with pytest.raises(ValueError, match="medcalc"):
        preset_configs(PRESETS["instruct-vs-base"], pair="p", dataset="medcalc")


def _configs(name: str, toml: Path, **kw: object) -> list:
    return preset_configs(
        PRESETS[name],
        pair="tiny",
        dataset="embedded",
        limit=2,
        shots=1,
        max_tokens=8,
        models_file=str(toml),
        **kw,
    )


def test_reproduce_runs_and_tabulates(tiny_models_toml: Path, tmp_path: Path) -> None:
    db = tmp_path / "p.duckdb"
    configs = _configs("instruct-vs-base", tiny_models_toml)
    code, run_ids = run_preset(configs, db=str(db))
    assert code == 0 and len(run_ids) == 1
    store = Store(db)
    table = preset_table(store, PRESETS["instruct-vs-base"], run_ids)
    assert table.columns == [
        ("zero-shot-cot", "original"),
        ("zero-shot-cot", "numbers"),
        ("few-shot-cot/1", "original"),
        ("few-shot-cot/1", "numbers"),
    ]
    assert table.metrics == {"base": "greedy", "instruct": "greedy"}
    # cells agree with the recorded verdicts
    for role in ("base", "instruct"):
        for (setting, variant), cell in table.cells[role].items():
            mode = setting.partition("/")[0]
            pert = "IS NULL" if variant == "original" else f"= '{variant}'"
            n, k = store.query(
                f"SELECT count(*), count(*) FILTER (WHERE correct) FROM generations WHERE "
                f"role = ? AND mode = ? AND perturbation {pert}",
                [role, mode],
            ).rows[0]
            assert (cell.n, cell.accuracy) == (n, k / n)
            assert cell.low == pytest.approx(stats.proportion(k, n).low)
    for col, diff in table.diffs.items():
        base, inst = table.cells["base"][col], table.cells["instruct"][col]
        assert diff.difference == pytest.approx(inst.accuracy - base.accuracy)
    rendered = table.as_report_table()
    assert rendered.display_columns[1] == "zero-shot CoT · original"
    assert rendered.display_columns[3] == "1-shot CoT · original"
    assert [r[0] for r in rendered.display_rows] == [
        "base (greedy)", "instruct (greedy)", "instruct - base",
    ]


def test_reproduce_pass_k_pairs_across_strategies(tiny_models_toml: Path, tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    configs = _configs("instruct-vs-base-pass-k", tiny_models_toml, samples=2)
    code, run_ids = run_preset(configs, db=str(db))
    assert code == 0 and len(run_ids) == 2
    table = preset_table(Store(db), PRESETS["instruct-vs-base-pass-k"], run_ids, samples=2)
    assert table.metrics == {"base": "pass@2", "instruct": "pass@2"}
    assert len(table.columns) == 4 and set(table.diffs) == set(table.columns)
    assert all(d.n == table.cells["base"][c].n for c, d in table.diffs.items())


def test_cli_reproduce_table_only(
    tiny_models_toml: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from tunelens.cli import main

    db = tmp_path / "c.duckdb"
    args = [
        "reproduce", "instruct-vs-base", "--pair", "tiny", "--models", str(tiny_models_toml),
        "--dataset", "embedded", "--limit", "2", "--shots", "1", "--max-tokens", "6",
        "--db", str(db), "--format", "json",
    ]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)  # run summaries went to stderr
    rows = doc["tables"]["preset_instruct-vs-base"]
    assert {r["row"] for r in rows} == {"base", "instruct", "instruct - base"}
    assert main([*args, "--table-only"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == doc["runs"]
    assert main([*args[:-2], "--format", "markdown", "--table-only", "--seed", "9"]) == 2
