"""The Report screen's run picker: any set of runs for the report (none picked: all runs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, SelectionList
from textual.widgets.selection_list import Selection

if TYPE_CHECKING:
    from engine.store import browse


def run_label(run: browse.RunRow) -> str:
    """A run as menus name it: its id, pair and dataset."""
    return " ".join(p for p in (run.run_id, run.pair, run.dataset) if p)


class RunPickerScreen(ModalScreen[tuple[str, ...] | None]):
    """Pick any set of runs for the report (none picked: all runs)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("a", "apply", "Apply"),
    ]

    def __init__(self, runs: Sequence[browse.RunRow], chosen: Sequence[str]) -> None:
        super().__init__(id="run-picker")
        self.runs = list(runs)
        self.chosen = set(chosen)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Runs in the report (space toggles, a applies, Esc cancels; none: all)",
                        classes="dialog-title")
            yield SelectionList[str](
                *[Selection(f"{run_label(r)} · {r.answers} answers", r.run_id,
                            r.run_id in self.chosen) for r in self.runs],
                id="run-picker-list",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", id="run-picker-ok", variant="primary")
                yield Button("Cancel", id="run-picker-cancel")

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    @on(Button.Pressed, "#run-picker-ok")
    def action_apply(self) -> None:
        picked = self.query_one(SelectionList).selected
        order = [r.run_id for r in self.runs]
        self.dismiss(tuple(sorted(picked, key=order.index)))

    @on(Button.Pressed, "#run-picker-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
