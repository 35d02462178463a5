"""The rows every analysis starts from: the recorded answers under the report's filters, and one
outcome per item under each decoding metric.

Why one *item outcome* per (item, model, setting, decoding metric): intervals resample items,
paired tests pair items, and several answers per item (sampling, CoT-decoding branches) collapse to
one number per item before anything is averaged.

- Answers are de-duplicated: for one (pair, item, model, mode, shots, chat template, strategy,
  sample index) only the newest recorded answer counts (re-running a configuration replaces, it
  does not double-count). Cancelled answers (app) are left out.
- Metrics per strategy: greedy -> `greedy`; sample -> `pass@1` (mean over samples, unbiased),
  `maj@n` (majority vote over extracted answers, normalised as numbers), `pass@n` and any extra
  `pass@k` (unbiased estimator); cot-decoding -> `best-path` (the branch with the highest
  confidence score; the first branch when no branch has one) and `pass@K` (any branch right).
- Role `instruct-raw` is the instruct model asked without its chat template.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import engine.analysis.stats as stats
from engine.analysis.labels import role_key, setting_key, setting_label, variant_key

if TYPE_CHECKING:
    from engine.store.store import Store


@dataclass(frozen=True)
class ReportFilters:
    """Which recorded answers a report covers, and how it is computed. Empty: all runs."""

    runs: tuple[str, ...] = ()
    dataset: str | None = None
    pair: str | None = None
    grader: str | None = None  # whose verdicts count; None: the primary grader of each answer
    pass_k: tuple[int, ...] = ()  # extra k for pass@k (pass@1 and pass@n always)
    resamples: int = stats.BOOTSTRAP_RESAMPLES
    seed: int = 0

    def where(self, gen: str = "g", run: str = "r") -> tuple[str, list[Any]]:
        """SQL WHERE clause (with parameters) for generations `gen` joined to runs `run`."""
        clauses = [f"coalesce({gen}.finish_reason, '') <> 'cancelled'"]
        params: list[Any] = []
        if self.runs:
            clauses.append(f"{gen}.run_id IN ({', '.join('?' * len(self.runs))})")
            params.extend(self.runs)
        if self.dataset:
            clauses.append(f"{gen}.dataset = ?")
            params.append(self.dataset)
        if self.pair:
            clauses.append(f"{run}.pair = ?")
            params.append(self.pair)
        return " AND ".join(clauses), params


def describe_filters(filters: ReportFilters) -> str:
    """'runs a, b; dataset d', or 'all runs': the heading of a report."""
    parts = []
    if filters.runs:
        parts.append("runs " + ", ".join(filters.runs))
    if filters.dataset:
        parts.append(f"dataset {filters.dataset}")
    if filters.pair:
        parts.append(f"pair {filters.pair}")
    return "; ".join(parts) or "all runs"


# -- the runs and answers read from the store -----------------------------------------------------


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    kind: str
    pair: str | None
    dataset: str | None
    modes: list[str]
    perturbations: list[str]
    strategy: str | None
    status: str | None
    started_at: Any
    answers: int


def load_runs(store: Store, filters: ReportFilters) -> list[RunInfo]:
    """The runs with answers under the filters, oldest first."""
    where, params = filters.where()
    sql = f"""
        SELECT r.run_id, r.kind, r.pair, r.dataset, r.modes, r.perturbations, r.strategy,
               r.status, r.started_at, count(g.generation_id)
        FROM runs r JOIN generations g USING (run_id)
        WHERE {where}
        GROUP BY ALL ORDER BY r.started_at
    """
    return [
        RunInfo(row[0], row[1], row[2], row[3], list(row[4] or []), list(row[5] or []), *row[6:])
        for row in store.query(sql, params).rows
    ]


@dataclass(frozen=True)
class Answer:
    """One recorded answer, reduced to what the analyses need."""

    pair: str
    run_id: str
    generation_id: str
    dataset: str
    item_id: str
    original_id: str | None
    variant: str
    role: str  # base, instruct, instruct-raw
    model_name: str
    mode: str
    shots: int
    strategy: str
    sample_index: int
    extracted: str | None
    correct: bool
    score: float | None

    @property
    def setting(self) -> str:
        return setting_label(self.mode, self.shots)


ANSWERS_SQL = """
SELECT coalesce(r.pair, '?') AS pair, g.run_id, g.generation_id, g.dataset, g.item_id,
       g.original_id, coalesce(g.perturbation, 'original') AS variant,
       CASE WHEN g.role = 'instruct' AND NOT coalesce(g.chat_template, false)
            THEN 'instruct-raw' ELSE g.role END AS role_label,
       coalesce(g.model_name, '?'), g.mode, coalesce(g.shots, 0), g.strategy, g.sample_index,
       {extracted} AS extracted, {correct} AS correct, g.score
FROM generations g JOIN runs r USING (run_id) {join}
WHERE {where}
QUALIFY row_number() OVER (
    PARTITION BY r.pair, g.dataset, g.item_id, g.role, g.model_sha256, g.mode, g.shots,
                 g.chat_template, g.strategy, g.sample_index
    ORDER BY g.created_at DESC, g.generation_id) = 1
ORDER BY 1, 4, 5, 8, 9, 10, 11, 12, 13, 3
"""
# (pair, dataset, item, role, model, mode, shots, strategy, sample, generation): answers are read,
# items paired and resampled in this order, so the same store gives the same report.


def answers_query(template: str, filters: ReportFilters) -> tuple[str, list[Any]]:
    """`template` (ANSWERS_SQL or a variant with {join}, {where}, {extracted}, {correct}) filled
    for the filters: verdicts from the recorded grader, or from `filters.grader`'s grades."""
    where, params = filters.where()
    if filters.grader:
        join = "JOIN grades x ON x.generation_id = g.generation_id AND x.grader = ?"
        params = [filters.grader, *params]
        extracted, correct = "x.extracted", "coalesce(x.correct, false)"
    else:
        join, extracted, correct = "", "g.extracted", "coalesce(g.correct, false)"
    return template.format(join=join, where=where, extracted=extracted, correct=correct), params


