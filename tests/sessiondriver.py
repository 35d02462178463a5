"""The app's engine side (engine/run/session.py) as a process of its own, with no UI: for tests
that put several processes on one store. It answers questions the way the app does (both panes,
one thread per model, each answer recorded at once) and prints one JSON line at the end.

    python tests/sessiondriver.py MODELS_TOML DB DATA_FILE N_FIRST [GO_FILE N_THEN]

asks the first N_FIRST items, then, if GO_FILE is given, waits for that file to exist and asks
N_THEN more (so a test can have it answer both while another process holds the store and after).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.records import Decoding  # noqa: E402
from engine.run.config import RunConfig  # noqa: E402
from engine.run.session import AskSettings, Session  # noqa: E402
from engine.store.store import Store  # noqa: E402


class Listener:
    """Collects what the session's threads report; `finished` is set when both roles are done."""

    def __init__(self) -> None:
        self.done: list[str] = []
        self.failed: list[str] = []
        self.finished = threading.Semaphore(0)

    def on_session_failed(self, error: str) -> None:
        self.failed.append(error)

    def on_session_ready(self, *a: Any) -> None: ...

    def on_model_status(self, *a: Any) -> None: ...

    def on_model_loaded(self, *a: Any) -> None: ...

    def on_model_failed(self, role: str, error: str) -> None:
        self.failed.append(f"{role}: {error}")

    def on_run_started(self, run_id: str) -> None: ...

    def on_answer_started(self, *a: Any) -> None: ...

    def on_answer_text(self, *a: Any) -> None: ...

    def on_answer_done(self, label: str, role: str, answer: Any, item: Any) -> None:
        self.done.append(answer.row["generation_id"])

    def on_answer_failed(self, label: str, role: str, error: str) -> None:
        self.failed.append(f"{role}: {error}")

    def on_role_finished(self, role: str) -> None:
        self.finished.release()


def main(argv: list[str]) -> int:
    models, db, data_file, n_first = argv[0], argv[1], argv[2], int(argv[3])
    go, n_then = (Path(argv[4]), int(argv[5])) if len(argv) > 5 else (None, 0)
    config = RunConfig(pair="tiny", dataset="gsm8k", data_file=data_file, models_file=models,
                       decoding=Decoding(max_tokens=16))
    session = Session(config, Store(db))
    items = session.load_browse_items()
    for role in config.roles:
        session.load_model(role)
    listener = Listener()
    settings = AskSettings(max_tokens=16)

    def ask(batch: list[Any]) -> None:
        for item in batch:  # one question at a time, both panes at once, as a user asks them
            session.ask_async(config.roles, [("q", item)], settings, listener)
            for _ in config.roles:
                listener.finished.acquire()

    ask(items[:n_first])
    if go is not None:
        while not go.exists():
            time.sleep(0.2)
        ask(items[n_first:n_first + n_then])
    synced = session.finish("completed")
    session.close()
    print(json.dumps({
        "run_id": session.run_id,
        "answers": len(listener.done),
        "distinct": len(set(listener.done)),
        "failed": listener.failed,
        "waiting": synced.waiting if synced else None,
        "holder": synced.holder if synced else None,
    }))
    return 1 if listener.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
