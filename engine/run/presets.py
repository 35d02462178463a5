"""Reproduction presets: a published protocol written down as data, run with the ordinary runner.

`instruct-vs-base` is the GSM8K protocol of Munjal et al. 2026 ("Do Instruction-Tuned Models Always
Perform Better Than Base Models?"): zero-shot CoT and 8-shot CoT, both roles, on the original items
and on perturbed ones (new numbers, gold recomputed). The paper decodes base models with
CoT-decoding and samples instruct models (K = 20, T = 0.05) and reports pass@20; the default preset
decodes greedily (one answer per question, affordable on a laptop) and `instruct-vs-base-pass-k`
follows the paper's decoding. The result is printed in the paper's layout
(engine.analysis.presets.preset_table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.analysis.labels import setting_label
from engine.records import ORIGINAL, Decoding, Role

if TYPE_CHECKING:
    from engine.run.runner import RunConfig


@dataclass(frozen=True)
class PresetRun:
    """One run of a preset: which roles, decoded how, and which metric the table shows."""

    roles: tuple[Role, ...]
    strategy: str = "greedy"
    samples: int = 1  # answers per item (samples, or CoT-decoding branches)
    temperature: float = 0.0
    top_p: float = 1.0

    def metric(self, samples: int) -> str:
        """The table's metric for these roles: greedy, or pass@K over the K answers."""
        return "greedy" if self.strategy == "greedy" else f"pass@{samples}"


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    source: str
    datasets: tuple[str, ...]
    modes: tuple[str, ...]
    shots: int
    perturb: tuple[tuple[str, ...], ...]
    runs: tuple[PresetRun, ...]
    max_tokens: int = 512
    samples: int = 1  # default K for strategies that draw several answers

    @property
    def variants(self) -> tuple[str, ...]:
        return (ORIGINAL, *("+".join(g) for g in self.perturb))


MUNJAL = "Munjal et al. 2026, arXiv 2601.13244 (GSM8K: zero-shot CoT vs 8-shot CoT, perturbed)"

PRESETS: dict[str, Preset] = {
    "instruct-vs-base": Preset(
        name="instruct-vs-base",
        description="GSM8K zero-shot CoT and 8-shot CoT, both roles, original and numbers-"
        "perturbed items; greedy decoding (one answer per question)",
        source=MUNJAL,
        datasets=("gsm8k", "embedded", "gsm-plus", "gsm-symbolic", "file"),
        modes=("zero-shot-cot", "few-shot-cot"),
        shots=8,
        perturb=(("numbers",),),
        runs=(PresetRun(roles=("base", "instruct")),),
    ),
    "instruct-vs-base-pass-k": Preset(
        name="instruct-vs-base-pass-k",
        description="the same settings with the paper's decoding: base CoT-decoding over K "
        "first-token branches, instruct K samples at T=0.05; pass@K (K=20 unless --samples)",
        source=MUNJAL,
        datasets=("gsm8k", "embedded", "gsm-plus", "gsm-symbolic", "file"),
        modes=("zero-shot-cot", "few-shot-cot"),
        shots=8,
        perturb=(("numbers",),),
        runs=(
            PresetRun(roles=("base",), strategy="cot-decoding"),
            PresetRun(roles=("instruct",), strategy="sample", temperature=0.05, top_p=1.0),
        ),
        samples=20,
    ),
}


def preset_configs(
    preset: Preset,
    *,
    pair: str,
    dataset: str = "gsm8k",
    data_file: str | None = None,
    limit: int | None = None,
    shots: int | None = None,
    max_tokens: int | None = None,
    samples: int | None = None,
    seed: int = 0,
    models_file: str | None = None,
    train_file: str | None = None,
) -> list[RunConfig]:
    """The RunConfigs a preset runs (one per PresetRun), ready for `run_headless`."""
    from engine.run.runner import RunConfig

    if dataset not in preset.datasets:
        raise ValueError(
            f"preset {preset.name} is defined for {', '.join(preset.datasets)}, not {dataset}"
        )
    k = samples or preset.samples
    configs = []
    for run in preset.runs:
        n = 1 if run.strategy == "greedy" else k
        decoding = Decoding(
            strategy=run.strategy,  # type: ignore[arg-type]
            max_tokens=max_tokens or preset.max_tokens,
            temperature=run.temperature,
            top_p=run.top_p,
            seed=seed,
            samples=n,
        )
        configs.append(
            RunConfig(
                pair=pair,
                dataset=dataset,
                data_file=data_file,
                limit=limit,
                modes=preset.modes,
                shots=preset.shots if shots is None else shots,
                train_file=train_file,
                perturb=preset.perturb,
                decoding=decoding,
                roles=run.roles,
                models_file=models_file,
            )
        )
    return configs


def describe(preset: Preset) -> str:
    runs = "; ".join(
        f"{'+'.join(r.roles)}: {r.strategy}"
        + (f" (T={r.temperature})" if r.strategy == "sample" else "")
        for r in preset.runs
    )
    modes = ", ".join(
        setting_label(m, preset.shots) if m == "few-shot-cot" else m for m in preset.modes
    )
    variants = ", ".join(preset.variants)
    return f"{preset.description}. Modes: {modes}. Variants: {variants}. Decoding: {runs}."
