"""An interactive session: the engine side of the app, with no UI code.

The app asks one item at a time, both models at once, with settings the user changes between
questions. Every answer is recorded exactly as a headless run records it, under one run per
session (kind 'app'), so it can be queried later with the same SQL.

The session also owns the threads that do the slow work: `start_session` builds it and loads the
items and one model per role in the background, `Session.ask_async` starts one answer thread per
model, `Session.token_shift_async` scores answers. They report to a `SessionListener`, plain
callbacks called from those threads; a front end turns them into its own events.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from engine.inference.backend import runs_on
from engine.inference.config import ModelsConfig, load_config
from engine.inference.llama import Model, share_cpu
from engine.inference.pairs import load_pair
from engine.records import Decoding, Exemplar, Item, Role
from engine.run.config import RunConfig
from engine.run.prepare import PreparedRun, exemplar_source_for, prepare_run
from engine.run.runner import (
    Answer,
    ask,
    grade_rows,
    prompt_for,
    side_by_side_mode,
)
from engine.run.workload import Workload
from engine.store.recorder import RunRecorder
from engine.store.store import Store, SyncResult

if TYPE_CHECKING:
    from engine.analysis import TokenShift

MODEL_NICE = 5
JOIN_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class AskSettings:
    """What the user picked in the control bar; each answer records them."""

    mode: str = "zero-shot-cot"
    shots: int = 8
    chat_template: bool = True
    max_tokens: int = 256
    system_prompt: str | None = None


class SessionListener(Protocol):
    """What the session's threads report, as they go. Called from those threads, never the
    caller's: an implementation must hand each call over to its own event loop."""

    def on_session_failed(self, error: str) -> None: ...

    def on_session_ready(self, session: Session, items: list[Item],
                         perturbations: list[str]) -> None: ...

    def on_model_status(self, role: Role, status: str) -> None: ...

    def on_model_loaded(self, role: Role, name: str, description: str) -> None: ...

    def on_model_failed(self, role: Role, error: str) -> None: ...

    def on_run_started(self, run_id: str) -> None: ...

    def on_answer_started(self, label: str, role: Role) -> None: ...

    def on_answer_text(self, label: str, role: Role, chunk: str) -> None: ...

    def on_answer_done(self, label: str, role: Role, answer: Answer, item: Item) -> None: ...

    def on_answer_failed(self, label: str, role: Role, error: str) -> None: ...

    def on_role_finished(self, role: Role) -> None: ...


