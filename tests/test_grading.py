"""Tests for engine.grading: answer extraction rules, GSM8K and MedCalc grading, math-verify,
and the `tunelens grade` record processing."""

from __future__ import annotations

import csv
import json
import re
import threading
import time
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.grading import (
    GRADERS,
    GradeInputError,
    default_grader,
    extract_number_answer,
    grade,
    grade_gsm8k,
    grade_jsonl_records,
    grade_math_verify,
    grade_medcalc,
    grade_with_span,
    numbers_equal,
    parse_number,
    truncate_run_on,
)
from engine.grading import math_verify as grading
from engine.records import Grade, Item

REPO = Path(__file__).resolve().parents[1]
MEDCALC_DIR = REPO.parent / "shared" / "datasets" / "medcalc-bench"
MEDCALC_V1 = MEDCALC_DIR / "test_v1.0.csv"
MEDCALC_CORRECTED = MEDCALC_DIR / "test_corrected.csv"

# ---------------------------------------------------------------------------------------------
# GSM8K extraction rules
# ---------------------------------------------------------------------------------------------

# (output, expected extracted, expected rule)
EXTRACTION_CASES: list[tuple[str, str | None, str]] = [
    # answer-is
    ("Janet has 16 - 3 - 4 = 9 eggs. 9 * 2 = 18. The answer is 18.", "18", "answer-is"),
    ("The answer is $1,250.50.", "1250.5", "answer-is"),
    ("The answer is 18 eggs.", "18", "answer-is"),
    ("So the final answer is 42", "42", "answer-is"),
    ("Answer: 7", "7", "answer-is"),
    ("The answer is: **$18**", "18", "answer-is"),
    ("The answer is \\(18\\).", "18", "answer-is"),
    ("The final answer is $\\boxed{1{,}000}$.", "1000", "answer-is"),
    ("The answer is -3.", "-3", "answer-is"),
    ("The answer is -$5.", "-5", "answer-is"),
    ("The answer is $-5.", "-5", "answer-is"),
    ("The answer is 1,000,000.", "1000000", "answer-is"),
    ("The answer is 25%.", "25", "answer-is"),
    ("The answer is 18.0", "18", "answer-is"),
    ("The answer is 18.50 dollars", "18.5", "answer-is"),
    ("The answer is 3/4.", "0.75", "answer-is"),
    ("The answer is 1/3.", "1/3", "answer-is"),
    ("The answer is .5", "0.5", "answer-is"),
    ("The answer is 3\\frac{1}{2}", "3.5", "answer-is"),
    ("The answer is approximately 18.", "18", "answer-is"),
    ("The answer to how many eggs she sells is 9.", "9", "answer-is"),
    ("The answer is:\n\n18", "18", "answer-is"),
    ("Working.\n> Answer: 18", "18", "answer-is"),
    # "answer ...:" mid-sentence is working, not a label (GSM8K test item: Nate's holes)
    ("To convert the answer to weeks: 28 days / 7 days/week = 4 weeks\n#### 4", "4", "hashes"),
    ("Let's check the answer: 28 days, so 4 weeks", "4", "last-number"),
    # the first committed answer counts when the model merely repeats or runs on ...
    ("The answer is 18. The answer is 20.", "18", "answer-is"),
    # ... but an instruct model that corrects itself is graded on its correction (issue 11)
    ("The answer is 18. Wait, no. The answer is 20.", "20", "self-correction"),
    ("**Answer: 8**\n\nWait, I forgot the 12 given away: 36 / 6 = 6.\n\n**Answer: 6**", "6",
     "self-correction"),
    ("\\boxed{26}\n\nFinal answer: 18", "18", "final-answer"),
    ("\\boxed{26}\n\nHmm, 9 * 2 is 18, not 26. So \\boxed{18}", "18", "self-correction"),
    ("The answer is 18.\n\nActually, let me double-check: 9 * 2 = 18. Yes, 18.", "18",
     "answer-is"),
    # an answer marker not followed by a number is skipped, the next one counts
    ("The answer is that she has some left. The answer is 9.", "9", "answer-is"),
    # final-answer
    ("16 - 3 - 4 = 9\nFinal answer: 9", "9", "final-answer"),
    ("Final Answer: $18", "18", "final-answer"),
    # hashes
    ("Janet sells 16 - 3 - 4 = 9 duck eggs a day.\n#### 18", "18", "hashes"),
    ("#### 1,000,000", "1000000", "hashes"),
    ("####-7", "-7", "hashes"),
    # boxed
    ("So we get \\boxed{18}.", "18", "boxed"),
    ("\\boxed{\\frac{3}{4}}", "0.75", "boxed"),
    ("\\boxed{\\dfrac{1}{2}} and later \\boxed{7}", "0.5", "boxed"),
    ("\\boxed{18 \\text{ eggs}}", "18", "boxed"),
    ("\\boxed{\\$1{,}250}", "1250", "boxed"),
    ("\\boxed{-\\frac{3}{4}}", "-0.75", "boxed"),
    ("\\boxed 42.", "42", "boxed"),
    ("$\\boxed{50\\%}$", "50", "boxed"),
    # bold (chat models)
    ("**Answer: 18**", "18", "bold"),
    ("**Answer:** 18", "18", "bold"),
    ("**Final Answer:** $18", "18", "bold"),
    ("**The answer is 18**", "18", "bold"),
    ("She sells 9 eggs.\n\nShe makes **$18** every day.", "18", "bold"),
    # an unlabelled bold number: the last one (chat models bold intermediate results too)
    ("She has **9** eggs left and sells them for **$18**.", "18", "bold"),
    (
        "**Step 1:** 16 - 3 - 4 = 9 eggs.\n**Step 2:** 9 * 2 = **18**\n\n"
        "So she earns **$18 per day**.",
        "18",
        "bold",
    ),
    ("**1. Eggs left:** 9\n**2. Money:** 18", "18", "last-number"),
    # last-number (flexible-extract)
    ("Janet sells 16 - 3 - 4 = 9 eggs. 9 * 2 = 18", "18", "last-number"),
    ("She makes $18 a day.", "18", "last-number"),
    ("x = -5", "-5", "last-number"),
    ("pages 3-4", "4", "last-number"),
    ("Answer: 16 - 3 - 4 = 9 eggs, 9 * 2 = 18 dollars", "18", "last-number"),
    ("The clearance is 17.2 mL/min/1.73 m2", "17.2", "last-number"),
    # none
    ("I don't know.", None, "none"),
    ("", None, "none"),
    ("H2O is water", None, "none"),
]


