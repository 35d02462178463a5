"""What each table and figure of a report was computed from: the runs, the number of rows, the
graders and the decodings, and a SQL query that yields exactly those rows.

Why: a number in a report should be traceable to the recorded answers behind it. Each table gets a
footer line (`Source.footer`), and `tunelens report --explain` prints each `Source.sql`, which a
user can paste into `tunelens query` (literals inlined, read-only, ordered). The queries restate
the analyses' row selection in SQL (de-duplicated answers under the report's filters, then the
rows a table pairs or compares); a test checks that each returns the n its footer states.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.analysis.agreement import AGREEMENT_SQL
from engine.analysis.dataset_drops import LINKS, DatasetLink
from engine.analysis.rows import ANSWERS_SQL, ReportFilters, answers_query
from engine.analysis.shift import SHIFT_SQL
from engine.records import ORIGINAL

if TYPE_CHECKING:
    from engine.store.store import Store


@dataclass(frozen=True)
class Source:
    """The rows one table or figure was computed from."""

    key: str  # the table key, or the figure's file stem
    title: str
    sql: str  # runnable as is: `tunelens query "<sql>"`
    n: int  # rows the query returns
    unit: str  # answers, grade pairs, token rows
    runs: tuple[str, ...] = ()
    graders: tuple[str, ...] = ()
    decodings: tuple[str, ...] = ()

    def footer(self) -> str:
        """One line: 'from 40 answers of runs r1, r2 · grader gsm8k · greedy, max 256 tokens'."""
        parts = [f"from {self.n} {self.unit}"]
        if self.runs:
            parts[0] += f" of run{'s' if len(self.runs) > 1 else ''} {', '.join(self.runs)}"
        if self.graders:
            parts.append(f"grader {', '.join(self.graders)}")
        if self.decodings:
            parts.append("; ".join(self.decodings))
        parts.append("SQL: report --explain")
        return " · ".join(parts)


def literal(value: Any) -> str:
    """A SQL literal for a query parameter (strings quoted, quotes doubled)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def inline(sql: str, params: Sequence[Any]) -> str:
    """`sql` with each `?` placeholder (outside string literals) replaced by its parameter as a
    literal."""
    out: list[str] = []
    values = iter(params)
    quoted = False
    used = 0
    for ch in sql:
        if ch == "'":
            quoted = not quoted  # a doubled quote toggles twice: still inside
        if ch == "?" and not quoted:
            try:
                out.append(literal(next(values)))
            except StopIteration:
                raise ValueError("more placeholders than parameters") from None
            used += 1
            continue
        out.append(ch)
    if used != len(params):
        raise ValueError(f"{used} placeholders for {len(params)} parameters")
    return "".join(out)


# -- the answers a report reads, as SQL -------------------------------------------------------

LINK_KEY_SQL = """CASE
        WHEN nullif(json_extract_string(i.fields, '$.problem_id'), '') IS NOT NULL
            THEN 'problem-' || json_extract_string(i.fields, '$.problem_id')
        WHEN nullif(json_extract_string(i.fields, '$.gsm8k_item_id'), '') IS NOT NULL
            THEN json_extract_string(i.fields, '$.gsm8k_item_id')
        WHEN nullif(json_extract_string(i.fields, '$.source_original_id'), '') IS NOT NULL
            THEN 'gsm8k-test-' || json_extract_string(i.fields, '$.source_original_id')
        ELSE a.item_id END"""

COLUMNS = ("generation_id, run_id, pair, dataset, item_id, variant, role, mode, shots, strategy, "
           "sample_index, correct, grader, temperature, top_p, max_tokens")
ORDER = "ORDER BY pair, dataset, item_id, role, mode, shots, strategy, sample_index, generation_id"


