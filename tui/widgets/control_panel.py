"""The compare screen's settings panel: item, mode, chat template, max tokens, perturbation.

It only lays the controls out; the screen listens to their changes (ids `ctl-*`, `btn-*`) and
keeps them in step with the keys that change the same settings.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static, Switch

from engine.records import MODE_LABELS, MODES, ORIGINAL


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
