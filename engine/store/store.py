"""The results store: one DuckDB file that researchers query with plain SQL.

Column names are an interface (people write SQL against them): keep them plain and stable, add
columns through a new migration, never rename. DuckDB lets one process hold a file read-write and
then nobody else may open it, so writers open the file only for the moment of a write and readers
retry briefly: a headless run and `tunelens query` can then share a store.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.errors import StoreError
from engine.records import Item
from engine.store.sandbox import check_read_only, sandbox

ENV_DB = "TUNELENS_DB"

MIGRATIONS: list[str] = [
    # v1
    """
    CREATE TABLE runs (
        run_id            VARCHAR PRIMARY KEY,
        config_hash       VARCHAR NOT NULL,
        kind              VARCHAR NOT NULL,          -- 'headless' or 'app'
        pair              VARCHAR,
        dataset           VARCHAR,
        data_file         VARCHAR,
        modes             VARCHAR[],
        perturbations     VARCHAR[],
        strategy          VARCHAR,
        config            JSON,
        tunelens_version  VARCHAR,
        git_commit        VARCHAR,
        llama_cpp_version VARCHAR,
        system_info       VARCHAR,
        host              VARCHAR,
        started_at        TIMESTAMP,
        ended_at          TIMESTAMP,
        status            VARCHAR,                   -- running, completed, interrupted, failed
        n_planned         INTEGER
    );
    CREATE TABLE models (
        model_sha256  VARCHAR PRIMARY KEY,
        name          VARCHAR,
        file          VARCHAR,
        source        VARCHAR,
        size_bytes    BIGINT,
        architecture  VARCHAR,
        description   VARCHAR,
        quantization  VARCHAR,
        n_params      BIGINT,
        n_vocab       INTEGER,
        chat_template VARCHAR,
        first_seen    TIMESTAMP
    );
    CREATE TABLE run_models (
        run_id       VARCHAR,
        role         VARCHAR,                        -- 'base' or 'instruct'
        model_name   VARCHAR,
        model_sha256 VARCHAR,
        settings     JSON,
        PRIMARY KEY (run_id, role)
    );
    CREATE TABLE items (
        dataset             VARCHAR,
        item_id             VARCHAR,
        question            VARCHAR,
        gold                VARCHAR,
        answer_type         VARCHAR,
        solution            VARCHAR,
        fields              JSON,
        original_id         VARCHAR,                 -- NULL for an original item
        perturbation        VARCHAR,                 -- NULL for an original item
        perturbation_seed   BIGINT,
        perturbation_params JSON,
        PRIMARY KEY (dataset, item_id)
    );
    CREATE TABLE generations (
        generation_id     VARCHAR PRIMARY KEY,
        run_id            VARCHAR NOT NULL,
        dataset           VARCHAR NOT NULL,
        item_id           VARCHAR NOT NULL,
        original_id       VARCHAR,
        perturbation      VARCHAR,
        role              VARCHAR NOT NULL,
        model_name        VARCHAR,
        model_sha256      VARCHAR,
        mode              VARCHAR NOT NULL,
        shots             INTEGER,
        chat_template     BOOLEAN,
        strategy          VARCHAR NOT NULL,          -- greedy, sample, cot-decoding
        sample_index      INTEGER NOT NULL,
        prompt            VARCHAR,
        prompt_tokens     INTEGER,
        output            VARCHAR,
        output_token_ids  INTEGER[],
        extracted         VARCHAR,
        correct           BOOLEAN,
        grader            VARCHAR,
        grader_rule       VARCHAR,
        tokens            INTEGER,
        ttft_s            DOUBLE,
        gen_time_s        DOUBLE,
        tokens_per_s      DOUBLE,
        finish_reason     VARCHAR,
        seed              BIGINT,
        temperature       DOUBLE,
        top_p             DOUBLE,
        top_k             INTEGER,
        max_tokens        INTEGER,
        decoding          JSON,
        score             DOUBLE,                    -- cot-decoding path confidence
        llama_cpp_version VARCHAR,
        created_at        TIMESTAMP
    );
    CREATE TABLE grades (
        generation_id VARCHAR,
        grader        VARCHAR,
        extracted     VARCHAR,
        correct       BOOLEAN,
        rule          VARCHAR,
        detail        VARCHAR,
        PRIMARY KEY (generation_id, grader)
    );
    CREATE TABLE token_shift (
        generation_id VARCHAR,
        position      INTEGER,
        token_id      INTEGER,
        token         VARCHAR,
        rank          INTEGER,                       -- instruct token's rank under the base model
        prob          DOUBLE,
        base_top_id   INTEGER,
        base_top      VARCHAR,
        base_top_prob DOUBLE,
        shift         VARCHAR,                       -- unshifted, marginal, shifted
        scorer_sha256 VARCHAR,
        PRIMARY KEY (generation_id, position)
    );
    CREATE INDEX generations_run ON generations (run_id);
    """,
    # v2: the extract-llm grader's cache: what an extractor model replied for an output, so a
    # regrade with the same extractor and prompt version makes no model call twice.
    """
    CREATE TABLE extractions (
        extractor_id   VARCHAR,                      -- GGUF sha256, or served:<kind>:<model id>
        prompt_version VARCHAR,                      -- engine.grading.extract_llm.PROMPT_VERSION
        output_sha256  VARCHAR,                      -- sha256 of the output it read (UTF-8)
        extractor_name VARCHAR,                      -- its models.toml name at the time
        extracted      VARCHAR,                      -- the model's raw reply
        created_at     TIMESTAMP,
        PRIMARY KEY (extractor_id, prompt_version, output_sha256)
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

GENERATION_COLUMNS: tuple[str, ...] = (
    "generation_id",
    "run_id",
    "dataset",
    "item_id",
    "original_id",
    "perturbation",
    "role",
    "model_name",
    "model_sha256",
    "mode",
    "shots",
    "chat_template",
    "strategy",
    "sample_index",
    "prompt",
    "prompt_tokens",
    "output",
    "output_token_ids",
    "extracted",
    "correct",
    "grader",
    "grader_rule",
    "tokens",
    "ttft_s",
    "gen_time_s",
    "tokens_per_s",
    "finish_reason",
    "seed",
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "decoding",
    "score",
    "llama_cpp_version",
    "created_at",
)

# The items table's columns, in its order: what `record_items` writes and `item_from_row` reads.
ITEM_COLUMNS: tuple[str, ...] = (
    "dataset",
    "item_id",
    "question",
    "gold",
    "answer_type",
    "solution",
    "fields",
    "original_id",
    "perturbation",
    "perturbation_seed",
    "perturbation_params",
)



def default_db_path() -> Path:
    env = os.environ.get(ENV_DB)
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("tunelens")) / "tunelens.duckdb"


