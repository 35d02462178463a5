"""Teacher forcing: the rank of each continuation token in a model's next-token distribution.

How: one llama.cpp batch per text (the prompt suffix not already in the KV cache, then the
continuation tokens) with logits requested for every continuation position, read with
`llama_get_logits_ith`; no `logits_all`, no per-token decode. Consecutive texts that share a prompt
prefix (few-shot exemplars) reuse the cached prefix. Only when prompt + continuation exceed the
context's batch size is the work split into several batches.

engine.run.shift uses it for token distribution shift (the base model ranking the instruct
model's answer tokens).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from engine.inference.llama import Model


@dataclass(frozen=True)
class PositionScores:
    """The base model's view of each answer token (arrays of length T, one entry per token)."""

    ranks: np.ndarray  # rank of the answer token: 1 + number of tokens with a higher logit
    probs: np.ndarray  # its probability
    top_ids: np.ndarray  # the base model's most likely token
    top_probs: np.ndarray
    batches: int  # llama_decode calls used (1 unless the text exceeded the batch size)


class TeacherForcer:
    """Scores answers under one model, keeping the KV cache of the previous prompt.

    Use as a context manager: it holds the model's lock (one caller at a time) and leaves the
    context empty and the `Llama` wrapper reset on exit, so the wrapper's own prefix cache never
    sees tokens it did not put there.
    """

    def __init__(self, model: Model) -> None:
        self.model = model
        self._cached: list[int] = []
        self._batch: Any = None
        self._n_batch = 0
        # Model serialises its own calls with this lock; scoring must not interleave with them.
        self._lock: threading.Lock = model._lock

    def __enter__(self) -> TeacherForcer:
        import llama_cpp

        self._lock.acquire()
        try:
            llm = self.model.llm
            self._n_batch = int(llama_cpp.llama_n_batch(llm.ctx))
            self._batch = llama_cpp.llama_batch_init(self._n_batch, 0, 1)
            self._clear()
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        import llama_cpp

        try:
            self._clear()
            if self._batch is not None:
                llama_cpp.llama_batch_free(self._batch)
                self._batch = None
        finally:
            self._lock.release()

    def _clear(self) -> None:
        import llama_cpp

        llm = self.model.llm
        mem = llama_cpp.llama_get_memory(llm.ctx)
        if mem is not None:
            llama_cpp.llama_memory_clear(mem, True)
        llm.reset()
        self._cached = []

    def score(self, prompt_ids: Sequence[int], answer_ids: Sequence[int]) -> PositionScores:
        """Teacher-force `answer_ids` after `prompt_ids`; row t is the distribution that predicted
        answer token t."""
        import llama_cpp

        if self._batch is None:
            raise RuntimeError("use TeacherForcer as a context manager")
        if not prompt_ids or not answer_ids:
            raise ValueError("need at least one prompt token and one answer token")
        llm = self.model.llm
        ctx = llm.ctx
        n_vocab = llm.n_vocab()
        # The last answer token is only predicted, never evaluated.
        tokens = [*prompt_ids, *answer_ids[:-1]]
        first_out = len(prompt_ids) - 1  # its logits predict answer token 0
        if len(tokens) > llm.n_ctx():
            raise ValueError(f"prompt + answer ({len(tokens)} tokens) exceed the context")
        common = 0
        for a, b in zip(self._cached, tokens, strict=False):
            if a != b:
                break
            common += 1
        keep = min(common, first_out)
        mem = llama_cpp.llama_get_memory(ctx)
        if keep < len(self._cached) and not llama_cpp.llama_memory_seq_rm(mem, 0, keep, -1):
            llama_cpp.llama_memory_clear(mem, True)
            keep = 0
        self._cached = tokens[:keep]

        T = len(answer_ids)
        ranks = np.empty(T, dtype=np.int64)
        probs = np.empty(T, dtype=np.float64)
        top_ids = np.empty(T, dtype=np.int64)
        top_probs = np.empty(T, dtype=np.float64)
        answer = np.asarray(answer_ids, dtype=np.int64)
        batch = self._batch
        calls = 0
        pos = keep
        while pos < len(tokens):
            chunk = tokens[pos : pos + self._n_batch]
            outputs: list[int] = []  # batch index -> answer index
            for j, tok in enumerate(chunk):
                p = pos + j
                batch.token[j] = tok
                batch.pos[j] = p
                batch.n_seq_id[j] = 1
                batch.seq_id[j][0] = 0
                wanted = p >= first_out
                batch.logits[j] = 1 if wanted else 0
                if wanted:
                    outputs.append(j)
            batch.n_tokens = len(chunk)
            rc = llama_cpp.llama_decode(ctx, batch)
            calls += 1
            if rc != 0:
                self._clear()
                raise RuntimeError(f"llama_decode returned {rc}")
            self._cached.extend(chunk)
            if outputs:
                rows = np.empty((len(outputs), n_vocab), dtype=np.float32)
                for r, j in enumerate(outputs):
                    ptr = llama_cpp.llama_get_logits_ith(ctx, j)
                    rows[r] = np.ctypeslib.as_array(ptr, shape=(n_vocab,))
                idx = np.asarray([pos + j - first_out for j in outputs])
                _rank_rows(rows, answer[idx], idx, ranks, probs, top_ids, top_probs)
            pos += len(chunk)
        return PositionScores(ranks, probs, top_ids, top_probs, calls)


def _rank_rows(
    rows: np.ndarray,
    targets: np.ndarray,
    idx: np.ndarray,
    ranks: np.ndarray,
    probs: np.ndarray,
    top_ids: np.ndarray,
    top_probs: np.ndarray,
) -> None:
    """Rank (ties favour the target), probability, and the top token of each logit row."""
    target_logits = rows[np.arange(len(rows)), targets]
    ranks[idx] = (rows > target_logits[:, None]).sum(axis=1) + 1
    top = rows.argmax(axis=1)
    hi = rows[np.arange(len(rows)), top].astype(np.float64)
    z = np.exp(rows.astype(np.float64) - hi[:, None]).sum(axis=1)
    probs[idx] = np.exp(target_logits.astype(np.float64) - hi) / z
    top_ids[idx] = top
    top_probs[idx] = 1.0 / z


def piece_text(model: Model, token_id: int) -> str:
    """A token's text; bytes that are not valid UTF-8 on their own are written <0xNN> (lossless:
    a multi-byte character split over two tokens can be put back together;
    engine.analysis.shift.piece_bytes reads them back)."""
    raw = model.llm.detokenize([token_id])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(f"<0x{b:02X}>" for b in raw)
