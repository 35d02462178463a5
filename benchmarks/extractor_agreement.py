"""How often the extract-llm grader agrees with the rule grader and with a human, on labelled cases.

Not a speed benchmark: a measurement of grading quality, kept here so that it can be rerun with
another extractor (`python -m benchmarks.extractor_agreement --extractor qwen3-0_6b`). The cases
are GSM8K-style outputs written to cover the families where graders go wrong (a base model's
run-on, a self-correction, number words, several numbers in the last sentence, no answer); the
`human` column is the verdict a careful reader gives the output's committed answer.
"""

from __future__ import annotations

import argparse
import time

from engine.grading import ExtractLLMGrader, grade
from engine.grading.extract_llm import cache_key
from engine.records import Item
from engine.run.extractor import load_extractor

Q_EGGS = ("Janet's ducks lay 16 eggs per day. She eats three for breakfast and bakes muffins with "
          "four. She sells the rest for $2 per egg. How much does she make every day?")
Q_APPLES = "Janet has 3 apples and buys 5 more. How many apples does she have?"
Q_MARBLES = "Tom has 20 marbles and gives away 8. How many marbles does he have left?"
Q_CUPCAKES = "Sam sells 15 cupcakes at $3 each. How much money does he make?"
Q_TRIP = "A car drives 90 km per hour for 4 hours. How far does it go?"

# (question, output, gold, human verdict)
CASES: list[tuple[str, str, str, bool]] = [
    (Q_EGGS, "16 - 3 - 4 = 9 eggs are left. 9 * 2 = 18. The answer is $18.", "18", True),
    (Q_EGGS, "She has 9 eggs left to sell, so she makes **$18** every day.", "18", True),
    (Q_EGGS, "16 - 3 - 4 = 9, and 9 * $2 = $18.\n\n\\boxed{18}", "18", True),
    (Q_EGGS, "16 - 3 = 13, 13 * 2 = 26. The answer is 26. Wait, she also bakes with four: "
     "16 - 3 - 4 = 9 and 9 * 2 = 18. So the final answer is 18.", "18", True),
    (Q_APPLES, "3 + 5 = 8. The answer is 8.\n\nQ: Tom has 4 cats. How many legs?\nA: 4 * 4 = 16. "
     "The answer is 16.", "8", True),
    (Q_APPLES, "She has 5 apples.\n\nQuestion: Janet has 3 apples and buys 5 more. How many apples "
     "does she have?\nAnswer: 8", "8", False),
    (Q_MARBLES, "He gives away eight, so Tom ends up with twelve marbles.", "12", True),
    (Q_MARBLES, " 12\n\nQ: Sara has 10 pens and loses 3. How many are left?\nA: 7", "12", True),
    (Q_CUPCAKES, "He sold 15 cupcakes for $45 in total.", "45", True),
    (Q_CUPCAKES, "15 * 3 = 45. The answer is 45. (Note: we assume every cupcake sold.)", "45",
     True),
    (Q_TRIP, "90 * 4 = 360. The final answer: 360 km.", "360", True),
    (Q_TRIP, "Let's think. First we need to find the number of", "360", False),
    (Q_TRIP, "90 + 4 = 94. The answer is 94 km.", "360", False),
    (Q_MARBLES, "20 - 8 = 12 marbles. Then he buys 3 more, so 15.", "12", False),
    (Q_CUPCAKES, "Each cupcake is $3 and there are 15, so the total is 3 x 15 = $45 dollars. He "
     "then spends $5 on a box.", "45", True),
    (Q_APPLES, "Step 1: 3 apples. Step 2: 5 more apples. Step 3: 3 + 5 = 8 apples in all.", "8",
     True),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--extractor", default="smollm2-135m-instruct-q4_1")
    p.add_argument("--models", default=None)
    args = p.parse_args()
    extractor = load_extractor(args.extractor, args.models)
    grader = ExtractLLMGrader(extractor)
    rule_ok = llm_ok = same = 0
    t0 = time.perf_counter()
    print(f"{'#':>2} {'human':5} {'rule':14} {'extract-llm':18} reply")
    for n, (question, output, gold, human) in enumerate(CASES, start=1):
        item = Item("gsm8k", f"case-{n}", question, gold)
        rule = grade(item, output, "gsm8k")
        llm = grader(item, output)
        raw = grader.cache[cache_key(extractor.id, output)]
        rule_ok += rule.correct == human
        llm_ok += llm.correct == human
        same += rule.correct == llm.correct
        print(f"{n:>2} {'right' if human else 'wrong':5} "
              f"{str(rule.extracted) + (' ok' if rule.correct else ' x'):14} "
              f"{str(llm.extracted)[:14] + (' ok' if llm.correct else ' x'):18} {raw.strip()!r}")
    n = len(CASES)
    print(f"\n{n} cases, extractor {extractor.name} ({extractor.id[:12]}), "
          f"{time.perf_counter() - t0:.0f} s")
    print(f"rule grader agrees with the human on {rule_ok}/{n}")
    print(f"extract-llm agrees with the human on {llm_ok}/{n}")
    print(f"rule grader and extract-llm agree on {same}/{n}")


if __name__ == "__main__":
    main()
