"""Typed messages that carry the session's work to the screens.

The session's threads report through plain callbacks (`engine.run.session.SessionListener`);
`tui.bridge.SessionBridge` turns each call into one of these and posts it to the compare screen
(`post_message` is thread-safe), which handles it on the event loop with an `on_<message>`
method. Nothing off the event loop touches a widget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from engine.records import Item
    from engine.run.session import Session


class SessionMessage(Message):
    """Base of the session's messages (dataclasses: Textual's `Message.__post_init__` sets a
    message up when a dataclass `__init__` runs)."""


@dataclass(eq=False)
class SessionFailed(SessionMessage):
    """The session could not start (unknown pair, unreadable dataset): nothing can run."""

    error: str


@dataclass(eq=False)
class SessionReady(SessionMessage):
    """The session is built and its items are read; the models are still loading."""

    session: Session
    items: list[Item]
    perturbations: list[str]


@dataclass(eq=False)
class ModelStatus(SessionMessage):
    """A loading step of one role's model (downloading, loading…)."""

    role: str
    status: str


@dataclass(eq=False)
class ModelLoaded(SessionMessage):
    role: str
    name: str
    description: str


@dataclass(eq=False)
class ModelFailed(SessionMessage):
    role: str
    error: str


@dataclass(eq=False)
class RunStarted(SessionMessage):
    """The session's run is open in the store (on the first question asked)."""

    run_id: str


@dataclass(eq=False)
class AnswerStarted(SessionMessage):
    """A model starts on one pane's question (`which` is original or variant)."""

    which: str
    role: str


@dataclass(eq=False)
class TextStreamed(SessionMessage):
    """Text a model wrote since the last one of these for its pane (batched by the bridge)."""

    which: str
    role: str
    text: str


@dataclass(eq=False)
class AnswerFinished(SessionMessage):
    """A graded, recorded answer; a stopped one has finish reason 'cancelled'."""

    which: str
    role: str
    answer: Any  # engine.run.runner.Answer
    gold: str | None


@dataclass(eq=False)
class AnswerFailed(SessionMessage):
    which: str
    role: str
    error: str


@dataclass(eq=False)
class RoleFinished(SessionMessage):
    """One model is done with every question it was asked (answered, stopped or failed)."""

    role: str


@dataclass(eq=False)
class TokenShiftReady(SessionMessage):
    """Token shift scoring ended: rows per pane, notes where none, or the error."""

    token: int  # which question it was for: stale when another was asked since
    found: dict[str, list[Any]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    refused: bool = False
