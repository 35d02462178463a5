"""How long the app's event loop is blocked, measured from inside (`TUNELENS_LOOP_PROBE`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.app import App

ENV_LOOP_PROBE = "TUNELENS_LOOP_PROBE"  # a file path: the app writes its event-loop pauses there


class LoopProbe:
    """Measures how late a 10 ms timer fires: the longest the event loop was blocked.

    A frozen UI is a late timer; the worst lateness seen while models stream is the pause a user
    would feel (typing, scrolling, Escape).
    """

    def __init__(self, interval_s: float = 0.01,
                 busy: Callable[[], bool] | None = None) -> None:
        self.interval_s = interval_s
        self.busy = busy or (lambda: False)
        self.max_late_s = 0.0
        self.ticks = 0
        self.busy_ticks = 0
        self.max_busy_late_s = 0.0  # the worst pause while generations were streaming
        self._last: float | None = None
        self._samples: list[float] = []
        self._busy_samples: list[float] = []

    def start(self, app: App[int]) -> None:
        self._last = time.perf_counter()
        app.set_interval(self.interval_s, self._tick, name="loop-probe")

    def reset(self) -> None:
        self.max_late_s = self.max_busy_late_s = 0.0
        self.ticks = self.busy_ticks = 0
        self._samples, self._busy_samples = [], []
        self._last = time.perf_counter()

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            late = max(0.0, now - self._last - self.interval_s)
            self.max_late_s = max(self.max_late_s, late)
            self._samples.append(late)
            if self.busy():
                self.max_busy_late_s = max(self.max_busy_late_s, late)
                self._busy_samples.append(late)
                self.busy_ticks += 1
        self._last = now
        self.ticks += 1

    def percentile(self, q: float, *, busy: bool = False) -> float:
        samples = self._busy_samples if busy else self._samples
        if not samples:
            return 0.0
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def report(self) -> str:
        ms = 1000
        return (
            f"event loop, {self.interval_s * ms:.0f} ms timer: while streaming "
            f"{self.busy_ticks} ticks, max lateness {self.max_busy_late_s * ms:.1f} ms, "
            f"p99 {self.percentile(0.99, busy=True) * ms:.1f} ms; whole session {self.ticks} "
            f"ticks, max {self.max_late_s * ms:.1f} ms, p99 {self.percentile(0.99) * ms:.1f} ms"
        )
