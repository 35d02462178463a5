"""The auxiliary-model extractor (`extract-llm`): a small model copies out the final answer, the
item's usual comparator judges it.

The study behind tunelens grades with a small model that reads the question and the output and
returns only the final answer, because the choice of grader changes verdicts. Here the model is
anything that implements `Extractor` (built from a models.toml entry by engine.run.extractor;
grading never loads a model itself); its answer is cleaned (`clean_extraction`) and handed to the
comparator the item would get from the rule graders (`compare`: numeric for GSM8K-like items,
MedCalc rules by output type, math-verify for LaTeX), so the two graders differ only in *what*
they extract. Extractions are cached by (extractor id, PROMPT_VERSION, sha256 of the output): a
regrade costs nothing twice, and changing the prompt below means bumping PROMPT_VERSION.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from engine.errors import GraderError, PromptTooLong
from engine.grading.gsm8k import compare_number
from engine.grading.math_verify import compare_latex
from engine.grading.medcalc import grade_medcalc
from engine.grading.registry import GRADERS, default_grader, register
from engine.records import Grade, Item

GRADER_NAME = "extract-llm"

# Bump whenever the messages, the prefill, the decoding or `clean_extraction` change: cached
# extractions made under another version are then not reused.
PROMPT_VERSION = "extract-v1"

SYSTEM_PROMPT = (
    "You read a question and a response to it, and copy the response's final answer to the "
    "question. If the response goes on to other questions, use its answer to the first one only."
)
USER_TEMPLATE = (
    "Question: {question}\n\nResponse: {output}\n\n"
    "What is the response's final answer? Reply with the answer only."
)
# The assistant turn opens with these words (after the chat template's generation prompt), so
# even a 135M model continues with the answer rather than a sentence about it.
ASSISTANT_PREFILL = "The final answer is"
MAX_TOKENS = 24
STOP = ("\n",)
# The output the extractor reads is bounded (its last characters are kept, where final answers
# sit); 3000 characters is ~800 tokens, inside every context the models in models.toml have.
MAX_OUTPUT_CHARS = 3000
MAX_QUESTION_CHARS = 2000


@runtime_checkable
class Extractor(Protocol):
    """A model that returns only the final answer of `output` to `question`.

    `id` names the weights (a GGUF's sha256, or "served:<kind>:<model id>"): the cache key, so a
    renamed models.toml entry reuses its extractions and a changed file does not. `name` is the
    models.toml name, shown in the grade's rule.
    """

    id: str
    name: str

    def extract(self, question: str, output: str) -> str:
        """The model's raw reply (before `clean_extraction`)."""
        ...


def extraction_messages(question: str, output: str) -> list[dict[str, str]]:
    """The chat turns an extractor is given (its chat template renders them, then the prefill)."""
    user = USER_TEMPLATE.format(
        question=question.strip()[:MAX_QUESTION_CHARS],
        output=output.strip()[-MAX_OUTPUT_CHARS:],
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


_LEAD = re.compile(r"^(?:is\b|:|=)\s*", re.I)
# Math and bold markup around the whole answer (a "$" alone is kept: "$18" is dollars).
# A lone "=" (not <=, >=, != or ==): "x >= 3" is an answer, not "3".
_EQUALS = re.compile(r"(?<![<>!=])=(?!=)")
_PAIRS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"), ("**", "**"))


def clean_extraction(raw: str) -> str:
    """The answer in an extractor's reply: first line, without markup, a lead-in or a final stop.

    "** $x = \\frac{7}{3}$.**" -> "\\frac{7}{3}": for a short reply "lhs = rhs" the right-hand
    side is the answer (not when it lists several parts, "x = 1, y = 2"). "none" stays "none":
    the comparator then finds no answer.
    """
    text = raw.strip().splitlines()[0].strip() if raw.strip() else ""
    for _ in range(4):
        before = text
        text = _LEAD.sub("", text).strip().rstrip(".").strip()
        if text.startswith("**") != text.endswith("**"):  # bold cut by the stop: "**42"
            text = text.strip("*").strip()
        for left, right in _PAIRS:
            wrapped = text.startswith(left) and text.endswith(right)
            if wrapped and len(text) > len(left) + len(right):
                text = text[len(left) : -len(right)].strip()
        if text == before:
            break
    parts = _EQUALS.split(text)
    if len(parts) > 1 and "," not in text:
        text = parts[-1].strip()
    return text


def output_sha256(output: str) -> str:
    return hashlib.sha256(output.encode("utf-8")).hexdigest()


def cache_key(
    extractor_id: str, output: str, prompt_version: str = PROMPT_VERSION
) -> tuple[str, str, str]:
    """What a cached extraction is looked up by: (extractor id, prompt version, output hash).

    The question is not part of the key: a recorded output answers one question.
    """
    return (extractor_id, prompt_version, output_sha256(output))


def comparator_for(item: Item) -> str:
    """The rule grader whose comparison judges an extracted answer: the item's usual grader."""
    name = default_grader(item)
    return name if name in GRADERS and name != GRADER_NAME else "gsm8k"


def compare(item: Item, answer: str, comparator: str | None = None) -> Grade:
    """Judge an already extracted answer with a rule grader's comparison.

    The boundary with the rule graders: their functions for a bare answer (numbers, MedCalc by
    output type, LaTeX by symbolic equivalence), so extract-llm and the rule grader differ only
    in what they extract, never in how they compare.
    """
    name = comparator or comparator_for(item)
    if name == "math-verify":
        return compare_latex(answer, item.gold)
    if name == "medcalc":
        return grade_medcalc(answer, item)
    return compare_number(answer, item.gold, item.question)


@dataclass(frozen=True)
class Extraction:
    """One model call's result, as the `extractions` table keeps it."""

    extractor_id: str
    prompt_version: str
    output_sha256: str
    extractor_name: str
    raw: str


class ExtractLLMGrader:
    """The `extract-llm` grader with its extractor and cache: call it like any grader.

    `cache` maps `cache_key` to the extractor's raw reply (the store's `extractions` rows, loaded
    by the caller); new replies are added to it and kept in `new` until `drain` hands them to the
    caller to store. `calls` counts model calls (zero on a regrade of cached outputs).
    """

    name = GRADER_NAME

    def __init__(
        self,
        extractor: Extractor,
        cache: MutableMapping[tuple[str, str, str], str] | None = None,
        *,
        comparator: str | None = None,
        prompt_version: str = PROMPT_VERSION,
    ) -> None:
        self.extractor = extractor
        self.prompt_version = prompt_version
        self.cache: MutableMapping[tuple[str, str, str], str] = {} if cache is None else cache
        self.comparator = comparator
        self.calls = 0
        self.new: list[Extraction] = []

    @property
    def rule(self) -> str:
        return f"{GRADER_NAME}:{self.extractor.name}"

    def __call__(self, item: Item, output: str) -> Grade:
        key = cache_key(self.extractor.id, output, self.prompt_version)
        raw = self.cache.get(key)
        if raw is None:
            self.calls += 1
            try:
                raw = self.extractor.extract(item.question, output)
            except PromptTooLong as exc:  # this output only: graded "error", not cached
                return Grade(None, False, "error", GRADER_NAME, str(exc)[:300])
            self.cache[key] = raw
            self.new.append(Extraction(*key, self.extractor.name, raw))
        answer = clean_extraction(raw)
        judged = compare(item, answer, self.comparator)
        detail = f"reply {raw.strip()[:80]!r}; {judged.grader}: {judged.detail}"
        # A comparator that failed (a math-verify time-out) makes an "error" grade, which
        # agreement leaves out, as it does the rule grader's own errors.
        rule = "error" if judged.rule == "error" else self.rule
        return Grade(answer or None, judged.correct, rule, GRADER_NAME, detail[:500])

    def drain(self) -> list[Extraction]:
        """The extractions made since the last drain (for the caller to store)."""
        out, self.new = self.new, []
        return out


@register(GRADER_NAME, "a small model extracts the final answer (--extractor MODEL), the item's "
          "usual comparator judges it")
def _extract_llm_unconfigured(item: Item, output: str) -> Grade:
    raise GraderError(
        "grader extract-llm needs an extractor model: use `tunelens regrade --grader extract-llm "
        "--extractor MODEL` (MODEL: a model in models.toml)"
    )
