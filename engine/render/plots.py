"""Figures for a report: PNG/SVG files (matplotlib, Agg) and series for a terminal plot widget.

Why two outputs from one place: `tunelens report --plot-dir` writes files for papers and slides,
and the app's Report screen draws the same data with plotext in the terminal. `terminal_plots`
returns plain data (labels and series) and `draw_plotext` draws one onto any plotext-like object
(`plotext` itself, or the `plt` of a textual-plotext widget), so the screen needs no plotting code.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.analysis.labels import decoding_label

if TYPE_CHECKING:
    from engine.analysis.convergence import Convergence
    from engine.analysis.report import Report

ROLE_COLORS = {"base": "#4C72B0", "instruct": "#DD8452", "instruct-raw": "#55A868"}
SHIFT_COLORS = {"unshifted": "#8fbf8f", "marginal": "#f0c05a", "shifted": "#d9534f"}
FORMATS = ("png", "svg")


def _slug(*parts: str) -> str:
    text = "-".join(p for p in parts if p)
    return re.sub(r"[^A-Za-z0-9_.@+-]+", "_", text).strip("_") or "plot"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, directory: Path, stem: str, formats: Sequence[str]) -> list[Path]:
    paths = []
    for fmt in formats:
        path = directory / f"{stem}.{fmt}"
        fig.savefig(path, format=fmt, bbox_inches="tight", dpi=150 if fmt == "png" else None)
        paths.append(path)
    return paths


def write_plots(
    report: Report, directory: str | Path, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Write every figure that applies to the report; returns the files written."""
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"plot format must be one of {FORMATS}, not {fmt!r}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    paths: list[Path] = []
    try:
        paths += _accuracy_figures(plt, report, out, formats)
        paths += _slope_figures(plt, report, out, formats)
        paths += _convergence_figures(plt, report, out, formats)
        paths += _shift_figures(plt, report, out, formats)
    finally:
        plt.close("all")
    return paths


# -- accuracy bars --------------------------------------------------------------------------------


def _accuracy_groups(report: Report) -> dict[tuple[str, ...], list[Any]]:
    groups: dict[tuple[str, ...], list[Any]] = defaultdict(list)
    for row in report.accuracy:
        groups[(row.pair, row.dataset, row.strategy, row.metric)].append(row)
    return groups


def _accuracy_figures(plt: Any, report: Report, out: Path, formats: Sequence[str]) -> list[Path]:
    import numpy as np

    paths = []
    for (pair, dataset, strategy, metric), rows in _accuracy_groups(report).items():
        cats = list(dict.fromkeys((r.setting, r.variant) for r in rows))
        roles = list(dict.fromkeys(r.role for r in rows))
        width = 0.8 / len(roles)
        fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(cats) + 2), 4), layout="constrained")
        x = np.arange(len(cats))
        for i, role in enumerate(roles):
            by_cat = {(r.setting, r.variant): r for r in rows if r.role == role}
            vals, lo, hi = [], [], []
            for c in cats:
                r = by_cat.get(c)
                v = r.accuracy if r and r.accuracy is not None else np.nan
                vals.append(v)
                lo.append(v - r.low if r and r.low is not None else 0.0)
                hi.append(r.high - v if r and r.high is not None else 0.0)
            ax.bar(
                x + (i - (len(roles) - 1) / 2) * width,
                vals,
                width,
                yerr=[lo, hi],
                capsize=3,
                label=role,
                color=ROLE_COLORS.get(role),
            )
        ax.set_xticks(x, [f"{s}\n{v}" for s, v in cats], fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"accuracy ({metric})")
        title = decoding_label(strategy, metric)
        ax.set_title(f"{pair} · {dataset} · {title}: accuracy with 95% intervals")
        ax.legend()
        paths += _save(fig, out, _slug("accuracy", pair, dataset, strategy, metric), formats)
        plt.close(fig)
    return paths


# -- original vs perturbed slopes -----------------------------------------------------------------


