"""The SQL screen's export dialog: where to write the full result, and in which format."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select


class ExportScreen(ModalScreen[tuple[str, str] | None]):
    """Where to write the result, and in which format."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]
    SUFFIX: ClassVar[dict[str, str]] = {"csv": ".csv", "parquet": ".parquet", "jsonl": ".jsonl"}

    def __init__(self, default_path: str) -> None:
        super().__init__(id="export")
        self.default_path = default_path

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Export the full result of the query", classes="dialog-title")
            yield Select([("CSV", "csv"), ("Parquet", "parquet"), ("JSON Lines", "jsonl")],
                         value="csv", allow_blank=False, id="export-format")
            yield Input(self.default_path, id="export-path")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export", id="export-ok", variant="primary")
                yield Button("Cancel", id="export-cancel")

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    @on(Select.Changed, "#export-format")
    def _format_changed(self, event: Select.Changed) -> None:
        inp = self.query_one("#export-path", Input)
        path = Path(inp.value)
        if path.suffix in self.SUFFIX.values():
            inp.value = str(path.with_suffix(self.SUFFIX[str(event.value)]))

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export-ok")
    def _ok(self) -> None:
        path = self.query_one("#export-path", Input).value.strip()
        fmt = str(self.query_one("#export-format", Select).value)
        self.dismiss((path, fmt) if path else None)

    @on(Button.Pressed, "#export-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
