"""Prompt rendering: the raw text follows lm-eval, and chat prompts wrap the same words."""

from __future__ import annotations

import pytest

from engine.prompts import (
    COT_TRIGGER,
    PromptError,
    apply_chat_template,
    check_mode,
    render,
)
from engine.records import Exemplar, Item

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
ITEM = Item("gsm8k", "q1", "Tom has 3 apples and buys 4 more. How many apples?", "7")
EXEMPLARS = [
    Exemplar("Ann has 2 cats and gets 1 more. How many cats?", "2 + 1 = 3. The answer is 3."),
    Exemplar("Bo has 5 pens and loses 2. How many pens?", "5 - 2 = 3. The answer is 3."),
]


def test_zero_shot_raw() -> None:
    p = render(ITEM, "zero-shot", [])
    assert p.text == f"Question: {ITEM.question}\nAnswer:"
    assert not p.chat and not p.special and p.shots == 0
    assert "\nQuestion:" in p.stop


def test_zero_shot_cot_raw_has_trigger() -> None:
    p = render(ITEM, "zero-shot-cot", [])
    assert p.text == f"Q: {ITEM.question}\nA: {COT_TRIGGER}"
    assert "\nQ:" in p.stop


def test_few_shot_raw_exemplars_then_question() -> None:
    p = render(ITEM, "few-shot-cot", EXEMPLARS)
    blocks = p.text.split("\n\n")
    assert blocks[0] == f"Q: {EXEMPLARS[0].question}\nA: {EXEMPLARS[0].answer}"
    assert blocks[1] == f"Q: {EXEMPLARS[1].question}\nA: {EXEMPLARS[1].answer}"
    assert blocks[2] == f"Q: {ITEM.question}\nA:"
    assert p.shots == 2


def test_chat_wraps_the_same_words() -> None:
    raw = render(ITEM, "zero-shot-cot", [])
    chat = render(ITEM, "zero-shot-cot", [], chat_template=CHATML)
    assert chat.chat and chat.special
    assert chat.text == f"<|im_start|>user\n{raw.text}<|im_end|>\n<|im_start|>assistant\n"


def test_few_shot_chat_is_multiturn() -> None:
    p = render(ITEM, "few-shot-cot", EXEMPLARS, chat_template=CHATML)
    assert p.messages is not None
    roles = [m["role"] for m in p.messages]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert p.messages[1]["content"] == EXEMPLARS[0].answer
    assert p.text.endswith("<|im_start|>assistant\n")


def test_system_message() -> None:
    p = render(ITEM, "zero-shot", [], chat_template=CHATML, system="Be brief.")
    assert p.text.startswith("<|im_start|>system\nBe brief.<|im_end|>")


def test_medcalc_question_has_note_and_format() -> None:
    item = Item(
        "medcalc",
        "m1",
        "What is the patient's BMI?",
        "22.5",
        answer_type="decimal",
        fields={"patient_note": "A 40 year old man, 70 kg, 176 cm."},
    )
    p = render(item, "zero-shot", [])
    assert "Patient note:\nA 40 year old man" in p.text
    assert "Give the final answer as a number." in p.text


def test_unknown_mode() -> None:
    with pytest.raises(PromptError, match="unknown mode 'five-shot'"):
        check_mode("five-shot")
    assert check_mode("one-shot-cot") == "few-shot-cot"


def test_template_errors_are_one_line() -> None:
    with pytest.raises(PromptError, match="chat template"):
        apply_chat_template("{% if %}", [{"role": "user", "content": "x"}])
    refusing = "{{ raise_exception('System role not supported') }}"
    with pytest.raises(PromptError, match="System role not supported"):
        apply_chat_template(refusing, [{"role": "system", "content": "x"}])
