"""Reproduction presets: a published protocol written down as data, run with the ordinary runner.

`instruct-vs-base` is the GSM8K protocol of Munjal et al. 2026 ("Do Instruction-Tuned Models Always
Perform Better Than Base Models?"): zero-shot CoT and 8-shot CoT, both roles, on the original items
and on perturbed ones (new numbers, gold recomputed). The paper decodes base models with
CoT-decoding and samples instruct models (K = 20, T = 0.05) and reports pass@20; the default preset
decodes greedily (one answer per question, affordable on a laptop) and `instruct-vs-base-pass-k`
follows the paper's decoding. The result is printed in the paper's layout: one row per model role,
one column per setting, accuracy with a 95% interval, and the instruct-minus-base difference.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from engine.analysis import stats
from engine.analysis.report import (
    ORIGINAL,
    ReportFilters,
    ReportTable,
    item_outcomes,
    load_answers,
    p_text,
    pct_ci,
    setting_label,
    signed_pp,
)
from engine.records import Decoding, Role

if TYPE_CHECKING:
    from engine.run.runner import RunConfig
    from engine.store.store import Store


@dataclass(frozen=True)
class PresetRun:
    """One run of a preset: which roles, decoded how, and which metric the table shows."""

    roles: tuple[Role, ...]
    strategy: str = "greedy"
    samples: int = 1  # answers per item (samples, or CoT-decoding branches)
    temperature: float = 0.0
    top_p: float = 1.0

    def metric(self, samples: int) -> str:
        """The table's metric for these roles: greedy, or pass@K over the K answers."""
        return "greedy" if self.strategy == "greedy" else f"pass@{samples}"


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    source: str
    datasets: tuple[str, ...]
    modes: tuple[str, ...]
    shots: int
    perturb: tuple[tuple[str, ...], ...]
    runs: tuple[PresetRun, ...]
    max_tokens: int = 512
    samples: int = 1  # default K for strategies that draw several answers

    @property
    def variants(self) -> tuple[str, ...]:
        return (ORIGINAL, *("+".join(g) for g in self.perturb))


MUNJAL = "Munjal et al. 2026, arXiv 2601.13244 (GSM8K: zero-shot CoT vs 8-shot CoT, perturbed)"

PRESETS: dict[str, Preset] = {
    "instruct-vs-base": Preset(
        name="instruct-vs-base",
        description="GSM8K zero-shot CoT and 8-shot CoT, both roles, original and numbers-"
        "perturbed items; greedy decoding (one answer per question)",
        source=MUNJAL,
        datasets=("gsm8k", "embedded", "gsm-plus", "gsm-symbolic", "file"),
        modes=("zero-shot-cot", "few-shot-cot"),
        shots=8,
        perturb=(("numbers",),),
        runs=(PresetRun(roles=("base", "instruct")),),
    ),
    "instruct-vs-base-pass-k": Preset(
        name="instruct-vs-base-pass-k",
        description="the same settings with the paper's decoding: base CoT-decoding over K "
        "first-token branches, instruct K samples at T=0.05; pass@K (K=20 unless --samples)",
        source=MUNJAL,
        datasets=("gsm8k", "embedded", "gsm-plus", "gsm-symbolic", "file"),
        modes=("zero-shot-cot", "few-shot-cot"),
        shots=8,
        perturb=(("numbers",),),
        runs=(
            PresetRun(roles=("base",), strategy="cot-decoding"),
            PresetRun(roles=("instruct",), strategy="sample", temperature=0.05, top_p=1.0),
        ),
        samples=20,
    ),
}


def preset_configs(
    preset: Preset,
    *,
    pair: str,
    dataset: str = "gsm8k",
    data_file: str | None = None,
    limit: int | None = None,
    shots: int | None = None,
    max_tokens: int | None = None,
    samples: int | None = None,
    seed: int = 0,
    models_file: str | None = None,
    train_file: str | None = None,
) -> list[RunConfig]:
    """The RunConfigs a preset runs (one per PresetRun), ready for `run_headless`."""
    from engine.run.runner import RunConfig

    if dataset not in preset.datasets:
        raise ValueError(
            f"preset {preset.name} is defined for {', '.join(preset.datasets)}, not {dataset}"
        )
    k = samples or preset.samples
    configs = []
    for run in preset.runs:
        n = 1 if run.strategy == "greedy" else k
        decoding = Decoding(
            strategy=run.strategy,  # type: ignore[arg-type]
            max_tokens=max_tokens or preset.max_tokens,
            temperature=run.temperature,
            top_p=run.top_p,
            seed=seed,
            samples=n,
        )
        configs.append(
            RunConfig(
                pair=pair,
                dataset=dataset,
                data_file=data_file,
                limit=limit,
                modes=preset.modes,
                shots=preset.shots if shots is None else shots,
                train_file=train_file,
                perturb=preset.perturb,
                decoding=decoding,
                roles=run.roles,
                models_file=models_file,
            )
        )
    return configs


# -- the paper's table -----------------------------------------------------------------------------


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


def preset_table(
    store: Store,
    preset: Preset,
    run_ids: list[str],
    *,
    samples: int | None = None,
    filters: ReportFilters | None = None,
) -> PresetTable:
    """Build the paper's table from the preset's runs (pairs items across the runs)."""
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
    values: dict[str, dict[tuple[str, str], dict[str, float]]] = {}
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
    columns = sorted(
        {c for per in values.values() for c in per},
        key=lambda c: (c[0].partition("/")[0] != "zero-shot-cot", c[0], c[1] != ORIGINAL, c[1]),
    )
    cells: dict[str, dict[tuple[str, str], PresetCell]] = {}
    for role, per in values.items():
        for col, items in per.items():
            vals = list(items.values())
            if all(v in (0.0, 1.0) for v in vals):
                p = stats.proportion(int(sum(vals)), len(vals))
                cell = PresetCell(p.n, p.p, p.low, p.high)
            else:
                ci = stats.mean_ci(vals, resamples=filters.resamples, seed=filters.seed)
                cell = PresetCell(len(vals), ci.estimate, ci.low, ci.high)
            cells.setdefault(role, {})[col] = cell
    diffs: dict[tuple[str, str], PresetDiff] = {}
    for col in columns:
        b = values.get("base", {}).get(col, {})
        i = values.get("instruct", {}).get(col, {})
        common = sorted(set(b) & set(i))
        if not common:
            continue
        xs, ys = [b[c] for c in common], [i[c] for c in common]
        ci = stats.paired_difference_ci(xs, ys, resamples=filters.resamples, seed=filters.seed)
        test: Any = None
        if all(v in (0.0, 1.0) for v in xs + ys):
            test = stats.mcnemar([bool(v) for v in xs], [bool(v) for v in ys])
        diffs[col] = PresetDiff(
            len(common), ci.estimate, ci.low, ci.high,
            test.p_value if test else None, test.method if test else "n/a",
        )
    return PresetTable(
        preset.name, columns, metric_for, cells, diffs, ", ".join(sorted(datasets)) or "-"
    )


def describe(preset: Preset) -> str:
    runs = "; ".join(
        f"{'+'.join(r.roles)}: {r.strategy}"
        + (f" (T={r.temperature})" if r.strategy == "sample" else "")
        for r in preset.runs
    )
    modes = ", ".join(
        setting_label(m, preset.shots) if m == "few-shot-cot" else m for m in preset.modes
    )
    variants = ", ".join(preset.variants)
    return f"{preset.description}. Modes: {modes}. Variants: {variants}. Decoding: {runs}."
