"""Batched decoding (several answers per llama.cpp batch) answers exactly as one at a time does."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.inference.batched import BatchedDecoder, Request
from engine.inference.config import load_config
from engine.inference.llama import Model, share_cpu
from engine.inference.pairs import load_pair
from engine.records import Decoding

EXEMPLARS = "".join(
    f"Q: What is {a} plus {b}?\nA: {a} plus {b} is {a + b}. The answer is {a + b}.\n\n"
    for a, b in [(3, 4), (10, 7), (21, 5), (8, 8), (13, 2), (40, 2), (6, 9), (11, 11)]
)
QUESTIONS = [f"Q: Tom has {n} apples and buys {n + 3} more. How many now?\nA:" for n in range(1, 9)]


@pytest.fixture(scope="module")
def tiny(tiny_models_toml: Path) -> dict[str, Model]:
    return load_pair(load_config(tiny_models_toml), "tiny")


def _requests(prompts: list[str], decoding: Decoding, **kw) -> list[Request]:
    return [Request(p, decoding, decoding.seed, tag=i, **kw) for i, p in enumerate(prompts)]


def _one_at_a_time(model: Model, requests: list[Request]) -> list[tuple]:
    out = []
    for r in requests:
        g = model.generate(
            r.prompt,
            r.decoding,
            seed=r.seed,
            forced=r.forced,
            want_margins=r.want_margins,
            special=r.special,
        )
        out.append((g.text, g.token_ids, g.finish_reason, g.tokens, g.token_ends, g.prompt_tokens))
    return out


def _batched(model: Model, requests: list[Request], n: int, **kw) -> list[tuple]:
    with BatchedDecoder(model, n, **kw) as dec:
        done = {r.tag: g for r, g in dec.run(requests)}
    assert sorted(done) == [r.tag for r in requests]
    return [
        (g.text, g.token_ids, g.finish_reason, g.tokens, g.token_ends, g.prompt_tokens)
        for g in (done[r.tag] for r in requests)
    ]


@pytest.mark.parametrize("n", [1, 2, 4])
def test_greedy_batched_equals_one_at_a_time_few_shot(tiny: dict[str, Model], n: int) -> None:
    model = tiny["base"]
    dec = Decoding(max_tokens=24, stop=("\n\n", "Q:"))
    reqs = _requests([EXEMPLARS + q for q in QUESTIONS], dec)
    ref = _one_at_a_time(model, reqs)
    assert len({r[0] for r in ref}) > 1  # the answers differ between items
    assert _batched(model, reqs, n) == ref


def test_greedy_batched_zero_shot_and_chat(tiny: dict[str, Model]) -> None:
    model = tiny["instruct"]
    dec = Decoding(max_tokens=20)
    prompts = [
        f"<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n" for q in QUESTIONS
    ] + QUESTIONS  # a change of prompt family mid-run: the shared prefix is cut back
    reqs = _requests(prompts, dec, special=True)
    assert _batched(model, reqs, 3) == _one_at_a_time(model, reqs)


def test_forced_branches_and_margins_match(tiny: dict[str, Model]) -> None:
    """cot-decoding: every branch of an item shares the whole prompt; margins agree too."""
    model = tiny["base"]
    prompt = EXEMPLARS + QUESTIONS[0]
    firsts = [t for t, _ in model.top_first_tokens(prompt, 4)]
    dec = Decoding(strategy="cot-decoding", max_tokens=16)
    reqs = [
        Request(prompt, dec, 0, forced=(t,), want_margins=True, tag=i) for i, t in enumerate(firsts)
    ]
    ref = [model.generate(prompt, dec, forced=r.forced, want_margins=True) for r in reqs]
    with BatchedDecoder(model, 4) as d:
        got = {r.tag: g for r, g in d.run(reqs)}
    for r, g in zip(reqs, ref, strict=True):
        b = got[r.tag]
        assert (b.text, b.token_ids, b.finish_reason) == (g.text, g.token_ids, g.finish_reason)
        assert b.token_ids[0] == r.forced[0]
        assert len(b.margins) == len(g.margins)
        assert b.margins[1:] == pytest.approx(g.margins[1:], abs=1e-6)


def test_sampling_uses_the_same_seeded_chain(tiny: dict[str, Model]) -> None:
    model = tiny["base"]
    dec = Decoding(strategy="sample", temperature=0.9, top_p=0.95, max_tokens=16, seed=5)
    reqs = [Request(EXEMPLARS + q, dec, 5 + i, tag=i) for i, q in enumerate(QUESTIONS[:4])]
    assert _batched(model, reqs, 4) == _one_at_a_time(model, reqs)


def test_small_context_runs_fewer_at_once_and_budgets_match(tiny: dict[str, Model]) -> None:
    """A KV cache too small for every answer in flight delays answers, never fails or cuts them."""
    model = tiny["base"]
    dec = Decoding(max_tokens=40)
    reqs = _requests([f"{q} {'and more ' * i}" for i, q in enumerate(QUESTIONS[:6])], dec)
    assert _batched(model, reqs, 4, n_ctx=256) == _one_at_a_time(model, reqs)


def test_budget_is_the_models_context(tiny_models_toml: Path, tmp_path: Path) -> None:
    """finish_reason 'context' where the model's own context runs out, as one at a time."""
    from conftest import write_tiny_models_toml

    toml = write_tiny_models_toml(tmp_path, n_ctx=128)
    model = load_pair(load_config(toml), "tiny", ("base",))["base"]
    dec = Decoding(max_tokens=200)
    reqs = _requests([EXEMPLARS[:120] + q for q in QUESTIONS[:3]], dec)
    assert all(60 < len(model.tokenize(r.prompt)) < 128 for r in reqs)
    ref = _one_at_a_time(model, reqs)
    assert {r[2] for r in ref} <= {"context", "stop"}
    assert _batched(model, reqs, 3, n_ctx=512) == ref


