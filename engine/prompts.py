"""Prompt modes, rendered exactly as the harnesses researchers compare against render them.

The text of a prompt follows lm-evaluation-harness (`gsm8k`, `gsm8k_cot`, `gsm8k_cot_zeroshot`), so
that the only difference between the two models of a pair is the one under study: the base model
always gets raw text, the instruct model gets the same text inside its own chat template (or raw,
with the template off). Few-shot exemplars become alternating user/assistant turns in a chat, as
lm-eval's `--fewshot_as_multiturn` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.data import spec_of
from engine.errors import PromptError
from engine.records import FEW_SHOT_MODES, ICL_MODES, Exemplar, Item

MODES: dict[str, str] = {
    "zero-shot": "Question: ...\\nAnswer:  (no reasoning trigger)",
    "zero-shot-cot": "Q: ...\\nA: Let's think step by step.",
    "few-shot-cot": "k worked exemplars ending 'The answer is N.', then Q: ...\\nA:",
    **{
        m: "k exemplars 'Question: ...\\nAnswer: <final answer>', then Question: ...\\nAnswer:"
        for m in ICL_MODES
        if m != "icl-neutral"
    },
    "icl-neutral": "k exemplars 'Input: ...\\nOutput: <final answer>', then Input: ...\\nOutput:",
}
# The field labels of the ICL study's prompts: the neutral-label probe swaps them.
ICL_FIELDS: dict[str, tuple[str, str]] = {m: ("Question:", "Answer:") for m in ICL_MODES}
ICL_FIELDS["icl-neutral"] = ("Input:", "Output:")
COT_TRIGGER = "Let's think step by step."

# Where a base model's run-on into a new problem is cut. "\nQ:" ends a CoT answer that goes on to
# invent the next question; "Question:" the same for the zero-shot format.
STOP_SEQUENCES: dict[str, tuple[str, ...]] = {
    "zero-shot": ("\nQuestion:", "\n\nQuestion", "\nQ:", "\n\n\n"),
    "zero-shot-cot": ("\nQ:", "\n\nQ:", "\nQuestion:", "\n\n\n"),
    "few-shot-cot": ("\nQ:", "\n\nQ:", "\nQuestion:", "\n\n\n"),
    **{m: ("\nQuestion:", "\n\nQuestion", "\nQ:", "\n\n\n") for m in ICL_MODES},
    "icl-neutral": ("\nInput:", "\n\nInput", "\nQuestion:", "\n\n\n"),
}

@dataclass(frozen=True)
class RenderedPrompt:
    """The exact text sent to a model, and how it was built."""

    text: str
    mode: str
    shots: int
    chat: bool  # rendered through the model's chat template
    special: bool  # control tokens in `text` are parsed as such (true for chat prompts)
    stop: tuple[str, ...]
    messages: tuple[dict[str, str], ...] | None = None


def check_mode(mode: str) -> str:
    aliases = {
        "one-shot-cot": "few-shot-cot",
        "fewshot-cot": "few-shot-cot",
        "cot": "zero-shot-cot",
    }
    mode = aliases.get(mode, mode)
    if mode not in MODES:
        raise PromptError(f"unknown mode '{mode}' (expected one of {', '.join(MODES)})")
    return mode


def question_text(item: Item) -> str:
    """The question as posed, built as the item's dataset says (MedCalc adds note and format)."""
    return spec_of(item).question_text(item)


def raw_turns(item: Item, mode: str, exemplars: list[Exemplar]) -> list[tuple[str, str | None]]:
    """(user text, assistant text) turns; the last turn's answer is None: the model writes it."""
    mode = check_mode(mode)
    q = question_text(item)
    if mode == "zero-shot":
        return [(f"Question: {q}\nAnswer:", None)]
    if mode == "zero-shot-cot":
        return [(f"Q: {q}\nA: {COT_TRIGGER}", None)]
    if mode in ICL_FIELDS:
        ask, say = ICL_FIELDS[mode]
        icl: list[tuple[str, str | None]] = [
            (f"{ask} {ex.question.strip()}\n{say}", ex.answer.strip()) for ex in exemplars
        ]
        icl.append((f"{ask} {q}\n{say}", None))
        return icl
    turns: list[tuple[str, str | None]] = [
        (f"Q: {ex.question.strip()}\nA:", ex.answer.strip()) for ex in exemplars
    ]
    turns.append((f"Q: {q}\nA:", None))
    return turns


