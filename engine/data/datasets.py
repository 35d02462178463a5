"""Load any registered dataset's items and few-shot exemplars, through its `DatasetSpec`.

Every source ends up as the same `Item` records, with stable ids (so runs resume and variants
link to their originals), a normalised gold, and the extra fields graders need. Local files
always work offline; without a file the loaders try the Hugging Face Hub and, when it cannot be
reached, fail fast with one line that says to pass `--data-file`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

from engine.data.embedded.templates import stable_int
from engine.data.files import parse_column_map
from engine.data.readers import hub_rows, read_rows
from engine.data.registry import DATASETS, spec_for
from engine.data.spec import ExemplarRequest, LoadRequest, LoadResult, Rows
from engine.errors import DatasetError
from engine.records import Exemplar

# DATASETS and parse_column_map are also importable from here, where callers outside engine.data
# found them before `engine.data` re-exported its public names (prefer `from engine.data import`).
__all__ = ["DATASETS", "load_exemplars", "load_items", "parse_column_map"]


def load_items(
    dataset: str,
    data_file: str | Path | None = None,
    *,
    split: str = "test",
    limit: int | None = None,
    columns: Mapping[str, str] | None = None,
    corrected_file: str | Path | bool | None = None,
) -> LoadResult:
    """Load a dataset's items from a local file or, without one, from the Hugging Face Hub.

    `limit` caps the items taken (skipped rows do not count; for variant files the originals
    that come along with their variants do not count either). `columns` overrides the column
    map of `file`, `gsm-plus` and `gsm-symbolic`. `corrected_file` (MedCalc only): True uses
    `test_corrected.csv` beside `data_file`, a path uses that file; corrected items get ids
    `medcalc-corrected-<Unique ID>`, and rows the corrected file lacks or marks N/A are skipped.
    """
    spec = spec_for(dataset)
    if limit is not None and limit < 0:
        raise DatasetError(f"limit must be >= 0, got {limit}")
    path = Path(data_file).expanduser() if data_file is not None else None
    rows: Rows
    if spec.builtin is not None:
        if path is not None:
            raise DatasetError(f"dataset {spec.name!r} is built in; it takes no --data-file")
        rows, source, origin = (), spec.builtin, spec.builtin
    elif path is not None:
        rows, source, origin = read_rows(path), path.name, str(path)
    elif spec.hub_id is not None:
        hint = spec.local_file.format(split=split)
        rows = hub_rows(spec.hub_id, spec.hub_config, split, hint)
        source = origin = spec.hub_id
    else:
        raise DatasetError(spec.no_file or f"dataset {spec.name!r} needs --data-file PATH")
    result = LoadResult(items=[], source=origin)
    spec.to_items(LoadRequest(
        spec=spec, rows=rows, source=source, path=path, split=split, limit=limit,
        columns=MappingProxyType(dict(columns or {})), corrected_file=corrected_file,
    ), result)
    result.finish(source)
    return result


def load_exemplars(
    dataset: str,
    k: int,
    seed: int,
    *,
    train_file: str | Path | None = None,
    data_file: str | Path | None = None,
    exclude_ids: Iterable[str] = frozenset(),
    exclude_questions: Iterable[str] = frozenset(),
    calculator_id: str | int | None = None,
) -> list[Exemplar]:
    """k worked exemplars for few-shot prompts, chosen reproducibly by `seed`.

    Where they come from is the dataset's `Exemplars`: GSM8K train problems for gsm8k and the
    GSM8K-derived sets (`train_file`, else gsm8k's train.jsonl beside `data_file`, else the Hub;
    for lm-eval's fixed 8-shot set use GSM8K_COT_EXEMPLARS), MedCalc's one_shot.csv row of the
    same `calculator_id`, MATH train problems for the MATH sets, other templates for embedded.
    Items whose id is in `exclude_ids` (or whose question is in `exclude_questions`) are never
    returned, so an exemplar is never the item being asked.
    """
    if k <= 0:
        return []
    spec = spec_for(dataset)
    tpath = Path(train_file).expanduser() if train_file is not None else None
    return spec.exemplars.draw(ExemplarRequest(
        spec=spec, k=k, seed=seed,
        rng=random.Random(stable_int("exemplars", spec.name, seed, calculator_id)),
        train_file=tpath or spec.exemplars.beside_file(data_file),
        exclude_ids=frozenset(exclude_ids),
        exclude_questions=frozenset(" ".join(q.split()) for q in exclude_questions),
        group=str(calculator_id) if calculator_id is not None else None,
    ))