@pytest.mark.parametrize(("output", "expected", "rule"), EXTRACTION_CASES)
def test_extract_number_answer(output: str, expected: str | None, rule: str) -> None:
    extracted, got_rule, span = extract_number_answer(output)
    assert (extracted, got_rule) == (expected, rule)
    if expected is None:
        assert span is None
    else:
        assert span is not None
        start, end = span
        assert 0 <= start < end <= len(output)
        # The span points at the answer text in the original output (for highlighting).
        assert any(ch.isdigit() for ch in output[start:end])


def test_span_is_the_number_itself() -> None:
    output = "Let me think. The answer is 1,250.50 dollars."
    extracted, _, span = extract_number_answer(output)
    assert extracted == "1250.5"
    assert span is not None
    assert output[span[0] : span[1]] == "1,250.50"


RUN_ON_ANSWERS = [
    ("Janet's ducks lay 16 eggs. She eats 3 and bakes 4, so 9 are left. The answer is 18.", "18"),
    ("She has 16 - 3 - 4 = 9 eggs and sells them for 9 * 2 = 18 dollars.", "18"),
    ("9 eggs at $2 each.\n#### 18", "18"),
    ("**Answer: 18**", "18"),
    ("So she makes \\boxed{18} dollars.", "18"),
]
RUN_ON_CONTINUATIONS = [
    "\n\nQ: Tom has 3 apples and buys 4 more. How many?\nA: 3 + 4 = 7. The answer is 7.",
    "\n\nQuestion: Tom has 3 apples and buys 4 more.\nAnswer: 3 + 4 = 7\n#### 7",
    "\nQ1: What is 3 + 4?\nA1: The answer is 7.",
    "\n\nProblem: A train goes 70 miles. \\boxed{70}",
    "\n\nHuman: thanks! what is 3+4?\nAssistant: The answer is 7.",
    "\nUser: and 3 + 4?\n7",
    "<|im_end|>\n<|im_start|>user\nWhat is 3 + 4?<|im_end|>\n<|im_start|>assistant\n**Answer: 7**",
    "<end_of_turn>\n<start_of_turn>user\n3+4? The answer is 7.",
    "\n\n### Instruction:\nAdd 3 and 4.\n\n### Response:\nThe answer is 7.",
    " Q: Tom has 3 apples and 4 pears. The answer is 7.",
    "</s> The answer is 7.",
]


@pytest.mark.parametrize("continuation", RUN_ON_CONTINUATIONS)
@pytest.mark.parametrize(("answer", "gold"), RUN_ON_ANSWERS)
def test_run_on_continuation_does_not_change_extraction(
    answer: str, gold: str, continuation: str
) -> None:
    alone = extract_number_answer(answer)
    assert alone[0] == gold
    assert extract_number_answer(answer + continuation) == alone
    assert grade_gsm8k(answer + continuation, gold).correct


def test_truncate_run_on_cuts_at_made_up_question() -> None:
    output = "She has 18 eggs. The answer is 18.\n\nQ: Tom has 3 apples... A: ... The answer is 7."
    assert truncate_run_on(output) == "She has 18 eggs. The answer is 18.\n\n"
    assert grade_gsm8k(output, "18") == Grade("18", True, "answer-is", "gsm8k", "18 = gold 18")


def test_opening_restatement_is_not_cut() -> None:
    output = (
        "Question: Janet's ducks lay 16 eggs per day. She eats 3 and bakes with 4. She sells the "
        "rest at $2 each. How much does she make?\nAnswer: 16 - 3 - 4 = 9 eggs, so 9 * 2 = 18. "
        "The answer is 18.\n\nQuestion: Tom has 3 apples. The answer is 3."
    )
    assert extract_number_answer(output)[:2] == ("18", "answer-is")
    qa = "Q: Janet's ducks lay 16 eggs.\nA: She sells 9, so 18. The answer is 18.\n\nQ: x? A: 7."
    assert extract_number_answer(qa)[:2] == ("18", "answer-is")
    # A marker with no answer text before it is not a cut point either.
    assert truncate_run_on("Let me restate.\nQuestion: what is 9 * 2?\n18") == (
        "Let me restate.\nQuestion: what is 9 * 2?\n18"
    )


