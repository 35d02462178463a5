"""Test helpers for served models: a real llama-server on 127.0.0.1, and a small HTTP server that
answers with response bodies in vLLM's documented OpenAI-compatible schema (for the vLLM-only
fields, which no engine here can serve)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def llama_server_binary() -> Path:
    """The llama-server built from the pinned llama-cpp-python's llama.cpp (built once, cached)."""
    env = os.environ.get("TUNELENS_LLAMA_SERVER")
    if env:
        return Path(env)
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "build_llama_server.sh")],
        capture_output=True, text=True, timeout=3000,
    )
    if out.returncode != 0:
        raise RuntimeError(f"building llama-server failed:\n{out.stderr[-3000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


class LlamaServer:
    """A llama-server process serving one GGUF on 127.0.0.1 (stop/start to test recovery)."""

    def __init__(self, model: Path, *, parallel: int = 4, n_ctx: int = 4096, alias: str = "tiny",
                 port: int | None = None) -> None:
        self.binary = llama_server_binary()
        self.model = model
        self.parallel = parallel
        self.n_ctx = n_ctx
        self.alias = alias
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])

    def start(self, timeout_s: float = 60.0) -> LlamaServer:
        # The log goes to a file: a pipe nobody reads fills up and stalls the server.
        log = self.log.open("ab")
        self.proc = subprocess.Popen(
            [str(self.binary), "-m", str(self.model), "--host", "127.0.0.1",
             "--port", str(self.port), "--parallel", str(self.parallel), "-c", str(self.n_ctx),
             "--alias", self.alias, "-t", "1", "--no-repack", "--no-webui"],
            stdout=subprocess.DEVNULL, stderr=log,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.log.read_text(errors="replace")
                raise RuntimeError(f"llama-server exited:\n{err[-3000:]}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("llama-server did not become healthy")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


# -- a server speaking vLLM's schema -------------------------------------------------------------

Handler = Callable[[str, dict[str, Any]], tuple[int, Any]]


class SchemaServer:
    """A threaded HTTP server whose routes return canned bodies; records every request."""

    def __init__(self, routes: dict[str, Handler]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, dict[str, Any]]] = []
        owner = self

        class _H(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _go(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                owner.requests.append((self.path, body))
                route = owner.routes.get(self.path)
                if route is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                status, payload = route(self.path, body)
                if isinstance(payload, list):  # a stream of server-sent events
                    self.send_response(status)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for event in payload:
                        self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
                    self.wfile.write(b"data: [DONE]\n\n")
                    return
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _go
            do_POST = _go

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> SchemaServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
