"""GSM-Plus (`qintongli/GSM-Plus`, split `test`): `question`, `solution`, `answer` (a plain
number; "None" for the critical-thinking variants, which are skipped), `perturbation_type`,
`seed_question`, `seed_solution`, `seed_answer`. No id column: rows get their index."""

from __future__ import annotations

from engine.data.files import mapped_items
from engine.data.gsm8k import GSM8K_TRAIN_EXEMPLARS
from engine.data.spec import DatasetSpec

GSM_PLUS = DatasetSpec(
    name="gsm-plus",
    description="GSM-Plus: 8 kinds of perturbed GSM8K test questions, loaded with their originals",
    how_to_load=(
        "--dataset gsm-plus --data-file PATH (JSONL/CSV/Parquet with the GSM-Plus columns); "
        "without --data-file: Hub qintongli/GSM-Plus"
    ),
    to_items=mapped_items,
    exemplars=GSM8K_TRAIN_EXEMPLARS,
    aliases=("gsm_plus", "gsmplus"),
    hub_id="qintongli/GSM-Plus",
    columns={
        "question": "question", "answer": "answer", "solution": "solution",
        "perturbation_type": "perturbation_type", "original_question": "seed_question",
        "original_answer": "seed_answer", "original_solution": "seed_solution",
    },
)