def test_chat_restatement_with_bold_header_is_not_cut() -> None:
    # Chat models restate the problem under bold headers; only plain few-shot markers and chat
    # tokens are taken as a made-up new turn.
    output = (
        "Janet's ducks lay 16 eggs a day.\n\n**Question:** How much does she make?\n\n"
        "**Answer:** 18"
    )
    assert extract_number_answer(output)[:2] == ("18", "bold")


def test_every_gsm8k_test_solution_grades_correct() -> None:
    """The 1,319 GSM8K test solutions: as written (#### N), in CoT form, and with a run-on."""
    path = REPO.parent / "shared" / "datasets" / "gsm8k" / "test.jsonl"
    if not path.exists():
        pytest.skip(f"shared GSM8K data not found at {path}")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 1319
    run_on = f"\n\nQ: {rows[0]['question']}\nA: The answer is 999999."
    for row in rows:
        solution = row["answer"]
        gold = solution.rsplit("####", 1)[1].strip()
        body = re.sub(r"<<[^>]*>>", "", solution.rsplit("####", 1)[0]).strip()
        assert grade_gsm8k(solution, gold).correct, solution
        cot = f"{body}\nThe answer is {gold}."
        assert grade_gsm8k(cot, gold).rule == "answer-is"
        assert grade_gsm8k(cot + run_on, gold).correct, cot


def test_last_number_only_looks_before_the_cut() -> None:
    output = "She sells 9 eggs for 2 dollars each, making 18\n\nQ: Tom has 3 apples, buys 4: 7"
    assert extract_number_answer(output)[:2] == ("18", "last-number")


def test_rule_priority() -> None:
    # answer-is beats an earlier box; hashes beat bold; boxed beats a later last number.
    assert extract_number_answer("\\boxed{5} ... The answer is 6.")[:2] == ("6", "answer-is")
    assert extract_number_answer("**7**\n#### 8")[:2] == ("8", "hashes")
    assert extract_number_answer("\\boxed{9} then 10 more")[:2] == ("9", "boxed")


# ---------------------------------------------------------------------------------------------
# GSM8K grading and number normalisation
# ---------------------------------------------------------------------------------------------

GSM8K_CASES: list[tuple[str, str, bool]] = [
    ("The answer is $1,250.50.", "1250.5", True),
    ("The answer is 18 eggs.", "18", True),
    ("**Answer: 18**", "18", True),
    ("\\boxed{\\frac{3}{4}}", "0.75", True),
    ("The answer is 0.75", "3/4", True),
    ("The answer is 1000.", "1,000", True),
    ("The answer is -3.", "-3", True),
    ("The answer is 3.", "-3", False),
    ("The answer is 0.50", "0.5", True),
    ("The answer is 18.0", "18", True),
    ("The answer is 17.", "18", False),
    ("The answer is 50%.", "50", True),
    # GSM8K worked solution as gold: the #### line counts
    ("The answer is 18.", "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs.\n#### 18", True),
    # exact arithmetic: 0.1 + 0.2 style float error cannot matter
    ("The answer is 0.3", "0.30000000000000004", False),
    ("The answer is 0.3", "0.3", True),
]


@pytest.mark.parametrize(("output", "gold", "correct"), GSM8K_CASES)
def test_grade_gsm8k(output: str, gold: str, correct: bool) -> None:
    g = grade_gsm8k(output, gold)
    assert g.grader == "gsm8k"
    assert g.correct is correct


def test_grade_gsm8k_no_answer() -> None:
    g = grade_gsm8k("I am not sure how to solve this.", "18")
    assert g == Grade(None, False, "none", "gsm8k", g.detail)
    assert "18" in g.detail


def test_grade_gsm8k_non_numeric_gold_compares_text() -> None:
    assert not grade_gsm8k("The answer is 18.", "eighteen").correct
    assert grade_gsm8k("The answer is 18.", "eighteen").detail == "gold is not a number"


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("18.0", "18", True),
        ("3/4", "0.75", True),
        ("\\frac{3}{4}", "0.75", True),
        ("1,000,000", "1000000", True),
        ("$1,250.50", "1250.5", True),
        ("-3", "−3", True),  # Unicode minus
        ("50%", "50", True),
        ("18", "18.01", False),
        ("1/3", "0.3333333333", False),
        ("2 or 3", "2", False),  # not a single number: compared as text
        ("Paris", "paris.", True),
        ("Paris", "London", False),
    ],
)
def test_numbers_equal(a: str, b: str, equal: bool) -> None:
    assert numbers_equal(a, b) is equal
    assert numbers_equal(b, a) is equal


def test_parse_number() -> None:
    assert parse_number("$1,250.50") == Fraction(2501, 2)
    assert parse_number("#### 72") == 72
    assert parse_number("two") is None
    assert parse_number("3 and 4") is None
    assert parse_number("1" * 5000) is None  # beyond int()'s digit limit: no crash


