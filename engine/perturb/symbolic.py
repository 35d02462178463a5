"""`symbolic`: embedded template items only: a fresh instantiation of the item's template with
new numbers and new names (GSM-Symbolic idea); the gold comes from the template."""

from __future__ import annotations

import random

from engine.perturb._template import reinstantiate
from engine.perturb.registry import register, reject
from engine.records import Item

__all__ = ["fresh_instance"]


@register("symbolic", description="embedded items only: a fresh template instance with new "
          "numbers and names", changes_gold=True,
          reasons={"not-a-template": "not an embedded template item (or 20 draws gave nothing "
                                     "new)"})
def fresh_instance(item: Item, rng: random.Random) -> Item | None:
    """A new instance of an embedded item's template; None for any other item."""
    variant = reinstantiate(item, rng, keep_names=False)
    if variant is None:
        raise reject("not-a-template")
    return variant
