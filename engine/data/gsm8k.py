"""GSM8K (`openai/gsm8k`, config `main`): `question`, `answer` = worked solution with `<<a*b=c>>`
calculator annotations and a final `#### N` line. Its train split is also the exemplar pool of
every GSM8K-derived set (GSM-Plus, GSM-Symbolic, generic files)."""

from __future__ import annotations

import re
from typing import Any

from engine.data.numbers import gold_from_answer, normalize_number
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


def gsm8k_items(request: LoadRequest, result: LoadResult) -> None:
    """GSM8K rows → items `gsm8k-<split>-<row>`; rows without a `#### N` gold are skipped."""
    split = request.split
    hint = "for other column names use --dataset file --columns ..."
    for index, loc, row in request.rows_for(result, ("question", "answer"), hint):
        question = str(row.get("question") or "").strip()
        answer = row.get("answer")
        if not question:
            result.skip(f"{loc}: no question")
            continue
        answer_text = str(answer or "").strip()
        if "####" not in answer_text:
            result.skip(f"{loc}: answer has no '#### N' final line")
            continue
        gold, raw = gold_from_answer(answer_text)
        if gold is None:
            result.skip(f"{loc}: gold is not a number ({raw!r})")
            continue
        result.items.append(Item(
            dataset=request.spec.name, item_id=f"{request.spec.name}-{split}-{index}",
            question=question, gold=gold, answer_type="number", solution=answer_text,
            fields={"split": split, "index": index},
        ))


_ANNOTATION_RE = re.compile(r"<<[^<>]*>>")


def gsm8k_exemplar_answer(solution: str) -> str:
    """A GSM8K worked solution as a CoT exemplar answer, in lm-eval `gsm8k_cot` style.

    Calculator annotations `<<...>>` are removed, lines become sentences of one paragraph, and
    the `#### N` line becomes "The answer is N.".
    """
    text = _ANNOTATION_RE.sub("", solution)
    body, _, final = text.rpartition("####")
    if not _:
        body, final = text, ""
    sentences = []
    for line in body.splitlines():
        line = line.strip()
        if not line:
            continue
        sentences.append(line if line[-1] in ".!?" else line + ".")
    gold = normalize_number(final.strip()) if final.strip() else None
    if gold is not None:
        sentences.append(f"The answer is {gold}.")
    return " ".join(sentences)


def _train_rows(request: ExemplarRequest) -> Rows:
    if request.train_file is not None:
        return read_rows(request.train_file)
    return hub_rows("openai/gsm8k", "main", "train", "train.jsonl (via --train-file)")


def draw_gsm8k_train(request: ExemplarRequest) -> list[Exemplar]:
    """Random GSM8K train problems, answers rewritten by `gsm8k_exemplar_answer`."""

    def exemplar(i: int, row: dict[str, Any]) -> tuple[str, Exemplar] | None:
        question = str(row.get("question") or "").strip()
        answer = str(row.get("answer") or "")
        if not question or "####" not in answer:
            return None
        return f"gsm8k-train-{i}", Exemplar(question, gsm8k_exemplar_answer(answer))

    return request.pick([row for _, row in _train_rows(request)], exemplar)


# Exemplars for the GSM8K-derived sets: their files do not sit beside a GSM8K train.jsonl.
GSM8K_TRAIN_EXEMPLARS = Exemplars(draw_gsm8k_train)

GSM8K = DatasetSpec(
    name="gsm8k",
    description="GSM8K grade-school math, 1,319 test problems with worked solutions",
    how_to_load=(
        "--dataset gsm8k --data-file PATH/test.jsonl (a train.jsonl beside it gives few-shot "
        "exemplars); without --data-file: Hugging Face Hub openai/gsm8k (needs network)"
    ),
    to_items=gsm8k_items,
    exemplars=Exemplars(draw_gsm8k_train, beside="train.jsonl"),
    hub_id="openai/gsm8k",
    hub_config="main",
    local_file="{split}.jsonl",
    licence="MIT",
    grader="gsm8k",
)


# The 8 chain-of-thought exemplars of Wei et al. (2022) as used by lm-evaluation-harness's
# `gsm8k_cot` task (lm_eval/tasks/gsm8k/gsm8k-cot.yaml), verbatim including its quirks.
GSM8K_COT_EXEMPLARS: tuple[Exemplar, ...] = (
    Exemplar(
        "There are 15 trees in the grove. Grove workers will plant trees in the grove today. "
        "After they are done, there will be 21 trees. How many trees did the grove workers "
        "plant today?",
        "There are 15 trees originally. Then there were 21 trees after some more were planted. "
        "So there must have been 21 - 15 = 6. The answer is 6.",
    ),
    Exemplar(
        "If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in "
        "the parking lot?",
        "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5.",
    ),
    Exemplar(
        "Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they "
        "have left in total?",
        "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = "
        "74. After eating 35, they had 74 - 35 = 39. The answer is 39.",
    ),
    Exemplar(
        "Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How "
        "many lollipops did Jason give to Denny?",
        "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave "
        "Denny 20 - 12 = 8. The answer is 8.",
    ),
    Exemplar(
        "Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How "
        "many toys does he have now?",
        "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 "
        "more toys. 5 + 4 = 9. The answer is 9.",
    ),
    Exemplar(
        "There were nine computers in the server room. Five more computers were installed each "
        "day, from monday to thursday. How many computers are now in the server room?",
        "There were originally 9 computers. For each of 4 days, 5 more computers were added. "
        "So 5 * 4 = 20 computers were added. 9 + 20 is 29. The answer is 29.",
    ),
    Exemplar(
        "Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 "
        "more. How many golf balls did he have at the end of wednesday?",
        "Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. "
        "After losing 2 more, he had 35 - 2 = 33 golf balls. The answer is 33.",
    ),
    Exemplar(
        "Olivia has $23. She bought five bagels for $3 each. How much money does she have "
        "left?",
        "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she "
        "has 23 - 15 dollars left. 23 - 15 is 8. The answer is 8.",
    ),
)
