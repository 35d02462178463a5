"""Batched decoding against llama.cpp's own `llama-batched-bench`, same models, threads and sizes.

    python -m benchmarks.batched [--npl 1,2,4,8] [--ntg 128] [--rounds 2] [--no-build]

For each demo model alone (THREADS threads), `llama-batched-bench -npp 128 -ntg NTG -npl ...`
gives llama.cpp's aggregate decode rate (S_TG: generated tokens of all sequences / decode time)
at each number of sequences. tunelens' `BatchedDecoder` gets the same job: N greedy answers of
NTG tokens each to different prompts of about 128 tokens, all in flight at once. Its decode rate
is N * (NTG - 1) / (the run's time minus the time of the same run with 1 token per answer, i.e.
the prompts). Both run in this process's turn, interleaved per round; ratios are tunelens /
llama.cpp. Also printed: how many greedy answers at N sequences differ from the same prompts
answered one at a time (llama.cpp's batched kernels round differently).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.common import THREADS, demo_models, header, median, table
from benchmarks.tokens import bench_dir

NPP = 128


def _prompts(model: Any, n: int) -> list[str]:
    """n different prompts of about NPP tokens that a model continues for a long time."""
    out = []
    for k in range(n):
        start = 17 + 97 * k
        numbers, text = start, ""
        while len(model.tokenize(text)) < NPP - 4:
            text += f"{numbers}, "
            numbers += 3
        out.append(text)
    return out


def llama_batched(binary: Path, model_path: str, npl: list[int], ntg: int) -> dict[int, float]:
    cmd = [
        str(binary), "-m", model_path, "-c", str(max(npl) * (NPP + ntg) + 64), "-b", "512",
        "-ub", "512", "-npp", str(NPP), "-ntg", str(ntg), "-npl", ",".join(map(str, npl)),
        "-t", str(THREADS), "-tb", str(THREADS), "--no-repack", "-fa", "off",
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=True).stdout
    rates: dict[int, float] = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 8 and all(re.fullmatch(r"[0-9.]+", c) for c in cells[:8]):
            rates[int(cells[2])] = float(cells[7])  # PP TG B N_KV T_PP S_PP T_TG S_TG ...
    return rates


def tunelens_batched(model: Any, n: int, ntg: int) -> tuple[float, list[str]]:
    from engine.inference.batched import BatchedDecoder, Request
    from engine.records import Decoding

    prompts = _prompts(model, n)
    with BatchedDecoder(model, n, n_ctx=n * (NPP + ntg) + 64) as dec:

        def timed(max_tokens: int) -> tuple[float, dict[int, str]]:
            reqs = [Request(p, Decoding(max_tokens=max_tokens), seed=0, tag=i)
                    for i, p in enumerate(prompts)]
            t0 = time.perf_counter()
            texts = {r.tag: g.text for r, g in dec.run(reqs)}
            return time.perf_counter() - t0, texts

        t_prompt, _ = timed(1)
        t_full, texts = timed(ntg)
    return n * (ntg - 1) / max(t_full - t_prompt, 1e-9), [texts[i] for i in range(n)]


def one_at_a_time(model: Any, n: int, ntg: int) -> list[str]:
    from engine.records import Decoding

    out = []
    for p in _prompts(model, n):
        model.llm.reset()
        out.append(model.generate(p, Decoding(max_tokens=ntg)).text)
    return out


def run(npl: tuple[int, ...] = (1, 2, 4, 8), ntg: int = 128, rounds: int = 2,
        build: bool = False) -> dict[str, Any]:
    bdir = bench_dir(build)
    binary = bdir / "llama-batched-bench" if bdir else None
    models = demo_models()
    rows = []
    for role, model in models.items():
        ref = one_at_a_time(model, max(npl), ntg)
        per: dict[int, dict[str, list[float]]] = {n: {"llama": [], "tunelens": []} for n in npl}
        differ: dict[int, int] = {}
        for _ in range(rounds):
            lb = llama_batched(binary, model.info.path, list(npl), ntg) if binary else {}
            for n in npl:
                rate, texts = tunelens_batched(model, n, ntg)
                per[n]["tunelens"].append(rate)
                per[n]["llama"].append(lb.get(n, float("nan")))
                differ[n] = sum(a != b for a, b in zip(texts, ref[:n], strict=True))
        for n in npl:
            lb, tl = median(per[n]["llama"]), median(per[n]["tunelens"])
            rows.append({"role": role, "model": model.info.name, "n": n, "llama": lb,
                         "tunelens": tl, "ratio": tl / lb if lb == lb and lb else float("nan"),
                         "differ": differ[n]})
    return {"ntg": ntg, "rows": rows}


def report(r: dict[str, Any]) -> str:
    out = [header(f"Batched decode vs llama-batched-bench (npp {NPP}, ntg {r['ntg']})")]
    out.append(table(
        ["model", "sequences", "llama-batched-bench S_TG tok/s", "tunelens tok/s",
         "tunelens / llama.cpp", "greedy answers != one at a time"],
        [[x["model"], x["n"], x["llama"], x["tunelens"], x["ratio"], f"{x['differ']}/{x['n']}"]
         for x in r["rows"]]))
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--npl", default="1,2,4,8")
    ap.add_argument("--ntg", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    npl = tuple(int(x) for x in a.npl.split(","))
    print(report(run(npl, a.ntg, a.rounds, build=not a.no_build)))


if __name__ == "__main__":
    main()
