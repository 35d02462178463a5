"""The small subcommands: each parses its own arguments and calls into the engine."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

from tunelens.cli import UserError


def _parser(name: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=f"tunelens {name}", description=description)


def _db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="PATH", help="results store (default: user data dir)")


def cmd_query(argv: list[str]) -> int:
    p = _parser("query", "Run read-only SQL on the results store and print the result.")
    p.add_argument("sql", help="SQL text, or - to read it from standard input")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--max-width", type=int, default=60, help="truncate table cells (table format)")
    _db_option(p)
    args = p.parse_args(argv)
    from engine.storage import Store

    sql = sys.stdin.read() if args.sql == "-" else args.sql
    result = Store(args.db).query(sql)
    write_result(result.columns, result.rows, args.format, max_width=args.max_width)
    return 0


def write_result(
    columns: list[str], rows: list[tuple[Any, ...]], fmt: str, *, max_width: int = 60
) -> None:
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
    p = _parser("db", "Where the results store is, and what it holds.")
    p.add_argument("action", choices=["path", "info"])
    _db_option(p)
    args = p.parse_args(argv)
    from engine.storage import Store

    store = Store(args.db)
    if args.action == "path":
        print(store.path)
        return 0
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
    return 0


def cmd_grade(argv: list[str]) -> int:
    p = _parser(
        "grade",
        "Grade outputs from any tool: each input line is a JSON record with `output` and `gold` "
        "(optional: id, grader, answer_type, lower_limit, upper_limit). Prints one JSON line per "
        "record with `correct`, `extracted`, `rule` and `grader`.",
    )
    p.add_argument("file", help="JSONL file, or - for standard input")
    p.add_argument("--grader", help="force a grader (gsm8k, medcalc, math-verify)")
    args = p.parse_args(argv)
    from engine.grading import grade_jsonl_records

    if args.file == "-":
        lines, source = sys.stdin, "<stdin>"
        for rec in grade_jsonl_records(lines, source=source, grader=args.grader):
            print(json.dumps(rec, default=str))
        return 0
    try:
        fh = open(args.file, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UserError(f"{args.file}: {exc.strerror}") from None
    with fh:
        for rec in grade_jsonl_records(fh, source=args.file, grader=args.grader):
            print(json.dumps(rec, default=str))
    return 0


def cmd_datasets(argv: list[str]) -> int:
    p = _parser("datasets", "List the datasets tunelens can load, and how.")
    p.parse_args(argv)
    from rich.console import Console
    from rich.table import Table

    from engine.datasets import DATASETS

    table = Table(title="datasets (--dataset NAME)")
    for col in ("name", "what", "Hub id", "how to load"):
        table.add_column(col, overflow="fold")
    for name, info in DATASETS.items():
        hub = info.hub_id or "-"
        if getattr(info, "hub_config", None):
            hub += f" ({info.hub_config})"
        table.add_row(name, info.description, hub, info.how_to_load)
    Console().print(table)
    return 0


def cmd_models(argv: list[str]) -> int:
    p = _parser("models", "List the pairs and models in models.toml.")
    p.add_argument("--models", metavar="PATH", help="models.toml to read")
    args = p.parse_args(argv)
    from rich.console import Console
    from rich.table import Table

    from engine.config import load_config

    cfg = load_config(args.models)
    console = Console()
    console.print(f"[dim]{cfg.path}[/]")
    table = Table(title="pairs (--pair NAME)")
    for col in ("pair", "base", "instruct", "notes"):
        table.add_column(col, overflow="fold")
    for pair in cfg.pairs.values():
        table.add_row(pair.name, pair.base.name, pair.instruct.name, pair.description)
    console.print(table)
    models = Table(title="models")
    for col in ("model", "source", "sha256"):
        models.add_column(col, overflow="fold")
    for spec in cfg.models.values():
        models.add_row(spec.name, spec.source_text, spec.sha256 or "-")
    console.print(models)
    return 0


def cmd_perturbations(argv: list[str]) -> int:
    p = _parser("perturbations", "List the perturbations (--perturb NAME[,NAME][+NAME]).")
    p.parse_args(argv)
    from rich.console import Console
    from rich.table import Table

    from engine.perturbations import PERTURBATIONS

    table = Table(title="perturbations")
    for col in ("name", "gold", "what it does"):
        table.add_column(col, overflow="fold")
    for name, pert in PERTURBATIONS.items():
        table.add_row(name, "recomputed" if pert.changes_gold else "unchanged", pert.description)
    Console().print(table)
    return 0
