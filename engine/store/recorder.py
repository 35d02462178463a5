"""How one run writes: every entry in its journal at once, then into the store in short batches.

A run (headless or the app's session) never writes the store directly: `add` puts an answer in
the run's journal (fsync'd, so a kill -9 loses nothing acknowledged) and a background thread
replays the journal when enough has gathered, holding the store's write lock only for that one
bulk insert. If another process holds the file (a notebook, another run, the app), the thread
tries again a moment later; the run goes on. `finish` tries a last time and says what still
waits, and who holds the file: a later tunelens command on the store (or `tunelens db sync`)
brings it in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from engine.errors import StoreError
from engine.records import Item
from engine.store import journal
from engine.store.store import (
    Store,
    SyncResult,
    extraction_rows,
    item_rows,
    model_rows,
    run_row,
)

BATCH_ROWS = 32  # answers gathered before a replay is started
BATCH_AGE_S = 2.0  # ... or this long after the first of them
LOCK_WAIT_S = 1.0  # how long a background replay waits for the lock before it retries later
RETRY_S = 1.0


class RunRecorder:
    """The writes of one run, journaled first. Thread-safe."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        *,
        batch_rows: int = BATCH_ROWS,
        batch_age_s: float = BATCH_AGE_S,
        lock_wait_s: float = LOCK_WAIT_S,
        retry_s: float = RETRY_S,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.path = journal.journal_path(store.path, run_id)
        self.batch_rows = batch_rows
        self.batch_age_s = batch_age_s
        self.lock_wait_s = lock_wait_s
        self.retry_s = retry_s
        self.written = 0  # answers journaled by this recorder
        self.holder: str | None = None  # who held the store at the last failed replay
        self.error: BaseException | None = None  # a replay that failed for another reason
        self._mu = threading.Lock()
        self._gathered = 0
        self._since = time.monotonic()
        self._dirty = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- what a run writes ----------------------------------------------------------------------
    def start_run(self, run: dict[str, Any]) -> None:
        self._append([{"op": "run", "row": run_row(run)}])

    def record_models(self, models: Sequence[tuple[str, Any]]) -> None:
        """`models` is (role, ModelInfo) pairs."""
        self._append([{"op": "models", "run_id": self.run_id, "models": model_rows(models)}])

    def record_items(self, items: Sequence[Item]) -> None:
        if items:
            self._append([{"op": "items", "rows": item_rows(items)}])

    def add(self, row: dict[str, Any], grades: Sequence[dict[str, Any]], *,
            now: bool = False) -> None:
        """One answer, durable when this returns; `now` replays it at once (the app)."""
        self._append([{"op": "answer", "key": row["generation_id"], "row": row,
                       "grades": list(grades)}])
        with self._mu:
            self.written += 1
            self._gathered += 1
            due = now or self._gathered >= self.batch_rows or (
                time.monotonic() - self._since >= self.batch_age_s
            )
        if due:
            self.kick()

    def add_grades(self, grades: Sequence[dict[str, Any]], extractions: Sequence[Any]) -> None:
        """A second grader's verdicts on answers already added, with the engine.grading
        Extraction objects behind them (replayed with the next batch)."""
        if grades or extractions:
            self._append([{"op": "grades", "grades": list(grades),
                           "extractions": extraction_rows(extractions)}])

    def finish(self, status: str, *, wait_s: float = 5.0) -> SyncResult:
        """Record the run's end, stop the background replays and try a last one (waiting up to
        `wait_s` for the lock). The result says what still waits and who holds the store."""
        self._append([{"op": "finish", "run_id": self.run_id, "status": status,
                       "at": datetime.now()}])
        return self.close(wait_s=wait_s)

    def close(self, *, wait_s: float = 10.0) -> SyncResult:
        self._stop.set()
        with self._mu:
            thread = self._thread
        if thread is not None:
            thread.join()
        return self.flush(wait_s=wait_s)

    # -- reaching the store ---------------------------------------------------------------------
    def flush(self, *, wait_s: float | None = None) -> SyncResult:
        """Replay this run's journal now, waiting up to `wait_s` for the lock; never raises for a
        held lock."""
        with self._mu:
            self._gathered = 0
            self._since = time.monotonic()
        try:
            result = self.store.sync(run_id=self.run_id, wait_s=wait_s)
        except StoreError as exc:  # e.g. the file was damaged meanwhile: the journal keeps it all
            self.error = exc
            result = SyncResult(waiting=self.waiting().answers, error=str(exc))
        self.holder = result.holder
        return result

    def waiting(self) -> journal.Entries:
        """What this run's journal still holds (answers not yet in the store)."""
        return journal.read(self.path)

    def kick(self) -> None:
        """Start a background replay (unless one is running; it then replays once more)."""
        with self._mu:
            self._dirty = True
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._replay_loop, name="tunelens-journal", daemon=True
                )
                self._thread.start()

    def _replay_loop(self) -> None:
        while True:
            with self._mu:
                if not self._dirty or self._stop.is_set():
                    self._thread = None
                    return
                self._dirty = False
            result = self.flush(wait_s=self.lock_wait_s)
            if result.error is not None:  # not a lock: retrying will not help; finish says it
                with self._mu:
                    self._thread = None
                return
            if result.holder is not None:
                with self._mu:
                    self._dirty = True
                self._stop.wait(self.retry_s)

    def _append(self, entries: list[dict[str, Any]], *, now: bool = False) -> None:
        journal.append(self.path, entries)
        if now:
            self.kick()