@st.composite
def formatted_answers(draw: st.DrawFn) -> tuple[str, str]:
    """A plain gold answer and the same number written the way models write it."""
    if draw(st.booleans()):
        n = draw(st.integers(min_value=-(10**9), max_value=10**9))
        gold = str(n)
        sign, mag = ("-" if n < 0 else ""), abs(n)
        forms = [
            f"{n}",
            f"{n:,}",
            f"{sign}${mag:,}",
            f"${n}",
            f"{n}.0",
            f"{n:,}.00",
            f"**{n:,}**",
            f"\\boxed{{{n}}}",
            f"$\\boxed{{{n:,}}}$",
            f"{n}%",
            f"{n:,} dollars",
            f"\\({n}\\)",
        ]
    else:
        cents = draw(st.integers(min_value=-(10**8), max_value=10**8))
        d = Decimal(cents) / 100
        gold = format(d, "f")
        sign, mag = ("-" if d < 0 else ""), abs(d)
        forms = [
            f"{d}",
            f"{d:,}",
            f"{d:,.2f}",
            f"{d:.3f}",
            f"{sign}${mag:,.2f}",
            f"**{d}**",
            f"\\boxed{{{d}}}",
            f"{d}%",
            f"{d:,.2f} dollars",
        ]
    return gold, draw(st.sampled_from(forms))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formatted_answers())
def test_property_formatted_answer_is_correct(case: tuple[str, str]) -> None:
    gold, fmt = case
    output = f"The answer is {fmt}."
    g = grade_gsm8k(output, gold)
    assert g.correct, (output, gold, g)
    assert g.rule == "answer-is"
    assert numbers_equal(g.extracted or "", gold)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(RUN_ON_CONTINUATIONS),
)
def test_property_run_on_never_changes_the_grade(answer: int, other: int, cont: str) -> None:
    output = f"Some working: 3 + 4 = 7. The answer is {answer:,}."
    continuation = cont.replace("7", str(other))
    assert grade_gsm8k(output + continuation, str(answer)).correct
    assert extract_number_answer(output + continuation) == extract_number_answer(output)


# ---------------------------------------------------------------------------------------------
# MedCalc-Bench
# ---------------------------------------------------------------------------------------------


