"""The one-line summary on top of a screen: what is set, and what is going on."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

MIN_WIDTH = 20


def fit_parts(parts: Sequence[tuple[int, str]], width: int) -> str:
    """Join (priority, markup) parts with ' · ', dropping the lowest priorities first until the
    line fits in `width` cells (the last part standing is kept whatever its length)."""
    kept = list(parts)
    width = max(MIN_WIDTH, width)
    while len(kept) > 1:
        line = " · ".join(t for _, t in kept)
        if Text.from_markup(line).cell_len <= width:
            break
        kept.remove(min(kept, key=lambda p: p[0]))
    return " · ".join(t for _, t in kept)


class StatusLine(Static):
    """Shows parts by priority, so what matters most survives a narrow terminal."""

    def show_parts(self, parts: Sequence[tuple[int, str]], width: int) -> None:
        self.update(fit_parts(parts, width))
