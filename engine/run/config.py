"""What a run is: the configuration whose hash identifies it (and so what `--resume` continues)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from engine.errors import UsageError
from engine.inference.defaults import DEFAULT_PARALLEL_ITEMS
from engine.records import ROLES, Decoding, Role

try:
    TUNELENS_VERSION = version("tunelens")
except PackageNotFoundError:  # running from a source tree that was never installed
    TUNELENS_VERSION = "0.0.0+source"
EXECUTION_ONLY = ("parallel_items", "side_by_side", "concurrency", "extractor")


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides which answers a run contains; its hash identifies the run."""

    pair: str
    dataset: str
    data_file: str | None = None
    split: str = "test"
    limit: int | None = None
    modes: tuple[str, ...] = ("zero-shot-cot",)
    shots: int = 8
    train_file: str | None = None
    chat_template: bool = True  # instruct model: its own chat template, or raw text like the base
    system_prompt: str | None = None
    perturb: tuple[tuple[str, ...], ...] = ()  # each group composes; each group is one variant
    perturb_seed: int = 0
    decoding: Decoding = field(default_factory=Decoding)
    roles: tuple[Role, ...] = ROLES
    grader: str | None = None
    fewshot_seed: int = 1234
    models_file: str | None = None
    columns: tuple[tuple[str, str], ...] = ()
    corrected_labels: bool = False  # MedCalc-Bench: test_corrected.csv labels beside the data file
    # Which step of a `tunelens reproduce` study this run is, with the study's own settings
    # (tasks, held-out exemplars...): they decide the items and exemplars, so they are hashed.
    # Empty for ordinary runs, and then left out of the hash so their ids stay as they were.
    study: str = ""
    items: tuple[str, ...] = ()  # --items: only these item ids (engine.data.select)
    # How the run is executed, not what it contains: left out of the hash, so a run resumed with
    # other values is the same run.
    parallel_items: int = DEFAULT_PARALLEL_ITEMS  # answers per model in one llama.cpp batch
    side_by_side: str | None = None  # None: models.toml's [engine] side_by_side
    concurrency: int | None = None  # served models: requests in flight (None: the server's slots)
    # extract-llm beside the primary grader, after each answer: a models.toml model name. It adds
    # verdicts, never changes an answer, so a run resumed with or without it is the same run.
    extractor: str | None = None

    def check(self) -> None:
        """Refuse values that would run something other than what they say, as one UsageError
        naming the option: a negative shot count ran 0-shot under the name few-shot."""
        at_least("--shots", self.shots, 0)
        if self.limit is not None:
            at_least("--limit", self.limit, 1)
        at_least("--parallel-items", self.parallel_items, 1)
        if self.concurrency is not None:
            at_least("--concurrency", self.concurrency, 1)
        d = self.decoding
        at_least("--max-tokens", d.max_tokens, 1)
        at_least("--samples", d.samples, 1)
        check_sampling(d.temperature, d.top_p, d.top_k, d.min_p)

    def config_hash(self) -> str:
        data = asdict(self)
        for key in EXECUTION_ONLY:
            data.pop(key)
        if not data["study"]:
            data.pop("study")
        if not data["items"]:
            data.pop("items")  # runs recorded before --items existed keep their hash
        data["decoding"] = self.decoding.as_dict()
        for key in ("data_file", "train_file", "models_file"):
            if data[key]:
                data[key] = str(Path(data[key]).resolve())
        blob = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]




def at_least(flag: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise UsageError(f"{flag} {value}: expected {minimum} or more")


def check_sampling(temperature: float, top_p: float, top_k: int, min_p: float = 0.0) -> None:
    """The sampling settings llama.cpp and servers accept; the CLI checks them as typed, even
    when the strategy (greedy) will not use them, so a typo is never silently dropped."""
    if not math.isfinite(temperature) or temperature < 0:
        raise UsageError(f"--temperature {temperature}: expected 0 or more (0 is greedy)")
    if not math.isfinite(top_p) or not 0 < top_p <= 1:
        raise UsageError(f"--top-p {top_p}: expected a number in (0, 1]")
    if top_k < 0:
        raise UsageError(f"--top-k {top_k}: expected 0 (no cut) or more")
    if not math.isfinite(min_p) or not 0 <= min_p <= 1:
        raise UsageError(f"min_p {min_p}: expected a number in [0, 1]")
