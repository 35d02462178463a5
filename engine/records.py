"""Records that flow through the engine: dataset → perturbation → prompt → model → grade → store.

They are dataclasses with no behaviour beyond small conveniences, so that every stage can be
tested on its own and the store can persist them column for column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["base", "instruct"]
ROLES: tuple[Role, Role] = ("base", "instruct")

# Prompt modes, in the order tables and menus show them (engine.prompts renders each).
Mode = Literal["zero-shot", "zero-shot-cot", "few-shot-cot"]
MODES: tuple[Mode, ...] = ("zero-shot", "zero-shot-cot", "few-shot-cot")
MODE_LABELS: dict[str, str] = {
    "zero-shot": "zero-shot",
    "zero-shot-cot": "zero-shot CoT",
    "few-shot-cot": "few-shot CoT",
}
ZERO_SHOT_MODES: tuple[Mode, ...] = ("zero-shot", "zero-shot-cot")
FEW_SHOT_MODE: Mode = "few-shot-cot"

# In-context-learning conditions of the instruction-tuning-vs-ICL study (Bigoulaeva et al. 2025,
# `tunelens reproduce bigoulaeva`): k "Question: ... Answer: <final answer>" exemplars before the
# zero-shot question. Each condition is its own mode, so `generations.mode` says which exemplars
# an answer was made with. They are study conditions, not menu modes: the app and `tunelens run`
# offer MODES only (the ordinary exemplar source refuses these).
ICL_MODES: tuple[str, ...] = (
    "icl-gold",  # gold answers of held-out items of the same task
    "icl-instruct",  # the instruct model's own recorded answers to those exemplar questions
    "icl-corrupt",  # gold exemplars whose final answer is replaced by a wrong one
    "icl-neutral",  # gold exemplars under neutral field labels "Input:" / "Output:"
    "icl-cross",  # gold exemplars of another task
)
ICL_LABELS: dict[str, str] = {
    "icl-gold": "base k-shot gold",
    "icl-instruct": "base k-shot instruct-written",
    "icl-corrupt": "base k-shot corrupted answers",
    "icl-neutral": "base k-shot neutral labels",
    "icl-cross": "base k-shot other task",
}
MODE_LABELS.update(ICL_LABELS)
# Modes whose prompt carries exemplars (their setting label names the shot count).
FEW_SHOT_MODES: tuple[str, ...] = (FEW_SHOT_MODE, *ICL_MODES)
MODE_ORDER: dict[str, int] = {m: i for i, m in enumerate((*MODES, *ICL_MODES))}

# The perturbation value of an unperturbed item, wherever variants are listed or filtered.
ORIGINAL = "original"

# What kind of gold answer an item has; graders dispatch on it.
AnswerType = Literal["number", "decimal", "integer", "date", "gestational_age", "text"]


@dataclass(frozen=True)
class Item:
    """One problem, original or perturbed.

    `item_id` is unique within a dataset; a perturbed variant gets an id derived from its original
    (`original_id`), the perturbation and seed, so variants are stable across runs and resumable.
    """

    dataset: str
    item_id: str
    question: str
    gold: str
    answer_type: AnswerType = "number"
    # Worked solution, if the dataset has one (GSM8K's answer field, a template's solution).
    solution: str | None = None
    # Extra fields a dataset or grader needs (MedCalc: patient note, limits, calculator id...).
    fields: dict[str, Any] = field(default_factory=dict)
    # Perturbation provenance: None for an original item.
    original_id: str | None = None
    perturbation: str | None = None
    perturbation_seed: int | None = None
    perturbation_params: dict[str, Any] = field(default_factory=dict)

    @property
    def is_variant(self) -> bool:
        return self.original_id is not None


@dataclass(frozen=True)
class Exemplar:
    """A worked example for few-shot prompts: the question and a full answer text."""

    question: str
    answer: str


@dataclass(frozen=True)
class Grade:
    """A grader's verdict on one output, with enough to inspect why."""

    extracted: str | None
    correct: bool
    rule: str  # which extraction rule matched, e.g. "answer-is", "boxed", "last-number", "none"
    grader: str  # which grader produced it, e.g. "gsm8k", "medcalc", "math-verify"
    detail: str = ""
    # Where the extracted answer sits in the output (character offsets), so that the app and the
    # reports highlight it without extracting it again. Not part of the verdict: two grades with
    # the same verdict are equal wherever the answer was found.
    span: tuple[int, int] | None = field(default=None, compare=False)


Strategy = Literal["greedy", "sample", "cot-decoding"]


@dataclass(frozen=True)
class Decoding:
    """How tokens are chosen. Greedy (temperature 0) unless asked otherwise.

    `seed` is the seed of the first sample; sample i of an item uses `seed + i`, so each recorded
    answer names the exact seed that made it.
    """

    strategy: Strategy = "greedy"
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0  # 0: no top-k cut
    min_p: float = 0.0
    seed: int = 0
    samples: int = 1  # answers per item (sampling, or branches for cot-decoding)
    stop: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        out = asdict(self)
        out["stop"] = list(self.stop)
        return out


FinishReason = Literal["stop", "length", "cancelled", "context", "error"]


@dataclass(frozen=True)
class Generation:
    """One finished answer from one model, with the timing researchers compare."""

    text: str
    token_ids: tuple[int, ...]
    prompt_tokens: int
    tokens: int
    ttft_s: float  # call to first generated token (includes prompt processing)
    gen_time_s: float  # call to last token
    tokens_per_s: float  # decode rate: tokens after the first / time after the first
    finish_reason: FinishReason
    seed: int
    # Per kept output token: p(top1) - p(top2) when asked for (cot-decoding), and the byte offset
    # where the token ends in the UTF-8 output (to map an answer span back to tokens).
    margins: tuple[float, ...] = ()
    token_ends: tuple[int, ...] = ()
