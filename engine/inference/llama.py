"""One loaded llama.cpp model per model role, with a streaming, cancellable generate.

We drive llama.cpp token by token (`Llama.generate`) rather than through `create_completion`, so
that every answer keeps its exact token ids (needed to teacher-force it later), its timing, and a
cancel check between tokens. The wrapper's KV-cache prefix reuse still applies: successive prompts
that share a prefix (k-shot exemplars) only evaluate what differs.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.errors import ModelLoadError, PromptTooLong
from engine.inference.backend import (
    LoadLog,
    capture_load_log,
    describe_backend,
    resolve_flash_attn,
)
from engine.inference.config import SIDE_BY_SIDE, EngineSettings
from engine.inference.engine import Capabilities, Chunk, ModelInfo, collect
from engine.inference.sources import ResolvedModel
from engine.records import Decoding, Generation

_PATCH_LOCK = threading.Lock()


def llama_cpp_version() -> str:
    import llama_cpp

    return f"llama-cpp-python {llama_cpp.__version__}"


def engine_version(model: object) -> str:
    """What ran a model: llama-cpp-python's version in-process, the server's for a served one."""
    served = getattr(model, "engine_version", None)
    return served if isinstance(served, str) else llama_cpp_version()


class Model:
    """A llama.cpp model and its context. Not thread-safe: a lock admits one caller at a time.

    The in-process implementation of `engine.inference.engine.Engine`: it can do everything.
    """

    capabilities = Capabilities(
        first_tokens=True,
        margins=True,
        forced_prefix=True,
        teacher_forcing=True,
        batched=True,
        cpu_sharing=True,
    )

    def __init__(self, resolved: ResolvedModel, settings: EngineSettings | None = None) -> None:
        self.resolved = resolved
        self.settings = settings or resolved.spec.settings
        self._lock = threading.Lock()
        self.backend = describe_backend()
        self.flash_attn = resolve_flash_attn(
            self.settings.flash_attn, gpu_layers=self.settings.n_gpu_layers, backend=self.backend
        )
        self.llm, self.load_log = _load(resolved.path, self.settings, self.flash_attn)
        self._n_threads = self._n_threads_batch = self.settings.n_threads
        self._step_gate: TurnGate | None = None
        self._answer_gate: TurnGate | None = None
        self.info = self._describe()

    # -- tokens -------------------------------------------------------------------------------
    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        """Tokens of a prompt, with BOS when the model wants one and the text has none yet."""
        bos = self.info.bos_token
        add_bos = not (special and bos and text.startswith(bos))
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)

    def detokenize(self, ids: list[int] | tuple[int, ...]) -> str:
        return self.llm.detokenize(list(ids)).decode("utf-8", errors="replace")

    def piece(self, token_id: int) -> str:
        return self.llm.detokenize([token_id]).decode("utf-8", errors="replace")

    # -- generation ---------------------------------------------------------------------------
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
        """Stream an answer. `special` parses control tokens in the prompt (chat templates).

        `forced` tokens open the answer as if the model had chosen them (cot-decoding branches on
        the first token); `want_margins` records p(top1) - p(top2) at every chosen step, read from
        the logits llama.cpp has already computed, so it costs no extra evaluation.
        """
        with self._lock, self.answer_turn():
            yield from self._stream(
                prompt,
                decoding,
                special,
                decoding.seed if seed is None else seed,
                cancel,
                forced,
                want_margins,
            )

    def top_first_tokens(
        self, prompt: str, k: int, *, special: bool = False
    ) -> list[tuple[int, float]]:
        """The k most probable first answer tokens and their probabilities (cot-decoding)."""
        import numpy as np

        with self._lock:
            ids = self.tokenize(prompt, special=special)
            gen = self.llm.generate(ids, temp=0.0, top_k=0, top_p=1.0, min_p=0.0)
            try:
                with self.step_turn():
                    next(gen)
                logits = np.ctypeslib.as_array(
                    llama_cpp_get_logits_ith(self.llm.ctx, -1), shape=(self.llm.n_vocab(),)
                ).astype(np.float64)
            finally:
                gen.close()
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        top = np.argsort(-probs)[:k]
        return [(int(t), float(probs[t])) for t in top]

    def generate(self, prompt: str, decoding: Decoding, **kwargs: Any) -> Generation:
        return collect(self.stream(prompt, decoding, **kwargs))

    def _stream(
        self,
        prompt: str,
        decoding: Decoding,
        special: bool,
        seed: int,
        cancel: threading.Event | None,
        forced: tuple[int, ...],
        want_margins: bool,
    ) -> Iterator[Chunk]:
        import numpy as np

        llm = self.llm
        t0 = time.perf_counter()
        prompt_ids = self.tokenize(prompt, special=special)
        budget = self.budget(len(prompt_ids), decoding)
        llm.set_seed(seed)
        out = Transcript(self.token_bytes, decoding, forced, want_margins)
        temp = decoding.temperature if decoding.strategy == "sample" else 0.0
        if temp == 0.0:
            gen = self._greedy_tokens(prompt_ids + list(forced))
        else:
            gen = self._sampled_tokens(
                llm.generate(
                    prompt_ids + list(forced),
                    top_k=decoding.top_k,
                    top_p=decoding.top_p,
                    min_p=decoding.min_p,
                    typical_p=1.0,
                    temp=temp,
                    repeat_penalty=1.0,
                )
            )
        t_first: float | None = None
        finish = "length"
        n_vocab = llm.n_vocab()
        ctx = llm.ctx
        eog = self._is_eog
        try:
            for token in gen:
                if t_first is None:
                    t_first = time.perf_counter()
                if eog(token):
                    finish = "stop"
                    break
                logits = (
                    np.ctypeslib.as_array(llama_cpp_get_logits_ith(ctx, -1), shape=(n_vocab,))
                    if want_margins
                    else None
                )
                piece, stopped = out.add(token, logits)
                if stopped:
                    finish = "stop"
                    break
                if piece:
                    yield Chunk(piece)
                if cancel is not None and cancel.is_set():
                    finish = "cancelled"
                    break
                if out.n_tokens >= budget:
                    finish = "length" if budget == decoding.max_tokens else "context"
                    break
        finally:
            gen.close()
        t_end = time.perf_counter()
        rest, generation = out.finish(
            finish, prompt_tokens=len(prompt_ids), seed=seed, t0=t0, t_first=t_first, t_end=t_end
        )
        if rest:
            yield Chunk(rest)
        yield Chunk("", generation)

    def _sampled_tokens(self, gen: Generator[int, Any, None]) -> Generator[int, Any, None]:
        """Tokens from `Llama.generate` (llama.cpp's seeded sampler chain), one decode per turn."""
        try:
            while True:
                with self.step_turn():
                    token = next(gen)
                yield token
        finally:
            gen.close()

    def _greedy_tokens(self, ids: list[int]) -> Generator[int, Any, None]:
        """Greedy tokens without llama.cpp's sampler: the first maximum of the logits row.

        The same token llama.cpp's greedy sampler picks, without copying the vocabulary into a
        candidate array every step (0.2-1 ms a token: 2-5% of a small model's decode time).
        Evaluates through `Llama.eval`, so the wrapper's record of the context (tokens, KV
        prefix) stays right for the next call, which reuses the shared prompt prefix.
        """
        import numpy as np

        llm = self.llm
        # Keep the KV cache of the longest common prefix; always evaluate at least one token so
        # the logits are fresh.
        keep = 0
        if llm.n_tokens > 0:
            for a, b in zip(llm.input_ids[: llm.n_tokens].tolist(), ids, strict=False):
                if a != b:
                    break
                keep += 1
            keep = min(keep, len(ids) - 1)
        if keep > 0 and llm._ctx.kv_cache_seq_rm(-1, keep, -1):
            llm.n_tokens = keep
        else:
            llm.reset()
        pending = ids[llm.n_tokens :]
        n_vocab = llm.n_vocab()
        ctx = llm.ctx
        step = self.step_turn
        argmax = np.argmax
        as_array = np.ctypeslib.as_array
        while True:
            with step():
                llm.eval(pending)
            token = int(argmax(as_array(llama_cpp_get_logits_ith(ctx, -1), shape=(n_vocab,))))
            yield token
            pending = [token]

    def budget(self, n_prompt: int, decoding: Decoding) -> int:
        """Tokens an answer may have: max_tokens, or what the context has left after the prompt."""
        # llama.cpp rounds the context up (to 256 cells); the wrapper's buffers hold what was asked.
        n_ctx = min(self.llm.n_ctx(), self.settings.n_ctx)
        if n_prompt >= n_ctx:
            raise PromptTooLong(
                f"prompt is {n_prompt} tokens, the context holds {n_ctx} "
                f"(raise n_ctx in models.toml or use fewer shots)"
            )
        return min(decoding.max_tokens, n_ctx - n_prompt)

    def token_bytes(self, token_id: int) -> bytes:
        return self.llm.detokenize([token_id])

    # -- sharing the CPU with the other model of the pair -----------------------------------------
    @property
    def n_threads(self) -> int:
        return self._n_threads

    @property
    def n_threads_batch(self) -> int:
        return self._n_threads_batch

    def set_threads(self, n_threads: int, n_threads_batch: int | None = None) -> None:
        """Threads for decoding one token, and for prompt batches (cheap; no reload)."""
        import llama_cpp

        n_threads = max(1, int(n_threads))
        n_batch = max(1, int(n_threads_batch or n_threads))
        llama_cpp.llama_set_n_threads(self.llm.ctx, n_threads, n_batch)
        self.llm.n_threads, self.llm.n_threads_batch = n_threads, n_batch
        self._n_threads, self._n_threads_batch = n_threads, n_batch
        settings = {**self.info.settings, "n_threads": n_threads, "n_threads_batch": n_batch}
        self.info = replace(self.info, settings=settings)

    def set_pacing(self, step_gate: TurnGate | None, answer_gate: TurnGate | None) -> None:
        """Gates shared with the pair's other model: take turns per token or per answer."""
        self._step_gate = step_gate
        self._answer_gate = answer_gate

    def step_turn(self) -> AbstractContextManager[Any]:
        """Hold around one llama.cpp decode: with 'alternate' pacing the models take turns."""
        return self._step_gate if self._step_gate is not None else nullcontext()

    def answer_turn(self) -> AbstractContextManager[Any]:
        return self._answer_gate if self._answer_gate is not None else nullcontext()

    def _is_eog(self, token: int) -> bool:
        return bool(_vocab_is_eog(self.llm._model.vocab, token))

    # -- description --------------------------------------------------------------------------
    def _describe(self) -> ModelInfo:
        import llama_cpp

        llm = self.llm
        meta = dict(llm.metadata)
        buf = ctypes.create_string_buffer(256)
        llama_cpp.llama_model_desc(llm.model, buf, 256)
        vocab = llm._model.vocab
        bos_id = llama_cpp.llama_vocab_bos(vocab)
        eos_id = llama_cpp.llama_vocab_eos(vocab)
        r = self.resolved
        return ModelInfo(
            name=r.spec.name,
            path=str(r.path),
            sha256=r.sha256,
            size_bytes=r.size_bytes,
            source=r.spec.source_text,
            architecture=meta.get("general.architecture", ""),
            description=buf.value.decode("utf-8", errors="replace"),
            quantization=_quant_name(meta.get("general.file_type")),
            n_params=int(llama_cpp.llama_model_n_params(llm.model)),
            n_vocab=llm.n_vocab(),
            n_ctx_train=int(llama_cpp.llama_model_n_ctx_train(llm.model)),
            chat_template=meta.get("tokenizer.chat_template"),
            bos_token=_token_text(llm, bos_id),
            eos_token=_token_text(llm, eos_id),
            settings={
                "n_ctx": llm.n_ctx(),
                "n_threads": self._n_threads,
                "n_batch": self.settings.n_batch,
                "n_gpu_layers": self.settings.n_gpu_layers,
                "flash_attn": self.flash_attn,
                "extra_buffers": self.settings.extra_buffers,
                **self.offload_report(),
            },
        )

    def offload_report(self) -> dict[str, Any]:
        """Backend, device and the layers this load actually put on the GPU (llama.cpp's log)."""
        done = self.load_log.offloaded
        devices = self.load_log.devices or self.backend.devices
        return {
            "backend": self.backend.name if done and done[0] > 0 else "CPU",
            "backend_built": self.backend.name,
            "device": ", ".join(devices) if done and done[0] > 0 else "CPU",
            "layers_offloaded": done[0] if done else 0,
            "layers_total": done[1] if done else None,
        }

    def close(self) -> None:
        self.llm.close()


def llama_cpp_get_logits_ith(ctx: Any, i: int) -> Any:
    import llama_cpp

    return llama_cpp.llama_get_logits_ith(ctx, i)


def _vocab_is_eog(vocab: Any, token: int) -> bool:
    import llama_cpp

    return llama_cpp.llama_vocab_is_eog(vocab, token)


def _load(path: Path, settings: EngineSettings, flash_attn: bool) -> tuple[Any, LoadLog]:
    import llama_cpp
    import llama_cpp.llama_cpp as capi

    # Llama() builds its model params from llama_model_default_params() and offers no way to set
    # use_extra_bufts; swap the factory for the duration of this load only.
    original = capi.llama_model_default_params

    def params() -> Any:
        p = original()
        p.use_extra_bufts = settings.extra_buffers
        return p

    with _PATCH_LOCK, capture_load_log() as log:
        capi.llama_model_default_params = params
        try:
            llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=settings.n_ctx,
                n_batch=settings.n_batch,
                n_ubatch=settings.n_batch,
                n_threads=settings.n_threads,
                n_threads_batch=settings.n_threads,
                n_gpu_layers=settings.n_gpu_layers,
                seed=settings.seed,
                flash_attn=flash_attn,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(f"llama.cpp could not load {path}: {exc}") from None
        finally:
            capi.llama_model_default_params = original
    return llm, log


def _token_text(llm: Any, token_id: int) -> str:
    if token_id < 0:
        return ""
    return llm.detokenize([token_id], special=True).decode("utf-8", errors="replace")


def _quant_name(file_type: str | None) -> str:
    import llama_cpp.llama_cpp as capi

    if file_type is None:
        return ""
    try:
        value = int(file_type)
    except ValueError:
        return str(file_type)
    for name in dir(capi):
        if name.startswith("LLAMA_FTYPE_") and getattr(capi, name) == value:
            return name.removeprefix("LLAMA_FTYPE_").removeprefix("MOSTLY_")
    return str(value)


def _top2_margin(logits: Any) -> float:
    import numpy as np

    top2 = np.partition(logits, -2)[-2:]
    hi, lo = float(max(top2)), float(min(top2))
    # softmax probabilities of the two best, computed stably against the max logit
    z = np.exp(logits - hi, dtype=np.float64).sum()
    return (1.0 - float(np.exp(lo - hi))) / float(z)


def _decode_prefix(raw: bytes) -> str:
    """Decode the longest valid UTF-8 prefix: a multi-byte character may span two tokens."""
    for cut in range(len(raw), max(len(raw) - 4, -1), -1):
        try:
            return raw[:cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


def _find_stop(text: str, stops: tuple[str, ...], emitted: int) -> int | None:
    if not stops:
        return None
    start = max(0, emitted - max(len(s) for s in stops))
    found = [i for s in stops if (i := text.find(s, start)) >= 0]
    return min(found) if found else None


def _tokens_within(ids: list[int], ends: list[int], n_bytes: int) -> list[int]:
    """The generated tokens whose bytes lie wholly inside the kept text."""
    return [t for t, end in zip(ids, ends, strict=True) if end <= n_bytes]


class Transcript:
    """An answer as it grows: token ids, bytes, visible text, stop sequences, margins.

    Shared by the one-at-a-time stream and the batched decoder, so both cut an answer at the same
    place, hold back the same text while a stop sequence might still be forming, and record the
    same tokens, byte ends and margins.
    """

    def __init__(
        self,
        token_bytes: Callable[[int], bytes],
        decoding: Decoding,
        forced: Sequence[int] = (),
        want_margins: bool = False,
    ) -> None:
        self._bytes = token_bytes
        self.stops = tuple(s for s in decoding.stop if s)
        self.hold = max((len(s) for s in self.stops), default=0)
        self.ids: list[int] = []
        self.ends: list[int] = []  # byte length of the output after each token
        self.raw = b""
        self.want_margins = want_margins
        # One margin per output token; NaN where the token was forced rather than chosen.
        self.margins: list[float] = [float("nan")] * len(forced) if want_margins else []
        for token in forced:
            self.ids.append(token)
            self.raw += token_bytes(token)
            self.ends.append(len(self.raw))
        self.text = _decode_prefix(self.raw)  # forced tokens are part of the answer
        self.emitted = 0  # characters of `text` already streamed

    @property
    def n_tokens(self) -> int:
        return len(self.ids)

    def add(self, token: int, logits: Any = None) -> tuple[str, bool]:
        """Append a chosen (non end-of-generation) token; returns (text to stream, stopped)."""
        if self.want_margins:
            self.margins.append(_top2_margin(logits))
        self.ids.append(token)
        self.raw += self._bytes(token)
        self.ends.append(len(self.raw))
        text = _decode_prefix(self.raw)
        cut = _find_stop(text, self.stops, self.emitted)
        if cut is not None:
            self.text = text[:cut]
            return "", True
        self.text = text
        safe = len(text) - self.hold if self.stops else len(text)
        if safe > self.emitted:
            piece = text[self.emitted : safe]
            self.emitted = safe
            return piece, False
        return "", False

    def finish(
        self,
        finish: str,
        *,
        prompt_tokens: int,
        seed: int,
        t0: float,
        t_first: float | None,
        t_end: float,
    ) -> tuple[str, Generation]:
        """The text not yet streamed, and the finished generation."""
        text = self.text
        if finish != "stop":
            text = self.raw.decode("utf-8", errors="replace")
        rest = text[self.emitted :]
        self.emitted = len(text)
        kept = _tokens_within(self.ids, self.ends, len(text.encode("utf-8")))
        n = len(self.ids)
        ttft = (t_first or t_end) - t0
        rate = (n - 1) / (t_end - t_first) if n > 1 and t_first and t_end > t_first else 0.0
        return rest, Generation(
            text=text,
            token_ids=tuple(kept),
            prompt_tokens=prompt_tokens,
            tokens=n,
            ttft_s=ttft,
            gen_time_s=t_end - t0,
            tokens_per_s=rate,
            finish_reason=finish,  # type: ignore[arg-type]
            seed=seed,
            margins=tuple(self.margins[: len(kept)]),
            token_ends=tuple(self.ends[: len(kept)]),
        )


class TurnGate:
    """A first-come, first-served lock: two models holding it per step take strict turns.

    A plain Lock lets the thread that just released it win it straight back, starving the other
    model's stream; tickets hand the turn to whoever waited first.
    """

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._next = 0
        self._serving = 0

    def __enter__(self) -> TurnGate:
        with self._cv:
            ticket = self._next
            self._next += 1
            while self._serving != ticket:
                self._cv.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cv:
            self._serving += 1
            self._cv.notify_all()


def share_cpu(models: Sequence[Model], mode: str, cores: int | None = None) -> None:
    """Set threads and pacing for models that answer side by side on one CPU.

    split      both at once; decoding with the cores divided between them, prompts with all
               cores (decoding a small model does not gain much from a second core, prompt
               evaluation does, and one model's prompt often runs while the other decodes)
    parallel   both at once, each with all cores (oversubscribes the CPU when both work)
    alternate  both streams move, the models take turns token by token, each with all cores
    sequential one answer at a time, each with all cores (streams do not move together)
    A model whose models.toml sets `threads` explicitly keeps that count.
    """
    if mode not in SIDE_BY_SIDE:
        raise ValueError(f"side_by_side: expected one of {', '.join(SIDE_BY_SIDE)}, got {mode!r}")
    # Served models run elsewhere: only in-process models share this CPU.
    unique = [m for m in {id(m): m for m in models}.values() if m.capabilities.cpu_sharing]
    cores = cores or os.cpu_count() or 1
    together = len(unique) > 1
    step = TurnGate() if together and mode == "alternate" else None
    answer = TurnGate() if together and mode == "sequential" else None
    for m in unique:
        if m.settings.threads > 0:
            m.set_threads(m.settings.threads)
        elif together and mode == "split":
            m.set_threads(max(1, cores // len(unique)), cores)
        else:
            m.set_threads(cores)
        m.set_pacing(step, answer)
