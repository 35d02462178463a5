"""`reorder`: the question sentence moved to the front ("How many ...? Facts..."), only when it
has no pronoun or demonstrative that needs the facts before it; gold unchanged."""

from __future__ import annotations

import random
import re
from dataclasses import replace

from engine.perturb.registry import register, reject
from engine.perturb.text import sentence_spans
from engine.records import Item

__all__ = ["question_first"]

_REFERRING = re.compile(
    r"\b(he|she|him|her|his|hers|they|them|their|theirs|it|its|this|that|these|those|"
    r"then|such|same|other|others|another|remaining|rest|each|both|all|total|together|"
    r"altogether|there|here|now|after|before|first|second|last|new|extra|more|less|left)\b",
    re.IGNORECASE,
)


@register("reorder", description="question sentence moved first when it refers to no earlier "
          "sentence",
          reasons={"one-sentence": "the problem is one sentence",
                   "not-a-final-question": "the last sentence is not the only question",
                   "refers-back": "the question has a pronoun or word pointing at the facts"})
def question_first(item: Item, rng: random.Random) -> Item | None:
    """Question sentence first, facts after; only when the question needs no earlier context.

    The rule is conservative on purpose: the question sentence must be the last sentence, end
    with '?', and contain no pronoun, demonstrative or word that points back at the facts
    ("it", "that", "remaining", "total", "now", "left"...). Moving such a question first keeps
    its meaning because it refers to the facts only through nouns.
    """
    spans = sentence_spans(item.question)
    if len(spans) < 2:
        raise reject("one-sentence")
    q_start, q_end = spans[-1]
    question = item.question[q_start:q_end].strip()
    facts = item.question[:q_start].rstrip()
    if not question.endswith("?") or "?" in facts:
        raise reject("not-a-final-question")
    if _REFERRING.search(question):
        raise reject("refers-back")
    return replace(item, question=f"{question} {facts}",
                   perturbation_params={"rule": "question-first", "moved": question})
