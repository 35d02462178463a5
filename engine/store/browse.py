"""Read-only views of the store for the app: runs, filtered answers, answer sets, free SQL.

The app holds no SQL of its own; every query it shows comes from here, so the same questions can
be asked from a notebook or a test with a plain `Store`. Nothing here writes to the store.

Pairing answers. A "flip" compares two answers that were asked the same way: the same run, item
(or original and variant), mode, shots and decoding strategy. Within such a group an answer's
`ordinal` is its position by creation time (then sample index) among the answers of its role, so
the k-th base answer pairs with the k-th instruct answer. In a headless run that is the sample
index; in the app it is the k-th time the user asked that question in that mode, which is how the
app asks: both models at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from engine.store.store import Store, StoreError, check_read_only

Verdict = Literal["correct", "wrong"]
Flips = Literal["any", "roles", "variant"]
ExportFormat = Literal["csv", "parquet", "jsonl"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "parquet", "jsonl")
ORIGINAL = "original"  # the perturbation filter value that selects unperturbed items

# Every answer with its pairing ordinal and its two flip flags. One statement so that filters on
# role, verdict and so on never hide the other side of a flip: flags are computed over the whole
# run first, and filtered after.
_FLAGGED = """
WITH g AS (
    SELECT *,
           row_number() OVER (
               PARTITION BY run_id, item_id, role, mode, shots, strategy
               ORDER BY created_at, sample_index, generation_id
           ) AS ordinal
    FROM generations
    WHERE ($run_id IS NULL OR run_id = $run_id)
),
role_flip AS (
    SELECT run_id, item_id, mode, shots, strategy, ordinal
    FROM g
    GROUP BY ALL
    HAVING bool_or(correct) FILTER (WHERE role = 'base')
           <> bool_or(correct) FILTER (WHERE role = 'instruct')
),
variant_flip AS (
    SELECT v.run_id, v.item_id AS variant_id, o.item_id AS original_item, v.role, v.mode,
           v.shots, v.strategy, v.ordinal
    FROM g v
    JOIN g o
      ON o.run_id = v.run_id AND o.item_id = v.original_id AND o.role = v.role
     AND o.mode = v.mode AND o.shots = v.shots AND o.strategy = v.strategy
     AND o.ordinal = v.ordinal
    WHERE o.correct AND NOT v.correct
),
flagged AS (
    SELECT g.*,
           EXISTS (
               SELECT 1 FROM role_flip r
               WHERE r.run_id = g.run_id AND r.item_id = g.item_id AND r.mode = g.mode
                 AND r.shots = g.shots AND r.strategy = g.strategy AND r.ordinal = g.ordinal
           ) AS role_flip,
           EXISTS (
               SELECT 1 FROM variant_flip f
               WHERE f.run_id = g.run_id AND f.role = g.role AND f.mode = g.mode
                 AND f.shots = g.shots AND f.strategy = g.strategy AND f.ordinal = g.ordinal
                 AND (f.variant_id = g.item_id OR f.original_item = g.item_id)
           ) AS variant_flip
    FROM g
)
"""

_ANSWER_COLUMNS = """
    f.generation_id, f.run_id, f.item_id, f.original_id, f.perturbation, f.role, f.model_name,
    f.mode, f.shots, f.chat_template, f.sample_index, f.ordinal, f.extracted, i.gold, f.correct,
    f.tokens, f.finish_reason, f.created_at, f.role_flip, f.variant_flip
"""


@dataclass(frozen=True)
class RunRow:
    """One run as the Runs screen lists it."""

    run_id: str
    kind: str
    pair: str | None
    dataset: str | None
    started_at: datetime | None
    status: str | None
    answers: int
    base_accuracy: float | None
    instruct_accuracy: float | None


@dataclass(frozen=True)
class AnswerFilter:
    """What the Runs screen filters on; None means "any"."""

    run_id: str | None = None
    role: str | None = None
    mode: str | None = None
    perturbation: str | None = None  # ORIGINAL for unperturbed items, or a perturbation name
    verdict: Verdict | None = None
    flips: Flips | None = None
    item_id: str | None = None
    limit: int = 1000


@dataclass(frozen=True)
class AnswerRow:
    """One answer in the Runs screen's list (no output text: the list must stay light)."""

    generation_id: str
    run_id: str
    item_id: str
    original_id: str | None
    perturbation: str | None
    role: str
    model_name: str | None
    mode: str
    shots: int | None
    chat_template: bool | None
    sample_index: int
    ordinal: int
    extracted: str | None
    gold: str | None
    correct: bool | None
    tokens: int | None
    finish_reason: str | None
    created_at: datetime | None
    role_flip: bool
    variant_flip: bool

    @property
    def flip(self) -> str:
        """A short label for the flip column: which kind of disagreement this answer is part of."""
        kinds = [k for k, on in (("base≠instruct", self.role_flip), ("orig→variant",
                 self.variant_flip)) if on]
        return ", ".join(kinds)