def answers_cte(filters: ReportFilters) -> str:
    """`WITH answers AS (...), s AS (...)`: the report's de-duplicated answers (rows.ANSWERS_SQL
    with the filters inlined) with their decoding, grader and cross-benchmark link key."""
    grader = literal(filters.grader) if filters.grader else "g.grader"
    answers = inline(*answers_query(ANSWERS_SQL, filters))
    return f"""WITH answers AS ({answers.strip()}
), s AS (
    SELECT a.generation_id, a.run_id, a.pair, a.dataset, a.item_id, a.original_id, a.variant,
           a.role_label AS role, g.mode, coalesce(g.shots, 0) AS shots, a.strategy,
           a.sample_index, a.correct, {grader} AS grader, g.temperature, g.top_p, g.max_tokens,
           {LINK_KEY_SQL} AS link
    FROM answers a JOIN generations g ON g.generation_id = a.generation_id
    LEFT JOIN items i ON i.dataset = a.dataset AND i.item_id = a.item_id
)"""


def _restrict(restrict: Mapping[str, str]) -> str:
    return "".join(f" AND {col} = {literal(val)}" for col, val in sorted(restrict.items()))


_Parts = Callable[[Mapping[str, str], str], tuple[str, str]]


def _all_parts(restrict: Mapping[str, str], f: str) -> tuple[str, str]:
    """(extra CTEs, SELECT) of every answer the report reads (accuracy, base vs instruct, gains,
    convergence, items); the SELECT reads `s`, the de-duplicated answers of `answers_cte`."""
    return "", f"SELECT {COLUMNS} FROM s WHERE true{_restrict(restrict)}"


def _drop_parts(restrict: Mapping[str, str], f: str) -> tuple[str, str]:
    """Original -> perturbed: originals with a variant and variants with their original, in the
    same role, setting and decoding (engine.analysis.drops)."""
    return f"""{f} AS (
    SELECT *, bool_or(variant = '{ORIGINAL}') OVER w AS has_original,
              bool_or(variant <> '{ORIGINAL}') OVER w AS has_variant
    FROM s
    WINDOW w AS (PARTITION BY pair, dataset, coalesce(original_id, item_id), role, mode, shots,
                 strategy)
)""", f"SELECT {COLUMNS} FROM {f} WHERE has_original AND has_variant{_restrict(restrict)}"


def _link_parts(paired: bool, links: Sequence[DatasetLink]) -> _Parts:
    def parts(restrict: Mapping[str, str], f: str) -> tuple[str, str]:
        chosen = [x for x in links if (x.via is not None) == paired]
        if not chosen:
            return "", f"SELECT {COLUMNS} FROM s WHERE false"
        union = "\n    UNION\n".join(_link_select(x) for x in chosen)
        return f"{f} AS (\n{union}\n)", f"SELECT {COLUMNS} FROM {f} WHERE true{_restrict(restrict)}"
    return parts


def _whole(filters: ReportFilters, ctes: str, select: str) -> str:
    return f"{answers_cte(filters)}{', ' + ctes if ctes else ''}\n{select}\n{ORDER}"


def all_answers_sql(filters: ReportFilters, restrict: Mapping[str, str] | None = None) -> str:
    """Every answer the report reads (accuracy, base vs instruct, gains, convergence, items)."""
    return _whole(filters, *_all_parts(restrict or {}, "f"))


def drop_answers_sql(filters: ReportFilters, restrict: Mapping[str, str] | None = None) -> str:
    """Original -> perturbed: originals with a variant and variants with their original, in the
    same role, setting and decoding (engine.analysis.drops)."""
    return _whole(filters, *_drop_parts(restrict or {}, "f"))


def _link_select(link: DatasetLink) -> str:
    target = ("variant = 'original'" if link.target_variants == ORIGINAL
              else "variant <> 'original'")
    by = "" if link.via is None else "link, "
    return f"""SELECT * FROM (
    SELECT *, bool_or(dataset = {literal(link.source)}) OVER w AS has_source,
              bool_or(dataset = {literal(link.target)}) OVER w AS has_target
    FROM s
    WHERE (dataset = {literal(link.source)} AND variant = 'original')
       OR (dataset = {literal(link.target)} AND {target})
    WINDOW w AS (PARTITION BY pair, {by}role, mode, shots, strategy)
) WHERE has_source AND has_target"""


