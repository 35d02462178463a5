"""The real demo pair (gemma-3-270m base, SmolLM2-135M-Instruct) end to end, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.store.store import Store

REPO = Path(__file__).resolve().parents[1]
GEMMA_SHA = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


@pytest.mark.demo
def test_demo_pair_headless_gsm8k(gsm8k_file: Path, tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    proc = subprocess.run(
        [sys.executable, "-m", "tunelens", "--headless", "--pair", "demo", "--dataset", "gsm8k",
         "--data-file", str(gsm8k_file), "--limit", "2", "--mode", "zero-shot-cot",
         "--max-tokens", "48", "--db", str(db)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "accuracy" in proc.stdout and "base" in proc.stdout and "instruct" in proc.stdout
    store = Store(db)
    rows = store.query(
        "SELECT role, model_sha256, tokens, tokens_per_s, ttft_s, prompt, output "
        "FROM generations ORDER BY role"
    ).rows
    assert [r[0] for r in rows] == ["base", "base", "instruct", "instruct"]
    assert {r[1] for r in rows if r[0] == "base"} == {GEMMA_SHA}
    for role, _sha, tokens, rate, ttft, prompt, output in rows:
        assert tokens > 0 and rate > 0 and ttft > 0 and output.strip()
        if role == "instruct":  # SmolLM2's ChatML template, with its default system prompt
            assert prompt.startswith("<|im_start|>system\nYou are a helpful AI assistant")
        else:
            assert prompt.startswith("Q: ") and "Let's think step by step." in prompt
    models = store.query("SELECT name, quantization FROM models ORDER BY name").rows
    assert models == [("gemma-3-270m", "Q4_K_M"), ("smollm2-135m-instruct-q4_1", "Q4_1")]
