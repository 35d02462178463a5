"""Pilot tests of the Report screen (F6) on a prefilled store: tables, plots, filters, keys."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from test_tui_support import NoModels, fill_store, wait_for
from textual.pilot import Pilot
from textual.widgets import DataTable, Select, SelectionList
from textual_plotext import PlotextPlot

from engine.analysis.report import build_report
from engine.run.runner import RunConfig
from engine.store.store import Store
from tui.app import TunelensApp
from tui.screens.help import HelpScreen
from tui.screens.report import ReportScreen
from tui.screens.run_picker import RunPickerScreen
from tui.screens.runs import RunsScreen


def shift_rows(generation_id: str, classes: str) -> list[dict[str, Any]]:
    """token_shift rows as `tunelens shift` writes them: u/m/s per token."""
    names = {"u": ("unshifted", 1), "m": ("marginal", 2), "s": ("shifted", 9)}
    return [
        {"generation_id": generation_id, "position": i, "token_id": 100 + i, "token": f" t{i}",
         "rank": names[c][1], "prob": 0.5, "base_top_id": 7, "base_top": " x",
         "base_top_prob": 0.6, "shift": names[c][0], "scorer_sha256": "0" * 64}
        for i, c in enumerate(classes)
    ]


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    store = fill_store(tmp_path / "store.duckdb")
    store.insert_token_shift(shift_rows("g001-run-a-instruct", "uuumsuuuus"))
    return store


def make_app(tmp_path: Path, store: Store, mode: str = "report") -> TunelensApp:
    return TunelensApp(RunConfig(pair="demo", dataset="embedded"), store,
                       history_file=tmp_path / "history.json", session_factory=NoModels,
                       start_mode=mode)


async def report_ready(pilot: Pilot[Any], builds: int = 1) -> ReportScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ReportScreen))
    screen = pilot.app.screen
    assert isinstance(screen, ReportScreen)
    await wait_for(pilot, lambda: screen.builds >= builds and not screen.building)
    await pilot.pause(0.05)
    return screen


async def set_filter(pilot: Pilot[Any], screen: ReportScreen, selector: str, value: str) -> None:
    builds = screen.builds
    screen.query_one(selector, Select).value = value
    await wait_for(pilot, lambda: screen.builds > builds and not screen.building)


async def test_report_tables_plots_and_filters(tmp_path: Path, store: Store) -> None:
    async with make_app(tmp_path, store).run_test(size=(80, 24)) as pilot:
        screen = await report_ready(pilot)
        expected = build_report(store)
        assert screen.report is not None and screen.last_error is None
        assert screen.report.accuracy == expected.accuracy  # the engine's numbers, as they are
        status = str(screen.query_one("#report-status").render())
        assert "all runs · 2 runs · 8 answers" in status

        # One grid per analysis with rows; the empty ones say what they need.
        grids = {t.id for t in screen.query(DataTable)}
        for key in ("runs", "accuracy", "paired", "drops", "shift", "shift_positions",
                    "shift_tokens", "shift_answers"):
            assert f"table-{key}" in grids, key
        accuracy = screen.query_one("#table-accuracy", DataTable)
        assert accuracy.row_count == len(expected.accuracy) == 6
        labels = [str(c.label) for c in accuracy.columns.values()]
        assert "accuracy [95% CI]" in labels and labels[-1] == "model"
        cells = [str(c) for c in accuracy.get_row_at(0)]
        row = expected.accuracy[0]
        assert f"{row.accuracy:.1%} [{row.low:.1%}, {row.high:.1%}]" in cells
        paired = screen.query_one("#table-paired", DataTable)
        assert any("McNemar p" in str(c.label) for c in paired.columns.values())
        shift = screen.query_one("#table-shift", DataTable)
        assert any(str(c) == "20.0%" for c in shift.get_row_at(0))  # 2 of 10 tokens shifted
        text = " ".join(str(s.render()) for s in screen.query(".report-note"))
        assert "dataset embedded" in text  # one dataset: said once, above the tables
        assert "needs a zero-shot and a few-shot mode" in text  # gains: empty, with a reason
        assert "needs instruct zero-shot and base few-shot" in text  # convergence

        # Plots: accuracy bars, original -> perturbed slopes, the drops with their intervals,
        # token shift by position.
        plots = list(screen.query(PlotextPlot))
        assert [p.kind for p in screen.plots] == ["bar", "slope", "interval", "stacked"]
        assert len(plots) == 4
        await pilot.press("g")
        await pilot.pause()
        body = screen.query_one("#report-body")
        title = screen.query_one("#plots-title").virtual_region.y
        assert body.scroll_y == min(title, body.max_scroll_y) > 0
        assert plots[0].region.height > 10 and "accuracy" in str(plots[0].render())

        # n / p jump between sections.
        body.scroll_home(animate=False, immediate=True)
        await pilot.press("n")
        first = body.scroll_y
        await pilot.press("n")
        assert body.scroll_y > first
        await pilot.press("p")
        assert body.scroll_y == first

        # Filters: one run, a dataset, a pair (the menus offer what the store has).
        dataset = screen.query_one("#r-dataset", Select)
        assert [v for _, v in dataset._options][1:] == ["embedded"]
        await set_filter(pilot, screen, "#r-run", "run-b")
        assert screen.report.filters.runs == ("run-b",)
        assert {r.setting for r in screen.report.accuracy} == {"zero-shot"}
        assert screen.report.shift is None and not screen.query("#table-shift")
        await set_filter(pilot, screen, "#r-pair", "tiny")
        assert screen.report.filters.pair == "tiny" and len(screen.report.accuracy) == 2
        await set_filter(pilot, screen, "#r-dataset", "embedded")
        assert screen.report.filters.dataset == "embedded"
        await set_filter(pilot, screen, "#r-run", "*")
        assert screen.report.filters.runs == () and len(screen.report.accuracy) == 6

        # u picks several runs; the run menu then says how many.
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunPickerScreen))
        picker = pilot.app.screen.query_one(SelectionList)
        picker.select_all()
        builds = screen.builds
        await pilot.press("a")
        await wait_for(pilot, lambda: screen.builds > builds and not screen.building)
        assert set(screen.report.filters.runs) == {"run-a", "run-b"}
        assert str(screen.query_one("#r-run", Select).value) == "\0several"

        # F5 rebuilds from the store (a new run shows up), where the reader was.
        store.start_run({"run_id": "run-c", "config_hash": "c", "pair": "other",
                         "dataset": "embedded", "kind": "app", "started_at": datetime(2026, 1, 3)})
        await pilot.press("n", "n")
        here = body.scroll_y
        assert here > 0
        await pilot.press("f5")
        await wait_for(pilot, lambda: screen.builds > builds + 1 and not screen.building)
        assert "run-c" in [r.run_id for r in screen.run_rows]
        assert body.scroll_y == here


async def test_report_builds_in_a_worker(tmp_path: Path, store: Store,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.analysis.report

    real = engine.analysis.report.build_report
    gate = threading.Event()

    def held(*args: Any, **kw: Any) -> Any:
        gate.wait(20)  # the build cannot finish until the test has used the UI
        return real(*args, **kw)

    monkeypatch.setattr(engine.analysis.report, "build_report", held)
    async with make_app(tmp_path, store).run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ReportScreen))
        screen = pilot.app.screen
        assert isinstance(screen, ReportScreen)
        assert screen.building
        assert "Building" in str(screen.query_one("#report-status").render())
        await pilot.press("f1")  # the UI answers while the report is being built
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), timeout=5)
        await pilot.press("escape")
        await wait_for(pilot, lambda: pilot.app.screen is screen, timeout=5)
        assert screen.building and screen.builds == 0
        gate.set()
        await wait_for(pilot, lambda: screen.builds >= 1)
        assert screen.report is not None


async def test_report_on_empty_store(tmp_path: Path) -> None:
    async with make_app(tmp_path, Store(tmp_path / "empty.duckdb")).run_test(
            size=(80, 24)) as pilot:
        screen = await report_ready(pilot)
        assert screen.report is None and screen.last_error is None
        assert "No runs recorded yet" in str(screen.query_one(".report-note").render())


async def test_f6_help_and_palette(tmp_path: Path, store: Store) -> None:
    app = make_app(tmp_path, store, mode="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        await pilot.press("f6")
        await report_ready(pilot)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        rows = {(where, keys) for where, keys, _ in help_screen.rows}
        for row in [("Everywhere", "f6"), ("Report", "f5 / ctrl+r"), ("Report", "u"),
                    ("Report", "g"), ("Report", "n"), ("Compare", "t"),
                    ("Recorded answer", "t")]:
            assert row in rows, row
        await pilot.press("escape")
        commands = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Report screen", "Rebuild the report", "Pick runs for the report"} <= commands
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        await pilot.press("f6")  # back to the same report, not rebuilt
        await wait_for(pilot, lambda: isinstance(app.screen, ReportScreen))
        assert app.screen.builds == 1  # type: ignore[attr-defined]
