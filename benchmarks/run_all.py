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
    app_speed,
    batched,
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
    "startup", "store", "tokens", "prefix", "side_by_side", "app_speed", "headless", "batched",
    "served", "lm_eval_compare",
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
    if name == "app_speed":
        r = app_speed.run(rounds=1 if quick else 2, max_tokens=64 if quick else 160)
        return r, app_speed.report(r)
    if name == "batched":
        r = batched.run(ntg=32 if quick else 128, rounds=1 if quick else 2, build=build)
        return r, batched.report(r)
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
    """One table: each measure, what it is compared with, the ratio, the goal, met or not."""
    rows: list[list[Any]] = []

    def row(measure: str, value: str, anchor: str, ratio: float | str, goal: str,
            met: bool | str) -> None:
        shown = f"{ratio:.2f}" if isinstance(ratio, float) else ratio
        rows.append([measure, value, anchor, shown, goal,
                     _ok(met) if isinstance(met, bool) else met])

    if "tokens" in res:
        for role in ("instruct", "base"):
            r = res["tokens"].get(role)
            if r:
                v = r["ratio_engine_llama_bench"]
                row(f"decode tok/s, {r['model']}", f"{r['engine']:.1f}",
                    f"llama-bench tg128 {r['llama_bench_tg128']:.1f}", v, ">= 0.95", v >= 0.95)
    if "prefix" in res:
        for role in ("instruct", "base"):
            r = res["prefix"].get(role)
            if r:
                v = r["speedup"]
                row(f"8-shot prompt time with reuse, {r['model']}", f"{r['identical']} identical",
                    "the same prompts without reuse", v, ">= 4", v >= 4)
    if "side_by_side" in res:
        for q, r in res["side_by_side"].items():
            best = min((m for m in side_by_side.MODES if m != "sequential"),
                       key=lambda m: r[m]["ratio_vs_sequential"])
            row(f"pair wall time, {q}",
                ", ".join(f"{m} {r[m]['ratio_vs_sequential']:.2f}"
                          for m in side_by_side.MODES if m != "sequential"),
                "one answer after the other", r[best]["ratio_vs_sequential"],
                "< 1 (both streams move)", r[best]["ratio_vs_sequential"] < 1)
    if "app_speed" in res:
        r = res["app_speed"]
        pause = max(x["max_pause_ms"] for x in r["rows"])
        row(f"app tok/s ({r['via']})", f"max loop pause {pause:.0f} ms",
            "headless tok/s, same item and pair", r["ratio"], ">= 0.9", r["ratio"] >= 0.9)
    if "headless" in res:
        for r in res["headless"].values():
            row(f"headless items/min, {r['parallel_items']} in flight ({r['side_by_side']})",
                f"{r['items_per_min']:.1f} ({r['identical_to_1']} identical)", "1 in flight",
                r["speedup_vs_1"], "", "")
    if "batched" in res:
        for x in res["batched"]["rows"]:
            if x["n"] == 1:
                continue
            row(f"batched decode tok/s, {x['n']} sequences, {x['model']}",
                f"{x['tunelens']:.0f} ({x['differ']}/{x['n']} answers differ)",
                f"llama-batched-bench {x['llama']:.0f}", x["ratio"], ">= 0.8",
                x["ratio"] >= 0.8)
    if "served" in res:
        r = res["served"]
        row(f"served items/min, llama-server 4 slots, {r['model']}", "",
            "in-process, 1 at a time", r["ratio_4_slots"], f">= {served.GOAL:.0f}",
            bool(r["goal_met"]))
    if "lm_eval_compare" in res:
        r = res["lm_eval_compare"]
        if "error" in r:
            row("tunelens vs lm-eval on one llama-server", "not run", "lm-eval", "", "", r["error"])
        else:
            tl, le = r["tunelens"], r["lm_eval"]
            row(f"wall s, {r['items']} GSM8K items", f"{tl['wall_s']:.0f} s, "
                f"accuracy {tl['accuracy']:.0%}", f"lm-eval {le['wall_s']:.0f} s, "
                f"{le['strict']:.0%} strict", tl["wall_s"] / le["wall_s"], "<= 1",
                tl["wall_s"] <= le["wall_s"])
    if "store" in res:
        s = res["store"]
        row("store insert, 32 rows per call", f"{s['insert_rows_per_s_batch_32']:.0f} rows/s",
            "", "", "", "")
        row(f"run summary over {s['rows'] // 4:,} rows", f"{s['summary_one_run_s']:.3f} s",
            "1 s", s["summary_one_run_s"], "< 1", s["summary_one_run_s"] < 1)
        row(f"accuracy report SQL over {s['rows']:,} rows", f"{s['accuracy_all_runs_s']:.3f} s",
            "1 s", s["accuracy_all_runs_s"], "< 1", s["accuracy_all_runs_s"] < 1)
        br = s["build_report_s"]
        row(f"build_report over {s['rows']:,} rows", "stopped" if br is None else f"{br:.2f} s",
            "1 s", br if br is not None else "", "< 1", br is not None and br < 1)
    if "startup" in res:
        t = res["startup"]["times"]["tunelens --help"]
        row("tunelens --help", f"{t:.3f} s", "0.3 s", t / 0.3, "< 1", t < 0.3)
        q = res["startup"]["times"]["tunelens query 'SELECT 42'"]
        heavy = res["startup"]["imports"]["tunelens query 'SELECT 42'"]
        row("tunelens query", f"{q:.3f} s", "", "", "no llama.cpp/Textual/datasets", not heavy)
    if "gpu" in res:
        for x in res["gpu"]:
            row(x["measure"], x["value"], x.get("anchor", ""), x.get("ratio", ""),
                x.get("goal", ""), x.get("met", ""))
    return table(["measure", "tunelens", "anchor", "ratio", "goal", "met"], rows)


