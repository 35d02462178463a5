"""MATH-500 (`HuggingFaceH4/MATH-500`, split `test`), the 500-problem MATH test subset of OpenAI's
PRM800K split: `problem`, `solution` (final answer in `\\boxed{}`), `answer` (that boxed answer,
LaTeX), `subject`, `level` (1-5), `unique_id` (`test/<subject>/<n>.json`). Answers are text and
are graded by math-verify. Few-shot exemplars are MATH train problems (Hub or `--train-file`),
shared with the other MATH-derived sets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.data.readers import hub_rows, read_rows
from engine.data.spec import (
    DatasetSpec,
    ExemplarRequest,
    Exemplars,
    LoadRequest,
    LoadResult,
    Rows,
)
from engine.records import Exemplar, Item

MATH_TRAIN_HUB = "DigitalLearningGmbH/MATH-lighteval"  # MATH's 7,500 train problems


def math_rows(request: LoadRequest, result: LoadResult, required: tuple[str, ...]
              ) -> Iterator[tuple[int, dict[str, Any], str, str]]:
    """(index, row, problem, answer as text) of MATH-style rows; rows lacking either are skipped.

    An answer may be a JSON number (MATH-Perturb): it is cast to text, as LaTeX answers are."""
    for index, loc, row in request.rows_for(result, ("problem", "answer", *required)):
        question = str(row.get("problem") or "").strip()
        answer = row.get("answer")
        gold = "" if answer is None or isinstance(answer, bool) else str(answer).strip()
        if not question:
            result.skip(f"{loc}: no problem")
        elif not gold:
            result.skip(f"{loc}: no answer")
        else:
            yield index, row, question, gold


def math500_items(request: LoadRequest, result: LoadResult) -> None:
    """Rows → items `math500-<unique_id>` (`test/algebra/1.json` → `math500-test-algebra-1`)."""
    name = request.spec.name
    for index, row, question, gold in math_rows(request, result, ()):
        uid = str(row.get("unique_id") or "").strip()
        key = uid.removesuffix(".json").replace("/", "-") if uid else f"{request.split}-{index}"
        result.items.append(Item(
            dataset=name, item_id=f"{name}-{key}", question=question, gold=gold,
            answer_type="text", solution=str(row.get("solution") or "") or None,
            fields={"subject": row.get("subject"), "level": row.get("level"), "unique_id": uid},
        ))


def _train_rows(request: ExemplarRequest) -> Rows:
    if request.train_file is not None:
        return read_rows(request.train_file)
    return hub_rows(MATH_TRAIN_HUB, None, "train",
                    "MATH train file (JSONL with problem and solution)", flag="--train-file")


def draw_math_train(request: ExemplarRequest) -> list[Exemplar]:
    """Random MATH train problems with their worked solutions (ending in a `\\boxed{}` answer)."""

    def exemplar(i: int, row: dict[str, Any]) -> tuple[str, Exemplar] | None:
        question = str(row.get("problem") or "").strip()
        solution = str(row.get("solution") or "").strip()
        if not question or "\\boxed" not in solution:
            return None
        return f"math-train-{i}", Exemplar(question, solution)

    return request.pick([row for _, row in _train_rows(request)], exemplar)


MATH_TRAIN_EXEMPLARS = Exemplars(draw_math_train)

MATH500 = DatasetSpec(
    name="math500",
    description="MATH-500: 500 competition math problems (7 subjects, levels 1-5), LaTeX answers",
    how_to_load=(
        "--dataset math500 --data-file PATH/test.jsonl (few-shot exemplars: --train-file a MATH "
        "train JSONL, else the Hub); without --data-file: Hub HuggingFaceH4/MATH-500"
    ),
    to_items=math500_items,
    exemplars=MATH_TRAIN_EXEMPLARS,
    aliases=("math-500", "math_500"),
    hub_id="HuggingFaceH4/MATH-500",
    local_file="test.jsonl",
    licence="MIT",
    answer_type="text",
    grader="math-verify",
)
