"""Decoding speed in the app against headless, same pair, item and settings.

    python -m benchmarks.app_speed [--rounds 2] [--max-tokens 160] [--via run_test|tmux]

Each round runs, in fresh processes and alternating which goes first: a headless run of GSM8K
item 1 (zero-shot CoT, greedy, both models at once as `side_by_side` says) and the app asking the
same question (both panes streaming). tokens/s is what each run recorded in
`generations.tokens_per_s`, so both sides are measured by the same code. `--via run_test` drives
the app with Textual's headless driver (rendering done, output discarded); `--via tmux` runs the
real app in a tmux terminal (rendering and terminal output both paid). The app run also records
its event-loop probe (largest pause between 10 ms ticks).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.common import GSM8K_TEST, REPO, header, load_now, median, table

APP_SCRIPT = textwrap.dedent("""
    import asyncio, sys, time
    from engine.records import Decoding
    from engine.run.config import RunConfig
    from engine.store.store import Store
    from tui.app import TunelensApp

    db, data_file, max_tokens, probe_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

    async def main() -> None:
        config = RunConfig(pair="demo", dataset="gsm8k", data_file=data_file, limit=1,
                           modes=("zero-shot-cot",), decoding=Decoding(max_tokens=max_tokens))
        app = TunelensApp(config, Store(db), history_file=db + ".history.json",
                          loop_probe=probe_file != "-")
        async with app.run_test(size=(160, 48)) as pilot:
            c = app.compare
            while not c.ready:  # asyncio.sleep, not pilot.pause: that walks the DOM each time
                await asyncio.sleep(0.1)
            await pilot.press("enter")
            while c.completed < 1:
                await asyncio.sleep(0.1)
            await pilot.pause(0.2)
            if app.probe is not None:
                with open(probe_file, "w") as f:
                    f.write(app.probe.report() + "\\n")
            await app.action_quit()

    asyncio.run(main())
""")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _rates(db: Path) -> dict[str, float]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT role, tokens_per_s FROM generations ORDER BY role").fetchall()
    finally:
        con.close()
    return {role: float(rate) for role, rate in rows}


def headless_round(tmp: Path, max_tokens: int) -> dict[str, float]:
    db = tmp / f"headless-{uuid.uuid4().hex[:6]}.duckdb"
    subprocess.run(
        [sys.executable, "-m", "tunelens", "--headless", "--pair", "demo", "--dataset", "gsm8k",
         "--data-file", str(GSM8K_TEST), "--limit", "1", "--mode", "zero-shot-cot",
         "--max-tokens", str(max_tokens), "--db", str(db)],
        cwd=REPO, env=_env(), check=True, capture_output=True, text=True,
    )
    return _rates(db)


def app_round_run_test(tmp: Path, max_tokens: int) -> tuple[dict[str, float], str]:
    db = tmp / f"app-{uuid.uuid4().hex[:6]}.duckdb"
    probe = tmp / f"probe-{uuid.uuid4().hex[:6]}.txt"
    subprocess.run([sys.executable, "-c", APP_SCRIPT, str(db), str(GSM8K_TEST), str(max_tokens),
                    str(probe)], cwd=REPO, env=_env(), check=True, capture_output=True, text=True)
    return _rates(db), probe.read_text(encoding="utf-8") if probe.exists() else ""


def app_round_tmux(tmp: Path, max_tokens: int) -> tuple[dict[str, float], str]:
    db = tmp / f"app-{uuid.uuid4().hex[:6]}.duckdb"
    probe = tmp / f"probe-{uuid.uuid4().hex[:6]}.txt"
    name = f"tunelens-bench-{uuid.uuid4().hex[:6]}"
    cmd = " ".join(shlex.quote(a) for a in [
        sys.executable, "-m", "tunelens", "--pair", "demo", "--dataset", "gsm8k", "--data-file",
        str(GSM8K_TEST), "--limit", "1", "--mode", "zero-shot-cot", "--max-tokens",
        str(max_tokens), "--db", str(db)])
    env = f"PYTHONPATH={shlex.quote(str(REPO))} TUNELENS_LOOP_PROBE={shlex.quote(str(probe))}"
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "160", "-y", "48",
                    f"cd {shlex.quote(str(REPO))} && env {env} {cmd}"], check=True)
    try:
        _wait(lambda: _capture(name).count("ready:") >= 2, 120)  # both models loaded
        subprocess.run(["tmux", "send-keys", "-t", name, "Enter"], check=True)
        _wait(lambda: len(re.findall(r"[✓✗] (correct|wrong)", _capture(name))) >= 2, 300)
        time.sleep(1.0)
        time.sleep(0.5)
        subprocess.run(["tmux", "send-keys", "-t", name, "C-q"], check=True)
        _wait(lambda: probe.exists(), 30)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True, check=False)
    return _rates(db), probe.read_text(encoding="utf-8") if probe.exists() else ""


def _capture(name: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True,
                          text=True, check=False).stdout


def _count(db: Path) -> int:
    try:
        return len(_rates(db))
    except Exception:  # the app holds the file for a moment while it writes
        return 0


def _wait(cond: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        time.sleep(0.25)


def _max_pause(probe: str) -> float:
    """The largest event-loop pause while streaming, from the app's loop probe report."""
    m = re.search(r"while streaming \d+ ticks, max lateness ([0-9.]+) ms", probe)
    return float(m.group(1)) if m else float("nan")


def run(rounds: int = 2, max_tokens: int = 160, via: str = "run_test") -> dict[str, Any]:
    if via == "tmux" and shutil.which("tmux") is None:
        raise SystemExit("--via tmux needs tmux")
    app_round = app_round_tmux if via == "tmux" else app_round_run_test
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tunelens-appspeed-") as d:
        tmp = Path(d)
        for r in range(rounds):
            order = ("headless", "app") if r % 2 == 0 else ("app", "headless")
            got: dict[str, dict[str, float]] = {}
            probe = ""
            for which in order:
                if which == "headless":
                    got["headless"] = headless_round(tmp, max_tokens)
                else:
                    got["app"], probe = app_round(tmp, max_tokens)
            for role in ("base", "instruct"):
                h, a = got["headless"].get(role, float("nan")), got["app"].get(role, float("nan"))
                rows.append({"round": r + 1, "role": role, "headless": h, "app": a,
                             "ratio": a / h if h else float("nan"),
                             "max_pause_ms": _max_pause(probe), "load": load_now()})
    return {"via": via, "max_tokens": max_tokens, "rows": rows,
            "ratio": median(row["ratio"] for row in rows),
            "min_ratio": min(row["ratio"] for row in rows)}


def report(r: dict[str, Any]) -> str:
    out = [header(f"App vs headless tokens/s ({r['via']}, {r['max_tokens']} tokens, GSM8K item 1)")]
    out.append(table(["round", "role", "headless tok/s", "app tok/s", "app / headless",
                      "app max loop pause ms", "load"],
                     [[x["round"], x["role"], x["headless"], x["app"], x["ratio"],
                       x["max_pause_ms"], x["load"]] for x in r["rows"]]))
    out.append(f"\nmedian app / headless: {r['ratio']:.2f} (lowest {r['min_ratio']:.2f}; "
               "goal >= 0.9)")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--via", choices=("run_test", "tmux"), default="run_test")
    a = ap.parse_args()
    print(report(run(a.rounds, a.max_tokens, a.via)))


if __name__ == "__main__":
    main()
