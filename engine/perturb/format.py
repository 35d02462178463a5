"""`format`: surface noise: doubled spaces, line breaks, letter case, a few keyboard typos in
long words; digits, number words and names are never touched; gold unchanged."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from typing import Any

from engine.perturb.registry import register
from engine.perturb.text import (
    FEMALE_RECOGNISED,
    IMPLIED,
    MALE_RECOGNISED,
    NUMBER_WORDS,
    split_sentences,
)
from engine.records import Item

__all__ = ["surface_noise"]

_KEYBOARD_NEIGHBOURS = {
    "a": "qwsz", "b": "vghn", "c": "xdfv", "d": "serfcx", "e": "wsdr", "f": "drtgvc",
    "g": "ftyhbv", "h": "gyujnb", "i": "ujko", "j": "huikmn", "k": "jiolm", "l": "kop",
    "m": "njk", "n": "bhjm", "o": "iklp", "p": "ol", "q": "wa", "r": "edft", "s": "awedxz",
    "t": "rfgy", "u": "yhji", "v": "cfgb", "w": "qase", "x": "zsdc", "y": "tghu", "z": "asx",
}
_PROTECTED_WORDS = set(NUMBER_WORDS) | set(IMPLIED) | {
    "not", "no", "never", "none", "without", "more", "less", "fewer", "than", "each", "every",
    "times", "total", "left", "remaining", "percent", "per", "cost", "costs", "price",
}


def _typo(word: str, rng: random.Random) -> str:
    kind = rng.choice(("swap", "neighbour", "drop"))
    i = rng.randrange(1, len(word) - 2)
    if kind == "swap" and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "neighbour" and word[i].lower() in _KEYBOARD_NEIGHBOURS:
        repl = rng.choice(_KEYBOARD_NEIGHBOURS[word[i].lower()])
        repl = repl.upper() if word[i].isupper() else repl
        return word[:i] + repl + word[i + 1:]
    return word[:i] + word[i + 1:]


@register("format", description="spacing, line breaks, letter case and a few typos; numbers "
          "untouched")
def surface_noise(item: Item, rng: random.Random) -> Item | None:
    """Surface noise that a reader ignores; digits and number words are never touched."""
    ops = rng.sample(["spaces", "newlines", "case", "typos"], k=rng.choice((2, 3)))
    # Line breaks are placed at sentence ends, which need the original capitals: before case.
    ops.sort(key=["typos", "spaces", "newlines", "case"].index)
    text = item.question
    details: dict[str, Any] = {}
    if "typos" in ops:
        names = FEMALE_RECOGNISED | MALE_RECOGNISED
        words = [m for m in re.finditer(r"\b[A-Za-z]{5,}\b", text)
                 if m.group(0).lower() not in _PROTECTED_WORDS and m.group(0) not in names]
        if words:
            chosen = sorted(rng.sample(words, k=min(len(words), rng.choice((1, 2)))),
                            key=lambda m: m.start())
            typos = []
            pieces, last = [], 0
            for m in chosen:
                new = _typo(m.group(0), rng)
                typos.append({"word": m.group(0), "typo": new})
                pieces += [text[last:m.start()], new]
                last = m.end()
            text = "".join([*pieces, text[last:]])
            details["typos"] = typos
        else:
            ops.remove("typos")
    if "spaces" in ops:
        spaces = [m.start() for m in re.finditer(r"(?<=\S) (?=\S)", text)]
        if spaces:
            chosen_spaces = set(rng.sample(spaces, k=min(len(spaces), rng.randint(1, 3))))
            text = "".join(ch * 2 if i in chosen_spaces else ch for i, ch in enumerate(text))
            details["spaces"] = len(chosen_spaces)
        else:
            ops.remove("spaces")
    if "newlines" in ops:
        sentences = split_sentences(text)
        if len(sentences) > 1:
            text = "\n".join(sentences) if rng.random() < 0.5 else "\n\n".join(sentences)
            details["newlines"] = len(sentences) - 1
        else:
            ops.remove("newlines")
    if "case" in ops:
        if rng.random() < 0.5:
            text = text.lower()
            details["case"] = "lower"
        else:
            words = [m for m in re.finditer(r"\b[A-Za-z]{4,}\b", text)]
            if words:
                m = rng.choice(words)
                text = text[:m.start()] + m.group(0).upper() + text[m.end():]
                details["case"] = f"upper:{m.group(0)}"
            else:
                ops.remove("case")
    if not ops or text == item.question:
        return None
    return replace(item, question=text, perturbation_params={"ops": ops, **details})
