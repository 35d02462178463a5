"""Regrading: a second grader's verdicts on recorded answers, added to the `grades` table.

The runner records one grader per answer; a second grader's verdicts on the same outputs is what
grader agreement needs (the paper behind tunelens shows the grader can flip a verdict). Items come
from the `items` table, so each answer is graded against the gold it was asked with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.analysis.rows import ReportFilters
from engine.store.store import Store, item_columns, item_from_row


@dataclass(frozen=True)
class RegradeResult:
    graded: int
    already: int
    errors: int  # the grader failed on the answer (rule 'error'); recorded, left out of agreement
    changed: int  # verdict differs from the primary grader's


REGRADE_SQL = """
SELECT g.generation_id, g.output, g.correct, {items}
FROM generations g JOIN runs r USING (run_id)
JOIN items i ON i.dataset = g.dataset AND i.item_id = g.item_id
WHERE {where}
  AND NOT EXISTS (SELECT 1 FROM grades x WHERE x.generation_id = g.generation_id AND x.grader = ?)
"""


def regrade(
    store: Store,
    grader: str,
    filters: ReportFilters | None = None,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> RegradeResult:
    """Add `grader`'s verdicts to `grades` for recorded answers that lack them."""
    from engine.grading import GRADERS

    if grader not in GRADERS:
        raise ValueError(f"unknown grader {grader!r} (choose from {', '.join(GRADERS)})")
    filters = filters or ReportFilters()
    where, params = filters.where()
    sql = REGRADE_SQL.format(where=where, items=item_columns("i"))
    rows = store.query(sql, [*params, grader]).rows
    count_sql = (
        "SELECT count(*) FROM generations g JOIN runs r USING (run_id) "
        f"JOIN grades x ON x.generation_id = g.generation_id AND x.grader = ? WHERE {where}"
    )
    already = store.query(count_sql, [grader, *params]).rows[0][0]
    fn = GRADERS[grader]
    out: list[dict[str, Any]] = []
    errors = changed = 0
    for n, row in enumerate(rows, start=1):
        gid, output, primary, *item_cols = row
        g = fn(item_from_row(item_cols), output or "")
        errors += g.rule == "error"
        changed += g.rule != "error" and primary is not None and bool(primary) != g.correct
        out.append(
            {"generation_id": gid, "grader": grader, "extracted": g.extracted,
             "correct": g.correct, "rule": g.rule, "detail": g.detail}
        )
        if on_progress is not None:
            on_progress(n, len(rows))
    store.insert_grades(out)
    return RegradeResult(len(out), int(already), errors, changed)
