"""The table a run ends with: accuracy, length and speed per model role, mode and variant."""

from __future__ import annotations

from dataclasses import dataclass

from engine.store.store import Store

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


def run_summary(store: Store, run_id: str) -> list[SummaryRow]:
    result = store.query(SUMMARY_SQL, [run_id])
    return [SummaryRow(*row) for row in result.rows]
