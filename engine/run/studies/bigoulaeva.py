"""Instruction tuning vs in-context learning (Bigoulaeva, Tayyar Madabushi, Gurevych 2025,
arXiv 2501.08716), as two ordinary runs over many tasks.

Tasks are data slices (engine.data.tasks). In each task a seeded draw holds k items out as the
exemplar pool; the task's other items (up to `limit`) are evaluated. The exemplars are short, as
in the paper: "Question: <question>\\nAnswer: <final answer>".

1. The instruct run: the instruct model answers zero-shot both the evaluated items (the condition
   "instruct zero-shot") and the exemplar questions: its recorded answers to those become the
   "instruct-written" exemplars. It runs first, so those answers exist before they are used.
2. The base run: base zero-shot and the ICL conditions, each a mode (engine.records.ICL_MODES):
   gold exemplars; the instruct model's recorded answers; gold exemplars with every final answer
   replaced by a wrong one; gold exemplars under "Input:"/"Output:"; another task's exemplars.

Every prompt, exemplars included, is recorded with its answer (generations.prompt).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from engine.data import load_items
from engine.data.embedded.templates import stable_int
from engine.data.tasks import task_of
from engine.errors import DatasetError
from engine.prompts import question_text
from engine.records import ICL_MODES, Decoding, Exemplar, Item
from engine.run.config import RunConfig
from engine.run.studies.sources import Source
from engine.run.workload import Workload

if TYPE_CHECKING:
    from engine.store.store import Store

NAME = "bigoulaeva"
SOURCE = "Bigoulaeva, Tayyar Madabushi, Gurevych 2025, arXiv 2501.08716"
DEFAULT_DATASETS = ("embedded", "gsm8k", "gsm-symbolic-p2", "math500", "medcalc")
_NUMBER = re.compile(r"-?\d+(?:\.(\d+))?")


@dataclass(frozen=True)
class IclStudy:
    """What the study runs; every field that changes items or exemplars is in `tag`."""

    pair: str
    sources: tuple[Source, ...]
    shots: int = 3
    limit: int | None = None  # evaluated items per task (None: all but the exemplar pool)
    min_items: int = 10  # a task needs this many evaluated items
    seed: int = 0
    max_tokens: int = 256
    medcalc_by: str = "category"
    models_file: str | None = None

    @property
    def tag(self) -> str:
        data = asdict(self)
        for key in ("pair", "models_file", "max_tokens", "limit", "shots", "seed"):
            data.pop(key)  # in the RunConfig itself
        return f"{NAME} " + json.dumps(data, sort_keys=True)

    def task(self, item: Item) -> str | None:
        return task_of(item, medcalc_by=self.medcalc_by)


@dataclass
class TaskSet:
    """The tasks kept, each with its exemplar pool and evaluated items; and the ones left out."""

    pools: dict[str, list[Item]]
    evaluated: dict[str, list[Item]]
    cross: dict[str, str]  # task -> the task whose exemplars the cross-task probe shows
    dropped: dict[str, int] = field(default_factory=dict)  # task -> evaluated items it had

    @property
    def tasks(self) -> list[str]:
        return sorted(self.evaluated)


def build_tasks(study: IclStudy) -> TaskSet:
    """Load every source, slice it into tasks, hold out each task's exemplar pool."""
    by_task: dict[str, list[Item]] = {}
    for src in study.sources:
        for item in load_items(src.dataset, src.data_file).items:
            t = study.task(item)
            if t is not None:
                by_task.setdefault(t, []).append(item)
    pools: dict[str, list[Item]] = {}
    evaluated: dict[str, list[Item]] = {}
    dropped: dict[str, int] = {}
    for t, items in sorted(by_task.items()):
        order = sorted(items, key=lambda i: (stable_int(NAME, study.seed, t, i.item_id), i.item_id))
        pool, rest = order[: study.shots], order[study.shots :]
        if study.limit is not None:
            rest = rest[: study.limit]
        if len(pool) < study.shots or len(rest) < study.min_items:
            dropped[t] = len(rest)
            continue
        pools[t], evaluated[t] = pool, rest
    return TaskSet(pools, evaluated, cross_tasks(sorted(evaluated)), dropped)


def cross_tasks(tasks: list[str]) -> dict[str, str]:
    """Each task's 'other task': the next one (cyclically) from another dataset, else the next."""
    out = {}
    for i, t in enumerate(tasks):
        others = tasks[i + 1 :] + tasks[:i]
        other_ds = [o for o in others if o.split("/")[0] != t.split("/")[0]]
        if others:
            out[t] = (other_ds or others)[0]
    return out


