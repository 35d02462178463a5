"""The small subcommands: each parses its own arguments and calls into the engine."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

from engine.errors import UsageError


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
    from engine.store.store import Store

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
    from engine.store.store import Store

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
    from engine.grading.graders import grade_jsonl_records

    if args.file == "-":
        lines, source = sys.stdin, "<stdin>"
        for rec in grade_jsonl_records(lines, source=source, grader=args.grader):
            print(json.dumps(rec, default=str))
        return 0
    try:
        fh = open(args.file, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"{args.file}: {exc.strerror}") from None
    with fh:
        for rec in grade_jsonl_records(fh, source=args.file, grader=args.grader):
            print(json.dumps(rec, default=str))
    return 0


def cmd_datasets(argv: list[str]) -> int:
    p = _parser("datasets", "List the datasets tunelens can load, and how.")
    p.parse_args(argv)
    from rich.console import Console
    from rich.table import Table

    from engine.data.datasets import DATASETS

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

    from engine.inference.config import load_config

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

    from engine.perturb.perturbations import PERTURBATIONS

    table = Table(title="perturbations")
    for col in ("name", "gold", "what it does"):
        table.add_column(col, overflow="fold")
    for name, pert in PERTURBATIONS.items():
        table.add_row(name, "recomputed" if pert.changes_gold else "unchanged", pert.description)
    Console().print(table)
    return 0


# -- science: report, regrade, shift, reproduce -------------------------------------------------


def _report_filter_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="ID",
        help="only this run (repeatable; default: all runs)",
    )
    p.add_argument("--dataset", help="only this dataset")
    p.add_argument("--pair", help="only runs of this pair")


def _report_filters(args: argparse.Namespace, **extra: Any):  # -> engine.analysis.ReportFilters
    from engine.analysis import ReportFilters

    return ReportFilters(
        runs=tuple(args.run), dataset=args.dataset, pair=args.pair, **extra
    )


def _int_list(text: str | None, flag: str) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"{flag}: expected numbers separated by commas, got {text!r}") from None
    if any(v < 1 for v in values):
        raise UsageError(f"{flag}: expected positive numbers")
    return values


def _emit(text: str, out: str | None) -> None:
    if out:
        from pathlib import Path

        Path(out).write_text(text, encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def cmd_report(argv: list[str]) -> int:
    p = _parser(
        "report",
        "Accuracy with 95% intervals, base vs instruct (McNemar), perturbation drops, few-shot "
        "gains, the convergence analysis, grader agreement and token shift, from recorded runs.",
    )
    _report_filter_options(p)
    p.add_argument(
        "--format", choices=["table", "csv", "json", "markdown"], default="table"
    )
    p.add_argument(
        "--out",
        metavar="PATH",
        help="write the csv/json/markdown output to PATH (csv: a directory, one file per table)",
    )
    p.add_argument("--plot-dir", metavar="DIR", help="write figures (PNG and SVG) to DIR")
    p.add_argument(
        "--plot-format", default="png,svg", metavar="FMT", help="png, svg or both (default)"
    )
    p.add_argument(
        "--grader",
        help="count the verdicts of this grader (from the grades table) instead of the primary",
    )
    p.add_argument(
        "--regrade",
        metavar="GRADER",
        help="first add GRADER's verdicts for answers that lack them (for grader agreement)",
    )
    p.add_argument("--pass-k", metavar="K,...", help="extra k for pass@k, e.g. 5,10")
    p.add_argument(
        "--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)"
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    _db_option(p)
    args = p.parse_args(argv)
    from engine.store.store import Store

    if args.resamples < 100:
        raise UsageError("--resamples: expected at least 100")
    formats = tuple(f.strip() for f in args.plot_format.split(",") if f.strip())
    if any(f not in ("png", "svg") for f in formats) or not formats:
        raise UsageError("--plot-format: expected png, svg or png,svg")
    store = Store(args.db)
    if args.regrade:
        _regrade(store, args.regrade, _report_filters(args))
    from engine.analysis import build_report
    from engine.render import RENDERERS, print_report, report_tables, write_csv_dir

    filters = _report_filters(
        args,
        grader=args.grader,
        pass_k=_int_list(args.pass_k, "--pass-k"),
        resamples=args.resamples,
        seed=args.seed,
    )
    report = build_report(store, filters)
    if args.format == "table":
        from rich.console import Console

        print_report(report, Console())
    elif args.format == "csv" and args.out:
        from pathlib import Path

        for path in write_csv_dir(report_tables(report), Path(args.out)):
            print(f"wrote {path}", file=sys.stderr)
    else:
        _emit(RENDERERS[args.format](report), args.out)
    if args.plot_dir:
        from engine.render import write_plots

        paths = write_plots(report, args.plot_dir, formats)
        print(f"{len(paths)} plot files in {args.plot_dir}", file=sys.stderr)
        for path in paths:
            print(f"  {path}", file=sys.stderr)
    return 0 if not report.empty else 1


def _regrade(store: Any, grader: str, filters: Any) -> None:
    from engine.analysis import regrade
    from engine.grading.graders import GRADERS

    if grader not in GRADERS:
        raise UsageError(f"unknown grader {grader!r} (choose from {', '.join(GRADERS)})")
    result = regrade(store, grader, filters)
    print(
        f"{grader}: graded {result.graded} answers ({result.already} already had its verdict, "
        f"{result.changed} verdicts differ from the primary grader, {result.errors} errors)",
        file=sys.stderr,
    )


def cmd_regrade(argv: list[str]) -> int:
    p = _parser(
        "regrade",
        "Grade recorded answers again with another grader and add its verdicts to the grades "
        "table (the primary verdicts stay); `tunelens report` then shows grader agreement.",
    )
    p.add_argument("--grader", required=True, help="gsm8k, medcalc or math-verify")
    _report_filter_options(p)
    _db_option(p)
    args = p.parse_args(argv)
    from engine.store.store import Store

    _regrade(Store(args.db), args.grader, _report_filters(args))
    return 0


def cmd_shift(argv: list[str]) -> int:
    p = _parser(
        "shift",
        "Token distribution shift (URIAL): rank every token of the recorded instruct answers "
        "under the base model, teacher-forced, and store the per-token rows (token_shift). Needs "
        "a pair whose models share a tokenizer.",
    )
    p.add_argument("--pair", required=True, help="pair name from models.toml")
    p.add_argument("--run", metavar="ID", help="run to score (default: the pair's newest run)")
    p.add_argument("--limit", type=int, metavar="N", help="score at most N answers")
    p.add_argument(
        "--context",
        choices=["raw", "chat"],
        default="raw",
        help="what the base model sees before the answer: raw = its own prompt for the item "
        "(default), chat = the instruct prompt verbatim, chat template included",
    )
    p.add_argument("--force", action="store_true", help="score again answers already scored")
    p.add_argument("--models", metavar="PATH", help="models.toml to use")
    _db_option(p)
    p.add_argument("--format", choices=["table", "csv", "json", "markdown"], default="table")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit: expected a positive number")
    from rich.console import Console

    from engine.analysis import ReportFilters, shift_report
    from engine.errors import ShiftError
    from engine.inference.config import load_config
    from engine.render import shift_tables
    from engine.run.shift import compute_shift
    from engine.store.store import Store

    store = Store(args.db)
    console = Console(stderr=True)
    try:
        with console.status("token shift: loading models...") as status:
            result = compute_shift(
                store,
                load_config(args.models),
                args.pair,
                run_id=args.run,
                limit=args.limit,
                context=args.context,
                force=args.force,
                on_progress=lambda n, total: status.update(f"token shift: answer {n}/{total}"),
            )
    except ShiftError as exc:
        raise UsageError(str(exc)) from None
    share = result.shifted_share
    console.print(
        f"run {result.run_id}: scored {result.answers} instruct answers ({result.tokens} tokens) "
        f"under {result.scorer} in {result.batches} batches"
        + (f"; shifted {share:.1%}" if share is not None else "")
    )
    for reason, n in result.skipped.items():
        console.print(f"[yellow]skipped {n}[/]: {reason}")
    if result.truncated:
        console.print(f"[yellow]{result.truncated} answers cut to fit the base model's context[/]")
    report = shift_report(store, ReportFilters(runs=(result.run_id,)))
    if report is None:
        return 0
    tables = shift_tables(report)
    if args.format == "table":
        from engine.render import rich_tables

        for renderable in rich_tables(tables):
            Console().print(renderable)
    else:
        from engine.render import tables_csv, tables_json, tables_markdown

        render = {
            "csv": tables_csv,
            "json": tables_json,
            "markdown": lambda t: tables_markdown(t, f"token shift, run {result.run_id}"),
        }[args.format]
        _emit(render(tables), None)
    return 0


def cmd_reproduce(argv: list[str]) -> int:
    from engine.run.presets import PRESETS

    p = _parser(
        "reproduce",
        "Run a published protocol on a pair with the ordinary runner and print its table. "
        "Presets: " + "; ".join(f"{k}: {v.description}" for k, v in PRESETS.items()),
    )
    p.add_argument("preset", choices=sorted(PRESETS))
    p.add_argument("--pair", default="demo", help="pair name from models.toml (default: demo)")
    p.add_argument("--dataset", default="gsm8k", help="gsm8k (default), embedded, file, ...")
    p.add_argument("--data-file", metavar="PATH", help="local JSONL/CSV/Parquet")
    p.add_argument("--train-file", metavar="PATH", help="exemplar source for few-shot")
    p.add_argument("--limit", type=int, metavar="N", help="first N items only")
    p.add_argument("--shots", type=int, help="exemplars for few-shot CoT (default: the preset's)")
    p.add_argument("--max-tokens", type=int, help="per answer (default: the preset's)")
    p.add_argument("--samples", type=int, metavar="K", help="K for pass@K presets")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", metavar="PATH", help="models.toml to use")
    p.add_argument("--resume", action="store_true", help="continue unfinished preset runs")
    p.add_argument(
        "--table-only",
        action="store_true",
        help="do not run: print the table from the newest runs with these arguments",
    )
    p.add_argument("--format", choices=["table", "csv", "json", "markdown"], default="table")
    _db_option(p)
    args = p.parse_args(argv)
    for flag in ("limit", "shots", "max_tokens", "samples"):
        value = getattr(args, flag)
        if value is not None and value < (0 if flag == "shots" else 1):
            raise UsageError(f"--{flag.replace('_', '-')}: expected a positive number")
    from engine.analysis import preset_table
    from engine.run.presets import describe, preset_configs, run_preset
    from engine.store.store import Store

    preset = PRESETS[args.preset]
    try:
        configs = preset_configs(
            preset,
            pair=args.pair,
            dataset=args.dataset,
            data_file=args.data_file,
            limit=args.limit,
            shots=args.shots,
            max_tokens=args.max_tokens,
            samples=args.samples,
            seed=args.seed,
            models_file=args.models,
            train_file=args.train_file,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(f"{preset.name}: {describe(preset)}\nsource: {preset.source}", file=sys.stderr)
    store = Store(args.db)
    if args.table_only:
        run_ids = []
        for config in configs:
            rows = store.query(
                "SELECT run_id FROM runs WHERE config_hash = ? ORDER BY started_at DESC LIMIT 1",
                [config.config_hash()],
            ).rows
            if not rows:
                raise UsageError(f"no {preset.name} run with these arguments in {store.path}")
            run_ids.append(rows[0][0])
        code = 0
    else:
        code, run_ids = run_preset(configs, db=args.db, resume=args.resume)
    if not run_ids:
        return code or 1
    table = preset_table(store, preset, run_ids, samples=args.samples).as_report_table()
    if args.format == "table":
        from rich.console import Console

        from engine.render import rich_tables

        console = Console()
        console.print(f"runs: {', '.join(run_ids)}")
        for renderable in rich_tables([table]):
            console.print(renderable)
    else:
        from engine.render import tables_csv, tables_json, tables_markdown

        text = {
            "csv": lambda: tables_csv([table]),
            "json": lambda: tables_json([table], {"preset": preset.name, "runs": run_ids}),
            "markdown": lambda: tables_markdown([table], f"{preset.name} ({preset.source})"),
        }[args.format]()
        _emit(text, None)
    return code