def _load_csv(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        pytest.skip(f"shared MedCalc data not found at {path}")
    with path.open(newline="", encoding="utf-8") as f:
        return {row["Unique ID"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def medcalc_v1() -> dict[str, dict[str, str]]:
    return _load_csv(MEDCALC_V1)


@pytest.fixture(scope="module")
def medcalc_corrected() -> dict[str, dict[str, str]]:
    return _load_csv(MEDCALC_CORRECTED)


def _item(row: dict[str, str], output_type: str | None = None) -> Item:
    """An Item the way a MedCalc loader would build it: Output Type as answer_type, limits."""
    kind = output_type or row["Output Type"]
    return Item(
        dataset="medcalc-bench",
        item_id=row["Unique ID"],
        question=row["Question"],
        gold=row["Ground Truth Answer"],
        answer_type=kind,  # type: ignore[arg-type]
        fields={
            "lower_limit": row["Lower Limit"],
            "upper_limit": row["Upper Limit"],
            "output_type": kind,
            "calculator_name": row["Calculator Name"],
        },
    )


def _json_answer(answer: object, thinking: str = "The patient is 65 years old, 70 kg.") -> str:
    return json.dumps({"step_by_step_thinking": thinking, "answer": answer})


def test_medcalc_decimal_uses_the_row_limits(medcalc_v1: dict[str, dict[str, str]]) -> None:
    row = medcalc_v1["1"]  # Creatinine Clearance, gold 25.238, limits [23.9761, 26.4999]
    assert (row["Output Type"], row["Ground Truth Answer"]) == ("decimal", "25.238")
    item = _item(row)
    assert grade_medcalc(_json_answer("25.238"), item).correct
    assert grade_medcalc(_json_answer("26.4 mL/min"), item).correct
    assert grade_medcalc(_json_answer(24), item).correct
    assert not grade_medcalc(_json_answer("26.6"), item).correct
    assert not grade_medcalc(_json_answer("23.9"), item).correct
    g = grade_medcalc("Using Cockcroft-Gault with age 45... The answer is 25.1 mL/min.", item)
    assert (g.extracted, g.correct, g.rule, g.grader) == ("25.1", True, "answer-is", "medcalc")
    assert "[23.9761, 26.4999]" in g.detail


def test_medcalc_decimal_negative_gold(medcalc_v1: dict[str, dict[str, str]]) -> None:
    row = medcalc_v1["467"]  # Free Water Deficit, gold -0.828, limits [-0.8694, -0.7866]
    assert row["Ground Truth Answer"] == "-0.828"
    item = _item(row)
    assert grade_medcalc(_json_answer("-0.8 L"), item).correct
    assert not grade_medcalc(_json_answer("0.8"), item).correct
    assert not grade_medcalc(_json_answer("-0.9"), item).correct


def test_medcalc_decimal_without_limits_uses_gold_5_percent() -> None:
    item = Item("medcalc-bench", "x", "q", "100", "decimal")
    assert grade_medcalc("The answer is 104.9", item).correct
    assert grade_medcalc("The answer is 95", item).correct
    assert not grade_medcalc("The answer is 105.1", item).correct
    assert "gold ±5%" in grade_medcalc("The answer is 105.1", item).detail


def test_medcalc_integer(medcalc_v1: dict[str, dict[str, str]]) -> None:
    row = medcalc_v1["41"]  # CHA2DS2-VASc, gold 4
    assert (row["Output Type"], row["Ground Truth Answer"]) == ("integer", "4")
    item = _item(row)
    assert grade_medcalc(_json_answer("4"), item).correct
    assert grade_medcalc(_json_answer(4.4), item).correct  # rounds to 4
    assert grade_medcalc(_json_answer("The CHA2DS2-VASc score is 4"), item).correct
    assert grade_medcalc(_json_answer("4 out of 9"), item).correct
    assert not grade_medcalc(_json_answer("5"), item).correct
    # Python's round, as the official script: 4.5 -> 4, 3.5 -> 4, 2.5 -> 2
    assert grade_medcalc(_json_answer("4.5"), item).correct
    assert grade_medcalc(_json_answer("3.5"), item).correct
    negative = _item(medcalc_v1["222"])  # Wells' DVT, gold -2
    assert grade_medcalc(_json_answer("-2"), negative).correct
    assert not grade_medcalc(_json_answer("2"), negative).correct


def test_medcalc_date(medcalc_v1: dict[str, dict[str, str]]) -> None:
    row = medcalc_v1["928"]  # Estimated Due Date, gold 09/23/2014
    assert (row["Output Type"], row["Ground Truth Answer"]) == ("date", "09/23/2014")
    item = _item(row)
    for answer in [
        "09/23/2014",
        "9/23/2014",
        "2014-09-23",
        "September 23, 2014",
        "Sept 23rd, 2014",
    ]:
        g = grade_medcalc(_json_answer(answer), item)
        assert (g.extracted, g.correct, g.rule) == ("09/23/2014", True, "json-answer"), answer
    assert not grade_medcalc(_json_answer("09/24/2014"), item).correct
    prose = "LMP was 12/17/2013; adding 280 days gives 09/23/2014."
    assert grade_medcalc(prose, item) == Grade(
        "09/23/2014", True, "last-date", "medcalc", "date: 09/23/2014 = gold 09/23/2014"
    )
    assert grade_medcalc(_json_answer("13/45/2014"), item).extracted is None  # not a date


@pytest.mark.parametrize(
    "output",
    [
        '{"answer": "(4 weeks, 3 days)"}',
        '{"answer": [4, 3]}',
        '{"answer": ["4 weeks", "3 days"]}',
        '{"answer": {"weeks": 4, "days": 3}}',
        "{'answer': '4 weeks, 3 days'}",
        "The answer is 4 weeks and 3 days.",
        "The gestational age is (4, 3).",
        "LMP was 28 days cycle... so the gestational age is 4 weeks 3 days",
        "The estimated gestational age is 31 days.",
    ],
)
def test_medcalc_gestational_age(medcalc_v1: dict[str, dict[str, str]], output: str) -> None:
    row = medcalc_v1["1041"]  # Estimated Gestational Age: labelled "integer" in v1.0!
    assert (row["Output Type"], row["Ground Truth Answer"]) == ("integer", "('4 weeks', '3 days')")
    for item in (_item(row), _item(row, "gestational_age")):
        g = grade_medcalc(output, item)
        assert g.correct, (output, g)
        assert g.extracted == "(4 weeks, 3 days)"


def test_medcalc_gestational_age_wrong(medcalc_v1: dict[str, dict[str, str]]) -> None:
    item = _item(medcalc_v1["1041"])
    assert not grade_medcalc('{"answer": "(4 weeks, 4 days)"}', item).correct
    assert not grade_medcalc('{"answer": "(3, 4)"}', item).correct
    zero_weeks = _item(medcalc_v1["1028"])  # ('0 weeks', '6 days')
    assert grade_medcalc('{"answer": "(0 weeks, 6 days)"}', zero_weeks).correct
    assert grade_medcalc('{"answer": "6 days"}', zero_weeks).correct


def test_medcalc_answer_field_forms(medcalc_v1: dict[str, dict[str, str]]) -> None:
    item = _item(medcalc_v1["1"])
    fenced = '```json\n{"step_by_step_thinking": "CrCl = ...", "answer": "25.2"}\n```\nDone.'
    assert grade_medcalc(fenced, item).rule == "json-answer"
    assert grade_medcalc(fenced, item).correct
    # raw newlines inside the thinking string (invalid strict JSON) are tolerated
    assert grade_medcalc('{"step_by_step_thinking": "a\nb", "answer": "25.2"}', item).correct
    # truncated JSON: the answer key still counts
    assert grade_medcalc('{"answer": "25.2", "step_by_step_thinking": "the pat', item).correct
    # unquoted answer with a unit
    assert grade_medcalc('{"answer": 25.2 mL/min}', item).correct
    # the prompt's placeholder is not an answer; the prose answer after it is used
    placeholder = '{"answer": "str(short_and_direct_answer_of_the_question)"}\nThe answer is 25.'
    assert grade_medcalc(placeholder, item).rule == "answer-is"
    # an expression is never evaluated: the answer field gives no answer, last number is used
    expr = '{"answer": "str(round((140 - 45) * 70 / (72 * 1.2)))"}'
    g = grade_medcalc(expr, item)
    assert g.rule == "last-number"
    assert not g.correct
    # the first JSON answer counts when a base model writes another example after it
    run_on = _json_answer("25.2") + "\n\nHere is the patient note:\n..." + _json_answer("99")
    assert grade_medcalc(run_on, item).extracted == "25.2"


def test_medcalc_no_answer_and_na_gold(medcalc_v1: dict[str, dict[str, str]]) -> None:
    g = grade_medcalc("I cannot compute this.", _item(medcalc_v1["1"]))
    assert (g.extracted, g.correct, g.rule, g.grader) == (None, False, "none", "medcalc")
    na = Item("medcalc-bench-verified", "146", "q", "N/A", "decimal")
    g = grade_medcalc(_json_answer("25"), na)
    assert not g.correct
    assert "not a number" in g.detail


def test_medcalc_every_v1_row_accepts_its_gold(medcalc_v1: dict[str, dict[str, str]]) -> None:
    """All 1,047 rows: the gold written as the JSON answer or in prose grades correct, and an
    answer 10% (or a day, or a unit) off grades wrong."""
    counts: dict[str, int] = {}
    for row in medcalc_v1.values():
        item = _item(row)
        gold = row["Ground Truth Answer"]
        assert grade_medcalc(_json_answer(gold), item).correct, row["Unique ID"]
        assert grade_medcalc(f"Step by step...\nThe answer is {gold}.", item).correct
        kind = row["Output Type"]
        if "weeks" in gold:
            kind = "gestational_age"
            weeks, days = map(int, re.findall(r"\d+", gold))
            wrong = f"({weeks} weeks, {days + 1} days)"
        elif kind == "date":
            month, day, year = gold.split("/")
            wrong = f"{month}/{int(day) % 28 + 1:02d}/{year}"
        elif kind == "integer":
            wrong = str(int(gold) + 1)
        else:
            value = Decimal(gold)
            wrong = str(value * Decimal("1.1") if value else Decimal("1"))
        assert not grade_medcalc(_json_answer(wrong), item).correct, (row["Unique ID"], wrong)
        counts[kind] = counts.get(kind, 0) + 1
    assert counts == {"decimal": 627, "integer": 360, "date": 40, "gestational_age": 20}


def test_medcalc_corrected_rows(
    medcalc_v1: dict[str, dict[str, str]], medcalc_corrected: dict[str, dict[str, str]]
) -> None:
    """test_corrected.csv: gestational age becomes total days (an integer); N/A rows exist."""
    graded = 0
    for uid, row in medcalc_corrected.items():
        gold = row["Ground Truth Answer"]
        if gold == "N/A":
            continue
        merged = {**row, "Output Type": medcalc_v1[uid]["Output Type"]}
        item = _item(merged)
        assert grade_medcalc(_json_answer(gold), item).correct, uid
        graded += 1
    assert graded == 818
    ga = _item({**medcalc_corrected["1041"], "Output Type": "integer"})
    assert ga.gold == "31"
    assert grade_medcalc('{"answer": "31"}', ga).correct
    assert not grade_medcalc('{"answer": "30"}', ga).correct
    # with the gestational_age type the total-days gold also accepts a weeks/days answer
    ga_typed = _item({**medcalc_corrected["1041"], "Output Type": "integer"}, "gestational_age")
    assert grade_medcalc('{"answer": "4 weeks, 3 days"}', ga_typed).correct


# ---------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------


def test_default_grader_and_dispatch() -> None:
    gsm = Item("gsm8k", "1", "q", "18")
    med = Item("medcalc-bench", "1", "q", "4", "integer")
    dated = Item("custom", "1", "q", "01/02/2020", "date")
    limited = Item(
        "custom", "1", "q", "10", "decimal", fields={"lower_limit": 9.5, "upper_limit": 10.5}
    )
    plain_int = Item("custom", "1", "q", "10", "integer")
    assert [default_grader(i) for i in (gsm, med, dated, limited, plain_int)] == [
        "gsm8k",
        "medcalc",
        "medcalc",
        "medcalc",
        "gsm8k",
    ]
    assert grade(gsm, "The answer is 18.").grader == "gsm8k"
    assert grade(med, '{"answer": "4"}').grader == "medcalc"
    assert grade(limited, "The answer is 10.4").correct
    assert grade(gsm, '{"answer": "18"}', grader="medcalc").correct
    assert set(GRADERS) == {"gsm8k", "medcalc", "math-verify", "extract-llm"}
    with pytest.raises(ValueError, match="unknown grader 'nope'"):
        grade(gsm, "18", grader="nope")


def test_grade_with_span() -> None:
    output = "Working: 3 + 4.\nThe answer is $1,250.50."
    g, span = grade_with_span(Item("gsm8k", "1", "q", "1250.5"), output)
    assert g.correct
    assert span is not None
    assert output[span[0] : span[1]] == "1,250.50"
    med = Item("medcalc-bench", "928", "q", "09/23/2014", "date")
    output = '{"step_by_step_thinking": "LMP 12/17/2013", "answer": "9/23/2014"}'
    g, span = grade_with_span(med, output)
    assert g.correct
    assert span is not None
    assert output[span[0] : span[1]] == "9/23/2014"
    assert grade_with_span(med, "no idea") == (grade(med, "no idea"), None)


def test_graders_registry_signature() -> None:
    item = Item("gsm8k", "1", "q", "18")
    for name in ("gsm8k", "medcalc"):
        g = GRADERS[name](item, "The answer is 18.")
        assert isinstance(g, Grade)
        assert g.grader == name
        assert g.correct


# ---------------------------------------------------------------------------------------------
# `tunelens grade FILE.jsonl`
# ---------------------------------------------------------------------------------------------


def test_grade_jsonl_records() -> None:
    lines = [
        json.dumps(
            {"id": "a", "output": "The answer is 18.\n\nQ: x? The answer is 7.", "gold": "18"}
        ),
        "",
        json.dumps(
            {
                "output": '{"answer": "26.4"}',
                "gold": "25.238",
                "lower_limit": 23.9761,
                "upper_limit": 26.4999,
            }
        ),
        json.dumps(
            {
                "output": "4 weeks and 3 days",
                "gold": "(4 weeks, 3 days)",
                "answer_type": "gestational_age",
                "model": "base",
            }
        ),
        json.dumps({"id": 7, "output": "The answer is 17.", "gold": 18}),
    ]
    results = list(grade_jsonl_records(lines, source="runs.jsonl"))
    assert [r["id"] for r in results] == ["a", 3, 4, 7]
    assert [r["line"] for r in results] == [1, 3, 4, 5]
    assert [r["correct"] for r in results] == [True, True, True, False]
    assert [r["grader"] for r in results] == ["gsm8k", "medcalc", "medcalc", "gsm8k"]
    assert results[0]["extracted"] == "18"
    assert results[0]["rule"] == "answer-is"
    assert results[2]["model"] == "base"  # other input keys are kept
    assert all("output" not in r for r in results)  # the (long) output is not echoed back


def test_grade_jsonl_infers_medcalc_types_from_a_csv_export() -> None:
    """Rows copied from MedCalc's CSV (limits repeat a date or gestational-age gold)."""
    rows = [
        {
            "output": '{"answer": "(4, 3)"}',
            "gold": "('4 weeks', '3 days')",
            "lower_limit": "('4 weeks', '3 days')",
            "upper_limit": "('4 weeks', '3 days')",
        },
        {
            "output": '{"answer": "9/23/2014"}',
            "gold": "09/23/2014",
            "lower_limit": "09/23/2014",
            "upper_limit": "09/23/2014",
        },
        {"output": '{"answer": "4.4"}', "gold": "4", "lower_limit": "4", "upper_limit": "4"},
        {"output": '{"answer": "4.4"}', "gold": "4", "lower_limit": 3.8, "upper_limit": 4.2},
        {"id": None, "output": "The answer is 18", "gold": "18"},
    ]
    results = list(grade_jsonl_records(json.dumps(r) for r in rows))
    assert [r["grader"] for r in results] == ["medcalc"] * 4 + ["gsm8k"]
    assert [r["correct"] for r in results] == [True, True, True, False, True]
    assert [r["extracted"] for r in results][:2] == ["(4 weeks, 3 days)", "09/23/2014"]
    assert results[-1]["id"] == 5


def test_grade_jsonl_grader_choice() -> None:
    line = json.dumps({"output": "The answer is 18.", "gold": "18", "grader": "medcalc"})
    assert next(grade_jsonl_records([line]))["grader"] == "medcalc"
    # the command-line choice overrides the record's
    assert next(grade_jsonl_records([line], grader="gsm8k"))["grader"] == "gsm8k"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "not json",
            "runs.jsonl:2: invalid JSON (Expecting value at column 1); "
            "expected one object per line",
        ),
        ('{"output": "x", "gold": "1"', "runs.jsonl:2: invalid JSON"),
        ("[1, 2]", "runs.jsonl:2: expected a JSON object with 'output' and 'gold', got list"),
        ('{"gold": "1"}', "runs.jsonl:2: missing key 'output'"),
        ('{"output": "x"}', "runs.jsonl:2: missing key 'gold'"),
        ('{"output": 3, "gold": "1"}', "runs.jsonl:2: 'output' must be a string, got int"),
        ('{"output": "x", "gold": null}', "runs.jsonl:2: 'gold' must be a string or a number"),
        ('{"output": "x", "gold": "1", "grader": "gpt"}', "runs.jsonl:2: unknown grader 'gpt'"),
        ('{"output": "x", "gold": "1", "grader": ["gsm8k"]}', "runs.jsonl:2: unknown grader"),
        (
            '{"output": "x", "gold": "1", "answer_type": "float"}',
            "runs.jsonl:2: unknown answer_type",
        ),
        (
            '{"output": "x", "gold": "1", "lower_limit": "low"}',
            "runs.jsonl:2: 'lower_limit' must be",
        ),
    ],
)
def test_grade_jsonl_malformed_line(line: str, message: str) -> None:
    good = json.dumps({"output": "The answer is 1.", "gold": "1"})
    records = grade_jsonl_records([good, line, good], source="runs.jsonl")
    assert next(records)["correct"] is True  # records before the bad line are still graded
    with pytest.raises(GradeInputError) as info:
        next(records)
    text = str(info.value)
    assert text.startswith(message)
    assert "\n" not in text
    assert isinstance(info.value, ValueError)


