"""StreamText, the widget that shows a streaming answer: appending must wrap exactly as setting
the whole text does, and repaint only the lines that changed."""

from __future__ import annotations

import random
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region

from tui.widgets import StreamText


class Two(App[None]):
    CSS = "StreamText { width: 31; height: 12; }"

    def compose(self) -> ComposeResult:
        yield StreamText(classes="streamed")
        yield StreamText(classes="whole")


def lines(w: StreamText) -> list[str]:
    return [s.text for s in w._lines]


def wrapped(app: App[None], text: str, width: int) -> list[str]:
    """The whole text wrapped at once, as `set_text` does."""
    out = []
    for line in Text(text).wrap(app.console, width, overflow="fold"):
        line.end = ""
        out.append("".join(seg.text for seg in line.render(app.console)))
    return out


async def test_append_wraps_as_the_whole_text_does() -> None:
    rng = random.Random(7)
    words = ["the", "answer", "is", "42.", "\n", "\n\n", "  ", "Step", "1:", "x\ty",
             "averyveryverylongwordthatmustbefoldedacrosslines", "$\\frac{1}{2}$", " ", "é"]
    app = Two()
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        streamed = app.query_one(".streamed", StreamText)
        whole = app.query_one(".whole", StreamText)
        text = ""
        for step in range(400):
            chunk = rng.choice(words) + rng.choice(["", " "])
            text += chunk
            streamed.append(chunk)
            assert lines(streamed) == wrapped(app, text, streamed._wrapped_width), repr(text[-80:])
            if step % 40 == 0:
                await pilot.pause()  # let the scrollbar appear and the width change
        whole.set_text(Text(text))
        await pilot.pause()
        assert streamed.plain == text
        assert lines(streamed) == lines(whole)
        width = streamed.scrollable_content_region.width
        assert streamed.show_vertical_scrollbar and width == 30  # the scrollbar took a column
        assert lines(whole) == wrapped(app, text, width)  # and both wrapped again for it
        assert streamed.virtual_size == whole.virtual_size


async def test_append_repaints_only_the_changed_lines(monkeypatch: Any) -> None:
    app = Two()
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        w = app.query_one(".streamed", StreamText)
        w.set_text(Text("a few words on the first line\nand then a second paragraph"))
        await pilot.pause()
        w.scroll_home(animate=False, immediate=True)  # not following the end: no scroll
        regions: list[Region] = []
        monkeypatch.setattr(w, "refresh", lambda *r, **kw: regions.extend(r) or w)
        w.append(" ok")  # still fits on the last line
        assert regions, "nothing repainted"
        assert all(r.height <= 1 for r in regions), regions  # one line, not the widget
        assert regions[0].y == len(w._lines) - 1 - w.scroll_offset.y