def _slope_figures(plt: Any, report: Report, out: Path, formats: Sequence[str]) -> list[Path]:
    groups: dict[tuple[str, ...], list[Any]] = defaultdict(list)
    for row in report.drops:
        groups[(row.pair, row.dataset, row.strategy, row.metric)].append(row)
    paths = []
    for (pair, dataset, strategy, metric), rows in groups.items():
        perts = list(dict.fromkeys(r.perturbation for r in rows))
        fig, axes = plt.subplots(
            1, len(perts), figsize=(3.6 * len(perts) + 1, 4.4), squeeze=False, layout="constrained"
        )
        for ax, pert in zip(axes[0], perts, strict=True):
            for r in (r for r in rows if r.perturbation == pert):
                style = "-" if r.setting.startswith("few") else "--"
                ax.plot(
                    [0, 1],
                    [r.original_accuracy, r.perturbed_accuracy],
                    style,
                    marker="o",
                    color=ROLE_COLORS.get(r.role),
                    label=f"{r.role} {r.setting} (n={r.n})",
                )
            ax.set_xticks([0, 1], ["original", pert])
            ax.set_xlim(-0.2, 1.2)
            ax.set_ylim(0, 1)
            ax.set_title(pert)
            ax.legend(fontsize=7)
        axes[0][0].set_ylabel(f"accuracy ({metric})")
        fig.suptitle(
            f"{pair} · {dataset} · {decoding_label(strategy, metric)}: original vs perturbed "
            "(same items)",
            fontsize=10,
        )
        paths += _save(fig, out, _slug("perturbation", pair, dataset, strategy, metric), formats)
        plt.close(fig)
    return paths


# -- convergence scatter --------------------------------------------------------------------------


def _corr_title(c: Convergence) -> str:
    if c.few.spearman_r is None:
        return c.few.note
    return (
        f"Spearman {c.few.spearman_r:+.2f} (p={c.few.spearman_p:.3f}), "
        f"Pearson {c.few.pearson_r:+.2f} (p={c.few.pearson_p:.3f}), {c.few.n} tasks"
    )


