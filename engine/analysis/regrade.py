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
from engine.grading.extract_llm import ExtractLLMGrader
from engine.store.store import Store, item_columns, item_from_row

# Verdicts written per transaction: a killed regrade keeps all but the last few (a model-based
# grader takes seconds per answer), and resumes where it stopped.
BATCH = 16


@dataclass(frozen=True)
class RegradeResult:
    graded: int
    already: int
    errors: int  # the grader failed on the answer (rule 'error'); recorded, left out of agreement
    changed: int  # verdict differs from the primary grader's
    model_calls: int = 0  # extract-llm: extractor calls made (0 when every output was cached)


REGRADE_SQL = """
SELECT g.generation_id, g.output, g.correct, {items}
FROM generations g JOIN runs r USING (run_id)
JOIN items i ON i.dataset = g.dataset AND i.item_id = g.item_id
WHERE {where}
  AND NOT EXISTS (SELECT 1 FROM grades x WHERE x.generation_id = g.generation_id AND x.grader = ?)
ORDER BY g.run_id, g.generation_id
"""


def regrade(
    store: Store,
    grader: str | ExtractLLMGrader,
    filters: ReportFilters | None = None,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> RegradeResult:
    """Add `grader`'s verdicts to `grades` for recorded answers that lack them.

    `grader` is a registered name, or an `ExtractLLMGrader` (its extractor injected by the
    caller): its cache is filled from the store's `extractions` first, and its new extractions
    are stored with the verdicts they made, so a second regrade makes no model call.
    """
    from engine.grading import GRADERS

    model_grader = grader if isinstance(grader, ExtractLLMGrader) else None
    if model_grader is not None:
        grader = model_grader.name
    assert isinstance(grader, str)
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
    fn: Callable[..., Any] = GRADERS[grader]
    if model_grader is not None:
        cached = store.load_extractions(model_grader.extractor.id, model_grader.prompt_version)
        model_grader.cache.update(cached)
        fn = model_grader
    batch: list[dict[str, Any]] = []
    graded = errors = changed = 0

    def flush() -> None:
        nonlocal batch
        made = model_grader.drain() if model_grader is not None else []
        store.insert_grades(batch, made)
        batch = []

    try:
        for n, row in enumerate(rows, start=1):
            gid, output, primary, *item_cols = row
            g = fn(item_from_row(item_cols), output or "")
            errors += g.rule == "error"
            changed += g.rule != "error" and primary is not None and bool(primary) != g.correct
            batch.append(
                {"generation_id": gid, "grader": grader, "extracted": g.extracted,
                 "correct": g.correct, "rule": g.rule, "detail": g.detail}
            )
            graded += 1
            if len(batch) >= BATCH:
                flush()
            if on_progress is not None:
                on_progress(n, len(rows))
    finally:  # Ctrl+C, or a grader that failed: what was graded so far is kept
        flush()
    calls = model_grader.calls if model_grader is not None else 0
    return RegradeResult(graded, int(already), errors, changed, calls)
