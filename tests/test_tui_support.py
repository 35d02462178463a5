"""Shared fixtures for the app and browse tests (no tests here).

`fill_store` writes a small, fully deterministic store: two runs, base and instruct answers on
original and perturbed items, with known flips, so the Runs and SQL screens and their snapshots
have fixed content. `tiny_models_file` points a models.toml at the tiny generated GGUF pair.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from engine.records import Item
from engine.run.session import Session
from engine.store.store import GENERATION_COLUMNS, Store

T0 = datetime(2026, 1, 2, 10, 0, 0)


async def wait_for(pilot: Pilot[Any], cond: Callable[[], bool], timeout: float = 30.0) -> None:
    """Let the app run until `cond` holds (workers finish off the event loop)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


class NoModels(Session):
    """A session that never loads models: these tests are about reading the store."""

    def load_model(self, role: Any, on_status: Any = None) -> Any:
        raise RuntimeError("models are not loaded in this test")

ITEMS = [
    Item("embedded", "apples-1", "Ann has 3 apples and buys 4 more. How many apples does she have?",
         "7"),
    Item("embedded", "pens-2", "Bob has 10 pens and gives away 4. How many pens are left?", "6"),
    Item("embedded", "apples-1~numbers", "Ann has 5 apples and buys 4 more. How many apples does "
         "she have?", "9", original_id="apples-1", perturbation="numbers", perturbation_seed=0),
]

# (run, item, role, mode, output, extracted, correct)
ANSWERS: list[tuple[str, str, str, str, str, str | None, bool]] = [
    ("run-a", "apples-1", "base", "zero-shot-cot",
     "Ann starts with 3 and buys 4, so 3 + 4 = 7. The answer is 7.", "7", True),
    ("run-a", "apples-1", "instruct", "zero-shot-cot",
     "She has 3 + 4 = **8** apples. The answer is 8.", "8", False),
    ("run-a", "pens-2", "base", "zero-shot-cot",
     "10 - 4 = 6. The answer is 6.", "6", True),
    ("run-a", "pens-2", "instruct", "zero-shot-cot",
     "Bob gave away 4 of 10, leaving 6. The answer is 6.", "6", True),
    ("run-a", "apples-1~numbers", "base", "zero-shot-cot",
     "5 + 4 = 10. The answer is 10.", "10", False),
    ("run-a", "apples-1~numbers", "instruct", "zero-shot-cot",
     "5 + 4 = 9. The answer is 9.", "9", True),
    ("run-b", "apples-1", "base", "zero-shot",
     " 7\n", "7", True),
    ("run-b", "apples-1", "instruct", "zero-shot",
     "The answer is 7.", "7", True),
]


def generation_row(
    run_id: str, item: Item, role: str, mode: str, output: str, extracted: str | None,
    correct: bool, created_at: datetime, index: int,
) -> dict[str, Any]:
    """A full `generations` row as the engine writes it, with fixed timings."""
    row: dict[str, Any] = dict.fromkeys(GENERATION_COLUMNS)
    row.update(
        generation_id=f"g{index:03d}-{run_id}-{role}", run_id=run_id, dataset=item.dataset,
        item_id=item.item_id, original_id=item.original_id, perturbation=item.perturbation,
        role=role, model_name=f"tiny-{role}", model_sha256="0" * 64, mode=mode, shots=0,
        chat_template=role == "instruct", strategy="greedy", sample_index=0,
        prompt=f"Q: {item.question}\nA:", prompt_tokens=20, output=output,
        output_token_ids=[1, 2, 3], extracted=extracted, correct=correct, grader="gsm8k",
        grader_rule="answer-is", tokens=12 + index, ttft_s=0.05 + index / 100, gen_time_s=0.5,
        tokens_per_s=40.0 + index, finish_reason="stop", seed=0, temperature=0.0, top_p=1.0,
        top_k=0, max_tokens=64, decoding=json.dumps({"strategy": "greedy"}), score=None,
        llama_cpp_version="llama-cpp-python 0.3.36", created_at=created_at,
    )
    return row


def fill_store(path: Path) -> Store:
    """A store with runs run-a (zero-shot-cot, with a variant) and run-b (zero-shot)."""
    store = Store(path)
    by_id = {i.item_id: i for i in ITEMS}
    for n, run_id in enumerate(("run-a", "run-b")):
        store.start_run({
            "run_id": run_id, "config_hash": f"hash-{run_id}", "kind": "app" if n else "headless",
            "pair": "tiny", "dataset": "embedded", "data_file": None,
            "modes": ["zero-shot-cot"] if n == 0 else ["zero-shot"], "perturbations": [],
            "strategy": "greedy", "config": {}, "tunelens_version": "0.1.0", "git_commit": None,
            "llama_cpp_version": "llama-cpp-python 0.3.36", "system_info": "", "host": "test",
            "n_planned": None, "started_at": T0 + timedelta(hours=n), "status": "completed",
        })
    store.record_items(ITEMS)
    rows = [
        generation_row(run, by_id[item], role, mode, out, ext, ok,
                       T0 + timedelta(minutes=i), i)
        for i, (run, item, role, mode, out, ext, ok) in enumerate(ANSWERS)
    ]
    store.insert_generations(rows)
    return store


def wide_store(path: Path, n: int) -> Store:
    """A store with `n` answers, to check that big results stay responsive."""
    store = Store(path)
    store.record_items([ITEMS[0]])
    with store.connect() as con:
        con.execute(
            """
            INSERT INTO generations (generation_id, run_id, dataset, item_id, role, mode, strategy,
                                     sample_index, output, extracted, correct, tokens, created_at)
            SELECT 'big-' || i, 'run-big', 'embedded', 'apples-1',
                   CASE WHEN i % 2 = 0 THEN 'base' ELSE 'instruct' END, 'zero-shot', 'greedy',
                   i, 'out ' || i, (i % 10)::VARCHAR, i % 3 = 0, 10 + i % 50,
                   TIMESTAMP '2026-01-02 10:00:00' + to_seconds(i)
            FROM range(?) t(i)
            """,
            [n],
        )
    return store


def tiny_models_file(tmp_dir: Path) -> Path:
    """A models.toml with one pair, `tiny`, made of the generated GGUF models."""
    from tinygguf import tiny_pair

    base, instruct = tiny_pair(tmp_dir)
    toml = tmp_dir / "models.toml"
    toml.write_text(
        "[engine]\nn_ctx = 1024\nthreads = 2\n\n"
        f'[models.tiny-base]\npath = "{base}"\ndescription = "tiny base"\n\n'
        f'[models.tiny-instruct]\npath = "{instruct}"\ndescription = "tiny instruct"\n\n'
        '[pairs.tiny]\nbase = "tiny-base"\ninstruct = "tiny-instruct"\n',
        encoding="utf-8",
    )
    return toml
