"""The `tunelens` command: the app by default, `--headless` for batch runs, and small subcommands.

Imports stay inside the commands so `tunelens --help` and `tunelens query` start fast: llama.cpp,
Textual and `datasets` load only when a command needs them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.errors import TunelensError, UsageError
from engine.inference.defaults import DEFAULT_PARALLEL_ITEMS, DEFAULT_SIDE_BY_SIDE, SIDE_BY_SIDE

COMMANDS: dict[str, str] = {
    "query": "run read-only SQL on the results store",
    "db": "where the store is (`db path`) and what it holds (`db info`)",
    "grade": "grade a JSONL file of outputs the way tunelens grades its own",
    "datasets": "list the datasets tunelens can load and how",
    "models": "list the pairs and models in models.toml",
    "perturbations": "list the perturbations and what they change",
    "report": "accuracy, paired tests, drops, convergence, grader agreement (+ --plot-dir)",
    "regrade": "add a second grader's verdicts to recorded answers (grader agreement)",
    "shift": "token distribution shift of instruct answers under the base model",
    "reproduce": "run a paper's protocol as a preset (instruct-vs-base) and print its table",
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in COMMANDS:
            handler = _command_handler(argv[0])
            return handler(argv[1:])
        return _run(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except TunelensError as exc:
        print(f"tunelens: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # Anything that is not a TunelensError is a bug: one short line, the traceback in the log.
        if os.environ.get("TUNELENS_TRACEBACK"):
            raise
        log = _log_crash(exc)
        print(
            f"tunelens: internal error ({type(exc).__name__}: {_first_line(exc)}); "
            f"the traceback is in {log}; set TUNELENS_TRACEBACK=1 to see it here",
            file=sys.stderr,
        )
        return 1


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no message"


def _log_crash(exc: BaseException) -> str:
    """Append the traceback to tunelens' log file and say where it is."""
    import traceback
    from datetime import datetime

    from platformdirs import user_log_dir

    try:
        folder = Path(os.environ.get("TUNELENS_LOG_DIR") or user_log_dir("tunelens"))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "crash.log"
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"--- {datetime.now().isoformat()} tunelens {' '.join(sys.argv[1:])}\n")
            fh.write("".join(traceback.format_exception(exc)))
        return str(path)
    except OSError:
        traceback.print_exception(exc)
        return "the output above"


def _command_handler(name: str) -> Callable[[list[str]], int]:
    from tunelens import commands

    return getattr(commands, f"cmd_{name}")


# -- the main run: app or headless --------------------------------------------------------------


def run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tunelens",
        description=(
            "Ask a base model and its instruction-tuned sibling the same questions, side by side; "
            "grade the answers and record everything in DuckDB. Opens the app unless --headless."
        ),
        epilog="commands:\n"
        + "\n".join(f"  {k:<14} {v}" for k, v in COMMANDS.items())
        + "\n\nRun `tunelens COMMAND --help` for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--headless", action="store_true", help="batch run with a progress bar, no app")
    add_run_options(p)
    return p


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pair", default="demo", help="pair name from models.toml (default: demo)")
    p.add_argument(
        "--models",
        metavar="PATH",
        help="models.toml to use (default: ./models.toml, $TUNELENS_MODELS, or the shipped one)",
    )
    p.add_argument(
        "--dataset",
        default="embedded",
        help="embedded (default, offline), gsm8k, medcalc, file, gsm-plus, gsm-symbolic",
    )
    p.add_argument("--data-file", metavar="PATH", help="local JSONL/CSV/Parquet instead of the Hub")
    p.add_argument(
        "--columns",
        metavar="MAP",
        help="column mapping for --dataset file, e.g. question=problem,answer=final,id=idx",
    )
    p.add_argument("--split", default="test", help="dataset split (default: test)")
    p.add_argument("--corrected-labels", action="store_true",
                   help="MedCalc-Bench: use the physician-corrected labels (test_corrected.csv "
                        "beside --data-file)")
    p.add_argument(
        "--train-file",
        metavar="PATH",
        help="exemplar source for few-shot (default: train file beside --data-file)",
    )
    p.add_argument("--limit", type=int, metavar="N", help="first N items only")
    p.add_argument(
        "--mode",
        default="zero-shot-cot",
        help="zero-shot, zero-shot-cot, few-shot-cot; several with commas (default: zero-shot-cot)",
    )
    p.add_argument("--shots", type=int, default=8, help="exemplars for few-shot-cot (default: 8)")
    p.add_argument(
        "--no-chat-template",
        action="store_true",
        help="send the instruct model raw text like the base model",
    )
    p.add_argument("--system", metavar="TEXT", help="system message for the instruct chat template")
    p.add_argument(
        "--perturb",
        metavar="SPEC",
        help="perturbations: comma-separated variants, '+' composes "
        "(e.g. numbers,names+irrelevant)",
    )
    p.add_argument("--perturb-seed", type=int, default=0, metavar="N")
    p.add_argument("--strategy", choices=["greedy", "sample", "cot-decoding"], default="greedy")
    p.add_argument(
        "--samples",
        type=int,
        default=1,
        metavar="K",
        help="answers per item for sample, branches for cot-decoding",
    )
    p.add_argument(
        "--temperature",
        type=float,
        default=0.7,
        help="sampling temperature (only with --strategy sample; default 0.7)",
    )
    p.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling (default 0.95)")
    p.add_argument("--top-k", type=int, default=0, help="top-k cut for sampling (0: none)")
    p.add_argument("--max-tokens", type=int, default=256, help="per answer (default: 256)")
    p.add_argument("--seed", type=int, default=0, help="decoding seed (sample i uses seed+i)")
    p.add_argument(
        "--role",
        choices=["both", "base", "instruct"],
        default="both",
        help="run only one side of the pair",
    )
    p.add_argument("--grader", help="grader to record as primary (default: by dataset)")
    p.add_argument("--db", metavar="PATH", help="results store (default: user data dir)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the last unfinished run with the same arguments",
    )
    p.add_argument(
        "--parallel-items",
        type=int,
        default=None,
        metavar="N",
        help="headless: answers per model decoded together in one llama.cpp batch; ~1.3x the "
        "items/min at 4, but llama.cpp's batch arithmetic can change some greedy answers "
        f"(default: {DEFAULT_PARALLEL_ITEMS}, one at a time, exactly reproducible)",
    )
    p.add_argument(
        "--side-by-side",
        choices=SIDE_BY_SIDE,
        default=None,
        help="how base and instruct share the CPU: parallel (both at once, all cores each), "
        "split (both at once, decoding on half the cores each), alternate (token turns), "
        "sequential "
        f"(default: models.toml [engine] side_by_side, else {DEFAULT_SIDE_BY_SIDE})",
    )


