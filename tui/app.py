"""The tunelens app: Compare (F2), Runs (F3), SQL (F4) and Report (F6) screens over one session
and one store.

Each screen is a Textual mode with its own stack, so switching keeps what a screen shows (a
stream keeps streaming while you query its first answers). The app holds no model or SQL logic:
the compare screen drives `engine.run.session.Session` (which owns the model threads), the
report calls `engine.analysis.report`, the others read through `engine.store.browse`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from tui.loop_probe import ENV_LOOP_PROBE, LoopProbe
from tui.screens.compare import CompareScreen
from tui.screens.export import ExportScreen
from tui.screens.help import HelpScreen
from tui.screens.history import HistoryScreen
from tui.screens.report import ReportScreen
from tui.screens.run_picker import RunPickerScreen
from tui.screens.runs import RunsScreen
from tui.screens.sql import SqlScreen
from tui.screens.stored_compare import StoredCompareScreen
from tui.terminal import history_file_for, log_file_for, terminal_guard

if TYPE_CHECKING:
    from engine.run.config import RunConfig
    from engine.run.session import Session
    from engine.store.store import Store

DARK, LIGHT = "textual-dark", "textual-light"


@runtime_checkable
class HasCommands(Protocol):
    """A screen that adds its own commands to the palette while it is shown."""

    def palette_commands(self) -> Iterable[SystemCommand]: ...


class TunelensApp(App[int]):
    """Base vs instruct, side by side, graded and recorded."""

    TITLE = "tunelens"
    CSS_PATH = "tunelens.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help"),
        Binding("f2", "show_mode('compare')", "Compare"),
        Binding("f3", "show_mode('runs')", "Runs"),
        Binding("f4", "show_mode('sql')", "SQL"),
        Binding("f6", "show_mode('report')", "Report"),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        config: RunConfig,
        store: Store,
        *,
        history_file: Path | None = None,
        session_factory: Callable[[RunConfig, Store], Session] | None = None,
        loop_probe: bool = False,
        start_mode: str = "compare",
    ) -> None:
        super().__init__()
        self.config = config
        self.store = store
        self.compare = CompareScreen(config, store, session_factory)
        self.history_file = history_file
        self.probe = LoopProbe(busy=lambda: self.compare.busy) if loop_probe else None
        self.start_mode = start_mode
        compare = self.compare
        self.add_mode("compare", lambda: compare)
        self.add_mode("runs", lambda: RunsScreen(store))
        self.add_mode("sql", lambda: SqlScreen(store, history_file))
        self.add_mode("report", lambda: ReportScreen(store))

    def on_mount(self) -> None:
        self.theme = DARK
        self.switch_mode(self.start_mode)
        if self.probe is not None:
            self.probe.start(self)

    # -- actions ------------------------------------------------------------------------------
    def action_show_mode(self, mode: str) -> None:
        # From a pushed screen (a recorded answer) F3 returns to the Runs list it came from.
        if mode == self.current_mode and isinstance(self.screen, StoredCompareScreen):
            self.pop_screen()
            return
        self.switch_mode(mode)

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.theme == DARK else DARK

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen(self.binding_sections()))

    def binding_sections(self) -> list[tuple[str, Iterable[BindingType]]]:
        return [
            ("Everywhere", self.BINDINGS),
            ("Compare", CompareScreen.BINDINGS),
            ("Recorded answer", StoredCompareScreen.BINDINGS),
            ("Runs", RunsScreen.BINDINGS),
            ("SQL", SqlScreen.BINDINGS),
            ("Report", ReportScreen.BINDINGS),
            ("Report runs", RunPickerScreen.BINDINGS),
            ("SQL history", HistoryScreen.BINDINGS),
            ("SQL export", ExportScreen.BINDINGS),
            ("Help", HelpScreen.BINDINGS),
        ]

    async def action_quit(self) -> None:
        self.compare.shutdown()
        self.exit(0)

    # -- command palette ----------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("Compare screen", "Ask both models (F2)",
                            lambda: self.action_show_mode("compare"))
        yield SystemCommand("Runs screen", "Browse recorded runs and answers (F3)",
                            lambda: self.action_show_mode("runs"))
        yield SystemCommand("SQL screen", "Query the store (F4)",
                            lambda: self.action_show_mode("sql"))
        yield SystemCommand("Report screen", "Accuracy, paired tests, drops, plots (F6)",
                            lambda: self.action_show_mode("report"))
        yield SystemCommand("Help", "Every key binding (F1)", self.action_help)
        yield SystemCommand("Toggle dark/light theme", "Switch between the two themes (Ctrl+T)",
                            self.action_toggle_theme)
        if isinstance(screen, HasCommands):
            yield from screen.palette_commands()
        yield from super().get_system_commands(screen)


def run_app(config: RunConfig, db: str | None) -> int:
    """Open the app on a store (default: the user's); returns the exit code for the CLI. The SQL
    history and the log live beside the store (`tui.terminal`)."""
    from engine.store.store import Store

    store = Store(db)
    probe_path = os.environ.get(ENV_LOOP_PROBE)
    with terminal_guard(log_file_for(store.path)):
        app = TunelensApp(config, store, history_file=history_file_for(store.path),
                          loop_probe=bool(probe_path))
        try:
            app.run()
        finally:
            app.compare.shutdown()
    if app.probe is not None and probe_path:
        Path(probe_path).write_text(app.probe.report() + "\n", encoding="utf-8")
    return int(app.return_code or 0)
