"""The session's callbacks, as messages to a screen.

`SessionBridge` is the `engine.run.session.SessionListener` the compare screen hands to the
session: every call, made on a session thread, becomes one typed message (`tui.events`) posted to
the screen. Streamed text is batched per pane: a model writes hundreds of tokens a second, and one
message (one redraw) per pane every `FLUSH_S` is all a reader can see; what is still held is
posted before the message that ends or fails the answer, so the screen gets the text in order.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tui import events

if TYPE_CHECKING:
    from textual.message import Message
    from textual.message_pump import MessagePump

    from engine.records import Item
    from engine.run.session import Session, ShiftOutcome

FLUSH_S = 0.05


@dataclass
class _Pending:
    parts: list[str] = field(default_factory=list)
    posted: float = float("-inf")  # when text for this pane was last posted


class SessionBridge:
    """Posts what the session reports to `target` (a screen) as `tui.events` messages."""

    def __init__(self, target: MessagePump, flush_s: float = FLUSH_S) -> None:
        self.target = target
        self.flush_s = flush_s
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._lock = threading.Lock()

    def _post(self, message: Message) -> None:
        self.target.post_message(message)

    def _flush(self, which: str, role: str) -> None:
        with self._lock:
            pending = self._pending.get((which, role))
            if pending is None or not pending.parts:
                return
            text = "".join(pending.parts)
            pending.parts.clear()
            pending.posted = time.monotonic()
        self._post(events.TextStreamed(which, role, text))

    # -- loading ------------------------------------------------------------------------------
    def on_session_failed(self, error: str) -> None:
        self._post(events.SessionFailed(error))

    def on_session_ready(self, session: Session, items: list[Item],
                         perturbations: list[str]) -> None:
        self._post(events.SessionReady(session, items, perturbations))

    def on_model_status(self, role: str, status: str) -> None:
        self._post(events.ModelStatus(role, status))

    def on_model_loaded(self, role: str, name: str, description: str) -> None:
        self._post(events.ModelLoaded(role, name, description))

    def on_model_failed(self, role: str, error: str) -> None:
        self._post(events.ModelFailed(role, error))

    # -- answers ------------------------------------------------------------------------------
    def on_run_started(self, run_id: str) -> None:
        self._post(events.RunStarted(run_id))

    def on_answer_started(self, label: str, role: str) -> None:
        self._post(events.AnswerStarted(label, role))

    def on_answer_text(self, label: str, role: str, chunk: str) -> None:
        with self._lock:
            pending = self._pending.setdefault((label, role), _Pending())
            pending.parts.append(chunk)
            due = time.monotonic() - pending.posted >= self.flush_s
        if due:
            self._flush(label, role)

    def on_answer_done(self, label: str, role: str, answer: Any, item: Item) -> None:
        self._flush(label, role)
        self._post(events.AnswerFinished(label, role, answer, item.gold))

    def on_answer_failed(self, label: str, role: str, error: str) -> None:
        self._flush(label, role)
        self._post(events.AnswerFailed(label, role, error))

    def on_role_finished(self, role: str) -> None:
        with self._lock:
            panes = [which for which, r in self._pending if r == role]
        for which in panes:
            self._flush(which, role)
        self._post(events.RoleFinished(role))

    # -- token shift --------------------------------------------------------------------------
    def shift_done(self, token: int) -> Any:
        """The `on_done` callback for `Session.token_shift_async`, for question `token`."""

        def done(outcome: ShiftOutcome) -> None:
            self._post(events.TokenShiftReady(token, outcome.found, outcome.notes,
                                              outcome.error, outcome.refused))

        return done
