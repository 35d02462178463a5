"""`irrelevant`: one sentence with a number about an unrelated topic (weather, a lighthouse...)
inserted before the question sentence (GSM-NoOp idea); gold unchanged."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from fractions import Fraction

from engine.perturb.registry import register, reject
from engine.perturb.text import numbers_in, question_index, sentence_spans
from engine.records import Item

__all__ = ["insert_irrelevant"]

# (sentence, words that must not appear in the problem for the sentence to be used): each is
# about a topic no grade-school problem quantity shares, so its number cannot be taken for data.
_IRRELEVANT: tuple[tuple[str, frozenset[str]], ...] = tuple(
    (sentence, frozenset(guard.split()))
    for sentence, guard in (
        ("The weather forecast says it will be {n} degrees on Sunday.",
         "degree degrees temperature weather forecast sunday celsius fahrenheit"),
        ("The lighthouse on the coast is {n} metres tall.",
         "lighthouse coast metre metres meter meters tall height"),
        ("The old bridge in the next town was painted {n} years ago.",
         "bridge town painted paint year years ago age old"),
        ("A nearby lake is {n} feet deep at its deepest point.",
         "lake feet foot deep depth water"),
        ("The town's clock tower has {n} steps up to the top.",
         "clock tower step steps stairs town"),
        ("The museum downtown keeps a map that is {n} years old.",
         "museum map year years old age downtown"),
        ("A famous statue in the capital is {n} feet tall.",
         "statue capital feet foot tall height"),
        ("The mountain road to the village has {n} sharp bends.",
         "mountain road village bend bends curve curves"),
    )
)


@register("irrelevant", description="an irrelevant sentence with a number inserted before the "
          "question (GSM-NoOp style)",
          reasons={"topic-clash": "the problem mentions every topic of the irrelevant sentences",
                   "no-sentence": "the question has no sentence to insert before"})
def insert_irrelevant(item: Item, rng: random.Random) -> Item | None:
    """A sentence on a topic the problem does not mention, with a number not in it."""
    words = set(re.findall(r"[a-z]+", item.question.lower()))
    options = [s for s, guard in _IRRELEVANT if not (guard & words)]
    if not options:
        raise reject("topic-clash")
    sentence = rng.choice(options)
    existing = set()
    for token in numbers_in(item.question + " " + item.gold):
        try:
            existing.add(Fraction(token.replace(",", "")))
        except ValueError:  # "1.2.3" and the like
            continue
    choices = [n for n in range(3, 98) if Fraction(n) not in existing]
    number = rng.choice(choices)
    sentence = sentence.format(n=number)
    spans = sentence_spans(item.question)
    if not spans:
        raise reject("no-sentence")
    sentences = [item.question[a:b] for a, b in spans]
    position = question_index(sentences) if len(spans) > 1 else 0
    at = spans[position][0]
    # Insert without touching the original spacing elsewhere.
    question = item.question[:at] + sentence + " " + item.question[at:]
    return replace(item, question=question,
                   perturbation_params={"sentence": sentence, "number": number,
                                        "position": position})
