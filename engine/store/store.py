"""The results store: one DuckDB file that researchers query with plain SQL.

Column names are an interface (people write SQL against them): keep them plain and stable, add
columns through a new migration, never rename. DuckDB lets one process hold a file read-write and
then nobody else may open it, so writers open the file only for the moment of a write and readers
retry briefly: a headless run and `tunelens query` can then share a store.

A run writes through its journal (engine/store/journal.py, `RunRecorder`): every answer is on disk
at once, and reaches this file by `sync` when the lock is free, so no holder of the file (a
notebook, the DuckDB CLI, another run) can make a run lose or fail an answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.errors import StoreError
from engine.records import Item
from engine.store import journal
from engine.store.sandbox import check_read_only, sandbox

ENV_DB = "TUNELENS_DB"
ENV_LOCK_WAIT = "TUNELENS_LOCK_WAIT"  # seconds a reader waits for a writer to let go (default 15)

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

_MIGRATING = threading.Lock()
DUCKDB_HEADER_BYTES = 3 * 4096  # a DuckDB file's main header and its two database headers


def default_db_path() -> Path:
    env = os.environ.get(ENV_DB)
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("tunelens")) / "tunelens.duckdb"


def lock_wait() -> float:
    """How long to wait for another holder of the store: $TUNELENS_LOCK_WAIT, else 15 s."""
    raw = os.environ.get(ENV_LOCK_WAIT, "")
    try:
        return max(0.0, float(raw)) if raw else 15.0
    except ValueError:
        raise StoreError(f"{ENV_LOCK_WAIT}={raw!r}: expected a number of seconds") from None


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


class StoreLocked(StoreError):
    """The store's file stayed held by another process (or connection) for longer than we wait."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass
class SyncResult:
    """What replaying journals did: answers that reached the store, answers still waiting."""

    applied: int = 0
    waiting: int = 0
    files: int = 0  # journal files replayed (and removed)
    holder: str | None = None  # who held the store, when it could not be written
    error: str | None = None  # a replay that failed for another reason (one line)
    bad_lines: list[str] = field(default_factory=list)  # "FILE:LINE" skipped as unreadable


@dataclass(frozen=True)
class RunState:
    """A run as the store and the journals together know it."""

    run_id: str
    started_at: datetime | None
    status: str | None


