"""Wall time of one side-by-side pair of answers (base and instruct) under each CPU-sharing mode.

    python -m benchmarks.side_by_side [--rounds 3] [--max-tokens 128]

What the app does for every question: one worker per model, both started together. Modes
(engine.inference.llama.share_cpu, `[engine] side_by_side` in models.toml):
  sequential  one answer, then the other, each with all THREADS threads (the reference)
  parallel    both at once, each with all THREADS threads (2 x THREADS threads on THREADS cores)
  split       both at once, THREADS/2 threads each
  alternate   both at once, taking turns per llama.cpp decode, each with all THREADS threads
Two questions: a zero-shot CoT prompt (decode-bound) and an 8-shot CoT prompt evaluated from an
empty context (prompt-bound). Modes rotate order every round; ratios are against sequential in the
same round. "first token" shows whether both streams move: the later of the two first tokens.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from benchmarks.common import (
    THREADS,
    demo_models,
    fewshot_exemplars,
    gsm8k_items,
    header,
    median,
    table,
)

MODES = ("sequential", "parallel", "split", "alternate")


def answer_pair(models: dict[str, Any], prompts: dict[str, Any], max_tokens: int) -> dict:
    """Both models answer at once, one thread each, as the app's workers do."""
    from engine.records import Decoding

    for m in models.values():
        m.llm.reset()
    t0 = time.perf_counter()
    first: dict[str, float] = {}
    end: dict[str, float] = {}
    texts: dict[str, str] = {}

    def work(role: str) -> None:
        p = prompts[role]
        dec = Decoding(max_tokens=max_tokens, stop=p.stop)
        text = []
        for chunk in models[role].stream(p.text, dec, special=p.special):
            if role not in first and (chunk.text or chunk.done):
                first[role] = time.perf_counter() - t0
            text.append(chunk.text)
        end[role] = time.perf_counter() - t0
        texts[role] = "".join(text)

    threads = [threading.Thread(target=work, args=(r,)) for r in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "wall": max(end.values()),
        "first_token_both": max(first.values()),
        "texts": texts,
    }


def run(rounds: int = 3, max_tokens: int = 128) -> dict[str, Any]:
    from engine.inference.llama import share_cpu
    from engine.run.runner import prompt_for

    models = demo_models(threads=0)  # 0: share_cpu decides, out of THREADS cores
    item = gsm8k_items(1)[0]
    exemplars = fewshot_exemplars(8)
    questions = {
        "zero-shot-cot": {
            r: prompt_for(m, r, item, "zero-shot-cot", []) for r, m in models.items()
        },
        "8-shot-cot": {
            r: prompt_for(m, r, item, "few-shot-cot", exemplars) for r, m in models.items()
        },
    }
    results: dict[str, Any] = {}
    for qname, prompts in questions.items():
        walls: dict[str, list[float]] = {m: [] for m in MODES}
        firsts: dict[str, list[float]] = {m: [] for m in MODES}
        ratios: dict[str, list[float]] = {m: [] for m in MODES}
        texts: dict[str, set[tuple[str, str]]] = {m: set() for m in MODES}
        for k in range(rounds):
            order = MODES[k % len(MODES) :] + MODES[: k % len(MODES)]
            got = {}
            for mode in order:
                share_cpu(list(models.values()), mode, cores=THREADS)
                got[mode] = answer_pair(models, prompts, max_tokens)
            for mode in MODES:
                walls[mode].append(got[mode]["wall"])
                firsts[mode].append(got[mode]["first_token_both"])
                ratios[mode].append(got[mode]["wall"] / got["sequential"]["wall"])
                texts[mode].add(tuple(sorted(got[mode]["texts"].items())))
        all_texts = set().union(*texts.values())
        results[qname] = {
            mode: {
                "wall_s": median(walls[mode]),
                "first_token_both_s": median(firsts[mode]),
                "ratio_vs_sequential": median(ratios[mode]),
                "rounds": walls[mode],
            }
            for mode in MODES
        }
        results[qname]["answers_identical_across_modes"] = len(all_texts) == 1
    for m in models.values():
        m.close()
    return results


def report(results: dict[str, Any]) -> str:
    rows = []
    for qname, res in results.items():
        for mode in MODES:
            r = res[mode]
            rows.append(
                [qname, mode, r["wall_s"], r["first_token_both_s"], r["ratio_vs_sequential"]]
            )
    text = table(
        ["question", "mode", "pair wall s", "both streams started by s", "wall / sequential"],
        rows,
    )
    same = all(res["answers_identical_across_modes"] for res in results.values())
    return text + f"\n\ngreedy answers identical in every mode: {'yes' if same else 'NO'}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--max-tokens", type=int, default=128)
    args = p.parse_args()
    print(header("Side by side: one pair of answers"))
    print(report(run(args.rounds, args.max_tokens)))


if __name__ == "__main__":
    main()
