"""The Runs screen: recorded runs, their answers, filters, and flips.

All reading goes through `engine.store.browse` in thread workers: a read waits while a writer
holds the store, and the event loop must not wait with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Select, Static

from engine.store import browse

if TYPE_CHECKING:
    from engine.store.store import Store

ALL = "*"
ANSWER_LIMIT = 1000
_NEWEST = "\0newest"  # no run picked yet: select the newest


class RunsScreen(Screen[None]):
    """Browse runs; Enter on an answer opens it in the compare layout, read from the store."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "app.help", "Help"),
        Binding("enter", "open_answer", "Open", show=True),
        Binding("f5,ctrl+r", "refresh", "Refresh"),
        Binding("f", "focus_filters", "Filters"),
        Binding("a", "focus_answers", "Answers"),
        Binding("u", "focus_runs", "Runs"),
    ]

    def __init__(self, store: Store) -> None:
        super().__init__(id="runs")
        self.store = store
        self.run_ids: list[str | None] = []
        self.answer_ids: list[str] = []
        self.page: browse.AnswerPage | None = None
        self.loads = 0  # completed answer loads, so tests can wait for one
        self._filters_token = 0
        self._shown_run: str | None = _NEWEST
        self._answers_token = 0

    def compose(self) -> ComposeResult:
        runs = DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        runs.border_title = "Runs"
        yield runs
        with Horizontal(id="filters"):
            yield Select([("all roles", ALL)], value=ALL, allow_blank=False, id="f-role",
                         compact=True)
            yield Select([("all modes", ALL)], value=ALL, allow_blank=False, id="f-mode",
                         compact=True)
            yield Select([("any item", ALL)], value=ALL, allow_blank=False, id="f-pert",
                         compact=True)
            yield Select([("any verdict", ALL), ("correct", "correct"), ("wrong", "wrong")],
                         value=ALL, allow_blank=False, id="f-verdict", compact=True)
            yield Select(
                [("flips: off", ALL), ("any flip", "any"), ("base≠instruct", "roles"),
                 ("orig✓ var✗", "variant")],
                value=ALL, allow_blank=False, id="f-flips", compact=True,
            )
        yield Static(id="answers-note")
        answers = DataTable(id="answers-table", cursor_type="row", zebra_stripes=True)
        answers.border_title = "Answers"
        yield answers
        yield Footer(compact=True)

    def on_mount(self) -> None:
        runs = self.query_one("#runs-table", DataTable)
        runs.add_columns("run", "kind", "pair", "dataset", "started", "status", "answers",
                         "base", "instruct")
        answers = self.query_one("#answers-table", DataTable)
        answers.add_columns("item", "variant", "role", "mode", "✓", "answer", "gold", "flip",
                            "tok", "finish", "run")
        self.reload()

    def on_screen_resume(self) -> None:
        if self.is_mounted and self.run_ids:
            self.reload()

    def action_refresh(self) -> None:
        self.reload()

    def reload(self) -> None:
        self._load_runs(self._selected_run() if self.run_ids else _NEWEST)

    # -- runs ---------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="runs")
    def _load_runs(self, keep: str | None) -> None:  # keep: the run to leave selected
        try:
            runs = browse.list_runs(self.store)
        except Exception as exc:
            self.app.call_from_thread(self._note, f"Cannot read the store: {exc}", True)
            return
        self.app.call_from_thread(self._show_runs, runs, keep)

    def _show_runs(self, runs: list[browse.RunRow], keep: str | None) -> None:
        table = self.query_one("#runs-table", DataTable)
        table.clear()
        self.run_ids = [None]
        n_all = sum(r.answers for r in runs)
        table.add_row(Text("all runs", style="italic"), "", "", "", "", "", str(n_all), "", "")
        for r in runs:
            self.run_ids.append(r.run_id)
            table.add_row(
                r.run_id, r.kind, r.pair or "", r.dataset or "",
                r.started_at.strftime("%m-%d %H:%M") if r.started_at else "",
                r.status or "", str(r.answers), _pct(r.base_accuracy), _pct(r.instruct_accuracy),
            )
        row = self.run_ids.index(keep) if keep in self.run_ids else (1 if runs else 0)
        table.move_cursor(row=row)
        if not runs:
            self._note("No runs recorded yet: run a question on the Compare screen (F2).", False)
        self._shown_run = self._selected_run()
        self._load_filters(self._shown_run)

    def _selected_run(self) -> str | None:
        table = self.query_one("#runs-table", DataTable)
        if not self.run_ids or table.cursor_row < 0 or table.cursor_row >= len(self.run_ids):
            return None
        return self.run_ids[table.cursor_row]

    @on(DataTable.RowHighlighted, "#runs-table")
    def _run_highlighted(self, _: DataTable.RowHighlighted) -> None:
        run = self._selected_run()
        if self.run_ids and run != self._shown_run:
            self._shown_run = run
            self._load_filters(run)

    @on(DataTable.RowSelected, "#runs-table")
    def _run_selected(self, _: DataTable.RowSelected) -> None:
        self.action_focus_answers()

    def _load_filters(self, run_id: str | None) -> None:
        self._filters_token += 1
        self._read_filters(run_id, self._filters_token)

    @work(thread=True, group="filters")
    def _read_filters(self, run_id: str | None, token: int) -> None:
        try:
            values = browse.filter_values(self.store, run_id)
        except Exception as exc:
            self.app.call_from_thread(self._note, f"Cannot read the store: {exc}", True)
            return
        self.app.call_from_thread(self._show_filters, values, token)

    def _show_filters(self, values: browse.FilterValues, token: int) -> None:
        if token != self._filters_token:
            return  # a newer request is on its way: results arrive out of order
        self._set_options("#f-role", "all roles", [(r, r) for r in values.roles])
        self._set_options("#f-mode", "all modes", [(m, m) for m in values.modes])
        self._set_options(
            "#f-pert", "any item",
            [("original only", browse.ORIGINAL), *[(p, p) for p in values.perturbations]],
        )
        self.load_answers()

    def _set_options(self, selector: str, everything: str, options: list[tuple[str, str]]) -> None:
        sel = self.query_one(selector, Select)
        keep = sel.value
        with sel.prevent(Select.Changed):
            sel.set_options([(everything, ALL), *options])
            values = [v for _, v in options]
            sel.value = keep if keep in values else ALL

    # -- answers ------------------------------------------------------------------------------
    @on(Select.Changed)
    def _filter_changed(self, event: Select.Changed) -> None:
        if self.run_ids and event.select.id and event.select.id.startswith("f-"):
            self.load_answers()

    def current_filter(self) -> browse.AnswerFilter:
        def value(selector: str) -> Any:
            v = self.query_one(selector, Select).value
            return None if v in (ALL, Select.NULL) else v

        return browse.AnswerFilter(
            run_id=self._selected_run(), role=value("#f-role"), mode=value("#f-mode"),
            perturbation=value("#f-pert"), verdict=value("#f-verdict"),
            flips=value("#f-flips"), limit=ANSWER_LIMIT,
        )

    def load_answers(self) -> None:
        self._answers_token += 1
        self._read_answers(self.current_filter(), self._answers_token)

    @work(thread=True, group="answers")
    def _read_answers(self, flt: browse.AnswerFilter, token: int) -> None:
        try:
            page = browse.list_answers(self.store, flt)
        except Exception as exc:
            self.app.call_from_thread(self._note, f"Cannot read the store: {exc}", True)
            return
        self.app.call_from_thread(self._show_answers, page, token)

    def _show_answers(self, page: browse.AnswerPage, token: int) -> None:
        if token != self._answers_token:
            return
        self.page = page
        table = self.query_one("#answers-table", DataTable)
        table.clear()
        self.answer_ids = []
        for a in page.rows:
            self.answer_ids.append(a.generation_id)
            verdict = Text("✓", style="bold green") if a.correct else Text("✗", style="bold red")
            table.add_row(
                a.original_id or a.item_id, a.perturbation or "", a.role, a.mode, verdict,
                a.extracted if a.extracted is not None else "—", a.gold or "", a.flip,
                str(a.tokens or 0), a.finish_reason or "", a.run_id,
            )
        shown = len(page.rows)
        if page.total > shown:
            note = (f"{page.total:,} answers match; showing the newest {shown:,} "
                    "(narrow the filters)")
        else:
            note = f"{page.total:,} answers · Enter opens one in the compare layout"
        self._note(note, False)
        self.loads += 1

    def _note(self, text: str, error: bool) -> None:
        note = self.query_one("#answers-note", Static)
        note.update(Text(text, style="bold red" if error else "dim"))

    def action_open_answer(self) -> None:
        table = self.query_one("#answers-table", DataTable)
        if not self.answer_ids or not table.has_focus:
            if self.query_one("#runs-table", DataTable).has_focus:
                self.action_focus_answers()
            return
        row = table.cursor_row
        if 0 <= row < len(self.answer_ids):
            self.open_answer(self.answer_ids[row])

    @on(DataTable.RowSelected, "#answers-table")
    def _answer_selected(self, event: DataTable.RowSelected) -> None:
        row = event.cursor_row
        if 0 <= row < len(self.answer_ids):
            self.open_answer(self.answer_ids[row])

    @work(thread=True, exclusive=True, group="open")
    def open_answer(self, generation_id: str) -> None:
        from engine.analysis import shift_for_generation

        try:
            data = browse.compare_set(self.store, generation_id)
            # Token shift of the instruct answers, where `tunelens shift` (or t on the Compare
            # screen) scored them: the layout colours those tokens.
            shifts = {
                a.generation_id: rows for a in data.answers.values() if a.role == "instruct"
                for rows in [shift_for_generation(self.store, a.generation_id)] if rows
            }
        except Exception as exc:
            self.app.call_from_thread(self._note, f"Cannot open the answer: {exc}", True)
            return
        self.app.call_from_thread(self._push_compare, data, shifts)

    def _push_compare(self, data: browse.CompareSet, shifts: dict[str, list[Any]]) -> None:
        from tui.screens.stored_compare import StoredCompareScreen

        self.app.push_screen(StoredCompareScreen(data, shifts))

    def action_focus_filters(self) -> None:
        self.query_one("#f-role", Select).focus()

    def action_focus_answers(self) -> None:
        self.query_one("#answers-table", DataTable).focus()

    def action_focus_runs(self) -> None:
        self.query_one("#runs-table", DataTable).focus()


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.0f}%"
