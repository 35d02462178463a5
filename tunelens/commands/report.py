"""`tunelens report` and `tunelens regrade`: the analysis of recorded runs."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import UsageError
from engine.grading import GRADERS, ExtractLLMGrader
from engine.store.store import Store
from tunelens.options import (
    add_db,
    add_format,
    add_models,
    add_report_filters,
    at_least,
    command_parser,
    report_filters,
)
from tunelens.output import emit

if TYPE_CHECKING:
    from engine.analysis import RegradeResult, ReportFilters

# The analysis (numpy) is imported when a command runs, not for its --help.


def cmd_report(argv: list[str]) -> int:
    p = command_parser(
        "report",
        "Accuracy with 95% intervals, base vs instruct (McNemar), perturbation drops, few-shot "
        "gains, the convergence analysis, grader agreement and token shift, from recorded runs.",
    )
    add_report_filters(p)
    add_format(p)
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
    add_extractor(p)
    p.add_argument("--pass-k", metavar="K,...", help="extra k for pass@k, e.g. 5,10")
    p.add_argument(
        "--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)"
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument(
        "--explain",
        action="store_true",
        help="print, for every table and figure, a SQL query that yields the rows it was "
        "computed from (paste one into `tunelens query`), instead of the report",
    )
    add_db(p)
    add_models(p)
    args = p.parse_args(argv)
    from engine.analysis import build_report
    from engine.render import (
        RENDERERS,
        check_output_dir,
        check_output_file,
        print_report,
        report_tables,
        write_csv_dir,
        write_plots,
    )

    at_least("--resamples", args.resamples, 100, "at least 100")
    formats = tuple(f.strip() for f in args.plot_format.split(",") if f.strip())
    if any(f not in ("png", "svg") for f in formats) or not formats:
        raise UsageError("--plot-format: expected png, svg or png,svg")
    # Where the results go is checked before the report is computed (that can take minutes).
    if args.out and args.format == "csv":
        check_output_dir(args.out, "--out")
    elif args.out and (args.format != "table" or args.explain):
        check_output_file(args.out, "--out")
    if args.plot_dir:
        check_output_dir(args.plot_dir, "--plot-dir")
    store = Store(args.db)
    store.catch_up()  # answers a run left in its journal, if the store is free now
    if args.regrade:
        _regrade(store, args.regrade, report_filters(args), args.extractor, args.models)
    elif args.extractor:
        raise UsageError("--extractor: goes with --regrade extract-llm")
    filters = report_filters(
        args,
        grader=args.grader,
        pass_k=_int_list(args.pass_k, "--pass-k"),
        resamples=args.resamples,
        seed=args.seed,
    )
    report = build_report(store, filters)
    if args.explain:
        from engine.render.explain import explain_text

        emit(explain_text(store, report), args.out)
        return 0 if not report.empty else 1
    if args.format == "table":
        from rich.console import Console

        print_report(report, Console())
    elif args.format == "csv" and args.out:
        for path in write_csv_dir(report_tables(report), Path(args.out)):
            print(f"wrote {path}", file=sys.stderr)
    else:
        emit(RENDERERS[args.format](report), args.out)
    if args.plot_dir:
        paths = write_plots(report, args.plot_dir, formats)
        print(f"{len(paths)} plot files in {args.plot_dir}", file=sys.stderr)
        for path in paths:
            print(f"  {path}", file=sys.stderr)
    return 0 if not report.empty else 1


def cmd_regrade(argv: list[str]) -> int:
    p = command_parser(
        "regrade",
        "Grade recorded answers again with another grader and add its verdicts to the grades "
        "table (the primary verdicts stay); `tunelens report` then shows grader agreement.",
    )
    p.add_argument(
        "--grader", required=True, help=f"{', '.join(GRADERS)} (extract-llm needs --extractor)"
    )
    add_extractor(p)
    add_report_filters(p)
    add_db(p)
    add_models(p)
    args = p.parse_args(argv)
    _regrade(Store(args.db), args.grader, report_filters(args), args.extractor, args.models)
    return 0


def add_extractor(p: ArgumentParser) -> None:
    p.add_argument(
        "--extractor",
        metavar="MODEL",
        help="extract-llm: the models.toml model that extracts final answers (offline: "
        "smollm2-135m-instruct-q4_1)",
    )


def _regrade(
    store: Store,
    grader: str,
    filters: ReportFilters,
    extractor: str | None = None,
    models_file: str | None = None,
) -> None:
    """Add `grader`'s verdicts to the recorded answers `filters` select, and say what changed."""
    if grader not in GRADERS:
        raise UsageError(f"unknown grader {grader!r} (choose from {', '.join(GRADERS)})")
    if grader == "extract-llm" and not extractor:
        raise UsageError(
            "--grader extract-llm needs --extractor MODEL (a model in models.toml, e.g. "
            "smollm2-135m-instruct-q4_1)"
        )
    if extractor and grader != "extract-llm":
        raise UsageError(f"--extractor: only the extract-llm grader uses one, not {grader}")
    model = None
    how: str | ExtractLLMGrader = grader
    if extractor:
        from engine.run.extractor import load_extractor

        model = load_extractor(extractor, models_file)
        how = ExtractLLMGrader(model)
    try:
        result = _with_progress(store, how, filters, grader)
    finally:
        if model is not None:
            model.close()
    calls = f", {result.model_calls} extractor calls" if extractor else ""
    print(
        f"{grader}: graded {result.graded} answers ({result.already} already had its verdict, "
        f"{result.changed} verdicts differ from the primary grader, {result.errors} errors"
        f"{calls})",
        file=sys.stderr,
    )


def _with_progress(
    store: Store, how: str | ExtractLLMGrader, filters: ReportFilters, label: str
) -> RegradeResult:
    """The regrade, with a progress bar on stderr (a model-based grader takes seconds each)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from engine.analysis import regrade

    progress = Progress(
        f"[bold]{label}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=True,
    )
    with progress:
        task = progress.add_task(label, total=None)
        return regrade(
            store, how, filters,
            on_progress=lambda n, total: progress.update(task, completed=n, total=total),
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
