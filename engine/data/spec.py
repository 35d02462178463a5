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

from engine.errors import DatasetError
from engine.records import Exemplar, Item

T = TypeVar("T")

MAX_SKIP_REASONS = 5

# (location, row) pairs from a reader; location is "file:line" or "hub-id[split]:index".
Rows = Iterable[tuple[str, dict[str, Any]]]


@dataclass
class LoadResult:
    """Items loaded plus what was skipped and why (the first few reasons, for the user).

    One rule for a missing column, in every reader and whichever row it is: the row is skipped
    and its location kept (`skip_missing`); `finish` then puts one summary line per column
    first among the reasons, and refuses the file only when no row at all was usable.
    """

    items: list[Item]
    skipped: int = 0
    skip_reasons: list[str] = field(default_factory=list)
    source: str = ""  # the file or Hub id the items came from
    missing: dict[str, list[str]] = field(default_factory=dict)  # column -> row locations
    first_columns: list[str] = field(default_factory=list)  # the first row's, for the refusal
    missing_hint: str = ""

    def skip(self, reason: str) -> None:
        self.skipped += 1
        if len(self.skip_reasons) < MAX_SKIP_REASONS:
            self.skip_reasons.append(reason)

    def skip_missing(self, loc: str, column: str, row: Mapping[str, Any]) -> None:
        """A row without a required `column` (named as the message should show it)."""
        self.skipped += 1
        if not self.first_columns:
            self.first_columns = [str(k) for k in row]
        self.missing.setdefault(column, []).append(loc)

    def finish(self, source: str) -> None:
        """Summarise the rows skipped for a missing column; refuse a file with no usable row."""
        if not self.missing:
            return
        if not self.items:
            column = next(iter(self.missing))
            found = ", ".join(repr(k) for k in self.first_columns[:12])
            extra = f"; {self.missing_hint}" if self.missing_hint else ""
            raise DatasetError(f"{source}: no column {column} (found: {found}){extra}")
        summary = [f"{len(locs)} row{'s' if len(locs) > 1 else ''} without column {column} "
                   f"skipped ({where(source, locs)})" for column, locs in self.missing.items()]
        self.skip_reasons[:0] = summary


def where(source: str, locs: Sequence[str], shown: int = 20) -> str:
    """'lines 3, 7, 9' for locations 'file:3'...; the locations themselves otherwise."""
    prefix = f"{source}:"
    lines = [loc[len(prefix):] for loc in locs if loc.startswith(prefix)]
    label = "line " if len(locs) == 1 else "lines "
    text = (label + ", ".join(lines[:shown])) if len(lines) == len(locs) else ", ".join(
        locs[:shown])
    return text + (f", … {len(locs) - shown} more" if len(locs) > shown else "")


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
        """(index, location, row) to turn into items: a row without the `required` columns is
        skipped (`LoadResult.skip_missing`), and no row comes once `limit` items are in."""
        required = tuple(required)
        result.missing_hint = hint
        for index, (loc, row) in enumerate(self.rows):
            if self.limit is not None and len(result.items) >= self.limit:
                return
            absent = [c for c in required if c not in row]
            if absent:
                result.skip_missing(loc, repr(absent[0]), row)
                continue
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
