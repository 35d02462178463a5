"""Command-line options, each defined once as `add_X(parser)`, and what they turn into.

Several commands take the same option (`--db`, `--models`, the run options, the report filters);
defining it here keeps its flag, type and help the same everywhere. Where a command means
something else by default (a preset's shots, a shift's `--limit` of answers) it passes only what
differs, as keyword arguments for `add_argument`. Nothing heavy is imported at module level: every
`--help` goes through here.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, get_args

from engine.errors import UsageError
from engine.inference.defaults import DEFAULT_PARALLEL_ITEMS, DEFAULT_SIDE_BY_SIDE, SIDE_BY_SIDE
from engine.records import MODES, ROLES, Decoding, Strategy

if TYPE_CHECKING:
    from engine.analysis import ReportFilters
    from engine.run.config import RunConfig

ROW_FORMATS = ("table", "csv", "json")
TABLE_FORMATS = (*ROW_FORMATS, "markdown")


def command_parser(name: str, description: str) -> argparse.ArgumentParser:
    """The parser of `tunelens NAME`."""
    return argparse.ArgumentParser(prog=f"tunelens {name}", description=description)


def _add(p: argparse.ArgumentParser, flag: str, override: dict[str, Any], **kwargs: Any) -> None:
    p.add_argument(flag, **{**kwargs, **override})


def at_least(flag: str, value: int | None, minimum: int, expected: str) -> None:
    """Refuse a number below `minimum` as a one-line usage error (None: not given)."""
    if value is not None and value < minimum:
        raise UsageError(f"{flag}: expected {expected}")


# -- the store and the models ---------------------------------------------------------------------


def add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="PATH", help="results store (default: user data dir)")


def add_models(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--models",
        metavar="PATH",
        help="models.toml to use (default: ./models.toml, $TUNELENS_MODELS, or the shipped one)",
    )


def add_pair(p: argparse.ArgumentParser, **override: Any) -> None:
    _add(p, "--pair", override, default="demo", help="pair name from models.toml (default: demo)")


def add_format(p: argparse.ArgumentParser, formats: tuple[str, ...] = TABLE_FORMATS) -> None:
    p.add_argument("--format", choices=list(formats), default="table")


# -- what a run asks, and of which items ----------------------------------------------------------


def add_dataset(p: argparse.ArgumentParser, **override: Any) -> None:
    _add(
        p,
        "--dataset",
        override,
        default="embedded",
        help="embedded (default, offline), gsm8k, medcalc, file, gsm-plus, gsm-symbolic, "
        "gsm-symbolic-p2, math500, math-perturb-simple, math-perturb-hard (`tunelens datasets`)",
    )


def add_data_file(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-file", metavar="PATH", help="local JSONL/CSV/Parquet instead of the Hub")


def add_train_file(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--train-file",
        metavar="PATH",
        help="exemplar source for few-shot (default: train file beside --data-file)",
    )


def add_limit(p: argparse.ArgumentParser, **override: Any) -> None:
    _add(p, "--limit", override, type=int, metavar="N", help="first N items only")


def add_shots(p: argparse.ArgumentParser, **override: Any) -> None:
    _add(p, "--shots", override, type=int, default=8,
         help="exemplars for few-shot-cot (default: 8)")


def add_samples(p: argparse.ArgumentParser, **override: Any) -> None:
    _add(p, "--samples", override, type=int, default=1, metavar="K",
         help="answers per item for sample, branches for cot-decoding")


def add_max_tokens(p: argparse.ArgumentParser, **override: Any) -> None:
    _add(p, "--max-tokens", override, type=int, default=256, help="per answer (default: 256)")


def add_seed(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="decoding seed (sample i uses seed+i)")


def add_resume(p: argparse.ArgumentParser, **override: Any) -> None:
    _add(p, "--resume", override, action="store_true",
         help="continue the last unfinished run with the same arguments")


def add_table_only(p: argparse.ArgumentParser, **override: Any) -> None:
    _add(p, "--table-only", override, action="store_true",
         help="do not run: print the tables from the newest runs with these arguments")


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Everything `tunelens [--headless]` takes to describe a run (see `build_run_config`)."""
    add_pair(p)
    add_models(p)
    add_dataset(p)
    add_data_file(p)
    p.add_argument(
        "--columns",
        metavar="MAP",
        help="column mapping for --dataset file, e.g. question=problem,answer=final,id=idx",
    )
    p.add_argument("--split", default="test", help="dataset split (default: test)")
    p.add_argument("--corrected-labels", action="store_true",
                   help="MedCalc-Bench: use the physician-corrected labels (test_corrected.csv "
                        "beside --data-file)")
    add_train_file(p)
    add_limit(p)
    p.add_argument(
        "--items",
        metavar="ID,...",
        help="only these item ids (a GSM-Symbolic variant also answers to its GSM8K item's id, "
        "gsm8k-test-N), so runs on linked benchmarks share items; with --limit, the first N",
    )
    p.add_argument(
        "--mode",
        default="zero-shot-cot",
        help=f"{', '.join(MODES)}; several with commas (default: zero-shot-cot)",
    )
    add_shots(p)
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
    p.add_argument("--strategy", choices=list(get_args(Strategy)), default="greedy")
    add_samples(p)
    p.add_argument(
        "--temperature",
        type=float,
        default=0.7,
        help="sampling temperature (only with --strategy sample; default 0.7)",
    )
    p.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling (default 0.95)")
    p.add_argument("--top-k", type=int, default=0, help="top-k cut for sampling (0: none)")
    add_max_tokens(p)
    add_seed(p)
    p.add_argument(
        "--role",
        choices=["both", *ROLES],
        default="both",
        help="run only one side of the pair",
    )
    p.add_argument("--grader", help="grader to record as primary (default: by dataset)")
    p.add_argument(
        "--extractor",
        metavar="MODEL",
        help="headless: also grade each answer with extract-llm, this models.toml model "
        "extracting the final answer (e.g. smollm2-135m-instruct-q4_1); its verdicts go beside "
        "the primary grader's, for grader agreement",
    )
    add_db(p)
    add_resume(p)
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
        "--concurrency",
        type=int,
        default=None,
        metavar="N",
        help="served models (models.toml server = {...}): requests in flight per model "
        "(default: the server's slot count where it reports one, e.g. llama-server --parallel)",
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


