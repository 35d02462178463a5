"""The question above the panes: its gold answer, and for a variant the word diff."""

from __future__ import annotations

import difflib
import re

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

_WORDS = re.compile(r"\s+|[^\s]+")


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
