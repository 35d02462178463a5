"""The headless front: a batch run with a rich progress bar and a summary table at the end."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from engine.errors import StoreError
from engine.run.config import RunConfig
from engine.run.prepare import ExemplarSource, prepare_run
from engine.run.workload import Workload
from engine.store.journal import journal_dir
from engine.store.store import Store, SyncResult
from engine.store.summary import run_summary


class TokensPerSecond(ProgressColumn):
    """Generated tokens per wall-clock second over the whole run (both models together)."""

    def render(self, task: Task) -> Text:
        rate = task.fields.get("tok_s")
        return Text(f"{rate:6.1f} tok/s" if rate else "   -- tok/s", style="cyan")


def run_headless(
    config: RunConfig,
    *,
    db: str | None = None,
    resume: bool = False,
    workload: Workload | None = None,
    exemplars: ExemplarSource | None = None,
) -> int:
    """Run one configuration; a study passes the `workload` and `exemplars` it built itself."""
    console = Console(stderr=True)
    out = Console()
    store = Store(db)
    # Refuses a foreign or damaged file in one line; a store another process holds is fine: the
    # answers wait in the run's journal until it lets go.
    holder = store.open_for_run()
    if holder:
        console.print(f"[dim]{store.path} is held by {holder}: answers wait in the journal "
                      "until it lets go[/]")
    if resume and not store.find_resumable(config.config_hash()):
        done = store.find_completed(config.config_hash())
        if done:
            # Nothing is missing: a second full run would record every answer twice.
            console.print(f"run {done} with these arguments is complete: nothing to resume")
            waiting = store.pending(done)
            print_summary(out, store, done, waiting=[r for w in waiting for r in w.answer_rows])
            return 0

    prepared = prepare_run(config, store, workload=workload, exemplars=exemplars)
    workload = prepared.workload
    console.print(
        f"[bold]{config.dataset}[/]: {workload.originals} items"
        + (f", {workload.variants} perturbed variants" if workload.variants else "")
    )
    if workload.skipped_rows:
        console.print(f"[yellow]skipped {workload.skipped_rows} unusable rows[/], first reasons:")
        for reason in workload.skip_reasons[:3]:
            console.print(f"  - {reason}")
    for name, n in workload.no_variant.items():
        console.print(f"[yellow]{name}[/]: no valid variant for {n} items (left out)")
    if not workload.items:
        console.print("[red]nothing to run[/]")
        return 1

    second = prepared.load_extractor()
    if second is not None:
        console.print(
            f"extract-llm: {second.extractor.name} extracts each final answer too "
            f"({len(second.cache)} extractions cached)"
        )
    with console.status("loading models...") as status:
        models = prepared.load_models(
            on_status=lambda role, msg: status.update(f"{role}: {msg}")
        )
    for role, model in models.items():
        info = model.info
        tmpl = "chat template" if info.chat_template else "no chat template"
        console.print(f"{role:>8}: {info.name} ({info.description}, {tmpl})")
    if prepared.pair.description:
        console.print(f"[dim]{prepared.pair.description}[/]")

    runner = prepared.runner()
    plan = runner.start(resume=resume)
    if plan.skipped_existing:
        console.print(
            f"resuming run {plan.run_id}: {plan.skipped_existing} answers already recorded"
        )
    elif not resume:
        earlier = store.find_resumable(config.config_hash())
        if earlier and earlier != plan.run_id:
            console.print(
                f"[dim]an unfinished run with these arguments exists ({earlier}); "
                "add --resume to continue it instead[/]"
            )
    console.print(f"run {plan.run_id}: {plan.total} answers to generate -> {store.path}")

    status = "completed"
    t0 = time.perf_counter()
    tokens = 0
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[green]{task.fields[acc]}"),
        TokensPerSecond(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )
    correct = {r: [0, 0] for r in config.roles}
    try:
        with progress, _signals_interrupt():
            task = progress.add_task("answers", total=plan.total, acc="", tok_s=None)
            for p in runner.execute(plan):
                if p.answer is None:  # skipped: reported after the run
                    progress.update(task, advance=1)
                    continue
                tokens += p.answer.generation.tokens
                c = correct[p.role]
                c[0] += int(p.answer.grade.correct)
                c[1] += 1
                acc = "  ".join(f"{r} {v[0]}/{v[1]}" for r, v in correct.items() if v[1])
                progress.update(
                    task,
                    advance=1,
                    acc=acc,
                    tok_s=tokens / max(time.perf_counter() - t0, 1e-9),
                )
    except KeyboardInterrupt:
        status = "interrupted"
    except BaseException:
        # A model or a bug, never the store's lock (the recorder waits that out).
        runner.finish("failed")
        raise
    synced = runner.finish(status)
    elapsed = time.perf_counter() - t0

    waiting = store.pending(plan.run_id)
    print_summary(out, store, plan.run_id, waiting=[r for w in waiting for r in w.answer_rows])
    if runner.skipped:
        first = runner.skipped[0]
        console.print(
            f"[yellow]skipped {len(runner.skipped)} answers[/] that could not be made, first: "
            f"{first.call.role} {first.call.item.item_id} ({first.call.mode}): {first.reason}"
        )
    if runner.second_grader is not None:
        console.print(
            f"extract-llm ({runner.second_grader.extractor.name}): {runner.second_graded} "
            f"verdicts, {runner.second_changed} differ from the primary grader's, "
            f"{runner.second_grader.calls} extractor calls; `tunelens report` shows agreement"
        )
    if synced.waiting:
        console.print(waiting_line(store, synced))
    console.print(f"{elapsed:.1f} s, run id {plan.run_id}, store {store.path}")
    if status == "interrupted":
        console.print(
            "[yellow]interrupted[/]: recorded answers are kept; "
            "run the same command with --resume to continue"
        )
        return 130
    return 0


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (a closed terminal, a scheduler's kill) stop the run like Ctrl+C: the
    recorded answers are kept, the run is marked interrupted and the summary is printed."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def waiting_line(store: Store, synced: SyncResult) -> str:
    """The one line a run ends with when some of its answers could not reach the store yet."""
    who = f"when {synced.holder} releases it" if synced.holder else "when it can be written"
    why = f" ({synced.error})" if synced.error else ""
    return (
        f"[yellow]{synced.waiting} answers waiting in the journal[/] "
        f"{journal_dir(store.path)}; they will reach the store {who}{why}: at the next "
        "tunelens command on it, or `tunelens db sync`"
    )


def print_summary(
    console: Console, store: Store, run_id: str, *, waiting: Sequence[dict[str, Any]] = ()
) -> None:
    """The run's table, over its answers in the store and those still in its journal."""
    try:
        rows = run_summary(store, run_id, waiting=waiting)
    except StoreError as exc:  # held for writing longer than a reader waits
        console.print(f"no summary: {exc}")
        return
    table = Table(title=f"run {run_id}")
    for col, justify in [
        ("model role", "left"),
        ("mode", "left"),
        ("variant", "left"),
        ("n", "right"),
        ("accuracy", "right"),
        ("mean tokens", "right"),
        ("tokens/s", "right"),
        ("mean TTFT s", "right"),
    ]:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(
            r.role,
            r.mode,
            r.variant,
            str(r.n),
            f"{r.accuracy:.1%}",
            f"{r.mean_tokens:.0f}",
            f"{r.tokens_per_s:.1f}" if r.tokens_per_s else "-",
            f"{r.mean_ttft_s:.2f}",
        )
    console.print(table)
