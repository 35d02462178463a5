"""The DuckDB store: schema, idempotent inserts (the basis of resume), read-only queries."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from engine.records import Item
from engine.store.store import SCHEMA_VERSION, Store, StoreError, check_read_only, generation_key


def _row(run_id: str, item_id: str, role: str, correct: bool) -> dict:
    key = generation_key(run_id, item_id, role, "zero-shot", 0, False, "greedy", 0)
    return {
        "generation_id": key,
        "run_id": run_id,
        "dataset": "d",
        "item_id": item_id,
        "role": role,
        "mode": "zero-shot",
        "shots": 0,
        "chat_template": False,
        "strategy": "greedy",
        "sample_index": 0,
        "prompt": "Q",
        "output": "A 7",
        "output_token_ids": [1, 2, 3],
        "extracted": "7",
        "correct": correct,
        "grader": "gsm8k",
        "grader_rule": "last-number",
        "tokens": 3,
        "ttft_s": 0.1,
        "gen_time_s": 0.2,
        "tokens_per_s": 20.0,
        "finish_reason": "stop",
        "seed": 0,
        "decoding": {"strategy": "greedy"},
        "created_at": datetime.now(),
    }


def _store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "t.duckdb")
    store.start_run({"run_id": "r1", "config_hash": "h", "kind": "headless"})
    return store


def test_schema_created_with_version(tmp_path: Path) -> None:
    store = _store(tmp_path)
    res = store.query("SELECT max(version) FROM schema_version")
    assert res.rows == [(SCHEMA_VERSION,)]
    cols = store.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'generations'"
    )
    names = {r[0] for r in cols.rows}
    for c in (
        "run_id",
        "item_id",
        "role",
        "mode",
        "correct",
        "prompt",
        "seed",
        "model_sha256",
        "llama_cpp_version",
        "tokens_per_s",
        "finish_reason",
    ):
        assert c in names


def test_insert_is_idempotent_by_key(tmp_path: Path) -> None:
    store = _store(tmp_path)
    rows = [_row("r1", "a", "base", True), _row("r1", "a", "instruct", False)]
    store.insert_generations(rows)
    store.insert_generations(rows)  # a resumed run writing the same answers again
    store.insert_generations([_row("r1", "b", "base", True)])
    n = store.query("SELECT count(*) FROM generations").rows[0][0]
    assert n == 3
    assert store.existing_keys("r1") == {r["generation_id"] for r in rows} | {
        _row("r1", "b", "base", True)["generation_id"]
    }
    ids = store.query("SELECT output_token_ids FROM generations LIMIT 1").rows[0][0]
    assert ids == [1, 2, 3]


def test_resumable_run_lookup(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store.find_resumable("h") == "r1"
    store.finish_run("r1", "completed")
    assert store.find_resumable("h") is None
    assert store.query("SELECT status FROM runs").rows == [("completed",)]


def test_items_recorded_once(tmp_path: Path) -> None:
    store = _store(tmp_path)
    item = Item("d", "a", "q?", "7", fields={"x": 1})
    store.record_items([item, item])
    store.record_items([item])
    assert store.query("SELECT count(*), any_value(fields) FROM items").rows == [(1, '{"x": 1}')]


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM generations",
        "INSERT INTO runs (run_id) VALUES ('x')",
        "DROP TABLE runs",
        "SELECT 1; UPDATE runs SET status = 'x'",
        "CREATE TABLE t AS SELECT 1",
        "ATTACH 'other.duckdb'",
    ],
)
def test_writes_are_refused(sql: str) -> None:
    with pytest.raises(StoreError, match="read-only"):
        check_read_only(sql)


def test_reads_are_allowed(tmp_path: Path) -> None:
    store = _store(tmp_path)
    res = store.query("WITH x AS (SELECT 1 AS a) SELECT a FROM x")
    assert res.columns == ["a"] and res.rows == [(1,)]
    with pytest.raises(StoreError, match=r"Catalog Error|does not exist"):
        store.query("SELECT * FROM nope")


def test_query_without_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no results store yet"):
        Store(tmp_path / "missing.duckdb").query("SELECT 1")


def test_other_process_can_read_between_writes(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.insert_generations([_row("r1", "a", "base", True)])
    code = (
        "from engine.store.store import Store;"
        f"print(Store({str(store.path)!r}).query('SELECT count(*) FROM generations').rows[0][0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.stdout.strip() == "1", out.stderr


def test_a_foreign_duckdb_file_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    import duckdb

    from engine.errors import StoreError

    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE generations (id INTEGER, text VARCHAR)")
    con.execute("INSERT INTO generations VALUES (1, 'theirs')")
    con.close()
    with pytest.raises(StoreError) as err:
        Store(path).ensure()
    assert "not a tunelens store" in str(err.value) and "generations" in str(err.value)
    con = duckdb.connect(str(path), read_only=True)
    rows = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    tables = {r[0] for r in rows}
    assert tables == {"generations"}  # no schema_version written into it
    assert con.execute("SELECT * FROM generations").fetchall() == [(1, "theirs")]
    con.close()


def test_read_only_connections_opened_at_once_by_threads(tmp_path: Path) -> None:
    """The Report screen's workers open the store together: the sandbox's settings are set by
    the first and found locked by the others, never set twice (that raised 'configuration has
    been locked')."""
    import threading

    from engine.store.store import Store

    errors: list[BaseException] = []
    for k in range(6):
        store = Store(tmp_path / f"s{k}.duckdb")
        store.ensure()
        barrier = threading.Barrier(6)

        def read(store: Store = store, barrier: threading.Barrier = barrier) -> None:
            try:
                barrier.wait()
                store.query("SELECT count(*) FROM runs")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=read) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[0]
