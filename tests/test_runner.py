"""Headless runs on tiny real GGUF models: what is recorded, and resume after an interruption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path

import pytest

from engine.records import Decoding
from engine.run.config import RunConfig
from engine.run.prepare import prepare_run
from engine.run.runner import Runner
from engine.store.store import Store

REPO = Path(__file__).resolve().parents[1]


def _runner(models_toml: Path, data: Path, store: Store, limit: int = 4, **kw) -> Runner:
    config = RunConfig(
        pair="tiny",
        dataset="gsm8k",
        data_file=str(data),
        limit=limit,
        modes=("zero-shot-cot",),
        decoding=Decoding(max_tokens=12),
        models_file=str(models_toml),
        fewshot_seed=1,
        **kw,
    )
    prepared = prepare_run(config, store)
    prepared.load_models()
    return prepared.runner()


def test_run_records_everything(tiny_models_toml: Path, gsm8k_file: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    runner = _runner(tiny_models_toml, gsm8k_file, store, limit=3)
    plan = runner.start(resume=False)
    assert plan.total == 6
    events = list(runner.execute(plan))
    store.finish_run(plan.run_id, "completed")
    assert [e.done for e in events] == list(range(1, 7))
    rows = store.query(
        "SELECT role, item_id, prompt, model_sha256, seed, llama_cpp_version, tokens, "
        "finish_reason, grader_rule, chat_template, decoding "
        "FROM generations ORDER BY role, item_id"
    ).rows
    assert len(rows) == 6
    shas = {r[0]: r[3] for r in rows}
    assert shas["base"] != shas["instruct"] and all(len(s) == 64 for s in shas.values())
    for role, _item, prompt, _sha, seed, version, tokens, finish, rule, chat, dec in rows:
        assert seed == 0 and version.startswith("llama-cpp-python ")
        assert 1 <= tokens <= 12 and finish in {"stop", "length"} and rule
        if role == "base":
            assert prompt.startswith("Q: ") and chat is False
        else:  # the instruct model's own ChatML template
            assert prompt.startswith("<|im_start|>user\nQ: ") and chat is True
        assert '"max_tokens": 12' in dec
    run = store.query("SELECT status, git_commit IS NOT NULL, n_planned FROM runs").rows
    assert run[0][0] == "completed"
    roles = store.query("SELECT role, model_name FROM run_models ORDER BY role").rows
    assert roles == [("base", "tiny-base"), ("instruct", "tiny-instruct")]


def test_interrupted_run_resumes_without_duplicates(
    tiny_models_toml: Path, gsm8k_file: Path, tmp_path: Path
) -> None:
    # Reference: the same run, uninterrupted.
    ref_store = Store(tmp_path / "ref.duckdb")
    ref = _runner(tiny_models_toml, gsm8k_file, ref_store)
    ref_plan = ref.start(resume=False)
    list(ref.execute(ref_plan))

    store = Store(tmp_path / "s.duckdb")
    first = _runner(tiny_models_toml, gsm8k_file, store)
    plan = first.start(resume=False)
    gen = first.execute(plan)
    list(islice(gen, 3))
    gen.close()  # what Ctrl+C does: the generator's cleanup flushes what was answered
    store.finish_run(plan.run_id, "interrupted")
    kept = store.query("SELECT generation_id, output FROM generations").rows
    assert 3 <= len(kept) < plan.total

    second = _runner(tiny_models_toml, gsm8k_file, store)
    plan2 = second.start(resume=True)
    assert plan2.run_id == plan.run_id
    assert plan2.skipped_existing == len(kept)
    list(second.execute(plan2))
    rows = store.query("SELECT generation_id, output FROM generations").rows
    assert len(rows) == plan.total == len({r[0] for r in rows})
    assert set(kept) <= set(rows)  # nothing recorded before the interruption was lost or changed
    ref_answers = ref_store.query("SELECT item_id, role, output FROM generations ORDER BY ALL").rows
    answers = store.query("SELECT item_id, role, output FROM generations ORDER BY ALL").rows
    assert answers == ref_answers  # greedy: the resumed run is the run


# Long enough that the kill lands mid-run on a fast machine too (60 items ran out in 0.7 s).
KILL_ITEMS = 400


def test_cli_killed_run_resumes(tiny_models_toml: Path, gsm8k_file: Path, tmp_path: Path) -> None:
    db = tmp_path / "kill.duckdb"
    args = [
        sys.executable,
        "-m",
        "tunelens",
        "--headless",
        "--pair",
        "tiny",
        "--models",
        str(tiny_models_toml),
        "--dataset",
        "gsm8k",
        "--data-file",
        str(gsm8k_file),
        "--limit",
        str(KILL_ITEMS),
        "--max-tokens",
        "24",
        "--db",
        str(db),
    ]
    env = {**os.environ, "COLUMNS": "120"}
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = Store(db)
    deadline = time.monotonic() + 120
    n = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.3)
        if db.exists():
            try:
                n = store.query("SELECT count(*) FROM generations").rows[0][0]
            except Exception:
                continue
            if n >= 10:
                break
    assert proc.poll() is None, "run finished before it could be killed: make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = store.query("SELECT generation_id, output FROM generations").rows
    assert 10 <= len(before) < 2 * KILL_ITEMS
    assert store.query("SELECT status FROM runs").rows == [("running",)]

    done = subprocess.run(
        [*args, "--resume"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "resuming run" in done.stderr
    rows = store.query("SELECT generation_id, output FROM generations").rows
    assert len(rows) == 2 * KILL_ITEMS == len({r[0] for r in rows})
    assert set(before) <= set(rows)
    assert store.query("SELECT count(*), any_value(status) FROM runs").rows == [(1, "completed")]
    assert "accuracy" in done.stdout  # the summary table


@pytest.mark.parametrize("parallel_items", ["1", "2"])
def test_prompt_too_long_is_skipped_and_reported(
    tiny_models_toml: Path, gsm8k_file: Path, tmp_path: Path, parallel_items: str
) -> None:
    # 8 GSM8K exemplars do not fit a 1024-token context: the answers are skipped, not faked, and
    # the run goes on to the modes that fit.
    db = tmp_path / "long.duckdb"
    proc = subprocess.run(
        [sys.executable, "-m", "tunelens", "--headless", "--pair", "tiny",
         "--models", str(tiny_models_toml), "--dataset", "gsm8k", "--data-file", str(gsm8k_file),
         "--limit", "2", "--max-tokens", "8", "--mode", "few-shot-cot,zero-shot",
         "--parallel-items", parallel_items, "--db", str(db)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "skipped 4 answers" in proc.stderr and "context holds" in proc.stderr
    rows = Store(db).query("SELECT DISTINCT mode FROM generations").rows
    assert rows == [("zero-shot",)]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_a_run_like_ctrl_c(
    tiny_models_toml: Path, gsm8k_file: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    db = tmp_path / "sig.duckdb"
    args = [sys.executable, "-m", "tunelens", "--headless", "--pair", "tiny", "--models",
            str(tiny_models_toml), "--dataset", "gsm8k", "--data-file", str(gsm8k_file),
            "--limit", str(KILL_ITEMS), "--max-tokens", "24", "--db", str(db)]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "COLUMNS": "160"})
    store = Store(db)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.3)
        try:
            if store.query("SELECT count(*) FROM generations").rows[0][0] >= 10:
                break
        except Exception:
            continue
    assert proc.poll() is None, "run finished before the signal: make it longer"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert "accuracy" in out  # the summary table
    n = store.query("SELECT count(*) FROM generations").rows[0][0]
    assert 10 <= n < 2 * KILL_ITEMS
    assert store.query("SELECT status FROM runs").rows == [("interrupted",)]


def test_resume_of_a_completed_run_does_nothing(
    tiny_models_toml: Path, gsm8k_file: Path, tmp_path: Path
) -> None:
    db = tmp_path / "done.duckdb"
    args = [sys.executable, "-m", "tunelens", "--headless", "--pair", "tiny", "--models",
            str(tiny_models_toml), "--dataset", "gsm8k", "--data-file", str(gsm8k_file),
            "--limit", "3", "--max-tokens", "8", "--db", str(db)]
    first = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    again = subprocess.run([*args, "--resume"], cwd=REPO, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert "is complete: nothing to resume" in again.stderr
    store = Store(db)
    assert store.query("SELECT count(*), count(DISTINCT run_id) FROM generations").rows == [(6, 1)]
    assert store.query("SELECT count(*) FROM runs").rows == [(1,)]
