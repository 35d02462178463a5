"""The table a run ends with: accuracy, length and speed per model role, mode and variant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.store.store import Store, generations_table

SUMMARY_SQL = """
SELECT role,
       mode,
       coalesce(perturbation, 'original')                              AS variant,
       count(*)                                                        AS n,
       avg(CASE WHEN correct THEN 1.0 ELSE 0.0 END)                    AS accuracy,
       avg(tokens)                                                     AS mean_tokens,
       sum(greatest(tokens - 1, 0)) / nullif(sum(gen_time_s - ttft_s), 0) AS tokens_per_s,
       avg(ttft_s)                                                     AS mean_ttft_s
FROM generations
WHERE run_id = ?
GROUP BY ALL
ORDER BY mode, variant, role
"""


@dataclass(frozen=True)
class SummaryRow:
    role: str
    mode: str
    variant: str
    n: int
    accuracy: float
    mean_tokens: float
    tokens_per_s: float | None
    mean_ttft_s: float


def run_summary(
    store: Store, run_id: str, *, waiting: Sequence[dict[str, Any]] = ()
) -> list[SummaryRow]:
    """The summary of a run's answers; `waiting` adds those still in its journal (a row already
    stored counts once)."""
    if not waiting:
        return [SummaryRow(*row) for row in store.query(SUMMARY_SQL, [run_id]).rows]
    import duckdb

    stored = (
        store.arrow("SELECT * FROM generations WHERE run_id = ?", [run_id])
        if store.path.exists()
        else generations_table([])
    )
    con = duckdb.connect()
    try:
        con.register("stored", stored)
        con.register("journal", generations_table(waiting))
        con.execute(
            "CREATE TEMP VIEW generations AS SELECT * FROM stored UNION ALL BY NAME "
            "SELECT * FROM journal WHERE generation_id NOT IN (SELECT generation_id FROM stored)"
        )
        rows = con.execute(SUMMARY_SQL, [run_id]).fetchall()
    finally:
        con.close()
    return [SummaryRow(*row) for row in rows]