class Store:
    """A DuckDB file; opened per operation so other processes can read between writes."""

    def __init__(self, path: str | Path | None = None, *, lock_timeout_s: float | None = None
                 ) -> None:
        self.path = Path(path) if path else default_db_path()
        self.lock_timeout_s = lock_timeout_s if lock_timeout_s is not None else lock_wait()
        self._ready = False

    # -- connections --------------------------------------------------------------------------
    @contextmanager
    def connect(self, *, read_only: bool = False, timeout_s: float | None = None) -> Iterator[Any]:
        """A connection, after waiting up to `timeout_s` (default `lock_timeout_s`) for another
        holder of the file; `StoreLocked` names that holder when it does not let go."""
        import duckdb

        if read_only and not self.path.exists():
            raise StoreError(f"{self.path}: no results store yet (run something first)")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        wait = self.lock_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + wait
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                text = str(exc)
                if "lock" not in text.lower():
                    raise StoreError(f"{self.path}: cannot open: {_first_line(exc)}") from None
                if time.monotonic() > deadline:
                    raise self._locked(lock_holder(text), wait) from None
            except duckdb.ConnectionException:
                # Same process, other configuration (a writer is open): wait for it to close.
                if time.monotonic() > deadline:
                    raise self._locked("another connection of this process", wait) from None
            except duckdb.Error as exc:  # a damaged file: say so, write nothing
                raise StoreError(
                    f"{self.path}: cannot open, damaged or not a DuckDB file ({_first_line(exc)})"
                ) from None
            time.sleep(0.05)
        try:
            if read_only:
                sandbox(con, self.path.parent)
            elif not self._ready:
                with _MIGRATING:  # two threads (a run and its journal's) must not both migrate
                    self._migrate(con)
            yield con
        finally:
            con.close()

    def _locked(self, holder: str, waited: float) -> StoreLocked:
        return StoreLocked(
            f"{self.path}: held by {holder} (waited {waited:.0f} s); try again when it lets go",
            holder,
        )

    def ensure(self) -> None:
        with self.connect():
            pass

    def open_for_run(self, *, wait_s: float = 2.0) -> str | None:
        """Check the store can take a run's answers before the run starts: create or migrate it,
        and replay waiting journals, when its lock is free; otherwise check it read-only (the
        answers then wait in the journal). Returns who holds the file, or None."""
        try:
            with self.connect(timeout_s=wait_s):
                pass
        except StoreLocked as exc:
            if not self.path.exists():
                raise
            try:
                with self.connect(read_only=True, timeout_s=wait_s) as con:
                    self._check(con)
            except StoreLocked:
                # Held for writing: the replay checks it (and refuses a file that is not a
                # tunelens store); the answers are safe in the journal meanwhile.
                pass
            return exc.holder
        self.sync(wait_s=wait_s)
        return None

    def _check(self, con: Any) -> int:
        """The store's schema version; refuses a DuckDB file that is not a tunelens store."""
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()}
        if tables and "schema_version" not in tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise StoreError(
                f"{self.path}: not a tunelens store (it holds tables {shown} and no "
                "schema_version); pass --db with another file"
            )
        if not tables:
            return 0
        # A file cut short (a copy that stopped, a full disk) still opens: its catalog is at the
        # front, but reading a table ends in an IO error. Its size says so first.
        # The blocks in use must fit in the file (free ones at its end may have been cut off).
        _, _, block_size, _, used_blocks, *_ = con.execute("PRAGMA database_size").fetchall()[0]
        need = DUCKDB_HEADER_BYTES + int(block_size) * int(used_blocks)
        size = self.path.stat().st_size
        wal = self.path.with_name(self.path.name + ".wal")
        # With a WAL to replay (a writer was killed), the blocks counted include ones not written.
        if size < need and not wal.exists():
            raise StoreError(
                f"{self.path}: damaged, cut short ({size} bytes of the {need} its blocks need); "
                "it is left unchanged"
            )
        # fetchall, not fetchone: an unfinished result keeps the connection busy for register()
        rows = con.execute("SELECT max(version) FROM schema_version").fetchall()
        current = rows[0][0] or 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {current} is newer than this tunelens "
                f"({SCHEMA_VERSION}); upgrade tunelens"
            )
        return int(current)

    def _migrate(self, con: Any) -> None:
        # A DuckDB file made by another program is refused before anything is written into it.
        current = self._check(con)
        con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            con.execute("BEGIN")
            con.execute(MIGRATIONS[version - 1])
            con.execute("INSERT INTO schema_version VALUES (?)", [version])
            con.execute("COMMIT")
        self._ready = True

    # -- journals -----------------------------------------------------------------------------
    def sync(self, *, run_id: str | None = None, wait_s: float | None = None) -> SyncResult:
        """Replay waiting journals (one run's, or all) into the store, each in one transaction.

        Never raises for a held lock: the result says who holds the file and what still waits.
        """
        files = [journal.journal_path(self.path, run_id)] if run_id else journal.journal_files(
            self.path
        )
        files = [f for f in files if f.exists()]
        result = SyncResult()
        if not files:
            return result
        try:
            with self.connect(timeout_s=wait_s) as con:
                for path in files:
                    self._replay(con, path, result)
        except StoreLocked as exc:
            result.holder = exc.holder
        result.waiting = sum(journal.read(f).answers for f in files if f.exists())
        with suppress(OSError):  # empty: tidy; an appender makes it again when it needs it
            journal.journal_dir(self.path).rmdir()
        return result

    def _replay(self, con: Any, path: Path, result: SyncResult) -> None:
        import duckdb

        with journal.locked(path, create=False) as f:
            if f is None:  # replayed by someone else meanwhile
                return
            f.seek(0)
            got = journal.parse(path, f.read().decode("utf-8", errors="replace"))
            try:
                con.execute("BEGIN")
                apply_entries(con, got.entries)
                con.execute("COMMIT")
            except duckdb.Error as exc:
                con.execute("ROLLBACK")
                raise StoreError(
                    f"{path}: cannot replay into {self.path}: {_first_line(exc)}"
                ) from None
            path.unlink()  # under the lock: an appender waiting for it starts a new file
        result.applied += got.answers
        result.files += 1
        result.bad_lines += [f"{path}:{n}" for n in got.bad_lines]

    def check(self) -> None:
        """Refuse, in one line, a file that is not a readable tunelens store (read-only)."""
        with self.connect(read_only=True) as con:
            self._check(con)

    def catch_up(self, *, wait_s: float = 0.5) -> SyncResult:
        """Before a command reads the store: refuse a file that is not a tunelens store, and
        bring in the answers waiting in journals if the lock is free now (best effort)."""
        if self.path.exists():
            self.check()
        return self.sync(wait_s=wait_s)

    def pending(self, run_id: str | None = None) -> list[journal.Entries]:
        """The journals waiting to be replayed (read without their lock)."""
        files = [journal.journal_path(self.path, run_id)] if run_id else journal.journal_files(
            self.path
        )
        return [e for e in (journal.read(f) for f in files) if e.entries or e.bad_lines]

    # -- runs ---------------------------------------------------------------------------------
    def run_states(self, config_hash: str) -> list[RunState]:
        """Runs with this configuration, newest first: the store's, updated by their journals."""
        states: dict[str, RunState] = {}
        if self.path.exists():
            with self.connect(read_only=True) as con:
                for run_id, started, status in con.execute(
                    "SELECT run_id, started_at, status FROM runs WHERE config_hash = ?",
                    [config_hash],
                ).fetchall():
                    states[run_id] = RunState(run_id, started, status)
        for got in self.pending():
            for e in got.entries:
                if e["op"] == "run" and e["row"].get("config_hash") == config_hash:
                    rid = e["row"]["run_id"]
                    old = states.get(rid)
                    started = old.started_at if old else e["row"].get("started_at")
                    states[rid] = RunState(rid, started, "running")
                elif e["op"] == "finish" and e["run_id"] in states:
                    old = states[e["run_id"]]
                    states[e["run_id"]] = RunState(old.run_id, old.started_at, e["status"])
        return sorted(states.values(), key=lambda s: s.started_at or datetime.min, reverse=True)

    def find_resumable(self, config_hash: str) -> str | None:
        """The newest unfinished run with this configuration, if any."""
        found = [s for s in self.run_states(config_hash) if s.status != "completed"]
        return found[0].run_id if found else None

    def find_completed(self, config_hash: str) -> str | None:
        """The newest completed run with this configuration, if any."""
        found = [s for s in self.run_states(config_hash) if s.status == "completed"]
        return found[0].run_id if found else None

    def start_run(self, run: dict[str, Any]) -> None:
        with self.connect() as con:
            put_run(con, run_row(run))

    def finish_run(self, run_id: str, status: str) -> None:
        with self.connect() as con:
            put_finish(con, run_id, status, datetime.now())

    def record_models(self, run_id: str, models: Sequence[tuple[str, Any]]) -> None:
        """`models` is (role, ModelInfo) pairs."""
        with self.connect() as con:
            put_models(con, run_id, model_rows(models))

    def record_items(self, items: Sequence[Any]) -> None:
        if not items:
            return
        with self.connect() as con:
            put_items(con, item_rows(items))

    # -- generations --------------------------------------------------------------------------
    def existing_keys(self, run_id: str) -> set[str]:
        """The run's answers already made: in the store, or waiting in its journal."""
        keys: set[str] = set()
        for got in self.pending(run_id):
            keys |= got.answer_keys
        if not self.path.exists():
            return keys
        with self.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT generation_id FROM generations WHERE run_id = ?", [run_id]
            ).fetchall()
        return keys | {r[0] for r in rows}

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
        with self.connect() as con:
            con.execute("BEGIN")
            put_generations(con, rows, grades)
            _put_extractions(con, extraction_rows(extractions))
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
            _put_extractions(con, extraction_rows(extractions))
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
            return con.sql(sql, params=params or None).to_arrow_table()


