"""The in-context-learning study's tables (Bigoulaeva et al. 2025): per task, accuracy under each
condition; across tasks, Spearman and Pearson r between instruct zero-shot and each base condition,
with percentile-bootstrap intervals over tasks, beside the figure the paper reports.

Only the study's evaluated items count: the instruct run also answered the exemplar questions
(those answers are the instruct-written exemplars), and they are left out here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import engine.analysis.stats as stats
from engine.analysis.labels import pct
from engine.analysis.rows import ReportFilters, load_answers
from engine.analysis.table import ReportTable
from engine.records import ICL_LABELS, ICL_MODES, Item
from engine.store.store import item_columns, item_from_row

if TYPE_CHECKING:
    from engine.store.store import Store

INSTRUCT_ZERO = ("instruct", "zero-shot")
BASE_CONDITIONS: tuple[tuple[str, str], ...] = (
    ("base", "zero-shot"), *(("base", m) for m in ICL_MODES)
)
# The paper's figure for each base condition, as (Spearman, Pearson). Source: research notes
# ("Spearman reported around 0.85"); a secondary summary of arXiv 2501.08716 gives r = 0.851 for
# instruct vs base in-context accuracy. Nothing else is stated: said so rather than invented.
NOT_STATED = "not stated"
PAPER: dict[str, tuple[str, str]] = {
    "icl-gold": ("0.851 (about 0.85)", NOT_STATED),
}


def condition_label(cond: tuple[str, str]) -> str:
    role, mode = cond
    if role == "instruct":
        return "instruct zero-shot"
    return "base zero-shot" if mode == "zero-shot" else ICL_LABELS.get(mode, mode)


@dataclass(frozen=True)
class TaskAccuracy:
    task: str
    n: int  # evaluated items
    accuracy: dict[tuple[str, str], float]  # condition -> accuracy over the task's items


@dataclass(frozen=True)
class ConditionCorrelation:
    condition: tuple[str, str]
    tasks: int
    spearman: stats.Interval
    pearson: stats.Interval
    spearman_p: float | None
    pearson_p: float | None
    note: str
    paper_spearman: str
    paper_pearson: str


@dataclass
class IclTables:
    tasks: list[TaskAccuracy]
    conditions: list[tuple[str, str]]
    correlations: list[ConditionCorrelation]
    runs: list[str]

    def as_report_tables(self) -> list[ReportTable]:
        conds = self.conditions
        per_task = ReportTable(
            key="bigoulaeva_tasks",
            title="accuracy per task and condition",
            columns=["task", "n", *[f"{r}:{m}" for r, m in conds]],
            rows=[[t.task, t.n, *[t.accuracy.get(c) for c in conds]] for t in self.tasks],
            display_columns=["task", "n", *[condition_label(c) for c in conds]],
            display_rows=[
                [t.task, str(t.n), *[pct(t.accuracy.get(c)) for c in conds]] for t in self.tasks
            ],
            note="greedy; accuracy over the task's evaluated items (exemplar items held out)",
            right=set(range(1, len(conds) + 2)),
        )

        def r_text(iv: stats.Interval) -> str:
            if iv.estimate is None:
                return "-"
            if iv.low is None or iv.high is None:
                return f"{iv.estimate:+.2f} [n/a]"
            return f"{iv.estimate:+.2f} [{iv.low:+.2f}, {iv.high:+.2f}]"

        corr = ReportTable(
            key="bigoulaeva_correlations",
            title="instruct zero-shot vs each base condition, across tasks",
            columns=["condition", "tasks", "spearman", "spearman_low", "spearman_high",
                     "spearman_p", "pearson", "pearson_low", "pearson_high", "pearson_p",
                     "paper_spearman", "paper_pearson", "note"],
            rows=[
                [condition_label(c.condition), c.tasks, c.spearman.estimate, c.spearman.low,
                 c.spearman.high, c.spearman_p, c.pearson.estimate, c.pearson.low,
                 c.pearson.high, c.pearson_p, c.paper_spearman, c.paper_pearson, c.note]
                for c in self.correlations
            ],
            display_columns=["base condition", "tasks", "Spearman [95% CI]", "Pearson [95% CI]",
                             "paper Spearman", "paper Pearson", "note"],
            display_rows=[
                [condition_label(c.condition), str(c.tasks), r_text(c.spearman),
                 r_text(c.pearson), c.paper_spearman, c.paper_pearson, c.note]
                for c in self.correlations
            ],
            note="percentile bootstrap over tasks; [n/a]: too many resamples with a constant "
            "side. Paper: Bigoulaeva et al. 2025 (its tasks are FLAN-style, not these)",
            right={1, 2, 3},
        )
        return [per_task, corr]


def icl_tables(
    store: Store,
    run_ids: list[str],
    task_of: Callable[[Item], str | None],
    *,
    filters: ReportFilters | None = None,
) -> IclTables:
    """Per-task accuracies and correlations from the study's two runs."""
    filters = replace(filters or ReportFilters(), runs=tuple(run_ids))
    answers, _ = load_answers(store, filters)
    rows = store.query(
        f"SELECT DISTINCT {item_columns('i')} FROM generations g JOIN items i "
        "ON i.dataset = g.dataset AND i.item_id = g.item_id "
        f"WHERE g.run_id IN ({', '.join('?' * len(run_ids))}) ORDER BY i.dataset, i.item_id",
        list(run_ids),
    ).rows
    task_for = {(r[0], r[1]): task_of(item_from_row(r)) for r in rows}
    evaluated = {(a.dataset, a.item_id) for a in answers if a.role == "base"}
    values: dict[str, dict[tuple[str, str], list[float]]] = defaultdict(lambda: defaultdict(list))
    items: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for a in answers:
        key = (a.dataset, a.item_id)
        task = task_for.get(key)
        if task is None or key not in evaluated or a.strategy != "greedy":
            continue
        values[task][(a.role, a.mode)].append(float(a.correct))
        items[task].add(key)
    conds = [INSTRUCT_ZERO, *[c for c in BASE_CONDITIONS
                              if any(c in v for v in values.values())]]
    tasks = [
        TaskAccuracy(t, len(items[t]), {c: sum(v) / len(v) for c, v in values[t].items() if v})
        for t in sorted(values)
    ]
    correlations = []
    for cond in conds[1:]:
        both = [t for t in tasks if INSTRUCT_ZERO in t.accuracy and cond in t.accuracy]
        x = [t.accuracy[INSTRUCT_ZERO] for t in both]
        y = [t.accuracy[cond] for t in both]
        c = stats.correlation(x, y, labels=("instruct zero-shot", condition_label(cond)))
        kw = {"resamples": filters.resamples, "seed": filters.seed}
        none = stats.Interval(None, None, None, len(both))
        sp = stats.correlation_ci(x, y, method="spearman", **kw) if c.spearman_r is not None \
            else none
        pe = stats.correlation_ci(x, y, method="pearson", **kw) if c.pearson_r is not None \
            else none
        paper = PAPER.get(cond[1], (NOT_STATED, NOT_STATED)) if cond[0] == "base" \
            else (NOT_STATED, NOT_STATED)
        correlations.append(ConditionCorrelation(
            cond, len(both), sp, pe, c.spearman_p, c.pearson_p, c.note, *paper))
    return IclTables(tasks, conds, correlations, list(run_ids))