@dataclass(frozen=True)
class AnswerPage:
    rows: list[AnswerRow]
    total: int  # matches before the limit


@dataclass(frozen=True)
class FilterValues:
    """The values present in a run (or the whole store), to fill the filter menus."""

    roles: list[str]
    modes: list[str]
    perturbations: list[str]


@dataclass(frozen=True)
class StoredItem:
    dataset: str
    item_id: str
    question: str
    gold: str | None
    original_id: str | None
    perturbation: str | None


@dataclass(frozen=True)
class StoredAnswer:
    """A recorded answer with what the compare layout shows under it."""

    generation_id: str
    run_id: str
    item_id: str
    role: str
    model_name: str | None
    mode: str
    shots: int | None
    chat_template: bool | None
    prompt: str | None
    output: str
    extracted: str | None
    correct: bool | None
    grader: str | None
    grader_rule: str | None
    tokens: int | None
    ttft_s: float | None
    tokens_per_s: float | None
    finish_reason: str | None
    created_at: datetime | None
    span: tuple[int, int] | None


Slot = tuple[Literal["original", "variant"], str]  # (which item, role)


@dataclass(frozen=True)
class CompareSet:
    """Everything to redraw the compare layout for one selected answer, without the models.

    `answers` holds up to four answers: the original and (if recorded) a variant of the item,
    each for base and instruct, all asked the same way as the selected one.
    """

    selected: str  # generation_id
    focus: Literal["original", "variant"]  # which item the selected answer is about
    original: StoredItem
    variant: StoredItem | None
    answers: dict[Slot, StoredAnswer] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return next(iter(self.answers.values())).mode if self.answers else ""


@dataclass(frozen=True)
class ResultSet:
    """A SQL result for display: capped at `max_rows`, with how long the query took."""

    columns: list[str]
    types: list[str]
    table: Any  # pyarrow.Table
    truncated: bool
    elapsed_s: float

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)


# -- runs ---------------------------------------------------------------------------------------

def list_runs(store: Store) -> list[RunRow]:
    """Newest first, with per-role accuracy so a run can be told apart at a glance."""
    if not store.path.exists():
        return []
    result = store.query(
        """
        SELECT r.run_id, r.kind, r.pair, r.dataset, r.started_at, r.status,
               count(g.generation_id) AS answers,
               avg(CASE WHEN g.correct THEN 1.0 ELSE 0.0 END) FILTER (WHERE g.role = 'base'),
               avg(CASE WHEN g.correct THEN 1.0 ELSE 0.0 END) FILTER (WHERE g.role = 'instruct')
        FROM runs r LEFT JOIN generations g USING (run_id)
        GROUP BY ALL
        ORDER BY r.started_at DESC NULLS LAST, r.run_id DESC
        """
    )
    return [RunRow(*row) for row in result.rows]


def filter_values(store: Store, run_id: str | None = None) -> FilterValues:
    """Roles, modes and perturbations that occur, so menus offer only what can match."""
    if not store.path.exists():
        return FilterValues([], [], [])
    result = store.query(
        """
        SELECT list(DISTINCT role ORDER BY role), list(DISTINCT mode ORDER BY mode),
               list(DISTINCT perturbation ORDER BY perturbation)
               FILTER (WHERE perturbation IS NOT NULL)
        FROM generations WHERE ($run_id IS NULL OR run_id = $run_id)
        """,
        {"run_id": run_id},
    )
    roles, modes, perts = result.rows[0]
    return FilterValues(list(roles or []), list(modes or []), list(perts or []))


# -- answers ------------------------------------------------------------------------------------