def lock_holder(message: str) -> str:
    """Who holds the file, from DuckDB's lock error ("... (PID 123) ..."): the PID and, where
    /proc tells it, the command line, shortened to one line."""
    found = re.search(r"PID (\d+)", message)
    if not found:
        return "another process"
    pid = int(found.group(1))
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"PID {pid}"
    words = [" ".join(a.decode(errors="replace").split()) for a in argv if a]
    if not words:
        return f"PID {pid}"
    words[0] = Path(words[0]).name
    cmd = " ".join(words)
    return f"PID {pid} ({cmd[:77] + '...' if len(cmd) > 80 else cmd})"


# -- rows and how they are put into a connection (direct writes and journal replay alike) -------


def run_row(run: dict[str, Any]) -> dict[str, Any]:
    row = dict(run)
    row.setdefault("started_at", datetime.now())
    row.setdefault("status", "running")
    if "config" in row and not isinstance(row["config"], str):
        row["config"] = json.dumps(row["config"], default=str)
    return row


def put_run(con: Any, row: dict[str, Any]) -> None:
    cols = list(row)
    con.execute(
        f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
        "ON CONFLICT (run_id) DO UPDATE SET status = 'running', ended_at = NULL",
        [row[c] for c in cols],
    )


def put_finish(con: Any, run_id: str, status: str, at: datetime) -> None:
    con.execute("UPDATE runs SET status = ?, ended_at = ? WHERE run_id = ?", [status, at, run_id])


def model_rows(models: Sequence[tuple[str, Any]]) -> list[dict[str, Any]]:
    """(role, ModelInfo) pairs as plain rows (the journal keeps these)."""
    now = datetime.now()
    return [
        {
            "role": role,
            "model_sha256": info.sha256,
            "name": info.name,
            "file": info.path,
            "source": info.source,
            "size_bytes": info.size_bytes,
            "architecture": info.architecture,
            "description": info.description,
            "quantization": info.quantization,
            "n_params": info.n_params,
            "n_vocab": info.n_vocab,
            "chat_template": info.chat_template,
            "first_seen": now,
            "settings": json.dumps(info.settings),
        }
        for role, info in models
    ]