def _convergence_figures(
    plt: Any, report: Report, out: Path, formats: Sequence[str]
) -> list[Path]:
    paths = []
    for c in report.convergence:
        fig, ax = plt.subplots(figsize=(5.5, 5), layout="constrained")
        xs = [t.instruct_zero for t in c.tasks]
        ax.plot([0, 1], [0, 1], ":", color="grey", linewidth=1)
        ax.scatter(xs, [t.base_few for t in c.tasks], color=ROLE_COLORS["base"],
                   label=f"base {c.base_few_setting}")
        zero = [(t.instruct_zero, t.base_zero) for t in c.tasks if t.base_zero is not None]
        if zero:
            ax.scatter([z[0] for z in zero], [z[1] for z in zero], facecolors="none",
                       edgecolors=ROLE_COLORS["base"], label=f"base {c.base_zero_setting} "
                       "(baseline)")
        for t in c.tasks:
            ax.annotate(f"{t.dataset}/{t.variant}", (t.instruct_zero, t.base_few), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(f"{c.instruct_role} {c.instruct_setting} accuracy")
        ax.set_ylabel("base accuracy")
        ax.set_title(
            f"{c.pair} · {decoding_label(c.strategy, c.metric)}\n{_corr_title(c)}", fontsize=9
        )
        ax.legend(fontsize=8, loc="upper left")
        stem = _slug("convergence", c.pair, c.strategy, c.metric, c.instruct_setting,
                     c.base_few_setting)
        paths += _save(fig, out, stem, formats)
        plt.close(fig)
    return paths


# -- token shift ----------------------------------------------------------------------------------


def _shift_figures(plt: Any, report: Report, out: Path, formats: Sequence[str]) -> list[Path]:
    if report.shift is None or not report.shift.positions:
        return []
    rows = report.shift.positions
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    labels = [p.bucket for p in rows]
    bottom = [0.0] * len(rows)
    for cls in ("unshifted", "marginal", "shifted"):
        vals = [getattr(p, cls) for p in rows]
        ax.bar(labels, vals, bottom=bottom, label=cls, color=SHIFT_COLORS[cls])
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_xlabel("answer token position")
    ax.set_ylabel("share of tokens")
    ax.set_ylim(0, 1)
    ax.set_title("token distribution shift by position (instruct tokens ranked by base)")
    ax.legend(fontsize=8)
    paths = _save(fig, out, "token-shift-positions", formats)
    plt.close(fig)
    return paths


# -- terminal plots -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One named series; `x` is set for scatter/line plots, otherwise values follow `labels`."""

    name: str
    values: list[float]
    x: list[float] | None = None
    low: list[float | None] | None = None
    high: list[float | None] | None = None


@dataclass(frozen=True)
class TerminalPlot:
    """Plain data for one terminal plot. kind: 'bar' (grouped), 'stacked', 'scatter' or 'slope'."""

    key: str
    title: str
    kind: str
    labels: list[str]
    series: list[Series]
    x_label: str = ""
    y_label: str = ""
    y_range: tuple[float, float] | None = (0.0, 1.0)
    notes: list[str] = field(default_factory=list)


def terminal_plots(report: Report) -> list[TerminalPlot]:
    """The report's figures as plotext-ready series (the same data as the image files)."""
    plots: list[TerminalPlot] = []
    for (pair, dataset, strategy, metric), rows in _accuracy_groups(report).items():
        cats = list(dict.fromkeys((r.setting, r.variant) for r in rows))
        roles = list(dict.fromkeys(r.role for r in rows))
        series = []
        for role in roles:
            by_cat = {(r.setting, r.variant): r for r in rows if r.role == role}
            vals = [
                (by_cat[c].accuracy or 0.0) if c in by_cat else 0.0 for c in cats
            ]
            series.append(
                Series(
                    role,
                    vals,
                    low=[by_cat[c].low if c in by_cat else None for c in cats],
                    high=[by_cat[c].high if c in by_cat else None for c in cats],
                )
            )
        plots.append(
            TerminalPlot(
                _slug("accuracy", pair, dataset, strategy, metric),
                f"{dataset} {strategy} {metric}: accuracy",
                "bar",
                [f"{s} {v}" for s, v in cats],
                series,
                y_label="accuracy",
            )
        )
    slope_groups: dict[tuple[str, ...], list[Any]] = defaultdict(list)
    for row in report.drops:
        slope_groups[(row.pair, row.dataset, row.strategy, row.metric, row.perturbation)].append(
            row
        )
    for (pair, dataset, strategy, metric, pert), rows in slope_groups.items():
        plots.append(
            TerminalPlot(
                _slug("perturbation", pair, dataset, strategy, metric, pert),
                f"{dataset} {strategy} {metric}: original -> {pert}",
                "slope",
                ["original", pert],
                [
                    Series(
                        f"{r.role} {r.setting}",
                        [r.original_accuracy or 0.0, r.perturbed_accuracy or 0.0],
                        x=[0.0, 1.0],
                    )
                    for r in rows
                ],
                y_label="accuracy",
            )
        )
    for c in report.convergence:
        xs = [t.instruct_zero for t in c.tasks]
        series = [Series(f"base {c.base_few_setting}", [t.base_few for t in c.tasks], x=xs)]
        zero = [t for t in c.tasks if t.base_zero is not None]
        if zero:
            series.append(
                Series(
                    f"base {c.base_zero_setting} (baseline)",
                    [t.base_zero or 0.0 for t in zero],
                    x=[t.instruct_zero for t in zero],
                )
            )
        plots.append(
            TerminalPlot(
                _slug("convergence", c.pair, c.strategy, c.metric),
                f"convergence {c.strategy} {c.metric}: {_corr_title(c)}",
                "scatter",
                [f"{t.dataset}/{t.variant}" for t in c.tasks],
                series,
                x_label=f"{c.instruct_role} {c.instruct_setting}",
                y_label="base",
                notes=[c.few.note] if c.few.note else [],
            )
        )
    if report.shift is not None and report.shift.positions:
        rows = report.shift.positions
        plots.append(
            TerminalPlot(
                "token-shift-positions",
                "token shift by position",
                "stacked",
                [p.bucket for p in rows],
                [Series(cls, [getattr(p, cls) for p in rows]) for cls in SHIFT_COLORS],
                x_label="position",
                y_label="share",
            )
        )
    return plots


_PLOTEXT_COLORS = {"base": "blue", "instruct": "orange", "instruct-raw": "green",
                   "unshifted": "green", "marginal": "yellow", "shifted": "red"}


def draw_plotext(plot: TerminalPlot, plt: Any) -> None:
    """Draw `plot` with a plotext-like object (`import plotext as plt`, or a widget's `plt`)."""
    plt.clear_figure()
    plt.title(plot.title)
    colors = [_PLOTEXT_COLORS.get(s.name.split(" ")[0]) for s in plot.series]
    if plot.kind == "bar":
        plt.multiple_bar(
            plot.labels,
            [s.values for s in plot.series],
            labels=[s.name for s in plot.series],
            color=[c or "default" for c in colors],
        )
    elif plot.kind == "stacked":
        plt.stacked_bar(
            plot.labels,
            [s.values for s in plot.series],
            labels=[s.name for s in plot.series],
            color=[c or "default" for c in colors],
        )
    elif plot.kind == "slope":
        for s, c in zip(plot.series, colors, strict=True):
            plt.plot(s.x or [0.0, 1.0], s.values, label=s.name, marker="dot", color=c or "default")
        plt.xticks([0.0, 1.0], plot.labels)
    else:
        plt.plot([0.0, 1.0], [0.0, 1.0], color="gray")
        for s, c in zip(plot.series, colors, strict=True):
            plt.scatter(s.x or [], s.values, label=s.name, color=c or "default")
    if plot.y_range is not None:
        plt.ylim(*plot.y_range)
    if plot.x_label:
        plt.xlabel(plot.x_label)
    if plot.y_label:
        plt.ylabel(plot.y_label)
