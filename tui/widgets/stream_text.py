"""Wrapped text that grows as a model streams, without re-laying out the screen."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget


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
        # Where the last paragraph starts, in characters and in wrapped lines: appended text can
        # only change the wrapping from there on (Rich wraps each paragraph on its own).
        self._para_start = 0
        self._para_line = 0

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

    def append(self, text: str) -> None:
        """Add plain text at the end, as a stream does: only the last paragraph is wrapped again
        and only the lines that changed are repainted, so a long answer costs the same per token
        as a short one (a full rewrap and repaint per flush took most of the UI's CPU)."""
        if not text:
            return
        width = self.scrollable_content_region.width
        follow = self.scroll_y >= self.max_scroll_y - 1
        self._content.append(text)
        if width <= 0 or width != self._wrapped_width:
            self._rewrap()
            self.refresh()
            return
        old = self._lines[self._para_line:]
        new, last_para = self._wrap_from(self._para_start)
        first = self._para_line
        self._lines[first:] = new
        self._para_line = first + last_para
        if len(new) != len(old):
            self._set_height(len(self._lines))
        if follow and self.scroll_y < self.max_scroll_y:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
            return  # the view moved: everything in it is repainted anyway
        pairs = enumerate(zip(old, new, strict=False))
        changed = next((i for i, (a, b) in pairs
                        if a.text != b.text or a.cell_length != b.cell_length),
                       min(len(old), len(new)))
        self.refresh_lines(first + changed, max(len(old), len(new)) - changed)

    def _set_height(self, lines: int) -> None:
        """Grow (or shrink) the scroll range to `lines`. Setting `virtual_size` lays out the whole
        screen again (the costliest step while streaming, ~50 ms on a large terminal, once per
        new line in each pane); that is only needed when the scrollbar appears or goes, so
        otherwise only the scroll range is updated, as Textual does for a size-only change."""
        size = Size(self._wrapped_width, lines)
        current = self.virtual_size
        if size == current:
            return
        height = self.container_size.height
        if current.width == size.width and (current.height > height) == (lines > height):
            self.set_reactive(Widget.virtual_size, size)
            self._scroll_update(size)
        else:
            self.virtual_size = size

    def _wrap_from(self, start: int) -> tuple[list[Strip], int]:
        """Wrap the text from `start` (a paragraph start) on; the strips, and the index among them
        of the first line of the last paragraph (whose start `_para_start` is set to)."""
        console = self.app.console
        width = self.scrollable_content_region.width
        tail = self._content[start:] if start else self._content
        plain = tail.plain
        cut = plain.rfind("\n") + 1
        strips: list[Strip] = []
        last_para = 0
        for part, offset in ((tail[:cut], 0), (tail[cut:], cut)) if cut else ((tail, 0),):
            if offset:
                last_para = len(strips)
            if offset == 0 and cut:
                part = part[:-1]  # the newline that ends the earlier paragraphs
            for line in part.wrap(console, width, overflow="fold"):
                line.end = ""
                strips.append(Strip(list(line.render(console)), line.cell_len))
        self._para_start = start + cut
        return strips, last_para

    def _rewrap(self) -> None:
        width = self.scrollable_content_region.width
        if width <= 0:
            self._wrapped_width = -1
            return  # not laid out yet: on_resize wraps
        self._lines, last_para = self._wrap_from(0)
        self._para_line = last_para
        self._wrapped_width = width
        self.virtual_size = Size(width, len(self._lines))

    def watch_show_vertical_scrollbar(self) -> None:
        # The scrollbar takes a column from the text without resizing the widget: wrap again at
        # the new width once the screen is laid out (else the last column hides under it).
        self.call_after_refresh(self._width_changed)

    def _width_changed(self) -> None:
        if self.scrollable_content_region.width != self._wrapped_width:
            self.on_resize()

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
