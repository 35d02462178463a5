"""The bridge from the session's callbacks to the compare screen's messages: batched text, in
order, with nothing held back past the end of an answer."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from engine.records import Item
from tui import events
from tui.bridge import SessionBridge


class Collect:
    """Stands in for the screen: keeps what is posted."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    def post_message(self, message: Any) -> bool:
        self.messages.append(message)
        return True


ITEM = Item("embedded", "a-1", "1 + 1?", "2")


def test_text_is_batched_and_flushed_before_the_answer_ends() -> None:
    target = Collect()
    bridge = SessionBridge(target, flush_s=3600)  # nothing is due again within the test
    bridge.on_answer_started("original", "base")
    for chunk in ["1", " +", " 1", " =", " 2"]:
        bridge.on_answer_text("original", "base", chunk)
    answer = SimpleNamespace(name="answer")
    bridge.on_answer_done("original", "base", answer, ITEM)
    bridge.on_role_finished("base")
    kinds = [type(m) for m in target.messages]
    assert kinds == [events.AnswerStarted, events.TextStreamed, events.TextStreamed,
                     events.AnswerFinished, events.RoleFinished]
    texts = [m.text for m in target.messages if isinstance(m, events.TextStreamed)]
    assert texts == ["1", " + 1 = 2"]  # the first at once, the rest in one message at the end
    done = target.messages[3]
    assert (done.which, done.role, done.answer, done.gold) == ("original", "base", answer, "2")


def test_panes_are_batched_apart_and_a_failure_flushes_its_text() -> None:
    target = Collect()
    bridge = SessionBridge(target, flush_s=3600)
    for which in ("original", "variant"):
        bridge.on_answer_text(which, "instruct", "a")
        bridge.on_answer_text(which, "instruct", "b")
    bridge.on_answer_failed("variant", "instruct", "boom")
    bridge.on_role_finished("instruct")
    got = [(type(m).__name__, getattr(m, "which", None), getattr(m, "text", None))
           for m in target.messages]
    assert got == [
        ("TextStreamed", "original", "a"),
        ("TextStreamed", "variant", "a"),
        ("TextStreamed", "variant", "b"),
        ("AnswerFailed", "variant", None),
        ("TextStreamed", "original", "b"),
        ("RoleFinished", None, None),
    ]


def test_shift_outcome_becomes_one_message_for_its_question() -> None:
    from engine.run.session import ShiftOutcome

    target = Collect()
    SessionBridge(target).shift_done(7)(ShiftOutcome(error="needs one tokenizer", refused=True))
    (msg,) = target.messages
    assert isinstance(msg, events.TokenShiftReady)
    assert (msg.token, msg.error, msg.refused, msg.found) == (7, "needs one tokenizer", True, {})
