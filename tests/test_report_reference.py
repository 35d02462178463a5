"""The report gives the figures it gave before its computation was rewritten (issue 14), and the
same bytes every time on the same store (issue 12, reproducible reports).

tests/fixtures/report_reference/ was written by main (2c960c0, which has the sorted answers
query; 455dbfd before it printed different relative-drop and
fractional-accuracy intervals from one process to the next (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from report_reference import build_store, outputs, read_reference

REPO = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "report_reference"


def first_difference(a: bytes, b: bytes) -> str:
    la, lb = a.decode().splitlines(), b.decode().splitlines()
    for i, (x, y) in enumerate(zip(la, lb, strict=False), start=1):
        if x != y:
            return f"line {i}:\n  expected {x!r}\n  got      {y!r}"
    return f"lengths differ: {len(la)} vs {len(lb)} lines"


def assert_same_outputs(got: dict[str, bytes], expected: dict[str, bytes]) -> None:
    assert sorted(got) == sorted(expected)
    wrong = [name for name in expected if got[name] != expected[name]]
    assert not wrong, "\n".join(
        f"{name}: {first_difference(expected[name], got[name])}" for name in wrong
    )


@pytest.fixture(scope="module")
def reference() -> dict[str, bytes]:
    return read_reference(FIXTURE)


@pytest.mark.parametrize("order_seed", [7, 8])
def test_every_output_matches_the_reference(
    reference: dict[str, bytes], tmp_path: Path, order_seed: int
) -> None:
    """Seed 7 inserts rows in the order the fixture's store had, 8 in another order."""
    db = tmp_path / "r.duckdb"
    build_store(db, order_seed=order_seed)
    assert_same_outputs(outputs(db, tmp_path), reference)


def _report_in_new_process(db: Path) -> bytes:
    out = subprocess.run(
        [sys.executable, "-m", "tunelens", "report", "--db", str(db), "--format", "json"],
        cwd=REPO,
        capture_output=True,
        check=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "160"},
    )
    return out.stdout


def test_same_store_same_bytes_across_processes_checkpoint_and_reinsertion(
    tmp_path: Path,
) -> None:
    db = tmp_path / "r.duckdb"
    build_store(db, order_seed=1)
    first = _report_in_new_process(db)
    assert first == _report_in_new_process(db)
    import duckdb

    con = duckdb.connect(str(db))
    con.execute("CHECKPOINT")
    # rewrite every table in another row order: what a VACUUM or an export/import may do
    for table, key in (("generations", "generation_id"), ("grades", "generation_id, grader"),
                       ("token_shift", "generation_id, position")):
        con.execute(f"CREATE TEMP TABLE t AS SELECT * FROM {table} ORDER BY hash({key}) DESC")
        con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} SELECT * FROM t")
        con.execute("DROP TABLE t")
    con.execute("CHECKPOINT")
    con.close()
    again = _report_in_new_process(db)
    assert again == first
    doc = json.loads(first)
    assert doc["tables"]["drops"] and all(r["drop_low"] is not None for r in doc["tables"]["drops"])
