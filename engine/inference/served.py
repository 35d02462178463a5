"""A model on a serving engine (llama-server, vLLM, SGLang, any OpenAI-compatible server).

`ServedModel` implements the `Engine` protocol over HTTP, so the runner, the app and resume treat
it exactly like an in-process GGUF. tunelens renders every prompt itself (the chat template comes
from the server where it says it: llama-server's `/props`), sends the raw text to a completions
endpoint, and sets every sampling field explicitly: server defaults differ (llama-server samples at
temperature 0.8 unless told, vLLM's completions at 1.0), and greedy must mean greedy.

What each kind can do beyond text is declared in `capabilities`; a feature it lacks is refused in
one line before a run starts.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from engine.errors import PromptTooLong, ServerError, StreamBroken
from engine.inference.config import EngineSettings, ModelSpec, ServerSource
from engine.inference.engine import Capabilities, Chunk, ModelInfo, collect
from engine.inference.http import Http
from engine.records import Decoding, Generation

# Samplers llama-server would otherwise apply with its own defaults: neutralised so that a greedy
# or plain temperature/top-p/top-k/min-p request means exactly that, as in-process.
_LLAMA_SERVER_NEUTRAL = {
    "typical_p": 1.0,
    "repeat_penalty": 1.0,
    "repeat_last_n": 0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "mirostat": 0,
    "dry_multiplier": 0.0,
    "xtc_probability": 0.0,
    "top_n_sigma": -1.0,
}


class ServedModel:
    """One served model: an `Engine` whose work is done by a server. Safe to call from threads."""

    def __init__(self, spec: ModelSpec, *, probe_timeout_s: float = 10.0) -> None:
        assert spec.server is not None
        self.spec = spec
        self.server: ServerSource = spec.server
        self.kind = self.server.kind
        self.settings: EngineSettings = spec.settings
        self.http = Http(
            self.server.urls,
            api_key_env=self.server.api_key_env,
            timeout_s=self.server.timeout_s,
            retries=self.server.retries,
        )
        self._props: dict[str, Any] = {}
        self.model_id, self.n_ctx, self.slots, self.engine_version = self._probe(probe_timeout_s)
        self.capabilities = Capabilities(
            first_tokens=True,
            margins=True,
            forced_prefix=True,
            # Rank of every given token under this model: vLLM's prompt_logprobs; llama-server
            # returns no prompt logprobs (one call per position would be needed).
            teacher_forcing=False,
            batched=False,
            cpu_sharing=False,
        )
        self.info = self._describe()

    # -- what the server serves -------------------------------------------------------------------
    def _probe(self, timeout_s: float) -> tuple[str, int | None, int | None, str]:
        """Check every replica answers and serves the configured model; read what it reports."""
        served: str | None = None
        for url in self.server.urls:
            one = Http((url,), api_key_env=self.server.api_key_env, retries=1)
            try:
                reply = one.get("/v1/models", timeout_s=timeout_s, retries=1)
            finally:
                one.close()
            if reply.status != 200 or not isinstance(reply.body, dict):
                raise ServerError(f"{url}/v1/models: HTTP {reply.status} (is it {self.kind}?)")
            ids = [m.get("id") for m in reply.body.get("data", []) if isinstance(m, dict)]
            if not ids:
                raise ServerError(f"{url}: the server lists no model")
            want = self.server.model
            if want is not None and want not in ids and not _same_file(want, ids):
                raise ServerError(
                    f"{url} serves {', '.join(map(str, ids))}, not {want!r} "
                    f"(models.toml [models.{self.spec.name}] server.model)"
                )
            got = want if want in ids else ids[0]
            if served is not None and got != served:
                raise ServerError(f"{url} serves {got!r}, the other replicas {served!r}")
            served = got
        assert served is not None
        n_ctx = slots = None
        version = self.kind
        if self.kind == "llama-server":
            props = self.http.get("/props", timeout_s=timeout_s).body
            if isinstance(props, dict):
                self._props = props
                gen = props.get("default_generation_settings") or {}
                n_ctx = gen.get("n_ctx") or props.get("n_ctx")
                slots = props.get("total_slots")
                build = props.get("build_info")
                version = f"llama-server {build}" if build else "llama-server"
        elif self.kind == "vllm":
            reply = self.http.get("/version", timeout_s=timeout_s, retries=0)
            if reply.status == 200 and isinstance(reply.body, dict):
                version = f"vllm {reply.body.get('version', '')}".strip()
            for m in self._models_list():
                if m.get("id") == served and m.get("max_model_len"):
                    n_ctx = int(m["max_model_len"])
        return served, n_ctx, slots, version

    def _models_list(self) -> list[dict[str, Any]]:
        body = self.http.get("/v1/models").body
        return [m for m in body.get("data", []) if isinstance(m, dict)] if isinstance(
            body, dict
        ) else []

    def _describe(self) -> ModelInfo:
        props = self._props
        template = props.get("chat_template") or None
        return ModelInfo(
            name=self.spec.name,
            path=self.server.urls[0],
            sha256=f"served:{self.kind}:{self.model_id}",
            size_bytes=0,
            source=self.spec.source_text,
            architecture="",
            description=f"{self.model_id} on {self.engine_version}",
            quantization="",
            n_params=0,
            n_vocab=0,
            n_ctx_train=int(self.n_ctx or 0),
            chat_template=template if isinstance(template, str) else None,
            bos_token=str(props.get("bos_token") or ""),
            eos_token=str(props.get("eos_token") or ""),
            settings={
                "server_kind": self.kind,
                "urls": list(self.server.urls),
                "served_model": self.model_id,
                "engine_version": self.engine_version,
                "n_ctx": self.n_ctx,
                "total_slots": self.slots,
                "server_props": _props_summary(props),
                # Who applies an instruct model's chat template: tunelens, with the template the
                # server reports, or the server itself (its rendered text is what is recorded).
                "chat_template_source": (
                    "tunelens (template from /props)" if template
                    else "none (raw text)" if self.kind == "openai"
                    else "server (/apply-template)" if self.kind == "llama-server"
                    else "server (/tokenize with messages, then /detokenize)"
                ),
            },
        )

    @property
    def chat_renderer(self) -> Callable[[list[dict[str, str]]], str] | None:
        """Render chat messages on the server, where tunelens cannot read the template itself.

        llama-server: `/apply-template`; vLLM and SGLang: `/tokenize` with the messages, then
        `/detokenize`, so the text sent (and recorded) is exactly what the server's template made.
        None where the server offers neither (a plain OpenAI-compatible server).
        """
        if self.info.chat_template or self.kind == "openai":
            return None
        return self._render_on_server

    def _render_on_server(self, messages: list[dict[str, str]]) -> str:
        url = self.server.urls[0]
        if self.kind == "llama-server":
            reply = self.http.post("/apply-template", {"messages": messages})
            text = reply.body.get("prompt") if isinstance(reply.body, dict) else None
            if reply.status != 200 or not isinstance(text, str):
                raise ServerError(f"{url}/apply-template: HTTP {reply.status}, no prompt")
            return text
        reply = self.http.post("/tokenize", {"model": self.model_id, "messages": messages,
                                             "add_generation_prompt": True})
        tokens = reply.body.get("tokens") if isinstance(reply.body, dict) else None
        if reply.status != 200 or not isinstance(tokens, list):
            raise ServerError(f"{url}/tokenize (messages): HTTP {reply.status}")
        return self.detokenize([int(t) for t in tokens])

    @property
    def concurrency(self) -> int:
        """Requests in flight for this model: models.toml's, else the server's slot count."""
        return self.server.concurrency or self.slots or 1

    # -- tokens -----------------------------------------------------------------------------------
    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        if self.kind == "llama-server":
            bos = self.info.bos_token
            add = not (special and bos and text.startswith(bos))
            body = {"content": text, "add_special": add, "parse_special": special}
            reply = self.http.post("/tokenize", body)
            tokens = reply.body.get("tokens") if isinstance(reply.body, dict) else None
        else:
            # A chat prompt already holds its special tokens (BOS): add none twice.
            body = {"model": self.model_id, "prompt": text, "add_special_tokens": not special}
            reply = self.http.post("/tokenize", body)
            tokens = reply.body.get("tokens") if isinstance(reply.body, dict) else None
        if reply.status != 200 or not isinstance(tokens, list):
            raise ServerError(f"{self.server.urls[0]}/tokenize: HTTP {reply.status}")
        return [int(t["id"] if isinstance(t, dict) else t) for t in tokens]

    def detokenize(self, ids: list[int] | tuple[int, ...]) -> str:
        if self.kind == "llama-server":
            reply = self.http.post("/detokenize", {"tokens": list(ids)})
            key = "content"
        else:
            reply = self.http.post("/detokenize", {"model": self.model_id, "tokens": list(ids)})
            key = "prompt"
        if reply.status != 200 or not isinstance(reply.body, dict):
            raise ServerError(f"{self.server.urls[0]}/detokenize: HTTP {reply.status}")
        return str(reply.body.get(key, ""))

    def budget(self, n_prompt: int, decoding: Decoding) -> int:
        """Tokens an answer may have; the per-slot context is what the server reports."""
        if not self.n_ctx:
            return decoding.max_tokens
        if n_prompt >= self.n_ctx:
            raise PromptTooLong(
                f"prompt is {n_prompt} tokens, the server's context holds {self.n_ctx} "
                "(start the server with a larger context or use fewer shots)"
            )
        return min(decoding.max_tokens, self.n_ctx - n_prompt)

    # -- generation -------------------------------------------------------------------------------
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
        """Stream an answer from the server; a dropped stream is asked again from the start.

        Greedy and seeded answers are the same when asked again, so what was already streamed
        is not streamed twice: the repeated prefix is held back.
        """
        seed = decoding.seed if seed is None else seed
        shown = 0
        for attempt in range(self.server.retries + 1):
            try:
                for chunk in self._stream_once(
                    prompt, decoding, special, seed, cancel, forced, want_margins
                ):
                    # chunk.text is the answer so far; stream only what was not shown yet
                    text = chunk.done.text if chunk.done is not None else chunk.text
                    if len(text) > shown:
                        yield Chunk(text[shown:])
                        shown = len(text)
                    if chunk.done is not None:
                        yield Chunk("", chunk.done)
                        return
                return
            except StreamBroken:
                if attempt >= self.server.retries:
                    raise
                time.sleep(0.5 * (2**attempt))

    def _stream_once(
        self,
        prompt: str,
        decoding: Decoding,
        special: bool,
        seed: int,
        cancel: threading.Event | None,
        forced: tuple[int, ...],
        want_margins: bool,
    ) -> Iterator[Chunk]:
        """One streamed request. Yields chunks whose text is the answer so far (cumulative)."""
        t0 = time.perf_counter()
        prompt_ids: list[int] | None = None
        if forced or self.n_ctx:
            prompt_ids = self.tokenize(prompt, special=special)
        n_prompt = len(prompt_ids) if prompt_ids is not None else 0
        budget = self.budget(n_prompt, decoding) if prompt_ids is not None else decoding.max_tokens
        budget = max(1, budget - len(forced))
        sent_prompt: Any = prompt_ids + list(forced) if forced else prompt
        forced_text = self.detokenize(forced) if forced else ""
        ids: list[int] = list(forced)
        ends: list[int] = [len(forced_text.encode())] * len(forced)
        margins: list[float] = [math.nan] * len(forced) if want_margins else []
        text = forced_text
        finish = "length"
        t_first: float | None = None
        usage_prompt: int | None = None
        last_silent = False  # the last token came with no text
        if self.kind == "llama-server":
            path, body = "/completion", self._llama_server_body(
                sent_prompt, decoding, seed, budget, want_margins
            )
        else:
            path, body = "/v1/completions", self._openai_body(
                sent_prompt, decoding, seed, budget, want_margins
            )
            if self.kind == "vllm" and isinstance(sent_prompt, str):
                body["add_special_tokens"] = not special
        events = self.http.stream(path, body)
        try:
            for event in events:
                piece, tokens, probs, done, reason, n_eval = self._parse(event)
                if (piece or tokens) and t_first is None:
                    t_first = time.perf_counter()
                if piece:
                    text += piece
                if done and reason == "eos" and last_silent and len(ids) > len(forced):
                    # llama-server streams the end-of-generation token as a silent event of
                    # its own: it is not part of the answer (in-process answers exclude it).
                    ids.pop()
                    ends.pop()
                    if want_margins and len(margins) > len(ids):
                        margins.pop()
                if tokens:
                    last_silent = not piece
                    ids.extend(tokens)
                    size = len(text.encode("utf-8"))
                    ends.extend([size] * len(tokens))
                if want_margins and probs:
                    margins.extend(_margin(p) for p in probs)
                if n_eval is not None:
                    usage_prompt = n_eval
                if done:
                    finish = "stop" if reason == "eos" else reason  # read on: usage follows
                    continue
                if piece:
                    yield Chunk(text)
                if cancel is not None and cancel.is_set():
                    finish = "cancelled"
                    break
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        if finish == "length" and budget < decoding.max_tokens - len(forced):
            finish = "context"
        t_end = time.perf_counter()
        n = len(ids)
        rate = (n - 1) / (t_end - t_first) if n > 1 and t_first and t_end > t_first else 0.0
        if want_margins and len(margins) < n:
            margins.extend([math.nan] * (n - len(margins)))
        yield Chunk(
            "",
            Generation(
                text=text,
                token_ids=tuple(ids),
                prompt_tokens=usage_prompt if usage_prompt is not None else n_prompt,
                tokens=n,
                ttft_s=(t_first or t_end) - t0,
                gen_time_s=t_end - t0,
                tokens_per_s=rate,
                finish_reason=finish,  # type: ignore[arg-type]
                seed=seed,
                margins=tuple(margins[:n]) if want_margins else (),
                token_ends=tuple(ends[:n]) if len(ends) >= n else (),
            ),
        )

    def _sampling(self, decoding: Decoding) -> dict[str, Any]:
        sample = decoding.strategy == "sample"
        return {
            "temperature": decoding.temperature if sample else 0.0,
            "top_p": decoding.top_p if sample else 1.0,
            "top_k": decoding.top_k if sample else 0,
            "min_p": decoding.min_p if sample else 0.0,
        }

    def _llama_server_body(
        self, prompt: Any, decoding: Decoding, seed: int, budget: int, margins: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt": prompt,
            "n_predict": budget,
            "seed": seed,
            "stop": list(decoding.stop),
            "stream": True,
            "cache_prompt": True,
            "return_tokens": True,
            **self._sampling(decoding),
            **_LLAMA_SERVER_NEUTRAL,
        }
        if decoding.strategy != "sample":
            body["top_k"] = 1  # greedy: the most probable token, whatever the sampler chain
        if margins:
            body["n_probs"] = 2
        return body

    def _openai_body(
        self, prompt: Any, decoding: Decoding, seed: int, budget: int, margins: bool
    ) -> dict[str, Any]:
        sampling = self._sampling(decoding)
        body: dict[str, Any] = {
            "model": self.model_id,
            "prompt": prompt,
            "max_tokens": budget,
            "seed": seed,
            "stop": list(decoding.stop) or None,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": sampling["temperature"],
            "top_p": sampling["top_p"],
        }
        if self.kind in ("vllm", "sglang"):
            body["top_k"] = sampling["top_k"] if sampling["top_k"] > 0 else -1
            body["min_p"] = sampling["min_p"]
        elif sampling["top_k"] or sampling["min_p"]:
            raise ServerError(
                f"{self.server.urls[0]}: an OpenAI-compatible server takes no top_k/min_p "
                "(set kind = \"vllm\" or \"sglang\" if it is one)"
            )
        if self.kind == "vllm":
            body["return_tokens_as_token_ids"] = True
            body["logprobs"] = 2 if margins else 1
        elif margins:
            body["logprobs"] = 2
        return body

    def _parse(
        self, event: dict[str, Any]
    ) -> tuple[str, list[int], list[list[float]], bool, str, int | None]:
        """(text piece, token ids, top logprobs per token, done, finish reason, prompt tokens)."""
        if self.kind == "llama-server":
            piece = str(event.get("content") or "")
            tokens = [int(t) for t in event.get("tokens") or []]
            probs = [
                [float(c.get("logprob", math.log(max(c.get("prob", 1e-30), 1e-30))))
                 for c in (p.get("top_logprobs") or p.get("probs") or [])]
                for p in event.get("completion_probabilities") or []
            ]
            done = bool(event.get("stop"))
            stop_type = event.get("stop_type")
            reason = {"eos": "eos", "word": "stop"}.get(str(stop_type), "length")
            timings = event.get("timings") or {}
            n_eval = event.get("tokens_evaluated") or timings.get("prompt_n")
            return piece, tokens, probs, done, reason, n_eval if done else None
        choices = event.get("choices") or []
        usage = event.get("usage") or {}
        n_prompt = usage.get("prompt_tokens")
        if not choices:
            return "", [], [], False, "length", n_prompt
        c = choices[0]
        piece = str(c.get("text") or "")
        lp = c.get("logprobs") or {}
        tokens: list[int] = []
        for t in lp.get("tokens") or []:
            if isinstance(t, str) and t.startswith("token_id:"):
                tokens.append(int(t.split(":", 1)[1]))
        probs = [sorted(top.values(), reverse=True) for top in (lp.get("top_logprobs") or [])
                 if isinstance(top, dict)]
        reason = c.get("finish_reason")
        done = reason is not None
        return piece, tokens, probs, done, "stop" if reason == "stop" else "length", n_prompt

    def generate(self, prompt: str, decoding: Decoding, **kwargs: Any) -> Generation:
        return collect(self.stream(prompt, decoding, **kwargs))

    def top_first_tokens(
        self, prompt: str, k: int, *, special: bool = False
    ) -> list[tuple[int, float]]:
        """The k most probable first tokens and their probabilities, from one 1-token request."""
        if self.kind == "llama-server":
            body = {
                "prompt": self.tokenize(prompt, special=special),
                "n_predict": 1,
                "n_probs": k,
                "temperature": 0.0,
                "cache_prompt": True,
                "stream": False,
                **_LLAMA_SERVER_NEUTRAL,
            }
            reply = self.http.post("/completion", body)
            probs = reply.body.get("completion_probabilities") if isinstance(
                reply.body, dict
            ) else None
            if reply.status != 200 or not probs:
                raise ServerError(f"{self.server.urls[0]}/completion: no first-token probabilities")
            top = probs[0].get("top_logprobs") or probs[0].get("probs") or []
            out = []
            for c in top[:k]:
                p = math.exp(c["logprob"]) if "logprob" in c else float(c.get("prob", 0.0))
                out.append((int(c["id"]), p))
            return out
        body = {
            "model": self.model_id,
            "prompt": self.tokenize(prompt, special=special),
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": k,
            "return_tokens_as_token_ids": True,
        }
        reply = self.http.post("/v1/completions", body)
        try:
            top = reply.body["choices"][0]["logprobs"]["top_logprobs"][0]
        except (KeyError, IndexError, TypeError):
            raise ServerError(
                f"{self.server.urls[0]}/v1/completions: no top logprobs (logprobs: {k})"
            ) from None
        ranked = sorted(top.items(), key=lambda kv: -kv[1])[:k]
        return [(_token_id(t), math.exp(lp)) for t, lp in ranked]

    # -- pairing with the other model -------------------------------------------------------------
    def answer_turn(self) -> AbstractContextManager[Any]:
        return nullcontext()

    def close(self) -> None:
        self.http.close()


def _margin(top_logprobs: list[float]) -> float:
    """p(top1) - p(top2) at one step, from the server's top logprobs."""
    ps = sorted((math.exp(lp) for lp in top_logprobs), reverse=True)
    if not ps:
        return math.nan
    return ps[0] - (ps[1] if len(ps) > 1 else 0.0)


def _token_id(token: str) -> int:
    if token.startswith("token_id:"):
        return int(token.split(":", 1)[1])
    raise ServerError(f"the server named a token {token!r} without its id")


def _same_file(want: str, ids: list[Any]) -> bool:
    """llama-server names its model by file path: accept the file name alone."""
    return any(isinstance(i, str) and i.rsplit("/", 1)[-1] == want for i in ids)


def _props_summary(props: dict[str, Any]) -> dict[str, Any]:
    keep = ("model_path", "total_slots", "build_info", "modalities")
    out = {k: props[k] for k in keep if k in props}
    gen = props.get("default_generation_settings") or {}
    if "n_ctx" in gen:
        out["n_ctx"] = gen["n_ctx"]
    return out
