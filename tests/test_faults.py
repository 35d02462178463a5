"""Fault injection with real processes: kill -9 at seeded random points, SIGTERM/SIGHUP, competing
writers and readers, foreign and damaged store files, a journal cut short by a kill.

Every case ends by comparing the store with what must be there (greedy answers of tiny models are
deterministic, so a reference run says exactly which rows): nothing lost, nothing twice. The
counts (cases, faults survived, rows lost) are printed at the end of the test session.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import GSM8K_TEST

from engine.store.journal import journal_dir, journal_files
from engine.store.store import Store
from tunelens.cli import main

REPO = Path(__file__).resolve().parents[1]
N_ITEMS = 40  # 80 answers a run (two models)
SEED = 13
KILL_ROUNDS = 7
ENV = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(REPO)}

STATS = {"cases": 0, "faults": 0, "survived": 0, "rows_lost": 0, "rows_twice": 0,
         "reads_while_written": 0}


def summary_line() -> str:
    """The suite's counts; conftest's terminal summary prints it at the end of the session."""
    return (f"fault injection: {STATS['cases']} cases, {STATS['faults']} faults injected, "
            f"{STATS['survived']} survived, rows lost: {STATS['rows_lost']}, "
            f"rows twice: {STATS['rows_twice']}, reads while written: "
            f"{STATS['reads_while_written']}")


def _args(models: Path, data: Path, db: Path, *extra: str, limit: int = N_ITEMS) -> list[str]:
    return [sys.executable, "-m", "tunelens", "--headless", "--pair", "tiny", "--models",
            str(models), "--dataset", "gsm8k", "--data-file", str(data), "--limit", str(limit),
            "--max-tokens", "16", "--mode", "zero-shot", "--db", str(db), *extra]


def _rows(db: Path) -> list[tuple[str, str, str, str]]:
    return Store(db).query(
        "SELECT item_id, role, mode, output FROM generations ORDER BY ALL"
    ).rows


@pytest.fixture(scope="module")
def reference(tiny_models_toml: Path,
              tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, str, str]]:
    """The rows an uninterrupted run records: what every faulted run must end with."""
    gsm8k_file = GSM8K_TEST
    assert gsm8k_file.is_file(), f"shared dataset missing: {gsm8k_file}"
    db = tmp_path_factory.mktemp("ref") / "ref.duckdb"
    done = subprocess.run(_args(tiny_models_toml, gsm8k_file, db), cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = _rows(db)
    assert len(rows) == 2 * N_ITEMS
    return rows


def _check_against(db: Path, reference: list[tuple[str, str, str, str]]) -> None:
    """The store holds exactly the reference rows, in one completed run, journal empty."""
    got = _rows(db)
    STATS["rows_lost"] += len(set(reference) - set(got))
    STATS["rows_twice"] += len(got) - len(set(got))
    assert got == reference
    assert Store(db).query("SELECT status, count(*) FROM runs GROUP BY 1").rows == [
        ("completed", 1)
    ]
    assert journal_files(db) == []


@contextmanager
def _holding(db: Path, *, write: bool = False) -> Iterator[subprocess.Popen[str]]:
    """Another process (not tunelens) holding the store open, as a notebook or the CLI does."""
    proc = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, time\n"
         f"con = duckdb.connect({str(db)!r}, read_only={not write})\n"
         "print('holding', flush=True)\n"
         "time.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _journal_answers(db: Path) -> int:
    return sum(f.read_bytes().count(b'"op":"answer"') for f in journal_files(db))


def _wait_until(proc: subprocess.Popen[str], ready: object, timeout: float = 180) -> bool:
    """Poll `ready()` until true (True) or the process ended (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if ready():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    raise AssertionError("timed out waiting for the run")


def _recorded(db: Path) -> int:
    """Answers made so far: in the store or waiting in a journal (what a resume skips)."""
    run = Store(db).query("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").rows if (
        db.exists()) else []
    keys = {f.stem for f in journal_files(db)} | {r[0] for r in run}
    return len(set().union(*(Store(db).existing_keys(k) for k in keys))) if keys else 0


def test_kill_9_at_random_points_then_resume(
    tiny_models_toml: Path, gsm8k_file: Path, tmp_path: Path,
    reference: list[tuple[str, str, str, str]],
) -> None:
    """Kills land anywhere: loading, opening the run, writing items, mid-answers, mid-replay;
    every other one while a reader holds the store (the answers then exist only in the journal).
    Each resume skips exactly what was recorded and the end is the reference run."""
    rng = random.Random(SEED)
    db = tmp_path / "kill.duckdb"
    Store(db).ensure()
    args = _args(tiny_models_toml, gsm8k_file, db, "--resume")
    live, rounds = 0, []
    for round_ in range(KILL_ROUNDS):
        STATS["cases"] += 1
        before = _recorded(db)
        held = round_ % 2 == 1
        with (_holding(db) if held else _nothing()):
            proc = subprocess.Popen(args, cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            if round_ == 0:  # by time: start-up, opening the run, writing its items
                time.sleep(rng.uniform(0.2, 2.0))
                alive = proc.poll() is None
            else:  # by progress: after k more answers were made (never the last half)
                k = rng.randint(1, max(1, (2 * N_ITEMS - before) // 4))
                made = (lambda: _journal_answers(db)) if held else (lambda: _recorded(db))
                start = made() if held else before
                alive = _wait_until(proc, lambda s=start, k=k, made=made: made() >= s + k)
            proc.kill()
            _, err = proc.communicate(timeout=60)
            rounds.append(f"round {round_}: held={held} alive={alive} before={before}")
            if "resuming run" in err:  # it skipped exactly what had been recorded
                assert f": {before} answers already recorded" in err, err
        if alive:
            live += 1
            STATS["faults"] += 1
            STATS["survived"] += 1
    # Kills landed in running processes (a busy machine can overshoot a progress mark and let
    # the run finish first; the later rounds then check the resume of a finished run).
    assert live >= 3, rounds
    done = subprocess.run(args, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    _check_against(db, reference)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_while_a_reader_holds_the_store(
    tiny_models_toml: Path, gsm8k_file: Path, tmp_path: Path, sig: signal.Signals,
    reference: list[tuple[str, str, str, str]],
) -> None:
    STATS["cases"] += 1
    db = tmp_path / "sig.duckdb"
    Store(db).ensure()
    args = _args(tiny_models_toml, gsm8k_file, db)
    with _holding(db) as reader:
        proc = subprocess.Popen(args, cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert _wait_until(proc, lambda: _journal_answers(db) >= 10), "run ended before it"
        proc.send_signal(sig)
        STATS["faults"] += 1
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err
        assert "accuracy" in out  # the summary, from the journal
        assert "answers waiting in the journal" in err and f"PID {reader.pid}" in err
        waiting = _journal_answers(db)
        assert 10 <= waiting < 2 * N_ITEMS
    # The resume brings the journal in first, then makes only what is missing.
    done = subprocess.run([*args, "--resume"], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f": {waiting} answers already recorded" in done.stderr
    STATS["survived"] += 1
    _check_against(db, reference)


def test_journal_cut_short_by_a_kill_and_a_damaged_line(
    tiny_models_toml: Path, gsm8k_file: Path, tmp_path: Path,
    reference: list[tuple[str, str, str, str]],
) -> None:
    """The last line half written (kill -9 during a write) and a line in the middle damaged:
    both are skipped and named, the rest replays, and --resume makes just those two answers."""
    STATS["cases"] += 1
    db = tmp_path / "cut.duckdb"
    Store(db).ensure()
    args = _args(tiny_models_toml, gsm8k_file, db)
    with _holding(db):
        done = subprocess.run(args, cwd=REPO, env=ENV, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        assert "answers waiting in the journal" in done.stderr
        (path,) = journal_files(db)
        lines = path.read_bytes().split(b"\n")
        answers = [i for i, line in enumerate(lines) if b'"op":"answer"' in line]
        assert len(answers) == 2 * N_ITEMS
        last, middle = answers[-1], answers[len(answers) // 2]
        lines[middle] = lines[middle][: len(lines[middle]) // 3] + b"\x00garbage"
        path.write_bytes(b"\n".join(lines[:last]) + b"\n" + lines[last][: len(lines[last]) // 2])
        STATS["faults"] += 2
        # Resumed while still held: it appends after the cut line without losing its entries.
        again = subprocess.run([*args, "--resume"], cwd=REPO, env=ENV, capture_output=True,
                               text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        assert f": {2 * N_ITEMS - 2} answers already recorded" in again.stderr
        assert "2 answers to generate" in again.stderr
    code = main(["db", "sync", "--db", str(db)])
    assert code == 0
    STATS["survived"] += 2
    _check_against(db, reference)


def test_sync_names_the_unreadable_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    STATS["cases"] += 1
    db = tmp_path / "s.duckdb"
    Store(db).ensure()
    path = journal_dir(db) / "r1.jsonl"
    path.parent.mkdir()
    path.write_text('{"op":"run","row":{"run_id":"r1","config_hash":"h","kind":"headless"}}\n'
                    '{"op":"fin\n'
                    '{"op":"finish","run_id":"r1","status":"completed",'
                    '"at":{"$datetime":"2026-01-01T00:00:00"}}\n{"op":"ans')
    assert main(["db", "sync", "--db", str(db)]) == 0
    err = capsys.readouterr().err
    assert f"{path}:2: unreadable journal line skipped" in err
    assert f"{path}:4: unreadable journal line skipped" in err
    assert Store(db).query("SELECT run_id, status FROM runs").rows == [("r1", "completed")]
    assert not path.exists()
    STATS["faults"] += 2
    STATS["survived"] += 2


def _holder_line(err: str, pid: int) -> None:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"held by PID {pid} (python" in lines[0], err


def test_readers_name_who_holds_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    STATS["cases"] += 1
    db = tmp_path / "held.duckdb"
    Store(db).start_run({"run_id": "r1", "config_hash": "h", "kind": "headless"})
    monkeypatch.setenv("TUNELENS_LOCK_WAIT", "0.5")
    with _holding(db, write=True) as writer:
        for argv in (["query", "SELECT count(*) FROM runs"], ["db", "info"], ["report"]):
            assert main([*argv, "--db", str(db)]) == 2
            _holder_line(capsys.readouterr().err, writer.pid)
            STATS["faults"] += 1
            STATS["survived"] += 1
    # A writer that lets go within the wait: the reader waits and gets in.
    monkeypatch.setenv("TUNELENS_LOCK_WAIT", "30")
    brief = subprocess.Popen([sys.executable, "-c",
                              "import duckdb, time\n"
                              f"con = duckdb.connect({str(db)!r})\n"
                              "print('holding', flush=True)\ntime.sleep(1.5)\n"],
                             stdout=subprocess.PIPE, text=True)
    assert brief.stdout is not None and brief.stdout.readline().strip() == "holding"
    assert Store(db).query("SELECT count(*) FROM runs").rows == [(1,)]
    brief.wait()


def test_competing_runs_and_readers(
    tiny_models_toml: Path, gsm8k_file: Path, tmp_path: Path
) -> None:
    """Two runs writing at once while a reader queries all along: every query answers, both
    runs complete with all their rows."""
    STATS["cases"] += 1
    db = tmp_path / "busy.duckdb"
    Store(db).ensure()
    procs = [
        subprocess.Popen(_args(tiny_models_toml, gsm8k_file, db, limit=20), cwd=REPO, env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        subprocess.Popen([*_args(tiny_models_toml, gsm8k_file, db, limit=30)[:-4], "--mode",
                          "zero-shot-cot", "--db", str(db)], cwd=REPO, env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    ]
    store = Store(db)
    reads = 0
    while any(p.poll() is None for p in procs):
        store.query("SELECT count(*) FROM generations")  # raises if a reader gave up
        reads += 1
        time.sleep(0.05)
    for p in procs:
        _, err = p.communicate()
        assert p.returncode == 0, err
    STATS["faults"] += len(procs)  # each writer competes with the other and the reader
    STATS["survived"] += len(procs)
    STATS["reads_while_written"] += reads
    assert sorted(store.query("SELECT count(*) FROM generations GROUP BY run_id").rows) == [
        (40,), (60,)
    ]
    assert store.query("SELECT DISTINCT status FROM runs").rows == [("completed",)]
    assert reads > 0


def _foreign(path: Path) -> None:
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE generations (id INTEGER, text VARCHAR)")
    con.execute("INSERT INTO generations VALUES (1, 'theirs')")
    con.close()


def _garbage(path: Path) -> None:
    path.write_bytes(random.Random(SEED).randbytes(300_000))


def _truncated(path: Path) -> None:
    Store(path).start_run({"run_id": "r1", "config_hash": "h", "kind": "headless"})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("make", [_foreign, _garbage, _truncated],
                         ids=["foreign", "garbage", "truncated"])
def test_foreign_or_damaged_store_one_line_file_unchanged(
    make: object, tiny_models_toml: Path, gsm8k_file: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "bad.duckdb"
    make(db)  # type: ignore[operator]
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    commands = [
        ["--headless", "--pair", "tiny", "--models", str(tiny_models_toml), "--dataset",
         "gsm8k", "--data-file", str(gsm8k_file), "--limit", "1", "--max-tokens", "4"],
        ["query", "SELECT 1"],
        ["db", "info"],
        ["db", "sync"],
        ["report"],
    ]
    for argv in commands:
        STATS["cases"] += 1
        STATS["faults"] += 1
        code = main([*argv, "--db", str(db)])
        captured = capsys.readouterr()
        lines = [line for line in captured.err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1, (argv, captured.err)
        assert str(db) in lines[0] and "Traceback" not in captured.err
        assert hashlib.sha256(db.read_bytes()).hexdigest() == digest, argv
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.duckdb"], argv
        STATS["survived"] += 1
