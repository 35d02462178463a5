"""What an answer pane shows under an answer, from a live generation or a stored row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text


@dataclass(frozen=True)
class PaneResult:
    """What a pane shows under a finished answer, from a live `Answer` or a stored row."""

    output: str
    span: tuple[int, int] | None
    extracted: str | None
    correct: bool | None
    gold: str | None
    ttft_s: float | None
    tokens_per_s: float | None
    tokens: int | None
    finish_reason: str | None
    model_name: str | None = None

    @classmethod
    def from_answer(cls, answer: Any, gold: str | None) -> PaneResult:
        """From `engine.run.runner.Answer` (a live generation)."""
        gen = answer.generation
        return cls(
            output=gen.text, span=answer.span, extracted=answer.grade.extracted,
            correct=answer.grade.correct, gold=gold, ttft_s=gen.ttft_s,
            tokens_per_s=gen.tokens_per_s, tokens=gen.tokens, finish_reason=gen.finish_reason,
            model_name=answer.row.get("model_name"),
        )

    @classmethod
    def from_stored(cls, stored: Any, gold: str | None) -> PaneResult:
        """From `engine.store.browse.StoredAnswer` (read from the store, no model involved)."""
        return cls(
            output=stored.output or "", span=stored.span, extracted=stored.extracted,
            correct=stored.correct, gold=gold, ttft_s=stored.ttft_s,
            tokens_per_s=stored.tokens_per_s, tokens=stored.tokens,
            finish_reason=stored.finish_reason, model_name=stored.model_name,
        )


def highlighted_output(output: str, span: tuple[int, int] | None) -> Text:
    """The answer text with the extracted answer marked where the grader found it."""
    text = Text(output)
    if span is not None:
        start, end = span
        if 0 <= start < end <= len(output):
            text.stylize("bold reverse", start, end)
    return text


def stats_line(result: PaneResult) -> Text:
    """ttft, tokens/s, tokens and finish reason, compact enough for half of 80 columns."""
    parts = []
    if result.ttft_s is not None:
        parts.append(f"ttft {result.ttft_s:.2f}s")
    if result.tokens_per_s is not None:
        rate = result.tokens_per_s
        parts.append(f"{rate:.0f} tok/s" if rate >= 100 else f"{rate:.1f} tok/s")
    if result.tokens is not None:
        parts.append(f"{result.tokens} tok")
    if result.finish_reason:
        parts.append(result.finish_reason)
    return Text("  ".join(parts), style="dim")