@dataclass(frozen=True)
class ShiftOutcome:
    """What scoring the shown instruct answers found, per label (which pane they are in)."""

    found: dict[str, list[TokenShift]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # label -> why it has no token shift
    error: str | None = None
    refused: bool = False  # a ShiftError: this pair cannot be scored, now or later


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
        self._recorder: RunRecorder | None = None  # the run's journal, made by start()
        self._exemplars: Callable[[Item, str], list[Exemplar]] | None = None
        self._shots = config.shots
        self._lock = threading.Lock()
        self._repeats: dict[tuple[str, str, str, bool, int], int] = {}
        self._start_lock = threading.Lock()
        self._record_lock = threading.Lock()
        self._published: dict[tuple[str, str], Item] = {}
        self._cancel = threading.Event()
        self._threads: list[threading.Thread] = []
        self._closed = False

    # -- loading (call from a worker: these block) -------------------------------------------
    def load_items(self) -> Workload:
        prepared = prepare_run(
            self.config, self.store, exemplars=self.exemplars_for, kind="app"
        )
        with self._lock:
            self._prepared = prepared
            self.workload = prepared.workload
        return prepared.workload

    def load_browse_items(self) -> list[Item]:
        """The items to step through: the originals (their published variants are kept for
        `variant_of`), or every item of a published perturbed set that has no originals."""
        workload = self.load_items()
        published = {
            (it.original_id or "", it.perturbation or ""): it
            for it in workload.items if it.is_variant
        }
        with self._lock:
            self._published = published
        originals = [it for it in workload.items if not it.is_variant]
        return originals or list(workload.items)

    def perturbation_names(self) -> list[str]:
        """The run's perturbations first (as `a+b` for a chain), then the published variants'
        (gsm-symbolic-p2: a dataset's own), then every other one known."""
        from engine.perturb import PERTURBATIONS

        names = ["+".join(g) for g in self.config.perturb]
        with self._lock:
            published = sorted({name for _, name in self._published})
        names += [n for n in published if n not in names]
        return names + [n for n in PERTURBATIONS if n not in names]

    def variant_of(self, item: Item, name: str) -> Item | None:
        """The published variant of `item` if the workload has it, else one made now (None when
        the perturbation does not apply to it). Raises what the perturbation raises."""
        with self._lock:
            found = self._published.get((item.item_id, name))
        if found is not None:
            return found
        from engine.perturb import perturb

        return perturb(item, name.split("+"), self.config.perturb_seed)

    def load_models(self, listener: SessionListener) -> list[threading.Thread]:
        """Start one loader thread per requested role, so both models load at once."""
        threads = [
            threading.Thread(target=self._load_role, args=(role, listener),
                             name=f"tunelens-load-{role}", daemon=True)
            for role in self.config.roles
        ]
        for t in threads:
            t.start()
        return threads

    def _load_role(self, role: Role, listener: SessionListener) -> None:
        lower_priority()
        try:
            model = self.load_model(role, lambda msg: listener.on_model_status(role, msg))
        except Exception as exc:
            listener.on_model_failed(role, one_line(exc))
            return
        listener.on_model_loaded(
            role, model.info.name, f"{model.info.description} · {runs_on(model.info.settings)}"
        )

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
        # A damaged or foreign store is refused before anything is recorded; a held one is fine
        # (the answers wait in the run's journal).
        self.store.open_for_run()
        # App runs are never resumed into: each session is its own run.
        plan = runner.start(resume=False)
        self._recorder = runner.recorder
        self.run_id = plan.run_id
        return plan.run_id

    def ensure_started(self, listener: SessionListener) -> None:
        """Open the run on the first question, so browsing makes no empty run. Only the roles
        whose model loaded are in it."""
        with self._start_lock:
            if self.run_id is None:
                loaded = tuple(r for r in self.config.roles if r in self.models)
                if loaded != self.config.roles:
                    self.config = replace(self.config, roles=loaded)
                listener.on_run_started(self.start())

    def finish(self, status: str = "completed", *, wait_s: float = 5.0) -> SyncResult | None:
        """Close the session's run; the result says what still waits in its journal."""
        recorder, self._recorder = self._recorder, None  # once: close() after finish() is fine
        if recorder is None:
            return None
        return recorder.finish(status, wait_s=wait_s)

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
        if record and self.run_id and self._recorder is not None:
            # Into the journal at once (durable), into the store by the recorder's thread as soon
            # as the store's lock is free: another process holding the file never blocks the UI.
            with self._record_lock:
                self._recorder.record_items([item])
                self._recorder.add(answer.row, grade_rows(answer))
            # On this answer's worker thread (never the UI's): in the store before the front end
            # hears of the answer when the file is free; else the recorder retries in background.
            if self._recorder.flush(wait_s=1.0).waiting:
                self._recorder.kick()
        return answer

    # -- answer and scoring threads -----------------------------------------------------------
    def ask_async(self, roles: Sequence[Role], jobs: Sequence[tuple[str, Item]],
                  settings: AskSettings, listener: SessionListener) -> None:
        """Ask each role every job (label, item) in turn, one thread per model (a model is used
        by one thread at a time), so the answers stream at once. `stop` ends them early."""
        self._cancel = threading.Event()
        self._threads = [
            threading.Thread(target=self._ask_role,
                             args=(role, list(jobs), settings, listener, self._cancel),
                             name=f"tunelens-ask-{role}", daemon=True)
            for role in roles
        ]
        for t in self._threads:
            t.start()

    def _ask_role(self, role: Role, jobs: list[tuple[str, Item]], settings: AskSettings,
                  listener: SessionListener, cancel: threading.Event) -> None:
        lower_priority()
        label = jobs[0][0]
        try:
            self.ensure_started(listener)
            for label, item in jobs:
                if cancel.is_set():
                    break  # stopped before this answer began: nothing to show or record
                listener.on_answer_started(label, role)

                def on_text(chunk: str, label: str = label) -> None:
                    listener.on_answer_text(label, role, chunk)

                answer = self.ask(role, item, settings, on_text=on_text, cancel=cancel)
                listener.on_answer_done(label, role, answer, item)
        except Exception as exc:
            listener.on_answer_failed(label, role, one_line(exc))
        finally:
            listener.on_role_finished(role)

    def stop(self) -> None:
        """Stop the answers in flight: each ends at its next token, recorded as 'cancelled'."""
        self._cancel.set()

    def token_shift_async(self, targets: Mapping[str, tuple[str, str | None]], *,
                          check_tokenizer: bool,
                          on_done: Callable[[ShiftOutcome], None]) -> threading.Thread:
        """Score recorded instruct answers under the base model in a thread; `on_done` gets the
        outcome there. `targets` is label -> (generation id, finish reason)."""
        t = threading.Thread(target=lambda: on_done(self._token_shift(targets, check_tokenizer)),
                             name="tunelens-shift", daemon=True)
        t.start()
        return t

    def _token_shift(self, targets: Mapping[str, tuple[str, str | None]],
                     check_tokenizer: bool) -> ShiftOutcome:
        from engine.analysis import shift_for_generation
        from engine.errors import ShiftError
        from engine.run.shift import check_same_tokenizer, compute_shift

        lower_priority()
        found: dict[str, list[Any]] = {}
        notes: dict[str, str] = {}
        try:
            if check_tokenizer:
                check_same_tokenizer(self.models["base"], self.models["instruct"],
                                     self.config.pair)
            ids = [gid for gid, finish in targets.values() if finish != "cancelled"]
            result = None
            if ids:
                result = compute_shift(self.store, self.models_config, self.config.pair,
                                       run_id=self.run_id, models=dict(self.models),
                                       generation_ids=ids)
            for label, (gid, finish) in targets.items():
                rows = shift_for_generation(self.store, gid) if finish != "cancelled" else []
                if rows:
                    found[label] = rows
                elif finish == "cancelled":
                    notes[label] = "a stopped answer is not scored"
                else:
                    skipped = ", ".join(result.skipped) if result and result.skipped else ""
                    notes[label] = f"not scored: {skipped or 'no answer tokens'}"
        except ShiftError as exc:
            return ShiftOutcome(error=str(exc), refused=True)
        except Exception as exc:
            return ShiftOutcome(error=one_line(exc))
        return ShiftOutcome(found=found, notes=notes)

    def close(self) -> None:
        """Stop the answers in flight, wait for them, and close the run (when the app exits)."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        for t in self._threads:
            t.join(timeout=JOIN_TIMEOUT_S)
        if self.run_id:
            # The answers are already written; only the run's end status could be lost.
            with contextlib.suppress(Exception):
                self.finish("completed", wait_s=1.0)  # the app is closing: do not hold it up


def start_session(config: RunConfig, store: Store, listener: SessionListener,
                  factory: Callable[[RunConfig, Store], Session] | None = None,
                  ) -> threading.Thread:
    """Build the session, read its items, then load each role's model, all in the background:
    the listener hears `on_session_ready` (or `on_session_failed`), then each model's progress."""

    def load() -> None:
        try:
            session = (factory or Session)(config, store)
            items = session.load_browse_items()
            names = session.perturbation_names()
        except Exception as exc:
            listener.on_session_failed(one_line(exc))
            return
        listener.on_session_ready(session, items, names)
        for t in session.load_models(listener):
            t.join()

    t = threading.Thread(target=load, name="tunelens-session", daemon=True)
    t.start()
    return t


def lower_priority() -> None:
    """Let the front end's event loop win the CPU from the model threads (Linux: per-thread nice).

    Two models on a small machine keep every core busy; llama.cpp's compute threads are created
    by this thread and inherit its niceness, so the UI thread is scheduled first and key presses
    and redraws are not held up behind a matrix multiply. Generation speed is unchanged when the
    UI is idle.
    """
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, max(current, MODEL_NICE))
    except (AttributeError, OSError):  # not Linux, or not allowed: harmless to skip
        pass


def one_line(exc: BaseException) -> str:
    """An error as the app shows it: its first line, at most 500 characters."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:500]
