"""The extract-llm grader's model: a models.toml entry loaded as an `Extractor`.

Grading may not load models (import-linter), so the model behind `extract-llm` is built here,
one stage up, from any models.toml entry (a GGUF run by llama.cpp, or a served model), and
injected into `engine.grading.ExtractLLMGrader`. The prompt is the grader's
(`extraction_messages` + `ASSISTANT_PREFILL`) in the extractor's own chat template; decoding is
greedy, short and stops at the end of the line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.errors import ConfigError, ModelLoadError
from engine.grading.extract_llm import (
    ASSISTANT_PREFILL,
    MAX_TOKENS,
    STOP,
    extraction_messages,
)
from engine.inference.config import ModelsConfig, load_config
from engine.inference.engine import Engine
from engine.prompts import apply_chat_template
from engine.records import Decoding

DECODING = Decoding(strategy="greedy", max_tokens=MAX_TOKENS, temperature=0.0, stop=STOP)


class ModelExtractor:
    """An `Extractor` backed by an `Engine`: one greedy call per output.

    The engine is made by `load` on the first extraction, so a regrade whose outputs are all
    cached (or that has nothing left to grade) never loads the model; `id` is known before that
    (a GGUF's sha256 comes from resolving the file, a served model's from probing the server).
    """

    def __init__(self, id: str, name: str, load: Callable[[], Engine]) -> None:
        self.id = id
        self.name = name
        self._load = load
        self._engine: Engine | None = None
        self._renderer: Callable[[list[dict[str, str]]], str] | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            engine = self._load()
            renderer = getattr(engine, "chat_renderer", None)
            if not engine.info.chat_template and renderer is None:
                engine.close()
                raise ModelLoadError(
                    f"extractor model '{self.name}' has no chat template (extract-llm asks it "
                    "in chat turns): choose an instruct model"
                )
            self._engine, self._renderer = engine, renderer
        return self._engine

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def prompt(self, question: str, output: str) -> str:
        """The text the extractor continues: the chat turns, then the opening of its reply."""
        messages = extraction_messages(question, output)
        info = self.engine.info
        if info.chat_template:
            text = apply_chat_template(
                info.chat_template, messages, bos_token=info.bos_token, eos_token=info.eos_token
            )
        else:
            assert self._renderer is not None
            text = self._renderer(messages)
        return text + ASSISTANT_PREFILL

    def extract(self, question: str, output: str) -> str:
        return self.engine.generate(self.prompt(question, output), DECODING, special=True).text

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def load_extractor(name: str, models_file: str | Path | None = None) -> ModelExtractor:
    """models.toml's model `name` as an extractor; one-line errors when it cannot be had."""
    return extractor_from_config(load_config(models_file), name)


def extractor_from_config(config: ModelsConfig, name: str) -> ModelExtractor:
    """Find and resolve (or probe) the model now; it is loaded on first use."""
    spec = config.models.get(name)
    if spec is None:
        known = ", ".join(sorted(config.models)) or "none"
        raise ConfigError(f"{config.path}: unknown extractor model '{name}' (models: {known})")
    if spec.server is not None:
        from engine.inference.served import ServedModel

        served = ServedModel(spec)
        return ModelExtractor(served.info.sha256, name, lambda: served)
    from engine.inference.llama import Model
    from engine.inference.sources import resolve

    resolved = resolve(spec)
    return ModelExtractor(resolved.sha256, name, lambda: Model(resolved))
