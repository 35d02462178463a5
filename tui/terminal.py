"""The app's place in the terminal and on disk: its log and history files (beside the store), and
the guard that keeps library noise on file descriptors 1 and 2 off the screen."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def history_file_for(db: Path) -> Path:
    """The SQL screen's history, kept with the store it was typed against (`X.duckdb` ->
    `X.duckdb.sql-history.json`): queries name that store's runs, and a store copied elsewhere
    takes its history along."""
    return db.with_name(f"{db.name}.sql-history.json")


def log_file_for(db: Path) -> Path:
    """The app's log (llama.cpp's messages, Textual's errors), beside the store too."""
    return db.with_name(f"{db.name}.app.log")


@contextlib.contextmanager
def terminal_guard(log_file: Path) -> Iterator[None]:
    """Give Textual its own handles on the terminal; send file descriptors 1 and 2 to a log.

    llama.cpp writes warnings straight to file descriptor 2, and llama-cpp-python silences model
    loading by pointing descriptors 1 and 2 at /dev/null for a moment (two loads in two threads
    can even leave them there). Textual draws on `sys.__stderr__` and reads the terminal size
    from `sys.__stdout__`, so either would garble or freeze the screen. Textual gets duplicates
    of the terminal instead, and the library noise goes to the log file, where it can be read.
    """
    if not (os.isatty(1) and os.isatty(2)):
        yield  # not a terminal: nothing to protect, and Textual will say what is wrong
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    saved_std = (sys.__stdout__, sys.__stderr__)
    saved_fds = (os.dup(1), os.dup(2))
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", errors="replace")
    err = os.fdopen(os.dup(2), "w", encoding="utf-8", errors="replace")
    with open(log_file, "a", encoding="utf-8") as log:
        log.write(f"--- tunelens app {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        log.flush()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.__stdout__, sys.__stderr__ = out, err  # read by Textual when the app starts
        try:
            yield
        finally:
            sys.__stdout__, sys.__stderr__ = saved_std
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            for fd in saved_fds:
                os.close(fd)
            out.close()
            err.close()