def generation_key(
    run_id: str,
    item_id: str,
    role: str,
    mode: str,
    shots: int,
    chat: bool,
    strategy: str,
    sample_index: int,
) -> str:
    """A generation's identity within a run: what makes a resumed run skip it, not redo it."""
    raw = f"{run_id}|{item_id}|{role}|{mode}|{shots}|{int(chat)}|{strategy}|{sample_index}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def item_columns(alias: str) -> str:
    """The items columns for a SELECT, qualified by `alias`, in `ITEM_COLUMNS` order."""
    return ", ".join(f"{alias}.{c}" for c in ITEM_COLUMNS)


def item_from_row(row: Sequence[Any]) -> Item:
    """The `Item` a row of the items table (`ITEM_COLUMNS` order) was recorded from."""
    dataset, item_id, question, gold, answer_type, solution, fields_json, *rest = row
    original_id, perturbation, seed, params = rest
    return Item(
        dataset=dataset,
        item_id=item_id,
        question=question or "",
        gold=gold or "",
        answer_type=answer_type or "number",
        solution=solution,
        fields=json.loads(fields_json) if fields_json else {},
        original_id=original_id,
        perturbation=perturbation,
        perturbation_seed=seed,
        perturbation_params=json.loads(params) if params else {},
    )


@dataclass
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]