def gpu_rows(store: Path) -> list[dict[str, Any]]:
    """Decode rates per model and backend from the gpu-check store (GPU against CPU offload)."""
    import duckdb

    con = duckdb.connect(str(store), read_only=True)
    try:
        got = con.execute("""
            SELECT g.role, json_extract_string(m.settings, '$.backend') AS backend,
                   median(g.tokens_per_s)
            FROM generations g JOIN run_models m USING (run_id, role)
            GROUP BY ALL ORDER BY ALL""").fetchall()
    finally:
        con.close()
    rates = {(role, backend): rate for role, backend, rate in got}
    rows = []
    for (role, backend), rate in rates.items():
        cpu = rates.get((role, "CPU")) or rates.get((role, "cpu"))
        ratio = rate / cpu if cpu and backend.lower() != "cpu" else ""
        rows.append({"measure": f"GPU check decode tok/s, {role}, {backend}",
                     "value": f"{rate:.1f}", "anchor": f"CPU {cpu:.1f}" if cpu else "",
                     "ratio": ratio, "goal": "", "met": ""})
    return rows


def _ok(flag: bool) -> str:
    return "yes" if flag else "NO"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer rounds and items (a smoke run)")
    p.add_argument("--only", help=f"comma-separated subset of {','.join(ALL)}")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS")
    p.add_argument("--out", metavar="PATH", help="also write the tables (Markdown) and JSON")
    p.add_argument("--no-build", action="store_true", help="do not build llama-bench")
    p.add_argument("--gpu-store", metavar="PATH",
                   help="the store scripts/gpu-check.sh wrote on a GPU machine: adds its rows")
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
    if args.gpu_store:
        results["gpu"] = gpu_rows(Path(args.gpu_store))
    block = "### ratios and goals\n\n" + summary(results) + "\n"
    parts.append(block)
    print(block)
    if args.out:
        out = Path(args.out)
        out.write_text("\n".join(parts))
        out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
