"""Token distribution shift on tiny same-vocabulary GGUF pairs, checked against a reference that
teacher-forces one token at a time (tinygguf.reference_ranks_one_by_one), independent of
engine.inference.teacher."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.analysis import ReportFilters, build_report, shift_for_generation, shift_report
from engine.analysis.shift import char_spans, classify
from engine.errors import ShiftError
from engine.inference.config import load_config
from engine.inference.pairs import load_pair
from engine.records import Decoding
from engine.render import report_tables
from engine.run.runner import RunConfig, Runner
from engine.run.shift import check_same_tokenizer, compute_shift, precheck_run
from engine.run.workload import build_workload, exemplar_source
from engine.store.store import Store


@dataclass
class Recorded:
    store: Store
    toml: Path
    tiny_run: str
    twin_run: str


def _run(toml: Path, data: Path, store: Store, pair: str, modes: tuple[str, ...]) -> str:
    config = RunConfig(
        pair=pair,
        dataset="gsm8k",
        data_file=str(data),
        limit=3,
        modes=modes,
        shots=1,
        decoding=Decoding(max_tokens=24),
        models_file=str(toml),
    )
    models = load_pair(load_config(toml), pair)
    wl = build_workload("gsm8k", str(data), limit=3)
    runner = Runner(
        config,
        store,
        models,
        wl.items,
        exemplar_source=exemplar_source(
            "gsm8k", shots=1, seed=1, train_file=None, data_file=str(data), items=wl.items
        ),
    )
    plan = runner.start(resume=False)
    list(runner.execute(plan))
    store.finish_run(plan.run_id, "completed")
    for m in models.values():
        m.close()
    return plan.run_id


@pytest.fixture(scope="module")
def recorded(tiny_models_toml: Path, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    from conftest import GSM8K_TEST

    store = Store(tmp_path_factory.mktemp("shift") / "s.duckdb")
    tiny = _run(tiny_models_toml, GSM8K_TEST, store, "tiny", ("zero-shot-cot", "few-shot-cot"))
    twin = _run(tiny_models_toml, GSM8K_TEST, store, "twin", ("zero-shot-cot", "few-shot-cot"))
    return Recorded(store, tiny_models_toml, tiny, twin)


def test_classify() -> None:
    assert [classify(r) for r in (1, 2, 3, 4, 100)] == [
        "unshifted", "marginal", "marginal", "shifted", "shifted",
    ]
    with pytest.raises(ValueError):
        classify(0)


def test_same_model_as_both_roles_is_all_unshifted(recorded: Recorded) -> None:
    result = compute_shift(
        recorded.store, load_config(recorded.toml), "twin", run_id=recorded.twin_run
    )
    assert result.answers == 6 and result.tokens > 60
    assert result.counts["unshifted"] == result.tokens
    assert result.shifted_share == 0.0
    ranks = recorded.store.query(
        "SELECT DISTINCT t.rank, t.shift, t.token_id = t.base_top_id FROM token_shift t "
        "JOIN generations g USING (generation_id) WHERE g.run_id = ?",
        [recorded.twin_run],
    ).rows
    assert ranks == [(1, "unshifted", True)]


def test_perturbed_copy_matches_one_by_one_reference(recorded: Recorded) -> None:
    import tinygguf

    store = recorded.store
    result = compute_shift(store, load_config(recorded.toml), "tiny", run_id=recorded.tiny_run)
    assert result.answers == 6
    # One batch per answer, except the first few-shot answer whose prompt (~480 tokens) plus
    # answer exceed the 512-token batch; the next few-shot answers reuse the cached exemplars.
    assert result.batches <= result.answers + 1
    rows = store.query(
        "SELECT g.generation_id, g.output_token_ids, "
        "(SELECT b.prompt FROM generations b WHERE b.run_id = g.run_id AND b.role = 'base' "
        " AND b.item_id = g.item_id AND b.mode = g.mode) AS base_prompt, "
        "list(t.rank ORDER BY t.position), list(t.shift ORDER BY t.position), "
        "list(t.base_top_id ORDER BY t.position) "
        "FROM generations g JOIN token_shift t USING (generation_id) "
        "WHERE g.run_id = ? AND g.role = 'instruct' GROUP BY ALL",
        [recorded.tiny_run],
    ).rows
    assert len(rows) == 6
    base_path = recorded.toml.parent / "tiny-base.gguf"
    llm = tinygguf.load(base_path, n_ctx=1024)
    shifted_total = 0
    try:
        for _gid, ids, prompt, ranks, shifts, tops in rows:
            prompt_ids = llm.tokenize(prompt.encode(), add_bos=True, special=False)
            expected, logits = tinygguf.reference_ranks_one_by_one(llm, prompt_ids, ids)
            assert ranks == expected  # position by position
            assert [p for p, r in enumerate(ranks) if r > 3] == [
                p for p, r in enumerate(expected) if r > 3
            ]
            assert shifts == [classify(r) for r in expected]
            assert tops == [int(row.argmax()) for row in logits]
            shifted_total += sum(r > 3 for r in expected)
    finally:
        llm.close()
    assert shifted_total > 0  # the noisy copy really does shift some tokens
    assert result.counts["shifted"] == shifted_total


def test_chunked_batches_agree(recorded: Recorded, tmp_path: Path) -> None:
    """A batch size far below the prompt length forces the multi-batch path: same ranks."""
    store = recorded.store
    before = store.query(
        "SELECT generation_id, position, rank FROM token_shift t JOIN generations g "
        "USING (generation_id) WHERE g.run_id = ? ORDER BY ALL",
        [recorded.tiny_run],
    ).rows
    if not before:
        compute_shift(store, load_config(recorded.toml), "tiny", run_id=recorded.tiny_run)
        before = store.query(
            "SELECT generation_id, position, rank FROM token_shift t JOIN generations g "
            "USING (generation_id) WHERE g.run_id = ? ORDER BY ALL",
            [recorded.tiny_run],
        ).rows
    small = tmp_path / "models.toml"
    small.write_text(
        recorded.toml.read_text().replace("[engine]\n", "[engine]\nn_batch = 16\n", 1),
    )
    result = compute_shift(
        store, load_config(small), "tiny", run_id=recorded.tiny_run, force=True, limit=3
    )
    assert result.answers == 3 and result.batches > 3 * 5
    after = store.query(
        "SELECT generation_id, position, rank FROM token_shift t JOIN generations g "
        "USING (generation_id) WHERE g.run_id = ? ORDER BY ALL",
        [recorded.tiny_run],
    ).rows
    assert after == before


def test_shift_for_generation_offsets(recorded: Recorded) -> None:
    store = recorded.store
    compute_shift(store, load_config(recorded.toml), "tiny", run_id=recorded.tiny_run)
    gid, output = store.query(
        "SELECT generation_id, output FROM generations WHERE run_id = ? AND role = 'instruct' "
        "ORDER BY item_id, mode LIMIT 1",
        [recorded.tiny_run],
    ).rows[0]
    tokens = shift_for_generation(store, gid)
    assert tokens and [t.position for t in tokens] == list(range(len(tokens)))
    assert "".join(output[t.start : t.end] for t in tokens) == output[: tokens[-1].end]
    for t in tokens:
        assert output[t.start : t.end] == t.token  # tiny models write printable ASCII
        assert t.shift == classify(t.rank)
    assert shift_for_generation(store, "no-such-id") == []


def test_char_spans_with_split_characters() -> None:
    # "é" is two bytes; a tokenizer may split them over two tokens
    pieces = ["a", "<0xC3>", "<0xA9><0x62>", " c"]
    assert char_spans(pieces, "aéb c") == [(0, 1), (1, 1), (1, 3), (3, 5)]


def test_shift_in_report(recorded: Recorded) -> None:
    store = recorded.store
    compute_shift(store, load_config(recorded.toml), "twin", run_id=recorded.twin_run)
    twin = shift_report(store, ReportFilters(runs=(recorded.twin_run,)))
    assert twin is not None
    assert all(s.shifted == 0 and s.unshifted == 1.0 for s in twin.summary)
    report = build_report(store, ReportFilters(runs=(recorded.tiny_run,), resamples=200))
    if report.shift is None:  # test order: make sure the tiny run is scored
        compute_shift(store, load_config(recorded.toml), "tiny", run_id=recorded.tiny_run)
        report = build_report(store, ReportFilters(runs=(recorded.tiny_run,), resamples=200))
    assert report.shift is not None
    keys = {t.key for t in report_tables(report)}
    assert {"shift", "shift_positions", "shift_tokens", "shift_answers"} <= keys
    first = report.shift.positions[0]
    assert first.bucket == "0-4" and first.unshifted + first.marginal + first.shifted == 1.0


def test_refuses_different_tokenizers(tmp_path: Path) -> None:
    store = Store(tmp_path / "x.duckdb")
    store.start_run({"run_id": "r", "config_hash": "h", "kind": "headless", "pair": "demo"})
    infos = [
        ("base", SimpleNamespace(sha256="a", name="gemma-3-270m", path="a", source="", size_bytes=1,
                                 architecture="gemma3", description="", quantization="",
                                 n_params=1, n_vocab=262144, chat_template=None, settings={})),
        ("instruct", SimpleNamespace(sha256="b", name="smollm2", path="b", source="",
                                     size_bytes=1, architecture="llama", description="",
                                     quantization="", n_params=1, n_vocab=49152,
                                     chat_template="x", settings={})),
    ]
    store.record_models("r", infos)
    with pytest.raises(ShiftError) as err:
        precheck_run(store, "r")
    message = str(err.value)
    assert "\n" not in message and "one tokenizer" in message and "262144" in message

    def model(name: str, n: int) -> SimpleNamespace:
        return SimpleNamespace(info=SimpleNamespace(name=name, n_vocab=n, sha256=name))

    with pytest.raises(ShiftError, match="one tokenizer"):
        check_same_tokenizer(model("a", 10), model("b", 11), "demo")

    from tunelens.cli import main

    assert main(["shift", "--pair", "demo", "--run", "r", "--db", str(store.path)]) == 2


def test_cli_shift_on_a_fresh_store_object(
    recorded: Recorded, capsys: pytest.CaptureFixture
) -> None:
    """The CLI opens its own Store (first write connection migrates): rows are written."""
    import json

    from tunelens.cli import main

    args = ["shift", "--pair", "twin", "--run", recorded.twin_run, "--models",
            str(recorded.toml), "--db", str(recorded.store.path), "--force", "--format", "json"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "shifted 0.0%" in captured.err
    summary = json.loads(captured.out)["tables"]["shift"]
    assert summary and all(row["unshifted"] == 1.0 for row in summary)
