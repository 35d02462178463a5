"""Grader agreement: where two graders judged the same recorded answers, how often they agree
(Wilson interval), whether the choice of grader changes accuracy (McNemar), and examples where
they disagree."""

from __future__ import annotations

from collections import defaultdict
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


def grader_agreement(
    store: Store, filters: ReportFilters
) -> tuple[list[AgreementRow], list[Disagreement]]:
    """Where two graders judged the same answers: how often they agree, and examples where not.

    Grades with rule 'error' (a grader that failed, e.g. a math-verify timeout) are left out.
    """
    where, params = filters.where()
    rows = store.query(AGREEMENT_SQL.format(where=where), params).rows
    groups: dict[tuple[str, ...], list[tuple[bool, bool]]] = defaultdict(list)
    examples: list[Disagreement] = []
    for pair, dataset, role, item_id, gid, ga, ea, ca, gb, eb, cb in rows:
        groups[(pair, dataset, role, ga, gb)].append((bool(ca), bool(cb)))
        if bool(ca) != bool(cb) and len(examples) < MAX_DISAGREEMENTS:
            examples.append(Disagreement(gid, dataset, item_id, role, ga, ea, bool(ca), gb, eb,
                                         bool(cb)))
    out = []
    for (pair, dataset, role, ga, gb), verdicts in sorted(
        groups.items(), key=lambda kv: (kv[0][0], kv[0][1], role_key(kv[0][2]), kv[0][3:])
    ):
        test = stats.mcnemar([a for a, _ in verdicts], [b for _, b in verdicts])
        agree = stats.proportion(test.both + test.neither, test.n)
        out.append(
            AgreementRow(
                pair, dataset, role, ga, gb, test.n, test.both, test.a_only, test.b_only,
                test.neither, agree.p, agree.low, agree.high, test.p_value, test.method,
            )
        )
    return out, examples
