"""Served throughput: headless items/min on llama-server with 1, 2, 4 slots vs in-process.

    python -m benchmarks.served [--items 16] [--max-tokens 128] [--slots 1,2,4]

One model, SmolLM2-135M-Instruct (the demo pair's instruct side, instruct role only: its chat
template, zero-shot CoT GSM8K, greedy). Each setting is a real `tunelens --headless` run in a
fresh store, timed by the run's span in the store (and the CLI end to end; the server's start-up
is in neither): per slot count, an in-process run one answer at a time (the reference, right
before: the machine's speed drifts, so only adjacent runs compare), then one llama-server
with that many slots (`--parallel N`, the same context per slot, `--concurrency N`, flash
attention off as in-process). Every setting runs on THREADS threads (2). Served answers are
compared item by item with the first in-process run's: a server decoding several slots in one
batch computes with other kernels than one sequence, so a near-tie can flip a greedy token.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import GSM8K_TEST, REPO, THREADS, header, load_now, median, table
from engine.inference.launch import LocalLlamaServer

ALIAS = "smollm2-135m-instruct"
CTX_PER_SLOT = 1024  # zero-shot CoT prompts are ~150 tokens; answers up to --max-tokens
GOAL = 2.0  # served items/min at 4 slots over in-process one at a time
TUNELENS = REPO / ".venv" / "bin" / "tunelens"


def model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF that models.toml's demo pair resolves to."""
    from engine.inference.config import load_config
    from engine.inference.sources import resolve

    spec = load_config(REPO / "models.toml").pair("demo").instruct
    return resolve(spec, verify=False).path


def bench_server(model: Path, slots: int, *, threads: int = THREADS,
                 ctx_per_slot: int = CTX_PER_SLOT, alias: str = ALIAS) -> LocalLlamaServer:
    """The engine's llama-server launcher with `slots` slots of `ctx_per_slot` tokens each (flash
    attention off: in-process models keep it off on a CPU, and the comparison wants the same
    kernels); use it as a context manager."""
    return LocalLlamaServer(model, parallel=slots, n_ctx=ctx_per_slot * slots, alias=alias,
                            threads=threads)


def models_toml(path: Path, model: Path, *, url: str | None = None, alias: str = ALIAS,
                ctx: int = CTX_PER_SLOT, role: str = "instruct") -> Path:  # fmt: skip
    """A models.toml whose pair `bench` has the model on `role` (served at `url`, or in-process)."""
    if url:
        source = f'server = {{ url = "{url}", model = "{alias}", kind = "llama-server" }}'
    else:
        source = f'path = "{model}"'
    other = "instruct" if role == "base" else "base"
    path.write_text(
        f"[engine]\nn_ctx = {ctx}\nthreads = {THREADS}\nextra_buffers = false\n\n"
        f'[models.m]\n{source}\n\n[models.unused]\npath = "{model}"\n\n'
        f'[pairs.bench]\n{role} = "m"\n{other} = "unused"\n'
    )
    return path


def headless(toml: Path, db: Path, n_items: int, max_tokens: int, *, role: str = "instruct",
             concurrency: int | None = None, data_file: Path = GSM8K_TEST,
             timeout_s: float = 1800) -> float:  # fmt: skip
    """One `tunelens --headless` run, zero-shot CoT GSM8K, greedy; its wall seconds."""
    cmd = [
        str(TUNELENS), "--headless", "--pair", "bench", "--models", str(toml),
        "--dataset", "gsm8k", "--data-file", str(data_file), "--limit", str(n_items),
        "--mode", "zero-shot-cot", "--max-tokens", str(max_tokens), "--db", str(db),
        "--role", role,
    ]  # fmt: skip
    if concurrency:
        cmd += ["--concurrency", str(concurrency)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=REPO)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        tail = (out.stderr or out.stdout)[-2000:]
        raise RuntimeError(f"tunelens exited {out.returncode}:\n{tail}")
    return wall


