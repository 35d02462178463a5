"""Snapshots of the main screens at 80x24, from fixed data: a prefilled store and tiny models.

Update after an intended change with `pytest tests/test_tui_snapshots.py --snapshot-update`
and look at the SVGs in tests/snapshots/ (the report opens them side by side).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from pytest_textual_snapshot import SVGImageExtension
from test_tui_support import NoModels, fill_store, tiny_models_file, wait_for
from textual.pilot import Pilot
from textual.widgets import DataTable

from engine.records import Decoding
from engine.run.runner import RunConfig
from engine.store import browse
from engine.store.store import Store
from tui.app import TunelensApp
from tui.screens.report import ReportScreen
from tui.screens.runs import RunsScreen
from tui.screens.sql import SqlScreen
from tui.screens.stored_compare import StoredCompareScreen

SIZE = (80, 24)


def _snapshot_dir(cls: type, *, test_location: Any) -> str:
    """Keep the SVGs in tests/snapshots/<module>/ rather than syrupy's __snapshots__."""
    return str(Path(test_location.filepath).parent / "snapshots" / test_location.basename)


SVGImageExtension.dirname = classmethod(_snapshot_dir)  # type: ignore[method-assign,assignment]


def store_app(tmp_path: Path, mode: str) -> TunelensApp:
    store = fill_store(tmp_path / "store.duckdb")
    return TunelensApp(RunConfig(pair="demo", dataset="embedded"), store,
                       history_file=tmp_path / "h.json", session_factory=NoModels,
                       start_mode=mode)


async def runs_loaded(pilot: Pilot[Any]) -> RunsScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen))
    screen = pilot.app.screen
    assert isinstance(screen, RunsScreen)
    await wait_for(pilot, lambda: screen.loads >= 1 and len(screen.answer_ids) == 2)
    screen.query_one("#runs-table", DataTable).move_cursor(row=2)  # run-a
    await wait_for(pilot, lambda: len(screen.answer_ids) == 6)
    await pilot.pause(0.2)
    return screen


def test_runs_screen(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await runs_loaded(pilot)

    assert snap_compare(store_app(tmp_path, "runs"), terminal_size=SIZE, run_before=run_before)


def test_runs_screen_light_theme(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await runs_loaded(pilot)
        await pilot.press("ctrl+t")
        await pilot.pause(0.2)

    assert snap_compare(store_app(tmp_path, "runs"), terminal_size=SIZE, run_before=run_before)


def test_recorded_answer_compare_layout(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await runs_loaded(pilot)
        screen.open_answer("g001-run-a-instruct")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, StoredCompareScreen))
        await pilot.pause(0.2)

    assert snap_compare(store_app(tmp_path, "runs"), terminal_size=SIZE, run_before=run_before)


def test_recorded_answer_2x2(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await runs_loaded(pilot)
        screen.open_answer("g004-run-a-base")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, StoredCompareScreen))
        await pilot.press("2")
        await pilot.pause(0.2)

    assert snap_compare(store_app(tmp_path, "runs"), terminal_size=SIZE, run_before=run_before)


