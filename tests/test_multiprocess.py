"""Many processes on one store, with real processes (issue 13's scenario): three headless runs, an
app session answering questions and an outside read-only connection held for 60 s. DuckDB lets
no process write the file while that connection is open; no answer may be lost, duplicated or
make its run end `failed`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from engine.store.journal import journal_dir
from engine.store.store import Store

REPO = Path(__file__).resolve().parents[1]
HOLD_S = 60


def _headless(models: Path, data: Path, db: Path, limit: int, mode: str) -> list[str]:
    return [sys.executable, "-m", "tunelens", "--headless", "--pair", "tiny", "--models",
            str(models), "--dataset", "gsm8k", "--data-file", str(data), "--limit", str(limit),
            "--mode", mode, "--max-tokens", "16", "--db", str(db)]


def test_three_runs_an_app_and_a_reader_share_one_store(
    tiny_models_toml: Path, gsm8k_file: Path, tmp_path: Path
) -> None:
    db = tmp_path / "shared.duckdb"
    Store(db).ensure()
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(REPO)}
    reader = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time\n"
         f"con = duckdb.connect({str(db)!r}, read_only=True)\n"
         "con.execute('SELECT count(*) FROM runs').fetchall()\n"
         "print('holding', flush=True)\n"
         f"time.sleep({HOLD_S})\n"],
        stdout=subprocess.PIPE, text=True,
    )
    assert reader.stdout is not None and reader.stdout.readline().strip() == "holding"
    t_hold = time.monotonic()
    go = tmp_path / "go"  # the app asks its second batch once the reader has let go
    runs = {  # limit, mode -> expected answers (both models)
        "a": (30, "zero-shot"),
        "b": (40, "zero-shot-cot"),
        "c": (50, "zero-shot"),
    }
    procs = {
        name: subprocess.Popen(_headless(tiny_models_toml, gsm8k_file, db, limit, mode),
                               cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        for name, (limit, mode) in runs.items()
    }
    app = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "sessiondriver.py"), str(tiny_models_toml),
         str(db), str(gsm8k_file), "3", str(go), "2"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # Readers are not held up by another reader: a query works during the hold.
    q = subprocess.run([sys.executable, "-m", "tunelens", "query", "SELECT count(*) FROM runs",
                        "--format", "csv", "--db", str(db)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert q.returncode == 0, q.stderr
    outcome = {name: p.communicate(timeout=HOLD_S + 240) for name, p in procs.items()}
    finished_during_hold = time.monotonic() - t_hold < HOLD_S
    for name, (out, err) in outcome.items():
        assert procs[name].returncode == 0, f"run {name}: {err}"
        assert "Traceback" not in err and "failed" not in err
        assert "accuracy" in out  # the summary, over the store and the journal together
    if finished_during_hold:  # the runs could not write: their answers waited, and said so
        for _, err in outcome.values():
            assert "answers waiting in the journal" in err, err
            assert f"PID {reader.pid}" in err, err
    reader.wait(timeout=HOLD_S + 60)
    go.touch()
    app_out, app_err = app.communicate(timeout=240)
    assert app.returncode == 0, app_err
    app_result = json.loads(app_out.strip().splitlines()[-1])
    assert app_result["answers"] == app_result["distinct"] == 2 * 5 and not app_result["failed"]

    # Any later tunelens command on the store brings in what is still waiting.
    sync = subprocess.run([sys.executable, "-m", "tunelens", "db", "sync", "--db", str(db)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert sync.returncode == 0, sync.stderr
    assert not journal_dir(db).exists() or not list(journal_dir(db).iterdir())
    store = Store(db)
    got = dict(store.query(
        "SELECT r.run_id, count(g.generation_id) FROM runs r "
        "LEFT JOIN generations g USING (run_id) GROUP BY 1"
    ).rows)
    statuses = store.query("SELECT kind, status, count(*) FROM runs GROUP BY ALL").rows
    assert sorted(statuses) == [("app", "completed", 1), ("headless", "completed", 3)]
    headless_counts = sorted(
        n for rid, n in got.items() if rid != app_result["run_id"]
    )
    assert headless_counts == sorted(2 * limit for limit, _ in runs.values())
    assert got[app_result["run_id"]] == 10
    dup = store.query(
        "SELECT count(*) - count(DISTINCT (run_id, item_id, role, mode, sample_index)) "
        "FROM generations"
    ).rows
    assert dup == [(0,)]
    grades = store.query(
        "SELECT count(*) FROM generations g JOIN grades USING (generation_id)"
    ).rows
    assert grades == [(sum(got.values()),)]  # every answer has its grade
    items = store.query("SELECT count(*) FROM items").rows[0][0]
    assert items >= 50  # the session records every item of the data file it browses