def test_grade_jsonl_long_bad_value_stays_one_line() -> None:
    line = json.dumps({"output": "x", "gold": "1", "grader": "a\nb" * 200})
    with pytest.raises(GradeInputError) as info:
        list(grade_jsonl_records([line], source="f.jsonl"))
    assert "\n" not in str(info.value)
    assert len(str(info.value)) < 300


# ---------------------------------------------------------------------------------------------
# math-verify
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "gold", "correct"),
    [
        ("The answer is 18.", "18", True),
        ("\\boxed{\\frac{3}{4}}", "0.75", True),
        ("The answer is 1,000.", "1,000", True),
        ("The answer is 17.", "18", False),
        # run-on: math-verify alone would read the made-up question's 7
        ("The answer is 18.\n\nQ: Tom has 3 apples. The answer is 7.", "18", True),
    ],
)
def test_grade_math_verify(output: str, gold: str, correct: bool) -> None:
    g = grade_math_verify(output, gold)
    assert g.grader == "math-verify"
    assert g.correct is correct, g
    # the rule is the LaTeX extraction rule that found the answer (issue 11), no longer the
    # grader's name
    assert g.rule in {"answer-is", "boxed"}


def test_grade_math_verify_no_answer_and_in_thread_mode() -> None:
    assert grade_math_verify("no maths here", "18").rule in {"none", "math-verify"}
    g = grade_math_verify("The answer is 3/4", "0.75", timeout_seconds=None)
    assert g.correct


