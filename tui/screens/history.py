"""The SQL screen's query history: pick a past query to put back in the editor."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class HistoryScreen(ModalScreen[str | None]):
    """Past queries, newest first; Enter puts one back in the editor."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, queries: list[str]) -> None:
        super().__init__(id="history")
        self.queries = queries

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Query history (Enter to load, Esc to close)", classes="dialog-title")
            yield OptionList(*[Option(" ".join(q.split())[:200], id=str(i))
                               for i, q in enumerate(self.queries)], id="history-list")

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.queries[int(event.option.id or 0)])
