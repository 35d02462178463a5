"""Exceptions from third-party readers, cut down to the one line a DatasetError may hold."""

from __future__ import annotations


def one_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
