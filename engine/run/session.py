"""An interactive session: the engine side of the app, with no UI code.

The app asks one item at a time, both models at once, with settings the user changes between
questions. Every answer is recorded exactly as a headless run records it, under one run per
session (kind 'app'), so it can be queried later with the same SQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from engine.inference.config import ModelsConfig, load_config
from engine.inference.llama import Model, share_cpu
from engine.inference.pairs import load_pair
from engine.records import Decoding, Exemplar, Item, Role
from engine.run.config import RunConfig
from engine.run.prepare import PreparedRun, exemplar_source_for, prepare_run
from engine.run.runner import (
    Answer,
    RecordWriter,
    ask,
    prompt_for,
    side_by_side_mode,
)
from engine.run.workload import Workload
from engine.store.store import Store


@dataclass(frozen=True)
class AskSettings:
    """What the user picked in the control bar; each answer records them."""

    mode: str = "zero-shot-cot"
    shots: int = 8
    chat_template: bool = True
    max_tokens: int = 256
    system_prompt: str | None = None


class Session:
    """Models, items and the store for one app session. Methods are safe to call from workers."""

    def __init__(self, config: RunConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.models_config: ModelsConfig = load_config(config.models_file)
        self.pair = self.models_config.pair(config.pair)
        self.models: dict[Role, Model] = {}
        self.workload: Workload | None = None
        self.run_id: str | None = None
        self._prepared: PreparedRun | None = None
        self._writer = RecordWriter(store, max_rows=1)  # the app writes each answer at once
        self._exemplars: Callable[[Item, str], list[Exemplar]] | None = None
        self._shots = config.shots
        self._lock = threading.Lock()
        self._repeats: dict[tuple[str, str, str, bool, int], int] = {}

    # -- loading (call from a worker: these block) -------------------------------------------
    def load_items(self) -> Workload:
        prepared = prepare_run(
            self.config, self.store, exemplars=self.exemplars_for, kind="app"
        )
        with self._lock:
            self._prepared = prepared
            self.workload = prepared.workload
        return prepared.workload

    def load_model(self, role: Role, on_status: Callable[[str], None] | None = None) -> Model:
        """Load one role's model; the app loads both at once, one worker per pane."""
        got = load_pair(
            self.models_config,
            self.config.pair,
            (role,),
            on_status=(lambda _r, msg: on_status(msg)) if on_status else None,
        )
        with self._lock:
            self.models[role] = got[role]
        return got[role]

    def start(self) -> str:
        """Open the session's run in the store (after the models are loaded)."""
        assert self._prepared is not None, "load_items() first"
        # A model that failed to load leaves its pane empty; the other one still runs and records.
        self._prepared.models.update(self.models)
        runner = self._prepared.runner()
        # Both panes stream at once: threads and turn-taking as models.toml's side_by_side says.
        models = list(self.models.values())
        share_cpu(models, side_by_side_mode(self.config, models))
        # App runs are never resumed into: each session is its own run.
        plan = runner.start(resume=False)
        self.run_id = plan.run_id
        return plan.run_id

    def finish(self, status: str = "completed") -> None:
        self._writer.flush()
        if self.run_id:
            self.store.finish_run(self.run_id, status)

    # -- asking -------------------------------------------------------------------------------
    def exemplars_for(self, item: Item, mode: str) -> list[Exemplar]:
        with self._lock:
            if self._exemplars is None:
                items = self.workload.items if self.workload else []
                self._exemplars = exemplar_source_for(self.config, items, shots=self._shots)
            source = self._exemplars
        return source(item, mode)

    def set_shots(self, shots: int) -> None:
        with self._lock:
            if shots != self._shots:
                self._shots = shots
                self._exemplars = None

    def ask(
        self,
        role: Role,
        item: Item,
        settings: AskSettings,
        *,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        record: bool = True,
    ) -> Answer:
        model = self.models[role]
        self.set_shots(settings.shots)
        exemplars = self.exemplars_for(item, settings.mode)
        prompt = prompt_for(
            model,
            role,
            item,
            settings.mode,
            exemplars,
            chat_template=settings.chat_template,
            system_prompt=settings.system_prompt,
        )
        decoding: Decoding = replace(self.config.decoding, max_tokens=settings.max_tokens)
        # Asking the same thing again in one session is a new answer, not a duplicate: it gets the
        # next sample_index (and so the next seed when sampling).
        key = (item.item_id, role, prompt.mode, prompt.chat, prompt.shots)
        with self._lock:
            index = self._repeats.get(key, 0)
            self._repeats[key] = index + 1
        answer = ask(
            model,
            role,
            item,
            prompt,
            decoding,
            run_id=self.run_id or "unsaved",
            sample_index=index,
            grader=self.config.grader,
            cancel=cancel,
            on_text=on_text,
        )
        # A stopped answer is still shown, and recorded with finish_reason 'cancelled' so the
        # store holds everything the user saw; reports can filter it out.
        if record and self.run_id:
            self.store.record_items([item])
            self._writer.add(answer)
        return answer