class Store:
    """A DuckDB file; opened per operation so other processes can read between writes."""

    def __init__(self, path: str | Path | None = None, *, lock_timeout_s: float = 15.0) -> None:
        self.path = Path(path) if path else default_db_path()
        self.lock_timeout_s = lock_timeout_s
        self._ready = False

    # -- connections --------------------------------------------------------------------------
    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[Any]:
        import duckdb

        if read_only and not self.path.exists():
            raise StoreError(f"{self.path}: no results store yet (run something first)")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_s
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise StoreError(f"{self.path}: {_first_line(exc)}") from None
            except duckdb.ConnectionException as exc:
                # Same process, other configuration (a writer is open): wait for it to close.
                if time.monotonic() > deadline:
                    raise StoreError(f"{self.path}: {_first_line(exc)}") from None
            time.sleep(0.05)
        try:
            if read_only:
                sandbox(con, self.path.parent)
            elif not self._ready:
                self._migrate(con)
            yield con
        finally:
            con.close()

    def ensure(self) -> None:
        with self.connect():
            pass

    def _migrate(self, con: Any) -> None:
        # A DuckDB file made by another program is refused before anything is written into it.
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()}
        if tables and "schema_version" not in tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise StoreError(
                f"{self.path}: not a tunelens store (it holds tables {shown} and no "
                "schema_version); pass --db with another file"
            )
        con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
        # fetchall, not fetchone: an unfinished result keeps the connection busy for register()
        rows = con.execute("SELECT max(version) FROM schema_version").fetchall()
        current = rows[0][0] or 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {current} is newer than this tunelens "
                f"({SCHEMA_VERSION}); upgrade tunelens"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            con.execute("BEGIN")
            con.execute(MIGRATIONS[version - 1])
            con.execute("INSERT INTO schema_version VALUES (?)", [version])
            con.execute("COMMIT")
        self._ready = True

    # -- runs ---------------------------------------------------------------------------------
    def find_resumable(self, config_hash: str) -> str | None:
        """The newest unfinished run with this configuration, if any."""
        if not self.path.exists():
            return None
        with self.connect() as con:
            row = con.execute(
                "SELECT run_id FROM runs WHERE config_hash = ? AND status <> 'completed' "
                "ORDER BY started_at DESC LIMIT 1",
                [config_hash],
            ).fetchone()
        return row[0] if row else None

    def find_completed(self, config_hash: str) -> str | None:
        """The newest completed run with this configuration, if any."""
        if not self.path.exists():
            return None
        with self.connect() as con:
            row = con.execute(
                "SELECT run_id FROM runs WHERE config_hash = ? AND status = 'completed' "
                "ORDER BY started_at DESC LIMIT 1",
                [config_hash],
            ).fetchone()
        return row[0] if row else None

    def start_run(self, run: dict[str, Any]) -> None:
        row = dict(run)
        row.setdefault("started_at", datetime.now())
        row.setdefault("status", "running")
        for key in ("config",):
            if key in row and not isinstance(row[key], str):
                row[key] = json.dumps(row[key], default=str)
        cols = list(row)
        with self.connect() as con:
            con.execute(
                f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                "ON CONFLICT (run_id) DO UPDATE SET status = 'running', ended_at = NULL",
                [row[c] for c in cols],
            )

    def finish_run(self, run_id: str, status: str) -> None:
        with self.connect() as con:
            con.execute(
                "UPDATE runs SET status = ?, ended_at = ? WHERE run_id = ?",
                [status, datetime.now(), run_id],
            )

    def record_models(self, run_id: str, models: Sequence[tuple[str, Any]]) -> None:
        """`models` is (role, ModelInfo) pairs."""
        now = datetime.now()
        with self.connect() as con:
            for role, info in models:
                con.execute(
                    "INSERT OR IGNORE INTO models VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    [
                        info.sha256,
                        info.name,
                        info.path,
                        info.source,
                        info.size_bytes,
                        info.architecture,
                        info.description,
                        info.quantization,
                        info.n_params,
                        info.n_vocab,
                        info.chat_template,
                        now,
                    ],
                )
                con.execute(
                    "INSERT OR REPLACE INTO run_models VALUES (?,?,?,?,?)",
                    [run_id, role, info.name, info.sha256, json.dumps(info.settings)],
                )

    def record_items(self, items: Sequence[Any]) -> None:
        if not items:
            return
        rows = [
            (
                it.dataset,
                it.item_id,
                it.question,
                it.gold,
                it.answer_type,
                it.solution,
                json.dumps(it.fields, default=str),
                it.original_id,
                it.perturbation,
                it.perturbation_seed,
                json.dumps(it.perturbation_params, default=str),
            )
            for it in items
        ]
        with self.connect() as con:
            con.executemany("INSERT OR IGNORE INTO items VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)

    # -- generations --------------------------------------------------------------------------
    def existing_keys(self, run_id: str) -> set[str]:
        if not self.path.exists():
            return set()
        with self.connect() as con:
            rows = con.execute(
                "SELECT generation_id FROM generations WHERE run_id = ?", [run_id]
            ).fetchall()
        return {r[0] for r in rows}

    def insert_generations(
        self,
        rows: Sequence[dict[str, Any]],
        grades: Sequence[dict[str, Any]] = (),
        extractions: Sequence[Any] = (),
    ) -> None:
        """Insert a batch in one transaction; rows already present (same key) are left alone.

        `grades` and the `extractions` (engine.grading.Extraction) behind them go in the same
        transaction."""
        if not rows:
            return
        import pyarrow as pa

        table = pa.Table.from_pylist(
            [{c: _cell(r.get(c)) for c in GENERATION_COLUMNS} for r in rows],
            schema=_generation_schema(),
        )
        with self.connect() as con:
            con.execute("BEGIN")
            con.register("_batch", table)
            con.execute("INSERT OR IGNORE INTO generations BY NAME SELECT * FROM _batch")
            con.unregister("_batch")
            if grades:
                _put_grades(con, grades)
            _put_extractions(con, extractions)
            con.execute("COMMIT")

    def insert_grades(
        self, grades: Sequence[dict[str, Any]], extractions: Sequence[Any] = ()
    ) -> None:
        """Add verdicts (a regrade) to `grades`; a (generation, grader) already there is kept.

        `extractions` (engine.grading.Extraction) made for these verdicts are stored in the same
        transaction, so a killed regrade keeps both or neither.
        """
        if not grades and not extractions:
            return
        # A first write connection runs the migration, which leaves a result open that `register`
        # refuses to work next to: migrate in a connection of its own first.
        self.ensure()
        with self.connect() as con:
            con.execute("BEGIN")
            if grades:
                _put_grades(con, grades)
            _put_extractions(con, extractions)
            con.execute("COMMIT")

    def load_extractions(
        self, extractor_id: str, prompt_version: str
    ) -> dict[tuple[str, str, str], str]:
        """The cached replies of one extractor under one prompt version, by cache key."""
        self.ensure()  # a store made before the extractions table gets it first
        rows = self.query(
            "SELECT output_sha256, extracted FROM extractions "
            "WHERE extractor_id = ? AND prompt_version = ?",
            [extractor_id, prompt_version],
        ).rows
        return {(extractor_id, prompt_version, sha): text for sha, text in rows}

    def insert_token_shift(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        import pyarrow as pa

        table = pa.Table.from_pylist(list(rows))
        with self.connect() as con:
            con.register("_ts", table)
            con.execute("INSERT OR REPLACE INTO token_shift BY NAME SELECT * FROM _ts")
            con.unregister("_ts")

    # -- reading ------------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | None = None) -> QueryResult:
        """Run read-only SQL; a statement that would change the store is refused."""
        check_read_only(sql)
        import duckdb

        with self.connect(read_only=True) as con:
            try:
                cur = con.execute(sql, params or [])
            except duckdb.Error as exc:
                raise StoreError(_first_line(exc)) from None
            if cur.description is None:
                return QueryResult([], [], [])
            columns = [d[0] for d in cur.description]
            types = [str(d[1]) for d in cur.description]
            return QueryResult(columns, types, cur.fetchall())

    def arrow(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        check_read_only(sql)
        with self.connect(read_only=True) as con:
            return con.execute(sql, params or []).fetch_arrow_table()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _cell(value: Any) -> Any:
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    if isinstance(value, tuple):
        return list(value)
    return value


def _put_grades(con: Any, grades: Sequence[dict[str, Any]]) -> None:
    # Through Arrow like the generations: executemany costs ~2 ms per row in DuckDB.
    con.register("_grades", _grades_table(grades))
    con.execute("INSERT OR IGNORE INTO grades BY NAME SELECT * FROM _grades")
    con.unregister("_grades")


def _put_extractions(con: Any, extractions: Sequence[Any]) -> None:
    if extractions:
        now = datetime.now()
        con.executemany(
            "INSERT OR IGNORE INTO extractions VALUES (?,?,?,?,?,?)",
            [(e.extractor_id, e.prompt_version, e.output_sha256, e.extractor_name, e.raw, now)
             for e in extractions],
        )


def _grades_table(grades: Sequence[dict[str, Any]]) -> Any:
    import pyarrow as pa

    s = pa.string()
    return pa.table(
        {
            "generation_id": pa.array([g["generation_id"] for g in grades], s),
            "grader": pa.array([g["grader"] for g in grades], s),
            "extracted": pa.array([g["extracted"] for g in grades], s),
            "correct": pa.array([g["correct"] for g in grades], pa.bool_()),
            "rule": pa.array([g["rule"] for g in grades], s),
            "detail": pa.array([g.get("detail", "") for g in grades], s),
        }
    )


_SCHEMA = None


def _generation_schema() -> Any:
    global _SCHEMA
    if _SCHEMA is None:
        import pyarrow as pa

        s, i, f, b = pa.string(), pa.int64(), pa.float64(), pa.bool_()
        types = {
            "shots": i,
            "chat_template": b,
            "sample_index": i,
            "prompt_tokens": i,
            "output_token_ids": pa.list_(pa.int32()),
            "correct": b,
            "tokens": i,
            "ttft_s": f,
            "gen_time_s": f,
            "tokens_per_s": f,
            "seed": i,
            "temperature": f,
            "top_p": f,
            "top_k": i,
            "max_tokens": i,
            "score": f,
            "created_at": pa.timestamp("us"),
        }
        _SCHEMA = pa.schema([(c, types.get(c, s)) for c in GENERATION_COLUMNS])
    return _SCHEMA
