"""The Hugging Face Hub, for users with network access: a quick probe first, so that an offline
machine fails in seconds with one line naming the local file to pass, instead of hanging."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from engine.data.readers.messages import one_line
from engine.errors import DatasetError

HUB_PROBE_SECONDS = 3.0


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _hub_offline() -> bool:
    return any(_env_true(v) for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _hub_reachable(timeout: float = HUB_PROBE_SECONDS) -> bool:
    """A quick TCP probe of the Hub (or the HTTPS proxy) so `datasets` never hangs for minutes."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    target = urlparse(proxy) if proxy else urlparse(os.environ.get("HF_ENDPOINT",
                                                                   "https://huggingface.co"))
    host = target.hostname or "huggingface.co"
    port = target.port or (443 if target.scheme != "http" else 80)
    ok: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                ok.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)  # DNS lookups ignore socket timeouts
    thread.start()
    thread.join(timeout + 1.0)
    return bool(ok)


def hub_rows(hub_id: str, config: str | None, split: str, local_hint: str,
             flag: str = "--data-file") -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a Hub dataset split, or a one-line DatasetError that names `flag` and the file."""
    fail = (f"could not load {hub_id} from the Hugging Face Hub ({{why}}): "
            f"pass {flag} PATH to a local {local_hint}")
    offline = _hub_offline()
    if not offline and not _hub_reachable():
        raise DatasetError(fail.format(why="offline? the Hub is unreachable"))
    try:
        import datasets as hf_datasets
    except ImportError:
        raise DatasetError(fail.format(why="the 'datasets' package is not installed")) from None
    try:
        ds = hf_datasets.load_dataset(hub_id, config, split=split)
    except Exception as exc:  # datasets raises many types; all mean "not available"
        why = "offline and not cached" if offline else one_line(exc, 100)
        raise DatasetError(fail.format(why=why)) from None
    for index, row in enumerate(ds):
        yield f"{hub_id}[{split}]:{index}", dict(row)