def list_answers(store: Store, flt: AnswerFilter) -> AnswerPage:
    """Answers matching the filter, newest first, with their flip flags."""
    if not store.path.exists():
        return AnswerPage([], 0)
    where = ["TRUE"]
    params: dict[str, Any] = {"run_id": flt.run_id}
    if flt.role:
        where.append("f.role = $role")
        params["role"] = flt.role
    if flt.mode:
        where.append("f.mode = $mode")
        params["mode"] = flt.mode
    if flt.perturbation == ORIGINAL:
        where.append("f.perturbation IS NULL")
    elif flt.perturbation:
        where.append("f.perturbation = $perturbation")
        params["perturbation"] = flt.perturbation
    if flt.verdict == "correct":
        where.append("f.correct")
    elif flt.verdict == "wrong":
        where.append("NOT coalesce(f.correct, FALSE)")
    if flt.flips == "roles":
        where.append("f.role_flip")
    elif flt.flips == "variant":
        where.append("f.variant_flip")
    elif flt.flips == "any":
        where.append("(f.role_flip OR f.variant_flip)")
    if flt.item_id:
        where.append("(f.item_id = $item_id OR f.original_id = $item_id)")
        params["item_id"] = flt.item_id
    params["limit"] = max(1, flt.limit)
    sql = (
        _FLAGGED
        + f"SELECT {_ANSWER_COLUMNS}, count(*) OVER () AS total "
        "FROM flagged f LEFT JOIN items i ON i.dataset = f.dataset AND i.item_id = f.item_id "
        f"WHERE {' AND '.join(where)} "
        "ORDER BY f.created_at DESC, f.item_id, f.role LIMIT $limit"
    )
    result = store.query(sql, params)
    rows = [AnswerRow(*row[:-1]) for row in result.rows]
    total = int(result.rows[0][-1]) if result.rows else 0
    return AnswerPage(rows, total)


def compare_set(store: Store, generation_id: str) -> CompareSet:
    """The selected answer, its other-role twin, and the matching original/variant answers."""
    sel = store.query(
        _FLAGGED.replace("WHERE ($run_id IS NULL OR run_id = $run_id)",
                         "WHERE run_id = (SELECT run_id FROM generations "
                         "WHERE generation_id = $gid)")
        + "SELECT run_id, dataset, item_id, original_id, mode, shots, strategy, ordinal "
        "FROM flagged WHERE generation_id = $gid",
        {"gid": generation_id},
    ).rows
    if not sel:
        raise StoreError(f"no answer with id {generation_id}")
    run_id, dataset, item_id, original_id, mode, shots, strategy, ordinal = sel[0]
    focus: Literal["original", "variant"] = "variant" if original_id else "original"
    original = _item(store, dataset, original_id or item_id)
    if original_id:
        variant = _item(store, dataset, item_id)
    else:
        variant_ids = store.query(
            "SELECT DISTINCT item_id FROM generations WHERE run_id = $run AND original_id = $item "
            "AND mode = $mode ORDER BY item_id LIMIT 1",
            {"run": run_id, "item": item_id, "mode": mode},
        ).rows
        variant = _item(store, dataset, variant_ids[0][0]) if variant_ids else None
    items = {"original": original.item_id}
    if variant is not None:
        items["variant"] = variant.item_id
    answers: dict[Slot, StoredAnswer] = {}
    rows = store.query(
        _FLAGGED.replace("($run_id IS NULL OR run_id = $run_id)", "run_id = $run_id")
        + """
        SELECT f.generation_id, f.run_id, f.item_id, f.role, f.model_name, f.mode, f.shots,
               f.chat_template, f.prompt, f.output, f.extracted, f.correct, f.grader,
               f.grader_rule, f.tokens, f.ttft_s, f.tokens_per_s, f.finish_reason, f.created_at
        FROM flagged f
        WHERE f.item_id IN (SELECT unnest($items)) AND f.mode = $mode
          AND f.shots IS NOT DISTINCT FROM $shots AND f.strategy = $strategy
          AND f.ordinal = $ordinal
        """,
        {
            "run_id": run_id, "items": list(items.values()), "mode": mode, "shots": shots,
            "strategy": strategy, "ordinal": ordinal,
        },
    ).rows
    which_of = {v: k for k, v in items.items()}
    for row in rows:
        ans = StoredAnswer(*row, span=None)
        ans = replace(ans, span=locate_answer(ans.output, ans.extracted, ans.grader))
        answers[(which_of[ans.item_id], ans.role)] = ans  # type: ignore[index]
    return CompareSet(generation_id, focus, original, variant, answers)


