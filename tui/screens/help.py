"""F1 help: every key binding of the app, read from the screens' own BINDINGS so it cannot drift."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

INTRO = (
    "tunelens asks a base model and its instruction-tuned sibling the same question and shows "
    "both answers side by side. Every answer is recorded in the DuckDB store (Runs: F3, SQL: F4, "
    "Report: F6)."
)

# Keys that belong to widgets rather than screens, worth knowing.
EXTRA: tuple[tuple[str, str, str], ...] = (
    ("Everywhere", "ctrl+p", "Command palette: every action by name"),
    ("Everywhere", "tab / shift+tab", "Move focus"),
    ("Compare", "↑ ↓ pgup pgdn", "Scroll the focused answer (it stops following the stream)"),
    ("Compare", "mouse over a token", "Coloured by token shift: what the base model preferred"),
    ("Runs", "↑ ↓, enter", "Pick a run / an answer; enter opens the answer"),
    ("Report", "tab, ← →", "Move to a table; scroll a wide one sideways"),
    ("SQL", "shift+arrows, f7", "Select text (f7: all): only the selection runs, if any"),
)


def binding_rows(bindings: Iterable[BindingType]) -> list[tuple[str, str]]:
    """(keys, description) for each binding, as a person would type them."""
    rows = []
    for b in bindings:
        binding = b if isinstance(b, Binding) else Binding(*b)
        keys = " / ".join(_key_name(k) for k in binding.key.split(","))
        rows.append((keys, binding.description or binding.action))
    return rows


def _key_name(key: str) -> str:
    names = {"equals_sign": "=", "plus": "+", "minus": "-", "question_mark": "?"}
    return names.get(key.strip(), key.strip())


class HelpScreen(ModalScreen[None]):
    """Modal list of bindings by context."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "dismiss", "Close")]

    def __init__(self, sections: Sequence[tuple[str, Iterable[BindingType]]]) -> None:
        super().__init__(id="help")
        self.sections = sections

        self.rows: list[tuple[str, str, str]] = []
        seen: set[tuple[str, str]] = set()
        for title, bindings in sections:
            for keys, desc in binding_rows(bindings):
                if (keys, desc) not in seen:  # F1 is repeated per screen for the footer
                    seen.add((keys, desc))
                    self.rows.append((title, keys, desc))
        self.rows += EXTRA

    def compose(self) -> ComposeResult:
        table = Table(box=None, expand=True, show_header=True, header_style="bold")
        table.add_column("where", style="bold", no_wrap=True)
        table.add_column("keys", no_wrap=True)
        table.add_column("does")
        for row in self.rows:
            table.add_row(*row)
        with Vertical(classes="dialog help-dialog"):
            yield Label("Keys (Esc closes)", classes="dialog-title")
            with VerticalScroll():
                yield Static(Text(INTRO, style="italic"))
                yield Static(table, id="help-table")
