"""The boundary between tunelens and whatever runs a model: the `Engine` protocol.

The runner, the app session and the analyses that need a model talk to this protocol only. Today
the in-process llama.cpp model (`engine.inference.llama.Model`) implements it; a serving engine
(llama-server, vLLM, SGLang) is another implementation behind the same methods. What an engine can
do beyond streaming text is declared in `Capabilities`, so a feature it lacks is refused in one line
before a run starts instead of failing half-way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from engine.inference.config import EngineSettings
from engine.records import Decoding, Generation


@dataclass(frozen=True)
class ModelInfo:
    """What made an answer: recorded with every run."""

    name: str
    path: str
    sha256: str
    size_bytes: int
    source: str
    architecture: str
    description: str  # the engine's own one-line description, e.g. "gemma3 270M Q4_K - Medium"
    quantization: str
    n_params: int
    n_vocab: int
    n_ctx_train: int
    chat_template: str | None
    bos_token: str
    eos_token: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A piece of streamed text; the last chunk carries the finished generation."""

    text: str
    done: Generation | None = None


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do beyond generating text; features that need more check these first."""

    first_tokens: bool = False  # top-k first-token probabilities (CoT-decoding branches)
    margins: bool = False  # per-token p(top1) - p(top2) while generating (CoT-decoding confidence)
    forced_prefix: bool = False  # open an answer with given token ids (CoT-decoding branches)
    teacher_forcing: bool = False  # rank of each given continuation token (token shift)
    batched: bool = False  # several sequences in one batch (--parallel-items)
    cpu_sharing: bool = False  # threads and turn-taking with the pair's other model


def collect(chunks: Iterator[Chunk]) -> Generation:
    """The finished generation at the end of a stream (what `generate` returns)."""
    done = None
    for chunk in chunks:
        done = chunk.done or done
    assert done is not None, "a stream ends with its finished generation"
    return done


@runtime_checkable
class Engine(Protocol):
    """A model that can tokenize, stream an answer and (per `capabilities`) score tokens."""

    info: ModelInfo
    capabilities: Capabilities
    settings: EngineSettings  # models.toml's [engine] settings for this model (side_by_side...)

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        """Prompt tokens as the model sees them (with BOS where the model wants one)."""
        ...

    def detokenize(self, ids: list[int] | tuple[int, ...]) -> str: ...

    def stream(
        self,
        prompt: str,
        decoding: Decoding,
        *,
        special: bool = False,
        seed: int | None = None,
        cancel: threading.Event | None = None,
        forced: tuple[int, ...] = (),
        want_margins: bool = False,
    ) -> Iterator[Chunk]:
        """Stream an answer; the last chunk carries the finished `Generation`."""
        ...

    def generate(self, prompt: str, decoding: Decoding, **kwargs: Any) -> Generation: ...

    def top_first_tokens(
        self, prompt: str, k: int, *, special: bool = False
    ) -> list[tuple[int, float]]:
        """The k most probable first answer tokens and their probabilities."""
        ...

    def budget(self, n_prompt: int, decoding: Decoding) -> int:
        """Tokens an answer may have after a prompt of n_prompt tokens; PromptTooLong if none."""
        ...

    def answer_turn(self) -> AbstractContextManager[Any]:
        """Held around one whole answer (turn-taking with the pair's other model)."""
        ...

    def close(self) -> None: ...