def _item(store: Store, dataset: str, item_id: str) -> StoredItem:
    rows = store.query(
        "SELECT dataset, item_id, question, gold, original_id, perturbation FROM items "
        "WHERE dataset = $d AND item_id = $i",
        {"d": dataset, "i": item_id},
    ).rows
    if rows:
        return StoredItem(*rows[0])
    return StoredItem(dataset, item_id, "(question not recorded)", None, None, None)


def locate_answer(
    output: str, extracted: str | None, grader: str | None = None
) -> tuple[int, int] | None:
    """Where the extracted answer sits in a recorded output, to highlight it.

    GSM8K-graded answers are located by the grader's own extractor; otherwise the last occurrence
    of the extracted text is taken (graders read the final answer, which comes last).
    """
    if not extracted or not output:
        return None
    if grader == "gsm8k":
        try:
            from engine.grading import extract_number_answer

            _, _, span = extract_number_answer(output)
            if span is not None:
                return span
        except Exception:  # the fallback below is good enough to highlight
            pass
    start = output.rfind(extracted)
    return (start, start + len(extracted)) if start >= 0 else None


# -- free SQL -----------------------------------------------------------------------------------

def run_query(store: Store, sql: str, *, max_rows: int = 100_000) -> ResultSet:
    """Run the user's read-only SQL; keep at most `max_rows` rows for display.

    The result is read in Arrow batches so a huge result costs only what is shown; export reruns
    the query to write every row.
    """
    import duckdb
    import pyarrow as pa

    check_read_only(sql)
    t0 = time.perf_counter()
    with store.connect(read_only=True) as con:
        try:
            rel = con.sql(sql)
            if rel is None:
                return ResultSet([], [], pa.table({}), False, time.perf_counter() - t0)
            columns = list(rel.columns)
            types = [str(t) for t in rel.types]
            reader = rel.to_arrow_reader(min(max_rows + 1, 65_536))
            batches: list[Any] = []
            n = 0
            for batch in reader:
                batches.append(batch)
                n += batch.num_rows
                if n > max_rows:
                    break
        except duckdb.Error as exc:
            raise StoreError(_first_line(exc)) from None
    table = pa.Table.from_batches(batches, schema=reader.schema)
    truncated = table.num_rows > max_rows
    if truncated:
        table = table.slice(0, max_rows)
    return ResultSet(columns, types, table, truncated, time.perf_counter() - t0)


def export_query(store: Store, sql: str, path: str | Path, fmt: ExportFormat) -> int:
    """Write the full result of the user's read-only SQL to a file; returns the row count.

    The query runs on the sandboxed read-only connection (which may not write files); its result
    streams as Arrow batches into a private in-memory DuckDB whose COPY writes the one target,
    so the rows never pile up in Python and the user's SQL never gets file access.
    """
    import duckdb

    if fmt not in EXPORT_FORMATS:
        raise StoreError(f"unknown export format '{fmt}' (expected {', '.join(EXPORT_FORMATS)})")
    check_read_only(sql)
    statements = duckdb.extract_statements(sql)
    last = statements[-1]
    if last.type.name != "SELECT":
        raise StoreError("only a SELECT result can be exported")
    query = last.query.strip().rstrip(";").strip()
    target = str(Path(path).expanduser()).replace("'", "''")
    options = {"csv": "FORMAT csv, HEADER", "parquet": "FORMAT parquet", "jsonl": "FORMAT json"}
    with store.connect(read_only=True) as con:
        try:
            for st in statements[:-1]:
                con.execute(st.query)
            reader = con.sql(query).to_arrow_reader(65_536)
            writer = duckdb.connect()
            try:
                writer.register("_export", reader)
                got = writer.execute(
                    f"COPY (SELECT * FROM _export) TO '{target}' ({options[fmt]})"
                ).fetchone()
            finally:
                writer.close()
        except duckdb.Error as exc:
            raise StoreError(_first_line(exc)) from None
    return int(got[0]) if got and got[0] is not None else 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
