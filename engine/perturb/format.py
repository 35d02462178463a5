"""`format`: surface noise: doubled spaces, line breaks, letter case, a few keyboard typos in
long words; digits, number words and names are never touched; gold unchanged.

A typo is never another English word or a number word ("spends" -> "sends" changes the problem,
"There" -> "Three" adds a number): each is checked against the shipped word list
(`engine.perturb.words`) and drawn again, up to 10 times, before that word is left alone.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from typing import Any

from engine.perturb.registry import register, reject
from engine.perturb.text import (
    FEMALE_RECOGNISED,
    IMPLIED,
    MALE_RECOGNISED,
    NUMBER_WORDS,
    split_sentences,
)
from engine.perturb.words import is_word
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


_ORDINALS = {"first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
             "tenth", "eleventh", "twelfth", "twentieth", "hundredth", "thousandth", "dozen",
             "dozens", "zero", "none", "nil", "twice", "thrice", "triple", "double"}
_TYPO_TRIES = 10


def is_real_word(text: str) -> bool:
    """True if a typo would read as a word: an English word, a number word or an ordinal."""
    low = text.lower()
    return is_word(low) or low in NUMBER_WORDS or low in IMPLIED or low in _ORDINALS


def _real_typo(word: str, rng: random.Random) -> str | None:
    """A typo of `word` that spells no real word; None after `_TYPO_TRIES` draws."""
    for _ in range(_TYPO_TRIES):
        new = _typo(word, rng)
        if new != word and not is_real_word(new):
            return new
    return None


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
          "untouched", reasons={"no-change": "none of the drawn edits applies to the question"})
def surface_noise(item: Item, rng: random.Random) -> Item | None:
    """Surface noise that a reader ignores; digits and number words are never touched."""
    ops = rng.sample(["spaces", "newlines", "case", "typos"], k=rng.choice((2, 3)))
    # Line breaks are placed at sentence ends, which need the original capitals: before case.
    ops.sort(key=["typos", "spaces", "newlines", "case"].index)
    text = item.question
    details: dict[str, Any] = {}
    if "typos" in ops:
        names = FEMALE_RECOGNISED | MALE_RECOGNISED
        # Names and other proper nouns ("Rosie", "Wednesday": capitalised, and no lower-case
        # word) keep their spelling.
        words = [m for m in re.finditer(r"\b[A-Za-z]{5,}\b", text)
                 if m.group(0).lower() not in _PROTECTED_WORDS and m.group(0) not in names
                 and not (m.group(0)[0].isupper() and not is_word(m.group(0)))]
        if words:
            chosen = sorted(rng.sample(words, k=min(len(words), rng.choice((1, 2)))),
                            key=lambda m: m.start())
            typos = []
            pieces, last = [], 0
            for m in chosen:
                new = _real_typo(m.group(0), rng)
                if new is None:
                    continue  # every typo drawn spelled a word: leave this one alone
                typos.append({"word": m.group(0), "typo": new})
                pieces += [text[last:m.start()], new]
                last = m.end()
            text = "".join([*pieces, text[last:]])
            if typos:
                details["typos"] = typos
            else:
                ops.remove("typos")
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
        raise reject("no-change")
    return replace(item, question=text, perturbation_params={"ops": ops, **details})
