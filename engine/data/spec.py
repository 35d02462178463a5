"""A benchmark is data: one frozen `DatasetSpec` says where its rows come from, how a row becomes
an `Item`, which grader and exemplars it gets, and how its question is posed.

Why: adding a benchmark used to touch a registry, aliases, column presets, an if/elif in the
loader, the grader and the prompt builder; now it is one spec next to its row → Item function
(as an lm-evaluation-harness task YAML is). The registry of specs is `engine.data.registry`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from engine.data.readers import require_columns
from engine.records import Exemplar, Item

T = TypeVar("T")

MAX_SKIP_REASONS = 5

# (location, row) pairs from a reader; location is "file:line" or "hub-id[split]:index".
Rows = Iterable[tuple[str, dict[str, Any]]]


@dataclass
class LoadResult:
    """Items loaded plus what was skipped and why (the first few reasons, for the user)."""

    items: list[Item]
    skipped: int = 0
    skip_reasons: list[str] = field(default_factory=list)
    source: str = ""  # the file or Hub id the items came from

    def skip(self, reason: str) -> None:
        self.skipped += 1
        if len(self.skip_reasons) < MAX_SKIP_REASONS:
            self.skip_reasons.append(reason)


@dataclass(frozen=True)
class LoadRequest:
    """One `load_items` call, as a spec's row → Item function sees it."""

    spec: DatasetSpec
    rows: Rows
    source: str  # the file name or Hub id, for messages and Item.fields
    path: Path | None  # the --data-file, if one was given
    split: str
    limit: int | None
    columns: Mapping[str, str] = field(default_factory=dict)  # the caller's map (--columns)
    corrected_file: str | Path | bool | None = None  # MedCalc's corrected labels

    def rows_for(self, result: LoadResult, required: Iterable[str] = (),
                 hint: str = "") -> Iterator[tuple[int, str, dict[str, Any]]]:
        """(index, location, row) to turn into items: the first row must have the `required`
        columns, and no row comes once `limit` items are in `result`."""
        for index, (loc, row) in enumerate(self.rows):
            if self.limit is not None and len(result.items) >= self.limit:
                return
            if index == 0:
                require_columns(self.source, row, required, hint)
            yield index, loc, row


@dataclass(frozen=True)
class ExemplarRequest:
    """One `load_exemplars` call, as a spec's exemplar draw sees it."""

    spec: DatasetSpec
    k: int
    seed: int
    rng: random.Random  # seeded by dataset, seed and group: draw order comes from here
    train_file: Path | None
    exclude_ids: frozenset[str]
    exclude_questions: frozenset[str]  # whitespace-normalised
    group: str | None = None  # MedCalc: the calculator id whose one-shot example is wanted

    def excluded(self, item_id: str, question: str) -> bool:
        """Never show the item being asked (by id or by its question) as an exemplar."""
        return item_id in self.exclude_ids or " ".join(question.split()) in self.exclude_questions

    def pick(self, pool: Sequence[T],
             exemplar: Callable[[int, T], tuple[str, Exemplar] | None]) -> list[Exemplar]:
        """Up to k exemplars from `pool` in seeded random order; `exemplar(index, entry)` gives
        (id, exemplar), or None for an entry unfit to be one; excluded ones are passed over."""
        order = list(range(len(pool)))
        self.rng.shuffle(order)
        out: list[Exemplar] = []
        for i in order:
            made = exemplar(i, pool[i])
            if made is None or self.excluded(made[0], made[1].question):
                continue
            out.append(made[1])
            if len(out) == self.k:
                break
        return out


@dataclass(frozen=True)
class Exemplars:
    """Where a dataset's few-shot exemplars come from.

    `beside`: a train file looked for beside the test file (GSM8K's train.jsonl, MedCalc's
    one_shot.csv). `per_field`: an item field whose value picks its own exemplars (MedCalc's
    calculator id, the embedded template); with `others_only` the exemplars are drawn from the
    other groups (the embedded templates), so only the asked item itself is excluded.
    """

    draw: Callable[[ExemplarRequest], list[Exemplar]]
    beside: str | None = None
    per_field: str | None = None
    others_only: bool = False

    def beside_file(self, data_file: str | Path | None) -> Path | None:
        if data_file is None or self.beside is None:
            return None
        candidate = Path(data_file).expanduser().parent / self.beside
        return candidate if candidate.is_file() else None


def plain_question(item: Item) -> str:
    """The question as posed, for datasets whose item text is the whole question."""
    return item.question.strip()


@dataclass(frozen=True)
class DatasetSpec:
    """Everything tunelens knows about one benchmark.

    Rows come from `--data-file` (any format `engine.data.readers` reads), else from the Hub
    (`hub_id`, `hub_config`, the asked split), else `no_file` is the error; a `builtin` dataset
    has no rows at all. `to_items` turns rows into items; `columns` is its column preset for
    the column-mapped families (GSM-Plus, GSM-Symbolic, generic files).
    """

    name: str
    description: str
    how_to_load: str
    to_items: Callable[[LoadRequest, LoadResult], None]
    exemplars: Exemplars
    aliases: tuple[str, ...] = ()
    hub_id: str | None = None
    hub_config: str | None = None
    default_split: str = "test"
    local_file: str = "data file"  # named in the Hub fallback's error; "{split}" is filled in
    no_file: str | None = None  # the error when no file is given and there is no Hub copy
    builtin: str | None = None  # items built in (no file, no Hub): the source label
    licence: str = ""
    answer_type: str = "number"
    grader: str = "gsm8k"  # the default grader's name (engine.grading.GRADERS)
    columns: Mapping[str, str] = field(default_factory=dict)
    perturbation: str | None = None  # the perturbation label of variant rows that name none
    question_text: Callable[[Item], str] = plain_question

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", MappingProxyType(dict(self.columns)))
