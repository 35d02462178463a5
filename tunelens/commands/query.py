"""`tunelens query` and `tunelens db`: read the results store."""

from __future__ import annotations

import csv
import json
import sys
from typing import Any

from engine.errors import StoreError
from engine.store.journal import journal_dir
from engine.store.store import Store
from tunelens.options import ROW_FORMATS, add_db, add_format, command_parser


def cmd_query(argv: list[str]) -> int:
    p = command_parser("query", "Run read-only SQL on the results store and print the result.")
    p.add_argument("sql", help="SQL text, or - to read it from standard input")
    add_format(p, ROW_FORMATS)
    p.add_argument("--max-width", type=int, default=60, help="truncate table cells (table format)")
    add_db(p)
    args = p.parse_args(argv)
    sql = sys.stdin.read() if args.sql == "-" else args.sql
    store = Store(args.db)
    store.catch_up()  # answers a run left in its journal, if the store is free now
    result = store.query(sql)
    write_result(result.columns, result.rows, args.format, max_width=args.max_width)
    return 0


def write_result(
    columns: list[str], rows: list[tuple[Any, ...]], fmt: str, *, max_width: int = 60
) -> None:
    """Query rows as a rich table (row count on stderr), CSV, or one JSON object a line."""
    if fmt == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(columns)
        w.writerows(rows)
    elif fmt == "json":
        for row in rows:
            print(json.dumps(dict(zip(columns, row, strict=True)), default=str))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(show_lines=False)
        for c in columns:
            table.add_column(c, overflow="ellipsis", max_width=max_width)
        for row in rows:
            table.add_row(*("NULL" if v is None else str(v) for v in row))
        Console().print(table)
        print(f"{len(rows)} rows", file=sys.stderr)


def cmd_db(argv: list[str]) -> int:
    p = command_parser(
        "db",
        "Where the results store is, what it holds, and (sync) bring in the answers that runs "
        "left in its journal while another process held the file.",
    )
    p.add_argument("action", choices=["path", "info", "sync"])
    add_db(p)
    args = p.parse_args(argv)
    store = Store(args.db)
    if args.action == "path":
        print(store.path)
        return 0
    if args.action == "sync":
        return _sync(store)
    store.catch_up()
    result = store.query(
        "SELECT 'runs' AS table_name, count(*) AS rows FROM runs UNION ALL "
        "SELECT 'models', count(*) FROM models UNION ALL "
        "SELECT 'items', count(*) FROM items UNION ALL "
        "SELECT 'generations', count(*) FROM generations UNION ALL "
        "SELECT 'grades', count(*) FROM grades UNION ALL "
        "SELECT 'token_shift', count(*) FROM token_shift"
    )
    print(store.path)
    write_result(result.columns, result.rows, "table")
    waiting = sum(e.answers for e in store.pending())
    if waiting:
        print(f"{waiting} answers waiting in the journal {journal_dir(store.path)} "
              "(`tunelens db sync` brings them in)", file=sys.stderr)
    return 0


def _sync(store: Store) -> int:
    """Replay every waiting journal; 0 when nothing is left waiting."""
    if not store.path.exists() and not store.pending():
        print(f"{store.path}: no results store yet and nothing waiting", file=sys.stderr)
        return 0
    if store.path.exists():
        store.check()  # a foreign or damaged file is refused before anything is replayed
    result = store.sync()
    for where in result.bad_lines:
        print(f"{where}: unreadable journal line skipped (cut short by a kill?)", file=sys.stderr)
    print(f"{result.applied} answers from {result.files} journals brought into {store.path}",
          file=sys.stderr)
    if result.waiting:
        raise StoreError(
            f"{store.path}: {result.waiting} answers still waiting in the journal: "
            f"held by {result.holder or 'another process'}"
        )
    return 0
