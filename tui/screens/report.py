"""The Report screen: the tables and plots of `tunelens report`, for chosen runs, dataset and pair.

`engine.analysis.report.build_report` does the work (SQL, scipy, bootstrap resampling) in a
thread worker, so the screen stays responsive however large the store; this module only lays out
what it returns. Each analysis is a table (a DataTable that scrolls sideways when wider than the
terminal) with its note, then the terminal plots (textual-plotext, drawn by
`engine.render.plots.draw_plotext`). The page scrolls; n / p jump between sections, g to the plots.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Select, Static

from engine.store import browse
from tui.screens.run_picker import RunPickerScreen, run_label
from tui.widgets import ReportPlot, report_section, section_title

if TYPE_CHECKING:
    from engine.analysis import Report, ReportFilters, ReportTable
    from engine.render import TerminalPlot
    from engine.store.store import Store

ALL = "*"
SEVERAL = "\0several"  # the run menu's entry for a set of runs picked with u


class ReportScreen(Screen[None]):
    """Filters on top, a status line, then the report as one scrolling page."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "app.help", "Help"),
        Binding("f5,ctrl+r", "refresh", "Rebuild"),
        Binding("f", "focus_filters", "Filters"),
        Binding("u", "pick_runs", "Runs…"),
        Binding("n", "section(1)", "Section ↓"),
        Binding("p", "section(-1)", "Section ↑"),
        Binding("g", "plots", "Plots"),
    ]

    def __init__(self, store: Store) -> None:
        super().__init__(id="report")
        self.store = store
        self.runs: tuple[str, ...] = ()  # the runs reported on; empty: every run
        self.run_rows: list[browse.RunRow] = []
        self.report: Report | None = None
        self.tables: list[ReportTable] = []
        self.plots: list[TerminalPlot] = []
        self.building = False
        self.builds = 0  # finished builds (success or error), so tests can wait for one
        self.last_error: str | None = None
        self._token = 0
        self._datasets: set[str] = set()

    def compose(self) -> ComposeResult:
        with Horizontal(id="report-filters"):
            yield Select([("all runs", ALL)], value=ALL, allow_blank=False, id="r-run",
                         compact=True, tooltip="runs in the report (u picks several)")
            yield Select([("all datasets", ALL)], value=ALL, allow_blank=False, id="r-dataset",
                         compact=True)
            yield Select([("all pairs", ALL)], value=ALL, allow_blank=False, id="r-pair",
                         compact=True)
        yield Static(id="report-status")
        body = VerticalScroll(id="report-body")
        body.can_focus = True
        with body:
            yield Static(Text("Building the report…", style="italic"), classes="report-note")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#report-body").focus()
        self.rebuild()

    # -- filters ------------------------------------------------------------------------------
    def filters(self) -> ReportFilters:
        from engine.analysis import ReportFilters

        def value(selector: str) -> str | None:
            v = self.query_one(selector, Select).value
            return None if v in (ALL, SEVERAL, Select.NULL) else str(v)

        return ReportFilters(runs=self.runs, dataset=value("#r-dataset"), pair=value("#r-pair"))

    @on(Select.Changed, "#r-run")
    def _run_changed(self, event: Select.Changed) -> None:
        if event.value == SEVERAL:
            return
        self.runs = () if event.value in (ALL, Select.NULL) else (str(event.value),)
        self.rebuild()

    @on(Select.Changed, "#r-dataset, #r-pair")
    def _filter_changed(self, _: Select.Changed) -> None:
        self.rebuild()

    def set_runs(self, runs: Sequence[str]) -> None:
        """Report on these runs (none: all runs) and rebuild."""
        self.runs = tuple(runs)
        self._fill_run_menu()
        self.rebuild()

    def _fill_run_menu(self) -> None:
        options: list[tuple[str, str]] = [("all runs", ALL)]
        options += [(run_label(r), r.run_id) for r in self.run_rows]
        if len(self.runs) == 1 and self.runs[0] in {r.run_id for r in self.run_rows}:
            value = self.runs[0]
        elif self.runs:
            options.append((f"{len(self.runs)} runs (u)", SEVERAL))
            value = SEVERAL
        else:
            value = ALL
        sel = self.query_one("#r-run", Select)
        with sel.prevent(Select.Changed):
            sel.set_options(options)
            sel.value = value

    def _fill_menu(self, selector: str, everything: str, values: Sequence[str]) -> None:
        sel = self.query_one(selector, Select)
        keep = sel.value
        with sel.prevent(Select.Changed):
            sel.set_options([(everything, ALL), *[(v, v) for v in values]])
            sel.value = keep if keep in values else ALL

    def action_focus_filters(self) -> None:
        self.query_one("#r-run", Select).focus()

    def action_pick_runs(self) -> None:
        if not self.run_rows:
            self.notify("No runs recorded yet.", severity="warning")
            return

        def chosen(runs: tuple[str, ...] | None) -> None:
            if runs is not None:
                self.set_runs(runs)

        self.app.push_screen(RunPickerScreen(self.run_rows, self.runs), chosen)

    # -- building (thread worker) ---------------------------------------------------------------
    def action_refresh(self) -> None:
        self.rebuild()

    def rebuild(self) -> None:
        """Build the report for the current filters; the page keeps the last one meanwhile."""
        self._token += 1
        self.building = True
        filters = self.filters()
        from engine.analysis import describe_filters

        self._status(Text(f"Building the report of {describe_filters(filters)}…",
                          style="italic"))
        self._build(filters, self._token)

    @work(thread=True, exclusive=True, group="report")
    def _build(self, filters: ReportFilters, token: int) -> None:
        try:
            runs = browse.list_runs(self.store)
            if runs:
                from engine.analysis.report import build_report

                report = build_report(self.store, filters)
                from engine.render import report_tables, terminal_plots

                tables, plots = report_tables(report), terminal_plots(report)
            else:
                report, tables, plots = None, [], []
        except Exception as exc:
            text = str(exc).strip()
            message = text.splitlines()[0] if text else type(exc).__name__
            self.app.call_from_thread(self._failed, token, message)
            return
        self.app.call_from_thread(self._show, token, runs, report, tables, plots)

    def _failed(self, token: int, message: str) -> None:
        if token != self._token:
            return
        self.building = False
        self.last_error = message
        self._status(Text(f"Cannot build the report: {message}", style="bold red"))
        self.builds += 1

    async def _show(self, token: int, runs: list[browse.RunRow], report: Report | None,
                    tables: list[ReportTable], plots: list[TerminalPlot]) -> None:
        if token != self._token:
            return  # the filters changed while this one was building
        from engine.analysis import describe_filters

        self.run_rows = runs
        self._fill_run_menu()
        if report is not None:  # the datasets answers were recorded under (as the filter sees)
            self._datasets |= {o.dataset for o in report.outcomes}
        self._fill_menu("#r-dataset", "all datasets", sorted(self._datasets))
        self._fill_menu("#r-pair", "all pairs", sorted({r.pair for r in runs if r.pair}))
        body = self.query_one("#report-body", VerticalScroll)
        # A rebuild of the same report (F5) stays where the reader was; a new one opens at the top.
        same = self.report is not None and report is not None and (
            self.report.filters == report.filters)
        keep_y = body.scroll_y if same else 0
        self.report, self.tables, self.plots = report, tables, plots
        self.last_error = None
        widgets: list[Widget] = []
        if report is None:
            widgets.append(Static(Text(
                "No runs recorded yet: ask a question on the Compare screen (F2) or run "
                "`tunelens --headless`, then refresh (F5).", style="italic"),
                classes="report-note"))
        else:
            if report.notes:
                widgets.append(Static(Text("\n".join(f"note: {n}" for n in report.notes)),
                                      classes="report-notes"))
            for table in tables:
                if table.display:
                    widgets += report_section(table)
            widgets.append(section_title("plots", id="plots-title"))
            if not plots:
                widgets.append(Static(Text("nothing to plot for these answers"),
                                      classes="report-note"))
            for plot in plots:
                widgets.append(ReportPlot(plot))
                if plot.notes:
                    widgets.append(Static(Text("; ".join(plot.notes)), classes="report-note"))
        with self.app.batch_update():
            await body.remove_children()
            await body.mount_all(widgets)
        body.scroll_to(y=keep_y, animate=False, immediate=True)
        self.building = False
        if report is None:
            self._status(Text("no runs in the store", style="dim"))
        else:
            answers = sum(r.answers for r in report.runs)
            self._status(Text(
                f"{describe_filters(report.filters)} · {len(report.runs)} runs · "
                f"{answers} answers · {len([t for t in tables if t.display])} tables · "
                f"{len(plots)} plots", style="dim"))
        self.builds += 1

    def _status(self, text: Text) -> None:
        self.query_one("#report-status", Static).update(text)

    # -- moving around --------------------------------------------------------------------------
    def sections(self) -> list[Widget]:
        return list(self.query_one("#report-body").query(".report-title, .report-plot"))

    def action_section(self, step: int) -> None:
        """Scroll the next (step 1) or previous (-1) section title to the top."""
        body = self.query_one("#report-body", VerticalScroll)
        tops = [w.virtual_region.y for w in self.sections()]
        here = round(body.scroll_y)
        if step > 0:
            after = [y for y in tops if y > here + 1]  # +1: the first title's margin
            target = after[0] if after else None
        else:
            before = [y for y in tops if y < here]
            target = before[-1] if before else 0
        if target is not None:
            body.scroll_to(y=target, animate=False, immediate=True)

    def action_plots(self) -> None:
        found = self.query("#plots-title")
        if found:
            body = self.query_one("#report-body", VerticalScroll)
            body.scroll_to(y=found.first().virtual_region.y, animate=False, immediate=True)

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Rebuild the report", "Read the store again (F5)",
                            self.action_refresh)
        yield SystemCommand("Pick runs for the report", "Any set of runs (u)",
                            self.action_pick_runs)
        yield SystemCommand("Report: plots", "Jump to the plots (g)", self.action_plots)