def render_raw(item: Item, mode: str, exemplars: list[Exemplar]) -> RenderedPrompt:
    mode = check_mode(mode)
    parts = []
    for user, answer in raw_turns(item, mode, exemplars):
        parts.append(f"{user} {answer}" if answer is not None else user)
    return RenderedPrompt(
        text="\n\n".join(parts),
        mode=mode,
        shots=len(exemplars) if mode in FEW_SHOT_MODES else 0,
        chat=False,
        special=False,
        stop=STOP_SEQUENCES[mode],
    )


ChatRenderer = Callable[[list[dict[str, str]]], str]


def render_chat(
    item: Item,
    mode: str,
    exemplars: list[Exemplar],
    template: str | None,
    *,
    bos_token: str = "",
    eos_token: str = "",
    system: str | None = None,
    renderer: ChatRenderer | None = None,
) -> RenderedPrompt:
    """The turns inside a chat template: tunelens renders `template` itself, or, for a served
    model whose template it cannot read, `renderer` asks the server to render the messages."""
    mode = check_mode(mode)
    messages: list[dict[str, str]] = []
    if system:
        messages.append({"role": "system", "content": system})
    for user, answer in raw_turns(item, mode, exemplars):
        # The CoT trigger stays in the user turn, as lm-eval renders gsm8k_cot_zeroshot with a
        # chat template: the same words, only the wrapping differs.
        messages.append({"role": "user", "content": user})
        if answer is not None:
            messages.append({"role": "assistant", "content": answer})
    if template:
        text = apply_chat_template(template, messages, bos_token=bos_token, eos_token=eos_token)
    else:
        assert renderer is not None, "a chat prompt needs a template or a renderer"
        text = renderer(messages)
    stop = tuple(s for s in STOP_SEQUENCES[mode] if s != "\n\n\n")
    return RenderedPrompt(
        text=text,
        mode=mode,
        shots=len(exemplars) if mode in FEW_SHOT_MODES else 0,
        chat=True,
        special=True,
        stop=stop,
        messages=tuple(messages),
    )


def apply_chat_template(
    template: str,
    messages: list[dict[str, str]],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
) -> str:
    """Render a GGUF's Jinja chat template the way transformers does (sandboxed)."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise PromptError(f"chat template refused the messages: {message}")

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        compiled = env.from_string(template)
        return compiled.render(
            messages=messages,
            bos_token=bos_token,
            eos_token=eos_token,
            add_generation_prompt=add_generation_prompt,
        )
    except jinja2.TemplateError as exc:
        raise PromptError(f"chat template could not be rendered: {exc}") from None


def render(
    item: Item,
    mode: str,
    exemplars: list[Exemplar],
    *,
    chat_template: str | None = None,
    bos_token: str = "",
    eos_token: str = "",
    system: str | None = None,
    chat_renderer: ChatRenderer | None = None,
) -> RenderedPrompt:
    """Raw text with neither a template nor a renderer, else the same turns in the template."""
    if chat_template or chat_renderer:
        return render_chat(
            item,
            mode,
            exemplars,
            chat_template,
            bos_token=bos_token,
            eos_token=eos_token,
            system=system,
            renderer=chat_renderer,
        )
    return render_raw(item, mode, exemplars)


def describe(prompt: RenderedPrompt) -> dict[str, Any]:
    return {
        "mode": prompt.mode,
        "shots": prompt.shots,
        "chat": prompt.chat,
        "stop": list(prompt.stop),
    }
