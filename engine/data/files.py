"""Column-mapped rows: any JSONL/JSON/CSV/Parquet file of question/answer rows (`--dataset file`
with `--columns`), and the published perturbed sets that are such files with a column preset
(GSM-Plus, GSM-Symbolic). Variant rows bring their original along, deduplicated."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from engine.data.gsm8k import GSM8K_TRAIN_EXEMPLARS
from engine.data.numbers import gold_from_answer
from engine.data.spec import DatasetSpec, LoadRequest, LoadResult, Rows
from engine.errors import DatasetError
from engine.records import ORIGINAL, Item

# Keys a column map may bind (CLI: --columns question=problem,answer=final,id=idx).
COLUMN_KEYS: tuple[str, ...] = (
    "question", "answer", "id", "instance", "solution", "original_id", "original_question",
    "original_answer", "original_solution", "perturbation_type",
)
_REQUIRED_KEYS = ("question", "answer")


def parse_column_map(spec: str) -> dict[str, str]:
    """Parse the CLI's "question=problem,answer=final,id=idx" into {key: column}."""
    mapping: dict[str, str] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        key, sep, column = part.partition("=")
        key, column = key.strip(), column.strip()
        if not sep or not key or not column:
            raise DatasetError(f"--columns: expected KEY=COLUMN, got {part!r}")
        if key not in COLUMN_KEYS:
            raise DatasetError(f"--columns: unknown key {key!r}; known: {', '.join(COLUMN_KEYS)}")
        mapping[key] = column
    return mapping


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "file"


def _short_hash(text: str) -> str:
    return hashlib.sha1(" ".join(text.split()).encode()).hexdigest()[:12]


def mapped_items(request: LoadRequest, result: LoadResult) -> None:
    """Rows → items through the spec's column preset, overridden by the caller's `columns`."""
    mapping = {**request.spec.columns, **request.columns}
    _map_rows(request.rows, request.spec.name, request, mapping, result)


def file_items(request: LoadRequest, result: LoadResult) -> None:
    """A generic file: its items are named after the file (`my-set.csv` → dataset `my-set`)."""
    dataset = _slug(request.path.stem) if request.path is not None else request.spec.name
    mapping = {**request.spec.columns, **request.columns}
    _map_rows(request.rows, dataset, request, mapping, result)


def _map_rows(rows: Rows, dataset: str, request: LoadRequest, mapping: Mapping[str, str],
              result: LoadResult) -> None:
    """Rows → items through a column map; variants are preceded by their (deduplicated) original.

    Keys the caller mapped on purpose (`request.columns`) must exist as columns; other keys
    (the preset's optional columns) simply do not apply when their column is absent.
    """
    explicit = set(request.columns)
    split, limit, source = request.split, request.limit, request.source
    default_perturbation = request.spec.perturbation
    seen_ids: set[str] = set()
    originals: set[str] = set()
    active: dict[str, str] = {}
    taken = 0  # items counted against `limit` (originals brought along do not count)
    # Keys that must be there in every row; a row without one is skipped (LoadResult.finish
    # refuses the file only when no row had them).
    needed = {key: column for key, column in mapping.items()
              if key in explicit or key in _REQUIRED_KEYS}
    active.update(needed)
    for index, (loc, row) in enumerate(rows):
        if index == 0:
            for key, column in mapping.items():
                if column in row:
                    active[key] = column
        if limit is not None and taken >= limit:
            break
        absent = [(key, column) for key, column in needed.items() if column not in row]
        if absent:
            key, column = absent[0]
            result.skip_missing(loc, f"{column!r} for {key}", row)
            continue

        def get(key: str, row: dict[str, Any] = row) -> Any:
            column = active.get(key)
            return None if column is None else row.get(column)

        question = str(get("question") or "").strip()
        if not question:
            result.skip(f"{loc}: no question")
            continue
        gold, raw = gold_from_answer(get("answer"))
        if gold is None:
            result.skip(f"{loc}: gold is not a number ({raw!r})")
            continue
        answer_text = str(get("answer") or "")
        solution = get("solution")
        solution = str(solution) if solution not in (None, "") else (
            answer_text if "####" in answer_text else None)

        raw_id = get("id")
        if raw_id not in (None, ""):
            item_id = f"{dataset}-{raw_id}"
            instance = get("instance")
            if instance not in (None, ""):
                item_id += f"-{instance}"
        else:
            item_id = f"{dataset}-{split}-{index}"
        if item_id in seen_ids:
            result.skip(f"{loc}: duplicate id {item_id!r}")
            continue

        # The original this row is a variant of, if the file says so.
        original_id: str | None = None
        orig_question = str(get("original_question") or "").strip()
        raw_orig_id = get("original_id")
        if orig_question:
            key = str(raw_orig_id) if raw_orig_id not in (None, "") else _short_hash(orig_question)
            original_id = f"{dataset}-orig-{key}"
            if original_id not in originals:
                orig_gold, orig_raw = gold_from_answer(get("original_answer"))
                if orig_gold is None:
                    result.skip(f"{loc}: original's gold is not a number ({orig_raw!r})")
                    original_id = None
                else:
                    orig_answer = str(get("original_answer") or "")
                    orig_solution = get("original_solution")
                    originals.add(original_id)
                    seen_ids.add(original_id)
                    result.items.append(Item(
                        dataset=dataset, item_id=original_id, question=orig_question,
                        gold=orig_gold, answer_type="number",
                        solution=str(orig_solution) if orig_solution not in (None, "") else (
                            orig_answer if "####" in orig_answer else None),
                        fields={"source": source, "role": ORIGINAL},
                    ))
        elif raw_orig_id not in (None, ""):
            original_id = str(raw_orig_id)  # links to an item the user loads separately

        perturbation_type = get("perturbation_type")
        perturbation = None
        fields: dict[str, Any] = {"source": source, "row": index}
        if original_id is not None:
            perturbation = (str(perturbation_type).strip() if perturbation_type not in (None, "")
                            else default_perturbation or "variant")
            fields["role"] = "variant"
            if raw_orig_id not in (None, ""):
                fields["source_original_id"] = str(raw_orig_id)
        if perturbation_type not in (None, ""):
            fields["perturbation_type"] = str(perturbation_type)
        seen_ids.add(item_id)
        taken += 1
        result.items.append(Item(
            dataset=dataset, item_id=item_id, question=question, gold=gold,
            answer_type="number", solution=solution, fields=fields,
            original_id=original_id, perturbation=perturbation,
        ))


FILE = DatasetSpec(
    name="file",
    description=(
        "any JSONL/JSON/CSV/Parquet file of question/answer rows, optionally with variants "
        "linked to originals"
    ),
    how_to_load=(
        "--dataset file --data-file PATH [--columns question=COL,answer=COL,id=COL,"
        "original_question=COL,original_answer=COL,perturbation_type=COL,solution=COL]"
    ),
    to_items=file_items,
    exemplars=GSM8K_TRAIN_EXEMPLARS,
    no_file="dataset 'file' needs --data-file PATH (JSONL, JSON, CSV or Parquet)",
    # Every key binds to the column of its own name when the file has one.
    columns={k: k for k in COLUMN_KEYS},
)
