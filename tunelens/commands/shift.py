"""`tunelens shift`: score the recorded instruct answers under the base model (URIAL)."""

from __future__ import annotations

from engine.inference.config import load_config
from engine.store.store import Store
from tunelens.options import (
    add_db,
    add_format,
    add_limit,
    add_models,
    add_pair,
    at_least,
    command_parser,
)
from tunelens.output import emit_tables


def cmd_shift(argv: list[str]) -> int:
    p = command_parser(
        "shift",
        "Token distribution shift (URIAL): rank every token of the recorded instruct answers "
        "under the base model, teacher-forced, and store the per-token rows (token_shift). Needs "
        "a pair whose models share a tokenizer.",
    )
    add_pair(p, required=True, default=None, help="pair name from models.toml")
    p.add_argument("--run", metavar="ID", help="run to score (default: the pair's newest run)")
    add_limit(p, help="score at most N answers")
    p.add_argument(
        "--context",
        choices=["raw", "chat"],
        default="raw",
        help="what the base model sees before the answer: raw = its own prompt for the item "
        "(default), chat = the instruct prompt verbatim, chat template included",
    )
    p.add_argument("--force", action="store_true", help="score again answers already scored")
    add_models(p)
    add_db(p)
    add_format(p)
    args = p.parse_args(argv)
    at_least("--limit", args.limit, 1, "a positive number")
    from rich.console import Console

    # The analysis (numpy) is imported when the command runs, not for its --help.
    from engine.analysis import ReportFilters, shift_report
    from engine.render import shift_tables
    from engine.run.shift import compute_shift

    store = Store(args.db)
    console = Console(stderr=True)
    # A pair that cannot be scored raises ShiftError, a TunelensError: main() prints it.
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
    emit_tables(shift_tables(report), args.format, heading=f"token shift, run {result.run_id}")
    return 0
