"""Several answers of one model in one llama.cpp batch: the headless runner's `--parallel-items`.

Why: decoding one sequence reads every weight of the model to produce one token, so on a CPU the
arithmetic units mostly wait for memory. Decoding N sequences per step reads the weights once for
N tokens and raises the aggregate tokens/s (llama.cpp's batched bench on the demo models here:
about 2x at 4 sequences). And every prompt of a k-shot run starts with the same exemplars: that
prefix is evaluated once into a dedicated prefix sequence and copied into each new sequence, which
in llama.cpp's unified KV cache only tags the cells with one more sequence id.

Answers are made exactly as `Model.stream` makes them: same tokenisation, budget and stop
handling (the shared `Transcript`), greedy = the first maximum of the logits row (what llama.cpp's
greedy sampler picks), other strategies through the same llama.cpp sampler chain and seed. What can
differ is llama.cpp's arithmetic: a batch of several sequences may run through other matrix
kernels than a single one, so a near-tie can break the other way on a real model. The tests check
identity on tiny models; benchmarks/headless.py reports the agreement on the demo models.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.inference.llama import Model, Transcript
from engine.records import Decoding, Generation


@dataclass(frozen=True)
class Request:
    """One answer to make. `tag` is the caller's, returned with the answer."""

    prompt: str
    decoding: Decoding
    seed: int
    special: bool = False
    forced: tuple[int, ...] = ()
    want_margins: bool = False
    tag: Any = None


@dataclass
class _Slot:
    seq: int
    request: Request
    prompt_tokens: int
    tokens: list[int]  # prompt + forced, then each chosen token, in sequence order
    n_past: int  # tokens of `tokens` already in the KV cache
    budget: int
    reserved: int  # KV cells this sequence may still claim
    transcript: Transcript
    sampler: Any
    t0: float
    t_first: float | None = None
    logits_at: int = -1  # batch index of this sequence's logits after the current step
    finish: str | None = None


