"""Figures tell settings apart by line style and marker as well as colour, keep identical lines
from hiding each other, and draw the tables' own intervals as error bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_report import make_store

from engine.analysis import build_report
from engine.render.plots import build_figures, close_figures, series_styles, terminal_plots
from engine.store.store import Store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return make_store(tmp_path_factory.mktemp("plots") / "p.duckdb")


def lines_of(ax: Any) -> list[Any]:
    return [ln for ln in ax.get_lines() if ln.get_label() and not ln.get_label().startswith("_")]


def test_series_styles_are_distinct_even_past_the_style_lists() -> None:
    keys = [(role, f"setting-{i}") for role in ("base", "instruct") for i in range(12)]
    styles = series_styles(keys)
    assert len(set(styles.values())) == len(keys)
    # Two settings of one role share a colour but differ in line style and marker.
    a, b = styles[("base", "setting-0")], styles[("base", "setting-1")]
    assert a.color == b.color and a.linestyle != b.linestyle and a.marker != b.marker


def test_slope_lines_differ_in_more_than_colour_and_do_not_overlap(store: Store) -> None:
    report = build_report(store)
    figures = build_figures(report)
    try:
        slope = next(f for f in figures if f.stem.startswith("perturbation-"))
        lines = lines_of(slope.fig.axes[0])
        assert len(lines) == 4  # base/instruct x zero-shot/few-shot
        triples = {(ln.get_color(), ln.get_linestyle(), ln.get_marker()) for ln in lines}
        assert len(triples) == 4
        base = [ln for ln in lines if ln.get_label().startswith("base")]
        assert len({ln.get_color() for ln in base}) == 1  # colour is the role...
        assert len({(ln.get_linestyle(), ln.get_marker()) for ln in base}) == 2  # ...not all
        xs = {tuple(ln.get_xdata()) for ln in lines}
        assert len(xs) == 4  # each line at its own small x offset: none hides another
    finally:
        close_figures(figures)


def test_drop_figure_error_bars_are_the_table_intervals(store: Store) -> None:
    report = build_report(store)
    figures = build_figures(report)
    try:
        fig = next(f for f in figures if f.stem == "drops-p-greedy-greedy")
        ax = fig.fig.axes[0]
        bars = ax.containers
        assert len(bars) == len(report.drops) == 4
        undefined = 0
        for row, bar in zip(report.drops, bars, strict=True):
            data_line, _caps, segments = bar.lines
            assert data_line.get_xdata()[0] == pytest.approx(row.relative_drop)
            if row.drop_low is None:  # the table says [n/a]: no bar either
                assert segments == ()
                undefined += 1
                continue
            (x0, _), (x1, _) = segments[0].get_segments()[0]
            assert (x0, x1) == (pytest.approx(row.drop_low), pytest.approx(row.drop_high))
        assert undefined < len(bars)
        markers = {(b.lines[0].get_color(), b.lines[0].get_marker()) for b in bars}
        assert len(markers) == 4
    finally:
        close_figures(figures)


def test_svg_has_one_path_style_per_series(store: Store, tmp_path: Path) -> None:
    from engine.render import write_plots

    paths = write_plots(build_report(store), tmp_path, ("svg",))
    svg = next(p for p in paths if p.name.startswith("perturbation-")).read_text()
    assert "stroke-dasharray" in svg  # dashed and dotted settings, not only solid lines


def test_terminal_slopes_differ_in_marker_and_x(store: Store) -> None:
    plots = [p for p in terminal_plots(build_report(store)) if p.kind == "slope"]
    assert plots
    for p in plots:
        base = [s for s in p.series if s.name.startswith("base")]
        assert len({s.marker for s in base}) == len(base) == 2
        assert len({tuple(s.x or ()) for s in p.series}) == len(p.series)


def test_terminal_drop_plot_carries_the_table_intervals(store: Store) -> None:
    import plotext

    from engine.render.plots import draw_plotext

    report = build_report(store)
    plot = next(p for p in terminal_plots(report) if p.kind == "interval")
    assert [(s.values[0], s.low, s.high) for s in plot.series] == [
        (r.relative_drop, [r.drop_low], [r.drop_high]) for r in report.drops]
    draw_plotext(plot, plotext)
    plotext.plotsize(80, 20)
    assert plotext.build()
