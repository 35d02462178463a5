"""Tiny, real GGUF models for tests.

`write_tiny_model` writes a llama-architecture GGUF of under a megabyte (defaults) with the `gguf`
package: a byte-level BPE vocabulary, random seeded weights and an optional ChatML chat template.
llama.cpp loads it in milliseconds and generates with it like with any model, so tests exercise the
real library (tokenizer, chat template, sampling, streaming, KV cache, logits) quickly.

Vocabulary (`build_vocab`, identical for every model): ids 0-255 are the byte tokens in GPT-2's
byte-to-unicode form (id == byte value); then one token per BPE merge (learnt from a small embedded
English text, so common words are single tokens); then the "ending" tokens ``a.`` ... ``z.``,
``0.`` ... ``9.`` (letter or digit followed by a period: the GPT-2 pre-tokenizer splits punctuation
from words, so tokenising text never yields them, only the model does); then the control tokens
``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>``.

Random weights alone would pick non-printable bytes and bytes >= 0x80 (invalid UTF-8) and never
stop. Two residual channels that no layer reads or writes steer the output:

* channel 0 holds a constant in every token embedding; after the final RMSNorm it is a positive
  number, so the output weights in that column act as a per-token logit bias. Tokens with bytes
  outside printable ASCII and ``\\n``, ``<|im_start|>`` and the end token the model does not use get
  a large negative bias: greedy (and low-temperature) text is printable ASCII, hence valid UTF-8.
* channel 1 is set on the ending tokens; the model's end token reads it, so once the model writes an
  ending token (e.g. ``s.``) the next token is the end token: generation stops with finish reason
  "stop" and text ending in a period. A prompt cannot end with an ending token, so a model never
  stops before its first token. ``stop_bias`` sets how often ending tokens win.

``noise > 0`` adds ``noise * N(0, 1)`` (seeded by ``noise_seed``) to every random weight matrix and
keeps the vocabulary and the two channels: a "perturbed copy" that shares token ids with the
original, for token-distribution-shift tests. Weights are N(0, 1) for the token embeddings and
N(0, 1/fan_in) for the projections: a base model ranks a noisy copy's greedy tokens at 1 about
70% of the time with noise 0.02, 50% with 0.05 and almost never with 0.1 or more.

Ranks (here and expected of the engine): the rank of token t in a logit vector is
``1 + #{v : logits[v] > logits[t]}`` (ties favour t), so a greedy choice has rank 1.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

# ChatML as SmolLM2/Qwen write it, without a default system prompt.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
CONTROL_TOKENS = (ENDOFTEXT, IM_START, IM_END)

N_MERGES = 320
# llama.cpp pre-tokenizer name: "gpt-2" selects the GPT-2 split regex. Note: "gpt2" (no dash) is
# the tokenizer *model* name and is rejected as a pre-tokenizer ("unknown pre-tokenizer type").
TOKENIZER_PRE = "gpt-2"

_TOKEN_TYPE_NORMAL = 1
_TOKEN_TYPE_CONTROL = 3

# Text the merges are learnt from: common English, arithmetic word problems and answer phrasing.
_CORPUS = """
The answer is 42. The answer is 18. The answer is 7. So the answer is 12.
Question: What is the sum of 3 and 4? Answer: The sum of 3 and 4 is 7.
Q: There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they
are done, there will be 21 trees. How many trees did the grove workers plant today?
A: There are 15 trees originally. Then there were 21 trees after some more were planted. So there
must have been 21 - 15 = 6. The answer is 6.
Q: If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking
lot? A: There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5.
Q: Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left
in total? A: Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 =
74. After eating 35, they had 74 - 35 = 39. The answer is 39.
Let's think step by step. First, we need to find the number of apples. Then we add the oranges.
She has 5 apples and he has 3 more than she does, so he has 8 apples. Each of them buys 2 books.
I am a helpful assistant. You are a helpful assistant. Hello! How can I help you today? Sure, here
is the answer. Thank you for your question. The user asked about the weather in the city.
In the beginning there was a small town by the river, and the people of the town were happy with
their work and their homes. They would walk to the market every day, and they would talk about
the news of the world. This is a story about that town, and about the time when it all changed.
It was the best of times, it was the worst of times. What do you think about this? I think that
it is a good idea, but we should also consider other options before we make a final decision.
The quick brown fox jumps over the lazy dog. One, two, three, four, five, six, seven, eight, nine,
ten. 1 2 3 4 5 6 7 8 9 10 11 12 20 24 30 36 40 48 50 60 64 72 80 90 100 120 200 1000.
Total cost: 4 * 12 = 48 dollars. Each box holds 6 eggs, so 30 / 6 = 5 boxes. Therefore, the
final answer is 5. Answer: 48. #### 48
"""

# GPT-2 pre-tokenizer split, restricted to ASCII (the corpus is ASCII).
_PRETOKENIZE = re.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+"""
)


