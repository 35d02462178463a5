"""models.toml parsing: the shipped file loads, and every mistake is one line with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.inference.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[1]


def test_shipped_models_toml_has_demo_and_same_family_pairs() -> None:
    cfg = load_config(REPO / "models.toml")
    demo = cfg.pair("demo")
    assert demo.base.package and demo.base.package.call == "assemble"
    assert demo.instruct.package and demo.instruct.package.file.endswith(".gguf")
    assert "CROSS-FAMILY" in demo.description
    for name in ("smollm2-135m", "qwen2_5-0_5b", "gemma-3-270m", "llama-3_2-1b", "qwen3-0_6b"):
        pair = cfg.pair(name)
        assert pair.instruct.hub is not None, name
    assert cfg.engine.extra_buffers is False
    assert cfg.engine.n_threads >= 1


def _err(tmp_path: Path, text: str) -> str:
    path = tmp_path / "models.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    msg = _err(
        tmp_path,
        '[models.a]\npath = "a.gguf"\ncolour = "red"\n\n[pairs.p]\nbase = "a"\ninstruct = "a"\n',
    )
    assert ":3:" in msg and "models.a.colour" in msg and "unknown key" in msg


def test_missing_field(tmp_path: Path) -> None:
    msg = _err(tmp_path, '[models.a]\npath = "a.gguf"\n\n[pairs.p]\nbase = "a"\n')
    assert ":4:" in msg and "missing 'instruct'" in msg


def test_bad_type(tmp_path: Path) -> None:
    msg = _err(tmp_path, '[engine]\nthreads = "four"\n')
    assert ":2:" in msg and "engine.threads" in msg and "expected int" in msg


def test_bool_is_not_an_int(tmp_path: Path) -> None:
    msg = _err(tmp_path, "[engine]\nn_ctx = true\n")
    assert "expected int, got a boolean" in msg


def test_unknown_model_in_pair(tmp_path: Path) -> None:
    msg = _err(tmp_path, '[models.a]\npath = "a.gguf"\n[pairs.p]\nbase = "a"\ninstruct = "zzz"\n')
    assert ":5:" in msg and "unknown model 'zzz'" in msg


def test_two_sources(tmp_path: Path) -> None:
    msg = _err(
        tmp_path,
        '[models.a]\npath = "a.gguf"\nhub = { repo = "x/y", file = "f.gguf" }\n',
    )
    assert "exactly one of path, hub, package" in msg


def test_invalid_toml(tmp_path: Path) -> None:
    msg = _err(tmp_path, "[engine\n")
    assert "invalid TOML" in msg and "line 1" in msg


def test_unknown_pair(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text('[models.a]\npath = "a.gguf"\n[pairs.p]\nbase = "a"\ninstruct = "a"\n')
    cfg = load_config(path)
    with pytest.raises(ConfigError, match="unknown pair 'nope' \\(pairs defined: p\\)"):
        cfg.pair("nope")


def test_relative_path_is_relative_to_the_file(tmp_path: Path) -> None:
    cfg = parse_config('[models.a]\npath = "sub/a.gguf"\n', tmp_path / "models.toml")
    assert cfg.models["a"].path == (tmp_path / "sub" / "a.gguf").resolve()


def test_per_model_engine_override(tmp_path: Path) -> None:
    cfg = parse_config(
        '[engine]\nn_ctx = 2048\n[models.a]\npath = "a.gguf"\n[models.a.engine]\nthreads = 3\n',
        tmp_path / "models.toml",
    )
    assert cfg.models["a"].settings.n_ctx == 2048
    assert cfg.models["a"].settings.threads == 3


def test_sha256_format(tmp_path: Path) -> None:
    msg = _err(tmp_path, '[models.a]\npath = "a.gguf"\nsha256 = "abc"\n')
    assert ":3:" in msg and "64 hex digits" in msg
