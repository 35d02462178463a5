"""`tunelens [OPTIONS]`: a run, in the app or (`--headless`) with a progress bar."""

from __future__ import annotations

import argparse

from engine.errors import UsageError
from tunelens.commands import COMMANDS
from tunelens.options import add_run_options, build_run_config


def run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tunelens",
        description=(
            "Ask a base model and its instruction-tuned sibling the same questions, side by side; "
            "grade the answers and record everything in DuckDB. Opens the app unless --headless."
        ),
        epilog="commands:\n"
        + "\n".join(f"  {k:<14} {v.summary}" for k, v in COMMANDS.items())
        + "\n\nRun `tunelens COMMAND --help` for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--headless", action="store_true", help="batch run with a progress bar, no app")
    add_run_options(p)
    return p


def cmd_run(argv: list[str]) -> int:
    args = run_parser().parse_args(argv)
    config = build_run_config(args)
    if config.extractor and not args.headless:
        raise UsageError(
            "--extractor: headless runs only; after an app run use "
            "`tunelens regrade --grader extract-llm --extractor MODEL`"
        )
    if args.headless:
        from tunelens.headless import run_headless

        return run_headless(config, db=args.db, resume=args.resume)
    from tui.app import run_app

    return run_app(config, db=args.db)