async def sql_screen(pilot: Pilot[Any]) -> SqlScreen:
    """The SQL screen, its editor's cursor steady: a blinking cursor is drawn or not depending on
    how long the test took to get here, which made these snapshots fail under load."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SqlScreen))
    screen = pilot.app.screen
    assert isinstance(screen, SqlScreen)
    screen.editor.cursor_blink = False
    return screen


def test_sql_screen(snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = browse.run_query

    def fixed_time(*args: Any, **kw: Any) -> browse.ResultSet:
        return dataclasses.replace(real(*args, **kw), elapsed_s=0.004)

    monkeypatch.setattr(browse, "run_query", fixed_time)

    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await sql_screen(pilot)
        screen.set_sql("SELECT item_id, role, extracted, correct\nFROM generations\n"
                       "WHERE run_id = 'run-a'\nORDER BY item_id, role;")
        await pilot.press("ctrl+j")
        await wait_for(pilot, lambda: screen.runs >= 1)
        await pilot.pause(0.2)

    assert snap_compare(store_app(tmp_path, "sql"), terminal_size=SIZE, run_before=run_before)


def test_sql_error_inline(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await sql_screen(pilot)
        screen.set_sql("DELETE FROM generations;")
        await pilot.press("ctrl+j")
        await wait_for(pilot, lambda: screen.runs >= 1)
        await pilot.pause(0.2)

    assert snap_compare(store_app(tmp_path, "sql"), terminal_size=SIZE, run_before=run_before)


def test_compare_screen_ready(snap_compare: Any, tmp_path_factory: pytest.TempPathFactory,
                              tmp_path: Path) -> None:
    """The live compare screen with the tiny models loaded, before any question is asked."""
    models = tiny_models_file(tmp_path_factory.mktemp("tiny"))
    config = RunConfig(pair="tiny", dataset="embedded", models_file=str(models),
                       decoding=Decoding(max_tokens=64))
    app = TunelensApp(config, Store(tmp_path / "s.duckdb"), history_file=tmp_path / "h.json")

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.compare.ready)
        app.compare.set_perturbation("numbers")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await sql_screen(pilot)
        await pilot.press("f1")
        await pilot.pause(0.3)

    assert snap_compare(store_app(tmp_path, "sql"), terminal_size=SIZE, run_before=run_before)


async def report_built(pilot: Pilot[Any]) -> ReportScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ReportScreen))
    screen = pilot.app.screen
    assert isinstance(screen, ReportScreen)
    await wait_for(pilot, lambda: screen.builds >= 1 and not screen.building)
    await pilot.pause(0.3)
    return screen


@pytest.fixture()
def stable_plotext(monkeypatch: pytest.MonkeyPatch) -> None:
    """plotext de-duplicates tick labels through a set, so which of two crowded labels it draws
    depends on the process's string hash seed; keep the order for a reproducible picture."""
    import plotext._utility

    monkeypatch.setattr(plotext._utility, "no_duplicates", lambda data: list(dict.fromkeys(data)))


def test_report_screen(snap_compare: Any, tmp_path: Path, stable_plotext: None) -> None:
    """The report of the prefilled store: the runs and the accuracy table with intervals."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await report_built(pilot)

    assert snap_compare(store_app(tmp_path, "report"), terminal_size=SIZE, run_before=run_before)


def test_report_plots(snap_compare: Any, tmp_path: Path, stable_plotext: None) -> None:
    """g: the first plot, accuracy bars per setting and role."""

    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await report_built(pilot)
        await pilot.press("g")
        body = screen.query_one("#report-body")
        await wait_for(pilot, lambda: body.scroll_y > 0)  # at the plots, however slow the layout
        await pilot.pause(0.3)

    assert snap_compare(store_app(tmp_path, "report"), terminal_size=SIZE, run_before=run_before)


# The instruct answer g001 of the prefilled store, as tokens, with a class each (u/m/s).
SHIFT_TOKENS = [("She", "u"), (" has", "m"), (" 3", "u"), (" +", "u"), (" 4", "u"), (" =", "u"),
                (" **", "s"), ("8", "s"), ("**", "u"), (" apples", "m"), (".", "u"),
                (" The", "u"), (" answer", "u"), (" is", "u"), (" 8", "s"), (".", "u")]


def test_recorded_answer_token_shift(snap_compare: Any, tmp_path: Path) -> None:
    """A recorded instruct answer coloured by token shift, the first shifted token selected (t)."""
    app = store_app(tmp_path, "runs")
    ranks = {"u": 1, "m": 2, "s": 12}
    classes = {"u": "unshifted", "m": "marginal", "s": "shifted"}
    app.store.insert_token_shift([
        {"generation_id": "g001-run-a-instruct", "position": i, "token_id": 100 + i,
         "token": tok, "rank": ranks[c], "prob": 0.9 if c == "u" else 0.05,
         "base_top_id": 7 if c != "u" else 100 + i, "base_top": " 7" if c != "u" else tok,
         "base_top_prob": 0.9 if c == "u" else 0.6, "shift": classes[c],
         "scorer_sha256": "0" * 64}
        for i, (tok, c) in enumerate(SHIFT_TOKENS)
    ])

    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await runs_loaded(pilot)
        screen.open_answer("g001-run-a-instruct")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, StoredCompareScreen))
        await pilot.press("t")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