@dataclass
class _Lookahead:
    """An iterator that can show its next element and take one back."""

    source: Iterator[Request]
    buffer: list[Request] = field(default_factory=list)

    def peek(self) -> Request | None:
        if not self.buffer:
            nxt = next(self.source, None)
            if nxt is None:
                return None
            self.buffer.append(nxt)
        return self.buffer[0]

    def pop(self) -> Request | None:
        item = self.peek()
        if item is not None:
            self.buffer.pop(0)
        return item

    def push_back(self, item: Request) -> None:
        self.buffer.insert(0, item)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class BatchedDecoder:
    """Up to `n_parallel` answers of one model in flight in its own llama.cpp context.

    The context shares the model's weights and has n_parallel + 1 sequences (the last holds the
    shared prompt prefix) in one unified KV cache of `n_ctx` cells (default: the model's n_ctx,
    so answers get the same token budget as one at a time). A request joins as soon as a sequence
    and enough cells are free; with fewer cells, fewer answers are in flight, never a failure.
    """

    def __init__(self, model: Model, n_parallel: int, *, n_ctx: int | None = None) -> None:
        import llama_cpp

        if n_parallel < 1:
            raise ValueError("n_parallel must be at least 1")
        self.model = model
        self.n_parallel = n_parallel
        self.prefix_seq = n_parallel
        llm = model.llm
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx or model.settings.n_ctx
        params.n_batch = params.n_ubatch = model.settings.n_batch
        params.n_seq_max = n_parallel + 1
        params.kv_unified = True
        params.n_threads = params.n_threads_batch = model.n_threads
        params.flash_attn_type = (
            llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
            if model.flash_attn
            else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        params.no_perf = True
        self._ctx = llama_cpp.llama_init_from_model(llm.model, params)
        if not self._ctx:
            raise RuntimeError("llama.cpp could not create a batched context")
        self.n_ctx = int(llama_cpp.llama_n_ctx(self._ctx))
        self.n_batch = model.settings.n_batch
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._vocab = llm._model.vocab
        self._n_vocab = llm.n_vocab()
        self._prefix: list[int] = []  # tokens held by the prefix sequence
        self._last_prompt: list[int] = []
        self._closed = False

    # -- public -------------------------------------------------------------------------------
    def run(
        self, requests: Iterable[Request], *, cancel: threading.Event | None = None
    ) -> Iterator[tuple[Request, Generation]]:
        """Answer the requests; yields each (request, generation) as it finishes.

        Answers finish out of order. On cancel, answers in flight are dropped (not yielded), as
        the one-at-a-time runner drops a half answer.
        """
        import llama_cpp

        queue = _Lookahead(iter(requests))
        slots: dict[int, _Slot] = {}
        free = list(range(self.n_parallel))
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    return
                self._admit(queue, slots, free)
                if not slots:
                    return
                self._step(slots)
                now = time.perf_counter()
                for slot in [s for s in slots.values() if s.logits_at >= 0]:
                    self._advance(slot, now, cancel)
                    if slot.finish is None:
                        continue
                    del slots[slot.seq]
                    llama_cpp.llama_memory_seq_rm(self._mem, slot.seq, -1, -1)
                    free.append(slot.seq)
                    if slot.finish == "cancelled":
                        continue
                    yield slot.request, self._generation(slot, now)
        finally:
            for seq in list(slots):
                llama_cpp.llama_memory_seq_rm(self._mem, seq, -1, -1)

    def close(self) -> None:
        import llama_cpp

        if self._closed:
            return
        self._closed = True
        llama_cpp.llama_batch_free(self._batch)
        llama_cpp.llama_free(self._ctx)

    def __enter__(self) -> BatchedDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- admission and the shared prefix ------------------------------------------------------
    def _admit(self, queue: _Lookahead, slots: dict[int, _Slot], free: list[int]) -> None:
        import llama_cpp

        while free:
            request = queue.pop()
            if request is None:
                return
            t0 = time.perf_counter()
            ids = self.model.tokenize(request.prompt, special=request.special)
            budget = self.model.budget(len(ids), request.decoding)
            tokens = ids + list(request.forced)
            nxt = queue.peek()
            following = (
                self.model.tokenize(nxt.prompt, special=nxt.special) + list(nxt.forced)
                if nxt is not None
                else []
            )
            want = self._prefix_wanted(tokens, following)
            grow = want - len(self._prefix) if want > len(self._prefix) + 1 else 0
            reuse = min(len(self._prefix) + grow, len(tokens) - 1)
            need = len(tokens) - reuse + budget
            in_use = len(self._prefix) + sum(s.reserved for s in slots.values())
            if in_use + grow + need > self.n_ctx:
                if slots:
                    queue.push_back(request)  # wait for a sequence to finish
                    return
                self._drop_prefix()  # alone and still too big: give up the shared prefix
                grow = reuse = 0
                need = len(tokens) + budget
            if grow:
                self._extend_prefix(tokens[:want])
            self._last_prompt = tokens
            seq = free.pop(0)
            llama_cpp.llama_memory_seq_rm(self._mem, seq, -1, -1)
            if reuse:
                llama_cpp.llama_memory_seq_cp(self._mem, self.prefix_seq, seq, 0, reuse)
            dec = request.decoding
            slots[seq] = _Slot(
                seq=seq,
                request=request,
                prompt_tokens=len(ids),
                tokens=tokens,
                n_past=reuse,
                budget=budget,
                reserved=need,
                transcript=Transcript(
                    self.model.token_bytes, dec, request.forced, request.want_margins
                ),
                sampler=self._sampler(dec, request.seed),
                t0=t0,
            )

    def _prefix_wanted(self, tokens: list[int], following: list[int]) -> int:
        """How much of `tokens` the prefix sequence should hold; cuts the prefix back to it.

        The prefix is what this prompt has in common with the previous or the next one (the
        k-shot exemplars; for cot-decoding branches, the whole prompt). It is never the whole
        prompt: the last token is evaluated in the answer's own sequence to get its logits.
        """
        import llama_cpp

        want = max(_common_prefix(self._last_prompt, tokens), _common_prefix(tokens, following))
        want = min(want, len(tokens) - 1)
        have = _common_prefix(self._prefix, tokens)
        if have < len(self._prefix):
            llama_cpp.llama_memory_seq_rm(self._mem, self.prefix_seq, have, -1)
            self._prefix = self._prefix[:have]
            # A sliding-window cache may have reused cells the shorter prefix needs again.
            if have and llama_cpp.llama_memory_seq_pos_min(self._mem, self.prefix_seq) > 0:
                self._drop_prefix()
        return want

    def _extend_prefix(self, prefix: list[int]) -> None:

        start = len(self._prefix)
        for i in range(start, len(prefix), self.n_batch):
            chunk = prefix[i : i + self.n_batch]
            b = self._batch
            for j, tok in enumerate(chunk):
                b.token[j] = tok
                b.pos[j] = i + j
                b.n_seq_id[j] = 1
                b.seq_id[j][0] = self.prefix_seq
                b.logits[j] = False
            b.n_tokens = len(chunk)
            self._decode()
        self._prefix = list(prefix)

    def _drop_prefix(self) -> None:
        import llama_cpp

        llama_cpp.llama_memory_seq_rm(self._mem, self.prefix_seq, -1, -1)
        self._prefix = []

    # -- decoding -----------------------------------------------------------------------------
    def _step(self, slots: dict[int, _Slot]) -> None:
        """One llama_decode: the next token of every answering sequence, then prompt chunks."""
        b = self._batch
        n = 0
        decoding = [s for s in slots.values() if s.t_first is not None]
        prompting = [s for s in slots.values() if s.t_first is None]
        for s in prompting:
            s.logits_at = -1
        for s in decoding:
            b.token[n] = s.tokens[-1]
            b.pos[n] = s.n_past
            b.n_seq_id[n] = 1
            b.seq_id[n][0] = s.seq
            b.logits[n] = True
            s.logits_at = n
            s.n_past += 1
            n += 1
        for s in prompting:
            room = self.n_batch - n
            if room <= 0:
                break
            chunk = s.tokens[s.n_past : s.n_past + room]
            for j, tok in enumerate(chunk):
                b.token[n] = tok
                b.pos[n] = s.n_past + j
                b.n_seq_id[n] = 1
                b.seq_id[n][0] = s.seq
                b.logits[n] = False
                n += 1
            s.n_past += len(chunk)
            if s.n_past == len(s.tokens):  # the prompt is in: its last position gives logits
                b.logits[n - 1] = True
                s.logits_at = n - 1
        b.n_tokens = n
        self._decode()

    def _decode(self) -> None:
        import llama_cpp

        with self.model.step_turn():
            ret = llama_cpp.llama_decode(self._ctx, self._batch)
        if ret != 0:
            raise RuntimeError(f"llama_decode failed with status {ret} (batched context)")

    def _advance(self, slot: _Slot, now: float, cancel: threading.Event | None) -> None:
        """Choose the slot's next token from its logits row and apply the stop rules."""
        import llama_cpp
        import numpy as np

        idx = slot.logits_at
        slot.logits_at = -1
        if slot.t_first is None:
            slot.t_first = now
        want_logits = slot.sampler is None or slot.transcript.want_margins
        logits = (
            np.ctypeslib.as_array(
                llama_cpp.llama_get_logits_ith(self._ctx, idx), shape=(self._n_vocab,)
            )
            if want_logits
            else None
        )
        if slot.sampler is None:
            token = int(np.argmax(logits))  # the first maximum, as llama.cpp's greedy sampler
        else:
            token = int(llama_cpp.llama_sampler_sample(slot.sampler.sampler, self._ctx, idx))
        if llama_cpp.llama_vocab_is_eog(self._vocab, token):
            slot.finish = "stop"
            return
        _, stopped = slot.transcript.add(token, logits)
        if stopped:
            slot.finish = "stop"
        elif cancel is not None and cancel.is_set():
            slot.finish = "cancelled"
        elif slot.transcript.n_tokens >= slot.budget:
            slot.finish = "length" if slot.budget == slot.request.decoding.max_tokens else "context"
        else:
            slot.tokens.append(token)

    def _sampler(self, decoding: Decoding, seed: int) -> Any:
        """None for greedy (argmax); else the chain `Llama.generate` would build, same seed."""
        temp = decoding.temperature if decoding.strategy == "sample" else 0.0
        if temp == 0.0:
            return None
        llm = self.model.llm
        llm.set_seed(seed)
        return llm._init_sampler(
            top_k=decoding.top_k,
            top_p=decoding.top_p,
            min_p=decoding.min_p,
            typical_p=1.0,
            temp=temp,
            repeat_penalty=1.0,
        )

    def _generation(self, slot: _Slot, now: float) -> Generation:
        _, generation = slot.transcript.finish(
            slot.finish or "stop",
            prompt_tokens=slot.prompt_tokens,
            seed=slot.request.seed,
            t0=slot.t0,
            t_first=slot.t_first,
            t_end=now,
        )
        return generation
