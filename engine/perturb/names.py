"""`names`: person names swapped for other names of the same gender; gold unchanged.

Only recognised first names change, never one after a title ("Mr. Smith", "Aunt May"), and the
new names are ones that appear nowhere in the problem or its solution.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace

from engine.data.embedded.templates import FEMALE_NAMES, MALE_NAMES
from engine.perturb.registry import register
from engine.perturb.text import FEMALE_RECOGNISED, MALE_RECOGNISED
from engine.records import Item

__all__ = ["swap_names"]

_TITLES_RE = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Mister|Aunt|Uncle|Grandma|Grandpa|Sir|Lady|"
                        r"Saint|St|Prof|Professor|Coach|Officer|Captain|King|Queen|Prince|"
                        r"Princess)\.?\s+$")


@register("names", description="person names swapped for others of the same gender")
def swap_names(item: Item, rng: random.Random) -> Item | None:
    """Each recognised name replaced consistently in question, solution and fields."""
    text_all = item.question + "\n" + (item.solution or "")
    present: list[str] = []
    titled: set[str] = set()
    for m in re.finditer(r"\b[A-Z][a-z]+\b", item.question):
        word = m.group(0)
        if word not in FEMALE_RECOGNISED and word not in MALE_RECOGNISED:
            continue
        if _TITLES_RE.search(item.question[max(0, m.start() - 12):m.start()]):
            titled.add(word)
        if word not in present:
            present.append(word)
    for m in re.finditer(r"\b[A-Z][a-z]+\b", item.solution or ""):
        if _TITLES_RE.search((item.solution or "")[max(0, m.start() - 12):m.start()]):
            titled.add(m.group(0))
    present = [n for n in present if n not in titled]
    if not present:
        return None
    capitalised = set(re.findall(r"\b[A-Z][a-z]+\b", text_all))
    mapping: dict[str, str] = {}
    for name in present:
        pool = FEMALE_NAMES if name in FEMALE_RECOGNISED else MALE_NAMES
        choices = [n for n in pool if n not in capitalised and n not in mapping.values()]
        if not choices:
            return None
        mapping[name] = rng.choice(choices)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, mapping)) + r")\b")

    def swap(text: str) -> str:
        return pattern.sub(lambda m: mapping[m.group(1)], text)

    fields = dict(item.fields)
    if isinstance(fields.get("names"), dict):
        fields["names"] = {slot: mapping.get(n, n) for slot, n in fields["names"].items()}
    return replace(item, question=swap(item.question),
                   solution=swap(item.solution) if item.solution else item.solution,
                   fields=fields, perturbation_params={"mapping": mapping})
