"""`tunelens reproduce bigoulaeva | ghosh | munjal`: one command per study, run with the ordinary
runner (the headless front), every answer recorded, the paper-shaped tables printed; with
`--table-only` the tables are printed again from the store without running anything.

The study definitions are engine data (engine.run.studies); their tables are
engine.analysis.studies; running the steps in order is this front's job.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING

from engine.errors import UsageError
from engine.store.store import Store
from tunelens.options import (
    add_data_file,
    add_db,
    add_format,
    add_limit,
    add_max_tokens,
    add_models,
    add_pair,
    add_resume,
    add_seed,
    add_table_only,
    at_least,
    command_parser,
)
from tunelens.output import emit_tables

if TYPE_CHECKING:
    from engine.analysis.table import ReportTable
    from engine.run.config import RunConfig
    from engine.run.prepare import ExemplarSource
    from engine.run.workload import Workload

STUDIES = ("bigoulaeva", "ghosh", "munjal")


def _common(p: argparse.ArgumentParser) -> None:
    add_pair(p)
    add_models(p)
    add_limit(p)
    add_seed(p)
    add_resume(p, help="continue the study's unfinished runs")
    add_table_only(p)
    add_format(p)
    add_db(p)


def newest_run(store: Store, config: RunConfig) -> str | None:
    """The id of the newest run recorded with exactly this config, if any."""
    rows = store.query(
        "SELECT run_id FROM runs WHERE config_hash = ? ORDER BY started_at DESC LIMIT 1",
        [config.config_hash()],
    ).rows
    return rows[0][0] if rows else None


def run_step(
    config: RunConfig,
    *,
    db: str | None,
    resume: bool,
    table_only: bool,
    workload: Workload | None = None,
    exemplars: ExemplarSource | None = None,
    what: str = "",
) -> str:
    """Run one step of a study with the headless front (or find it, with --table-only)."""
    from tunelens.headless import run_headless

    store = Store(db)
    if table_only:
        run_id = newest_run(store, config)
        if run_id is None:
            raise UsageError(f"no {what or 'study'} run with these arguments in {store.path}")
        return run_id
    with contextlib.redirect_stdout(sys.stderr):  # stdout is for the study's tables
        code = run_headless(config, db=db, resume=resume, workload=workload, exemplars=exemplars)
    run_id = newest_run(store, config)
    if code != 0 or run_id is None:
        raise SystemExit(code or 1)
    return run_id


def _emit(tables: list[ReportTable], fmt: str, heading: str, runs: list[str], name: str) -> None:
    if fmt == "table":
        from rich.console import Console

        Console().print(f"[bold]{heading}[/]\nruns: {', '.join(runs)}")
    emit_tables(tables, fmt, heading=heading, extra={"study": name, "runs": runs})


# -- bigoulaeva ---------------------------------------------------------------------------------


def cmd_bigoulaeva(argv: list[str]) -> int:
    from engine.run.studies import bigoulaeva as study_mod
    from engine.run.studies.sources import DATA_DIR_FILES, resolve_sources

    p = command_parser(
        "reproduce bigoulaeva",
        "Instruction tuning vs in-context learning (Bigoulaeva et al. 2025): per task, base "
        "zero-shot, base k-shot (gold, instruct-written, corrupted answers, neutral labels, "
        "another task's exemplars) and instruct zero-shot; correlations across tasks.",
    )
    _common(p)
    p.add_argument(
        "--datasets",
        default=",".join(study_mod.DEFAULT_DATASETS),
        help=f"comma-separated, from {', '.join(DATA_DIR_FILES)} "
        f"(default: {','.join(study_mod.DEFAULT_DATASETS)})",
    )
    p.add_argument("--data-dir", metavar="DIR",
                   help="benchmark files laid out like ../shared/datasets (default: the Hub)")
    p.add_argument("--data-file", action="append", default=[], metavar="PATH",
                   help="a dataset file of your own: one more task (repeatable)")
    p.add_argument("--shots", type=int, default=3, help="exemplars per prompt, k (default 3)")
    p.add_argument("--min-items", type=int, default=10,
                   help="evaluated items a task needs to count (default 10)")
    p.add_argument("--medcalc-by", choices=["category", "calculator"], default="category",
                   help="MedCalc tasks: calculator categories (default) or single calculators")
    add_max_tokens(p, default=256)
    args = p.parse_args(argv)
    at_least("--limit", args.limit, 1, "a positive number")
    at_least("--shots", args.shots, 1, "a positive number")
    at_least("--min-items", args.min_items, 1, "a positive number")
    at_least("--max-tokens", args.max_tokens, 1, "a positive number")
    datasets = tuple(d.strip() for d in args.datasets.split(",") if d.strip())
    sources = resolve_sources(datasets, args.data_dir, extra_files=tuple(args.data_file))
    if not sources:
        raise UsageError("--datasets: no dataset given")
    study = study_mod.IclStudy(
        pair=args.pair, sources=sources, shots=args.shots, limit=args.limit,
        min_items=args.min_items, seed=args.seed, max_tokens=args.max_tokens,
        medcalc_by=args.medcalc_by, models_file=args.models,
    )
    print(f"{study_mod.NAME}: {study_mod.SOURCE}", file=sys.stderr)
    tasks = study_mod.build_tasks(study)
    for t, n in tasks.dropped.items():
        print(f"task {t}: left out ({n} evaluated items, need {args.min_items})",
              file=sys.stderr)
    if len(tasks.tasks) < 2:
        raise UsageError(
            f"{len(tasks.tasks)} task(s) with at least {args.min_items} items: a correlation "
            "needs many (lower --min-items, raise --limit or add --datasets)"
        )
    print(f"{len(tasks.tasks)} tasks: {', '.join(tasks.tasks)}", file=sys.stderr)
    instruct_cfg, base_cfg = study_mod.configs(study, tasks)
    w_instruct, w_base = study_mod.workloads(tasks)
    store = Store(args.db)
    step = {"db": args.db, "resume": args.resume, "table_only": args.table_only}
    instruct_run = run_step(instruct_cfg, workload=w_instruct,
                            exemplars=study_mod.zero_shot_only, what="bigoulaeva instruct", **step)
    exemplars = study_mod.IclExemplars(study, tasks, store, instruct_run)
    base_run = run_step(base_cfg, workload=w_base, exemplars=exemplars, what="bigoulaeva base",
                        **step)
    from engine.analysis.studies.bigoulaeva import icl_tables

    tables = icl_tables(store, [instruct_run, base_run], study.task)
    _emit(tables.as_report_tables(), args.format,
          f"bigoulaeva: instruction tuning vs in-context learning ({study_mod.SOURCE})",
          tables.runs, "bigoulaeva")
    return 0


# -- ghosh --------------------------------------------------------------------------------------


def cmd_ghosh(argv: list[str]) -> int:
    from engine.run.studies import ghosh as study_mod

    p = command_parser(
        "reproduce ghosh",
        "What tuning changes in the tokens (Ghosh et al. 2024, measured as in URIAL): greedy "
        "answers of a same-family pair, every instruct token ranked under the base model.",
    )
    _common(p)
    p.add_argument("--dataset", default="embedded", help="dataset (default: embedded)")
    add_data_file(p)
    p.add_argument("--mode", default="zero-shot-cot", help="prompt mode (default zero-shot-cot)")
    p.add_argument("--system", metavar="TEXT",
                   help='system message for the instruct model (Qwen3 thinking off: "/no_think")')
    add_max_tokens(p, default=256)
    args = p.parse_args(argv)
    at_least("--limit", args.limit, 1, "a positive number")
    at_least("--max-tokens", args.max_tokens, 1, "a positive number")
    from engine.prompts import check_mode

    study = study_mod.ShiftStudy(
        pair=args.pair, dataset=args.dataset, data_file=args.data_file, limit=args.limit,
        mode=check_mode(args.mode), max_tokens=args.max_tokens, seed=args.seed,
        models_file=args.models, system=args.system,
    )
    print(f"{study_mod.NAME}: {study_mod.SOURCE}", file=sys.stderr)
    config = study_mod.config(study)
    store = Store(args.db)
    from engine.inference.config import load_config

    models_config = load_config(args.models)
    if not args.table_only:
        _check_same_tokenizer(models_config, args.pair)
    run_id = run_step(config, db=args.db, resume=args.resume, table_only=args.table_only,
                      what="ghosh")
    if not args.table_only:
        from engine.run.shift import compute_shift

        result = compute_shift(store, models_config, args.pair, run_id=run_id)
        print(f"scored {result.answers} instruct answers ({result.tokens} tokens) under "
              f"{result.scorer}", file=sys.stderr)
        for reason, n in result.skipped.items():
            print(f"skipped {n}: {reason}", file=sys.stderr)
    from engine.analysis.studies.ghosh import ghosh_tables

    tables = ghosh_tables(store, run_id)
    if tables is None:
        raise UsageError(f"run {run_id} has no scored instruct answers (run without --table-only)")
    _emit(tables.as_report_tables(), args.format,
          f"ghosh: what tuning changes in the tokens ({study_mod.SOURCE})", [run_id], "ghosh")
    return 0


def _check_same_tokenizer(models_config: object, pair: str) -> None:
    """Refuse a pair with two tokenizers before anything is run (loads both models briefly)."""
    from engine.inference.pairs import load_pair
    from engine.run.shift import check_same_tokenizer

    models = load_pair(models_config, pair)  # type: ignore[arg-type]
    try:
        check_same_tokenizer(models["base"], models["instruct"], pair)  # type: ignore[arg-type]
    finally:
        for m in models.values():
            m.close()


# -- munjal -------------------------------------------------------------------------------------


def cmd_munjal(argv: list[str]) -> int:
    from engine.run.studies import munjal as study_mod
    from engine.run.studies.sources import resolve_sources

    p = command_parser(
        "reproduce munjal",
        "Base vs instruct across benchmarks and settings (Munjal et al. 2026): GSM8K, "
        "MATH-500, MATH-P-Hard, MedCalc-Bench; zero-shot CoT and few-shot CoT; base CoT-decoding "
        "and instruct samples at T=0.05, pass@K (or --greedy); graders side by side.",
    )
    _common(p)
    p.add_argument("--datasets", default=",".join(study_mod.DEFAULT_DATASETS),
                   help=f"comma-separated (default: {','.join(study_mod.DEFAULT_DATASETS)})")
    p.add_argument("--data-dir", metavar="DIR",
                   help="benchmark files laid out like ../shared/datasets (default: the Hub)")
    p.add_argument("--math-train-file", metavar="PATH",
                   help="MATH train JSONL (problem, solution) for the MATH sets' exemplars "
                   "(default: MATH-500 problems that are not asked)")
    p.add_argument("--greedy", action="store_true",
                   help="quick run: one greedy answer per question and role")
    p.add_argument("--samples", type=int, default=20, metavar="K",
                   help="K for pass@K: CoT-decoding branches and instruct samples (default 20)")
    p.add_argument("--shots", type=int, default=None,
                   help="few-shot exemplars (default: 8 GSM8K, 4 MATH, 1 MedCalc)")
    add_max_tokens(p, default=8192, help="per answer (default 8192, as the paper)")
    p.add_argument("--grader", action="append", default=[], metavar="NAME",
                   help="a second grader to compare with the rule graders (repeatable), e.g. "
                   "math-verify, or extract-llm with --extractor")
    p.add_argument("--extractor", metavar="MODEL",
                   help="the auxiliary extractor model of the extract-llm grader")
    args = p.parse_args(argv)
    for flag, value in (("--limit", args.limit), ("--samples", args.samples),
                        ("--max-tokens", args.max_tokens), ("--shots", args.shots)):
        at_least(flag, value, 1 if flag != "--shots" else 0, "a positive number")
    datasets = tuple(d.strip() for d in args.datasets.split(",") if d.strip())
    unknown = [d for d in datasets if d not in study_mod.SHOTS]
    if unknown:
        raise UsageError(f"--datasets: {', '.join(unknown)} is not one of the study's "
                         f"benchmarks ({', '.join(study_mod.DEFAULT_DATASETS)})")
    graders = _second_graders(args.grader, args.extractor)
    study = study_mod.MunjalStudy(
        pair=args.pair, sources=resolve_sources(datasets, args.data_dir), greedy=args.greedy,
        samples=args.samples, max_tokens=args.max_tokens, shots=args.shots, limit=args.limit,
        seed=args.seed, math_train_file=args.math_train_file, models_file=args.models,
    )
    print(f"{study_mod.NAME}: {study_mod.SOURCE}", file=sys.stderr)
    preset = study.preset()
    runs: dict[str, list[str]] = {}
    step = {"db": args.db, "resume": args.resume, "table_only": args.table_only}
    for dataset, configs in study_mod.configs(study).items():
        runs[dataset] = [run_step(c, what=f"munjal {dataset}", **step) for c in configs]
    store = Store(args.db)
    if graders and not args.table_only:
        from engine.analysis import ReportFilters, regrade

        all_runs = ReportFilters(runs=tuple(r for ids in runs.values() for r in ids))
        for grader in graders:
            if grader == "extract-llm":
                done = _regrade_extract_llm(store, all_runs, args.extractor, args.models)
            else:
                done = regrade(store, grader, all_runs)
            print(f"{grader}: graded {done.graded} answers, verdict changed on {done.changed}",
                  file=sys.stderr)
    from engine.analysis import preset_table
    from engine.analysis.studies.munjal import drop_rows, drop_table, grader_rows, grader_table

    k = None if args.greedy else args.samples
    tables = []
    for dataset, ids in runs.items():
        t = preset_table(store, preset, ids, samples=k).as_report_table()
        t.key, t.title = f"munjal_{dataset}", f"{dataset}: base vs instruct"
        tables.append(t)
    if "math500" in runs and "math-perturb-hard" in runs:
        tables.append(drop_table(drop_rows(store, preset, runs["math500"],
                                           runs["math-perturb-hard"], samples=k)))
    tables.append(grader_table(grader_rows(store, preset, runs, graders, samples=k)))
    _emit(tables, args.format, f"munjal: base vs instruct ({study_mod.SOURCE})",
          [r for ids in runs.values() for r in ids], "munjal")
    return 0


def _regrade_extract_llm(
    store: Store, filters: object, extractor: str | None, models_file: str | None
) -> object:
    """The auxiliary-model extractor's verdicts (the extract-llm grader, with its model)."""
    if not extractor:
        raise UsageError("--grader extract-llm needs --extractor MODEL (a model in models.toml)")
    from engine.analysis import regrade
    from engine.grading import ExtractLLMGrader
    from engine.run.extractor import load_extractor

    model = load_extractor(extractor, models_file)
    try:
        return regrade(store, ExtractLLMGrader(model), filters)  # type: ignore[arg-type]
    finally:
        model.close()


def _second_graders(names: list[str], extractor: str | None) -> list[str]:
    """The graders to set beside the rule graders; refused in one line when not available."""
    from engine.grading import GRADERS

    out = []
    for name in names:
        if name not in GRADERS:
            raise UsageError(f"--grader {name}: unknown grader; choose from "
                             f"{', '.join(GRADERS)}")
        out.append(name)
    if extractor and "extract-llm" not in out:
        raise UsageError("--extractor needs --grader extract-llm")
    if "extract-llm" in out and not extractor:  # refused before any model loads
        raise UsageError("--grader extract-llm needs --extractor MODEL (a model in models.toml)")
    return out
