"""Grader agreement: where two graders judged the same recorded answers, how often they agree
(Wilson interval), whether the choice of grader changes accuracy (McNemar), and examples where
they disagree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import engine.analysis.stats as stats
from engine.analysis.labels import role_key
from engine.analysis.rows import ReportFilters

if TYPE_CHECKING:
    from engine.store.store import Store

MAX_DISAGREEMENTS = 20


@dataclass(frozen=True)
class AgreementRow:
    """Two graders' verdicts on the same recorded answers."""

    pair: str
    dataset: str
    role: str
    grader_a: str
    grader_b: str
    n: int
    both_correct: int
    a_only: int
    b_only: int
    both_wrong: int
    agreement: float | None
    agreement_low: float | None
    agreement_high: float | None
    p_value: float | None  # McNemar: does the choice of grader change accuracy?
    test: str


@dataclass(frozen=True)
class Disagreement:
    generation_id: str
    dataset: str
    item_id: str
    role: str
    grader_a: str
    extracted_a: str | None
    correct_a: bool
    grader_b: str
    extracted_b: str | None
    correct_b: bool


AGREEMENT_SQL = """
WITH sel AS (
    SELECT g.generation_id, coalesce(r.pair, '?') AS pair, g.dataset, g.item_id, g.role
    FROM generations g JOIN runs r USING (run_id)
    WHERE {where}
)
SELECT s.pair, s.dataset, s.role, s.item_id, s.generation_id,
       a.grader, a.extracted, a.correct, b.grader, b.extracted, b.correct
FROM sel s
JOIN grades a ON a.generation_id = s.generation_id
JOIN grades b ON b.generation_id = s.generation_id AND a.grader < b.grader
WHERE a.rule <> 'error' AND b.rule <> 'error'
ORDER BY s.pair, s.dataset, s.role, a.grader, b.grader, s.generation_id
"""

# The rows above into a temp table, verdicts as booleans (a missing verdict counts as wrong)
TEMP_SQL = """
CREATE TEMP TABLE report_agreement AS
SELECT pair, dataset, role, item_id, generation_id, ga, ea, coalesce(ca, false) AS ca,
       gb, eb, coalesce(cb, false) AS cb
FROM ({select}) t(pair, dataset, role, item_id, generation_id, ga, ea, ca, gb, eb, cb)
"""

# McNemar's inputs per pair of graders, counted by DuckDB
COUNTS_SQL = """
SELECT pair, dataset, role, ga, gb, count(*) AS n, count_if(ca AND cb), count_if(ca AND NOT cb),
       count_if(cb AND NOT ca)
FROM report_agreement GROUP BY ALL
"""

EXAMPLES_SQL = f"""
SELECT generation_id, dataset, item_id, role, ga, ea, ca, gb, eb, cb
FROM report_agreement WHERE ca <> cb
ORDER BY pair, dataset, role, ga, gb, generation_id
LIMIT {MAX_DISAGREEMENTS}
"""


def grader_agreement(
    store: Store, filters: ReportFilters
) -> tuple[list[AgreementRow], list[Disagreement]]:
    """Where two graders judged the same answers: how often they agree, and examples where not.

    Grades with rule 'error' (a grader that failed, e.g. a math-verify timeout) are left out.
    Examples are the first disagreements by (pair, dataset, role, graders, generation id).
    """
    where, params = filters.where()
    with store.connect(read_only=True) as con:
        con.execute(TEMP_SQL.format(select=AGREEMENT_SQL.format(where=where)), params)
        counts = con.execute(COUNTS_SQL).fetchall()
        examples = [Disagreement(*row) for row in con.execute(EXAMPLES_SQL).fetchall()]
    out = []
    for pair, dataset, role, ga, gb, n, both, a_only, b_only in sorted(
        counts, key=lambda r: (r[0], r[1], role_key(r[2]), r[3], r[4])
    ):
        neither = n - both - a_only - b_only
        test = stats.McNemar(both, a_only, b_only, neither, *stats.mcnemar_counts(a_only, b_only))
        agree = stats.proportion(test.both + test.neither, test.n)
        out.append(
            AgreementRow(
                pair, dataset, role, ga, gb, test.n, test.both, test.a_only, test.b_only,
                test.neither, agree.p, agree.low, agree.high, test.p_value, test.method,
            )
        )
    return out, examples
