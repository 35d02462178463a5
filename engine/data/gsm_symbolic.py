"""GSM-Symbolic (`apple/GSM-Symbolic`, configs main/p1/p2, split `test`): `id` (template id),
`instance`, `question`, `answer` (GSM8K style with `####`), `original_id` (the GSM8K test index),
`original_question`, `original_answer`, plus annotation columns that are not used.

Licence CC BY-NC-ND 4.0: tunelens loads it from a path or the Hub and never copies it.
"""

from __future__ import annotations

from engine.data.files import mapped_items
from engine.data.gsm8k import GSM8K_TRAIN_EXEMPLARS
from engine.data.spec import DatasetSpec

GSM_SYMBOLIC = DatasetSpec(
    name="gsm-symbolic",
    description="GSM-Symbolic: template instances of GSM8K test questions, loaded with their "
                "originals",
    how_to_load=(
        "--dataset gsm-symbolic --data-file PATH/test.jsonl (main, p1 or p2); "
        "without --data-file: Hub apple/GSM-Symbolic config main"
    ),
    to_items=mapped_items,
    exemplars=GSM8K_TRAIN_EXEMPLARS,
    aliases=("gsm_symbolic", "gsmsymbolic"),
    hub_id="apple/GSM-Symbolic",
    hub_config="main",
    licence="CC BY-NC-ND 4.0 (non-commercial; load only, never copy)",
    columns={
        "question": "question", "answer": "answer", "id": "id", "instance": "instance",
        "original_id": "original_id", "original_question": "original_question",
        "original_answer": "original_answer",
    },
    perturbation="gsm-symbolic",
)
