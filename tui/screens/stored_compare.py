"""A recorded answer and its counterparts in the compare layout, read from the store.

No model runs here: the Runs screen opens it on an answer, with the token shift of the
instruct answers where it was scored (`tunelens shift`, or t on the compare screen).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer

from engine.records import MODE_LABELS, ROLES
from tui.screens.compare_layout import WHICH, CompareLayout
from tui.widgets import PaneResult, QuestionView, StatusLine

if TYPE_CHECKING:
    from engine.analysis import TokenShift
    from engine.store.browse import CompareSet


class StoredCompareScreen(CompareLayout):
    """A recorded answer and its counterparts, in the compare layout, without running a model."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "app.help", "Help"),
        Binding("escape,backspace", "back", "Back"),
        Binding("2", "toggle_quad", "2x2"),
        Binding("t", "step_shift(1)", "Next shifted token", show=False),
        Binding("shift+t", "step_shift(-1)", "Previous shifted token", show=False),
    ]

    def __init__(self, data: CompareSet,
                 shifts: dict[str, list[TokenShift]] | None = None) -> None:
        super().__init__(id="stored-compare")
        self.data = data
        self.which = data.focus
        self.shifts = shifts or {}  # generation_id -> its token shift (instruct answers)

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status-line")
        with Vertical(id="compare-left"):
            yield from self.compose_panes()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        d = self.data
        first = next(iter(d.answers.values()), None)  # run and mode are the same for all
        status = ["[b]recorded[/b]"]
        if first is not None:
            status += [f"run {first.run_id}", MODE_LABELS.get(first.mode, first.mode),
                       "chat on (instruct)" if any(a.chat_template for a in d.answers.values())
                       else "chat off"]
        if self.shifts:
            status.append("token shift (t)")
        self.query_one(StatusLine).update(" · ".join(status))
        view = self.query_one(QuestionView)
        if d.variant is not None and (d.focus == "variant" or self.quad):
            view.show_variant(d.original.item_id, d.original.question, d.variant.item_id,
                              d.variant.question, d.variant.perturbation or "variant",
                              d.variant.gold, d.original.gold)
        else:
            view.show_item(d.original.item_id, d.original.question, d.original.gold)
        gold = {"original": d.original.gold, "variant": d.variant.gold if d.variant else None}
        for which in WHICH:
            for role in ROLES:
                pane = self.pane(which, role)
                ans = d.answers.get((which, role))
                if ans is None:
                    pane.show_empty("no recorded answer")
                else:
                    pane.set_model(ans.model_name or "")
                    pane.show_result(PaneResult.from_stored(ans, gold[which]))
                    if ans.generation_id in self.shifts:
                        pane.show_shift(self.shifts[ans.generation_id])
                if ans is not None and ans.generation_id == d.selected:
                    pane.add_class("-selected")
        self.apply_layout()

    def action_step_shift(self, step: int) -> None:
        if not self.step_shift(step):
            self.notify("No token shift for the answers shown: `tunelens shift` scores a run.",
                        severity="warning")

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Next shifted token", "Where the base model preferred another "
                            "token (t)", lambda: self.action_step_shift(1))

    def action_toggle_quad(self) -> None:
        if self.data.variant is None:
            self.notify("No variant of this item was recorded in this run.", severity="warning")
            return
        self.quad = not self.quad
        self.on_mount()

    def action_back(self) -> None:
        self.dismiss(None)
