"""Where a command writes (`--out`, `--plot-dir`), checked before any work is done.

A report can take minutes; finding only at the end that its folder cannot be made (a path under a
file, a read-only disk) loses them, and the error was a traceback. These checks make the folder,
or open the file without changing it, and say in one line what is wrong.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import UsageError


def check_output_dir(path: str | Path, flag: str) -> Path:
    """Make the folder `path` if needed and check that files can be written in it."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{flag} {path}: is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot make this folder ({exc.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: folder is not writable")
    return folder


def check_output_file(path: str | Path, flag: str) -> Path:
    """Check that the file `path` can be written: its folder exists and it opens for writing
    (it is not truncated, and a probe file that did not exist is removed again)."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise UsageError(f"{flag} {path}: is a folder, not a file")
    parent = target.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise UsageError(f"{flag} {path}: {parent} {what}")
    existed = target.exists()
    try:
        with target.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write it ({exc.strerror})") from None
    if not existed:
        target.unlink(missing_ok=True)
    return target