def test_grade_math_verify_off_main_thread() -> None:
    results: list[Grade] = []
    worker = threading.Thread(target=lambda: results.append(grade_math_verify("\\boxed{18}", "18")))
    worker.start()
    worker.join(120)
    assert results and results[0].correct


def test_grade_math_verify_pathological_input_is_bounded() -> None:
    """sympy can hold the GIL on towers of powers; the child process keeps the caller free."""
    results: list[Grade] = []
    start = time.monotonic()
    worker = threading.Thread(
        target=lambda: results.append(
            grade_math_verify("\\boxed{9^{9^{9^{9}}}}", "18", timeout_seconds=1)
        )
    )
    worker.start()
    while worker.is_alive() and time.monotonic() - start < 60:
        time.sleep(0.05)  # the main thread keeps running meanwhile
    worker.join(1)
    assert results, "math-verify grading did not finish"
    assert not results[0].correct
    assert time.monotonic() - start < 30


def test_grade_math_verify_recovers_after_a_killed_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    process = grading._MathVerifyProcess()
    try:
        assert process.run("18", "The answer is 18", 5).correct
        original = process._next_line
        monkeypatch.setattr(process, "_next_line", lambda timeout: None)
        with pytest.raises(TimeoutError):
            process.run("18", "The answer is 18", 1)
        monkeypatch.setattr(process, "_next_line", original)
        assert process.run("18", "The answer is 18", 5).correct  # a fresh child
    finally:
        process._stop()


