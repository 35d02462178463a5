"""CoT-decoding (Wang & Zhou 2024): branch on the top-k first tokens, continue each greedily.

A path's confidence is the mean, over the tokens of its answer, of p(top1) - p(top2) at each step.
The margins come from the logits llama.cpp computes anyway, so scoring costs no extra pass.
"""

from __future__ import annotations

import math

from engine.records import Generation


def path_confidence(gen: Generation, span: tuple[int, int] | None) -> float | None:
    """Mean top-2 margin over the tokens that overlap the answer's character span.

    Without an extracted answer there is nothing to be confident about: None, and such a path
    never wins the vote. Forced tokens (NaN margins) do not count.
    """
    if not gen.margins or span is None:
        return None
    start_b = len(gen.text[: span[0]].encode("utf-8"))
    end_b = len(gen.text[: span[1]].encode("utf-8"))
    picked: list[float] = []
    prev_end = 0
    for margin, end in zip(gen.margins, gen.token_ends, strict=False):
        if end > start_b and prev_end < end_b and not math.isnan(margin):
            picked.append(margin)
        prev_end = end
    if not picked:
        return None
    return sum(picked) / len(picked)
