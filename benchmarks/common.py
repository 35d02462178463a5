"""Shared pieces of the benchmarks: the demo pair at a fixed thread count, the machine, tables.

Every benchmark measures the engine against something in the same run (llama-bench, the other
setting of a lever) and interleaves the two, because the machines these run on are shared and
their speed drifts by 15-30% within minutes; the ratios are what to quote, not the absolute rates.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GSM8K_TEST = SHARED / "datasets" / "gsm8k" / "test.jsonl"
GSM8K_TRAIN = SHARED / "datasets" / "gsm8k" / "train.jsonl"
THREADS = int(os.environ.get("TUNELENS_BENCH_THREADS", "2"))
FEWSHOT_SEED = 1234


def demo_models(threads: int = THREADS, roles: Sequence[str] = ("base", "instruct")) -> dict:
    """The demo pair (gemma-3-270m base, SmolLM2-135M-Instruct), each with `threads` threads.

    Loaded through engine.inference.llama.Model (use_extra_bufts off: the AMX crash) (as the app).
    """
    from engine.inference.config import load_config
    from engine.inference.llama import Model
    from engine.inference.sources import resolve

    cfg = load_config(REPO / "models.toml")
    pair = cfg.pair("demo")
    out = {}
    for role in roles:
        spec = pair.base if role == "base" else pair.instruct
        spec = replace(spec, settings=replace(spec.settings, threads=threads))
        out[role] = Model(resolve(spec))
    return out


def fewshot_exemplars(shots: int = 8) -> list[Any]:
    from engine.data import load_exemplars

    return load_exemplars("gsm8k", shots, FEWSHOT_SEED, train_file=str(GSM8K_TRAIN))


def gsm8k_items(n: int) -> list[Any]:
    from engine.data import load_items

    return list(load_items("gsm8k", str(GSM8K_TEST), limit=n).items)


def machine() -> dict[str, Any]:
    """What the figures were measured on, and how busy it was."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        commit += " (+ uncommitted changes)" if dirty else ""
    except (OSError, subprocess.SubprocessError):
        commit = "?"
    try:
        import llama_cpp

        llama = llama_cpp.__version__
    except ImportError:
        llama = "?"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": THREADS,
        "load_1min": round(os.getloadavg()[0], 2),
        "python": sys.version.split()[0],
        "llama_cpp_python": llama,
        "commit": commit,
    }


def load_now() -> float:
    return round(os.getloadavg()[0], 2)


def wait_quiet(max_load: float = 1.0, timeout_s: float = 0.0) -> float:
    """Wait (up to `timeout_s`) for the 1-minute load to drop below `max_load`; returns the load."""
    deadline = time.monotonic() + timeout_s
    load = load_now()
    while load >= max_load and time.monotonic() < deadline:
        time.sleep(10)
        load = load_now()
    return load


def median(values: Iterable[float]) -> float:
    vals = [v for v in values if v == v]  # drop NaN
    return statistics.median(vals) if vals else float("nan")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A small Markdown table (also readable as plain text)."""
    cells = [[_fmt(c) for c in r] for r in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for r in cells:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:
            return "-"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def header(title: str) -> str:
    m = machine()
    return (
        f"## {title}\n\n{m['date']} · {m['cpu']} · {m['cores']} cores · {m['threads']} threads · "
        f"load {m['load_1min']} · llama-cpp-python {m['llama_cpp_python']} · "
        f"commit {m['commit']}\n"
    )
