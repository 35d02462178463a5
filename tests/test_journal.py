"""The journal a run writes before the store (engine/store/journal.py, recorder.py): durable lines,
idempotent replay by answer key, and the races between an appender and a replay."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest

from engine.errors import StoreError
from engine.store import journal
from engine.store.recorder import RunRecorder
from engine.store.store import Store, StoreLocked, lock_holder


def _answer(run_id: str, n: int) -> tuple[dict, list[dict]]:
    gid = f"{run_id}-g{n}"
    row = {"generation_id": gid, "run_id": run_id, "dataset": "d", "item_id": f"i{n}",
           "role": "base", "mode": "zero-shot", "strategy": "greedy", "sample_index": 0,
           "output": f"answer {n}", "output_token_ids": [1, 2, n], "created_at": datetime.now()}
    return row, [{"generation_id": gid, "grader": "g", "extracted": str(n), "correct": n % 2 == 0,
                  "rule": "r", "detail": ""}]


def test_entries_round_trip_with_datetimes(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    at = datetime(2026, 1, 2, 3, 4, 5, 6)
    journal.append(path, [{"op": "finish", "run_id": "r", "status": "completed", "at": at}])
    (entry,) = journal.read(path).entries
    assert entry["at"] == at


def test_append_after_a_line_cut_short_keeps_the_new_entry(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"op":"answer","key":"a","row":{"gen')  # kill -9 mid-write
    journal.append(path, [{"op": "answer", "key": "b", "row": {}, "grades": []}])
    got = journal.read(path)
    assert [e["key"] for e in got.entries] == ["b"] and got.bad_lines == [1]


def test_an_appender_whose_file_was_replayed_meanwhile_starts_a_new_one(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal.append(path, [{"op": "answer", "key": "a", "row": {}, "grades": []}])
    with journal.locked(path, create=False) as f:  # a replay holds the lock...
        assert f is not None
        done = threading.Event()
        t = threading.Thread(target=lambda: (journal.append(
            path, [{"op": "answer", "key": "b", "row": {}, "grades": []}]), done.set()))
        t.start()
        assert not done.wait(0.3)  # ...the appender waits for it...
        path.unlink()  # ...and the replay removes the file it applied
    t.join(5)
    assert [e["key"] for e in journal.read(path).entries] == ["b"]  # not written into the void


def test_replay_twice_adds_nothing_and_keeps_the_final_status(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    rec = RunRecorder(store, "r1")
    rec.start_run({"run_id": "r1", "config_hash": "h", "kind": "headless"})
    for n in range(5):
        rec.add(*_answer("r1", n))
    text = rec.path.read_text()
    result = rec.finish("completed")
    assert result.waiting == 0 and not rec.path.exists()
    assert store.query("SELECT count(*) FROM generations").rows == [(5,)]
    # A replay that committed but was killed before removing its file is replayed again.
    rec.path.parent.mkdir(exist_ok=True)
    rec.path.write_text(text + journal.encode(
        {"op": "finish", "run_id": "r1", "status": "completed", "at": datetime.now()}) + "\n")
    store.sync()
    assert store.query("SELECT count(*), count(DISTINCT generation_id) FROM generations").rows \
        == [(5, 5)]
    assert store.query("SELECT count(*) FROM grades").rows == [(5,)]
    assert store.query("SELECT status FROM runs").rows == [("completed",)]
    assert store.query("SELECT output_token_ids FROM generations WHERE item_id = 'i3'").rows == [
        ([1, 2, 3],)
    ]


def test_answers_in_the_journal_count_for_resume(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    store.ensure()
    path = journal.journal_path(store.path, "r1")
    journal.append(path, [
        {"op": "run", "row": {"run_id": "r1", "config_hash": "h", "kind": "headless",
                              "started_at": datetime.now(), "status": "running"}},
        {"op": "answer", "key": "k1", "row": _answer("r1", 1)[0] | {"generation_id": "k1"},
         "grades": []},
    ])
    assert store.find_resumable("h") == "r1"  # the run exists only in its journal
    assert store.existing_keys("r1") == {"k1"}
    journal.append(path, [{"op": "finish", "run_id": "r1", "status": "completed",
                           "at": datetime.now()}])
    assert store.find_resumable("h") is None and store.find_completed("h") == "r1"


def test_lock_holder_names_the_process() -> None:
    msg = ('IO Error: Could not set lock on file "x": Conflicting lock is held in '
           f"/usr/bin/python3 (PID {os.getpid()}).")
    name = lock_holder(msg)
    assert name.startswith(f"PID {os.getpid()} (") and "\n" not in name and len(name) < 100
    assert lock_holder("Conflicting lock is held in x (PID 999999999)") == "PID 999999999"
    assert lock_holder("no pid here") == "another process"


def test_a_run_whose_store_is_locked_keeps_going(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb", lock_timeout_s=0.2)
    store.ensure()
    rec = RunRecorder(store, "r1", lock_wait_s=0.1, retry_s=0.05)
    reader = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, time\n"
         f"con = duckdb.connect({str(store.path)!r}, read_only=True)\n"
         "print('holding', flush=True)\ntime.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "holding"
        rec.start_run({"run_id": "r1", "config_hash": "h", "kind": "headless"})
        for n in range(3):
            rec.add(*_answer("r1", n), now=True)
        result = rec.finish("completed", wait_s=0.2)
        assert result.waiting == 3 and result.holder == lock_holder(f"(PID {reader.pid})")
        with pytest.raises(StoreLocked, match=f"held by PID {reader.pid} "), store.connect(
            timeout_s=0.1
        ):
            pass
    finally:
        reader.kill()
        reader.wait()
    assert store.sync().applied == 3
    assert store.query("SELECT status, (SELECT count(*) FROM generations) FROM runs").rows == [
        ("completed", 3)
    ]


def test_bad_lock_wait_setting_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNELENS_LOCK_WAIT", "soon")
    with pytest.raises(StoreError, match="TUNELENS_LOCK_WAIT='soon': expected a number"):
        Store("x.duckdb")


def test_the_summary_counts_stored_and_waiting_answers_once(tmp_path: Path) -> None:
    from engine.store.summary import run_summary

    store = Store(tmp_path / "s.duckdb")
    rows = [_answer("r", n) for n in range(6)]
    for row, _ in rows:
        row.update(decoding='{"seed": 0}', tokens=5, ttft_s=0.1, gen_time_s=0.5,
                   correct=row["item_id"] in ("i0", "i2", "i4"))
    store.insert_generations([r for r, _ in rows[:4]], [g for _, gs in rows[:4] for g in gs])
    (stored,) = run_summary(store, "r")
    (both,) = run_summary(store, "r", waiting=[r for r, _ in rows[2:]])  # 2 of them overlap
    assert (stored.n, both.n) == (4, 6)
    assert both.accuracy == 0.5  # i0, i2, i4 correct of six


def test_an_appender_whose_folder_a_replay_removed_makes_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The race CI met: mkdir finds the folder, a replay removes it (empty), and pathlib's
    # exist_ok check then sees no folder and raises FileExistsError.
    path = journal.journal_path(tmp_path / "s.duckdb", "r")
    real = Path.mkdir
    raised = []

    def racing_mkdir(self: Path, *args: object, **kw: object) -> None:
        if not raised:
            raised.append(self)
            raise FileExistsError(17, "File exists", str(self))
        real(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", racing_mkdir)
    journal.append(path, [{"op": "answer", "key": "a", "row": {}, "grades": []}])
    assert raised and journal.read(path).answers == 1
