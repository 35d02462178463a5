"""A reproduction preset's table in its paper's layout: one row per model role, one column per
(setting, variant), accuracy with a 95% interval, and the instruct-minus-base difference paired on
items. The presets themselves (what is run) are engine.run.presets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from engine.analysis.accuracy import accuracy_of, compare_items
from engine.analysis.labels import p_text, pct_ci, signed_pp
from engine.analysis.rows import ReportFilters, item_outcomes, load_answers
from engine.analysis.stats import Proportion
from engine.analysis.table import ReportTable
from engine.records import ORIGINAL

if TYPE_CHECKING:
    from engine.store.store import Store


class PresetRunSpec(Protocol):
    """What the table needs of one run of a preset (engine.run.presets.PresetRun)."""

    @property
    def roles(self) -> Sequence[str]: ...

    @property
    def strategy(self) -> str: ...

    def metric(self, samples: int) -> str: ...


class PresetSpec(Protocol):
    """What the table needs of a preset (engine.run.presets.Preset)."""

    @property
    def name(self) -> str: ...

    @property
    def samples(self) -> int: ...

    @property
    def runs(self) -> Sequence[PresetRunSpec]: ...


@dataclass(frozen=True)
class PresetCell:
    n: int
    accuracy: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class PresetDiff:
    n: int  # items answered by both roles
    difference: float | None  # instruct - base
    low: float | None
    high: float | None
    p_value: float | None
    test: str


@dataclass
class PresetTable:
    """Rows per role, columns per (setting, variant); `diffs` is the instruct - base row."""

    preset: str
    columns: list[tuple[str, str]]  # (setting, variant)
    metrics: dict[str, str]  # role -> metric shown
    cells: dict[str, dict[tuple[str, str], PresetCell]]
    diffs: dict[tuple[str, str], PresetDiff]
    dataset: str

    def column_title(self, col: tuple[str, str]) -> str:
        setting, variant = col
        mode, _, shots = setting.partition("/")
        name = {"zero-shot-cot": "zero-shot CoT", "zero-shot": "zero-shot"}.get(mode)
        name = name or f"{shots}-shot CoT"
        return f"{name} · {variant}"

    def as_report_table(self) -> ReportTable:
        cols = [(self.column_title(c)) for c in self.columns]
        disp_rows = []
        raw_rows = []
        for role in ("base", "instruct"):
            if role not in self.cells:
                continue
            cells = self.cells[role]
            disp_rows.append(
                [f"{role} ({self.metrics[role]})"]
                + [
                    pct_ci(cells[c].accuracy, cells[c].low, cells[c].high) + f" n={cells[c].n}"
                    if c in cells
                    else "-"
                    for c in self.columns
                ]
            )
            for c in self.columns:
                if c in cells:
                    x = cells[c]
                    raw_rows.append([role, self.metrics[role], c[0], c[1], x.n, x.accuracy,
                                     x.low, x.high, None, None])
        if self.diffs:
            disp_rows.append(
                ["instruct - base"]
                + [
                    signed_pp(d.difference, d.low, d.high)
                    + (f" p={p_text(d.p_value)}" if d.p_value is not None else "")
                    if (d := self.diffs.get(c)) is not None
                    else "-"
                    for c in self.columns
                ]
            )
            for c in self.columns:
                if (d := self.diffs.get(c)) is not None:
                    raw_rows.append(["instruct - base", "", c[0], c[1], d.n, d.difference, d.low,
                                     d.high, d.p_value, d.test])
        return ReportTable(
            key=f"preset_{self.preset}",
            title=f"{self.preset} on {self.dataset}",
            columns=["row", "metric", "setting", "variant", "n", "value", "low", "high",
                     "p_value", "test"],
            rows=raw_rows,
            display_columns=["model role", *cols],
            display_rows=disp_rows,
            note="accuracy [95% Wilson CI]; instruct - base: paired on items, bootstrap CI, "
            "McNemar p",
            right=set(range(1, len(cols) + 1)),
        )


Values = dict[str, dict[tuple[str, str], dict[str, float]]]  # role -> (setting, variant) -> item


def preset_values(
    store: Store,
    preset: PresetSpec,
    run_ids: list[str],
    *,
    samples: int | None = None,
    filters: ReportFilters | None = None,
) -> tuple[Values, dict[str, str], set[str]]:
    """Per role, (setting, variant) and item: the value of the role's metric in the preset's
    runs; also role -> metric shown, and the datasets seen."""
    filters = replace(filters or ReportFilters(), runs=tuple(run_ids))
    answers, _ = load_answers(store, filters)
    outcomes = item_outcomes(answers)
    k = samples or preset.samples
    metric_for: dict[str, str] = {}
    strategy_for: dict[str, str] = {}
    for run in preset.runs:
        for role in run.roles:
            metric_for[role] = run.metric(k)
            strategy_for[role] = run.strategy
    # pass@K is "any of the item's answers right": CoT-decoding may find fewer than K branches
    # for an item, so the metric is taken over the answers each item has.
    values: Values = {}
    datasets = set()
    for o in outcomes:
        role = o.role if o.role != "instruct-raw" else "instruct"
        if role not in metric_for or o.strategy != strategy_for[role]:
            continue
        wanted = "greedy" if o.strategy == "greedy" else f"pass@{o.n_answers}"
        if o.metric != wanted:
            continue
        datasets.add(o.dataset)
        values.setdefault(role, {}).setdefault((o.setting, o.variant), {})[o.item_id] = o.value
    return values, metric_for, datasets


def preset_table(
    store: Store,
    preset: PresetSpec,
    run_ids: list[str],
    *,
    samples: int | None = None,
    filters: ReportFilters | None = None,
) -> PresetTable:
    """Build the paper's table from the preset's runs (pairs items across the runs)."""
    filters = replace(filters or ReportFilters(), runs=tuple(run_ids))
    values, metric_for, datasets = preset_values(
        store, preset, run_ids, samples=samples, filters=filters
    )
    columns = sorted(
        {c for per in values.values() for c in per},
        key=lambda c: (c[0].partition("/")[0] != "zero-shot-cot", c[0], c[1] != ORIGINAL, c[1]),
    )
    cells: dict[str, dict[tuple[str, str], PresetCell]] = {}
    for role, per in values.items():
        for col, items in per.items():
            vals = list(items.values())
            acc = accuracy_of(vals, filters)
            est = acc.p if isinstance(acc, Proportion) else acc.estimate
            cells.setdefault(role, {})[col] = PresetCell(len(vals), est, acc.low, acc.high)
    diffs: dict[tuple[str, str], PresetDiff] = {}
    for col in columns:
        c = compare_items(
            values.get("base", {}).get(col, {}), values.get("instruct", {}).get(col, {}), filters
        )
        if c is None:
            continue
        diffs[col] = PresetDiff(
            c.n, c.diff.estimate, c.diff.low, c.diff.high,
            c.test.p_value if c.test else None, c.test.method if c.test else "n/a",
        )
    return PresetTable(
        preset.name, columns, metric_for, cells, diffs, ", ".join(sorted(datasets)) or "-"
    )
