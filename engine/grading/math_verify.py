"""math-verify grading: a second opinion by symbolic equivalence, in a child process.

math-verify (sympy underneath) can take unbounded time and hold the GIL, so its work runs in one
reusable child Python process that is killed when a call overruns its time bound.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from engine.grading.extract import truncate_run_on
from engine.grading.numbers import format_number, parse_number
from engine.records import Grade

_MATH_VERIFY_MAX_CHARS = 2000
_MATH_VERIFY_STARTUP_SECONDS = 120.0  # spawning Python and importing sympy, on a slow machine
# What the child process runs: this module's request loop.
_CHILD_CODE = f"from {__name__} import _math_verify_stdio as f; f()"


def grade_math_verify(output: str, gold: str, *, timeout_seconds: int | None = 5) -> Grade:
    """Second opinion by symbolic equivalence (math-verify), for answers like 3/4 vs 0.75.

    math-verify bounds its time with signal.alarm, which fails off the main thread, and sympy can
    hold the GIL on inputs like "9^{9^{9^9}}", freezing every thread of the app. So with a timeout
    the work runs in a child process (started once, reused) that is killed when it overruns; with
    `timeout_seconds=None` it runs in this thread with no time bound at all. The input is cut at
    run-on turns and bounded to its last 2000 characters. Never raises: failures grade as "error".
    """
    text = truncate_run_on(output)[-_MATH_VERIFY_MAX_CHARS:]
    gold_value = parse_number(gold)
    gold_text = format_number(gold_value) if gold_value is not None else gold.strip()
    gold_text = gold_text[:_MATH_VERIFY_MAX_CHARS]
    if timeout_seconds is None:
        return _math_verify_core(gold_text, text, None)
    try:
        return _MATH_VERIFY_PROCESS.run(gold_text, text, timeout_seconds)
    except Exception as e:  # the child overran or could not start: a grade, not a crash
        detail = f"{type(e).__name__}: {e}"[:300]
        return Grade(None, False, "error", "math-verify", detail)


def _math_verify_core(gold_text: str, text: str, timeout: int | None) -> Grade:
    """parse + verify, gold first (argument order matters to math-verify)."""
    try:
        from math_verify import parse, verify
    except ImportError as e:  # pragma: no cover - math-verify is a dependency
        return Grade(None, False, "error", "math-verify", f"math-verify unavailable: {e}")
    _quiet_math_verify_logging()
    try:
        gold_parsed = parse(gold_text, parsing_timeout=timeout)  # type: ignore[arg-type]
        if not gold_parsed:
            return Grade(None, False, "error", "math-verify", f"could not parse gold {gold_text!r}")
        pred = parse(text, parsing_timeout=timeout)  # type: ignore[arg-type]
        if not pred:
            return Grade(None, False, "none", "math-verify", "no parsable answer")
        extracted = str(pred[-1] if len(pred) > 1 else pred[0]).strip().strip("*$ ")
        ok = bool(verify(gold_parsed, pred, timeout_seconds=timeout))
    except Exception as e:  # timeouts, sympy errors: a grade, not a crash
        return Grade(None, False, "error", "math-verify", f"{type(e).__name__}: {e}"[:300])
    return Grade(extracted, ok, "math-verify", "math-verify", f"gold {gold_text}")


def _quiet_math_verify_logging() -> None:
    """Keep math-verify's warnings off stderr (they would tear through a Textual screen)."""
    for name in ("math_verify", "latex2sympy2_extended"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


def _math_verify_stdio() -> None:
    """Child process loop: one JSON request per stdin line, one JSON Grade per stdout line."""
    import math_verify  # noqa: F401  # import before reporting ready: sympy takes seconds

    _quiet_math_verify_logging()
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        # This is the child's main thread, so math-verify's own signal.alarm timeouts work.
        result = _math_verify_core(request["gold"], request["text"], request["timeout"])
        print(json.dumps(dataclasses.asdict(result)), flush=True)


class _MathVerifyProcess:
    """One reusable child process for math-verify, killed and restarted when a call overruns.

    A plain subprocess speaking JSON lines, not multiprocessing: spawn re-imports the caller's
    __main__ (breaking unguarded scripts) and fork is unsafe next to llama.cpp and UI threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()

    def run(self, gold_text: str, text: str, timeout_seconds: int) -> Grade:
        with self._lock:  # one request at a time on the pipe
            if self._process is None or self._process.poll() is not None:
                self._start()
            assert self._process is not None and self._process.stdin is not None
            request = {"gold": gold_text, "text": text, "timeout": timeout_seconds}
            try:
                self._process.stdin.write(json.dumps(request) + "\n")
                self._process.stdin.flush()
            except OSError:
                self._stop()
                raise
            # math-verify may spend the timeout in parse and again in verify; then the kill.
            limit = 3 * timeout_seconds + 2
            reply = self._next_line(limit)
            if reply is None:
                self._stop()
                raise TimeoutError(f"math-verify did not answer within {limit} s")
            return Grade(**json.loads(reply))

    def _next_line(self, timeout: float) -> str | None:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def _start(self) -> None:
        self._stop()
        # engine/grading/math_verify.py -> the directory above engine/: the child imports this
        # engine, not another installed copy
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        process = subprocess.Popen(
            # -P: no current directory on sys.path, where "math_verify" could name this module
            [sys.executable, "-P", "-c", _CHILD_CODE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            env=env,
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def pump(stream: IO[str] = process.stdout) -> None:  # type: ignore[assignment]
            for line in stream:
                lines.put(line)
            lines.put(None)  # EOF: the child died

        threading.Thread(target=pump, name="tunelens-math-verify-reader", daemon=True).start()
        self._process, self._lines = process, lines
        ready = self._next_line(_MATH_VERIFY_STARTUP_SECONDS)
        if ready is None or ready.strip() != "ready":
            self._stop()
            raise RuntimeError("math-verify worker process did not start")

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()
        self._process = None


_MATH_VERIFY_PROCESS = _MathVerifyProcess()
