"""The tunelens app: Compare (F2), Runs (F3), SQL (F4) and Report (F6) screens over one session
and one store.

Each screen is a Textual mode with its own stack, so switching keeps what a screen shows (a
stream keeps streaming while you query its first answers). The app holds no model or SQL logic:
the compare screen drives `engine.run.session.Session` (which owns the model threads), the
report calls `engine.analysis.report`, the others read through `engine.store.browse`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from engine.records import MODE_LABELS, MODES, ORIGINAL
from tui.screens.compare import CompareScreen
from tui.screens.export import ExportScreen
from tui.screens.help import HelpScreen
from tui.screens.history import HistoryScreen
from tui.screens.report import ReportScreen
from tui.screens.run_picker import RunPickerScreen
from tui.screens.runs import RunsScreen
from tui.screens.sql import SqlScreen
from tui.screens.stored_compare import StoredCompareScreen

if TYPE_CHECKING:
    from engine.run.runner import RunConfig
    from engine.run.session import Session
    from engine.store.store import Store

DARK, LIGHT = "textual-dark", "textual-light"
ENV_LOOP_PROBE = "TUNELENS_LOOP_PROBE"  # a file path: the app writes its event-loop pauses there


class LoopProbe:
    """Measures how late a 10 ms timer fires: the longest the event loop was blocked.

    A frozen UI is a late timer; the worst lateness seen while models stream is the pause a user
    would feel (typing, scrolling, Escape).
    """

    def __init__(self, interval_s: float = 0.01,
                 busy: Callable[[], bool] | None = None) -> None:
        self.interval_s = interval_s
        self.busy = busy or (lambda: False)
        self.max_late_s = 0.0
        self.ticks = 0
        self.busy_ticks = 0
        self.max_busy_late_s = 0.0  # the worst pause while generations were streaming
        self._last: float | None = None
        self._samples: list[float] = []
        self._busy_samples: list[float] = []

    def start(self, app: App[int]) -> None:
        self._last = time.perf_counter()
        app.set_interval(self.interval_s, self._tick, name="loop-probe")

    def reset(self) -> None:
        self.max_late_s = self.max_busy_late_s = 0.0
        self.ticks = self.busy_ticks = 0
        self._samples, self._busy_samples = [], []
        self._last = time.perf_counter()

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            late = max(0.0, now - self._last - self.interval_s)
            self.max_late_s = max(self.max_late_s, late)
            self._samples.append(late)
            if self.busy():
                self.max_busy_late_s = max(self.max_busy_late_s, late)
                self._busy_samples.append(late)
                self.busy_ticks += 1
        self._last = now
        self.ticks += 1

    def percentile(self, q: float, *, busy: bool = False) -> float:
        samples = self._busy_samples if busy else self._samples
        if not samples:
            return 0.0
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def report(self) -> str:
        ms = 1000
        return (
            f"event loop, {self.interval_s * ms:.0f} ms timer: while streaming "
            f"{self.busy_ticks} ticks, max lateness {self.max_busy_late_s * ms:.1f} ms, "
            f"p99 {self.percentile(0.99, busy=True) * ms:.1f} ms; whole session {self.ticks} "
            f"ticks, max {self.max_late_s * ms:.1f} ms, p99 {self.percentile(0.99) * ms:.1f} ms"
        )


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
        if screen is self.compare:
            c = self.compare
            yield SystemCommand("Run", "Ask both models the current question (Enter)",
                                c.action_run)
            yield SystemCommand("Stop", "Stop the generations in flight (Esc)", c.action_stop)
            yield SystemCommand("Next item", "n", c.action_next_item)
            yield SystemCommand("Previous item", "p", c.action_previous_item)
            yield SystemCommand("Random item", "r", c.action_random_item)
            yield SystemCommand("Go to item id", "g", c.action_goto_item)
            for mode in MODES:
                yield SystemCommand(f"Mode: {MODE_LABELS[mode]}", f"Prompt mode {mode}",
                                    lambda mode=mode: c.set_mode(mode))
            yield SystemCommand("Toggle chat template", "Instruct model: chat template on/off (c)",
                                c.action_toggle_chat)
            for name in c.perturbations:
                yield SystemCommand(f"Perturbation: {name}", "Show this variant of the item",
                                    lambda name=name: c.set_perturbation(name))
            yield SystemCommand("Perturbation: none", "Back to the original item",
                                lambda: c.set_perturbation(ORIGINAL))
            yield SystemCommand("Toggle 2x2 view", "Original vs variant x base vs instruct (2)",
                                c.action_toggle_quad)
            yield SystemCommand("Settings panel", "Show or hide the controls (s)",
                                c.action_toggle_controls)
            yield SystemCommand("Token shift", "Score the instruct answer under the base model, "
                                "then step through its shifted tokens (t)",
                                c.action_token_shift)
        if isinstance(screen, StoredCompareScreen):
            yield SystemCommand("Next shifted token", "Where the base model preferred another "
                                "token (t)", lambda: screen.action_step_shift(1))
        if isinstance(screen, ReportScreen):
            yield SystemCommand("Rebuild the report", "Read the store again (F5)",
                                screen.action_refresh)
            yield SystemCommand("Pick runs for the report", "Any set of runs (u)",
                                screen.action_pick_runs)
            yield SystemCommand("Report: plots", "Jump to the plots (g)", screen.action_plots)
        yield from super().get_system_commands(screen)


def default_history_file() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("tunelens")) / "sql_history.json"


def default_log_file() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("tunelens")) / "app.log"


@contextlib.contextmanager
def terminal_guard(log_file: Path) -> Iterator[None]:
    """Give Textual its own handles on the terminal; send file descriptors 1 and 2 to a log.

    llama.cpp writes warnings straight to file descriptor 2, and llama-cpp-python silences model
    loading by pointing descriptors 1 and 2 at /dev/null for a moment (two loads in two threads
    can even leave them there). Textual draws on `sys.__stderr__` and reads the terminal size
    from `sys.__stdout__`, so either would garble or freeze the screen. Textual gets duplicates
    of the terminal instead, and the library noise goes to the log file, where it can be read.
    """
    if not (os.isatty(1) and os.isatty(2)):
        yield  # not a terminal: nothing to protect, and Textual will say what is wrong
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    saved_std = (sys.__stdout__, sys.__stderr__)
    saved_fds = (os.dup(1), os.dup(2))
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", errors="replace")
    err = os.fdopen(os.dup(2), "w", encoding="utf-8", errors="replace")
    with open(log_file, "a", encoding="utf-8") as log:
        log.write(f"--- tunelens app {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        log.flush()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.__stdout__, sys.__stderr__ = out, err  # read by Textual when the app starts
        try:
            yield
        finally:
            sys.__stdout__, sys.__stderr__ = saved_std
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            for fd in saved_fds:
                os.close(fd)
            out.close()
            err.close()


def run_app(config: RunConfig, db: str | None) -> int:
    """Open the app on a store (default: the user's); returns the exit code for the CLI."""
    from engine.store.store import Store

    store = Store(db)
    probe_path = os.environ.get(ENV_LOOP_PROBE)
    with terminal_guard(default_log_file()):
        app = TunelensApp(config, store, history_file=default_history_file(),
                          loop_probe=bool(probe_path))
        try:
            app.run()
        finally:
            app.compare.shutdown()
    if app.probe is not None and probe_path:
        Path(probe_path).write_text(app.probe.report() + "\n", encoding="utf-8")
    return int(app.return_code or 0)
