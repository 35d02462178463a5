"""Benchmarks as data: each dataset is one `DatasetSpec` (engine.data.spec) in the registry, and
`load_items` / `load_exemplars` load any of them from a file or the Hugging Face Hub."""

from engine.data.datasets import load_exemplars, load_items
from engine.data.files import COLUMN_KEYS, parse_column_map
from engine.data.gsm8k import GSM8K_COT_EXEMPLARS, gsm8k_exemplar_answer
from engine.data.medcalc import medcalc_question
from engine.data.numbers import normalize_number
from engine.data.registry import DATASETS, find_spec, spec_for, spec_of
from engine.data.spec import DatasetSpec, Exemplars, LoadResult, plain_question
from engine.errors import DatasetError

__all__ = [
    "COLUMN_KEYS",
    "DATASETS",
    "GSM8K_COT_EXEMPLARS",
    "DatasetError",
    "DatasetSpec",
    "Exemplars",
    "LoadResult",
    "find_spec",
    "gsm8k_exemplar_answer",
    "load_exemplars",
    "load_items",
    "medcalc_question",
    "normalize_number",
    "parse_column_map",
    "plain_question",
    "spec_for",
    "spec_of",
]
