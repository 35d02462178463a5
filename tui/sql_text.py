"""Which statement of the SQL editor's buffer to run: the one under the cursor.

The editor holds many queries (the example, the ones typed above it, older ones kept for later);
running the whole buffer fails as soon as two of them are there. As in harlequin and DBeaver, a
statement ends at a semicolon or at a blank line, outside quotes and comments, and the one the
cursor is in (or the last one before it) is run.
"""

from __future__ import annotations

import re

_CODE = re.compile(r"(?:--[^\n]*|/\*.*?\*/|\s)+", re.S)  # comments and blanks only


def statement_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each statement in `text`, end exclusive, trimmed of blanks; a span holding
    only comments is no statement."""
    spans: list[tuple[int, int]] = []
    start = 0
    i, n = 0, len(text)

    def close(end: int) -> None:
        piece = text[start:end]
        if piece.strip() and _CODE.fullmatch(piece) is None:
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))

    while i < n:
        ch = text[i]
        if ch in "'\"":  # a string or a quoted name; '' and "" escape themselves
            j = i + 1
            while j < n:
                if text[j] == ch:
                    if j + 1 < n and text[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
        elif text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j  # the newline itself may end a statement (a blank line)
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif ch == ";":
            close(i + 1)
            start = i = i + 1
        elif ch == "\n":
            blank = re.match(r"\n[ \t\r]*\n", text[i:])
            if blank:
                close(i)
                start = i = i + blank.end() - 1  # the second newline may start another blank
            else:
                i += 1
        else:
            i += 1
    close(n)
    return spans


def statement_at(text: str, offset: int) -> str:
    """The statement under `offset` (a cursor just after a statement's end counts as in it), else
    the last one before it, else the first; '' when the buffer holds none."""
    spans = statement_spans(text)
    if not spans:
        return ""
    before = [s for s in spans if s[0] <= offset]
    start, end = before[-1] if before else spans[0]
    return text[start:end]
