"""The embedded template set as a dataset: built in (no file, works offline), one item per
template; few-shot exemplars are the other templates, instantiated with non-default seeds."""

from __future__ import annotations

from engine.data.embedded.templates import TEMPLATES, default_items, instantiate, stable_int
from engine.data.spec import DatasetSpec, ExemplarRequest, Exemplars, LoadRequest, LoadResult
from engine.records import Exemplar


def embedded_items(request: LoadRequest, result: LoadResult) -> None:
    result.items.extend(default_items(request.limit))


def draw_other_templates(request: ExemplarRequest) -> list[Exemplar]:
    """Templates other than the excluded items' own, each with a seed of its own."""
    excluded = request.exclude_ids
    names = [t.name for t in TEMPLATES
             if not any(i == f"embedded-{t.name}" or i.startswith(f"embedded-{t.name}-s")
                        for i in excluded)]

    def exemplar(_: int, tname: str) -> tuple[str, Exemplar]:
        item = instantiate(tname, 1 + stable_int("exemplar", tname, request.seed) % 1_000_000)
        return item.item_id, Exemplar(item.question,
                                      item.solution or f"The answer is {item.gold}.")

    return request.pick(names, exemplar)


EMBEDDED = DatasetSpec(
    name="embedded",
    description=(
        f"{len(TEMPLATES)} easy grade-school word problems written as templates for tunelens "
        "(1-3 steps); works offline and supports the `symbolic` perturbation"
    ),
    how_to_load="built in: --dataset embedded (no file needed)",
    to_items=embedded_items,
    # Exemplars come from the other templates, so the item's own problem never appears (with
    # other numbers) among its exemplars.
    exemplars=Exemplars(draw_other_templates, per_field="template", others_only=True),
    aliases=("default",),
    builtin="embedded templates",
    licence="written for tunelens",
)