def corrupt_answer(gold: str, others: list[str], salt: str) -> str:
    """A wrong final answer for an exemplar: a number moved by 1-9 (same decimals), else another
    exemplar's different answer, else the gold with '+ 1' appended. Never the gold itself."""
    text = gold.strip()
    m = _NUMBER.fullmatch(text)
    if m:
        step = 1 + stable_int("corrupt", salt) % 9
        decimals = len(m.group(1) or "")
        return f"{float(text) + step:.{decimals}f}"
    for other in others:
        if other.strip() and other.strip() != text:
            return other.strip()
    return f"{text} + 1"


def configs(study: IclStudy, tasks: TaskSet) -> tuple[RunConfig, RunConfig]:
    """(instruct run, base run): greedy, short answers; the instruct run goes first."""
    label = "+".join(dict.fromkeys(s.dataset for s in study.sources))
    common = dict(
        pair=study.pair,
        dataset=label,
        limit=study.limit,
        shots=study.shots,
        fewshot_seed=study.seed,
        decoding=Decoding(max_tokens=study.max_tokens, seed=study.seed),
        models_file=study.models_file,
        study=study.tag,
    )
    instruct = RunConfig(modes=("zero-shot",), roles=("instruct",), **common)  # type: ignore[arg-type]
    base = RunConfig(modes=base_modes(tasks), roles=("base",), **common)  # type: ignore[arg-type]
    return instruct, base


def workloads(tasks: TaskSet) -> tuple[Workload, Workload]:
    """(instruct: evaluated items and exemplar questions, base: evaluated items)."""
    evaluated = [i for t in tasks.tasks for i in tasks.evaluated[t]]
    pools = [i for t in tasks.tasks for i in tasks.pools[t]]
    n = len(evaluated)
    return (
        Workload(items=evaluated + pools, originals=n + len(pools), variants=0, skipped_rows=0,
                 skip_reasons=[]),
        Workload(items=evaluated, originals=n, variants=0, skipped_rows=0, skip_reasons=[]),
    )


def zero_shot_only(item: Item, mode: str) -> list[Exemplar]:
    """The instruct run's exemplar source: it asks zero-shot only."""
    return []


class IclExemplars:
    """The exemplar source of the base run: (item, mode) -> the condition's exemplars."""

    def __init__(self, study: IclStudy, tasks: TaskSet, store: Store, instruct_run: str) -> None:
        self.study = study
        self.tasks = tasks
        self.store = store
        self.instruct_run = instruct_run
        self._written: dict[str, str] | None = None

    def written(self) -> dict[str, str]:
        """item id -> the instruct model's recorded answer (the instruct run, zero-shot)."""
        if self._written is None:
            rows = self.store.query(
                "SELECT item_id, output FROM generations WHERE run_id = ? AND role = 'instruct' "
                "AND mode = 'zero-shot' AND coalesce(finish_reason, '') <> 'cancelled' "
                "ORDER BY created_at",
                [self.instruct_run],
            ).rows
            self._written = {r[0]: r[1] or "" for r in rows}
        return self._written

    def _gold(self, task: str) -> list[Exemplar]:
        return [Exemplar(question_text(p), p.gold) for p in self.tasks.pools[task]]

    def __call__(self, item: Item, mode: str) -> list[Exemplar]:
        if mode not in ICL_MODES:
            return []
        task = self.study.task(item)
        if task is None or task not in self.tasks.pools:
            raise DatasetError(f"{item.item_id}: not an item of the study's tasks")
        pool = self.tasks.pools[task]
        if mode in ("icl-gold", "icl-neutral"):
            return self._gold(task)
        if mode == "icl-cross":
            other = self.tasks.cross.get(task)
            if other is None:
                raise DatasetError("the other-task probe needs at least two tasks")
            return self._gold(other)
        if mode == "icl-corrupt":
            golds = [p.gold for p in pool]
            return [
                Exemplar(question_text(p), corrupt_answer(
                    p.gold, golds[i + 1 :] + golds[:i], f"{self.study.seed}:{p.item_id}"))
                for i, p in enumerate(pool)
            ]
        written = self.written()
        out = []
        for p in pool:
            if p.item_id not in written:
                raise DatasetError(
                    f"run {self.instruct_run} has no instruct answer to exemplar {p.item_id}: "
                    "finish the instruct run first (--resume)"
                )
            out.append(Exemplar(question_text(p), written[p.item_id].strip()))
        return out


def base_modes(tasks: TaskSet) -> tuple[str, ...]:
    """The base run's modes: the other-task probe needs two tasks."""
    modes: tuple[str, ...] = ("zero-shot", *ICL_MODES)
    return modes if tasks.cross else tuple(m for m in modes if m != "icl-cross")

