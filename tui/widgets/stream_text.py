"""Wrapped text that grows as a model streams, without re-laying out the screen."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip


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
