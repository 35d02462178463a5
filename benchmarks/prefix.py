"""Per-item prompt time for 8-shot CoT GSM8K prompts, with prefix reuse and without.

    python -m benchmarks.prefix [--items 6] [--check-tokens 96]

The runner asks one model its items in order, so consecutive prompts share the ~900-token
exemplar prefix; `Llama.generate` keeps the KV cache of the previous call and evaluates only from
the first differing token. "Without" empties the context first (`llm.reset()`), as a fresh
context would. The two alternate item by item; prompt time = time to the first answer token.
Then every item is answered greedily both ways and the texts compared: reuse must not change an
answer (gemma-3 has a sliding-window cache; llama-cpp-python's default full-size SWA cache keeps
reuse exact).
"""

from __future__ import annotations

import argparse
from typing import Any

from benchmarks.common import demo_models, fewshot_exemplars, gsm8k_items, header, median, table


def _ttft(model: Any, prompt: Any) -> float:
    from engine.records import Decoding

    g = model.generate(prompt.text, Decoding(max_tokens=1), special=prompt.special)
    return g.ttft_s


def run(n_items: int = 6, check_tokens: int = 96) -> dict[str, Any]:
    from engine.records import Decoding
    from engine.run.runner import prompt_for

    models = demo_models()
    exemplars = fewshot_exemplars(8)
    items = gsm8k_items(n_items + 1)
    results: dict[str, Any] = {}
    for role, model in models.items():
        prompts = [prompt_for(model, role, it, "few-shot-cot", exemplars) for it in items]
        n_tokens = [len(model.tokenize(p.text, special=p.special)) for p in prompts]
        shared = _common(
            model.tokenize(prompts[0].text, special=prompts[0].special),
            model.tokenize(prompts[1].text, special=prompts[1].special),
        )
        model.llm.reset()
        _ttft(model, prompts[0])  # the context now holds item 0's prompt
        reuse, fresh = [], []
        for p in prompts[1:]:
            reuse.append(_ttft(model, p))  # the previous item's prompt is in the cache
            model.llm.reset()
            fresh.append(_ttft(model, p))  # everything evaluated again
        # Answers: greedy with reuse (in run order) vs from an empty context every time.
        dec = Decoding(max_tokens=check_tokens, stop=prompts[0].stop)
        with_reuse = []
        model.llm.reset()
        for p in prompts:
            with_reuse.append(model.generate(p.text, dec, special=p.special).text)
        without = []
        for p in prompts:
            model.llm.reset()
            without.append(model.generate(p.text, dec, special=p.special).text)
        same = sum(a == b for a, b in zip(with_reuse, without, strict=True))
        results[role] = {
            "model": model.info.name,
            "prompt_tokens": median(n_tokens),
            "shared_prefix_tokens": shared,
            "reuse_s": median(reuse),
            "fresh_s": median(fresh),
            "speedup": median(f / r for f, r in zip(fresh, reuse, strict=True)),
            "identical": f"{same}/{len(prompts)}",
            "rounds": {"reuse": reuse, "fresh": fresh},
        }
        model.close()
    return results


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def report(results: dict[str, Any]) -> str:
    rows = [
        [r["model"], r["prompt_tokens"], r["shared_prefix_tokens"], r["fresh_s"], r["reuse_s"],
         r["identical"], r["speedup"]]
        for r in (results[k] for k in ("instruct", "base") if k in results)
    ]  # fmt: skip
    return table(
        ["model", "prompt tokens", "shared prefix", "without reuse s", "with reuse s",
         "greedy answers identical", "speed-up (without/with)"],
        rows,
    )  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=6)
    p.add_argument("--check-tokens", type=int, default=96)
    args = p.parse_args()
    print(header("Prefix reuse: per-item prompt time, 8-shot CoT"))
    print(report(run(args.items, args.check_tokens)))


if __name__ == "__main__":
    main()
