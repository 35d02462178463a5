"""GSM-Symbolic (`apple/GSM-Symbolic`, configs main/p1/p2, split `test`): `id` (template id),
`instance`, `question`, `answer` (GSM8K style with `####`), `original_id` (the GSM8K test index),
`original_question`, `original_answer`, plus annotation columns that are not used.

Licence CC BY-NC-ND 4.0: tunelens loads it from a path or the Hub and never copies it.
"""

from __future__ import annotations

from dataclasses import replace

from engine.data.files import mapped_items
from engine.data.gsm8k import GSM8K_TRAIN_EXEMPLARS
from engine.data.spec import DatasetSpec, LoadRequest, LoadResult


def p2_items(request: LoadRequest, result: LoadResult) -> None:
    """Mapped rows whose variants, and the originals brought along, also name their GSM8K test
    item (`gsm8k_item_id` = `gsm8k-test-<original_id>`), so a P2 run pairs with a GSM8K run."""
    start = len(result.items)
    mapped_items(request, result)
    linked: dict[str, str] = {}
    for item in result.items[start:]:
        index = item.fields.get("source_original_id")
        if index is not None and item.original_id is not None:
            linked[item.original_id] = item.fields["gsm8k_item_id"] = f"gsm8k-test-{index}"
    for item in result.items[start:]:
        if item.item_id in linked:
            item.fields["gsm8k_item_id"] = linked[item.item_id]


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

GSM_SYMBOLIC_P2 = replace(
    GSM_SYMBOLIC,
    name="gsm-symbolic-p2",
    description="GSM-Symbolic-P2: GSM8K test questions with two extra clauses (50 templates x 50 "
                "instances), loaded with their originals",
    how_to_load=(
        "--dataset gsm-symbolic-p2 --data-file PATH/GSM_p2.jsonl; "
        "without --data-file: Hub apple/GSM-Symbolic config p2"
    ),
    to_items=p2_items,
    aliases=("gsm_symbolic_p2", "gsm-p2"),
    hub_config="p2",
    local_file="GSM_p2.jsonl",
    perturbation="gsm-symbolic-p2",
)
