"""Load the two models of a pair, reporting each step so a front can show progress."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from engine.inference.backend import check_gpu_fit
from engine.inference.config import ModelsConfig, PairSpec
from engine.inference.llama import Model
from engine.inference.sources import ResolvedModel, resolve
from engine.records import ROLES, Role

Status = Callable[[Role, str], None]


def load_pair(
    config: ModelsConfig,
    pair_name: str,
    roles: Sequence[Role] = ROLES,
    *,
    on_status: Status | None = None,
) -> dict[Role, Model]:
    """Resolve (download, assemble, hash) and load each model of the pair."""
    pair = config.pair(pair_name)
    models: dict[Role, Model] = {}
    local: list[tuple[Role, ResolvedModel]] = []
    for role in roles:
        spec = pair.base if role == "base" else pair.instruct
        say = (lambda msg, r=role: on_status(r, msg)) if on_status else (lambda msg: None)
        if spec.server is not None:
            from engine.inference.served import ServedModel

            say(f"connecting to {spec.source_text}")
            models[role] = ServedModel(spec)  # type: ignore[assignment]
            say(f"ready: {models[role].info.description}")
            continue
        say(f"locating {spec.name} ({spec.source_text})")
        local.append((role, resolve(spec)))
    check_gpu_fit([(r.spec.name, r.size_bytes, r.spec.settings.n_gpu_layers) for _, r in local])
    for role, resolved in local:
        say = (lambda msg, r=role: on_status(r, msg)) if on_status else (lambda msg: None)
        say(f"loading {resolved.path.name} ({resolved.size_bytes / 1e6:.0f} MB)")
        models[role] = Model(resolved)
        say(f"ready: {models[role].info.description}")
    return models


def same_tokenizer(a: Model, b: Model) -> bool:
    """True when both models map every token id to the same bytes (required for token shift)."""
    if a.info.n_vocab != b.info.n_vocab:
        return False
    n = a.info.n_vocab
    return all(
        a.llm.detokenize([i], special=True) == b.llm.detokenize([i], special=True) for i in range(n)
    )


def describe_pair(pair: PairSpec) -> str:
    return f"{pair.name}: base={pair.base.name}  instruct={pair.instruct.name}"
