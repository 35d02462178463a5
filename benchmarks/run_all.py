"""Every benchmark in one command (`make bench`), ending in the ratios issue #6 asks for.

    python -m benchmarks.run_all [--quick] [--only tokens,prefix,...] [--wait-quiet 600]
                                 [--out results.md] [--no-build]

Order: start-up and store first (no models), then the model benchmarks. Each prints its table as
it finishes; the last table gathers the ratios with their goals. --wait-quiet waits (up to the
given seconds) before each model benchmark for the 1-minute load to fall below 1.0, and each
table records the load it ran under. llama-bench is built on first use (see
benchmarks/build_llama_bench.sh) unless --no-build.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import (
    headless,
    lm_eval_compare,
    prefix,
    served,
    side_by_side,
    startup,
    store,
    tokens,
)
from benchmarks.common import header, load_now, machine, table, wait_quiet

ALL = (
    "startup", "store", "tokens", "prefix", "side_by_side", "headless", "served", "lm_eval_compare",
)  # fmt: skip


def _run(name: str, quick: bool, build: bool) -> tuple[dict[str, Any], str]:
    if name == "startup":
        r = startup.run(repeat=5 if quick else 10)
        return r, startup.report(r)
    if name == "store":
        r = store.run(n_rows=200_000 if quick else 1_000_000, insert_rows=1000 if quick else 4000)
        return r, store.report(r)
    if name == "tokens":
        r = tokens.run(rounds=1 if quick else 5, build=build)
        return r, tokens.report(r)
    if name == "prefix":
        r = prefix.run(n_items=3 if quick else 6, check_tokens=48 if quick else 96)
        return r, prefix.report(r)
    if name == "side_by_side":
        r = side_by_side.run(rounds=1 if quick else 5, max_tokens=64 if quick else 128)
        return r, side_by_side.report(r)
    if name == "headless":
        r = headless.run(n_items=4 if quick else 8, rounds=1, max_tokens=64 if quick else 128)
        return r, headless.report(r)
    if name == "served":
        r = served.run(n_items=4 if quick else 16, max_tokens=64 if quick else 128)
        return r, served.report(r)
    if name == "lm_eval_compare":
        try:
            r = lm_eval_compare.run(n_items=5 if quick else 20, max_tokens=64 if quick else 256)
        except lm_eval_compare.LmEvalUnavailable as exc:
            return {"error": str(exc)}, f"not run: {exc}"
        return r, lm_eval_compare.report(r)
    raise ValueError(name)


def summary(res: dict[str, Any]) -> str:
    rows: list[list[Any]] = []
    if "tokens" in res:
        for role in ("instruct", "base"):
            r = res["tokens"].get(role)
            if r:
                v = r["ratio_engine_llama_bench"]
                rows.append([f"engine / llama-bench tg128, {r['model']}",
                             f"{v:.2f} (engine / raw decode loop {r['ratio_engine_raw']:.2f})",
                             ">= 0.95", _ok(v >= 0.95)])  # fmt: skip
    if "prefix" in res:
        for role in ("instruct", "base"):
            r = res["prefix"].get(role)
            if r:
                v = r["speedup"]
                rows.append([f"8-shot prompt time without / with reuse, {r['model']}",
                             f"{v:.1f}x ({r['identical']} identical)", ">= 4x",
                             _ok(v >= 4)])  # fmt: skip
    if "side_by_side" in res:
        for q, r in res["side_by_side"].items():
            best = min(
                (m for m in side_by_side.MODES if m != "sequential"),
                key=lambda m: r[m]["ratio_vs_sequential"],
            )
            rows.append([f"pair wall / sequential, {q}",
                         ", ".join(f"{m} {r[m]['ratio_vs_sequential']:.2f}"
                                   for m in side_by_side.MODES if m != "sequential"),
                         "< 1 (both streams move)", f"fastest: {best}"])  # fmt: skip
    if "headless" in res:
        for r in res["headless"].values():
            label = f"headless items/min, {r['parallel_items']} in flight ({r['side_by_side']})"
            rows.append([label, f"{r['items_per_min']:.1f} ({r['speedup_vs_1']:.2f}x)",
                         "more than 1 in flight", r["identical_to_1"] + " identical"])  # fmt: skip
    if "served" in res:
        r = res["served"]
        rows.append([f"served items/min, llama-server 4 slots / in-process 1 at a time, "
                     f"{r['model']}", f"{r['ratio_4_slots']:.2f}x", f">= {served.GOAL:.0f}x",
                     _ok(r["goal_met"])])  # fmt: skip
    if "lm_eval_compare" in res:
        r = res["lm_eval_compare"]
        if "error" in r:
            rows.append(["tunelens vs lm-eval on one llama-server", "not run", "", r["error"]])
        else:
            tl, le = r["tunelens"], r["lm_eval"]
            rows.append([f"wall s tunelens / lm-eval, {r['items']} GSM8K items",
                         f"{tl['wall_s']:.0f} / {le['wall_s']:.0f} s", "",
                         f"accuracy {tl['accuracy']:.0%} / {le['strict']:.0%} strict, "
                         f"{le['flexible']:.0%} flexible"])  # fmt: skip
    if "store" in res:
        s = res["store"]
        rows.append(["store insert, 32 rows per call", f"{s['insert_rows_per_s_batch_32']:.0f}/s",
                     "", ""])  # fmt: skip
        rows.append([f"run summary over {s['rows'] // 4:,} rows", f"{s['summary_one_run_s']:.3f} s",
                     "< 1 s", _ok(s["summary_one_run_s"] < 1)])  # fmt: skip
        rows.append([f"accuracy report SQL over {s['rows']:,} rows",
                     f"{s['accuracy_all_runs_s']:.3f} s", "< 1 s",
                     _ok(s["accuracy_all_runs_s"] < 1)])  # fmt: skip
        br = s["build_report_s"]
        rows.append([f"engine.analysis.report.build_report over {s['rows']:,} rows",
                     "stopped" if br is None else f"{br:.1f} s", "< 1 s",
                     _ok(br is not None and br < 1)])  # fmt: skip
    if "startup" in res:
        t = res["startup"]["times"]["tunelens --help"]
        rows.append(["tunelens --help", f"{t:.3f} s", "< 0.3 s", _ok(t < 0.3)])
        q = res["startup"]["times"]["tunelens query 'SELECT 42'"]
        rows.append(["tunelens query", f"{q:.3f} s", "no llama.cpp/Textual/datasets",
                     _ok(not res["startup"]["imports"]["tunelens query 'SELECT 42'"])])  # fmt: skip
    return table(["measure", "value", "goal", "met"], rows)


def _ok(flag: bool) -> str:
    return "yes" if flag else "NO"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer rounds and items (a smoke run)")
    p.add_argument("--only", help=f"comma-separated subset of {','.join(ALL)}")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS")
    p.add_argument("--out", metavar="PATH", help="also write the tables (Markdown) and JSON")
    p.add_argument("--no-build", action="store_true", help="do not build llama-bench")
    args = p.parse_args()
    names = [n.strip() for n in args.only.split(",")] if args.only else list(ALL)
    unknown = set(names) - set(ALL)
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    loads: dict[str, tuple[float, float]] = {}
    results: dict[str, Any] = {"machine": machine(), "load_1min": loads}
    parts = [header("tunelens benchmarks")]
    print(parts[0], flush=True)
    for name in names:
        if name not in ("startup", "store") and args.wait_quiet:
            wait_quiet(1.0, args.wait_quiet)
        t0 = time.perf_counter()
        load = load_now()
        r, text = _run(name, args.quick, not args.no_build)
        results[name] = r
        loads[name] = (load, load_now())
        block = (
            f"### {name}  ({time.perf_counter() - t0:.0f} s, 1-min load {load} -> "
            f"{loads[name][1]})\n\n{text}\n"
        )
        parts.append(block)
        print(block, flush=True)
    block = "### ratios and goals\n\n" + summary(results) + "\n"
    parts.append(block)
    print(block)
    if args.out:
        out = Path(args.out)
        out.write_text("\n".join(parts))
        out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
