"""What a run asks: the items (originals and their perturbed variants) and the exemplars.

Kept apart from the runner so the app and the headless run build exactly the same workload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from engine.data import load_exemplars, load_items, spec_for
from engine.data.select import select_items
from engine.errors import DatasetError
from engine.perturb import perturb
from engine.records import FEW_SHOT_MODE, ICL_MODES, Exemplar, Item
from engine.run.config import RunConfig


@dataclass
class Workload:
    items: list[Item]
    originals: int
    variants: int
    skipped_rows: int
    skip_reasons: list[str]
    no_variant: dict[str, int] = field(default_factory=dict)  # perturbation -> items without one


def build_workload(
    dataset: str,
    data_file: str | None,
    *,
    split: str = "test",
    limit: int | None = None,
    perturb_groups: tuple[tuple[str, ...], ...] = (),
    perturb_seed: int = 0,
    columns: dict[str, str] | None = None,
    corrected_labels: bool = False,
    item_ids: tuple[str, ...] = (),
) -> Workload:
    loaded = load_items(
        dataset, data_file, split=split, limit=None if item_ids else limit, columns=columns,
        corrected_file=True if corrected_labels else None,
    )
    originals = list(loaded.items)
    if item_ids:  # --items: these items (the first `limit` of them), variants with originals
        originals = select_items(originals, item_ids, dataset=dataset, limit=limit)
    items = list(originals)
    variants = 0
    missing: dict[str, int] = {}
    for group in perturb_groups:
        name = "+".join(group)
        for item in originals:
            if item.is_variant:
                continue  # a published perturbed set already holds its own variants
            variant = perturb(item, list(group), perturb_seed)
            if variant is None:
                missing[name] = missing.get(name, 0) + 1
                continue
            items.append(variant)
            variants += 1
    return Workload(
        items=items,
        originals=sum(1 for i in originals if not i.is_variant),
        variants=variants + sum(1 for i in originals if i.is_variant),
        skipped_rows=loaded.skipped,
        skip_reasons=list(loaded.skip_reasons),
        no_variant=missing,
    )


def workload_for(config: RunConfig) -> Workload:
    """The workload a run configuration asks for: the app and the headless run share it."""
    return build_workload(
        config.dataset,
        config.data_file,
        split=config.split,
        limit=config.limit,
        perturb_groups=config.perturb,
        perturb_seed=config.perturb_seed,
        columns=dict(config.columns) or None,
        corrected_labels=config.corrected_labels,
        item_ids=config.items,
    )


def exemplar_source(
    dataset: str,
    *,
    shots: int,
    seed: int,
    train_file: str | None,
    data_file: str | None,
    items: list[Item],
) -> Callable[[Item, str], list[Exemplar]]:
    """Few-shot exemplars per (item, mode).

    One seeded draw serves every item of a run, so all prompts share the exemplar prefix and the
    model's KV cache is reused. The dataset's `Exemplars` say the rest: a train file beside the
    test file, and a per-item group (MedCalc draws the one-shot example of the item's own
    calculator; an embedded item gets the other templates).
    """
    cache: dict[str, list[Exemplar]] = {}
    exclude = {i.original_id or i.item_id for i in items}
    policy = spec_for(dataset).exemplars
    sibling = policy.beside_file(data_file)
    train = train_file or (str(sibling) if sibling is not None else None)

    asked_questions = {i.question for i in items}

    def source(item: Item, mode: str) -> list[Exemplar]:
        if mode in ICL_MODES:
            raise DatasetError(
                f"mode {mode} is a condition of the in-context-learning study: "
                "run it with `tunelens reproduce bigoulaeva`"
            )
        if mode != FEW_SHOT_MODE or shots <= 0:
            return []
        group = item.fields.get(policy.per_field) if policy.per_field else None
        if group is None:
            key, excluded, asked = "*", exclude, None
        elif policy.others_only:
            # Exemplars come from the other groups (embedded templates, so the item's own problem
            # never appears with other numbers): only the item itself is excluded.
            own = {item.original_id or item.item_id}
            key, excluded, asked = f"{policy.per_field}:{group}", own, None
        else:
            key, excluded, asked = f"{policy.per_field}:{group}", exclude, str(group)
        if key not in cache:
            got = load_exemplars(
                dataset,
                shots,
                seed,
                train_file=train,
                exclude_ids=excluded,
                # A train file that is another test set (MATH-500 for MATH-P-Hard) never shows
                # an asked question as an exemplar.
                exclude_questions=asked_questions if group is None else (),
                calculator_id=asked,
            )
            if not got:
                raise DatasetError(
                    f"{dataset}: no few-shot exemplars available for {item.item_id} "
                    "(pass --train-file PATH)"
                )
            cache[key] = got
        return cache[key]

    return source
