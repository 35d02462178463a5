"""CLI start-up: `tunelens --help` and `tunelens query`, and which heavy modules they import.

    python -m benchmarks.startup [--repeat 10]

Wall time of the installed `tunelens` script (median of --repeat runs, after one warm-up) next to
a bare `python -c pass`, so what tunelens adds is visible; then `python -X importtime` lists
whether llama.cpp, Textual or `datasets` were imported (they must not be for these commands).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, header, median, table

HEAVY = ("llama_cpp", "textual", "datasets", "numpy", "scipy", "pyarrow", "matplotlib")


def _tunelens() -> list[str]:
    script = Path(sys.executable).parent / "tunelens"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "tunelens"]


def wall(cmd: list[str], repeat: int, env: dict[str, str]) -> float:
    subprocess.run(cmd, capture_output=True, env=env, cwd=REPO, check=False)  # warm the caches
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env, cwd=REPO, check=False)
        times.append(time.perf_counter() - t0)
    return median(times)


def heavy_imports(args: list[str], env: dict[str, str]) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tunelens", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )
    found = set()
    for line in out.stderr.splitlines():
        if "|" not in line:
            continue
        name = line.rsplit("|", 1)[1].strip()
        top = name.split(".")[0]
        if top in HEAVY:
            found.add(top)
    return sorted(found)


def run(repeat: int = 10) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "s.duckdb"
        import duckdb

        duckdb.connect(str(db)).close()
        env = {**os.environ, "TUNELENS_DB": str(db)}
        cmds = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "tunelens --help": [*_tunelens(), "--help"],
            "tunelens query 'SELECT 42'": [*_tunelens(), "query", "SELECT 42"],
        }
        times = {k: wall(v, repeat, env) for k, v in cmds.items()}
        imports = {
            "tunelens --help": heavy_imports(["--help"], env),
            "tunelens query 'SELECT 42'": heavy_imports(["query", "SELECT 42"], env),
        }
    return {"times": times, "imports": imports}


def report(r: dict[str, Any]) -> str:
    base = r["times"]["python -c pass"]
    rows = []
    for name, t in r["times"].items():
        imp = r["imports"].get(name)
        rows.append(
            [
                name,
                f"{t:.3f} s",
                f"{t - base:+.3f} s" if imp is not None else "",
                ", ".join(imp) if imp else ("none" if imp is not None else ""),
            ]
        )
    return table(["command", "wall (median)", "over bare python", "heavy modules imported"], rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=10)
    args = p.parse_args()
    print(header("CLI start-up"))
    print(report(run(args.repeat)))


if __name__ == "__main__":
    main()
