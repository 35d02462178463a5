"""Where a file stops being UTF-8, as one line a user can act on.

Python's `UnicodeDecodeError` names a codec and a position inside a read buffer, never the file
or the line. Every text input (data and train files, `tunelens grade` input, models.toml) goes
through here instead: the readers catch the decode error and this finds the first bad byte.
"""

from __future__ import annotations

from pathlib import Path

ADVICE = "save it as UTF-8"


def first_bad_byte(path: Path) -> tuple[int, int, int, int] | None:
    """(line, column, byte offset in the file, the byte) of the first byte that is not UTF-8;
    line and column count from 1. Read a line at a time, so a big file costs little memory."""
    offset = 0
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                column = len(raw[: exc.start].decode("utf-8")) + 1
                return lineno, column, offset + exc.start, raw[exc.start]
            offset += len(raw)
    return None


def not_utf8(path: Path) -> str:
    """'FILE:LINE: not UTF-8 text (byte 0xE9 at column 7, byte offset 57); save it as UTF-8'."""
    try:
        found = first_bad_byte(path)
    except OSError as exc:
        return f"{path}: cannot read ({exc.strerror})"
    if found is None:  # a decode error the line scan does not see (a split BOM): say what we can
        return f"{path}: not UTF-8 text; {ADVICE}"
    line, column, offset, byte = found
    return (f"{path}:{line}: not UTF-8 text (byte 0x{byte:02X} at column {column}, "
            f"byte offset {offset}); {ADVICE}")


def not_utf8_line(raw: bytes) -> str:
    """'not UTF-8 text (byte 0xE9 at column 7); save it as UTF-8' for a line that does not
    decode; the caller puts its 'SOURCE:LINE: ' in front."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        column = len(raw[: exc.start].decode("utf-8")) + 1
        return f"not UTF-8 text (byte 0x{raw[exc.start]:02X} at column {column}); {ADVICE}"
    return f"not UTF-8 text; {ADVICE}"
