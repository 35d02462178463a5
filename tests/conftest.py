"""Shared fixtures: tiny generated GGUF pairs (real llama.cpp, seconds to load) and paths."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GSM8K_TEST = SHARED / "datasets" / "gsm8k" / "test.jsonl"
GSM8K_TRAIN = SHARED / "datasets" / "gsm8k" / "train.jsonl"
MEDCALC_DIR = SHARED / "datasets" / "medcalc-bench"

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for `import tinygguf`


def write_tiny_models_toml(directory: Path, *, n_ctx: int = 1024) -> Path:
    """A models.toml with a same-vocabulary tiny pair `tiny` and a `twin` pair (one model twice)."""
    from tinygguf import tiny_pair

    base, instruct = tiny_pair(directory)
    path = directory / "models.toml"
    path.write_text(
        f"[engine]\nn_ctx = {n_ctx}\nthreads = 1\n\n"
        f'[models.tiny-base]\npath = "{base}"\n\n'
        f'[models.tiny-instruct]\npath = "{instruct}"\n\n'
        '[pairs.tiny]\nbase = "tiny-base"\ninstruct = "tiny-instruct"\n\n'
        '[pairs.twin]\nbase = "tiny-base"\ninstruct = "tiny-base"\n'
    )
    return path


@pytest.fixture(scope="session")
def tiny_models_toml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_models_toml(tmp_path_factory.mktemp("tiny"))


@pytest.fixture()
def gsm8k_file() -> Path:
    if not GSM8K_TEST.is_file():
        pytest.fail(f"shared dataset missing: {GSM8K_TEST} (../shared must sit beside the repo)")
    return GSM8K_TEST


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault-injection suite's counts (tests/test_faults.py), when it ran."""
    faults = sys.modules.get("test_faults")
    if faults is not None and faults.STATS["cases"]:
        terminalreporter.write_line(faults.summary_line())
