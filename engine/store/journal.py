"""A run's append-only journal beside the store: its answers are durable before the store has them.

DuckDB lets one process hold the store file for writing and no other process open it meanwhile;
a notebook or another run can hold it for minutes. So a run writes each entry here first (one JSON
line, fsync'd), and the entries reach the store when its lock is free (`Store.sync`). Every entry
can be applied twice without effect (answers by their deterministic key, items and models by
theirs), so a replay interrupted anywhere is simply done again.

`<store>.journal/<run_id>.jsonl`: one file per run, appended under an exclusive `flock`; a replay
takes the same lock, applies the whole file in one store transaction and removes the file, so an
appender that finds its file removed starts a new one. A line cut short by `kill -9` (the last one)
or damaged is skipped and reported; the answer it held was never acknowledged and is made again by
`--resume`.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

SUFFIX = ".journal"
_DT = "$datetime"


def journal_dir(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + SUFFIX)


def journal_path(store_path: Path, run_id: str) -> Path:
    return journal_dir(store_path) / f"{run_id}.jsonl"


def journal_files(store_path: Path) -> list[Path]:
    d = journal_dir(store_path)
    return sorted(d.glob("*.jsonl")) if d.is_dir() else []


def encode(entry: dict[str, Any]) -> str:
    return json.dumps(entry, default=_default, separators=(",", ":"))


def decode(line: str) -> dict[str, Any]:
    entry = json.loads(line, object_hook=_object_hook)
    if not isinstance(entry, dict) or "op" not in entry:
        raise ValueError("not a journal entry")
    return entry


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {_DT: value.isoformat()}
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


def _object_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and _DT in obj:
        return datetime.fromisoformat(obj[_DT])
    return obj


@dataclass
class Entries:
    """What a journal file holds: its readable entries, and the lines that could not be read."""

    path: Path
    entries: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)  # 1-based line numbers

    @property
    def answer_keys(self) -> set[str]:
        return {e["key"] for e in self.entries if e["op"] == "answer"}

    @property
    def answers(self) -> int:
        return len(self.answer_keys)

    @property
    def answer_rows(self) -> list[dict[str, Any]]:
        return [e["row"] for e in self.entries if e["op"] == "answer"]


def parse(path: Path, text: str) -> Entries:
    """Entries of a journal's text; an unreadable line (cut short by a kill) is skipped."""
    out = Entries(path)
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            out.entries.append(decode(line))
        except ValueError:  # json.JSONDecodeError is a ValueError
            out.bad_lines.append(n)
    return out


def read(path: Path) -> Entries:
    """A journal read without its lock (for counts and resume): a line being written is skipped."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return Entries(path)
    return parse(path, text)


@contextmanager
def locked(path: Path, *, create: bool) -> Iterator[IO[bytes] | None]:
    """The journal file opened and exclusively locked; None when it does not exist (and `create`
    is false). A file removed by a replay while we waited for its lock is opened again."""
    while True:
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except FileExistsError:  # it existed, then a replay tidied it away: make it again
                continue
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            except FileNotFoundError:  # the empty folder was tidied away meanwhile
                continue
        else:
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND)
            except FileNotFoundError:
                yield None
                return
        f = os.fdopen(fd, "r+b", buffering=0)
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            if os.fstat(f.fileno()).st_nlink == 0:  # replayed and removed meanwhile
                if not create:
                    yield None
                    return
                continue
            yield f
            return
        finally:
            f.close()  # closing releases the flock


def append(path: Path, entries: list[dict[str, Any]]) -> None:
    """Append entries as lines and fsync them: when this returns they survive a kill -9."""
    if not entries:
        return
    data = "".join(encode(e) + "\n" for e in entries).encode()
    with locked(path, create=True) as f:
        assert f is not None
        size = os.fstat(f.fileno()).st_size
        if size:
            # A line cut short by a kill must not swallow the next entry: end it first.
            f.seek(size - 1)
            if f.read(1) != b"\n":
                data = b"\n" + data
        f.write(data)
        os.fsync(f.fileno())