def link_answers_sql(
    filters: ReportFilters, paired: bool, restrict: Mapping[str, str] | None = None,
    links: Sequence[DatasetLink] = LINKS,
) -> str:
    """Cross-benchmark drops: for the unpaired links every answer of a (role, setting, decoding)
    recorded on both benchmarks; for the paired ones, answers whose link key is on both sides."""
    return _whole(filters, *_link_parts(paired, links)(restrict or {}, "f"))


_SCOPE_PARTS = {"all": _all_parts, "drops": _drop_parts,
                "dataset_drops": _link_parts(False, LINKS),
                "linked_drops": _link_parts(True, LINKS)}


def _answer_scopes_summary(filters: ReportFilters) -> str:
    """The answer scopes' summaries in one statement over one materialised de-duplication: the
    de-duplication is most of a report's SQL time, and per scope it was run four times."""
    ctes, selects = [], []
    for i, (scope, parts) in enumerate(_SCOPE_PARTS.items()):
        cte, select = parts({}, f"f{i}")
        if cte:
            ctes.append(cte)
        selects.append(f"SELECT {literal(scope)} AS part, run_id, grader, strategy, temperature, "
                       f"top_p, max_tokens FROM ({select})")
    head = answers_cte(filters).replace("WITH answers AS (", "WITH answers AS MATERIALIZED (", 1)
    head = head.replace("\n), s AS (", "\n), s AS MATERIALIZED (", 1)
    union = "\nUNION ALL\n".join(selects)
    return (f"{head}{', ' + ', '.join(ctes) if ctes else ''}\n"
            f"SELECT *, count(*) AS n\nFROM ({union}) q\nGROUP BY ALL")  # `s` has them all


def agreement_sql(filters: ReportFilters) -> str:
    where, params = filters.where()
    return inline(AGREEMENT_SQL.format(where=where), params).strip()


def shift_sql(filters: ReportFilters) -> str:
    where, params = filters.where("g", "r")
    return inline(SHIFT_SQL.format(where=where), params).strip()


# -- summaries --------------------------------------------------------------------------------


def _decoding(strategy: str, temperature: Any, top_p: Any, max_tokens: Any) -> str:
    text = str(strategy)
    if strategy == "sample" and temperature is not None:
        text += f" T={temperature:g}" + (f" top-p={top_p:g}" if top_p is not None else "")
    if max_tokens is not None:
        text += f", max {max_tokens} tokens"
    return text


def _summary_select(part: str, sql: str, unit: str) -> str:
    grader = "q.grader" if unit == "answers" else "g.grader"
    return (f"SELECT {literal(part)} AS part, g.run_id, {grader} AS grader, g.strategy, "
            f"g.temperature, g.top_p, g.max_tokens, count(*) AS n\n"
            f"FROM ({sql}) q JOIN generations g ON g.generation_id = q.generation_id\n"
            "GROUP BY ALL")


def summarize_many(store: Store, parts: Mapping[str, tuple[str, str]]) -> dict[str, Source]:
    """name -> (sql, unit) summarised in one query (one store connection, not one per table):
    each `sql` has a generation_id column; its rows are counted and described."""
    if not parts:
        return {}
    union = "\nUNION ALL\n".join(_summary_select(name, sql, unit)
                                   for name, (sql, unit) in parts.items())
    rows = store.query(f"SELECT * FROM ({union}) ORDER BY ALL").rows
    return _sources(parts, rows)


def _sources(parts: Mapping[str, tuple[str, str]], rows: Sequence[Sequence[Any]]
             ) -> dict[str, Source]:
    """Sources from summary rows (part, run, grader, strategy, temperature, top-p, max tokens,
    n)."""
    out = {}
    for name, (sql, unit) in parts.items():
        mine = [r[1:] for r in rows if r[0] == name]
        out[name] = Source(
            name, name, sql, sum(int(r[6]) for r in mine), unit,
            tuple(sorted({str(r[0]) for r in mine})),
            tuple(sorted({str(r[1]) for r in mine if r[1] is not None})),
            tuple(sorted({_decoding(*r[2:6]) for r in mine})),
        )
    return out


