"""Read-only connections opened at once from several threads (the app's report worker beside the
screens' queries) all get the sandbox: none fails on the settings another one just locked."""

from __future__ import annotations

import threading
from pathlib import Path

from engine.store.store import Store


def test_concurrent_first_read_connections_do_not_fail(tmp_path: Path) -> None:
    errors: list[str] = []
    for k in range(20):  # each a fresh store: the first connections of a new DuckDB instance
        store = Store(tmp_path / f"s{k}.duckdb")
        store.ensure()
        barrier = threading.Barrier(6)

        def read(store: Store = store, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                assert store.query("SELECT current_setting('lock_configuration')").rows == [
                    (True,)]
            except Exception as exc:  # the failure under test is any exception at all
                errors.append(str(exc).splitlines()[0])

        threads = [threading.Thread(target=read) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
