"""Headless throughput: items per minute with 1, 2, 4 answers per model in one llama.cpp batch.

    python -m benchmarks.headless [--items 8] [--configs 1:split,4:split,...] [--rounds 1]

A real `Runner` run (both models, 8-shot CoT GSM8K, greedy, recorded into a temporary store)
per configuration `parallel_items:side_by_side`; configurations rotate order between rounds.
Items per minute counts items answered by both models. Every configuration's answers are compared
with the one-at-a-time run's (parallel_items 1): llama.cpp may compute a batch of several
sequences with other kernels than one, so a near-tie can flip a greedy token on a real model.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    FEWSHOT_SEED,
    GSM8K_TEST,
    GSM8K_TRAIN,
    REPO,
    demo_models,
    header,
    median,
    table,
)

DEFAULT_CONFIGS = "1:split,1:parallel,1:alternate,2:split,4:split"


def one_run(
    models: dict[str, Any], n_items: int, parallel: int, mode: str, max_tokens: int, db: Path
) -> tuple[float, dict[tuple[str, str], str], int]:
    from engine.records import Decoding
    from engine.run.config import RunConfig
    from engine.run.prepare import prepare_run
    from engine.store.store import Store

    config = RunConfig(
        pair="demo",
        dataset="gsm8k",
        data_file=str(GSM8K_TEST),
        train_file=str(GSM8K_TRAIN),
        limit=n_items,
        modes=("few-shot-cot",),
        shots=8,
        decoding=Decoding(max_tokens=max_tokens),
        models_file=str(REPO / "models.toml"),
        fewshot_seed=FEWSHOT_SEED,
        parallel_items=parallel,
        side_by_side=mode,
    )
    store = Store(db)
    runner = prepare_run(config, store, models=models).runner()
    for m in models.values():
        m.llm.reset()  # every configuration starts from an empty cache
    plan = runner.start(resume=False)
    t0 = time.perf_counter()
    tokens = 0
    for p in runner.execute(plan):
        tokens += p.answer.generation.tokens
    wall = time.perf_counter() - t0
    rows = store.query("SELECT item_id, role, output FROM generations").rows
    return wall, {(r[0], r[1]): r[2] for r in rows}, tokens


def run(
    n_items: int = 8, configs: str = DEFAULT_CONFIGS, rounds: int = 1, max_tokens: int = 128
) -> dict[str, Any]:
    parsed = [(int(c.split(":")[0]), c.split(":")[1]) for c in configs.split(",")]
    if (1, "split") not in parsed:
        parsed.insert(0, (1, "split"))  # the reference for agreement
    models = demo_models(threads=0)  # share_cpu decides threads from the mode
    walls: dict[tuple[int, str], list[float]] = {c: [] for c in parsed}
    toks: dict[tuple[int, str], list[float]] = {c: [] for c in parsed}
    outputs: dict[tuple[int, str], dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(rounds):
            order = parsed[k % len(parsed) :] + parsed[: k % len(parsed)]
            for c in order:
                db = Path(tmp) / f"r{k}-{c[0]}-{c[1]}.duckdb"
                wall, out, n_tok = one_run(models, n_items, c[0], c[1], max_tokens, db)
                walls[c].append(wall)
                toks[c].append(n_tok / wall)
                outputs[c] = out
    ref = outputs[(1, "split")]
    base_wall = median(walls[(1, "split")])
    results = {}
    for c in parsed:
        same = sum(outputs[c].get(k) == v for k, v in ref.items())
        results[f"{c[0]}:{c[1]}"] = {
            "parallel_items": c[0],
            "side_by_side": c[1],
            "wall_s": median(walls[c]),
            "items_per_min": n_items / (median(walls[c]) / 60),
            "tokens_per_s": median(toks[c]),
            "speedup_vs_1": base_wall / median(walls[c]),
            "identical_to_1": f"{same}/{len(ref)}",
            "rounds": walls[c],
        }
    for m in models.values():
        m.close()
    return results


def report(results: dict[str, Any]) -> str:
    rows = [
        [r["parallel_items"], r["side_by_side"], r["wall_s"], r["items_per_min"],
         r["tokens_per_s"], r["identical_to_1"], r["speedup_vs_1"]]
        for r in results.values()
    ]  # fmt: skip
    return table(
        ["parallel items", "side by side", "wall s", "items/min", "tokens/s (both models)",
         "answers = 1 at a time", "items/min vs 1"],
        rows,
    )  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=8)
    p.add_argument("--configs", default=DEFAULT_CONFIGS)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--max-tokens", type=int, default=128)
    args = p.parse_args()
    print(header("Headless throughput, 8-shot CoT GSM8K, both models"))
    print(report(run(args.items, args.configs, args.rounds, args.max_tokens)))


if __name__ == "__main__":
    main()
