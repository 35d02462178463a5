"""One loaded llama.cpp model per model role, with a streaming, cancellable generate.

We drive llama.cpp token by token (`Llama.generate`) rather than through `create_completion`, so
that every answer keeps its exact token ids (needed to teacher-force it later), its timing, and a
cancel check between tokens. The wrapper's KV-cache prefix reuse still applies: successive prompts
that share a prefix (k-shot exemplars) only evaluate what differs.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import EngineSettings
from engine.records import Decoding, Generation
from engine.sources import ResolvedModel

_PATCH_LOCK = threading.Lock()


class ModelLoadError(RuntimeError):
    """A GGUF that llama.cpp could not load; one line for the user."""


def llama_cpp_version() -> str:
    import llama_cpp

    return f"llama-cpp-python {llama_cpp.__version__}"


@dataclass(frozen=True)
class ModelInfo:
    """What made an answer: recorded with every run."""

    name: str
    path: str
    sha256: str
    size_bytes: int
    source: str
    architecture: str
    description: str  # llama.cpp's own one-line description, e.g. "gemma3 270M Q4_K - Medium"
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


class Model:
    """A llama.cpp model and its context. Not thread-safe: a lock admits one caller at a time."""

    def __init__(self, resolved: ResolvedModel, settings: EngineSettings | None = None) -> None:
        self.resolved = resolved
        self.settings = settings or resolved.spec.settings
        self._lock = threading.Lock()
        self.llm = _load(resolved.path, self.settings)
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
        with self._lock:
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
        done = None
        for chunk in self.stream(prompt, decoding, **kwargs):
            done = chunk.done or done
        assert done is not None
        return done

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
        n_ctx = llm.n_ctx()
        if len(prompt_ids) >= n_ctx:
            raise ValueError(
                f"prompt is {len(prompt_ids)} tokens, the context holds {n_ctx} "
                f"(raise n_ctx in models.toml or use fewer shots)"
            )
        budget = min(decoding.max_tokens, n_ctx - len(prompt_ids))
        llm.set_seed(seed)
        ids: list[int] = []
        ends: list[int] = []  # byte length of the output after each token
        raw = b""
        for token in forced:
            ids.append(token)
            raw += llm.detokenize([token])
            ends.append(len(raw))
        temp = decoding.temperature if decoding.strategy == "sample" else 0.0
        gen = llm.generate(
            prompt_ids + list(forced),
            top_k=decoding.top_k,
            top_p=decoding.top_p,
            min_p=decoding.min_p,
            typical_p=1.0,
            temp=temp,
            repeat_penalty=1.0,
        )
        stops = tuple(s for s in decoding.stop if s)
        hold = max((len(s) for s in stops), default=0)
        text = ""
        emitted = 0  # characters of `text` already streamed
        # One margin per output token; NaN where the token was forced rather than chosen.
        margins: list[float] = [float("nan")] * len(forced) if want_margins else []
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
                if want_margins:
                    logits = np.ctypeslib.as_array(
                        llama_cpp_get_logits_ith(ctx, -1), shape=(n_vocab,)
                    )
                    margins.append(_top2_margin(logits))
                ids.append(token)
                raw += llm.detokenize([token])
                ends.append(len(raw))
                text = _decode_prefix(raw)
                cut = _find_stop(text, stops, emitted)
                if cut is not None:
                    text = text[:cut]
                    finish = "stop"
                    break
                safe = len(text) - hold if stops else len(text)
                if safe > emitted:
                    yield Chunk(text[emitted:safe])
                    emitted = safe
                if cancel is not None and cancel.is_set():
                    finish = "cancelled"
                    break
                if len(ids) >= budget:
                    finish = "length" if budget == decoding.max_tokens else "context"
                    break
        finally:
            gen.close()
        t_end = time.perf_counter()
        if finish != "stop":
            text = raw.decode("utf-8", errors="replace")
        if len(text) > emitted:
            yield Chunk(text[emitted:])
        kept = _tokens_within(ids, ends, len(text.encode("utf-8")))
        margins = margins[: len(kept)]
        n = len(ids)
        ttft = (t_first or t_end) - t0
        rate = (n - 1) / (t_end - t_first) if n > 1 and t_first and t_end > t_first else 0.0
        yield Chunk(
            "",
            Generation(
                text=text,
                token_ids=tuple(kept),
                prompt_tokens=len(prompt_ids),
                tokens=n,
                ttft_s=ttft,
                gen_time_s=t_end - t0,
                tokens_per_s=rate,
                finish_reason=finish,  # type: ignore[arg-type]
                seed=seed,
                margins=tuple(margins),
                token_ends=tuple(ends[: len(kept)]),
            ),
        )

    def _is_eog(self, token: int) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token))

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
                "n_threads": self.settings.n_threads,
                "n_batch": self.settings.n_batch,
                "n_gpu_layers": self.settings.n_gpu_layers,
                "flash_attn": self.settings.flash_attn,
                "extra_buffers": self.settings.extra_buffers,
            },
        )

    def close(self) -> None:
        self.llm.close()


def llama_cpp_get_logits_ith(ctx: Any, i: int) -> Any:
    import llama_cpp

    return llama_cpp.llama_get_logits_ith(ctx, i)


def _load(path: Path, settings: EngineSettings) -> Any:
    import llama_cpp
    import llama_cpp.llama_cpp as capi

    # Llama() builds its model params from llama_model_default_params() and offers no way to set
    # use_extra_bufts; swap the factory for the duration of this load only.
    original = capi.llama_model_default_params

    def params() -> Any:
        p = original()
        p.use_extra_bufts = settings.extra_buffers
        return p

    with _PATCH_LOCK:
        capi.llama_model_default_params = params
        try:
            return llama_cpp.Llama(
                model_path=str(path),
                n_ctx=settings.n_ctx,
                n_batch=settings.n_batch,
                n_ubatch=settings.n_batch,
                n_threads=settings.n_threads,
                n_threads_batch=settings.n_threads,
                n_gpu_layers=settings.n_gpu_layers,
                seed=settings.seed,
                flash_attn=settings.flash_attn,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(f"llama.cpp could not load {path}: {exc}") from None
        finally:
            capi.llama_model_default_params = original


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
