"""Test helpers for served models: a real llama-server on 127.0.0.1 (the engine's launcher), and a
small HTTP server that answers with response bodies in vLLM's documented OpenAI-compatible schema
(for the vLLM-only fields, which no engine here can serve)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from engine.inference.launch import LocalLlamaServer


class LlamaServer(LocalLlamaServer):
    """The engine's launcher with the tests' defaults; `stop()` kills, as a crash would."""

    def __init__(self, model: Path, *, parallel: int = 4, n_ctx: int = 4096, alias: str = "tiny",
                 port: int | None = None) -> None:
        super().__init__(model, parallel=parallel, n_ctx=n_ctx, alias=alias, threads=1,
                         port=port)

    def start(self, timeout_s: float = 60.0) -> LlamaServer:
        super().start(timeout_s)
        return self

    def stop(self, *, kill: bool = True) -> None:
        super().stop(kill=kill)


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
