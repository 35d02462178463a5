"""Schema tests for served models: vLLM's documented OpenAI-compatible response bodies (no vLLM
runs here), the models.toml `server` table, retries, credentials and one-line errors."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from servers import SchemaServer

from engine.errors import ConfigError, ServerError
from engine.inference.config import ModelSpec, ServerSource, parse_config
from engine.inference.launch import free_port
from engine.inference.served import ServedModel
from engine.records import Decoding

MODEL = "Qwen/Qwen3-0.6B"


def _models(_p: str, _b: dict[str, Any]) -> tuple[int, Any]:
    return 200, {"object": "list", "data": [
        {"id": MODEL, "object": "model", "owned_by": "vllm", "root": MODEL,
         "max_model_len": 4096}]}


def _stream(_p: str, body: dict[str, Any]) -> tuple[int, Any]:
    def chunk(text: str, tid: int, alt: int, finish: str | None = None) -> dict[str, Any]:
        return {"id": "cmpl-1", "object": "text_completion", "model": MODEL, "choices": [{
            "index": 0, "text": text, "finish_reason": finish, "stop_reason": None,
            "logprobs": {"text_offset": [0], "token_logprobs": [-0.1],
                         "tokens": [f"token_id:{tid}"],
                         "top_logprobs": [{f"token_id:{tid}": math.log(0.7),
                                           f"token_id:{alt}": math.log(0.2)}]}}]}
    return 200, [
        chunk(" The", 785, 17), chunk(" answer", 4226, 9), chunk(" is 4.", 374, 3, "stop"),
        {"id": "cmpl-1", "object": "text_completion", "model": MODEL, "choices": [],
         "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}},
    ]


def _tokenize(_p: str, body: dict[str, Any]) -> tuple[int, Any]:
    ids = list(range(1, len(str(body.get("prompt", "")).split()) + 1))
    return 200, {"count": len(ids), "max_model_len": 4096, "tokens": ids}


def _first(_p: str, body: dict[str, Any]) -> tuple[int, Any]:
    return 200, {"choices": [{"index": 0, "text": " The", "finish_reason": "length",
                              "logprobs": {"tokens": ["token_id:785"],
                                           "top_logprobs": [{"token_id:785": math.log(0.5),
                                                             "token_id:17": math.log(0.3),
                                                             "token_id:9": math.log(0.1)}]}}]}


def vllm_routes(**over: Any) -> dict[str, Any]:
    routes = {
        "/v1/models": _models,
        "/version": lambda _p, _b: (200, {"version": "0.11.0"}),
        "/tokenize": _tokenize,
        "/detokenize": lambda _p, b: (200, {"prompt": " ".join(f"t{t}" for t in b["tokens"])}),
        "/v1/completions": lambda p, b: _stream(p, b) if b.get("stream") else _first(p, b),
    }
    routes.update(over)
    return routes


def _spec(url: str, **kw: Any) -> ModelSpec:
    return ModelSpec(name="served", server=ServerSource(kind=kw.pop("kind", "vllm"), urls=(url,),
                                                        **kw))


def test_vllm_generation_sets_every_sampling_field_and_reads_tokens() -> None:
    with SchemaServer(vllm_routes()) as srv:
        model = ServedModel(_spec(srv.url, model=MODEL))
        gen = model.generate("Q: 2+2?\nA:", Decoding(max_tokens=64, stop=("\nQ:",)), seed=7,
                             want_margins=True)
        body = next(b for p, b in srv.requests if p == "/v1/completions")
    assert model.model_id == MODEL and model.n_ctx == 4096
    assert model.info.settings["engine_version"] == "vllm 0.11.0"
    assert model.info.sha256 == f"served:vllm:{MODEL}"
    # greedy means greedy: no server default is left to decide
    assert body["temperature"] == 0.0 and body["top_p"] == 1.0
    assert body["top_k"] == -1 and body["min_p"] == 0.0
    assert body["seed"] == 7 and body["stop"] == ["\nQ:"] and body["model"] == MODEL
    assert body["max_tokens"] == 64 and body["return_tokens_as_token_ids"] is True
    assert gen.text == " The answer is 4."
    assert gen.token_ids == (785, 4226, 374)
    assert gen.finish_reason == "stop" and gen.prompt_tokens == 12 and gen.tokens == 3
    assert gen.margins == pytest.approx((0.5, 0.5, 0.5))


def test_vllm_sampling_fields_pass_through() -> None:
    with SchemaServer(vllm_routes()) as srv:
        model = ServedModel(_spec(srv.url))
        model.generate("x", Decoding(strategy="sample", temperature=0.05, top_p=0.9, top_k=40,
                                     min_p=0.1, samples=20))
        body = next(b for p, b in srv.requests if p == "/v1/completions")
    assert (body["temperature"], body["top_p"], body["top_k"], body["min_p"]) == (
        0.05, 0.9, 40, 0.1)


def test_vllm_first_tokens_from_logprobs() -> None:
    with SchemaServer(vllm_routes()) as srv:
        top = ServedModel(_spec(srv.url)).top_first_tokens("Q: x\nA:", 3)
    assert [t for t, _ in top] == [785, 17, 9]
    assert [p for _, p in top] == pytest.approx([0.5, 0.3, 0.1])


def test_wrong_served_model_is_one_line() -> None:
    with SchemaServer(vllm_routes()) as srv, pytest.raises(ServerError) as err:
        ServedModel(_spec(srv.url, model="meta-llama/Llama-3.1-8B"))
    msg = str(err.value)
    assert "\n" not in msg and f"serves {MODEL}" in msg and "Llama-3.1-8B" in msg


def test_unreachable_server_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServerError) as err:
        ServedModel(_spec(url))
    assert "cannot connect" in str(err.value) and url in str(err.value)


def test_busy_server_is_retried_with_backoff() -> None:
    calls = {"n": 0}

    def flaky(p: str, b: dict[str, Any]) -> tuple[int, Any]:
        calls["n"] += 1
        return (503, {"error": {"message": "busy"}}) if calls["n"] <= 2 else _stream(p, b)

    with SchemaServer(vllm_routes(**{"/v1/completions": flaky})) as srv:
        model = ServedModel(_spec(srv.url, retries=3))
        model.http.backoff_s = 0.01
        gen = model.generate("x", Decoding())
    assert calls["n"] == 3 and gen.text == " The answer is 4."


def test_api_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    with SchemaServer(vllm_routes()) as srv:
        monkeypatch.delenv("TL_TEST_KEY", raising=False)
        with pytest.raises(ServerError, match="TL_TEST_KEY"):
            ServedModel(_spec(srv.url, api_key_env="TL_TEST_KEY"))
        monkeypatch.setenv("TL_TEST_KEY", "sk-test")
        model = ServedModel(_spec(srv.url, api_key_env="TL_TEST_KEY"))
        seen.append(model.http._session.headers.get("Authorization", ""))
    assert seen == ["Bearer sk-test"]
    assert "sk-test" not in repr(model.info)


def _toml(tmp: Path, server: str) -> Path:
    p = tmp / "models.toml"
    p.write_text(f"[models.s]\nserver = {server}\n\n[models.b]\npath = \"b.gguf\"\n\n"
                 "[pairs.p]\nbase = \"b\"\ninstruct = \"s\"\n")
    return p


def test_models_toml_server_table(tmp_path: Path) -> None:
    p = _toml(tmp_path, '{ urls = ["http://127.0.0.1:8000/", "http://127.0.0.1:8001"], '
                        'model = "m", kind = "vllm", api_key_env = "KEY", concurrency = 8 }')
    cfg = parse_config(p.read_text(), p)
    server = cfg.models["s"].server
    assert server is not None and server.kind == "vllm" and server.concurrency == 8
    assert server.urls == ("http://127.0.0.1:8000", "http://127.0.0.1:8001")
    assert cfg.models["s"].source_kind == "server" and cfg.models["b"].server is None


@pytest.mark.parametrize(("server", "says"), [
    ('{ url = "http://u:pw@127.0.0.1:8080" }', "credentials"),
    ('{ url = "http://127.0.0.1:8080", kind = "tgi" }', "expected one of llama-server"),
    ('{ url = "http://a", urls = ["http://b"] }', "exactly one of url"),
    ('{ url = "127.0.0.1:8080" }', "http(s) URL"),
    ('{ url = "http://127.0.0.1:8080", concurrency = 0 }', "concurrency"),
])
def test_models_toml_server_errors_name_the_key(tmp_path: Path, server: str, says: str) -> None:
    p = _toml(tmp_path, server)
    with pytest.raises(ConfigError) as err:
        parse_config(p.read_text(), p)
    assert says in str(err.value) and "models.s" in str(err.value) and ":2" in str(err.value)


def test_vllm_renders_the_chat_template_on_the_server() -> None:
    """No template to read from vLLM: the server renders the messages and that text is sent."""
    from engine.records import Item
    from engine.run.runner import prompt_for

    def tokenize(p: str, body: dict[str, Any]) -> tuple[int, Any]:
        if "messages" in body:
            assert body["add_generation_prompt"] is True
            return 200, {"count": 3, "max_model_len": 4096, "tokens": [7, 8, 9]}
        return _tokenize(p, body)

    routes = vllm_routes(**{
        "/tokenize": tokenize,
        "/detokenize": lambda _p, b: (200, {"prompt": "<|user|>Q<|assistant|>"
                                            if b["tokens"] == [7, 8, 9] else "?"}),
    })
    with SchemaServer(routes) as srv:
        model = ServedModel(_spec(srv.url))
        item = Item(dataset="embedded", item_id="x", question="2+2?", gold="4")
        prompt = prompt_for(model, "instruct", item, "zero-shot-cot", [])  # type: ignore[arg-type]
        raw = prompt_for(model, "base", item, "zero-shot-cot", [])  # type: ignore[arg-type]
        sent = [b for p, b in srv.requests if p == "/tokenize" and "messages" in b]
    assert prompt.chat and prompt.text == "<|user|>Q<|assistant|>"
    last = sent[0]["messages"][-1]
    assert last["role"] == "user" and "2+2?" in last["content"]
    assert not raw.chat and "2+2?" in raw.text
    assert model.info.settings["chat_template_source"].startswith("server")


def test_both_engines_implement_the_protocol(tiny_models_toml: Path) -> None:
    from engine.inference.config import load_config
    from engine.inference.engine import Engine
    from engine.inference.pairs import load_pair

    local = load_pair(load_config(tiny_models_toml), "tiny", ("base",))["base"]
    try:
        assert isinstance(local, Engine) and local.capabilities.teacher_forcing
    finally:
        local.close()
    with SchemaServer(vllm_routes()) as srv:
        served = ServedModel(_spec(srv.url))
        assert isinstance(served, Engine) and not served.capabilities.teacher_forcing