def check_run_grader(name: str | None) -> None:
    """A run's --grader must be a rule grader: refused before any model loads, not mid-run."""
    if name is None:
        return
    from engine.grading import GRADERS

    if name == "extract-llm":
        raise UsageError(
            "--grader extract-llm: the primary grader of a run is a rule grader; add "
            "--extractor MODEL to grade each answer with extract-llm too, or afterwards "
            "`tunelens regrade --grader extract-llm --extractor MODEL`"
        )
    if name not in GRADERS:
        raise UsageError(f"--grader: unknown grader {name!r} (choose from {', '.join(GRADERS)})")


def build_run_config(args: argparse.Namespace) -> RunConfig:
    """The RunConfig the run options describe; bad values are UsageErrors naming the flag."""
    from engine.data import parse_column_map
    from engine.perturb import parse_perturb_spec
    from engine.prompts import check_mode
    from engine.run.config import RunConfig

    modes = tuple(check_mode(m.strip()) for m in args.mode.split(",") if m.strip())
    if not modes:
        raise UsageError("--mode: expected at least one mode")
    at_least("--limit", args.limit, 1, "a positive number of items")
    at_least("--samples", args.samples, 1, "at least 1")
    at_least("--max-tokens", args.max_tokens, 1, "at least 1")
    check_run_grader(args.grader)
    perturb: tuple[tuple[str, ...], ...] = ()
    if args.perturb:
        try:
            perturb = tuple(tuple(g) for g in parse_perturb_spec(args.perturb))
        except ValueError as exc:
            raise UsageError(f"--perturb: {exc}") from None
    columns: tuple[tuple[str, str], ...] = ()
    if args.columns:
        # A DatasetError, whose message already names --columns.
        columns = tuple(sorted(parse_column_map(args.columns).items()))
    from engine.run.config import check_sampling

    check_sampling(args.temperature, args.top_p, args.top_k)  # as typed, even for greedy
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
    parallel_items = DEFAULT_PARALLEL_ITEMS if args.parallel_items is None else args.parallel_items
    at_least("--parallel-items", parallel_items, 1, "at least 1")
    at_least("--concurrency", args.concurrency, 1, "at least 1")

    roles = ROLES if args.role == "both" else (args.role,)
    config = RunConfig(
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
        items=_items(args.items),
        parallel_items=parallel_items,
        side_by_side=args.side_by_side,
        concurrency=args.concurrency,
        extractor=args.extractor,
    )
    config.check()
    return config


def _items(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    from engine.data.select import parse_item_list

    items = parse_item_list(text)
    if not items:
        raise UsageError("--items: expected item ids separated by commas")
    return items


# -- which recorded runs a report reads ---------------------------------------------------------


def add_report_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="ID",
        help="only this run (repeatable; default: all runs)",
    )
    p.add_argument("--dataset", help="only this dataset")
    p.add_argument("--pair", help="only runs of this pair")


def report_filters(args: argparse.Namespace, **extra: Any) -> ReportFilters:
    """The ReportFilters the report filter options describe, plus `extra` fields."""
    from engine.analysis import ReportFilters

    return ReportFilters(runs=tuple(args.run), dataset=args.dataset, pair=args.pair, **extra)
