"""Pilot tests of the Runs, SQL and help screens on a prefilled store (no models loaded)."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from test_tui_support import NoModels, fill_store, wait_for, wide_store
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList, Select
from textual.widgets.text_area import Selection

from engine.run.runner import RunConfig
from engine.store.store import Store
from tui.app import TunelensApp
from tui.screens.export import ExportScreen
from tui.screens.help import HelpScreen
from tui.screens.history import HistoryScreen
from tui.screens.runs import RunsScreen
from tui.screens.sql import SqlScreen
from tui.screens.stored_compare import StoredCompareScreen


def make_app(tmp_path: Path, store: Store, mode: str = "runs") -> TunelensApp:
    config = RunConfig(pair="demo", dataset="embedded")
    return TunelensApp(config, store, history_file=tmp_path / "history.json",
                       session_factory=NoModels, start_mode=mode)


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    return fill_store(tmp_path / "store.duckdb")


async def runs_ready(pilot: Pilot[Any], loads: int = 1) -> RunsScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen))
    screen = pilot.app.screen
    assert isinstance(screen, RunsScreen)
    await wait_for(pilot, lambda: screen.loads >= loads)
    await pilot.pause(0.1)
    return screen


# -- runs ---------------------------------------------------------------------------------------

async def test_runs_lists_runs_and_answers(tmp_path: Path, store: Store) -> None:
    async with make_app(tmp_path, store).run_test(size=(80, 24)) as pilot:
        screen = await runs_ready(pilot)
        assert screen.run_ids == [None, "run-b", "run-a"]
        assert screen.current_filter().run_id == "run-b"  # the newest run is selected
        assert len(screen.answer_ids) == 2
        runs = screen.query_one("#runs-table", DataTable)
        runs.focus()
        loads = screen.loads
        await pilot.press("down")  # run-a
        await wait_for(pilot, lambda: screen.loads > loads)
        await pilot.pause(0.1)
        assert screen.current_filter().run_id == "run-a"
        assert len(screen.answer_ids) == 6
        loads = screen.loads
        await pilot.press("up", "up")  # all runs
        await wait_for(pilot, lambda: screen.loads > loads and screen.current_filter().run_id
                       is None)
        await pilot.pause(0.2)
        assert len(screen.answer_ids) == 8


async def set_filter(pilot: Pilot[Any], screen: RunsScreen, selector: str, value: str) -> None:
    loads = screen.loads
    screen.query_one(selector, Select).value = value
    await wait_for(pilot, lambda: screen.loads > loads)
    await pilot.pause(0.1)


async def test_runs_filters_and_flips(tmp_path: Path, store: Store) -> None:
    async with make_app(tmp_path, store).run_test(size=(80, 24)) as pilot:
        screen = await runs_ready(pilot)
        screen.query_one("#runs-table", DataTable).move_cursor(row=2)  # run-a
        await wait_for(pilot, lambda: screen.current_filter().run_id == "run-a"
                       and len(screen.answer_ids) == 6)
        await set_filter(pilot, screen, "#f-flips", "roles")
        assert screen.page is not None and screen.page.total == 4
        await set_filter(pilot, screen, "#f-flips", "variant")
        assert {r.item_id for r in screen.page.rows} == {"apples-1", "apples-1~numbers"}
        assert {r.role for r in screen.page.rows} == {"base"}
        await set_filter(pilot, screen, "#f-flips", "*")
        await set_filter(pilot, screen, "#f-verdict", "wrong")
        assert screen.page.total == 2
        await set_filter(pilot, screen, "#f-role", "instruct")
        assert [r.item_id for r in screen.page.rows] == ["apples-1"]
        await set_filter(pilot, screen, "#f-role", "*")
        await set_filter(pilot, screen, "#f-verdict", "*")
        await set_filter(pilot, screen, "#f-pert", "numbers")
        assert {r.perturbation for r in screen.page.rows} == {"numbers"}
        await set_filter(pilot, screen, "#f-pert", "original")
        assert {r.perturbation for r in screen.page.rows} == {None}
        note = str(screen.query_one("#answers-note").render())
        assert "4 answers" in note


async def test_open_answer_in_compare_layout(tmp_path: Path, store: Store) -> None:
    async with make_app(tmp_path, store).run_test(size=(80, 24)) as pilot:
        screen = await runs_ready(pilot)
        screen.query_one("#runs-table", DataTable).move_cursor(row=2)
        await wait_for(pilot, lambda: len(screen.answer_ids) == 6)
        await pilot.press("a")  # focus the answers
        table = screen.query_one("#answers-table", DataTable)
        assert table.has_focus
        index = screen.answer_ids.index("g001-run-a-instruct")
        table.move_cursor(row=index)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, StoredCompareScreen))
        stored = pilot.app.screen
        assert isinstance(stored, StoredCompareScreen)
        inst = stored.pane("original", "instruct")
        assert inst.has_class("-wrong") and inst.has_class("-selected")
        assert stored.pane("original", "base").has_class("-correct")
        assert "8" in str(inst.query_one(".pane-verdict").render())
        assert [p.id for p in stored.panes() if p.display] == [
            "pane-original-base", "pane-original-instruct"]
        await pilot.press("2")
        assert len([p for p in stored.panes() if p.display]) == 4
        assert stored.pane("variant", "base").has_class("-wrong")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen))


async def test_runs_on_empty_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "empty.duckdb")
    async with make_app(tmp_path, store).run_test(size=(80, 24)) as pilot:
        screen = await runs_ready(pilot, loads=1)
        assert screen.answer_ids == []


# -- sql ----------------------------------------------------------------------------------------

async def sql_screen(pilot: Pilot[Any]) -> SqlScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SqlScreen))
    screen = pilot.app.screen
    assert isinstance(screen, SqlScreen)
    return screen


async def run_sql(pilot: Pilot[Any], screen: SqlScreen, sql: str, key: str = "ctrl+j") -> None:
    screen.set_sql(sql)
    screen.editor.focus()
    runs = screen.runs
    await pilot.press(key)
    await wait_for(pilot, lambda: screen.runs > runs)
    await pilot.pause(0.1)


async def test_sql_query_error_and_refusal(tmp_path: Path, store: Store) -> None:
    async with make_app(tmp_path, store, mode="sql").run_test(size=(80, 24)) as pilot:
        screen = await sql_screen(pilot)
        assert screen.editor.language == "sql"
        await run_sql(pilot, screen, "SELECT item_id, role FROM generations ORDER BY 1, 2")
        assert screen.result is not None and screen.result.rows == 8
        from textual_fastdatatable import DataTable as FastTable

        table = screen.query_one("#results-table", FastTable)
        assert table.row_count == 8
        await run_sql(pilot, screen, "SELECT nope FROM nowhere")
        assert screen.last_error is not None and "nowhere" in screen.last_error
        assert "Error" in str(screen.query_one("#sql-status").render())
        assert isinstance(pilot.app.screen, SqlScreen)  # errors stay inline
        await run_sql(pilot, screen, "DELETE FROM runs")
        assert "read-only" in (screen.last_error or "")
        assert store.query("SELECT count(*) FROM runs").rows == [(2,)]
        await run_sql(pilot, screen, "SELECT 42 AS answer", key="ctrl+enter")
        assert screen.last_error is None and screen.result.rows == 1


async def test_sql_history(tmp_path: Path, store: Store) -> None:
    async with make_app(tmp_path, store, mode="sql").run_test(size=(80, 24)) as pilot:
        screen = await sql_screen(pilot)
        await run_sql(pilot, screen, "SELECT 1 AS one")
        await run_sql(pilot, screen, "SELECT 2 AS two")
        assert screen.history == ["SELECT 1 AS one", "SELECT 2 AS two"]
        assert json.loads((tmp_path / "history.json").read_text())[-1] == "SELECT 2 AS two"
        screen.set_sql("")
        await pilot.press("ctrl+up")
        assert screen.editor.text == "SELECT 2 AS two"
        await pilot.press("ctrl+up")
        assert screen.editor.text == "SELECT 1 AS one"
        await pilot.press("ctrl+down")
        assert screen.editor.text == "SELECT 2 AS two"
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HistoryScreen))
        options = pilot.app.screen.query_one(OptionList)
        options.focus()
        await pilot.press("down", "enter")  # the older query
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, SqlScreen))
        assert screen.editor.text == "SELECT 1 AS one"
    # the history survives a restart
    async with make_app(tmp_path, store, mode="sql").run_test(size=(80, 24)) as pilot:
        screen = await sql_screen(pilot)
        assert screen.history[-1] == "SELECT 2 AS two"


async def test_sql_runs_the_statement_under_the_cursor(tmp_path: Path, store: Store) -> None:
    async with make_app(tmp_path, store, mode="sql").run_test(size=(80, 24)) as pilot:
        screen = await sql_screen(pilot)
        editor = screen.editor
        # A query typed above the example text: only it runs, not the whole buffer.
        editor.insert("SELECT 42 AS typed\n", (0, 0))
        editor.move_cursor((0, 3))
        runs = screen.runs
        await pilot.press("ctrl+j")
        await wait_for(pilot, lambda: screen.runs > runs)
        assert screen.last_error is None and screen.result is not None
        assert screen.result.columns == ["typed"]
        # The cursor in the example's SELECT runs the example.
        editor.move_cursor((editor.document.line_count - 3, 2))
        runs = screen.runs
        await pilot.press("ctrl+j")
        await wait_for(pilot, lambda: screen.runs > runs)
        assert screen.last_error is None and screen.result is not None
        assert "answers" in screen.result.columns
        # Several statements on one line and across lines: the one under the cursor.
        screen.set_sql("SELECT 1 AS a; SELECT 2 AS b;\nSELECT 'x;y' AS c,\n  3 AS d;\n")
        editor.move_cursor((0, 17))
        await run_key(pilot, screen, "ctrl+j")
        assert screen.result is not None and screen.result.columns == ["b"]
        editor.move_cursor((2, 4))
        await run_key(pilot, screen, "ctrl+j")
        assert screen.result is not None and screen.result.columns == ["c", "d"]
        # A selection runs as it is; Ctrl+A selects the whole buffer (the last result shows).
        editor.selection = Selection((0, 0), (0, 14))
        await run_key(pilot, screen, "ctrl+j")
        assert screen.result is not None and screen.result.columns == ["a"]
        await pilot.press("ctrl+a")
        assert editor.selected_text == editor.text
        await run_key(pilot, screen, "ctrl+j")
        assert screen.result is not None and screen.result.columns == ["c", "d"]
        assert screen.history[-1] == editor.text.strip()


async def run_key(pilot: Pilot[Any], screen: SqlScreen, key: str) -> None:
    runs = screen.runs
    await pilot.press(key)
    await wait_for(pilot, lambda: screen.runs > runs)
    assert screen.last_error is None, screen.last_error


def test_sql_history_and_log_live_beside_the_store(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import tui.app as app_module

    seen: dict[str, Path | None] = {}

    @contextmanager
    def guard(log_file: Path) -> Iterator[None]:
        seen["log"] = log_file
        yield

    def run(self: TunelensApp, **_: Any) -> None:
        seen["history"] = self.history_file

    monkeypatch.setattr(app_module, "terminal_guard", guard)
    monkeypatch.setattr(TunelensApp, "run", run)
    db = tmp_path / "study" / "results.duckdb"
    assert app_module.run_app(RunConfig(pair="demo", dataset="embedded"), str(db)) == 0
    assert seen == {"log": tmp_path / "study" / "results.duckdb.app.log",
                    "history": tmp_path / "study" / "results.duckdb.sql-history.json"}


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
async def test_sql_export(tmp_path: Path, store: Store, fmt: str) -> None:
    target = tmp_path / f"export.{fmt}"
    async with make_app(tmp_path, store, mode="sql").run_test(size=(80, 24)) as pilot:
        screen = await sql_screen(pilot)
        screen.set_sql("SELECT item_id, role FROM generations ORDER BY 1, 2")
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ExportScreen))
        dialog = pilot.app.screen
        dialog.query_one("#export-format", Select).value = fmt
        await pilot.pause()
        dialog.query_one("#export-path", Input).value = str(target)
        runs = screen.runs
        await pilot.click("#export-ok")
        await wait_for(pilot, lambda: screen.runs > runs)
        assert "Wrote 8 rows" in str(screen.query_one("#sql-status").render())
    assert target.is_file()
    if fmt == "csv":
        assert len(list(csv.DictReader(target.open()))) == 8


async def test_sql_big_result_is_capped_and_fast(tmp_path: Path) -> None:
    store = wide_store(tmp_path / "big.duckdb", 120_000)
    async with make_app(tmp_path, store, mode="sql").run_test(size=(80, 24)) as pilot:
        screen = await sql_screen(pilot)
        t0 = time.perf_counter()
        await run_sql(pilot, screen, "SELECT * FROM generations")
        assert time.perf_counter() - t0 < 10
        assert screen.result is not None and screen.result.truncated
        assert screen.result.rows == 100_000
        assert "first 100,000 shown" in str(screen.query_one("#sql-status").render())
        await pilot.press("f9")  # into the results
        await pilot.press("pagedown", "pagedown", "end")


# -- everywhere ---------------------------------------------------------------------------------

async def test_screen_keys_help_theme_and_palette(tmp_path: Path, store: Store) -> None:
    app = make_app(tmp_path, store, mode="compare")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, SqlScreen))
        await pilot.press("f2")
        await wait_for(pilot, lambda: app.screen is app.compare)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        keys = " / ".join(k for _, k, _ in help_screen.rows).split(" / ")
        for key in ("f1", "f2", "f3", "f4", "ctrl+j", "ctrl+enter", "ctrl+e", "f8", "escape",
                    "ctrl+p", "ctrl+t", "2", "enter", "n", "p", "m", "c", "v", "s", "g", "r"):
            assert key in keys, key
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.compare)
        assert app.theme == "textual-dark"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light"
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"SQL screen")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SqlScreen))
        # the model failures of NoModels are shown on the compare screen, not raised
        assert app.compare.failed.keys() == {"base", "instruct"}
