"""Choosing items by id (`--items`), so that runs on linked benchmarks ask about the same
problems: a GSM8K run and a GSM-Symbolic P2 run, or MATH-P-Simple and MATH-P-Hard.

Why not `--limit`: it takes the first rows of a file, and the first rows of two linked files need
not be linked (GSM_p2.jsonl starts with 50 instances of one template, of GSM8K test item 473).
A name matches an item's own id or, for a GSM-Symbolic variant, the GSM8K item it varies
(`gsm8k-test-473`), so one list selects linked items on both sides. A variant brings its original
along (as loading does).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from engine.errors import DatasetError
from engine.records import Item

MAX_NAMED = 5


def parse_item_list(text: str) -> tuple[str, ...]:
    """'a, b,c' -> ('a', 'b', 'c'), order kept, duplicates dropped."""
    return tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))


def _names(item: Item) -> Iterable[str]:
    yield item.item_id
    linked = item.fields.get("gsm8k_item_id")
    if linked and item.is_variant:
        yield str(linked)


def select_items(
    items: Sequence[Item], wanted: Sequence[str], *, dataset: str, limit: int | None = None
) -> list[Item]:
    """The items `wanted` names (first `limit` of them), each variant preceded by its original.

    A name that matches nothing is a one-line DatasetError naming it (and the dataset)."""
    want = set(wanted)
    matched: set[str] = set()
    by_id = {i.item_id: i for i in items}
    chosen: list[Item] = []
    taken: set[str] = set()
    count = 0
    for item in items:
        if item.fields.get("role") == "original" and not item.is_variant:
            continue  # an original brought along comes with its chosen variants only
        hits = [n for n in _names(item) if n in want]
        if not hits:
            continue
        matched.update(hits)
        if limit is not None and count >= limit:
            continue
        if item.original_id and item.original_id in by_id and item.original_id not in taken:
            chosen.append(by_id[item.original_id])
            taken.add(item.original_id)
        if item.item_id not in taken:
            chosen.append(item)
            taken.add(item.item_id)
            count += 1
    # An original that was named itself (gsm-symbolic-p2-orig-473) counts as chosen too.
    for name in wanted:
        if name not in matched and name in by_id and name not in taken:
            chosen.append(by_id[name])
            taken.add(name)
            matched.add(name)
    missing = [n for n in wanted if n not in matched]
    if missing:
        if not items:
            raise DatasetError(f"--items: dataset {dataset!r} has no items")
        shown = ", ".join(missing[:MAX_NAMED]) + (" ..." if len(missing) > MAX_NAMED else "")
        raise DatasetError(f"--items: {len(missing)} not in dataset {dataset!r}: {shown} "
                           f"(ids look like {items[-1].item_id!r})")
    return chosen
