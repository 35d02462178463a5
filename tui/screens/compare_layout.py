"""The layout the live and the recorded compare screens share: the question on top, answer panes
below, two (one item) or four (original/variant x base/instruct)."""

from __future__ import annotations

from typing import Literal

from textual.app import ComposeResult
from textual.containers import Container
from textual.screen import Screen

from engine.records import ROLES
from tui.widgets import AnswerPane, QuestionView

Which = Literal["original", "variant"]
WHICH: tuple[Which, Which] = ("original", "variant")


class CompareLayout(Screen[None]):
    """Question on top, panes below: two (one item) or four (original/variant x base/instruct)."""

    quad = False
    which: Which = "original"

    def compose_panes(self) -> ComposeResult:
        yield QuestionView(id="question")
        with Container(id="panes"):
            for which in WHICH:
                for role in ROLES:
                    yield AnswerPane(which, role, id=f"pane-{which}-{role}")

    def pane(self, which: str, role: str) -> AnswerPane:
        return self.query_one(f"#pane-{which}-{role}", AnswerPane)

    def panes(self) -> list[AnswerPane]:
        return list(self.query(AnswerPane))

    def apply_layout(self) -> None:
        """Show two panes for the current item, or all four in the 2x2 view."""
        grid = self.query_one("#panes")
        grid.set_class(self.quad, "-quad")
        for p in self.panes():
            p.display = self.quad or p.which == self.which

    def shift_pane(self) -> AnswerPane | None:
        """The pane `t` steps through: the focused one if it has token shift, else the selected
        answer's, else the first shown with one."""
        shown = [p for p in self.panes() if p.display and p.shifts]
        for p in shown:
            if p.has_focus_within:
                return p
        for p in shown:
            if p.has_class("-selected"):
                return p
        return shown[0] if shown else None

    def step_shift(self, step: int) -> bool:
        """Step the shift pane to its next (or previous) marked token; False when no pane shown
        has token shift."""
        pane = self.shift_pane()
        if pane is None:
            return False
        if pane.step_shift(step) is None:
            self.notify("Every token is the base model's first choice.", timeout=3)
        return True
