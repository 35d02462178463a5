"""models.toml: which GGUF files make a pair, and how llama.cpp should run them.

The file is data a researcher edits by hand, so every mistake is reported as one line that names
the file, the line and the key, and says what was expected.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.inference.defaults import DEFAULT_SIDE_BY_SIDE, SIDE_BY_SIDE

ENV_MODELS = "TUNELENS_MODELS"


@dataclass(frozen=True)
class EngineSettings:
    """llama.cpp settings shared by every model unless a model overrides them."""

    n_ctx: int = 4096
    threads: int = 0  # 0: all cores
    n_batch: int = 512
    n_gpu_layers: int = -1  # -1: offload every layer (a no-op on a CPU build)
    seed: int = 0
    # "auto": on where layers run on a GPU, off on a CPU (it halves CPU decode speed at ~1k context)
    flash_attn: bool | str = "auto"
    # llama.cpp's "extra buffer types" (weight repacking, the AMX kernels). Off by default: the AMX
    # kernel segfaults on the first decode on Sapphire Rapids Xeons (llama.cpp #20824), and on the
    # CPUs measured here turning it off cost nothing. Set true on other hardware to compare.
    extra_buffers: bool = False
    # [engine] only: how base and instruct share the CPU when they answer side by side.
    side_by_side: str = DEFAULT_SIDE_BY_SIDE

    @property
    def n_threads(self) -> int:
        return self.threads if self.threads > 0 else (os.cpu_count() or 1)


@dataclass(frozen=True)
class HubSource:
    repo: str
    file: str
    revision: str | None = None


@dataclass(frozen=True)
class PackageSource:
    """A GGUF shipped inside a Python package: a file in it, or a function that writes it."""

    package: str
    file: str | None = None
    call: str | None = None


SERVER_KINDS: tuple[str, ...] = ("llama-server", "vllm", "sglang", "openai")


@dataclass(frozen=True)
class ServerSource:
    """A model served by an engine over HTTP instead of a GGUF file loaded in-process.

    `urls` are replicas of the same model (requests are spread over them); the API key is read
    from the environment variable `api_key_env` at run time and never stored.
    """

    kind: str
    urls: tuple[str, ...]
    model: str | None = None  # the served model id; None: whatever the server serves
    api_key_env: str | None = None
    timeout_s: float = 600.0  # per request
    retries: int = 4  # on 429, 5xx, time-outs and dropped connections, with backoff
    concurrency: int | None = None  # requests in flight; None: the server's slot count


@dataclass(frozen=True)
class ModelSpec:
    name: str
    path: Path | None = None
    hub: HubSource | None = None
    package: PackageSource | None = None
    sha256: str | None = None
    description: str = ""
    settings: EngineSettings = field(default_factory=EngineSettings)
    server: ServerSource | None = None

    @property
    def source_kind(self) -> str:
        if self.server:
            return "server"
        return "path" if self.path else "hub" if self.hub else "package"

    @property
    def source_text(self) -> str:
        if self.server:
            model = f" ({self.server.model})" if self.server.model else ""
            return f"{self.server.kind} at {', '.join(self.server.urls)}{model}"
        if self.path:
            return str(self.path)
        if self.hub:
            rev = f"@{self.hub.revision}" if self.hub.revision else ""
            return f"hf://{self.hub.repo}/{self.hub.file}{rev}"
        assert self.package
        return f"package://{self.package.package}/{self.package.file or self.package.call + '()'}"


@dataclass(frozen=True)
class PairSpec:
    name: str
    base: ModelSpec
    instruct: ModelSpec
    description: str = ""


@dataclass(frozen=True)
class ModelsConfig:
    path: Path
    engine: EngineSettings
    models: dict[str, ModelSpec]
    pairs: dict[str, PairSpec]

    def pair(self, name: str) -> PairSpec:
        try:
            return self.pairs[name]
        except KeyError:
            known = ", ".join(sorted(self.pairs)) or "none"
            raise ConfigError(
                f"{self.path}: unknown pair '{name}' (pairs defined: {known})"
            ) from None


_ENGINE_KEYS: dict[str, type] = {
    "n_ctx": int,
    "threads": int,
    "n_batch": int,
    "n_gpu_layers": int,
    "seed": int,
    "flash_attn": bool,  # or "auto"
    "extra_buffers": bool,
    "side_by_side": str,
}
_MODEL_KEYS = {"path", "hub", "package", "server", "sha256", "description", "engine"}
_SERVER_KEYS = {
    "url", "urls", "model", "kind", "api_key_env", "timeout_s", "retries", "concurrency",
}
_HUB_KEYS = {"repo", "file", "revision"}
_PACKAGE_KEYS = {"name", "file", "call"}
_PAIR_KEYS = {"base", "instruct", "description"}
_TOP_KEYS = {"engine", "models", "pairs"}


def default_models_path() -> Path:
    """Where models.toml is looked for when no --models is given.

    Order: $TUNELENS_MODELS, ./models.toml, the copy that ships with tunelens.
    """
    env = os.environ.get(ENV_MODELS)
    if env:
        return Path(env)
    here = Path.cwd() / "models.toml"
    if here.is_file():
        return here
    repo_copy = Path(__file__).resolve().parents[2] / "models.toml"
    if repo_copy.is_file():
        return repo_copy
    return Path(__file__).resolve().parents[1] / "data" / "models.toml"


def load_config(path: str | Path | None = None) -> ModelsConfig:
    path = Path(path) if path else default_models_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: models file not found") from None
    except UnicodeDecodeError:
        from engine.data.readers import not_utf8

        raise ConfigError(not_utf8(path)) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read models file ({exc.strerror})") from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> ModelsConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    where = _Locator(text, path)

    for key in data:
        if key not in _TOP_KEYS:
            raise where.error([key], f"unknown table '{key}' (expected one of {_fmt(_TOP_KEYS)})")
    engine = _engine_settings(data.get("engine", {}), EngineSettings(), ["engine"], where)

    models_table = _table(data.get("models", {}), ["models"], where)
    models: dict[str, ModelSpec] = {}
    for name, raw in models_table.items():
        models[name] = _model_spec(name, raw, engine, where)

    pairs_table = _table(data.get("pairs", {}), ["pairs"], where)
    pairs: dict[str, PairSpec] = {}
    for name, raw in pairs_table.items():
        keys = ["pairs", name]
        raw = _table(raw, keys, where)
        _check_keys(raw, _PAIR_KEYS, keys, where)
        roles: dict[str, ModelSpec] = {}
        for role in ("base", "instruct"):
            if role not in raw:
                raise where.error(
                    keys, f"missing '{role}' (expected the name of a [models.*] entry)"
                )
            ref = raw[role]
            if not isinstance(ref, str):
                raise where.error([*keys, role], f"expected a model name string, got {_kind(ref)}")
            if ref not in models:
                raise where.error(
                    [*keys, role], f"unknown model '{ref}' (models defined: {_fmt(models)})"
                )
            roles[role] = models[ref]
        desc = _opt_str(raw, "description", keys, where) or ""
        pairs[name] = PairSpec(name, roles["base"], roles["instruct"], desc)
    return ModelsConfig(path=path, engine=engine, models=models, pairs=pairs)


def _model_spec(name: str, raw: Any, engine: EngineSettings, where: _Locator) -> ModelSpec:
    keys = ["models", name]
    raw = _table(raw, keys, where)
    _check_keys(raw, _MODEL_KEYS, keys, where)
    sources = [k for k in ("path", "hub", "package", "server") if k in raw]
    if len(sources) != 1:
        found = f"found {', '.join(sources)}" if sources else "found none"
        raise where.error(
            keys, f"a model needs exactly one of path, hub, package, server ({found})"
        )
    path = hub = package = server = None
    if "server" in raw:
        server = _server_source(raw["server"], [*keys, "server"], where)
    elif "path" in raw:
        p = raw["path"]
        if not isinstance(p, str):
            raise where.error([*keys, "path"], f"expected a file path string, got {_kind(p)}")
        path = Path(os.path.expanduser(p))
        if not path.is_absolute():
            path = (where.path.parent / path).resolve()
    elif "hub" in raw:
        h = _table(raw["hub"], [*keys, "hub"], where)
        _check_keys(h, _HUB_KEYS, [*keys, "hub"], where)
        for req in ("repo", "file"):
            if not isinstance(h.get(req), str):
                raise where.error([*keys, "hub", req], "expected a string (hub = { repo, file })")
        rev = _opt_str(h, "revision", [*keys, "hub"], where)
        hub = HubSource(h["repo"], h["file"], rev)
    else:
        pk = raw["package"]
        if isinstance(pk, str):
            pk = {"name": pk}
        pk = _table(pk, [*keys, "package"], where)
        _check_keys(pk, _PACKAGE_KEYS, [*keys, "package"], where)
        if not isinstance(pk.get("name"), str):
            raise where.error([*keys, "package", "name"], "expected an importable module name")
        file = _opt_str(pk, "file", [*keys, "package"], where)
        call = _opt_str(pk, "call", [*keys, "package"], where)
        if (file is None) == (call is None):
            raise where.error(
                [*keys, "package"], "expected exactly one of file (inside the package) or call"
            )
        package = PackageSource(pk["name"], file, call)
    sha = _opt_str(raw, "sha256", keys, where)
    if sha is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha):
        raise where.error([*keys, "sha256"], "expected 64 hex digits")
    settings = _engine_settings(raw.get("engine", {}), engine, [*keys, "engine"], where)
    desc = _opt_str(raw, "description", keys, where) or ""
    return ModelSpec(
        name, path, hub, package, sha.lower() if sha else None, desc, settings, server
    )


def _server_source(raw: Any, keys: list[str], where: _Locator) -> ServerSource:
    """`server = { url = "http://127.0.0.1:8080", model = "name", kind = "llama-server" }`."""
    raw = _table(raw, keys, where)
    _check_keys(raw, _SERVER_KEYS, keys, where)
    kind = raw.get("kind", "openai")
    if kind not in SERVER_KINDS:
        raise where.error([*keys, "kind"], f"expected one of {', '.join(SERVER_KINDS)}")
    if ("url" in raw) == ("urls" in raw):
        raise where.error(keys, "expected exactly one of url (a string) or urls (an array)")
    urls = [raw["url"]] if "url" in raw else raw["urls"]
    key = "url" if "url" in raw else "urls"
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise where.error([*keys, key], "expected http(s) URL strings")
    for u in urls:
        if not re.match(r"^https?://[^/\s]+", u):
            raise where.error([*keys, key], f"expected an http(s) URL, got {u!r}")
        if re.match(r"^https?://[^/@]*@", u):
            raise where.error(
                [*keys, key], "credentials do not belong in a URL: name api_key_env instead"
            )
    model = _opt_str(raw, "model", keys, where)
    env = _opt_str(raw, "api_key_env", keys, where)
    if env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env):
        raise where.error([*keys, "api_key_env"], "expected an environment variable name")
    numbers: dict[str, Any] = {}
    for name, want, low in (("timeout_s", (int, float), 0.001), ("retries", int, 0),
                            ("concurrency", int, 1)):
        if name in raw:
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, want) or value < low:
                raise where.error([*keys, name], f"expected a number >= {low}")
            numbers[name] = value
    return ServerSource(
        kind=kind,
        urls=tuple(u.rstrip("/") for u in urls),
        model=model,
        api_key_env=env,
        timeout_s=float(numbers.get("timeout_s", 600.0)),
        retries=int(numbers.get("retries", 4)),
        concurrency=numbers.get("concurrency"),
    )


def _engine_settings(
    raw: Any, base: EngineSettings, keys: list[str], where: _Locator
) -> EngineSettings:
    raw = _table(raw, keys, where)
    _check_keys(raw, set(_ENGINE_KEYS), keys, where)
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        want = _ENGINE_KEYS[key]
        if key == "flash_attn":
            if value != "auto" and not isinstance(value, bool):
                raise where.error([*keys, key], f'expected true, false or "auto", got {value!r}')
            changes[key] = value
            continue
        # bool is a subclass of int in Python; refuse `threads = true`.
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise where.error([*keys, key], f"expected {want.__name__}, got {_kind(value)}")
        changes[key] = value
    for key in ("n_ctx", "n_batch"):
        if key in changes and changes[key] < 16:
            raise where.error([*keys, key], "expected a positive number of tokens (>= 16)")
    if "side_by_side" in changes:
        if keys != ["engine"]:
            raise where.error(
                [*keys, "side_by_side"], "set side_by_side in [engine]: it applies to the pair"
            )
        if changes["side_by_side"] not in SIDE_BY_SIDE:
            raise where.error(
                [*keys, "side_by_side"], f"expected one of {', '.join(SIDE_BY_SIDE)}"
            )
    return replace(base, **changes)


def _table(raw: Any, keys: list[str], where: _Locator) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise where.error(keys, f"expected a table, got {_kind(raw)}")
    return raw


def _check_keys(raw: dict[str, Any], allowed: set[str], keys: list[str], where: _Locator) -> None:
    for key in raw:
        if key not in allowed:
            raise where.error([*keys, key], f"unknown key (expected one of {_fmt(allowed)})")


def _opt_str(raw: dict[str, Any], key: str, keys: list[str], where: _Locator) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise where.error([*keys, key], f"expected a string, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _fmt(names: Any) -> str:
    return ", ".join(sorted(names))


class _Locator:
    """Finds the line of a dotted key in the TOML text, so errors can say file:line."""

    def __init__(self, text: str, path: Path) -> None:
        self.lines = text.splitlines()
        self.path = path

    def error(self, keys: list[str], message: str) -> ConfigError:
        line = self._line(keys)
        loc = f"{self.path}:{line}" if line else f"{self.path}"
        return ConfigError(f"{loc}: {'.'.join(keys)}: {message}")

    def _line(self, keys: list[str]) -> int | None:
        # Try the most specific form first: a `key =` inside its [table], then the table header.
        for split in range(len(keys), -1, -1):
            table, rest = keys[:split], keys[split:]
            start = self._table_line(table) if table else 0
            if start is None:
                continue
            if not rest:
                return start
            found = self._key_line(rest, start)
            if found:
                return found
        return None

    def _table_line(self, table: list[str]) -> int | None:
        pattern = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(map(_key_re, table)) + r"\s*\]")
        for i, line in enumerate(self.lines, 1):
            if pattern.match(line):
                return i
        return None

    def _key_line(self, rest: list[str], start: int) -> int | None:
        pattern = re.compile(r"^\s*" + _key_re(rest[0]) + r"\s*[=.]")
        for i in range(start, len(self.lines)):  # `start` is the header's 1-based line
            if self.lines[i].lstrip().startswith("["):
                break  # the next table begins
            if pattern.match(self.lines[i]):
                return i + 1
        return None


def _key_re(key: str) -> str:
    return r"(?:" + re.escape(key) + r'|"' + re.escape(key) + r'")'