def answers(db: Path, role: str = "instruct") -> tuple[dict[str, dict[str, Any]], float]:
    """The run's answers by item, and its span (runs.started_at to ended_at: no CLI start-up)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT item_id, output, correct, tokens FROM generations WHERE role = ?", [role]
        ).fetchall()
        start, end = con.execute("SELECT min(started_at), max(ended_at) FROM runs").fetchone()
    finally:
        con.close()
    out = {r[0]: {"output": r[1], "correct": r[2], "tokens": r[3]} for r in rows}
    return out, (end - start).total_seconds()


def run(n_items: int = 16, max_tokens: int = 128, slots: tuple[int, ...] = (1, 2, 4),
        rounds: int = 1) -> dict:  # fmt: skip
    model = model_path()
    res: dict[str, Any] = {"model": model.name, "items": n_items, "max_tokens": max_tokens,
                           "threads": THREADS, "ctx_per_slot": CTX_PER_SLOT, "rounds": rounds,
                           "settings": {}}  # fmt: skip
    local_runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        local = models_toml(t / "local.toml", model)

        def in_process(tag: str) -> dict[str, Any]:
            db = t / f"{tag}.duckdb"
            load = load_now()
            cli = headless(local, db, n_items, max_tokens)
            got, wall = answers(db)
            run = {"wall_s": wall, "cli_s": cli, "answers": got, "load": load}
            local_runs.append(run)
            return run

        def on_server(n: int, tag: str) -> dict[str, Any]:
            with bench_server(model, n) as srv:
                toml = models_toml(t / f"{tag}.toml", model, url=srv.url)
                db = t / f"{tag}.duckdb"
                load = load_now()
                cli = headless(toml, db, n_items, max_tokens, concurrency=n)
            got, wall = answers(db)
            return {"wall_s": wall, "cli_s": cli, "answers": got, "load": load}

        for k in range(rounds):
            for n in slots:
                # Each served run next to its own in-process run (order alternating by round):
                # the machine's speed drifts 2-5x within minutes as others' jobs start and stop,
                # so only adjacent runs compare.
                if k % 2 == 0:
                    ip = in_process(f"in-process-{n}-{k}")
                    sv = on_server(n, f"served-{n}-{k}")
                else:
                    sv = on_server(n, f"served-{n}-{k}")
                    ip = in_process(f"in-process-{n}-{k}")
                name = f"llama-server {n} slot{'s' if n > 1 else ''}"
                st = res["settings"].setdefault(name, {"slots": n, "runs": []})
                st["runs"].append({**sv, "in_process_wall_s": ip["wall_s"],
                                   "ratio": ip["wall_s"] / sv["wall_s"]})  # fmt: skip
    ref = local_runs[0]["answers"]
    walls = [r["wall_s"] for r in local_runs]
    res["in_process"] = {
        "walls_s": walls, "wall_s": median(walls),
        "cli_s": median(r["cli_s"] for r in local_runs),
        "repeat_identical": ", ".join(_same(ref, r["answers"]) for r in local_runs[1:]) or "-",
        "answers": ref, "load": [r["load"] for r in local_runs],
    }  # fmt: skip
    for st in res["settings"].values():
        runs = st["runs"]
        st["answers"] = runs[0]["answers"]
        st["wall_s"] = median(r["wall_s"] for r in runs)
        st["cli_s"] = median(r["cli_s"] for r in runs)
        st["in_process_wall_s"] = median(r["in_process_wall_s"] for r in runs)
        st["ratio"] = median(r["ratio"] for r in runs)
        st["ratios"] = [r["ratio"] for r in runs]
        st["load"] = "/".join(str(r["load"]) for r in runs)
        st["items_per_min"] = len(st["answers"]) / (st["wall_s"] / 60)
        st["identical"] = _same(ref, st["answers"])
        st["differ"] = len(ref) - int(st["identical"].split("/")[0])
        st["correct"] = sum(bool(a["correct"]) for a in st["answers"].values())
        for r in runs:
            r.pop("answers")
    res["in_process"]["items_per_min"] = len(ref) / (res["in_process"]["wall_s"] / 60)
    res["in_process"]["correct"] = sum(bool(a["correct"]) for a in ref.values())
    four = next((s for s in res["settings"].values() if s["slots"] == 4), None)
    res["ratio_4_slots"] = four["ratio"] if four else float("nan")
    res["goal_met"] = bool(four and four["ratio"] >= GOAL)
    return res


def _same(ref: dict[str, dict[str, Any]], other: dict[str, dict[str, Any]]) -> str:
    same = sum(other.get(k, {}).get("output") == v["output"] for k, v in ref.items())
    return f"{same}/{len(ref)}"


def report(res: dict[str, Any]) -> str:
    ip = res["in_process"]
    walls = ", ".join(f"{w:.0f}" for w in ip["walls_s"])
    rows = [[f"in-process, 1 at a time (median of {walls} s)", len(ip["answers"]), ip["wall_s"],
             ip["cli_s"], ip["items_per_min"], "", 1.0, ip["correct"],
             f"(repeats: {ip['repeat_identical']} identical)",
             "/".join(str(x) for x in ip["load"])]]  # fmt: skip
    for name, s in res["settings"].items():
        each = ", ".join(f"{x:.2f}" for x in s["ratios"])
        ratio = s["ratio"] if len(s["ratios"]) == 1 else f"{s['ratio']:.2f} ({each})"
        rows.append([f"{name}, {s['slots']} in flight", len(s["answers"]), s["wall_s"],
                     s["cli_s"], s["items_per_min"], s["in_process_wall_s"], ratio,
                     s["correct"], f"{s['differ']} ({s['identical']} identical)",
                     s["load"]])  # fmt: skip
    headers = ["setting", "answers", "wall s (run)", "CLI s", "items/min",
               "in-process wall s next to it", "ratio vs in-process", "correct",
               "answers differing from in-process", "1-min load at start"]  # fmt: skip
    verdict = "met" if res["goal_met"] else "NOT met"
    rounds = "" if res["rounds"] == 1 else f" (median of {res['rounds']} rounds, each listed)"
    return (
        f"{res['model']}, instruct role (chat template), {res['items']} GSM8K test items, "
        f"zero-shot CoT, greedy, {res['max_tokens']} max tokens, {res['threads']} threads, "
        f"{res['ctx_per_slot']} context per slot. wall s (run): the run's span in the store "
        f"(runs.started_at to ended_at), what items/min uses; CLI s: the `tunelens --headless` "
        f"process end to end. Ratio: the in-process run next to it / this run{rounds}.\n\n"
        + table(headers, rows)
        + f"\n\nGoal >= {GOAL:.0f}x at 4 slots: {verdict} ({res['ratio_4_slots']:.2f}x).\n"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=16)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--slots", default="1,2,4", help="comma-separated slot counts")
    p.add_argument("--rounds", type=int, default=1, help="pairs per slot count, order alternating")
    args = p.parse_args()
    slots = tuple(int(s) for s in args.slots.split(","))
    print(header("Served throughput: llama-server slots vs in-process, SmolLM2-135M-Instruct"))
    print(report(run(args.items, args.max_tokens, slots, args.rounds)))


if __name__ == "__main__":
    main()
