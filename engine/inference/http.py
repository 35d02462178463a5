"""HTTP to a serving engine: a pooled session per replica, retries with backoff, one-line errors.

Kept apart from the served model so that the protocol (which endpoint, which fields) and the
transport (pooling, replicas, retries, time-outs, credentials) can be read and tested separately.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine.errors import ServerError, StreamBroken

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


class Http:
    """Requests to one served model, spread round-robin over its replicas.

    Retries 408/425/429/5xx answers, time-outs and dropped connections with exponential backoff
    and jitter; gives up after `retries` with a `ServerError` that names the URL and the cause.
    The API key is read from the environment each time a session is made, never stored.
    """

    def __init__(
        self,
        urls: tuple[str, ...],
        *,
        api_key_env: str | None = None,
        timeout_s: float = 600.0,
        retries: int = 4,
        backoff_s: float = 0.5,
        pool_size: int = 16,
    ) -> None:
        import requests
        from requests.adapters import HTTPAdapter

        self.urls = urls
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._next = itertools.cycle(range(len(urls)))
        self._lock = threading.Lock()
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=len(urls), pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise ServerError(
                    f"{urls[0]}: the API key variable {api_key_env} named in models.toml is not set"
                )
            self._session.headers["Authorization"] = f"Bearer {key}"

    def _url(self) -> str:
        with self._lock:
            return self.urls[next(self._next)]

    def get(
        self, path: str, *, timeout_s: float | None = None, retries: int | None = None
    ) -> Reply:
        return self._call("GET", path, None, timeout_s=timeout_s, retries=retries)

    def post(
        self, path: str, body: dict[str, Any], *, timeout_s: float | None = None
    ) -> Reply:
        return self._call("POST", path, body, timeout_s=timeout_s)

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        timeout_s: float | None = None,
        retries: int | None = None,
    ) -> Reply:
        import requests

        attempts = (self.retries if retries is None else retries) + 1
        last = ""
        for attempt in range(attempts):
            url = self._url() + path
            try:
                r = self._session.request(
                    method, url, json=body, timeout=timeout_s or self.timeout_s
                )
            except requests.RequestException as exc:
                last = f"{url}: {_reason(exc)}"
            else:
                if r.status_code not in RETRY_STATUS:
                    return Reply(r.status_code, _json(r))
                last = f"{url}: HTTP {r.status_code} {_error_text(r)}"
            if attempt + 1 < attempts:
                self._sleep(attempt)
        raise ServerError(f"{last} (after {attempts} tries)")

    def stream(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Server-sent events of one streamed request, as JSON objects.

        A failure before the first event is retried like any request; a connection that drops
        mid-stream raises `StreamBroken`, and the caller decides whether to ask again.
        """
        import requests

        attempts = self.retries + 1
        last = ""
        for attempt in range(attempts):
            url = self._url() + path
            try:
                r = self._session.post(url, json=body, stream=True, timeout=self.timeout_s)
            except requests.RequestException as exc:
                last = f"{url}: {_reason(exc)}"
            else:
                if r.status_code == 200:
                    yield from _events(r, url)
                    return
                last = f"{url}: HTTP {r.status_code} {_error_text(r)}"
                r.close()
                if r.status_code not in RETRY_STATUS:
                    raise ServerError(last)
            if attempt + 1 < attempts:
                self._sleep(attempt)
        raise ServerError(f"{last} (after {attempts} tries)")

    def _sleep(self, attempt: int) -> None:
        time.sleep(self.backoff_s * (2**attempt) * (0.5 + random.random()))

    def close(self) -> None:
        self._session.close()


def _events(response: Any, url: str) -> Iterator[dict[str, Any]]:
    import requests

    try:
        for raw in response.iter_lines(decode_unicode=False):
            if not raw or not raw.startswith(b"data:"):
                continue
            data = raw[5:].strip()
            if data == b"[DONE]":
                return
            try:
                event = json.loads(data)
            except json.JSONDecodeError:
                raise ServerError(f"{url}: unreadable stream event {data[:80]!r}") from None
            if isinstance(event, dict) and "error" in event:
                raise ServerError(f"{url}: {_error_message(event['error'])}")
            yield event
    except (requests.RequestException, OSError) as exc:
        raise StreamBroken(f"{url}: stream broke off ({_reason(exc)})") from None
    finally:
        response.close()


def _json(r: Any) -> Any:
    try:
        return r.json()
    except ValueError:
        return r.text


def _error_text(r: Any) -> str:
    body = _json(r)
    if isinstance(body, dict) and "error" in body:
        return _error_message(body["error"])
    return " ".join(str(body).split())[:160]


def _error_message(err: Any) -> str:
    if isinstance(err, dict):
        return str(err.get("message") or err)[:200]
    return str(err)[:200]


def _reason(exc: BaseException) -> str:
    import requests

    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "cannot connect (is the server running?)"
    return type(exc).__name__
