"""MATH-Perturb (ICML 2025): MATH level-5 problems rewritten, as two files with the same ids.
`math_perturb_simple.jsonl` (the original method still works) and `math_perturb_hard.jsonl` (it
fails); fields `problem_id` (shared by the simple and hard version of one problem), `problem`,
`answer` (final answer only, a JSON number or string: cast to text), `level`, `type` (subject),
`original_split`. The authors publish no Hub copy and not the unperturbed originals, so items
are plain (not variants): `math-perturb-<problem_id>` in both sets, to pair them by id."""

from __future__ import annotations

from engine.data.math500 import MATH_TRAIN_EXEMPLARS, math_rows
from engine.data.spec import DatasetSpec, LoadRequest, LoadResult
from engine.records import Item

_ORIGIN = "github Kaffaljidhmah2/MATH-Perturb"
_LICENCE = "Apache-2.0 (the authors ask: research use as a test set only, never for training)"


def math_perturb_items(request: LoadRequest, result: LoadResult) -> None:
    for _, row, question, gold in math_rows(request, result, ("problem_id",)):
        problem_id = str(row.get("problem_id")).strip()
        result.items.append(Item(
            dataset=request.spec.name, item_id=f"math-perturb-{problem_id}", question=question,
            gold=gold, answer_type="text",
            fields={"problem_id": problem_id, "subject": row.get("type"),
                    "level": row.get("level"), "original_split": row.get("original_split")},
        ))


def _spec(kind: str, what: str) -> DatasetSpec:
    file = f"math_perturb_{kind}.jsonl"
    return DatasetSpec(
        name=f"math-perturb-{kind}",
        description=f"MATH-P-{kind.title()}: 279 MATH level-5 problems, {what}",
        how_to_load=f"--dataset math-perturb-{kind} --data-file PATH/{file} ({_ORIGIN})",
        to_items=math_perturb_items,
        exemplars=MATH_TRAIN_EXEMPLARS,
        aliases=(f"math_perturb_{kind}", f"math-p-{kind}"),
        no_file=(f"dataset 'math-perturb-{kind}' has no Hub copy: pass --data-file PATH to "
                 f"{file} (from {_ORIGIN})"),
        licence=_LICENCE,
        answer_type="text",
        grader="math-verify",
    )


MATH_PERTURB_SIMPLE = _spec("simple", "rewritten so that the original solution method still works")
MATH_PERTURB_HARD = _spec("hard", "rewritten so that the original solution method fails")
