"""Embedded template items: recognising them and instantiating their template afresh.

Both `numbers` (same names, new values) and `symbolic` (new values and names) rebuild an
embedded item from its template, so the gold comes from the template, never from a guess.
"""

from __future__ import annotations

import random
from dataclasses import replace

from engine.data.embedded.templates import get_template, instantiate
from engine.records import Item

__all__ = ["reinstantiate", "template_of"]


def template_of(item: Item) -> str | None:
    """The template name of an embedded template item; None for any other item."""
    name = item.fields.get("template") if isinstance(item.fields, dict) else None
    if not isinstance(name, str) or item.dataset != "embedded":
        return None
    try:
        get_template(name)
    except KeyError:
        return None
    return name


def reinstantiate(item: Item, rng: random.Random, keep_names: bool) -> Item | None:
    """A fresh instance of the item's template with other values (and other names unless
    `keep_names`); None if the item has no template or 20 tries give nothing new."""
    name = template_of(item)
    if name is None:
        return None
    old_values = item.fields.get("values", {})
    old_names = dict(item.fields.get("names", {}))
    for _ in range(20):
        seed = rng.randrange(1, 2**31)
        fresh = instantiate(name, seed, names=old_names if keep_names else None)
        if fresh.fields["values"] == old_values:
            continue
        if not keep_names and old_names and any(
                fresh.fields["names"].get(s) == n for s, n in old_names.items()):
            continue
        params = {"template": name, "template_seed": seed, "old_values": old_values,
                  "values": fresh.fields["values"], "old_gold": item.gold, "new_gold": fresh.gold}
        if not keep_names:
            params["names"] = fresh.fields["names"]
        return replace(item, question=fresh.question, gold=fresh.gold, solution=fresh.solution,
                       fields={**item.fields, **fresh.fields}, perturbation_params=params)
    return None


