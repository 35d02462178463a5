"""The read-only SQL surface (`tunelens query`, the SQL screen): DuckDB's own settings confine it,
a short filter refuses what writes, and what a researcher needs (PIVOT, a CSV beside the store,
export) still works."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.store import browse
from engine.store.store import Store, StoreError


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    folder = tmp_path / "store"
    folder.mkdir()
    store = Store(folder / "s.duckdb")
    store.start_run({"run_id": "r1", "config_hash": "h", "kind": "headless", "pair": "demo"})
    store.start_run({"run_id": "r2", "config_hash": "h", "kind": "app", "pair": "other"})
    return store


def test_read_only_connection_uses_duckdb_settings(store: Store) -> None:
    with store.connect(read_only=True) as con:
        got = dict(con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ("
            "'enable_external_access', 'autoinstall_known_extensions', "
            "'autoload_known_extensions', 'lock_configuration')"
        ).fetchall())
        assert got == {"enable_external_access": "false", "autoinstall_known_extensions": "false",
                       "autoload_known_extensions": "false", "lock_configuration": "true"}
        # Locked: the user's SQL cannot turn it back on, even past the statement filter.
        with pytest.raises(Exception, match="locked"):
            con.execute("SET enable_external_access = true")
    # A writer afterwards gets its own, unconfined instance (the settings died with the reader).
    store.start_run({"run_id": "r3", "config_hash": "h", "kind": "headless"})


def test_import_database_is_refused(store: Store, tmp_path: Path) -> None:
    # A folder whose load.sql writes a file: IMPORT DATABASE is a PRAGMA to DuckDB.
    dump = tmp_path / "dump"
    dump.mkdir()
    written = tmp_path / "written.csv"
    (dump / "schema.sql").write_text("")
    (dump / "load.sql").write_text(f"COPY (SELECT 42) TO '{written}';\n")
    for sql in (f"IMPORT DATABASE '{dump}'", f"-- note\n  import database '{dump}'"):
        with pytest.raises(StoreError, match="IMPORT DATABASE is refused"):
            store.query(sql)
    with pytest.raises(StoreError, match="IMPORT DATABASE is refused"):
        browse.run_query(store, f"IMPORT DATABASE '{dump}'")
    assert not written.exists()
    # Even past the filter, DuckDB itself refuses to read outside the store's folder.
    with store.connect(read_only=True) as con, pytest.raises(Exception, match="disabled"):
        con.execute(f"IMPORT DATABASE '{dump}'")
    assert not written.exists()


def test_copy_to_is_refused(store: Store, tmp_path: Path) -> None:
    target = store.path.parent / "out.csv"
    with pytest.raises(StoreError, match=r"COPY is refused.*export"):
        store.query(f"COPY (SELECT * FROM runs) TO '{target}'")
    with pytest.raises(StoreError, match="COPY is refused"):
        browse.run_query(store, f"SELECT 1; COPY runs TO '{target}'")
    assert not target.exists()


def test_pivot_is_one_read_only_statement(store: Store) -> None:
    got = store.query("PIVOT (SELECT kind, pair FROM runs) ON kind USING count(*) ORDER BY pair")
    assert got.columns == ["pair", "app", "headless"]
    assert got.rows == [("demo", 0, 1), ("other", 1, 0)]
    shown = browse.run_query(store, "PIVOT runs ON kind USING count(*) GROUP BY pair")
    assert shown.rows == 2 and set(shown.columns) == {"pair", "app", "headless"}


def test_files_beside_the_store_only(store: Store, tmp_path: Path) -> None:
    beside = store.path.parent / "labels.csv"
    beside.write_text("run_id,label\nr1,baseline\n")
    got = store.query(
        f"SELECT r.run_id, l.label FROM runs r JOIN read_csv('{beside}') l USING (run_id)"
    )
    assert got.rows == [("r1", "baseline")]
    elsewhere = tmp_path / "secret.csv"
    elsewhere.write_text("a\n1\n")
    with pytest.raises(StoreError, match="disabled by configuration"):
        store.query(f"SELECT * FROM read_csv('{elsewhere}')")
    with pytest.raises(StoreError, match="disabled by configuration"):
        store.query("SELECT * FROM read_csv('https://example.invalid/x.csv')")


def test_export_writes_anywhere_the_user_picks(store: Store, tmp_path: Path) -> None:
    # Export is tunelens' own writer: the target is outside the store's folder.
    for fmt in ("csv", "parquet", "jsonl"):
        target = tmp_path / f"runs.{fmt}"
        assert browse.export_query(store, "SELECT run_id FROM runs ORDER BY 1", target,
                                   fmt) == 2  # type: ignore[arg-type]
        assert target.stat().st_size > 0
    assert (tmp_path / "runs.csv").read_text().splitlines() == ["run_id", "r1", "r2"]
