"""Widgets shared by the screens: an answer pane, the question view, and the word diff.

They only display: the screens decide what to show and where it comes from (the engine's live
answers or the store's recorded ones), so one layout serves both. An instruct answer whose token
shift is known (`engine.analysis.shift.TokenShift` rows) is coloured by class, with a legend; hovering a
token shows what the base model preferred there, and `AnswerPane.step_shift` walks the tokens the
base model would not have chosen.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

if TYPE_CHECKING:
    from engine.analysis import TokenShift

_WORDS = re.compile(r"\s+|[^\s]+")


@dataclass(frozen=True)
class PaneResult:
    """What a pane shows under a finished answer, from a live `Answer` or a stored row."""

    output: str
    span: tuple[int, int] | None
    extracted: str | None
    correct: bool | None
    gold: str | None
    ttft_s: float | None
    tokens_per_s: float | None
    tokens: int | None
    finish_reason: str | None
    model_name: str | None = None

    @classmethod
    def from_answer(cls, answer: Any, gold: str | None) -> PaneResult:
        """From `engine.run.runner.Answer` (a live generation)."""
        gen = answer.generation
        return cls(
            output=gen.text, span=answer.span, extracted=answer.grade.extracted,
            correct=answer.grade.correct, gold=gold, ttft_s=gen.ttft_s,
            tokens_per_s=gen.tokens_per_s, tokens=gen.tokens, finish_reason=gen.finish_reason,
            model_name=answer.row.get("model_name"),
        )

    @classmethod
    def from_stored(cls, stored: Any, gold: str | None) -> PaneResult:
        """From `engine.store.browse.StoredAnswer` (read from the store, no model involved)."""
        return cls(
            output=stored.output or "", span=stored.span, extracted=stored.extracted,
            correct=stored.correct, gold=gold, ttft_s=stored.ttft_s,
            tokens_per_s=stored.tokens_per_s, tokens=stored.tokens,
            finish_reason=stored.finish_reason, model_name=stored.model_name,
        )


def highlighted_output(output: str, span: tuple[int, int] | None) -> Text:
    """The answer text with the extracted answer marked where the grader found it."""
    text = Text(output)
    if span is not None:
        start, end = span
        if 0 <= start < end <= len(output):
            text.stylize("bold reverse", start, end)
    return text


def word_diff(original: str, variant: str) -> tuple[Text, Text]:
    """Original and variant with the changed words marked: struck out in one, bold in the other.

    Whitespace is kept as its own token so the texts read as written; the styles (strike, reverse)
    do not depend on colours, so they read in the dark and the light theme alike.
    """
    a, b = _WORDS.findall(original), _WORDS.findall(variant)
    left, right = Text(), Text()
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        old, new = "".join(a[i1:i2]), "".join(b[j1:j2])
        if op == "equal":
            left.append(old)
            right.append(new)
            continue
        if old:
            left.append(old, style="strike dim")
        if new:
            right.append(new, style="bold reverse")
    return left, right


# -- token shift ----------------------------------------------------------------------------------

SHIFT_CLASSES = ("unshifted", "marginal", "shifted")


def shift_styles(variables: Mapping[str, str]) -> dict[str, Style]:
    """Styles per shift class (and the selected token) from the theme's colour variables.

    Unshifted tokens stay plain; marginal ones take the theme's warning text colour, shifted ones
    its error text colour, bold and underlined so they stand out without colour too.
    """
    warning = variables.get("text-warning") or variables.get("warning") or "yellow"
    error = variables.get("text-error") or variables.get("error") or "red"
    primary = variables.get("primary") or "blue"
    return {
        "unshifted": Style(),
        "marginal": Style(color=warning),
        "shifted": Style(color=error, bold=True, underline=True),
        "selected": Style(color="#ffffff", bgcolor=primary, bold=True),
    }


def _quoted(token: str) -> str:
    return repr(token)


def shift_explanation(tok: TokenShift) -> str:
    """One line on a token: what the instruct model wrote and what the base model preferred."""
    if tok.shift == "unshifted":
        return (f"instruct wrote {_quoted(tok.token)}: the base model's first choice too "
                f"(p={tok.prob:.2f})")
    return (f"instruct wrote {_quoted(tok.token)} (rank {tok.rank}), base preferred "
            f"{_quoted(tok.base_top)} (p={tok.base_top_prob:.2f})")


def shift_output(output: str, span: tuple[int, int] | None, shifts: Sequence[TokenShift],
                 styles: Mapping[str, Style], selected: int | None = None) -> Text:
    """The answer coloured by shift class; every token carries its explanation as a tooltip.

    `selected` is a position in `shifts`, drawn in the selection style. The extracted answer is
    marked as in `highlighted_output`.
    """
    text = Text(output)
    n = len(output)
    for i, tok in enumerate(shifts):
        start, end = max(0, tok.start), min(n, tok.end)
        if start >= end:
            continue  # part of a character completed by the next token
        meta = {"tooltip": shift_explanation(tok), "token": i}
        text.stylize(styles.get(tok.shift, Style()) + Style(meta=meta), start, end)
    if span is not None and 0 <= span[0] < span[1] <= n:
        text.stylize("bold reverse", span[0], span[1])
    if selected is not None and 0 <= selected < len(shifts):
        tok = shifts[selected]
        if tok.start < tok.end:
            text.stylize(styles["selected"], tok.start, min(n, tok.end))
    return text


def shift_counts(shifts: Sequence[TokenShift]) -> dict[str, int]:
    counts = dict.fromkeys(SHIFT_CLASSES, 0)
    for tok in shifts:
        counts[tok.shift] = counts.get(tok.shift, 0) + 1
    return counts


def shift_legend(shifts: Sequence[TokenShift], styles: Mapping[str, Style]) -> Text:
    """'unshifted/marginal/shifted 80/12/8%': each class name in its own style, one line in a pane
    at 80 columns."""
    counts = shift_counts(shifts)
    total = max(1, len(shifts))
    legend = Text()
    for i, cls in enumerate(SHIFT_CLASSES):
        if i:
            legend.append("/", style="dim")
        legend.append(cls, style=styles.get(cls, Style()) + Style(dim=cls == "unshifted"))
    shares = "/".join(f"{100 * counts[cls] / total:.0f}" for cls in SHIFT_CLASSES)
    legend.append(f" {shares}%")
    return legend


class QuestionView(VerticalScroll):
    """The question, its gold answer, and for a variant the word diff against the original."""

    can_focus = False

    def compose(self) -> ComposeResult:
        yield Static(id="question-text")

    def show_item(self, item_id: str, question: str, gold: str | None,
                  position: str = "") -> None:
        head = Text()
        head.append(item_id, style="bold")
        if position:
            head.append(f"  {position}", style="dim")
        if gold is not None:
            head.append("  gold ", style="dim")
            head.append(gold, style="bold")
        self.border_title = None
        self.query_one("#question-text", Static).update(Text("\n").join([head, Text(question)]))

    def show_variant(self, original_id: str, original: str, variant_id: str, variant: str,
                     perturbation: str, gold: str | None, original_gold: str | None,
                     position: str = "") -> None:
        left, right = word_diff(original, variant)
        head = Text()
        head.append(original_id, style="bold")
        if position:
            head.append(f"  {position}", style="dim")
        lines = [head]
        orig_line = Text("orig  ", style="dim") + left
        if original_gold is not None:
            orig_line += Text(f"  (gold {original_gold})", style="dim")
        var_line = Text(f"{perturbation:<5} ", style="dim") + right
        if gold is not None:
            var_line += Text("  (gold ", style="dim") + Text(gold, style="bold") + Text(
                ")", style="dim")
        lines += [orig_line, var_line]
        self.query_one("#question-text", Static).update(Text("\n").join(lines))
        self.border_title = f"variant: {variant_id}"

    def show_message(self, message: str, *, error: bool = False) -> None:
        self.query_one("#question-text", Static).update(
            Text(message, style="bold red" if error else "italic")
        )


class StreamText(ScrollView, can_focus=True):
    """Wrapped text that grows as tokens arrive, drawn line by line.

    A `Static` that grows changes its height, and every height change re-lays out the whole
    screen (tens of milliseconds, twenty times a second per pane). This widget only changes its
    virtual size and repaints its own lines, like Textual's `Log`, but wraps words and can
    highlight a span. It follows the end while the reader is at the bottom.
    """

    DEFAULT_CSS = """
    StreamText {
        height: 1fr;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._content = Text()
        self._lines: list[Strip] = []
        self._wrapped_width = -1

    @property
    def plain(self) -> str:
        return self._content.plain

    def set_text(self, text: Text, *, home: bool = False) -> None:
        """Replace the text; follow the end if the reader was there, or go to the top."""
        follow = not home and self.scroll_y >= self.max_scroll_y - 1
        self._content = text
        self._rewrap()
        if home:
            self.scroll_home(animate=False, immediate=True)
        elif follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def _rewrap(self) -> None:
        width = self.scrollable_content_region.width
        if width <= 0:
            return  # not laid out yet: on_resize wraps
        console = self.app.console
        lines = self._content.wrap(console, width, overflow="fold")
        strips = []
        for line in lines:
            line.end = ""
            strips.append(Strip(list(line.render(console)), line.cell_len))
        self._lines = strips
        self._wrapped_width = width
        self.virtual_size = Size(width, len(self._lines))

    def on_resize(self) -> None:
        at_end = self.scroll_y > 0 and self.scroll_y >= self.max_scroll_y - 1
        self._rewrap()
        if at_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def line_of(self, key: str, value: Any) -> int | None:
        """The first wrapped line holding a segment whose style meta has `key` = `value`."""
        for index, strip in enumerate(self._lines):
            for segment in strip:
                if segment.style is not None and segment.style.meta.get(key) == value:
                    return index
        return None

    def scroll_to_line(self, index: int) -> None:
        """Bring a wrapped line into view (centred when it was off screen)."""
        top, height = self.scroll_y, self.scrollable_content_region.height
        if not top <= index < top + height:
            self.scroll_to(y=max(0, index - height // 2), animate=False, immediate=True)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        # Text styled with a "tooltip" meta (token shift) explains itself under the mouse.
        tip = event.style.meta.get("tooltip") if event.style else None
        if tip != self.tooltip:
            self.tooltip = tip

    def on_leave(self) -> None:
        self.tooltip = None

    def render_line(self, y: int) -> Strip:
        _, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        style = self.rich_style
        if index >= len(self._lines):
            return Strip.blank(width, style)
        return self._lines[index].crop_extend(0, width, style).apply_style(style)


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
        self._body_text().set_text(Text(self._text))

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


def stats_line(result: PaneResult) -> Text:
    """ttft, tokens/s, tokens and finish reason, compact enough for half of 80 columns."""
    parts = []
    if result.ttft_s is not None:
        parts.append(f"ttft {result.ttft_s:.2f}s")
    if result.tokens_per_s is not None:
        rate = result.tokens_per_s
        parts.append(f"{rate:.0f} tok/s" if rate >= 100 else f"{rate:.1f} tok/s")
    if result.tokens is not None:
        parts.append(f"{result.tokens} tok")
    if result.finish_reason:
        parts.append(result.finish_reason)
    return Text("  ".join(parts), style="dim")