def summarize(store: Store, key: str, title: str, sql: str, unit: str = "answers") -> Source:
    """Run `sql` (which has a generation_id column) and say what its rows are."""
    s = summarize_many(store, {key: (sql, unit)})[key]
    return Source(key, title, s.sql, s.n, s.unit, s.runs, s.graders, s.decodings)


def agreement_source(store: Store, filters: ReportFilters) -> Source:
    sql = agreement_sql(filters)
    rows = store.query(sql).rows
    graders = tuple(sorted({f"{r[5]} vs {r[8]}" for r in rows}))
    base = summarize(store, "agreement", "grader agreement", sql, "grade pairs")
    return Source(base.key, base.title, sql, len(rows), base.unit, base.runs, graders,
                  base.decodings)


@dataclass
class Sources:
    """The sources of a report's tables, by table key."""

    tables: dict[str, Source] = field(default_factory=dict)

    def get(self, key: str) -> Source | None:
        return self.tables.get(key)


# Which answers each report table reads: 'all', 'drops', 'dataset_drops', 'linked_drops'.
TABLE_SCOPES: dict[str, str] = {
    "runs": "all", "accuracy": "all", "paired": "all", "gains": "all", "convergence": "all",
    "convergence_tasks": "all", "items": "all", "drops": "drops",
    "dataset_drops": "dataset_drops", "linked_drops": "linked_drops",
}


def scope_sql(scope: str, filters: ReportFilters, restrict: Mapping[str, str] | None = None
              ) -> str:
    if scope == "all":
        return all_answers_sql(filters, restrict)
    if scope == "drops":
        return drop_answers_sql(filters, restrict)
    if scope in ("dataset_drops", "linked_drops"):
        return link_answers_sql(filters, scope == "linked_drops", restrict)
    if scope == "drop_tables":  # the three drop tables together (the drop-interval figure)
        parts = [scope_sql(x, filters, restrict) for x in ("drops", "dataset_drops",
                                                             "linked_drops")]
        union = "\nUNION\n".join(f"SELECT * FROM (\n{p}\n)" for p in parts)
        return f"SELECT * FROM (\n{union}\n)\n{ORDER}"
    if scope == "shift":
        return shift_sql(filters)
    raise ValueError(f"unknown scope {scope!r}")


def source_of(store: Store, filters: ReportFilters, key: str, title: str, scope: str,
              restrict: Mapping[str, str] | None = None) -> Source:
    """The source of one figure (or any scope narrowed by column values)."""
    if scope == "agreement":
        return agreement_source(store, filters)
    unit = "token rows" if scope == "shift" else "answers"
    return summarize(store, key, title, scope_sql(scope, filters, restrict), unit)


def report_sources(store: Store, filters: ReportFilters, shift: bool,
                   agreement_pairs: Sequence[tuple[str, str]] = ()) -> Sources:
    """Every table's source, from one summary query (tables of one scope share it).
    `agreement_pairs`: the grader pairs of the agreement table (named in its footer)."""
    scopes = {scope: (scope_sql(scope, filters), "answers")
              for scope in dict.fromkeys(TABLE_SCOPES.values())}
    rows = store.query(f"SELECT * FROM ({_answer_scopes_summary(filters)}) ORDER BY ALL").rows
    done = _sources(scopes, rows)
    parts = {"agreement": (agreement_sql(filters), "grade pairs")}
    if shift:
        parts["shift"] = (shift_sql(filters), "token rows")
    done.update(summarize_many(store, parts))
    keys = {**TABLE_SCOPES, "agreement": "agreement", "disagreements": "agreement"}
    if shift:
        keys.update(dict.fromkeys(("shift", "shift_positions", "shift_tokens", "shift_answers"),
                                  "shift"))
    out = Sources()
    for key, part in keys.items():
        s = done[part]
        graders = s.graders
        if part == "agreement":
            graders = tuple(sorted({f"{a} vs {b}" for a, b in agreement_pairs}))
        out.tables[key] = Source(key, key, s.sql, s.n, s.unit, s.runs, graders, s.decodings)
    return out
