"""Item outcomes as arrays: what the report's analyses compute from, a million answers fast.

Why (issue 14): a list of a million `Answer` and half a million `ItemOutcome` objects, grouped in
dicts four times, took most of a 40-second report. Here DuckDB de-duplicates the answers and
collapses greedy answers to outcomes (GROUP BY), and the outcomes come back as integer codes and
values (Arrow), so that grouping, pairing and counting are numpy operations. Answers with several
samples (sample, cot-decoding) still collapse in Python (engine.analysis.rows.outcomes_for: the
majority vote normalises numbers), then join the arrays.

Codes follow sorted order: item code i < j exactly when item id i sorts before j, so items in code
order are the items sorted by id, the order every analysis pairs and resamples them in (and the
one main's code used once its answers query was sorted). `ItemOutcome` objects are built only
when asked for (`outcomes`: the per-item table of csv/json), in the order main listed them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.analysis.labels import setting_label
from engine.analysis.rows import (
    Answer,
    ItemOutcome,
    OutcomeKey,
    ReportFilters,
    answers_query,
    item_outcomes,
)

if TYPE_CHECKING:
    from engine.store.store import Store

# The de-duplication of engine.analysis.rows.ANSWERS_SQL as a GROUP BY (faster than its window):
# per (pair, item, role, model file, setting, strategy, sample) the newest answer, ties to the
# smallest generation id.
DEDUP_SQL = """
CREATE TEMP TABLE report_answers AS
SELECT coalesce(r.pair, '?') AS pair, g.dataset, g.item_id,
       CASE WHEN g.role = 'instruct' AND NOT coalesce(g.chat_template, false)
            THEN 'instruct-raw' ELSE g.role END AS role_label,
       g.mode, coalesce(g.shots, 0) AS shots, g.strategy, g.sample_index,
       arg_min({{'run_id': g.run_id, 'generation_id': g.generation_id,
                 'original_id': g.original_id,
                 'variant': coalesce(g.perturbation, 'original'),
                 'model': coalesce(g.model_name, '?'), 'extracted': {extracted},
                 'correct': {correct}, 'score': g.score}},
               (coalesce(-epoch_us(g.created_at), 9223372036854775807), g.generation_id)) AS a,
       count(*) AS copies
FROM generations g JOIN runs r USING (run_id) {join}
WHERE {where}
GROUP BY r.pair, g.dataset, g.item_id, g.role, g.model_sha256, g.mode, g.shots,
         g.chat_template, g.strategy, g.sample_index
"""

# Greedy answers are their own outcome: the first sample of each (item, role, model, setting).
GREEDY_SQL = """
WITH o AS (
    SELECT pair, dataset, item_id, role_label AS role, a.model AS model, mode, shots,
           arg_min(a, (sample_index, a.generation_id)) AS first, count(*) AS n_answers
    FROM report_answers WHERE strategy = 'greedy'
    GROUP BY pair, dataset, item_id, role_label, a.model, mode, shots
)
SELECT pair, dataset, item_id, role, model, mode, CAST(shots AS BIGINT) AS shots,
       first.original_id AS original_id, first.variant AS variant, first.extracted AS answer,
       CAST(CASE WHEN first.correct THEN 1 ELSE 0 END AS DOUBLE) AS value,
       CAST(n_answers AS BIGINT) AS n_answers
FROM o
"""

OTHER_SQL = """
SELECT pair, a.run_id, a.generation_id, dataset, item_id, a.original_id, a.variant, role_label,
       a.model, mode, shots, strategy, sample_index, a.extracted, a.correct, a.score
FROM report_answers WHERE strategy <> 'greedy'
ORDER BY pair, dataset, item_id, role_label, a.model, mode, shots, strategy, sample_index,
         a.generation_id
