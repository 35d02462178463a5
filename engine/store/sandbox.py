"""What a read-only SQL connection may do: DuckDB's own settings, and a short statement filter.

The user's SQL (`tunelens query`, the app's SQL screen) runs on a connection that DuckDB itself
confines: no file access outside the store's folder (`enable_external_access` off, with the store's
folder in `allowed_directories`, so a CSV beside the store can be joined in), no extension
installed or loaded behind the user's back, and the configuration locked so a `SET` cannot undo
any of it. The statement filter on top refuses what would write: anything but a query, `COPY`
(writing files is the export's job) and `IMPORT DATABASE` (which DuckDB reports as a pragma).
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from engine.errors import StoreError

READ_ONLY_TYPES = {"SELECT", "EXPLAIN", "PRAGMA"}  # EXPORT DATABASE writes files: refused
# DuckDB reports a dynamic PIVOT as MULTI (it plans the pivot's columns first): one query.
MULTI_READS = ("PIVOT",)
PRAGMA_WRITES = ("IMPORT",)  # IMPORT DATABASE runs a folder's schema.sql and load.sql
_LEADING = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.S)
# Check-then-set must be one step: two threads opening the first connections of one instance at
# once both found it unlocked, and the second one's SET failed on the lock the first had set.
_SETTING = threading.Lock()


def sandbox(con: Any, folder: Path) -> None:
    """Confine a read-only connection: files in `folder` only, no extensions, settings locked.

    The settings belong to the database instance, which DuckDB shares between the connections of
    one process to one file: a second connection finds them set and locked already.
    """
    with _SETTING:
        if con.execute("SELECT current_setting('lock_configuration')").fetchall()[0][0]:
            return
        allowed = str(folder.resolve()).rstrip("/") + "/"
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        quoted = allowed.replace("'", "''")
        con.execute(f"SET allowed_directories = ['{quoted}']")
        con.execute("SET enable_external_access = false")
        # a long read (the report over a million rows) would draw DuckDB's bar on the terminal
        con.execute("SET enable_progress_bar = false")
        con.execute("SET lock_configuration = true")


def check_read_only(sql: str) -> None:
    """Refuse SQL that would change the store or write a file; a one-line StoreError."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise StoreError(_first_line(exc)) from None
    if not statements:
        raise StoreError("empty query")
    for st in statements:
        kind = st.type.name
        word = first_word(st.query)
        if kind == "MULTI" and word in MULTI_READS:
            continue
        if kind == "COPY":
            raise StoreError(
                "the store is read-only here: COPY is refused (to write a file, use the SQL "
                "screen's export, Ctrl+E, or `tunelens query --format csv SQL > FILE`)"
            )
        if kind == "PRAGMA" and word in PRAGMA_WRITES:
            raise StoreError("the store is read-only here: IMPORT DATABASE is refused")
        if kind not in READ_ONLY_TYPES:
            raise StoreError(f"the store is read-only here: {kind} statements are refused")


def first_word(sql: str) -> str:
    """The statement's first keyword, upper-cased, past leading comments and blanks."""
    rest = _LEADING.sub("", sql, count=1)
    match = re.match(r"[A-Za-z_]+", rest)
    return match.group(0).upper() if match else ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
