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

from engine.analysis.labels import decoding_label, pct_ci

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


@dataclass
class Figure:
    """One figure: its file stem, the matplotlib figure, and the rows it shows (the scope of
    engine.analysis.provenance and the columns that narrow it), for `report --explain`."""

    stem: str
    fig: Any
    scope: str
    restrict: dict[str, str] = field(default_factory=dict)
    title: str = ""


def build_figures(report: Report) -> list[Figure]:
    """Every figure that applies to the report (open matplotlib figures: close them)."""
    plt = _pyplot()
    return [
        *_accuracy_figures(plt, report),
        *_slope_figures(plt, report),
        *_drop_interval_figures(plt, report),
        *_convergence_figures(plt, report),
        *_shift_figures(plt, report),
    ]


def close_figures(figures: Sequence[Figure]) -> None:
    plt = _pyplot()
    for f in figures:
        plt.close(f.fig)


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
        for figure in build_figures(report):
            paths += _save(figure.fig, out, figure.stem, formats)
            plt.close(figure.fig)
    finally:
        plt.close("all")
    return paths


# -- telling series apart -------------------------------------------------------------------------

FALLBACK_COLORS = ("#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD")
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
HATCHES = ("", "//", "..", "xx", "\\\\", "++")


@dataclass(frozen=True)
class Style:
    color: str
    linestyle: str
    marker: str


