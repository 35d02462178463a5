"""The SQL screen: a read-only console over the store, in the manner of harlequin.

The editor highlights SQL (tree-sitter, from `textual[syntax]`); results go into
textual-fastdatatable's Arrow-backed table, which renders only what is on screen, so 100k rows
display as fast as ten. Queries and exports run in thread workers through `engine.store.browse`;
errors, including the refusal of a statement that would change the store, show inline.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static, TextArea

from engine.store import browse
from tui.screens.export import ExportScreen
from tui.screens.history import HistoryScreen
from tui.sql_text import statement_at

if TYPE_CHECKING:
    from engine.store.store import Store

MAX_ROWS = 100_000
HISTORY_MAX = 200
EXAMPLE_SQL = """\


-- Ctrl+J (or Ctrl+Enter) runs the statement under the cursor, or the selection (Ctrl+A: all).
-- Statements end at a semicolon or a blank line. The store is read-only here.
-- Tables: runs, models, run_models, items, generations, grades, token_shift
SELECT run_id, role, mode, count(*) AS answers,
       round(avg(correct::INT), 3) AS accuracy,
       round(avg(tokens_per_s), 1) AS tok_s
FROM generations
GROUP BY ALL
ORDER BY run_id DESC, mode, role;
"""


def _editor(text: str) -> TextArea:
    try:
        return TextArea.code_editor(text, language="sql", id="editor", soft_wrap=False)
    except Exception:  # tree-sitter grammars missing: still an editor, without colours
        return TextArea(text, id="editor", show_line_numbers=True)


class SqlScreen(Screen[None]):
    """Editor on top, a status line, results below."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "app.help", "Help"),
        Binding("ctrl+j,ctrl+enter", "run_query", "Run query", priority=True),
        Binding("ctrl+a", "select_all", "Select all", show=False, priority=True),
        Binding("ctrl+e", "export", "Export", priority=True),
        Binding("f8", "history", "History"),
        Binding("ctrl+up", "history_step(-1)", "Older query", show=False, priority=True),
        Binding("ctrl+down", "history_step(1)", "Newer query", show=False, priority=True),
        Binding("f9", "toggle_focus", "Editor/results"),
    ]

    def __init__(self, store: Store, history_file: Path | None = None) -> None:
        super().__init__(id="sql")
        self.store = store
        self.history_file = history_file
        self.history: list[str] = self._read_history()
        self._history_pos: int | None = None
        self.result: browse.ResultSet | None = None
        self.last_error: str | None = None
        self.runs = 0  # finished queries (success or error), so tests can wait for one

    def compose(self) -> ComposeResult:
        editor = _editor(EXAMPLE_SQL)
        editor.border_title = "SQL (read-only)"
        yield editor
        yield Static(id="sql-status")
        with Container(id="results"):
            yield Static("Run a query to see results here.", id="results-empty")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._status("Ctrl+J runs the statement under the cursor · Ctrl+E exports · F8 history",
                     "dim")
        self.query_one("#editor", TextArea).focus()

    @property
    def editor(self) -> TextArea:
        return self.query_one("#editor", TextArea)

    def set_sql(self, sql: str) -> None:
        self.editor.load_text(sql)

    def current_sql(self) -> str:
        """What Ctrl+J runs: the selection, else the statement under the cursor."""
        editor = self.editor
        if editor.selected_text.strip():
            return editor.selected_text.strip()
        offset = editor.document.get_index_from_location(editor.cursor_location)
        return statement_at(editor.text, offset).strip()

    def action_select_all(self) -> None:
        self.editor.focus()
        self.editor.select_all()

    # -- running ------------------------------------------------------------------------------
    def action_run_query(self) -> None:
        sql = self.current_sql()
        if not sql:
            self._status("Nothing to run.", "dim")
            return
        self._remember(sql)
        self._status("Running…", "italic")
        self._run(sql)

    @work(thread=True, exclusive=True, group="query")
    def _run(self, sql: str) -> None:
        try:
            result = browse.run_query(self.store, sql, max_rows=MAX_ROWS)
        except Exception as exc:
            self.app.call_from_thread(self._show_error, str(exc).strip().splitlines()[0]
                                      if str(exc).strip() else type(exc).__name__)
            return
        self.app.call_from_thread(self._show_result, result)

    async def _show_result(self, result: browse.ResultSet) -> None:
        self.result = result
        self.last_error = None
        box = self.query_one("#results", Container)
        await box.remove_children()
        shown = result.rows
        if not result.columns:
            await box.mount(Static("The statement returned no result set.", id="results-empty"))
        else:
            labels = [Text.assemble(c, (f" {t}", "dim")) for c, t in
                      zip(result.columns, result.types, strict=True)]
            table, shown = _results_table(result, labels)
            await box.mount(table)
        if result.truncated or shown < result.rows:
            more = f" (first {shown:,} shown; export writes all)"
        else:
            more = ""
        self._status(f"{result.rows:,} rows{more} · {result.elapsed_s * 1000:.0f} ms", "dim")
        self.runs += 1

    def _show_error(self, message: str) -> None:
        self.last_error = message
        self._status(f"Error: {message}", "bold red")
        self.runs += 1

    def _status(self, text: str, style: str) -> None:
        self.query_one("#sql-status", Static).update(Text(text, style=style))

    # -- history ------------------------------------------------------------------------------
    def _read_history(self) -> list[str]:
        if self.history_file is None or not self.history_file.is_file():
            return []
        try:
            data = json.loads(self.history_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [q for q in data if isinstance(q, str)][-HISTORY_MAX:]

    def _remember(self, sql: str) -> None:
        if self.history and self.history[-1] == sql:
            return
        self.history.append(sql)
        self.history = self.history[-HISTORY_MAX:]
        self._history_pos = None
        if self.history_file is not None:
            try:
                self.history_file.parent.mkdir(parents=True, exist_ok=True)
                self.history_file.write_text(json.dumps(self.history, indent=0),
                                             encoding="utf-8")
            except OSError:
                pass  # history is a convenience; a read-only home must not break queries

    def action_history(self) -> None:
        if not self.history:
            self.notify("No queries yet.", timeout=3)
            return

        def chosen(sql: str | None) -> None:
            if sql:
                self.set_sql(sql)
                self.editor.focus()

        self.app.push_screen(HistoryScreen(list(reversed(self.history))), chosen)

    def action_history_step(self, step: int) -> None:
        if not self.history:
            return
        pos = len(self.history) if self._history_pos is None else self._history_pos
        pos = max(0, min(len(self.history) - 1, pos + step))
        self._history_pos = pos
        self.set_sql(self.history[pos])

    # -- export -------------------------------------------------------------------------------
    def action_export(self) -> None:
        sql = self.current_sql()
        if not sql:
            self.notify("Nothing to export: write a query first.", severity="warning")
            return

        def chosen(target: tuple[str, str] | None) -> None:
            if target:
                path, fmt = target
                self._status(f"Exporting to {path}…", "italic")
                self._export(sql, path, fmt)

        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.app.push_screen(ExportScreen(str(Path.cwd() / f"tunelens-{stamp}.csv")), chosen)

    @work(thread=True, exclusive=True, group="export")
    def _export(self, sql: str, path: str, fmt: str) -> None:
        try:
            n = browse.export_query(self.store, sql, path, fmt)  # type: ignore[arg-type]
        except Exception as exc:
            self.app.call_from_thread(self._show_error, f"export failed: {exc}")
            return
        self.app.call_from_thread(self._exported, n, path)

    def _exported(self, n: int, path: str) -> None:
        self._status(f"Wrote {n:,} rows to {path}", "bold")
        self.notify(f"Wrote {n:,} rows to {path}", title="Export")
        self.runs += 1

    def action_toggle_focus(self) -> None:
        tables = self.query("#results-table")
        if self.editor.has_focus and tables:
            tables.first().focus()
        else:
            self.editor.focus()


FALLBACK_ROWS = 2_000


def _results_table(result: browse.ResultSet, labels: list[Text]) -> tuple[Widget, int]:
    """An Arrow-backed table that renders only what is visible; the plain DataTable otherwise.

    textual-fastdatatable is what makes 100k rows instant; without it the built-in DataTable
    gets the first rows only, since it builds every row up front.
    """
    try:
        from textual_fastdatatable import ArrowBackend
        from textual_fastdatatable import DataTable as FastTable
    except ImportError:
        from textual.widgets import DataTable

        plain: DataTable[object] = DataTable(id="results-table")
        plain.add_columns(*labels)
        rows = result.table.slice(0, FALLBACK_ROWS).to_pylist()
        plain.add_rows(["NULL" if v is None else str(v) for v in r.values()] for r in rows)
        return plain, len(rows)
    table = FastTable(backend=ArrowBackend(result.table), column_labels=list(labels),
                      id="results-table", max_column_content_width=40, null_rep="NULL",
                      render_markup=False)
    return table, result.rows