def test_cancel_drops_answers_in_flight(tiny: dict[str, Model]) -> None:
    import threading

    model = tiny["base"]
    cancel = threading.Event()
    reqs = _requests([EXEMPLARS + q for q in QUESTIONS], Decoding(max_tokens=30))
    got = []
    with BatchedDecoder(model, 2) as d:
        for r, _g in d.run(reqs, cancel=cancel):
            got.append(r.tag)
            cancel.set()
    assert len(got) <= 2


def test_share_cpu_split_and_alternate(tiny: dict[str, Model]) -> None:
    base, inst = tiny["base"], tiny["instruct"]
    explicit = base.settings.threads
    assert explicit > 0  # the tiny models.toml sets threads: an explicit count is kept
    share_cpu([base, inst], "split", cores=4)
    assert base.n_threads == inst.n_threads == explicit
    for m in (base, inst):
        m.settings = replace(m.settings, threads=0)
    try:
        share_cpu([base, inst], "split", cores=2)
        assert base.n_threads == inst.n_threads == 1  # decoding: one core each
        assert base.n_threads_batch == inst.n_threads_batch == 2  # prompts: all cores
        assert base.info.settings["n_threads"] == 1
        share_cpu([base, inst], "alternate", cores=2)
        assert base.n_threads == 2 and base._step_gate is inst._step_gate is not None
        ref = base.generate(QUESTIONS[0], Decoding(max_tokens=8)).text
        share_cpu([base, inst], "sequential", cores=2)
        assert base._answer_gate is inst._answer_gate is not None
        assert base.generate(QUESTIONS[0], Decoding(max_tokens=8)).text == ref
        with pytest.raises(ValueError):
            share_cpu([base], "both")
    finally:
        for m in (base, inst):
            m.settings = replace(m.settings, threads=explicit)
        share_cpu([base, inst], "parallel")


def _run_outputs(toml: Path, data: Path, tmp: Path, name: str, **kw) -> list[tuple]:
    from engine.run.config import RunConfig
    from engine.run.prepare import prepare_run
    from engine.store.store import Store

    config = RunConfig(
        pair="tiny",
        dataset="gsm8k",
        data_file=str(data),
        limit=5,
        modes=("zero-shot-cot", "few-shot-cot"),
        shots=1,
        decoding=Decoding(max_tokens=16, **kw.pop("decoding", {})),
        models_file=str(toml),
        fewshot_seed=1,
        **kw,
    )
    store = Store(tmp / f"{name}.duckdb")
    prepared = prepare_run(config, store)
    prepared.load_models()
    runner = prepared.runner()
    plan = runner.start(resume=False)
    events = list(runner.execute(plan))
    assert len(events) == plan.total
    cols = (
        "item_id, role, mode, sample_index, prompt, prompt_tokens, output, output_token_ids, "
        "extracted, correct, tokens, finish_reason, seed, decoding, score"
    )
    return store.query(f"SELECT {cols} FROM generations ORDER BY ALL").rows


@pytest.mark.parametrize(
    "decoding", [{}, {"strategy": "cot-decoding", "samples": 3}], ids=["greedy", "cot"]
)
def test_runner_rows_identical_with_parallel_items(
    tiny_models_toml: Path, gsm8k_file: Path, tmp_path: Path, decoding: dict
) -> None:
    one = _run_outputs(
        tiny_models_toml, gsm8k_file, tmp_path, "one", parallel_items=1, decoding=decoding
    )
    four = _run_outputs(
        tiny_models_toml,
        gsm8k_file,
        tmp_path,
        "four",
        parallel_items=4,
        decoding=decoding,
        side_by_side="alternate",
    )
    assert len(one) == len(four) > 10
    for a, b in zip(one, four, strict=True):
        assert a[:-1] == b[:-1]
        assert (a[-1] is None) == (b[-1] is None)
        if a[-1] is not None:
            assert a[-1] == pytest.approx(b[-1], abs=1e-5)  # cot-decoding confidence


def test_parallel_items_and_side_by_side_do_not_change_the_run_hash() -> None:
    from engine.run.runner import RunConfig

    a = RunConfig(pair="demo", dataset="embedded")
    b = RunConfig(pair="demo", dataset="embedded", parallel_items=1, side_by_side="sequential")
    assert a.config_hash() == b.config_hash()


def test_greedy_fast_path_equals_llama_cpp_greedy_sampler(tiny: dict[str, Model]) -> None:
    """Model.stream picks greedy tokens by argmax: the same tokens as llama.cpp's sampler."""
    from tinygguf import greedy_tokens

    model = tiny["instruct"]
    for q in QUESTIONS[:4]:
        prompt = EXEMPLARS + q
        got = model.generate(prompt, Decoding(max_tokens=40))
        model.llm.reset()
        ref = greedy_tokens(model.llm, model.tokenize(prompt), 40)
        assert list(got.token_ids) == ref[: len(got.token_ids)]
        assert got.tokens == len(ref) or got.finish_reason == "length"
    # reuse after a sampled call (Llama.generate) and after a greedy one keeps answers the same
    first = model.generate(EXEMPLARS + QUESTIONS[0], Decoding(max_tokens=20)).text
    model.generate(
        EXEMPLARS + QUESTIONS[1], Decoding(strategy="sample", temperature=0.8, max_tokens=20)
    )
    assert model.generate(EXEMPLARS + QUESTIONS[0], Decoding(max_tokens=20)).text == first