def series_styles(keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Style]:
    """A distinct (colour, line style, marker) per (role, setting): colour by role, line style
    and marker by setting, so two settings of one role differ in more than colour and a reader
    without colour (or a print) still tells them apart. Unique within one figure."""
    roles = list(dict.fromkeys(k[0] for k in keys))
    settings = list(dict.fromkeys(k[1] for k in keys))
    out: dict[tuple[str, str], Style] = {}
    used: set[Style] = set()
    for role, setting in dict.fromkeys(keys):
        r = roles.index(role)
        color = ROLE_COLORS.get(role) or FALLBACK_COLORS[r % len(FALLBACK_COLORS)]
        i = settings.index(setting)
        style = Style(color, LINESTYLES[i % len(LINESTYLES)], MARKERS[i % len(MARKERS)])
        j = i
        while style in used:  # more settings than styles: walk on until the triple is new
            j += 1
            style = Style(color, LINESTYLES[j % len(LINESTYLES)],
                          MARKERS[(j + j // len(LINESTYLES)) % len(MARKERS)])
        used.add(style)
        out[(role, setting)] = style
    return out


def offsets(count: int, spread: float = 0.06) -> list[float]:
    """Small x shifts that keep identical lines or points from hiding each other."""
    if count <= 1:
        return [0.0] * count
    return [spread * (i - (count - 1) / 2) / (count - 1) * 2 for i in range(count)]


# -- accuracy bars --------------------------------------------------------------------------------


def _accuracy_groups(report: Report) -> dict[tuple[str, ...], list[Any]]:
    groups: dict[tuple[str, ...], list[Any]] = defaultdict(list)
    for row in report.accuracy:
        groups[(row.pair, row.dataset, row.strategy, row.metric)].append(row)
    return groups


def _accuracy_figures(plt: Any, report: Report) -> list[Figure]:
    import numpy as np

    figures = []
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
                color=ROLE_COLORS.get(role) or FALLBACK_COLORS[i % len(FALLBACK_COLORS)],
                hatch=HATCHES[i % len(HATCHES)],
                edgecolor="white",
            )
        ax.set_xticks(x, [f"{s}\n{v}" for s, v in cats], fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"accuracy ({metric})")
        title = decoding_label(strategy, metric)
        ax.set_title(f"{pair} · {dataset} · {title}: accuracy with 95% intervals")
        ax.legend()
        figures.append(Figure(_slug("accuracy", pair, dataset, strategy, metric), fig, "all",
                              {"pair": pair, "dataset": dataset, "strategy": strategy},
                              f"accuracy: {pair} {dataset} {title}"))
    return figures


# -- original vs perturbed slopes -----------------------------------------------------------------


def _slope_figures(plt: Any, report: Report) -> list[Figure]:
    groups: dict[tuple[str, ...], list[Any]] = defaultdict(list)
    for row in report.drops:
        groups[(row.pair, row.dataset, row.strategy, row.metric)].append(row)
    figures = []
    for (pair, dataset, strategy, metric), rows in groups.items():
        perts = list(dict.fromkeys(r.perturbation for r in rows))
        styles = series_styles([(r.role, r.setting) for r in rows])
        fig, axes = plt.subplots(
            1, len(perts), figsize=(3.6 * len(perts) + 1, 4.4), squeeze=False, layout="constrained"
        )
        for ax, pert in zip(axes[0], perts, strict=True):
            mine = [r for r in rows if r.perturbation == pert]
            for r, dx in zip(mine, offsets(len(mine)), strict=True):
                st = styles[(r.role, r.setting)]
                ax.plot(
                    [0 + dx, 1 + dx],
                    [r.original_accuracy, r.perturbed_accuracy],
                    linestyle=st.linestyle,
                    marker=st.marker,
                    color=st.color,
                    label=f"{r.role} {r.setting} (n={r.n}; drop "
                    f"{pct_ci(r.relative_drop, r.drop_low, r.drop_high)})",
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
        figures.append(Figure(_slug("perturbation", pair, dataset, strategy, metric), fig,
                              "drops", {"pair": pair, "dataset": dataset, "strategy": strategy},
                              f"original vs perturbed: {pair} {dataset}"))
    return figures


# -- drops with their intervals -------------------------------------------------------------------


@dataclass(frozen=True)
class DropPoint:
    """One row of a drop table as a point with its interval (the table's, as is)."""

    table: str  # drops, dataset_drops, linked_drops
    label: str
    role: str
    setting: str
    value: float
    low: float | None
    high: float | None


def drop_points(report: Report) -> dict[tuple[str, str, str], list[DropPoint]]:
    """(pair, strategy, metric) -> the relative drops of the three drop tables, in table order."""
    out: dict[tuple[str, str, str], list[DropPoint]] = defaultdict(list)
    for r in report.drops:
        if r.relative_drop is not None:
            out[(r.pair, r.strategy, r.metric)].append(DropPoint(
                "drops", f"{r.dataset}: original -> {r.perturbation}", r.role, r.setting,
                r.relative_drop, r.drop_low, r.drop_high))
    for d in report.dataset_drops:
        if d.relative_drop is not None:
            out[(d.pair, d.strategy, d.metric)].append(DropPoint(
                "dataset_drops", f"{d.source} -> {d.target} (unpaired)", d.role, d.setting,
                d.relative_drop, d.relative_low, d.relative_high))
    for k in report.linked_drops:
        if k.relative_drop is not None:
            out[(k.pair, k.strategy, k.metric)].append(DropPoint(
                "linked_drops", f"{k.source} -> {k.target} (by {k.via})", k.role, k.setting,
                k.relative_drop, k.relative_low, k.relative_high))
    return out


def _drop_interval_figures(plt: Any, report: Report) -> list[Figure]:
    figures = []
    for (pair, strategy, metric), points in drop_points(report).items():
        styles = series_styles([(p.role, p.setting) for p in points])
        fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(points) + 1.6), layout="constrained")
        labels = []
        seen: set[tuple[str, str]] = set()
        for y, p in enumerate(points):
            st = styles[(p.role, p.setting)]
            defined = p.low is not None and p.high is not None
            # An interval the table gives as n/a gets no bar (a zero-width one would look sure).
            xerr = [[p.value - p.low], [p.high - p.value]] if defined else None  # type: ignore[operator]
            key = (p.role, p.setting)
            ax.errorbar([p.value], [y], xerr=xerr, fmt=st.marker, color=st.color,
                        linestyle="none", capsize=3,
                        label=None if key in seen else f"{p.role} {p.setting}")
            seen.add(key)
            labels.append(f"{p.label} · {p.role} {p.setting}" + ("" if defined else
                                                                " (interval n/a)"))
        ax.axvline(0.0, color="grey", linewidth=0.8, linestyle=":")
        ax.set_yticks(range(len(points)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("relative drop (source - target) / source, 95% interval as in the tables")
        ax.set_title(f"{pair} · {decoding_label(strategy, metric)}: accuracy drops", fontsize=10)
        ax.legend(fontsize=7, loc="best")
        figures.append(Figure(_slug("drops", pair, strategy, metric), fig, "drop_tables",
                              {"pair": pair, "strategy": strategy},
                              f"accuracy drops: {pair} {decoding_label(strategy, metric)}"))
    return figures


# -- convergence scatter --------------------------------------------------------------------------


def _corr_title(c: Convergence) -> str:
    if c.few.spearman_r is None:
        return c.few.note
    return (
        f"Spearman {c.few.spearman_r:+.2f} (p={c.few.spearman_p:.3f}), "
        f"Pearson {c.few.pearson_r:+.2f} (p={c.few.pearson_p:.3f}), {c.few.n} tasks"
    )


def _convergence_figures(plt: Any, report: Report) -> list[Figure]:
    figures = []
    for c in report.convergence:
        fig, ax = plt.subplots(figsize=(5.5, 5), layout="constrained")
        xs = [t.instruct_zero for t in c.tasks]
        ax.plot([0, 1], [0, 1], ":", color="grey", linewidth=1)
        ax.scatter(xs, [t.base_few for t in c.tasks], color=ROLE_COLORS["base"], marker="o",
                   label=f"base {c.base_few_setting}")
        zero = [(t.instruct_zero, t.base_zero) for t in c.tasks if t.base_zero is not None]
        if zero:
            ax.scatter([z[0] for z in zero], [z[1] for z in zero], facecolors="none",
                       edgecolors="#2A3F66", marker="s", label=f"base {c.base_zero_setting} "
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
        figures.append(Figure(stem, fig, "all", {"pair": c.pair, "strategy": c.strategy},
                              f"convergence: {c.pair} {c.strategy}"))
    return figures


# -- token shift ----------------------------------------------------------------------------------


def _shift_figures(plt: Any, report: Report) -> list[Figure]:
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
    return [Figure("token-shift-positions", fig, "shift", {}, "token shift by position")]


# -- terminal plots -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One named series; `x` is set for scatter/line plots, otherwise values follow `labels`."""

    name: str
    values: list[float]
    x: list[float] | None = None
    low: list[float | None] | None = None
    high: list[float | None] | None = None
    marker: str = "dot"  # plotext marker: settings of one role differ in more than colour


@dataclass(frozen=True)
class TerminalPlot:
    """Plain data for one terminal plot. kind: 'bar' (grouped), 'stacked', 'scatter', 'slope' or
    'interval' (one point per series at x with its [low, high] drawn as a vertical bar)."""

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
        settings = list(dict.fromkeys(r.setting for r in rows))
        shifts = offsets(len(rows))
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
                        x=[0.0 + dx, 1.0 + dx],
                        marker=PLOTEXT_MARKERS[settings.index(r.setting) % len(PLOTEXT_MARKERS)],
                    )
                    for r, dx in zip(rows, shifts, strict=True)
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
                    marker="x",
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
    for (pair, strategy, metric), points in drop_points(report).items():
        settings = list(dict.fromkeys(p.setting for p in points))
        plots.append(
            TerminalPlot(
                _slug("drops", pair, strategy, metric),
                f"{pair} {strategy} {metric}: relative drops with 95% intervals",
                "interval",
                [str(i + 1) for i in range(len(points))],
                [
                    Series(
                        f"{p.role} {p.setting} {i + 1}: {p.label}",
                        [p.value],
                        x=[float(i + 1)],
                        low=[p.low],
                        high=[p.high],
                        marker=PLOTEXT_MARKERS[settings.index(p.setting) % len(PLOTEXT_MARKERS)],
                    )
                    for i, p in enumerate(points)
                ],
                x_label="row",
                y_label="relative drop",
                y_range=None,
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


PLOTEXT_MARKERS = ("dot", "x", "+", "*", "o", "#")
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
            plt.plot(s.x or [0.0, 1.0], s.values, label=s.name, marker=s.marker,
                     color=c or "default")
        plt.xticks([0.0, 1.0], plot.labels)
    elif plot.kind == "interval":
        for s, c in zip(plot.series, colors, strict=True):
            x = (s.x or [0.0])[0]
            lo, hi = (s.low or [None])[0], (s.high or [None])[0]
            if lo is not None and hi is not None:  # an interval the table gives as n/a: no bar
                plt.plot([x, x], [lo, hi], marker="│", color=c or "default")
            plt.scatter([x], s.values, label=s.name, marker=s.marker, color=c or "default")
        plt.xticks([float(i + 1) for i in range(len(plot.labels))], plot.labels)
        plt.xlim(0.5, len(plot.labels) + 0.5)
    else:
        plt.plot([0.0, 1.0], [0.0, 1.0], color="gray")
        for s, c in zip(plot.series, colors, strict=True):
            plt.scatter(s.x or [], s.values, label=s.name, marker=s.marker,
                        color=c or "default")
    if plot.y_range is not None:
        plt.ylim(*plot.y_range)
    if plot.x_label:
        plt.xlabel(plot.x_label)
    if plot.y_label:
        plt.ylabel(plot.y_label)
