"""How long a run holds the store's write lock, and what the journal in front of it costs.

    python -m benchmarks.journal [--answers 1000] [--repeats 3]

Times, on a temporary store: inserting the 1,319 GSM8K test items row by row (`executemany`, as
runs did before) against the one Arrow insert `Store.record_items` does now (each is how long the
lock is held at run start); appending answers to a run's journal with an fsync each (what every
answer costs a run before it reaches the store); replaying that journal into the store in one
transaction (how long the lock is held for them). Medians of `--repeats`, interleaved.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.common import GSM8K_TEST, header, median, table


def _rowwise_items(db: Path, items: list[Any]) -> float:
    """The old way: one INSERT per item (DuckDB executemany), the lock held all along."""
    from engine.store.store import Store, item_rows

    store = Store(db)
    store.ensure()
    rows = [tuple(r.values()) for r in item_rows(items)]
    t0 = time.perf_counter()
    with store.connect() as con:
        con.executemany("INSERT OR IGNORE INTO items VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    return time.perf_counter() - t0


def _bulk_items(db: Path, items: list[Any]) -> float:
    from engine.store.store import Store

    store = Store(db)
    store.ensure()
    t0 = time.perf_counter()
    store.record_items(items)
    return time.perf_counter() - t0


def _answer(n: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    gid = f"g{n:06d}"
    row = {"generation_id": gid, "run_id": "bench", "dataset": "gsm8k", "item_id": f"i{n}",
           "role": "base", "mode": "zero-shot-cot", "strategy": "greedy", "sample_index": 0,
           "prompt": "Q: " + "x" * 400, "output": "The answer is 42. " * 10,
           "output_token_ids": list(range(120)), "tokens": 120, "created_at": datetime.now()}
    return row, [{"generation_id": gid, "grader": "gsm8k", "extracted": "42", "correct": True,
                  "rule": "last-number", "detail": ""}]


def _journal(db: Path, n: int) -> tuple[float, float]:
    """(seconds per journaled answer, seconds the replay of all `n` held the store)."""
    from engine.store import journal
    from engine.store.store import Store

    store = Store(db)
    store.ensure()
    path = journal.journal_path(db, "bench")
    answers = [_answer(i) for i in range(n)]
    t0 = time.perf_counter()
    for row, grades in answers:
        journal.append(path, [{"op": "answer", "key": row["generation_id"], "row": row,
                               "grades": grades}])
    per_answer = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    result = store.sync()
    replay = time.perf_counter() - t0
    assert result.applied == n and result.waiting == 0
    return per_answer, replay


def run(n_answers: int, repeats: int) -> dict[str, float]:
    from engine.data import load_items

    items = list(load_items("gsm8k", str(GSM8K_TEST)).items)
    rowwise, bulk, append, replay = [], [], [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            rowwise.append(_rowwise_items(Path(tmp) / "a.duckdb", items))
            bulk.append(_bulk_items(Path(tmp) / "b.duckdb", items))
            a, r = _journal(Path(tmp) / "c.duckdb", n_answers)
            append.append(a)
            replay.append(r)
    return {"items": len(items), "answers": n_answers, "rowwise_s": median(rowwise),
            "bulk_s": median(bulk), "append_ms": 1000 * median(append),
            "replay_s": median(replay)}


def report(r: dict[str, float]) -> str:
    rows = [
        [f"{r['items']:.0f} GSM8K items, row by row (before)", f"{r['rowwise_s']:.2f} s"],
        [f"{r['items']:.0f} GSM8K items, one Arrow insert (now)", f"{r['bulk_s']:.3f} s"],
        ["journal append + fsync, per answer", f"{r['append_ms']:.2f} ms"],
        [f"replay of {r['answers']:.0f} answers (lock held)", f"{r['replay_s']:.3f} s"],
    ]
    return table(["operation", "result"], rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--answers", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    print(header("Journal and write lock"))
    print(report(run(args.answers, args.repeats)))


if __name__ == "__main__":
    main()
