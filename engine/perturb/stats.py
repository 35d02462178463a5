"""Coverage of each perturbation over a set of items: tried, made, rejected by reason.

Why: a perturbation that silently skips half the items biases the comparison toward the items it
can handle; `tunelens perturbations --stats` shows how many it perturbed and, for the rest, the
reason codes the perturbation modules raised (nothing is recomputed here).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from engine.perturb.compose import attempt
from engine.perturb.registry import PERTURBATIONS
from engine.records import Item

__all__ = ["PerturbationStats", "perturbation_stats"]


@dataclass
class PerturbationStats:
    """One perturbation chain over a set of items: `rejected` counts reasons ("step:code" for
    a chain of several steps, "code" for one)."""

    name: str
    tried: int = 0
    made: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def coverage(self) -> float:
        """Share of tried items that got a variant (0 when none was tried)."""
        return self.made / self.tried if self.tried else 0.0


def perturbation_stats(items: Iterable[Item], seed: int,
                       chains: Sequence[Sequence[str]] | None = None) -> list[PerturbationStats]:
    """Stats per chain (default: every registered perturbation on its own) over `items`."""
    chains = [list(c) for c in chains] if chains is not None else [[n] for n in PERTURBATIONS]
    stats = [PerturbationStats("+".join(c)) for c in chains]
    for item in items:
        for chain, stat in zip(chains, stats, strict=True):
            stat.tried += 1
            result = attempt(item, chain, seed)
            if result.variant is not None:
                stat.made += 1
            else:
                code = result.reason or "none"
                stat.rejected[code if len(chain) == 1 else f"{result.step}:{code}"] += 1
    return stats
