"""Base vs instruct across benchmarks (Munjal et al. 2026): per benchmark the presets' table
(base, instruct, instruct - base with a paired bootstrap CI and McNemar p, per setting); per role
the relative drop MATH-500 -> MATH-P-Hard with a CI; and the graders side by side, with the share
of verdicts that change with the grader (the paper's point that the grader decides the result).

MATH-P-Hard's problems are rewrites of MATH level-5 problems, not of MATH-500's: the two
accuracies come from different items, so the drop's interval resamples each benchmark on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import engine.analysis.stats as stats
from engine.analysis.labels import pct, pct_ci
from engine.analysis.presets import PresetSpec, preset_values
from engine.analysis.rows import ReportFilters
from engine.analysis.table import ReportTable
from engine.records import ORIGINAL

if TYPE_CHECKING:
    from engine.store.store import Store

# The paper's relative drop MATH-500 -> MATH-P-Hard, per role (research notes: "instruct accuracy
# falls 38-62% (relative)"); nothing is stated for base models here.
PAPER_DROP = {"instruct": "38-62%", "base": "not stated"}


@dataclass(frozen=True)
class DropRow:
    role: str
    setting: str
    metric: str
    n_math500: int
    n_hard: int
    math500: float | None
    hard: float | None
    drop: stats.Interval
    paper: str


def drop_rows(
    store: Store,
    preset: PresetSpec,
    math500_runs: list[str],
    hard_runs: list[str],
    *,
    samples: int | None = None,
    filters: ReportFilters | None = None,
) -> list[DropRow]:
    """Per role and setting: (acc MATH-500 - acc MATH-P-Hard) / acc MATH-500, unpaired CI."""
    filters = filters or ReportFilters()
    a, metrics, _ = preset_values(store, preset, math500_runs, samples=samples, filters=filters)
    b, _, _ = preset_values(store, preset, hard_runs, samples=samples, filters=filters)
    out = []
    for role in ("base", "instruct"):
        for (setting, variant), items in sorted(a.get(role, {}).items()):
            if variant != ORIGINAL:
                continue
            other = b.get(role, {}).get((setting, ORIGINAL))
            if not other:
                continue
            xs, ys = list(items.values()), list(other.values())
            iv = stats.independent_relative_drop_ci(
                xs, ys, resamples=filters.resamples, seed=filters.seed)
            out.append(DropRow(role, setting, metrics.get(role, ""), len(xs), len(ys),
                               sum(xs) / len(xs), sum(ys) / len(ys), iv,
                               PAPER_DROP.get(role, "not stated")))
    return out


def drop_table(rows: list[DropRow]) -> ReportTable:
    def drop_text(iv: stats.Interval) -> str:
        return pct_ci(iv.estimate, iv.low, iv.high) if iv.estimate is not None else "- (0%)"

    return ReportTable(
        key="munjal_drop",
        title="relative drop MATH-500 -> MATH-P-Hard",
        columns=["role", "setting", "metric", "n_math500", "n_hard", "math500", "hard",
                 "drop", "low", "high", "paper"],
        rows=[[r.role, r.setting, r.metric, r.n_math500, r.n_hard, r.math500, r.hard,
               r.drop.estimate, r.drop.low, r.drop.high, r.paper] for r in rows],
        display_columns=["role", "setting", "MATH-500", "MATH-P-Hard", "relative drop [95% CI]",
                         "paper"],
        display_rows=[[f"{r.role} ({r.metric})", r.setting, f"{pct(r.math500)} n={r.n_math500}",
                       f"{pct(r.hard)} n={r.n_hard}", drop_text(r.drop), r.paper] for r in rows],
        note="different items: each benchmark resampled on its own (percentile bootstrap); "
        "undefined when MATH-500 accuracy is 0",
        right={2, 3, 4},
    )


@dataclass(frozen=True)
class GraderRow:
    dataset: str
    setting: str
    role: str
    grader: str
    n: int
    accuracy: float | None
    answers: int  # answers both graders judged
    changed: float | None  # share of those answers whose verdict differs from the primary's


CHANGED_SQL = """
SELECT g.dataset, g.mode, g.shots, g.role, count(*),
       count(*) FILTER (WHERE coalesce(g.correct, false) <> coalesce(x.correct, false))
FROM generations g JOIN grades x ON x.generation_id = g.generation_id AND x.grader = ?
WHERE g.run_id IN ({runs}) AND x.rule <> 'error'
  AND coalesce(g.finish_reason, '') <> 'cancelled'
GROUP BY ALL
"""


def grader_rows(
    store: Store,
    preset: PresetSpec,
    runs_by_dataset: dict[str, list[str]],
    graders: list[str],
    *,
    samples: int | None = None,
) -> list[GraderRow]:
    """Accuracy under the primary (rule) grader and under each other grader, side by side."""
    from engine.analysis.labels import setting_label

    out = []
    for dataset, run_ids in runs_by_dataset.items():
        changed: dict[tuple[str, str, str], tuple[int, int]] = {}
        for grader in graders:
            sql = CHANGED_SQL.format(runs=", ".join("?" * len(run_ids)))
            for _ds, mode, shots, role, n, k in store.query(sql, [grader, *run_ids]).rows:
                changed[(grader, setting_label(mode, shots or 0), role)] = (n, k)
        for grader in ["primary", *graders]:
            f = ReportFilters(grader=None if grader == "primary" else grader)
            values, _, _ = preset_values(store, preset, run_ids, samples=samples, filters=f)
            for role in ("base", "instruct"):
                for (setting, variant), items in sorted(values.get(role, {}).items()):
                    if variant != ORIGINAL:
                        continue
                    vals = list(items.values())
                    n, k = changed.get((grader, setting, role), (0, 0))
                    out.append(GraderRow(
                        dataset, setting, role, grader, len(vals),
                        sum(vals) / len(vals) if vals else None, n,
                        (k / n if n else None) if grader != "primary" else None,
                    ))
    return out


def grader_table(rows: list[GraderRow]) -> ReportTable:
    graders = list(dict.fromkeys(r.grader for r in rows))
    keys = list(dict.fromkeys((r.dataset, r.setting, r.role) for r in rows))
    by = {(r.dataset, r.setting, r.role, r.grader): r for r in rows}
    disp_cols = ["benchmark", "setting", "role"]
    for g in graders:
        name = "rule grader (recorded)" if g == "primary" else g
        disp_cols.append(name)
        if g != "primary":
            disp_cols.append(f"changed by {g}")
    disp_rows = []
    for d, s, role in keys:
        row = [d, s, role]
        for g in graders:
            r = by.get((d, s, role, g))
            row.append(pct(r.accuracy) if r else "-")
            if g != "primary":
                row.append(f"{pct(r.changed)} of {r.answers}" if r and r.answers else "-")
        disp_rows.append(row)
    return ReportTable(
        key="munjal_graders",
        title="graders side by side",
        columns=["dataset", "setting", "role", "grader", "n", "accuracy", "answers", "changed"],
        rows=[[r.dataset, r.setting, r.role, r.grader, r.n, r.accuracy, r.answers, r.changed]
              for r in rows],
        display_columns=disp_cols,
        display_rows=disp_rows,
        note="accuracy with the role's metric; changed: share of recorded answers whose verdict "
        "differs from the rule grader's",
        right=set(range(3, len(disp_cols))),
    )
