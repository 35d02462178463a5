"""math-verify grading: the committed LaTeX answer, judged by symbolic equivalence with the gold.

`grade_math_verify(output, gold)` extracts the answer (engine.grading.latex: first committed
answer, not a base model's invented next problem; an instruct model's correction), normalises both
sides, and asks math-verify whether they are equivalent; `compare_latex(answer, gold)` does the
same for a bare answer that something else extracted (the extract-llm grader).

math-verify (sympy underneath) can take unbounded time and hold the GIL, and its own timeouts use
signal.alarm, which works only in a main thread. So its work runs in one reusable child Python
process (where it is the main thread) that is killed when a call overruns its time bound.
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

from engine.grading.latex import LatexAnswer, extract_latex, normalise_latex, text_form
from engine.grading.numbers import format_number, parse_number
from engine.records import Grade

_MATH_VERIFY_MAX_CHARS = 2000
_MATH_VERIFY_STARTUP_SECONDS = 120.0  # spawning Python and importing sympy, on a slow machine
# What the child process runs: this module's request loop.
_CHILD_CODE = f"from {__name__} import _math_verify_stdio as f; f()"
GRADER = "math-verify"


def grade_math_verify(output: str, gold: str, *, timeout_seconds: int | None = 5) -> Grade:
    """Grade a LaTeX answer by symbolic equivalence (\\frac{14}{3} = 14/3 = 4\\frac{2}{3}).

    The Grade keeps the extracted LaTeX as written (`extracted`), the rule that found it
    (`rule`: answer-is, final-answer, boxed, bold, self-correction, last-math, bare, none) and
    both normal forms and how they were judged (`detail`). With a timeout, math-verify runs in a
    child process killed when it overruns (any thread may call this); with
    `timeout_seconds=None` it runs in this thread, unbounded. Never raises: failures grade as
    rule "error".
    """
    found = extract_latex(output)
    if found is None:
        return Grade(None, False, "none", GRADER, f"no answer found; gold {gold.strip()}")
    return _judge(found, gold, timeout_seconds)


def compare_latex(answer: str, gold: str, *, timeout_seconds: int | None = 5) -> Grade:
    """Judge a bare extracted answer ("\\frac{14}{3}", "$x = 5$", "(3, \\pi/2)") as above."""
    text = answer.strip()
    if not text:
        return Grade(None, False, "none", GRADER, f"empty answer; gold {gold.strip()}")
    return _judge(LatexAnswer(text, "given", (0, len(text))), gold, timeout_seconds)


def _gold_text(gold: str) -> str:
    """The gold as LaTeX: a GSM8K-style "#### 18" or "1,000" becomes its plain number."""
    if "####" in gold:
        value = parse_number(gold)
        if value is not None:
            return format_number(value)
    return gold.strip()[:_MATH_VERIFY_MAX_CHARS]


def _judge(found: LatexAnswer, gold: str, timeout_seconds: int | None) -> Grade:
    pred_n = normalise_latex(found.text)[:_MATH_VERIFY_MAX_CHARS]
    gold_text = _gold_text(gold)
    gold_n = normalise_latex(gold_text)

    def verdict(correct: bool, how: str, rule: str = found.rule) -> Grade:
        detail = f"{pred_n} {'==' if correct else '!='} gold {gold_n} ({how})"
        return Grade(found.text, correct, rule, GRADER, detail[:500], found.span)

    if pred_n.replace(" ", "") == gold_n.replace(" ", ""):
        return verdict(True, "same normal form")
    pred_t, gold_t = text_form(pred_n), text_form(gold_n)
    if gold_t is not None or pred_t is not None:
        return verdict(pred_t == gold_t, "text")
    if not pred_n:
        return verdict(False, "empty after normalising")
    # The gold's form decides what "%" means: a gold "25\%" wants the percent number (25), a
    # gold 0.75 accepts "75%" as a fraction as well (math-verify's reading).
    tries = [pred_n]
    if "%" in found.text and "%" not in gold_text:
        tries.append(f"\\frac{{{pred_n}}}{{100}}")
    for attempt in tries:
        try:
            if timeout_seconds is None:
                result = _math_verify_core(f"${gold_n}$", f"${attempt}$", None)
            else:
                result = _MATH_VERIFY_PROCESS.run(f"${gold_n}$", f"${attempt}$", timeout_seconds)
        except Exception as e:  # the child overran or could not start: a grade, not a crash
            return verdict(False, f"{type(e).__name__}: {e}"[:300], "error")
        if result.rule == "error":
            return verdict(False, result.detail, "error")
        if result.correct:
            how = "math-verify equivalent" + (" as a percentage" if attempt != pred_n else "")
            return verdict(True, how)
    return verdict(False, "math-verify")


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
