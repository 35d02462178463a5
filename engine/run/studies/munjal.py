"""Base vs instruct across benchmarks and settings (Munjal et al. 2026, arXiv 2601.13244).

GSM8K, MATH-500, MATH-Perturb Hard and MedCalc-Bench; zero-shot CoT and few-shot CoT. Decoding as
in the paper: the base model with CoT-decoding over K first-token branches, the instruct model K
samples at T = 0.05, up to 8,192 tokens; metric pass@K (K = 20). `greedy=True` is the quick run
(one answer per question, both roles in one run). Every run is an ordinary run; per benchmark the
table is the presets' (engine.analysis.presets).

Few-shot exemplars: GSM8K train problems (train.jsonl beside the test file), MedCalc's one-shot
example of the item's own calculator (one_shot.csv beside the test file), MATH train problems
(`math_train_file`); without a MATH train file, offline, MATH-500 problems that are not asked
(so `--limit` must leave some) serve both MATH sets, and an asked question is never an exemplar.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.records import Decoding, Role
from engine.run.config import RunConfig
from engine.run.presets import Preset, PresetRun
from engine.run.studies.sources import Source

NAME = "munjal"
SOURCE = "Munjal et al. 2026, arXiv 2601.13244"
DEFAULT_DATASETS = ("gsm8k", "math500", "math-perturb-hard", "medcalc")
MODES = ("zero-shot-cot", "few-shot-cot")
# Exemplars per few-shot prompt: lm-eval's 8-shot GSM8K CoT, Minerva's 4-shot MATH, MedCalc's
# one-shot example of the item's calculator.
SHOTS = {"gsm8k": 8, "math500": 4, "math-perturb-hard": 4, "medcalc": 1}
MATH_SETS = ("math500", "math-perturb-hard")


@dataclass(frozen=True)
class MunjalStudy:
    pair: str
    sources: tuple[Source, ...]
    greedy: bool = False
    samples: int = 20
    max_tokens: int = 8192
    shots: int | None = None  # None: SHOTS per dataset
    limit: int | None = None
    seed: int = 0
    math_train_file: str | None = None
    models_file: str | None = None

    def preset(self) -> Preset:
        """The preset shape the table code reads (runs, their strategies, K)."""
        if self.greedy:
            runs: tuple[PresetRun, ...] = (PresetRun(roles=("base", "instruct")),)
        else:
            runs = (
                PresetRun(roles=("base",), strategy="cot-decoding"),
                PresetRun(roles=("instruct",), strategy="sample", temperature=0.05),
            )
        return Preset(
            name=NAME, description="base vs instruct across benchmarks", source=SOURCE,
            datasets=DEFAULT_DATASETS, modes=MODES, shots=8, perturb=(), runs=runs,
            max_tokens=self.max_tokens, samples=1 if self.greedy else self.samples,
        )


def train_file_for(study: MunjalStudy, source: Source) -> str | None:
    """Where a benchmark's few-shot exemplars come from (None: beside its data file)."""
    if source.dataset not in MATH_SETS:
        return None
    if study.math_train_file:
        return study.math_train_file
    math500 = next((s.data_file for s in study.sources if s.dataset == "math500"), None)
    return math500 or source.data_file


def configs(study: MunjalStudy) -> dict[str, list[RunConfig]]:
    """dataset -> its runs (one greedy run of both roles, or a base and an instruct run)."""
    out: dict[str, list[RunConfig]] = {}
    for src in study.sources:
        runs = []
        for run in study.preset().runs:
            n = 1 if run.strategy == "greedy" else study.samples
            roles: tuple[Role, ...] = tuple(run.roles)  # type: ignore[assignment]
            runs.append(RunConfig(
                pair=study.pair,
                dataset=src.dataset,
                data_file=src.data_file,
                limit=study.limit,
                modes=MODES,
                shots=study.shots if study.shots is not None else SHOTS.get(src.dataset, 8),
                train_file=train_file_for(study, src),
                decoding=Decoding(
                    strategy=run.strategy,  # type: ignore[arg-type]
                    max_tokens=study.max_tokens, temperature=run.temperature,
                    top_p=run.top_p, seed=study.seed, samples=n,
                ),
                roles=roles,
                models_file=study.models_file,
                study=NAME,
            ))
        out[src.dataset] = runs
    return out
