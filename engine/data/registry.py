"""Every dataset tunelens can load, by name, in the order `tunelens datasets` lists them.

Adding a benchmark is adding its spec here (one line) beside its own module.
"""

from __future__ import annotations

from engine.data.embedded.dataset import EMBEDDED
from engine.data.files import FILE
from engine.data.gsm8k import GSM8K
from engine.data.gsm_plus import GSM_PLUS
from engine.data.gsm_symbolic import GSM_SYMBOLIC, GSM_SYMBOLIC_P2
from engine.data.math500 import MATH500
from engine.data.math_perturb import MATH_PERTURB_HARD, MATH_PERTURB_SIMPLE
from engine.data.medcalc import MEDCALC
from engine.data.spec import DatasetSpec
from engine.errors import DatasetError
from engine.records import Item

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (EMBEDDED, GSM8K, MEDCALC, GSM_PLUS, GSM_SYMBOLIC, GSM_SYMBOLIC_P2, MATH500,
                 MATH_PERTURB_SIMPLE, MATH_PERTURB_HARD, FILE)
}

_NAMES: dict[str, str] = {name: name for name in DATASETS}
for _spec in DATASETS.values():
    for _alias in _spec.aliases:
        assert _alias not in _NAMES, f"dataset alias {_alias!r} is taken"
        _NAMES[_alias] = _spec.name


def find_spec(name: str) -> DatasetSpec | None:
    """The spec a dataset name or alias (any case) stands for, or None."""
    canonical = _NAMES.get(name.strip().lower())
    return DATASETS[canonical] if canonical is not None else None


def spec_for(name: str) -> DatasetSpec:
    """The spec a dataset name or alias stands for; an unknown name is a one-line DatasetError."""
    spec = find_spec(name)
    if spec is None:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return spec


def spec_of(item: Item) -> DatasetSpec:
    """The spec an item came from; items of `--dataset file` are named after their file."""
    return find_spec(item.dataset) or FILE
