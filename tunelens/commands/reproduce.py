"""`tunelens reproduce`: run a published protocol (a preset) headless and print its table.

The presets themselves (definitions, their RunConfigs, the table) are engine data; running the
configs is the headless front's job, so `run_preset` lives here.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

from engine.analysis import preset_table
from engine.errors import UsageError
from engine.run.presets import PRESETS, describe, preset_configs
from engine.store.store import Store
from tunelens.headless import run_headless
from tunelens.options import (
    add_data_file,
    add_dataset,
    add_db,
    add_format,
    add_limit,
    add_max_tokens,
    add_models,
    add_pair,
    add_resume,
    add_samples,
    add_seed,
    add_shots,
    add_table_only,
    add_train_file,
    at_least,
    command_parser,
)
from tunelens.output import emit_tables

if TYPE_CHECKING:
    from engine.run.config import RunConfig


def cmd_reproduce(argv: list[str]) -> int:
    from tunelens.commands import studies

    if argv and argv[0] in studies.STUDIES:  # a study parses its own options
        return getattr(studies, f"cmd_{argv[0]}")(argv[1:])
    p = command_parser(
        "reproduce",
        "Run a published protocol on a pair with the ordinary runner and print its table. "
        "Studies (each with its own --help): bigoulaeva (instruction tuning vs in-context "
        "learning), ghosh (token shift), munjal (base vs instruct on four benchmarks). "
        "Presets: " + "; ".join(f"{k}: {v.description}" for k, v in PRESETS.items()),
    )
    p.add_argument("preset", choices=sorted(PRESETS), help="a preset (or a study, see above)")
    add_pair(p)
    add_dataset(p, default="gsm8k", help="gsm8k (default), embedded, file, ...")
    add_data_file(p)
    add_train_file(p)
    add_limit(p)
    add_shots(p, default=None, help="exemplars for few-shot CoT (default: the preset's)")
    add_max_tokens(p, default=None, help="per answer (default: the preset's)")
    add_samples(p, default=None, help="K for pass@K presets")
    add_seed(p)
    add_models(p)
    add_resume(p, help="continue unfinished preset runs")
    add_table_only(p, help="do not run: print the table from the newest runs with these "
                             "arguments")
    add_format(p)
    add_db(p)
    args = p.parse_args(argv)
    at_least("--limit", args.limit, 1, "a positive number")
    at_least("--shots", args.shots, 0, "a positive number")
    at_least("--max-tokens", args.max_tokens, 1, "a positive number")
    at_least("--samples", args.samples, 1, "a positive number")

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
    except ValueError as exc:  # a dataset the preset is not defined for
        raise UsageError(str(exc)) from None
    print(f"{preset.name}: {describe(preset)}\nsource: {preset.source}", file=sys.stderr)
    store = Store(args.db)
    if args.table_only:
        run_ids = []
        for config in configs:
            run_id = newest_run(store, config)
            if run_id is None:
                raise UsageError(f"no {preset.name} run with these arguments in {store.path}")
            run_ids.append(run_id)
        code = 0
    else:
        code, run_ids = run_preset(configs, db=args.db, resume=args.resume)
    if not run_ids:
        return code or 1
    table = preset_table(store, preset, run_ids, samples=args.samples).as_report_table()
    if args.format == "table":
        from rich.console import Console

        Console().print(f"runs: {', '.join(run_ids)}")
    emit_tables(
        [table],
        args.format,
        heading=f"{preset.name} ({preset.source})",
        extra={"preset": preset.name, "runs": run_ids},
    )
    return code


def run_preset(
    configs: list[RunConfig], *, db: str | None = None, resume: bool = False
) -> tuple[int, list[str]]:
    """Run each config with the headless front; returns (exit code, run ids).

    The runs' own summaries go to stderr: stdout is for the preset's table.
    """
    run_ids = []
    for config in configs:
        with contextlib.redirect_stdout(sys.stderr):
            code = run_headless(config, db=db, resume=resume)
        run_id = newest_run(Store(db), config)
        if run_id is not None:
            run_ids.append(run_id)
        if code != 0:
            return code, run_ids
    return 0, run_ids


def newest_run(store: Store, config: RunConfig) -> str | None:
    """The id of the newest run recorded with exactly this config, if any."""
    rows = store.query(
        "SELECT run_id FROM runs WHERE config_hash = ? ORDER BY started_at DESC LIMIT 1",
        [config.config_hash()],
    ).rows
    return rows[0][0] if rows else None