_MODEL_COLUMNS = ("model_sha256", "name", "file", "source", "size_bytes", "architecture",
                  "description", "quantization", "n_params", "n_vocab", "chat_template",
                  "first_seen")


def put_models(con: Any, run_id: str, rows: Sequence[dict[str, Any]]) -> None:
    for r in rows:
        con.execute(
            f"INSERT OR IGNORE INTO models ({', '.join(_MODEL_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_MODEL_COLUMNS))})",
            [r[c] for c in _MODEL_COLUMNS],
        )
        con.execute(
            "INSERT OR REPLACE INTO run_models VALUES (?,?,?,?,?)",
            [run_id, r["role"], r["name"], r["model_sha256"], r["settings"]],
        )


def item_rows(items: Sequence[Item]) -> list[dict[str, Any]]:
    return [
        {
            "dataset": it.dataset,
            "item_id": it.item_id,
            "question": it.question,
            "gold": it.gold,
            "answer_type": it.answer_type,
            "solution": it.solution,
            "fields": json.dumps(it.fields, default=str),
            "original_id": it.original_id,
            "perturbation": it.perturbation,
            "perturbation_seed": it.perturbation_seed,
            "perturbation_params": json.dumps(it.perturbation_params, default=str),
        }
        for it in items
    ]


def put_items(con: Any, rows: Sequence[dict[str, Any]]) -> None:
    """One bulk insert through Arrow (row by row, 1,319 GSM8K items held the lock for 8-10 s)."""
    import pyarrow as pa

    unique = list({(r["dataset"], r["item_id"]): r for r in rows}.values())
    if not unique:
        return
    s = pa.string()
    types = {"perturbation_seed": pa.int64()}
    table = pa.table({c: pa.array([r[c] for r in unique], types.get(c, s)) for c in ITEM_COLUMNS})
    con.register("_items", table)
    con.execute("INSERT OR IGNORE INTO items BY NAME SELECT * FROM _items")
    con.unregister("_items")


def generations_table(rows: Sequence[dict[str, Any]]) -> Any:
    """Generation rows as an Arrow table of the `generations` columns and types."""
    import pyarrow as pa

    return pa.Table.from_pylist(
        [{c: _cell(r.get(c)) for c in GENERATION_COLUMNS} for r in rows],
        schema=_generation_schema(),
    )


def put_generations(
    con: Any, rows: Sequence[dict[str, Any]], grades: Sequence[dict[str, Any]] = ()
) -> None:
    """Rows whose key is already stored are left alone (a replay or a resume adds nothing)."""
    unique = list({r["generation_id"]: r for r in reversed(rows)}.values())
    con.register("_batch", generations_table(unique))
    con.execute("INSERT OR IGNORE INTO generations BY NAME SELECT * FROM _batch")
    con.unregister("_batch")
    if grades:
        _put_grades(con, list({(g["generation_id"], g["grader"]): g for g in grades}.values()))


def apply_entries(con: Any, entries: Sequence[dict[str, Any]]) -> None:
    """Journal entries into the store, in their order (consecutive answers in one insert)."""
    rows: list[dict[str, Any]] = []
    grades: list[dict[str, Any]] = []
    for e in [*entries, {"op": "end"}]:
        op = e["op"]
        if op == "answer":
            rows.append(e["row"])
            grades.extend(e.get("grades", ()))
            continue
        if rows:
            put_generations(con, rows, grades)
            rows, grades = [], []
        if op == "run":
            put_run(con, e["row"])
        elif op == "models":
            put_models(con, e["run_id"], e["models"])
        elif op == "items":
            put_items(con, e["rows"])
        elif op == "finish":
            put_finish(con, e["run_id"], e["status"], e["at"])
        elif op == "grades":  # a second grader's verdicts, and the extractions behind them
            if e["grades"]:
                _put_grades(con, e["grades"])
            _put_extractions(con, e.get("extractions", ()))


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


def extraction_rows(extractions: Sequence[Any]) -> list[dict[str, Any]]:
    """engine.grading Extraction objects as plain rows (the journal keeps these)."""
    now = datetime.now()
    return [
        {"extractor_id": e.extractor_id, "prompt_version": e.prompt_version,
         "output_sha256": e.output_sha256, "extractor_name": e.extractor_name, "raw": e.raw,
         "created_at": now}
        for e in extractions
    ]


def _put_extractions(con: Any, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        con.executemany(
            "INSERT OR IGNORE INTO extractions VALUES (?,?,?,?,?,?)",
            [(r["extractor_id"], r["prompt_version"], r["output_sha256"], r["extractor_name"],
              r["raw"], r["created_at"]) for r in rows],
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