def test_grade_via_registry_math_verify() -> None:
    g = grade(Item("gsm8k", "1", "q", "0.5"), "\\boxed{\\frac{1}{2}}", grader="math-verify")
    assert (g.correct, g.grader) == (True, "math-verify")


# ---------------------------------------------------------------------------------------------
# Robustness: pathological outputs stay fast and never crash
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "unit",
    [
        "####",
        " ",
        "**a",
        "\\boxed{",
        '"answer": ',
        "[",
        "1,",
        "9",
        "answer is ",
        '{"answer": "',
        "1 weeks ",
        "12/12/",
        "\\frac{1}{",
        "Q: 1\n",
        "$ - ",
        "'4 weeks' ",
    ],
)
def test_pathological_outputs_are_fast(unit: str) -> None:
    output = unit * (20_000 // len(unit))
    items = [
        Item("medcalc-bench", "1", "q", "('4 weeks', '3 days')", "integer"),
        Item("medcalc-bench", "2", "q", "01/01/2020", "date"),
        Item("medcalc-bench", "3", "q", "3.5", "decimal"),
    ]
    start = time.monotonic()
    extract_number_answer(output)
    grade_gsm8k(output, "3")
    grade_gsm8k(output, "3", "How many minutes does he keep? How much money does she make?")
    for item in items:
        grade_medcalc(output, item)
    assert time.monotonic() - start < 5


def test_last_number_skips_list_and_step_enumerators() -> None:
    # A base model that numbers its steps and stops mid-step has not answered the step number.
    assert extract_number_answer("Step 1: 3 apples\nStep 2: 4 more apples\nStep 3:")[0] == "4"
    assert extract_number_answer("1. Janet has 16 eggs.\n2. She eats 3.\n3.")[0] == "3"
    assert extract_number_answer("Step 4: He has")[:2] == (None, "none")


@pytest.mark.parametrize(("output", "gold", "correct", "extracted"), [
    ("The answer is 2.5e3.", "2500", True, "2500"),
    ("The answer is 6E-1", "0.6", True, "0.6"),
    ("The answer is 1e309.", "1", False, None),  # overflow is no answer, never read as 1
    ("The answer is 1e3 dollars.", "1000", True, "1000"),
    ("She bought 3 eggs. The answer is 3.", "3", True, "3"),
])
def test_scientific_notation(output: str, gold: str, correct: bool, extracted: str | None) -> None:
    g = grade_gsm8k(output, gold)
    assert (g.correct, g.extracted) == (correct, extracted)