def load_answers(store: Store, filters: ReportFilters) -> tuple[list[Answer], int]:
    """De-duplicated answers under the filters, and how many older duplicates were left out."""
    sql, params = answers_query(ANSWERS_SQL, filters)
    rows = store.query(sql, params).rows
    total_sql, params = answers_query(
        "SELECT count(*) FROM generations g JOIN runs r USING (run_id) {join} WHERE {where}",
        filters)
    total = store.query(total_sql, params).rows[0][0]
    return [Answer(*row) for row in rows], int(total) - len(rows)


# -- item outcomes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemOutcome:
    """One item's result under one metric: 0/1, or a fraction (pass@1 over samples, pass@k<n).

    `answer` is the answer that metric stands for: the greedy answer, the majority-vote answer
    (maj@n) or the best-scored CoT-decoding path's answer; None for pass@k.
    """

    pair: str
    dataset: str
    item_id: str
    original_id: str | None
    variant: str
    setting: str
    role: str
    model_name: str
    strategy: str
    metric: str
    value: float
    n_answers: int
    answer: str | None = None

    @property
    def binary(self) -> bool:
        return self.value in (0.0, 1.0)


def answer_key(extracted: str | None) -> Any:
    """Normalise an extracted answer for voting: equal numbers vote together (18 = 18.0 = $18)."""
    if extracted is None:
        return None
    from engine.grading import parse_number

    text = extracted.strip()
    if not text:
        return None
    try:
        value = parse_number(text)
    except (ValueError, ZeroDivisionError, ArithmeticError):
        value = None
    return value if value is not None else " ".join(text.lower().split())


Outcome = tuple[str, float, str | None]  # metric, value, answer


def outcomes_for(answers: Sequence[Answer], pass_k: Sequence[int] = ()) -> list[Outcome]:
    """(metric, value, answer) for the answers of one item under one model/setting/strategy."""
    ordered = sorted(answers, key=lambda a: a.sample_index)
    strategy = ordered[0].strategy
    n = len(ordered)
    c = sum(1 for a in ordered if a.correct)
    if strategy == "greedy":
        return [("greedy", float(ordered[0].correct), ordered[0].extracted)]
    out: list[Outcome] = []
    if strategy == "cot-decoding":
        scored = [a for a in ordered if a.score is not None and not math.isnan(a.score)]
        # max() keeps the first of equal scores: the more likely first token wins a tie.
        best = max(scored, key=lambda a: a.score or 0.0) if scored else ordered[0]
        out.append(("best-path", float(best.correct), best.extracted))
        out.append((f"pass@{n}", float(c > 0), None))
    else:
        out.append(("pass@1", c / n, None))
        if n > 1:
            keys = [answer_key(a.extracted) for a in ordered]
            winner, _ = stats.majority_vote(keys)
            voters = [
                a for a, k in zip(ordered, keys, strict=True) if winner is not None and k == winner
            ]
            right = any(a.correct for a in voters)
            out.append((f"maj@{n}", float(right), voters[0].extracted if voters else None))
            out.append((f"pass@{n}", float(c > 0), None))
    for k in sorted(set(pass_k)):
        if 1 < k < n:
            out.append((f"pass@{k}", stats.pass_at_k(n, c, k), None))
    return out


def item_outcomes(answers: Iterable[Answer], pass_k: Sequence[int] = ()) -> list[ItemOutcome]:
    """Collapse answers to one outcome per item, model, setting, strategy and metric."""
    groups: dict[tuple[Any, ...], list[Answer]] = defaultdict(list)
    for a in answers:
        key = (a.pair, a.dataset, a.item_id, a.role, a.model_name, a.setting, a.strategy)
        groups[key].append(a)
    out: list[ItemOutcome] = []
    for (pair, dataset, item_id, role, model, setting, strategy), group in groups.items():
        first = group[0]
        for metric, value, answer in outcomes_for(group, pass_k):
            out.append(
                ItemOutcome(
                    pair, dataset, item_id, first.original_id, first.variant, setting, role,
                    model, strategy, metric, value, len(group), answer,
                )
            )
    return out


# -- grouping outcomes for the analyses -----------------------------------------------------------

OutcomeKey = tuple[str, str, str, str, str, str, str]  # pair, dataset, variant, setting, role,
# strategy, metric


def index_outcomes(outcomes: Iterable[ItemOutcome]) -> dict[OutcomeKey, dict[str, ItemOutcome]]:
    """(pair, dataset, variant, setting, role, strategy, metric) -> item_id -> outcome."""
    out: dict[OutcomeKey, dict[str, ItemOutcome]] = defaultdict(dict)
    for o in outcomes:
        key = (o.pair, o.dataset, o.variant, o.setting, o.role, o.strategy, o.metric)
        out[key][o.item_id] = o
    return out


def sorted_keys(keys: Iterable[OutcomeKey]) -> list[OutcomeKey]:
    """Index keys in report order: pair, dataset, variant, setting, decoding, then role."""

    def sort_key(k: OutcomeKey) -> tuple[Any, ...]:
        pair, dataset, variant, setting, role, strategy, metric = k
        return (
            pair,
            dataset,
            variant_key(variant),
            setting_key(setting),
            strategy,
            metric,
            role_key(role),
        )

    return sorted(keys, key=sort_key)
