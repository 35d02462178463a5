"""Named, seeded, deterministic perturbations of items: Item -> variant Item, or None.

Why: the question behind tunelens is whether instruction tuning improves reasoning or only the
way a model talks. A model that reasons should keep its accuracy when the numbers, names, wording
or order of a problem change, and should ignore an irrelevant sentence (GSM-Symbolic, GSM-NoOp,
GSM-Plus ideas).

One module per perturbation, each registering itself with `registry.register`; `compose` applies
them. Importing this package registers every built-in, in the order users see them listed.
"""

# The import order of the built-ins is their order in PERTURBATIONS (and so in listings and
# error messages): keep it, not alphabetical.
# isort: off
from engine.perturb import numbers, names, irrelevant, reorder, format, symbolic  # noqa: F401
# isort: on
from engine.perturb.compose import (
    Attempt,
    attempt,
    numbers_coverage,
    parse_perturb_spec,
    perturb,
    variant_id,
)
from engine.perturb.registry import PERTURBATIONS, Perturbation, Rejected, register, reject
from engine.perturb.stats import PerturbationStats, perturbation_stats
from engine.perturb.text import split_sentences

__all__ = [
    "PERTURBATIONS",
    "Attempt",
    "Perturbation",
    "PerturbationStats",
    "Rejected",
    "attempt",
    "numbers_coverage",
    "parse_perturb_spec",
    "perturb",
    "perturbation_stats",
    "register",
    "reject",
    "split_sentences",
    "variant_id",
]