@functools.cache
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode character map."""
    bs = list(range(ord("!"), ord("~") + 1))
    bs += list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs, strict=True)}


@functools.cache
def _learn_merges(n_merges: int = N_MERGES) -> tuple[tuple[str, str], ...]:
    """Byte-level BPE merges learnt from `_CORPUS` (deterministic: ties go to the smaller pair)."""
    enc = bytes_to_unicode()
    counted = Counter(piece.encode() for piece in _PRETOKENIZE.findall(_CORPUS))
    words = [[enc[b] for b in piece] for piece in counted]
    freqs = list(counted.values())
    pairs: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], set[int]] = {}
    for i, word in enumerate(words):
        for pair in itertools.pairwise(word):
            pairs[pair] += freqs[i]
            where.setdefault(pair, set()).add(i)
    merges: list[tuple[str, str]] = []
    while len(merges) < n_merges and pairs:
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        joined = best[0] + best[1]
        for i in sorted(where.pop(best, ())):
            word, freq = words[i], freqs[i]
            for pair in itertools.pairwise(word):
                pairs[pair] -= freq
            out: list[str] = []
            j = 0
            while j < len(word):
                if j + 1 < len(word) and (word[j], word[j + 1]) == best:
                    out.append(joined)
                    j += 2
                else:
                    out.append(word[j])
                    j += 1
            words[i] = out
            for pair in itertools.pairwise(out):
                pairs[pair] += freq
                where.setdefault(pair, set()).add(i)
        pairs = +pairs  # drop pairs whose count fell to zero
    return tuple(merges)


ENDING_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


@functools.cache
def build_vocab() -> tuple[tuple[str, ...], tuple[int, ...], tuple[str, ...]]:
    """(tokens, token types, merges) of the tiny vocabulary, the same for every model."""
    enc = bytes_to_unicode()
    tokens = [enc[b] for b in range(256)]
    merges = _learn_merges()
    seen = set(tokens)
    for a, b in merges:
        if a + b not in seen:
            seen.add(a + b)
            tokens.append(a + b)
    tokens += [c + "." for c in ENDING_CHARS if c + "." not in seen]
    types = [_TOKEN_TYPE_NORMAL] * len(tokens)
    tokens += CONTROL_TOKENS
    types += [_TOKEN_TYPE_CONTROL] * len(CONTROL_TOKENS)
    return tuple(tokens), tuple(types), tuple(f"{a} {b}" for a, b in merges)


@functools.cache
def _token_index() -> dict[str, int]:
    return {tok: i for i, tok in enumerate(build_vocab()[0])}


def token_id(token: str) -> int:
    """Id of a token text (e.g. ``IM_END``, ``"Ġanswer"``) in the tiny vocabulary."""
    return _token_index()[token]


def token_bytes(token_or_id: str | int) -> bytes:
    """The bytes a normal (non-control) token stands for."""
    tok = build_vocab()[0][token_or_id] if isinstance(token_or_id, int) else token_or_id
    dec = _byte_decoder()
    return bytes(dec[c] for c in tok)


@functools.cache
def _byte_decoder() -> dict[str, int]:
    return {c: b for b, c in bytes_to_unicode().items()}


def n_vocab() -> int:
    return len(build_vocab()[0])


# Tokens whose bytes all lie in this set may appear in generated text.
_PRINTABLE = frozenset(range(0x20, 0x7F)) | {ord("\n")}

_BIAS_CHANNEL = 0  # constant residual channel: output column 0 is a per-token logit bias
_MARK_CHANNEL = 1  # set on ending tokens; the end token's output row reads it
_CONST = 8.0  # bias channel value in every token embedding (the rest are ~N(0, 1))
_MARK = 8.0  # mark channel value on ending tokens
_BANNED_BIAS = -12.0  # per unit of the normalised bias channel (~4-5): far below everything
_EOS_MARK_WEIGHT = 4.0  # end token logit after an ending token: ~+16, above any random logit


def _token_classes(eos: str) -> tuple[np.ndarray, np.ndarray]:
    """(allowed, ending) boolean masks over the vocabulary for a model whose end token is `eos`."""
    tokens, types, _ = build_vocab()
    allowed = np.zeros(len(tokens), dtype=bool)
    ending = np.zeros(len(tokens), dtype=bool)
    endings = {c + "." for c in ENDING_CHARS}
    for i, (tok, typ) in enumerate(zip(tokens, types, strict=True)):
        if typ == _TOKEN_TYPE_CONTROL:
            allowed[i] = tok == eos
        else:
            allowed[i] = all(b in _PRINTABLE for b in token_bytes(tok))
            ending[i] = tok in endings
    return allowed, ending


def _weights(
    *, seed: int, n_layer: int, n_embd: int, n_ff: int, noise: float, noise_seed: int
) -> dict[str, np.ndarray]:
    """Random float32 weights in numpy layout (rows = output dim, columns = input dim)."""
    rng = np.random.default_rng(seed)
    nv = n_vocab()
    specs: list[tuple[str, tuple[int, int], float]] = [
        ("token_embd.weight", (nv, n_embd), 1.0),
        ("output.weight", (nv, n_embd), 2.5 / np.sqrt(n_embd)),
    ]
    for i in range(n_layer):
        specs += [
            (f"blk.{i}.attn_q.weight", (n_embd, n_embd), 1.0 / np.sqrt(n_embd)),
            (f"blk.{i}.attn_k.weight", (n_embd, n_embd), 1.0 / np.sqrt(n_embd)),
            (f"blk.{i}.attn_v.weight", (n_embd, n_embd), 1.0 / np.sqrt(n_embd)),
            (f"blk.{i}.attn_output.weight", (n_embd, n_embd), 1.0 / np.sqrt(n_embd)),
            (f"blk.{i}.ffn_gate.weight", (n_ff, n_embd), 1.0 / np.sqrt(n_embd)),
            (f"blk.{i}.ffn_up.weight", (n_ff, n_embd), 1.0 / np.sqrt(n_embd)),
            (f"blk.{i}.ffn_down.weight", (n_embd, n_ff), 1.0 / np.sqrt(n_ff)),
        ]
    weights = {
        name: (rng.standard_normal(shape, dtype=np.float32) * np.float32(std))
        for name, shape, std in specs
    }
    if noise > 0:
        noise_rng = np.random.default_rng([noise_seed, seed])
        for name, shape, _std in specs:
            weights[name] += np.float32(noise) * noise_rng.standard_normal(shape, dtype=np.float32)
    return weights


def _steer(
    weights: dict[str, np.ndarray],
    *,
    n_layer: int,
    eos: str,
    eos_bias: float,
    stop_bias: float,
) -> None:
    """Install the bias and mark channels (after the noise: perturbed copies keep them exactly)."""
    allowed, ending = _token_classes(eos)
    emb, out = weights["token_embd.weight"], weights["output.weight"]
    channels = [_BIAS_CHANNEL, _MARK_CHANNEL]
    emb[:, _BIAS_CHANNEL] = _CONST
    emb[:, _MARK_CHANNEL] = np.where(ending, _MARK, 0.0)
    # No layer reads or writes the two channels: they reach the output norm unchanged, and the
    # layers see only the random part of each token.
    for i in range(n_layer):
        for part in ("attn_q", "attn_k", "attn_v", "ffn_gate", "ffn_up"):
            weights[f"blk.{i}.{part}.weight"][:, channels] = 0.0
        weights[f"blk.{i}.attn_output.weight"][channels, :] = 0.0
        weights[f"blk.{i}.ffn_down.weight"][channels, :] = 0.0
    out[:, _BIAS_CHANNEL] = np.where(allowed, np.where(ending, stop_bias, 0.0), _BANNED_BIAS)
    out[:, _MARK_CHANNEL] = 0.0
    eos_id = token_id(eos)
    out[eos_id, :] = 0.0  # only the channels drive the end token
    out[eos_id, _BIAS_CHANNEL] = eos_bias
    out[eos_id, _MARK_CHANNEL] = _EOS_MARK_WEIGHT


_DTYPES = ("f32", "f16", "q8_0")


def write_tiny_model(
    path: Path,
    *,
    seed: int = 0,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    n_ctx: int = 1024,
    chat_template: str | None = CHATML_TEMPLATE,
    noise: float = 0.0,
    noise_seed: int = 1,
    name: str = "tiny",
    dtype: str = "f32",
    eos: str | None = None,
    stop_bias: float = -0.15,
    eos_bias: float = 0.0,
    add_bos: bool = False,
) -> Path:
    """Write a tiny llama GGUF to `path` (parents created) and return `path`.

    seed: the weights; the vocabulary is the same for every seed.
    n_ctx: written as ``llama.context_length`` (the training context llama.cpp reports).
    chat_template: ``tokenizer.chat_template``, or None to write none (a "base" model).
    noise, noise_seed: add ``noise * N(0, 1)`` to the seed's random weights (a perturbed copy).
    dtype: "f32", "f16" or "q8_0" for the 2-D weights; norms are always F32. q8_0 needs
        ``n_embd % 32 == 0``; on AMX CPUs its matrices go to llama.cpp's AMX buffer unless the
        model is loaded with ``use_extra_bufts = False`` (see `no_extra_bufts`).
    eos: the end token, by default ``<|im_end|>`` with a chat template and ``<|endoftext|>``
        without (as base/instruct pairs usually ship). ``<|endoftext|>`` is always the BOS token.
    stop_bias: logit bias of the ending tokens, per unit of the normalised bias channel (~4.5
        logits). At the default about a third of 32-token greedy completions stop; -0.5 or less
        practically never stops; 0.3 stops within a few tokens.
    eos_bias: logit bias of the end token everywhere (same unit); 0 ends only after ending tokens.
    add_bos: ``tokenizer.ggml.add_bos_token`` (llama.cpp then prepends BOS when tokenising).
    """
    import gguf  # dev dependency, imported lazily

    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}, not {dtype!r}")
    if n_embd % n_head or (n_embd // n_head) % 2:
        raise ValueError("n_embd must be a multiple of n_head, with an even head size")
    if n_embd < 8 or n_layer < 1:
        raise ValueError("need n_embd >= 8 and n_layer >= 1")
    if dtype == "q8_0" and n_embd % 32:
        raise ValueError("q8_0 needs n_embd to be a multiple of 32")
    eos = eos or (IM_END if chat_template else ENDOFTEXT)
    if eos not in (IM_END, ENDOFTEXT):
        raise ValueError(f"eos must be {IM_END!r} or {ENDOFTEXT!r}")

    tokens, types, merges = build_vocab()
    n_ff = 4 * n_embd
    weights = _weights(
        seed=seed, n_layer=n_layer, n_embd=n_embd, n_ff=n_ff, noise=noise, noise_seed=noise_seed
    )
    _steer(weights, n_layer=n_layer, eos=eos, eos_bias=eos_bias, stop_bias=stop_bias)

    qtype = {
        "f32": gguf.GGMLQuantizationType.F32,
        "f16": gguf.GGMLQuantizationType.F16,
        "q8_0": gguf.GGMLQuantizationType.Q8_0,
    }[dtype]
    ftype = {
        "f32": gguf.LlamaFileType.ALL_F32,
        "f16": gguf.LlamaFileType.MOSTLY_F16,
        "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
    }[dtype]

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(name)
    w.add_file_type(ftype)
    w.add_context_length(n_ctx)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head)
    w.add_rope_dimension_count(n_embd // n_head)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(TOKENIZER_PRE)
    w.add_token_list(list(tokens))
    w.add_token_types(list(types))
    w.add_token_merges(list(merges))
    w.add_bos_token_id(token_id(ENDOFTEXT))
    w.add_eos_token_id(token_id(eos))
    w.add_add_bos_token(add_bos)
    if chat_template is not None:
        w.add_chat_template(chat_template)

    def add(tensor_name: str, arr: np.ndarray) -> None:
        if arr.ndim == 1 or qtype == gguf.GGMLQuantizationType.F32:
            w.add_tensor(tensor_name, arr.astype(np.float32))
        elif qtype == gguf.GGMLQuantizationType.F16:
            w.add_tensor(tensor_name, arr.astype(np.float16))
        else:
            q = gguf.quants.quantize(arr, qtype)
            w.add_tensor(tensor_name, q, raw_shape=q.shape, raw_dtype=qtype)

    ones = np.ones(n_embd, dtype=np.float32)
    add("token_embd.weight", weights["token_embd.weight"])
    for i in range(n_layer):
        add(f"blk.{i}.attn_norm.weight", ones)
        for part in ("attn_q", "attn_k", "attn_v", "attn_output"):
            add(f"blk.{i}.{part}.weight", weights[f"blk.{i}.{part}.weight"])
        add(f"blk.{i}.ffn_norm.weight", ones)
        for part in ("ffn_gate", "ffn_up", "ffn_down"):
            add(f"blk.{i}.{part}.weight", weights[f"blk.{i}.{part}.weight"])
    add("output_norm.weight", ones)
    add("output.weight", weights["output.weight"])

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def tiny_pair(tmp_dir: Path, *, seed: int = 0, noise: float = 0.02) -> tuple[Path, Path]:
    """Write (base, instruct) into `tmp_dir` and return their paths.

    ``tiny-base.gguf`` has no chat template (end token ``<|endoftext|>``); ``tiny-instruct.gguf``
    is a noisy copy with ChatML (end ``<|im_end|>``). With the default noise the base model ranks
    the instruct model's greedy tokens about 70% at 1, 20% at 2-3 and 5% above 3 (the URIAL
    categories unshifted / marginal / shifted all occur).
    """
    tmp_dir = Path(tmp_dir)
    base = write_tiny_model(
        tmp_dir / "tiny-base.gguf", seed=seed, chat_template=None, name="tiny-base"
    )
    instruct = write_tiny_model(
        tmp_dir / "tiny-instruct.gguf",
        seed=seed,
        noise=noise,
        chat_template=CHATML_TEMPLATE,
        name="tiny-instruct",
    )
    return base, instruct


# --- loading and reference computations with llama-cpp-python --------------------------------


@contextlib.contextmanager
def no_extra_bufts() -> Iterator[None]:
    """Make `llama_cpp.Llama` load models with ``use_extra_bufts = False`` inside the block.

    `Llama.__init__` calls ``llama_cpp.llama_cpp.llama_model_default_params()`` through the module
    attribute, so replacing that function changes the parameters it loads with. Without this, a
    default (native) build on an AMX CPU puts Q4_0/Q4_1/Q8_0/K-quant matrices into the AMX buffer
    and can segfault on the first decode (ggml-org/llama.cpp#20824). Not thread-safe: patch from
    one thread at a time.
    """
    import llama_cpp.llama_cpp as lib

    original = lib.llama_model_default_params

    def params() -> Any:
        p = original()
        p.use_extra_bufts = False
        return p

    lib.llama_model_default_params = params
    try:
        yield
    finally:
        lib.llama_model_default_params = original


def load(
    path: Path | str,
    *,
    n_ctx: int = 512,
    n_threads: int = 1,
    n_threads_batch: int | None = None,
    seed: int = 0,
    **kwargs: Any,
) -> Any:
    """`llama_cpp.Llama` for a tiny model: quiet, ``use_extra_bufts = False``, one thread.

    One thread on purpose: a tiny model gains nothing from more, and with OpenMP a second thread
    that the OS deschedules (a busy machine, parallel test runs) turns a 4 ms completion into
    seconds. `n_threads_batch` (prompt batches) follows `n_threads` unless given; llama-cpp-python
    would otherwise default it to all cores.
    """
    import llama_cpp

    kwargs.setdefault("verbose", False)
    with no_extra_bufts():
        return llama_cpp.Llama(
            str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads_batch or n_threads,
            seed=seed,
            **kwargs,
        )


def greedy_tokens(llm: Any, prompt_tokens: Sequence[int], max_tokens: int) -> list[int]:
    """The model's greedy continuation of `prompt_tokens` as token ids, end token excluded."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    out: list[int] = []
    for tok in llm.generate(list(prompt_tokens), temp=0.0, top_k=1, reset=True):
        if llama_cpp.llama_vocab_is_eog(vocab, tok) or len(out) >= max_tokens:
            break
        out.append(tok)
    return out


def logit_rank(logits: np.ndarray, token: int) -> int:
    """1 + the number of tokens with a strictly higher logit than `token`."""
    return int(np.count_nonzero(logits > logits[token])) + 1


def reference_ranks_one_by_one(
    llm: Any, prompt_tokens: Sequence[int], cont_tokens: Sequence[int]
) -> tuple[list[int], np.ndarray]:
    """Teacher-forced ranks of `cont_tokens` after `prompt_tokens`, one token per decode.

    Evaluates the prompt with `llm.eval`, then for each continuation token reads the logits of
    the last evaluated position (``llama_get_logits_ith(ctx, -1)``; `llm.scores` is not filled
    without ``logits_all=True``), ranks the token and evaluates it. Returns (ranks, logits) with
    logits of shape (len(cont_tokens), n_vocab): row i is the distribution that predicted
    ``cont_tokens[i]``. Slow but simple: the reference for a batched implementation.
    """
    import llama_cpp

    if not prompt_tokens:
        raise ValueError("need at least one prompt token")
    n_vocab_ = llm.n_vocab()
    llm.reset()
    llm.eval(list(prompt_tokens))
    ranks: list[int] = []
    rows = np.empty((len(cont_tokens), n_vocab_), dtype=np.float32)
    for i, tok in enumerate(cont_tokens):
        ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        rows[i] = np.ctypeslib.as_array(ptr, shape=(n_vocab_,))
        ranks.append(logit_rank(rows[i], tok))
        if i + 1 < len(cont_tokens):
            llm.eval([tok])
    return ranks, rows