"""

COUNT_SQL = "SELECT count(*), coalesce(sum(copies), 0) FROM report_answers"



@dataclass
class OutcomeColumns:
    """Item outcomes as parallel arrays (one entry per outcome), codes into sorted dictionaries.

    `key[i]` indexes `keys` (pair, dataset, variant, setting, role, strategy, metric), `item[i]`
    and `original[i]` (-1: none) index `item_ids` (sorted), `model[i]` indexes `models`.
    """

    keys: list[OutcomeKey]
    key: np.ndarray
    item: np.ndarray
    original: np.ndarray
    model: np.ndarray
    value: np.ndarray
    n_answers: np.ndarray
    answer: Sequence[str | None]
    item_ids: Sequence[str]
    models: list[str]
    listing: Callable[[], np.ndarray]  # computes `order` (a sort of everything: only on demand)
    _order: np.ndarray | None = field(default=None, repr=False)
    _entries: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False
    )

    def __len__(self) -> int:
        return len(self.value)

    @property
    def order(self) -> np.ndarray:
        """Outcome positions in main's listing order (the per-item table)."""
        if self._order is None:
            self._order = self.listing()
        return self._order

    # -- per key, as engine.analysis.rows.index_outcomes had it ---------------------------------

    def entry(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(item codes ascending, values, outcome positions) of key k, one outcome per item.

        Where two outcomes share key and item (two model names in one role), the one listed last
        counts, as the dict of index_outcomes kept it.
        """
        if not self._entries:
            self._index()
        return self._entries[k]

    def _index(self) -> None:
        # sort by (key, item, model): the last of equal (key, item) is the one listed last
        n_items, n_models = max(len(self.item_ids), 1), max(len(self.models), 1)
        code = (self.key * n_items + self.item) * n_models + self.model
        by = np.argsort(code, kind="stable")
        k, it = self.key[by], self.item[by]
        last = np.ones(len(by), dtype=bool)
        last[:-1] = (k[1:] != k[:-1]) | (it[1:] != it[:-1])
        by = by[last]
        if not len(by):
            return
        k = self.key[by]
        bounds = np.flatnonzero(np.diff(k)) + 1
        starts = np.concatenate(([0], bounds))
        ends = np.concatenate((bounds, [len(by)]))
        for s, e in zip(starts, ends, strict=True):
            pos = by[s:e]
            self._entries[int(k[s])] = (self.item[pos], self.value[pos], pos)

    def key_index(self) -> dict[OutcomeKey, int]:
        return {k: i for i, k in enumerate(self.keys) if i in self._present()}

    def _present(self) -> set[int]:
        if not self._entries:
            self._index()
        return set(self._entries)

    def models_of(self, k: int) -> list[str]:
        """Sorted model names of key k's outcomes (after the one-per-item rule)."""
        _, _, pos = self.entry(k)
        return sorted({self.models[m] for m in np.unique(self.model[pos])})

    def all_values(self, k: int) -> np.ndarray:
        """Every outcome of key k in listing order (the convergence analysis' means)."""
        pos = self.order[self.key[self.order] == k]
        return self.value[pos]

    # -- the per-item table -------------------------------------------------------------------

    def outcomes_of(self, datasets: set[str]) -> list[ItemOutcome]:
        """The ItemOutcome objects of these datasets, in listing order."""
        wanted = [k for k, key in enumerate(self.keys) if key[1] in datasets]
        pos = self.order[np.isin(self.key[self.order], wanted)]
        return [self.outcome(int(i)) for i in pos]

    def outcome(self, i: int) -> ItemOutcome:
        pair, dataset, variant, setting, role, strategy, metric = self.keys[int(self.key[i])]
        orig = int(self.original[i])
        return ItemOutcome(
            pair, dataset, self.item_ids[int(self.item[i])],
            self.item_ids[orig] if orig >= 0 else None, variant, setting, role,
            self.models[int(self.model[i])], strategy, metric, float(self.value[i]),
            int(self.n_answers[i]), self.answer[i],
        )  # fmt: skip


class LazyOutcomes(Sequence[ItemOutcome]):
    """`Report.outcomes`: the ItemOutcome list, built on first use (half a million objects take
    longer than the whole report)."""

    def __init__(self, columns: OutcomeColumns) -> None:
        self.columns = columns
        self._list: list[ItemOutcome] | None = None

    def _items(self) -> list[ItemOutcome]:
        if self._list is None:
            c = self.columns
            self._list = [c.outcome(int(i)) for i in c.order]
        return self._list

    def __len__(self) -> int:
        return len(self.columns)

    def __getitem__(self, i: Any) -> Any:
        return self._items()[i]

    def __iter__(self) -> Iterator[ItemOutcome]:
        return iter(self._items())

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LazyOutcomes({len(self)} outcomes)"


# -- building the columns -----------------------------------------------------------------------


def load_columns(store: Store, filters: ReportFilters) -> tuple[OutcomeColumns, int, int]:
    """The outcomes under the filters, the number of answers, and how many older duplicates
    were left out."""
    import pyarrow as pa
    import pyarrow.compute as pc

    sql, params = answers_query(DEDUP_SQL, filters)
    with store.connect(read_only=True) as con:
        con.execute(sql, params)
        answers, total = con.execute(COUNT_SQL).fetchall()[0]
        greedy = con.sql(GREEDY_SQL).to_arrow_table()
        others = [Answer(*row) for row in con.execute(OTHER_SQL).fetchall()]
    greedy_cols = {
        name: greedy.column(column).combine_chunks()
        for name, column in (("pair", "pair"), ("dataset", "dataset"), ("item", "item_id"),
                             ("original", "original_id"), ("variant", "variant"),
                             ("role", "role"), ("model", "model"), ("mode", "mode"),
                             ("shots", "shots"), ("answer", "answer"))
    }
    correct_arr = _numpy(greedy.column("value").combine_chunks())
    n_answers = _numpy(greedy.column("n_answers").combine_chunks())
    extra = item_outcomes(others, filters.pass_k)
    columns = _assemble(greedy_cols, correct_arr, n_answers, extra, pa, pc)
    return columns, int(answers), int(total) - int(answers)


_NUMPY_TYPES = {"double": np.float64, "int64": np.int64, "int32": np.int32, "int16": np.int16,
                "int8": np.int8}


def _numpy(arr: Any) -> np.ndarray:
    """A numeric Arrow array as numpy, nulls as NaN, read from its buffers: pyarrow's to_numpy
    imports pandas (0.3-1 s) on first use."""
    dtype = np.dtype(_NUMPY_TYPES[str(arr.type)])
    validity, data = arr.buffers()[:2]
    out = np.frombuffer(data, dtype=dtype, count=len(arr) + arr.offset)[arr.offset :]
    if arr.null_count:
        bits = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")
        valid = bits[arr.offset : arr.offset + len(arr)].astype(bool)
        out = np.where(valid, out, np.nan)
    return out


def _assemble(
    g: dict[str, Any], correct: np.ndarray, n_answers: np.ndarray, extra: list[ItemOutcome],
    pa: Any, pc: Any,
) -> OutcomeColumns:
    """Greedy outcomes (Arrow columns) and the others (objects) as one OutcomeColumns."""
    n_g = len(correct)

    # one hash pass per column (dictionary_encode), then the small dictionaries are sorted and
    # the indices mapped to sorted codes
    encoded = {
        name: pc.dictionary_encode(g[name])
        for name in ("pair", "dataset", "item", "original", "variant", "role", "model", "mode")
    } if n_g else {}

    def distinct(name: str) -> set[Any]:
        return set(encoded[name].dictionary.to_pylist()) - {None} if n_g else set()

    def code_in(name: str, values: list[Any]) -> np.ndarray:
        if not n_g:
            return np.empty(0, dtype=np.int64)
        where = {v: i for i, v in enumerate(values)}
        remap = np.asarray([where.get(v, -1) for v in encoded[name].dictionary.to_pylist()]
                           + [-1], dtype=np.int64)
        idx = _numpy(encoded[name].indices)
        if idx.dtype.kind == "f":  # nulls came back as NaN
            idx = np.where(np.isnan(idx), len(remap) - 1, idx)
        return remap[idx.astype(np.int64)]

    extra_ids = {o.item_id for o in extra} | {o.original_id for o in extra if o.original_id}
    item_ids: Sequence[str]
    if n_g:
        # item ids (many): sorted and looked up by Arrow, no Python string per outcome
        ids = pc.unique(pa.chunked_array(
            [encoded["item"].dictionary, pc.drop_null(encoded["original"].dictionary)],
            type=pa.string(),
        ))
        ids = ids.take(pc.sort_indices(ids))
        if extra_ids:  # sampled answers' items too: merged in Python
            ids = pa.array(sorted(set(ids.to_pylist()) | extra_ids), pa.string())
        item_ids = _ArrowStrings(ids)

        def id_codes(name: str) -> np.ndarray:
            remap = np.append(_numpy(pc.index_in(encoded[name].dictionary, value_set=ids)), -1)
            remap = np.where(np.isnan(remap.astype(np.float64)), -1, remap).astype(np.int64)
            idx = _numpy(encoded[name].indices)
            if idx.dtype.kind == "f":
                idx = np.where(np.isnan(idx), len(remap) - 1, idx)
            return remap[idx.astype(np.int64)]

        g_item, g_orig = id_codes("item"), id_codes("original")
    else:
        item_ids = sorted(extra_ids)
        g_item = g_orig = np.empty(0, dtype=np.int64)
    models = sorted(distinct("model") | {o.model_name for o in extra})
    parts = {name: sorted(distinct(name)) for name in ("pair", "dataset", "variant", "role",
                                                       "mode")}
    g_model = code_in("model", models)
    # greedy keys: (pair, dataset, variant, setting, role, greedy, greedy)
    keys: list[OutcomeKey] = []
    g_key = np.empty(0, dtype=np.int64)
    if n_g:
        shots = _numpy(g["shots"]).astype(np.int64)
        shot_values = np.flatnonzero(np.bincount(shots - shots.min())) + shots.min()
        shot_code = np.searchsorted(shot_values, shots)
        fields = [
            (parts["pair"], code_in("pair", parts["pair"])),
            (parts["dataset"], code_in("dataset", parts["dataset"])),
            (parts["variant"], code_in("variant", parts["variant"])),
            (parts["mode"], code_in("mode", parts["mode"])),
            (shot_values.tolist(), shot_code.reshape(-1).astype(np.int64)),
            (parts["role"], code_in("role", parts["role"])),
        ]
        # one number per combination (mixed radix), counted: no sort of the outcomes
        combined = np.zeros(n_g, dtype=np.int64)
        for values, codes in fields:
            combined = combined * len(values) + codes
        present = np.flatnonzero(np.bincount(combined))
        lookup = np.full(int(present[-1]) + 1, -1, dtype=np.int64)
        lookup[present] = np.arange(len(present))
        g_key = lookup[combined]
        for c in present.tolist():
            digits = []
            for values, _ in reversed(fields):
                c, d = divmod(c, len(values))
                digits.append(values[d])
            p, d, v, m, sh, r = reversed(digits)
            keys.append((p, d, v, setting_label(m, int(sh)), r, "greedy", "greedy"))
    key_of = {k: i for i, k in enumerate(keys)}
    e_key = []
    for o in extra:
        k = (o.pair, o.dataset, o.variant, o.setting, o.role, o.strategy, o.metric)
        if k not in key_of:
            key_of[k] = len(keys)
            keys.append(k)
        e_key.append(key_of[k])
    id_code = {v: i for i, v in enumerate(item_ids)} if extra else {}
    model_code = {v: i for i, v in enumerate(models)}
    n_e = len(extra)

    def ints(values: Any) -> np.ndarray:
        return np.fromiter(values, dtype=np.int64, count=n_e)

    key = np.concatenate([g_key, np.asarray(e_key, dtype=np.int64)])
    item = np.concatenate([g_item, ints(id_code[o.item_id] for o in extra)])
    original = np.concatenate(
        [g_orig, ints(id_code[o.original_id] if o.original_id else -1 for o in extra)]
    )
    model = np.concatenate([g_model, ints(model_code[o.model_name] for o in extra)])
    value = np.concatenate(
        [correct.astype(np.float64), np.fromiter((o.value for o in extra), np.float64, n_e)]
    )
    n_ans = np.concatenate([n_answers.astype(np.int64), ints(o.n_answers for o in extra)])
    answer = _Answers(g["answer"] if n_g else None, [o.answer for o in extra], n_g)
    return OutcomeColumns(
        keys, key, item, original, model, value, n_ans, answer, item_ids, models,
        lambda: _listing_order(keys, key, item, model, extra, n_g),
    )


class _ArrowStrings(Sequence[str]):
    """Sorted item ids kept as an Arrow array; a Python list once an id is read."""

    def __init__(self, arrow: Any) -> None:
        self.arrow = arrow
        self._list: list[str] | None = None

    def __len__(self) -> int:
        return len(self.arrow)

    def __getitem__(self, i: Any) -> Any:
        if self._list is None:
            self._list = self.arrow.to_pylist()
        return self._list[i]


class _Answers(Sequence[str | None]):
    """Answers of greedy outcomes (an Arrow column, converted when read) then the others."""

    def __init__(self, arrow: Any, rest: list[str | None], n: int) -> None:
        self.arrow, self.rest, self.n = arrow, rest, n
        self._list: list[str | None] | None = None

    def __len__(self) -> int:
        return self.n + len(self.rest)

    def __getitem__(self, i: Any) -> Any:
        if self._list is None:
            head = self.arrow.to_pylist() if self.arrow is not None else []
            self._list = head + self.rest
        return self._list[i]


def _listing_order(
    keys: list[OutcomeKey], key: np.ndarray, item: np.ndarray, model: np.ndarray,
    extra: list[ItemOutcome], n_g: int,
) -> np.ndarray:
    """Positions in main's order: by pair, dataset, item, role, model, mode, shots, strategy
    (its answers query's ORDER BY), then each group's metrics in the order they were made."""
    def sorted_codes(values: list[Any]) -> np.ndarray:
        uniq = sorted(set(values))
        where = {v: i for i, v in enumerate(uniq)}
        return np.asarray([where[v] for v in values], dtype=np.int64)

    pair = sorted_codes([k[0] for k in keys])
    dataset = sorted_codes([k[1] for k in keys])
    role = sorted_codes([k[4] for k in keys])
    mode = sorted_codes([k[3].partition("/")[0] for k in keys])
    shots = np.asarray([int(k[3].partition("/")[2] or 0) for k in keys], dtype=np.int64)
    strategy = sorted_codes([k[5] for k in keys])
    seq = np.zeros(len(key), dtype=np.int64)
    if extra:
        # metrics of one group keep the order outcomes_for made them in
        prev = None
        run = 0
        for j, o in enumerate(extra):
            g = (o.pair, o.dataset, o.item_id, o.role, o.model_name, o.setting, o.strategy)
            run = run + 1 if g == prev else 0
            prev = g
            seq[n_g + j] = run
    return np.lexsort((seq, strategy[key], shots[key], mode[key], model, role[key], item,
                       dataset[key], pair[key]))


def as_columns(outcomes: Sequence[ItemOutcome] | OutcomeColumns) -> OutcomeColumns:
    """Columns of a list of outcomes (callers that built their own), or the columns given."""
    if isinstance(outcomes, OutcomeColumns):
        return outcomes
    if isinstance(outcomes, LazyOutcomes):
        return outcomes.columns
    import pyarrow as pa
    import pyarrow.compute as pc

    empty = pa.array([], pa.string())
    g = {name: empty for name in ("pair", "dataset", "item", "original", "variant", "role",
                                  "model", "mode", "answer")}
    g["shots"] = pa.array([], pa.int64())
    return _assemble(g, np.empty(0), np.empty(0, np.int64), list(outcomes), pa, pc)


__all__ = ["LazyOutcomes", "OutcomeColumns", "as_columns", "load_columns"]
