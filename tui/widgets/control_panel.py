"""The compare screen's settings panel: item, mode, chat template, max tokens, perturbation.

It lays the controls out and shows the values the screen sets (`show_*`, so keys and controls
agree); the screen listens to the controls' own change events (ids `ctl-*`, `btn-*`).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static, Switch

from engine.records import MODE_LABELS, MODES, ORIGINAL

WIDE = 120  # columns from which the panel is shown by default


class ControlPanel(VerticalScroll):
    """The right-hand panel, shown by default on wide terminals (`s` toggles it)."""

    def __init__(self, *, pair: str, dataset: str, mode: str, chat: bool, max_tokens: int,
                 id: str | None = "controls") -> None:
        super().__init__(id=id)
        self.pair = pair
        self.dataset = dataset
        self.mode = mode
        self.chat = chat
        self.max_tokens = max_tokens

    def compose(self) -> ComposeResult:
        yield Label("Pair", classes="control-label")
        yield Static(self.pair, id="ctl-pair", classes="control-value")
        yield Label("Dataset", classes="control-label")
        yield Static(self.dataset, id="ctl-dataset", classes="control-value")
        yield Label("Item (id or number, Enter)", classes="control-label")
        yield Input(placeholder="jump to id", id="ctl-jump")
        with Horizontal(classes="control-buttons"):
            yield Button("◀", id="btn-prev", compact=True, tooltip="previous item (p)")
            yield Button("▶", id="btn-next", compact=True, tooltip="next item (n)")
            yield Button("?", id="btn-random", compact=True, tooltip="random item (r)")
        yield Label("Mode", classes="control-label")
        yield Select([(MODE_LABELS[m], m) for m in MODES], value=self.mode,
                     allow_blank=False, id="ctl-mode", compact=True)
        yield Label("Chat template (instruct)", classes="control-label")
        yield Switch(value=self.chat, id="ctl-chat")
        yield Label("Max tokens", classes="control-label")
        yield Input(str(self.max_tokens), type="integer", id="ctl-max-tokens")
        yield Label("Perturbation", classes="control-label")
        yield Select([(ORIGINAL, ORIGINAL)], value=ORIGINAL,
                     allow_blank=False, id="ctl-perturbation", compact=True)
        with Horizontal(classes="control-buttons"):
            yield Button("Run", id="btn-run", variant="primary", compact=True)
            yield Button("Stop", id="btn-stop", variant="error", compact=True)

    # -- showing what the screen set ----------------------------------------------------------
    def show_mode(self, mode: str) -> None:
        sel = self.query_one("#ctl-mode", Select)
        if sel.value != mode:
            sel.value = mode

    def show_chat(self, on: bool) -> None:
        sw = self.query_one("#ctl-chat", Switch)
        if sw.value != on:
            sw.value = on

    def show_max_tokens(self, value: int) -> None:
        inp = self.query_one("#ctl-max-tokens", Input)
        if inp.value != str(value):
            inp.value = str(value)

    def set_perturbations(self, names: list[str]) -> None:
        """The perturbation menu: the original, then each name; the original picked."""
        sel = self.query_one("#ctl-perturbation", Select)
        sel.set_options([(n, n) for n in [ORIGINAL, *names]])
        sel.value = ORIGINAL

    def show_perturbation(self, name: str) -> None:
        sel = self.query_one("#ctl-perturbation", Select)
        if sel.value != name:
            sel.value = name

    def clear_jump(self) -> None:
        self.query_one("#ctl-jump", Input).value = ""

    # -- showing the panel --------------------------------------------------------------------
    def pin(self, shown: bool) -> None:
        """Show or hide the panel as the user asked: from now on the width does not decide."""
        self.display = shown
        self.add_class("-user-set")

    def fit(self, width: int) -> None:
        """Unless the user chose, show the panel only on terminals wide enough for it."""
        if not self.has_class("-user-set"):
            self.display = width >= WIDE

    def focus_jump(self) -> None:
        self.pin(True)
        self.query_one("#ctl-jump", Input).focus()
