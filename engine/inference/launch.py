"""Start a llama-server on 127.0.0.1 for one GGUF and wait until it answers.

For trying served models on one machine, and for the tests and benchmarks, which all start it the
same way: `--no-repack` (llama.cpp's AMX kernels segfault on Sapphire Rapids Xeons, #20824),
`--flash-attn off` unless asked (llama-server's `auto` turns it on on a CPU, where in-process
models keep it off, and greedy answers then differ), the log to a file (a pipe that nobody reads
fills up and stalls the server).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from engine.errors import SourceError

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
ENV_BINARY = "TUNELENS_LLAMA_SERVER"
_BUILD_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_llama_server.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def llama_server_binary(*, build: bool = True) -> Path:
    """$TUNELENS_LLAMA_SERVER, else the one scripts/build_llama_server.sh caches (built on first
    use from a source tree when `build`), else `llama-server` on PATH."""
    env = os.environ.get(ENV_BINARY)
    if env:
        return Path(env)
    cached = (Path.home() / ".cache" / "tunelens" / "server"
              / f"llama-cpp-{LLAMA_CPP_PYTHON_VERSION}" / "llama-server")
    if cached.is_file():
        return cached
    if build and _BUILD_SCRIPT.is_file():
        out = subprocess.run(["bash", str(_BUILD_SCRIPT)], capture_output=True, text=True,
                             timeout=3000)
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["no output"])[-1]
            raise SourceError(f"{_BUILD_SCRIPT}: building llama-server failed: {last}")
        return Path(out.stdout.strip().splitlines()[-1])
    found = shutil.which("llama-server")
    if found:
        return Path(found)
    raise SourceError(f"no llama-server found: set {ENV_BINARY} or run {_BUILD_SCRIPT.name}")


class LocalLlamaServer:
    """One llama-server process serving `model` on 127.0.0.1; `start`/`stop` or `with`."""

    def __init__(
        self,
        model: Path,
        *,
        parallel: int = 1,
        n_ctx: int = 4096,
        alias: str = "model",
        threads: int = 1,
        flash_attn: str = "off",
        port: int | None = None,
        binary: Path | None = None,
    ) -> None:
        self.model = model
        self.parallel = parallel
        self.n_ctx = n_ctx  # in all: each slot gets n_ctx / parallel
        self.alias = alias
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])
        self.cmd = [
            str(binary or llama_server_binary()), "-m", str(model), "--host", "127.0.0.1",
            "--port", str(self.port), "--parallel", str(parallel), "-c", str(n_ctx),
            "--alias", alias, "-t", str(threads), "--no-repack", "--no-webui",
            "--flash-attn", flash_attn,
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 120.0) -> LocalLlamaServer:
        import requests

        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"llama-server exited:\n{tail}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"llama-server did not become healthy (log: {self.log})")

    def stop(self, *, kill: bool = False) -> None:
        """End the server: terminate (wait, then kill), or kill at once to simulate a crash."""
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def __enter__(self) -> LocalLlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.log.unlink(missing_ok=True)
