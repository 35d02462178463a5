"""Tests of the tiny GGUF generator (tests/tinygguf.py) against real llama.cpp."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tinygguf as T

llama_cpp = pytest.importorskip("llama_cpp")
gguf = pytest.importorskip("gguf")

PROMPTS = [
    "The answer is",
    "Q: What is 2 + 3?\nA:",
    "Hello",
    "Once upon a time",
    "Question: How many apples?\nAnswer:",
    "I think",
    "There are 15 trees.",
    "What is 2+2?",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny")


@pytest.fixture(scope="module")
def instruct_path(model_dir: Path) -> Path:
    return T.write_tiny_model(model_dir / "instruct.gguf")


@pytest.fixture(scope="module")
def llm(instruct_path: Path):
    return T.load(instruct_path)


def completion(model, prompt: str, **kwargs) -> dict:
    kwargs.setdefault("max_tokens", 32)
    kwargs.setdefault("temperature", 0)
    return model.create_completion(prompt, **kwargs)["choices"][0]


def ranks_batched(model, prompt_tokens: list[int], cont_tokens: list[int]):
    """Teacher-forced ranks with the continuation decoded in ONE batch (no logits_all).

    The prompt is evaluated with `eval`; its last logits predict cont[0]. Then cont[:-1] is
    decoded in a single llama_batch with logits requested at every position; position i's
    logits predict cont[i + 1].
    """
    n_vocab = model.n_vocab()
    model.reset()
    model.eval(prompt_tokens)
    rows = np.empty((len(cont_tokens), n_vocab), dtype=np.float32)
    rows[0] = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(model.ctx, -1), shape=(n_vocab,))
    feed = cont_tokens[:-1]
    if feed:
        batch = llama_cpp.llama_batch_init(len(feed), 0, 1)
        try:
            for i, tok in enumerate(feed):
                batch.token[i] = tok
                batch.pos[i] = len(prompt_tokens) + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = True
            batch.n_tokens = len(feed)
            assert llama_cpp.llama_decode(model.ctx, batch) == 0
            for i in range(len(feed)):
                ptr = llama_cpp.llama_get_logits_ith(model.ctx, i)
                rows[i + 1] = np.ctypeslib.as_array(ptr, shape=(n_vocab,))
        finally:
            llama_cpp.llama_batch_free(batch)
    # The KV cache now holds tokens the wrapper does not know about: make it start afresh.
    model.reset()
    return [T.logit_rank(row, tok) for row, tok in zip(rows, cont_tokens, strict=True)], rows


# --- the file -----------------------------------------------------------------------------------


def test_write_is_fast_deterministic_and_seeded(tmp_path: Path) -> None:
    T.write_tiny_model(tmp_path / "warm.gguf")  # gguf import and the vocabulary cache
    t0 = time.perf_counter()
    a = T.write_tiny_model(tmp_path / "a.gguf", seed=3)
    elapsed = time.perf_counter() - t0
    b = T.write_tiny_model(tmp_path / "b.gguf", seed=3)
    c = T.write_tiny_model(tmp_path / "c.gguf", seed=4)
    assert elapsed < 0.5
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert a.stat().st_size < 2_000_000


def test_metadata_and_vocabulary(instruct_path: Path) -> None:
    reader = gguf.GGUFReader(instruct_path)

    def field(name: str):
        return reader.fields[name].contents()

    assert field("general.architecture") == "llama"
    assert field("llama.context_length") >= 1024
    assert field("tokenizer.ggml.model") == "gpt2"
    assert field("tokenizer.ggml.pre") == T.TOKENIZER_PRE
    tokens, types = field("tokenizer.ggml.tokens"), field("tokenizer.ggml.token_type")
    assert len(tokens) == len(types) == T.n_vocab()
    enc = T.bytes_to_unicode()
    assert tokens[:256] == [enc[b] for b in range(256)]
    assert len(set(tokens)) == len(tokens)
    for name in T.CONTROL_TOKENS:
        assert types[tokens.index(name)] == 3  # CONTROL
    assert set(types) == {1, 3}
    assert types.count(3) == len(T.CONTROL_TOKENS)
    assert len(field("tokenizer.ggml.merges")) >= 200
    assert field("tokenizer.ggml.eos_token_id") == tokens.index(T.IM_END)
    assert field("tokenizer.ggml.bos_token_id") == tokens.index(T.ENDOFTEXT)
    assert field("tokenizer.chat_template") == T.CHATML_TEMPLATE
    weight_types = {t.name: t.tensor_type for t in reader.tensors}
    assert weight_types["output_norm.weight"] == gguf.GGMLQuantizationType.F32
    assert weight_types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.F32


@pytest.mark.parametrize("dtype", ["f16", "q8_0"])
def test_weight_types(tmp_path: Path, dtype: str) -> None:
    path = T.write_tiny_model(tmp_path / f"{dtype}.gguf", dtype=dtype)
    types = {t.name: t.tensor_type for t in gguf.GGUFReader(path).tensors}
    assert types["blk.1.ffn_down.weight"].name == dtype.upper()
    assert types["blk.1.ffn_norm.weight"] == gguf.GGMLQuantizationType.F32


# --- loading and generation ---------------------------------------------------------------------


def test_load_is_fast_and_patch_takes_effect(instruct_path: Path) -> None:
    t0 = time.perf_counter()
    model = T.load(instruct_path)
    assert time.perf_counter() - t0 < 0.5
    assert model.model_params.use_extra_bufts is False
    assert model.n_ctx() == 512
    assert int(model.metadata["llama.context_length"]) >= 1024
    # The patch is undone outside `load`.
    assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is True


def test_greedy_text_is_printable_and_deterministic(llm, instruct_path: Path) -> None:
    fresh = T.load(instruct_path)
    for prompt in PROMPTS:
        first = completion(llm, prompt)
        text = first["text"]
        assert text, prompt
        assert all(ch == "\n" or " " <= ch <= "~" for ch in text), text
        assert first["finish_reason"] in ("stop", "length")
        assert completion(llm, prompt)["text"] == text
        assert completion(fresh, prompt)["text"] == text


def test_plain_llama_load_with_two_threads(instruct_path: Path) -> None:
    def fresh():
        with T.no_extra_bufts():
            return llama_cpp.Llama(
                str(instruct_path), n_ctx=512, n_threads=2, verbose=False, seed=0
            )

    first, second = fresh(), fresh()
    assert first.model_params.use_extra_bufts is False
    text = completion(first, "Once upon a time")["text"]
    assert text
    assert completion(first, "Once upon a time")["text"] == text
    assert completion(second, "Once upon a time")["text"] == text


@pytest.mark.parametrize("dtype", ["f16", "q8_0"])
def test_other_dtypes_generate(tmp_path: Path, dtype: str) -> None:
    # In a subprocess: without use_extra_bufts=False a Q8_0 model can kill the process on AMX CPUs.
    path = T.write_tiny_model(tmp_path / f"{dtype}.gguf", dtype=dtype)
    code = (
        "import sys; import tinygguf as T\n"
        f"m = T.load({str(path)!r})\n"
        "c = m.create_completion('The answer is', max_tokens=32, temperature=0)['choices'][0]\n"
        "assert c['text'], c\n"
        "print(repr(c['text']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(T.__file__).parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip()


def test_streaming_concatenates_to_the_full_text(llm) -> None:
    for prompt in PROMPTS[:4]:
        full = completion(llm, prompt)
        chunks = list(llm.create_completion(prompt, max_tokens=32, temperature=0, stream=True))
        assert len(chunks) > 1
        assert "".join(c["choices"][0]["text"] for c in chunks) == full["text"]
        assert chunks[-1]["choices"][0]["finish_reason"] == full["finish_reason"]


def test_end_token_is_reachable_but_not_immediate(tmp_path: Path, llm) -> None:
    finishes = [completion(llm, p) for p in PROMPTS]
    reasons = {c["finish_reason"] for c in finishes}
    assert reasons == {"stop", "length"}, finishes
    for c in finishes:
        assert c["text"]
        if c["finish_reason"] == "stop":
            assert c["text"].endswith(".")

    eager = T.load(T.write_tiny_model(tmp_path / "eager.gguf", stop_bias=0.3))
    never = T.load(T.write_tiny_model(tmp_path / "never.gguf", stop_bias=-3.0))
    for prompt in PROMPTS:
        stopped = completion(eager, prompt)
        assert stopped["finish_reason"] == "stop"
        assert stopped["text"].endswith(".")
        assert completion(never, prompt)["finish_reason"] == "length"


def test_empty_prompt_needs_bos(tmp_path: Path) -> None:
    with_bos = T.load(T.write_tiny_model(tmp_path / "bos.gguf", add_bos=True))
    assert with_bos.tokenize(b"hi")[0] == T.token_id(T.ENDOFTEXT)
    assert completion(with_bos, "", max_tokens=8)["text"]
    assert with_bos.detokenize(with_bos.tokenize(b"The answer is 42.")) == b"The answer is 42."


# --- tokenizer ----------------------------------------------------------------------------------


def test_tokenizer_round_trip_and_merges(llm) -> None:
    text = b"The answer is 42."
    ids = llm.tokenize(text)
    assert llm.detokenize(ids) == text
    assert len(ids) < len(text) // 2
    assert ids[1] == T.token_id("Ġanswer")
    for sample in ["héllo wörld ✓ 😀", "tab\tnew\nline  two  spaces", "#### 48"]:
        raw = sample.encode()
        assert llm.detokenize(llm.tokenize(raw)) == raw
    # The ending tokens ("s." etc.) are never produced by tokenising text.
    endings = {T.token_id(c + ".") for c in T.ENDING_CHARS}
    assert not endings & set(llm.tokenize(b"dogs. cats. 42. yes."))


def test_control_tokens(llm) -> None:
    im_start, im_end = T.token_id(T.IM_START), T.token_id(T.IM_END)
    ids = llm.tokenize(b"<|im_start|>user\nhi<|im_end|>", special=True)
    assert ids[0] == im_start and ids[-1] == im_end
    assert im_start not in llm.tokenize(b"<|im_start|>", special=False)
    assert llm.token_eos() == im_end
    assert llama_cpp.llama_vocab_is_eog(llm._model.vocab, im_end)
    assert llm.detokenize([im_start]) == b""
    assert llm.detokenize([im_start], special=True) == b"<|im_start|>"


# --- chat template -----------------------------------------------------------------------------


def test_chat_template_and_chat_completion(llm) -> None:
    assert llm.metadata["tokenizer.chat_template"] == T.CHATML_TEMPLATE
    messages = [{"role": "user", "content": "What is 2 + 3?"}]
    result = llm.create_chat_completion(messages, max_tokens=32, temperature=0)
    choice = result["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"]
    assert choice["finish_reason"] in ("stop", "length")
    prompt = "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n"
    assert result["usage"]["prompt_tokens"] == len(llm.tokenize(prompt.encode(), special=True))
    again = llm.create_chat_completion(messages, max_tokens=32, temperature=0)
    assert again["choices"][0]["message"]["content"] == choice["message"]["content"]


def test_pair(tmp_path: Path) -> None:
    base_path, instruct_path = T.tiny_pair(tmp_path)
    base, instruct = T.load(base_path), T.load(instruct_path)
    assert "tokenizer.chat_template" not in base.metadata
    assert instruct.metadata["tokenizer.chat_template"] == T.CHATML_TEMPLATE
    assert base.token_eos() == T.token_id(T.ENDOFTEXT)
    assert instruct.token_eos() == T.token_id(T.IM_END)
    text = b"Q: Leah had 32 chocolates.\nA:"
    assert base.tokenize(text) == instruct.tokenize(text)
    assert base.n_vocab() == instruct.n_vocab() == T.n_vocab()
    texts = [(completion(base, p)["text"], completion(instruct, p)["text"]) for p in PROMPTS]
    assert any(a != b for a, b in texts)


# --- teacher forcing ---------------------------------------------------------------------------


def test_greedy_tokens_match_create_completion(llm) -> None:
    for prompt in PROMPTS[:4]:
        tokens = T.greedy_tokens(llm, llm.tokenize(prompt.encode()), 32)
        assert llm.detokenize(tokens).decode() == completion(llm, prompt)["text"]


def test_own_continuation_ranks_one_batched_and_one_by_one(llm) -> None:
    for prompt in PROMPTS:
        prompt_tokens = llm.tokenize(prompt.encode())
        cont = T.greedy_tokens(llm, prompt_tokens, 32)
        assert cont
        ranks, rows = ranks_batched(llm, prompt_tokens, cont)
        ref_ranks, ref_rows = T.reference_ranks_one_by_one(llm, prompt_tokens, cont)
        assert ranks == ref_ranks == [1] * len(cont)
        np.testing.assert_allclose(rows, ref_rows, atol=1e-2, rtol=1e-3)
        assert [int(np.argmax(r)) for r in rows] == cont


def test_noisy_copy_ranks_shift(model_dir: Path, instruct_path: Path) -> None:
    base = T.load(T.write_tiny_model(model_dir / "base.gguf", chat_template=None))
    same = T.load(instruct_path)  # noise 0: the same weights, other end token
    noisy = T.load(T.write_tiny_model(model_dir / "noisy.gguf", noise=0.05))
    all_same, all_noisy = [], []
    for prompt in PROMPTS:
        prompt_tokens = same.tokenize(prompt.encode())
        cont_same = T.greedy_tokens(same, prompt_tokens, 32)
        all_same += ranks_batched(base, prompt_tokens, cont_same)[0]
        cont_noisy = T.greedy_tokens(noisy, prompt_tokens, 32)
        ranks, _ = ranks_batched(base, prompt_tokens, cont_noisy)
        assert ranks == T.reference_ranks_one_by_one(base, prompt_tokens, cont_noisy)[0]
        all_noisy += ranks
    assert set(all_same) == {1}
    assert any(r > 3 for r in all_noisy)
    assert 0.1 < np.mean(np.array(all_noisy) == 1) < 0.9


def test_reference_leaves_the_model_usable(llm) -> None:
    prompt = "Once upon a time"
    before = completion(llm, prompt)["text"]
    tokens = llm.tokenize(prompt.encode())
    T.reference_ranks_one_by_one(llm, tokens, T.greedy_tokens(llm, tokens, 8))
    ranks_batched(llm, tokens, T.greedy_tokens(llm, tokens, 8))
    assert completion(llm, prompt)["text"] == before
