"""Engine generation speed against llama.cpp's own `llama-bench` (tg128), same model and threads.

    python -m benchmarks.tokens [--rounds 3] [--build]

Per round and model: llama-bench `-p 0 -n 128 -t THREADS --repack 0` (llama.cpp decoding 128
tokens from an empty context, no sampling), then the engine (`Model.generate`, greedy, 128 tokens
after a 4-token prompt: tokenising, argmax, stop checks, UTF-8 streaming), a bare
llama_decode+argmax loop in the same context, and llama-cpp-python's own `create_completion`.
They alternate within the round, so load changes hit all of them; each ratio is the median of
per-round ratios. engine/raw is tunelens' own cost; raw/bench is what separates a Python process
calling llama_decode from llama-bench (the same library, its own thread pool and timing).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, THREADS, demo_models, header, median, table

PROMPT = "Once upon a time"
N_GEN = 128
BUILD_SCRIPT = REPO / "benchmarks" / "build_llama_bench.sh"


def bench_dir(build: bool) -> Path | None:
    """Where llama-bench lives; builds it (minutes) when asked and missing."""
    env = os.environ.get("TUNELENS_BENCH_BIN")
    default = Path(env or Path.home() / ".cache" / "tunelens" / "bench" / "llama-cpp-0.3.36")
    if (default / "llama-bench").is_file():
        return default
    if not build:
        return None
    out = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(out.stderr[-2000:])
        return None
    path = Path(out.stdout.strip().splitlines()[-1])
    return path if (path / "llama-bench").is_file() else None


def llama_bench_tg(binary: Path, model: Path, threads: int, reps: int = 3) -> float:
    """llama-bench's tg128 tokens/s (mean of `reps` repetitions after its warm-up)."""
    cmd = [
        str(binary), "-m", str(model), "-p", "0", "-n", str(N_GEN), "-t", str(threads),
        "-r", str(reps), "--repack", "0", "-fa", "0", "-o", "json",
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    rows = json.loads(out.stdout)
    return float(rows[0]["avg_ts"])


def engine_tg(model: Any) -> tuple[float, int]:
    """Decode rate of Model.generate: tokens after the first / time after the first."""
    from engine.records import Decoding

    model.llm.reset()
    g = model.generate(PROMPT, Decoding(max_tokens=N_GEN + 1))
    return g.tokens_per_s, g.tokens


def raw_tg(model: Any) -> float:
    """llama_decode + argmax in a bare Python loop, same context: what the engine adds nothing to.

    Compared in-process, so it is steadier than the cross-process comparison with llama-bench:
    engine / raw isolates tunelens' own per-token cost (text, stop checks, bookkeeping).
    """
    import llama_cpp
    import numpy as np

    llm = model.llm
    llm.reset()
    llm.eval(model.tokenize(PROMPT))
    ctx, n_vocab, pos = llm.ctx, llm.n_vocab(), llm.n_tokens
    batch = llama_cpp.llama_batch_init(1, 0, 1)
    try:
        token = int(np.argmax(np.ctypeslib.as_array(
            llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))))  # fmt: skip
        t0 = time.perf_counter()
        for k in range(N_GEN):
            batch.token[0], batch.pos[0], batch.n_seq_id[0] = token, pos + k, 1
            batch.seq_id[0][0], batch.logits[0], batch.n_tokens = 0, True, 1
            if llama_cpp.llama_decode(ctx, batch) != 0:
                raise RuntimeError("llama_decode failed")
            token = int(np.argmax(np.ctypeslib.as_array(
                llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))))  # fmt: skip
        rate = N_GEN / (time.perf_counter() - t0)
    finally:
        llama_cpp.llama_batch_free(batch)
        llm.reset()  # the wrapper's record of the context no longer matches it
    return rate


def completion_tg(model: Any) -> float:
    """llama-cpp-python's create_completion (streamed), same measure: after the first token."""
    llm = model.llm
    llm.reset()
    t_first = None
    n = 0
    for _chunk in llm.create_completion(PROMPT, max_tokens=N_GEN + 1, temperature=0.0, stream=True):
        n += 1
        if t_first is None:
            t_first = time.perf_counter()
    t_end = time.perf_counter()
    return (n - 1) / (t_end - t_first) if t_first and n > 1 else float("nan")


def run(rounds: int = 3, build: bool = False) -> dict[str, Any]:
    bdir = bench_dir(build)
    models = demo_models()
    results: dict[str, Any] = {}
    for role, model in models.items():
        name = model.info.name
        engine_tg(model)  # warm-up: page the weights in
        lb, en, cc, rw, ratios, n_tok = [], [], [], [], [], 0
        for _ in range(rounds):
            lb_r = (
                llama_bench_tg(bdir / "llama-bench", Path(model.info.path), THREADS)
                if bdir
                else float("nan")
            )
            en_r, n_tok = engine_tg(model)
            rw_r = raw_tg(model)
            cc_r = completion_tg(model)
            lb.append(lb_r)
            en.append(en_r)
            rw.append(rw_r)
            cc.append(cc_r)
            ratios.append(en_r / lb_r)
        results[role] = {
            "model": name,
            "llama_bench_tg128": median(lb),
            "engine": median(en),
            "create_completion": median(cc),
            "raw_decode": median(rw),
            "ratio_engine_raw": median(e / r for e, r in zip(en, rw, strict=True)),
            "ratio_raw_llama_bench": median(r / b for r, b in zip(rw, lb, strict=True)),
            "engine_tokens": n_tok,
            "ratio_engine_llama_bench": median(ratios),
            "ratio_completion_llama_bench": median(c / b for c, b in zip(cc, lb, strict=True)),
            "rounds": {"llama_bench": lb, "engine": en, "raw": rw, "create_completion": cc},
        }
    for m in models.values():
        m.close()
    results["llama_bench_found"] = bdir is not None
    return results


def report(results: dict[str, Any]) -> str:
    rows = []
    for role in ("instruct", "base"):
        r = results.get(role)
        if not r:
            continue
        rows.append([
            r["model"], r["llama_bench_tg128"], r["raw_decode"], r["create_completion"],
            r["engine"], r["ratio_raw_llama_bench"], r["ratio_completion_llama_bench"],
            r["ratio_engine_raw"], r["ratio_engine_llama_bench"],
        ])  # fmt: skip
    text = table(
        ["model", "llama-bench tg128", "raw decode loop", "create_completion", "engine",
         "raw/bench", "completion/bench", "engine/raw", "engine/bench"],
        rows,
    )  # fmt: skip
    if not results.get("llama_bench_found"):
        text += "\n(llama-bench not built: run `bash benchmarks/build_llama_bench.sh` or --build)"
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--build", action="store_true", help="build llama-bench if it is missing")
    args = p.parse_args()
    print(header("Generation tokens/s: engine vs llama-bench"))
    print(report(run(args.rounds, args.build)))


if __name__ == "__main__":
    main()