def _run(argv: list[str]) -> int:
    args = run_parser().parse_args(argv)
    config = build_run_config(args)
    if args.headless:
        from tunelens.headless import run_headless

        return run_headless(config, db=args.db, resume=args.resume)
    from tui.app import run_app

    return run_app(config, db=args.db)


def build_run_config(args: argparse.Namespace):  # -> engine.run.runner.RunConfig
    from engine.prompts import check_mode
    from engine.records import Decoding

    modes = tuple(check_mode(m.strip()) for m in args.mode.split(",") if m.strip())
    if not modes:
        raise UsageError("--mode: expected at least one mode")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit: expected a positive number of items")
    if args.samples < 1:
        raise UsageError("--samples: expected at least 1")
    if args.max_tokens < 1:
        raise UsageError("--max-tokens: expected at least 1")
    perturb: tuple[tuple[str, ...], ...] = ()
    if args.perturb:
        from engine.perturb import parse_perturb_spec

        try:
            perturb = tuple(tuple(g) for g in parse_perturb_spec(args.perturb))
        except ValueError as exc:
            raise UsageError(f"--perturb: {exc}") from None
    columns: tuple[tuple[str, str], ...] = ()
    if args.columns:
        from engine.data.datasets import parse_column_map

        try:
            columns = tuple(sorted(parse_column_map(args.columns).items()))
        except ValueError as exc:
            raise UsageError(f"--columns: {exc}") from None
    samples = args.samples
    if args.strategy == "greedy":
        samples = 1
    elif args.strategy == "cot-decoding" and args.samples == 1:
        samples = 10  # Wang & Zhou's default k
    decoding = Decoding(
        strategy=args.strategy,
        max_tokens=args.max_tokens,
        temperature=args.temperature if args.strategy == "sample" else 0.0,
        top_p=args.top_p if args.strategy == "sample" else 1.0,
        top_k=args.top_k if args.strategy == "sample" else 0,
        seed=args.seed,
        samples=samples,
    )
    from engine.run.runner import RunConfig

    parallel_items = DEFAULT_PARALLEL_ITEMS if args.parallel_items is None else args.parallel_items
    if parallel_items < 1:
        raise UsageError("--parallel-items: expected at least 1")

    roles = ("base", "instruct") if args.role == "both" else (args.role,)
    return RunConfig(
        pair=args.pair,
        dataset=args.dataset,
        data_file=args.data_file,
        split=args.split,
        limit=args.limit,
        modes=modes,
        shots=args.shots,
        train_file=args.train_file,
        chat_template=not args.no_chat_template,
        system_prompt=args.system,
        perturb=perturb,
        perturb_seed=args.perturb_seed,
        decoding=decoding,
        roles=roles,
        grader=args.grader,
        models_file=args.models,
        columns=columns,
        corrected_labels=args.corrected_labels,
        parallel_items=parallel_items,
        side_by_side=args.side_by_side,
    )


if __name__ == "__main__":
    raise SystemExit(main())
