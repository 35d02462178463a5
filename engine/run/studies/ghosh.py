"""What tuning changes in the tokens (Ghosh et al. 2024, arXiv 2402.05119, measured as in URIAL):
one greedy run of both models of a same-family pair, then the base model ranks every token of
the instruct answers (engine.run.shift). The base answers of the same run say, per item, whether
the base model got it right. Needs one tokenizer for both models: a cross-family pair is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.records import Decoding
from engine.run.config import RunConfig

NAME = "ghosh"
SOURCE = "Ghosh et al. 2024, arXiv 2402.05119 (token shift as in URIAL, Lin et al. 2023)"


@dataclass(frozen=True)
class ShiftStudy:
    pair: str
    dataset: str = "embedded"
    data_file: str | None = None
    limit: int | None = None
    mode: str = "zero-shot-cot"
    max_tokens: int = 256
    seed: int = 0
    models_file: str | None = None
    system: str | None = None  # the instruct model's system message (Qwen3: "/no_think")


def config(study: ShiftStudy) -> RunConfig:
    """Greedy answers of both roles (URIAL decodes the aligned model greedily)."""
    return RunConfig(
        pair=study.pair,
        dataset=study.dataset,
        data_file=study.data_file,
        limit=study.limit,
        modes=(study.mode,),
        decoding=Decoding(max_tokens=study.max_tokens, seed=study.seed),
        models_file=study.models_file,
        system_prompt=study.system,
        study=NAME,
    )
