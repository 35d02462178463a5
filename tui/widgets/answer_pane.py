"""One model's answer: the streamed text, then its verdict, timing and token shift."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tui.widgets.pane_result import PaneResult, highlighted_output, stats_line
from tui.widgets.stream_text import StreamText
from tui.widgets.token_shift import shift_explanation, shift_legend, shift_output, shift_styles

if TYPE_CHECKING:
    from engine.analysis import TokenShift


class AnswerPane(Vertical):
    """One model's answer: streamed text, then the verdict and the timing underneath.

    Text arrives in batches from the screen's flush timer; the body follows the stream only while
    the reader is at the bottom, and stays put once they scroll up to read.
    """

    def __init__(self, which: str, role: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes=f"pane -{which} -{role}")
        self.which = which
        self.role = role
        self._text = ""
        self._model = ""
        self._span: tuple[int, int] | None = None
        self.shifts: list[TokenShift] = []  # token shift of the answer shown, if scored
        self.shift_selected: int | None = None  # index into `shifts` of the stepped-to token

    def compose(self) -> ComposeResult:
        yield StreamText(classes="pane-body pane-text")
        yield Static(classes="pane-verdict")
        yield Static(classes="pane-stats")
        yield Static(classes="pane-shift")

    def on_mount(self) -> None:
        self._title()
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    # -- public -------------------------------------------------------------------------------
    @property
    def text(self) -> str:
        return self._text

    def set_model(self, name: str) -> None:
        self._model = name
        self._title()

    def set_status(self, status: str, *, error: bool = False) -> None:
        self.border_subtitle = status
        self.set_class(error, "-error")

    def reset(self, status: str = "waiting") -> None:
        self._text = ""
        self._clear_shift()
        self._body_text().set_text(Text())
        self.query_one(".pane-verdict", Static).update("")
        self.query_one(".pane-stats", Static).update("")
        self.remove_class("-correct", "-wrong", "-error", "-done")
        self._body_text().scroll_home(animate=False, immediate=True)
        self.set_status(status)

    def append(self, chunk: str) -> None:
        if not chunk:
            return
        self._text += chunk
        self._body_text().append(chunk)

    def show_result(self, result: PaneResult) -> None:
        streamed = bool(self._text)  # a live answer ends where the stream ended; a stored one
        self._text = result.output  # opens at its beginning
        self._span = result.span
        self._clear_shift()
        self._body_text().set_text(highlighted_output(result.output, result.span),
                                   home=not streamed)
        if result.model_name and not self._model:
            self.set_model(result.model_name)
        verdict = Text()
        if result.correct is None:
            verdict.append(" ? ", style="reverse")
        elif result.correct:
            verdict.append(" ✓ correct ", style="bold reverse")
        else:
            verdict.append(" ✗ wrong ", style="bold reverse")
        verdict.append(" answer ", style="dim")
        verdict.append(result.extracted if result.extracted is not None else "—", style="bold")
        if result.gold is not None:
            verdict.append("  gold ", style="dim")
            verdict.append(result.gold)
        self.query_one(".pane-verdict", Static).update(verdict)
        self.query_one(".pane-stats", Static).update(stats_line(result))
        self.set_class(bool(result.correct), "-correct")
        self.set_class(result.correct is False, "-wrong")
        self.add_class("-done")
        status = {"stop": "done", "length": "hit max tokens", "cancelled": "stopped",
                  "context": "context full"}.get(result.finish_reason or "", "done")
        self.set_status(status)

    def show_error(self, message: str) -> None:
        self._clear_shift()
        self._body_text().set_text(Text(message, style="bold"))
        self.set_status("error", error=True)

    def show_empty(self, message: str) -> None:
        self._text = ""
        self._clear_shift()
        self._body_text().set_text(Text(message, style="italic dim"))
        self.query_one(".pane-verdict", Static).update("")
        self.query_one(".pane-stats", Static).update("")
        self.remove_class("-correct", "-wrong", "-done")
        self.set_status("")

    # -- token shift --------------------------------------------------------------------------
    def show_shift(self, shifts: Sequence[TokenShift]) -> None:
        """Colour the answer shown by token shift class, with a legend under it."""
        self.shifts = list(shifts)
        self.shift_selected = None
        self.set_class(bool(self.shifts), "-shift")
        self._render_shift(home=True)

    def show_shift_message(self, message: str, *, error: bool = False) -> None:
        """A line where the legend goes: why there is no token shift to show."""
        line = self.query_one(".pane-shift", Static)
        line.update(Text(message, style="bold" if error else "italic dim"))
        line.display = True

    @property
    def shift_marked(self) -> list[int]:
        """Indices of the tokens the base model would not have chosen (marginal or shifted)."""
        return [i for i, t in enumerate(self.shifts) if t.shift != "unshifted"]

    def step_shift(self, step: int) -> TokenShift | None:
        """Select the next (or previous) marked token, scroll to it and explain it below."""
        marked = self.shift_marked
        if not marked:
            return None
        if self.shift_selected in marked:
            pos = (marked.index(self.shift_selected) + step) % len(marked)  # type: ignore[arg-type]
        else:
            pos = 0 if step > 0 else len(marked) - 1
        self.shift_selected = marked[pos]
        self._render_shift()
        body = self._body_text()
        line = body.line_of("token", self.shift_selected)
        if line is not None:
            body.scroll_to_line(line)
        return self.shifts[self.shift_selected]

    def _clear_shift(self) -> None:
        self.shifts = []
        self.shift_selected = None
        self.remove_class("-shift")
        if self.is_mounted:
            line = self.query_one(".pane-shift", Static)
            line.update("")
            line.display = False

    def _styles(self) -> dict[str, Style]:
        return shift_styles(self.app.current_theme.to_color_system().generate())

    def _render_shift(self, *, home: bool = False) -> None:
        if not self.shifts:
            return
        styles = self._styles()
        self._body_text().set_text(
            shift_output(self._text, self._span, self.shifts, styles, self.shift_selected),
            home=home)
        lines = [shift_legend(self.shifts, styles)]
        marked = self.shift_marked
        if self.shift_selected is not None:
            tok = self.shifts[self.shift_selected]
            head = f"{marked.index(self.shift_selected) + 1}/{len(marked)} " if (
                self.shift_selected in marked) else ""
            lines.append(Text(head, style="dim") + Text(shift_explanation(tok)))
        elif marked:
            lines.append(Text(f"{len(marked)} not the base model's pick · t steps",
                              style="dim"))
        line = self.query_one(".pane-shift", Static)
        line.update(Text("\n").join(lines))
        line.display = True

    def _theme_changed(self, _theme: Any) -> None:
        self._render_shift()

    # -- private ------------------------------------------------------------------------------
    def _body_text(self) -> StreamText:
        return self.query_one(StreamText)

    def _title(self) -> None:
        which = "" if self.which == "original" else "variant · "
        self.border_title = f"{which}{self.role}" + (f" · {self._model}" if self._model else "")
