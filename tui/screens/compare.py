"""The compare screen: one question, the base and the instruct answer side by side.

`CompareScreen` runs the models through `engine.run.session.Session`: one thread worker per model
role, each asking its questions in turn, so both answers stream at once. Workers never touch
widgets: they put events on a queue, and a 50 ms timer on the event loop drains it, joining the
text that arrived in between, so a fast stream costs one redraw per pane per tick.

`StoredCompareScreen` shows the same layout for a recorded answer, read from the store.
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, Static, Switch

from tui.widgets import AnswerPane, PaneResult, QuestionView

if TYPE_CHECKING:
    from engine.analysis import TokenShift
    from engine.records import Item
    from engine.run.runner import RunConfig
    from engine.run.session import Session
    from engine.store.browse import CompareSet
    from engine.store.store import Store

Which = Literal["original", "variant"]
ROLES: tuple[str, str] = ("base", "instruct")
WHICH: tuple[Which, Which] = ("original", "variant")
MODES: tuple[str, ...] = ("zero-shot", "zero-shot-cot", "few-shot-cot")
MODE_LABELS = {"zero-shot": "zero-shot", "zero-shot-cot": "zero-shot CoT",
               "few-shot-cot": "k-shot CoT"}
MAX_TOKEN_STEPS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
FLUSH_S = 0.05
NO_PERTURBATION = "original"
READY_HINT = "Enter asks both models this question · F1 lists every key"


class CompareLayout(Screen[None]):
    """Question on top, panes below: two (one item) or four (original/variant x base/instruct)."""

    quad = False
    which: Which = "original"

    def compose_panes(self) -> ComposeResult:
        yield QuestionView(id="question")
        with Container(id="panes"):
            for which in WHICH:
                for role in ROLES:
                    yield AnswerPane(which, role, id=f"pane-{which}-{role}")

    def pane(self, which: str, role: str) -> AnswerPane:
        return self.query_one(f"#pane-{which}-{role}", AnswerPane)

    def panes(self) -> list[AnswerPane]:
        return list(self.query(AnswerPane))

    def apply_layout(self) -> None:
        """Show two panes for the current item, or all four in the 2x2 view."""
        grid = self.query_one("#panes")
        grid.set_class(self.quad, "-quad")
        for p in self.panes():
            p.display = self.quad or p.which == self.which


class CompareScreen(CompareLayout):
    """Ask both models live; every answer is recorded by the engine as a headless one is."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "app.help", "Help"),  # first, so the footer shows it at 80 columns
        Binding("enter,f5", "run", "Run"),
        Binding("escape", "stop", "Stop"),
        Binding("n", "next_item", "Next"),
        Binding("p", "previous_item", "Prev"),
        Binding("r", "random_item", "Random", show=False),
        Binding("g", "goto_item", "Go to id", show=False),
        Binding("m", "cycle_mode", "Mode"),
        Binding("c", "toggle_chat", "Chat"),
        Binding("v", "cycle_perturbation", "Variant"),
        Binding("2", "toggle_quad", "2x2"),
        Binding("plus,equals_sign", "more_tokens", "Max tok +", show=False),
        Binding("minus", "fewer_tokens", "Max tok -", show=False),
        Binding("s", "toggle_controls", "Settings"),
        Binding("t", "token_shift(1)", "Token shift: score the instruct answer, then step",
                show=False),
        Binding("shift+t", "token_shift(-1)", "Token shift: previous shifted token", show=False),
    ]

    def __init__(self, config: RunConfig, store: Store,
                 session_factory: Callable[[RunConfig, Store], Session] | None = None) -> None:
        super().__init__(id="compare")
        self.config = config
        self.store = store
        self._session_factory = session_factory
        self.session: Session | None = None
        self.items: list[Item] = []
        self.index = 0
        self.mode = config.modes[0] if config.modes else "zero-shot-cot"
        self.chat = config.chat_template
        self.max_tokens = config.decoding.max_tokens
        self.perturbation = NO_PERTURBATION
        self.perturbations: list[str] = []
        self.loaded: dict[str, str] = {}  # role -> model description
        self.failed: dict[str, str] = {}  # role -> error
        self.busy = False
        self.completed = 0  # questions fully answered (or stopped) so far
        self.run_id: str | None = None
        self.last_error: str | None = None
        self._events: queue.SimpleQueue[tuple[str, Any, Any]] = queue.SimpleQueue()
        self._cancel = threading.Event()
        self._active: set[str] = set()
        self._variants: dict[tuple[str, str], Item | None] = {}
        self._published: dict[tuple[str, str], Item] = {}
        self._start_lock = threading.Lock()
        self._asked: dict[tuple[str, str], Item] = {}
        self._rng = random.Random()
        self._threads: list[threading.Thread] = []
        self._shut = False
        # Token shift (t): the recorded answers of the last question, and what scoring found.
        self._generated: dict[tuple[str, str], tuple[str, str | None]] = {}  # -> (id, finish)
        self.shifting = False
        self.shift_refusal: str | None = None  # one line, when the pair has two tokenizers
        self._tokenizer_ok = False
        self._shift_token = 0

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="status-line")
        with Horizontal(id="compare-main"):
            with Vertical(id="compare-left"):
                yield from self.compose_panes()
            with VerticalScroll(id="controls"):
                yield Label("Pair", classes="control-label")
                yield Static(self.config.pair, id="ctl-pair", classes="control-value")
                yield Label("Dataset", classes="control-label")
                yield Static(self.config.dataset, id="ctl-dataset", classes="control-value")
                yield Label("Item (id or number, Enter)", classes="control-label")
                yield Input(placeholder="jump to id", id="ctl-jump")
                with Horizontal(classes="control-buttons"):
                    yield Button("◀", id="btn-prev", compact=True, tooltip="previous item (p)")
                    yield Button("▶", id="btn-next", compact=True, tooltip="next item (n)")
                    yield Button("?", id="btn-random", compact=True, tooltip="random item (r)")
                yield Label("Mode", classes="control-label")
                yield Select([(MODE_LABELS[m], m) for m in MODES], value=self.mode,
                             allow_blank=False, id="ctl-mode", compact=True)
                yield Label("Chat template (instruct)", classes="control-label")
                yield Switch(value=self.chat, id="ctl-chat")
                yield Label("Max tokens", classes="control-label")
                yield Input(str(self.max_tokens), type="integer", id="ctl-max-tokens")
                yield Label("Perturbation", classes="control-label")
                yield Select([(NO_PERTURBATION, NO_PERTURBATION)], value=NO_PERTURBATION,
                             allow_blank=False, id="ctl-perturbation", compact=True)
                with Horizontal(classes="control-buttons"):
                    yield Button("Run", id="btn-run", variant="primary", compact=True)
                    yield Button("Stop", id="btn-stop", variant="error", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.apply_layout()
        for p in self.panes():
            p.set_status("loading…")
        self.query_one(QuestionView).show_message("Loading the dataset and the models…")
        self.set_interval(FLUSH_S, self._drain, name="flush")
        self.run_worker(self._load, thread=True, group="load", name="load")
        self._render_status()
        self.pane("original", "base").query_one(".pane-body").focus()

    # -- loading (worker threads) --------------------------------------------------------------
    def _load(self) -> None:
        from engine.perturb import PERTURBATIONS
        from engine.run.session import Session

        try:
            factory = self._session_factory or Session
            session = factory(self.config, self.store)
            workload = session.load_items()
        except Exception as exc:
            self._events.put(("fatal", None, _one_line(exc)))
            return
        names = ["+".join(g) for g in self.config.perturb]
        names += [n for n in PERTURBATIONS if n not in names]
        published = {
            (it.original_id, it.perturbation or ""): it for it in workload.items if it.is_variant
        }
        self._published = published  # type: ignore[assignment]
        originals = [it for it in workload.items if not it.is_variant]
        if not originals:  # a published perturbed set with no originals: browse the variants
            originals = list(workload.items)
        self._events.put(("items", originals, names))
        self.session = session
        threads = []
        for role in self.config.roles:
            t = threading.Thread(target=self._load_role, args=(session, role),
                                 name=f"tunelens-load-{role}", daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()

    def _load_role(self, session: Session, role: str) -> None:
        _lower_priority()

        def status(msg: str) -> None:
            self._events.put(("status", role, msg))

        try:
            model = session.load_model(role, status)  # type: ignore[arg-type]
        except Exception as exc:
            self._events.put(("load-error", role, _one_line(exc)))
            return
        info = model.info
        self._events.put(("loaded", role, f"{info.name}|{info.description}"))

    # -- the event queue, drained on the event loop ---------------------------------------------
    def _drain(self) -> None:
        text: dict[tuple[str, str], list[str]] = {}
        while True:
            try:
                kind, key, payload = self._events.get_nowait()
            except queue.Empty:
                break
            if kind == "text":
                text.setdefault(key, []).append(payload)
                continue
            # Flush pending text before any other event, so order is kept.
            self._flush_text(text)
            text = {}
            self._handle(kind, key, payload)
        self._flush_text(text)

    def _flush_text(self, text: dict[tuple[str, str], list[str]]) -> None:
        for (which, role), parts in text.items():
            pane = self.pane(which, role)
            if pane.border_subtitle != "streaming…":
                pane.set_status("streaming…")
            pane.append("".join(parts))

    def _handle(self, kind: str, key: Any, payload: Any) -> None:
        if kind == "fatal":
            self.last_error = payload
            self.query_one(QuestionView).show_message(payload, error=True)
            for p in self.panes():
                p.set_status("not loaded", error=True)
            self.notify(payload, title="Cannot start", severity="error", timeout=10)
        elif kind == "items":
            self.items = key
            self.perturbations = payload
            sel = self.query_one("#ctl-perturbation", Select)
            sel.set_options([(n, n) for n in [NO_PERTURBATION, *payload]])
            sel.value = NO_PERTURBATION
            for role in ROLES:
                if role not in self.config.roles:
                    for which in WHICH:
                        self.pane(which, role).show_empty(f"{role} not loaded (--role)")
            self._show_item()
        elif kind == "status":
            for which in WHICH:
                self.pane(which, key).set_status(payload)
        elif kind == "loaded":
            name, desc = payload.split("|", 1)
            self.loaded[key] = desc
            for which in WHICH:
                p = self.pane(which, key)
                p.set_model(name)
                if not p.text:
                    p.show_empty(READY_HINT)
                p.set_status(f"ready: {desc}")
            self._render_status()
        elif kind == "load-error":
            self.failed[key] = payload
            self.last_error = payload
            for which in WHICH:
                self.pane(which, key).show_error(f"The {key} model failed to load:\n{payload}")
            self.notify(payload, title=f"{key} model failed to load", severity="error",
                        timeout=15)
        elif kind == "started":
            self.run_id = payload
            self._render_status()
        elif kind == "begin":
            self.pane(*key).reset("prompt…")
        elif kind == "done":
            answer, gold = payload
            self.pane(*key).show_result(PaneResult.from_answer(answer, gold))
            gid = answer.row.get("generation_id")
            if gid and self.run_id:
                self._generated[key] = (gid, answer.generation.finish_reason)
        elif kind == "error":
            self.last_error = payload
            self.pane(*key).show_error(payload)
            self.notify(payload, title=f"{key[1]} failed", severity="error")
        elif kind == "end":
            self._active.discard(key)
            if not self._active:
                self.busy = False
                self.completed += 1
                self._render_status()

    # -- items --------------------------------------------------------------------------------
    @property
    def item(self) -> Item | None:
        return self.items[self.index] if self.items else None

    def variant_of(self, item: Item, name: str) -> Item | None:
        """The variant the user picked: the published one if the workload has it, else made now."""
        key = (item.item_id, name)
        if key not in self._variants:
            found = self._published.get(key)
            if found is None:
                from engine.perturb import perturb

                try:
                    found = perturb(item, name.split("+"), self.config.perturb_seed)
                except Exception as exc:
                    self.notify(_one_line(exc), title="perturbation failed", severity="warning")
                    found = None
            self._variants[key] = found
        return self._variants[key]

    def current_items(self) -> dict[Which, Item | None]:
        item = self.item
        if item is None:
            return {}
        variant = None
        if self.perturbation != NO_PERTURBATION:
            variant = self.variant_of(item, self.perturbation)
        return {"original": item, "variant": variant}

    def _show_item(self) -> None:
        item = self.item
        if item is None:
            self.query_one(QuestionView).show_message("The dataset has no items.", error=True)
            return
        items = self.current_items()
        variant = items.get("variant")
        position = f"{self.index + 1}/{len(self.items)}"
        view = self.query_one(QuestionView)
        if self.perturbation != NO_PERTURBATION and variant is None:
            view.show_item(item.item_id, item.question, item.gold, position)
            view.border_title = f"no '{self.perturbation}' variant for this item"
        elif variant is not None:
            view.show_variant(item.item_id, item.question, variant.item_id, variant.question,
                              self.perturbation, variant.gold, item.gold, position)
        else:
            view.show_item(item.item_id, item.question, item.gold, position)
        self.which = "variant" if variant is not None and not self.quad else "original"
        self.apply_layout()
        if not self.busy:
            # Panes that show an answer to another question go back to "ready".
            for which in WHICH:
                current = items.get(which)
                for role in self.ready_roles:
                    pane = self.pane(which, role)
                    if which == "variant" and current is None:
                        pane.show_empty("pick a perturbation (v) to see a variant here")
                    elif self._asked.get((which, role)) is not current:
                        pane.show_empty(READY_HINT)
                        pane.set_status(f"ready: {self.loaded[role]}")
        self._render_status()

    def _move(self, index: int) -> None:
        if not self.items:
            return
        self.index = index % len(self.items)
        self.query_one("#ctl-jump", Input).value = ""
        self._show_item()

    def action_next_item(self) -> None:
        self._move(self.index + 1)

    def action_previous_item(self) -> None:
        self._move(self.index - 1)

    def action_random_item(self) -> None:
        if self.items:
            self._move(self._rng.randrange(len(self.items)))

    def action_goto_item(self) -> None:
        controls = self.query_one("#controls")
        controls.display = True
        controls.add_class("-user-set")
        self.query_one("#ctl-jump", Input).focus()

    def jump_to(self, text: str) -> bool:
        """Jump to an item by exact id, by number (1-based), or by a unique id fragment."""
        text = text.strip()
        if not text or not self.items:
            return False
        ids = [it.item_id for it in self.items]
        if text in ids:
            self._move(ids.index(text))
            return True
        if text.isdigit() and 1 <= int(text) <= len(ids):
            self._move(int(text) - 1)
            return True
        hits = [i for i, x in enumerate(ids) if text.lower() in x.lower()]
        if len(hits) == 1:
            self._move(hits[0])
            return True
        self.notify(f"no single item matches '{text}' ({len(hits)} matches)",
                    severity="warning")
        return False

    # -- settings -----------------------------------------------------------------------------
    def action_cycle_mode(self) -> None:
        self.set_mode(MODES[(MODES.index(self.mode) + 1) % len(MODES)]
                      if self.mode in MODES else MODES[0])

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        sel = self.query_one("#ctl-mode", Select)
        if sel.value != mode:
            sel.value = mode
        self._render_status()

    def action_toggle_chat(self) -> None:
        self.set_chat(not self.chat)

    def set_chat(self, on: bool) -> None:
        self.chat = on
        sw = self.query_one("#ctl-chat", Switch)
        if sw.value != on:
            sw.value = on
        self._render_status()

    def action_more_tokens(self) -> None:
        bigger = [s for s in MAX_TOKEN_STEPS if s > self.max_tokens]
        self.set_max_tokens(bigger[0] if bigger else self.max_tokens)

    def action_fewer_tokens(self) -> None:
        smaller = [s for s in MAX_TOKEN_STEPS if s < self.max_tokens]
        self.set_max_tokens(smaller[-1] if smaller else self.max_tokens)

    def set_max_tokens(self, value: int) -> None:
        self.max_tokens = max(1, value)
        inp = self.query_one("#ctl-max-tokens", Input)
        if inp.value != str(self.max_tokens):
            inp.value = str(self.max_tokens)
        self._render_status()

    def action_cycle_perturbation(self) -> None:
        options = [NO_PERTURBATION, *self.perturbations]
        nxt = options[(options.index(self.perturbation) + 1) % len(options)] if (
            self.perturbation in options) else NO_PERTURBATION
        self.set_perturbation(nxt)

    def set_perturbation(self, name: str) -> None:
        self.perturbation = name
        sel = self.query_one("#ctl-perturbation", Select)
        if sel.value != name:
            sel.value = name
        self._show_item()

    def action_toggle_quad(self) -> None:
        self.quad = not self.quad
        if self.quad and self.perturbation == NO_PERTURBATION and self.perturbations:
            # The 2x2 view needs a variant: pick the first perturbation that has one.
            item = self.item
            for name in self.perturbations:
                if item is not None and self.variant_of(item, name) is not None:
                    self.set_perturbation(name)
                    break
        self._show_item()

    def action_toggle_controls(self) -> None:
        controls = self.query_one("#controls")
        controls.display = not controls.display
        controls.add_class("-user-set")

    @on(Select.Changed, "#ctl-mode")
    def _mode_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.mode:
            self.set_mode(event.value)

    @on(Select.Changed, "#ctl-perturbation")
    def _perturbation_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.perturbation:
            self.set_perturbation(event.value)

    @on(Switch.Changed, "#ctl-chat")
    def _chat_changed(self, event: Switch.Changed) -> None:
        if event.value != self.chat:
            self.set_chat(event.value)

    @on(Input.Submitted, "#ctl-max-tokens")
    @on(Input.Blurred, "#ctl-max-tokens")
    def _max_tokens_changed(self, event: Input.Submitted | Input.Blurred) -> None:
        try:
            self.set_max_tokens(int(event.value))
        except ValueError:
            self.set_max_tokens(self.max_tokens)
        if isinstance(event, Input.Submitted):
            self._focus_panes()

    @on(Input.Submitted, "#ctl-jump")
    def _jump_submitted(self, event: Input.Submitted) -> None:
        if self.jump_to(event.value):
            self._focus_panes()

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        actions = {
            "btn-prev": self.action_previous_item, "btn-next": self.action_next_item,
            "btn-random": self.action_random_item, "btn-run": self.action_run,
            "btn-stop": self.action_stop,
        }
        if event.button.id in actions:
            actions[event.button.id]()

    def _focus_panes(self) -> None:
        self.pane(self.which, "base").query_one(".pane-body").focus()

    # -- running ------------------------------------------------------------------------------
    @property
    def ready_roles(self) -> list[str]:
        return [r for r in self.config.roles if r in self.loaded]

    @property
    def ready(self) -> bool:
        """Every requested model has loaded (or failed) and the items are in."""
        settled = all(r in self.loaded or r in self.failed for r in self.config.roles)
        return bool(self.items) and settled and bool(self.ready_roles)

    def action_run(self) -> None:
        if self.busy:
            self.notify("Already running: Esc stops it.", severity="warning")
            return
        if self.shifting:
            self.notify("Scoring the token shift: a moment.", severity="warning")
            return
        if not self.ready:
            pending = [r for r in self.config.roles if r not in self.loaded]
            if self.items and pending and all(r in self.failed for r in pending) and not (
                    self.ready_roles):
                self.notify("No model loaded: see the errors in the panes.", severity="error")
            else:
                self.notify("Still loading the models…", severity="warning")
            return
        items = self.current_items()
        jobs: list[tuple[Which, Item]] = []
        if self.quad:
            jobs = [(w, it) for w, it in items.items() if it is not None]  # type: ignore[misc]
            if items.get("variant") is None:
                self.notify("No variant for this item: running the original only.",
                            severity="warning")
        else:
            it = items.get(self.which)
            if it is not None:
                jobs = [(self.which, it)]
        if not jobs:
            return
        from engine.run.session import AskSettings

        settings = AskSettings(mode=self.mode, shots=self.config.shots,
                               chat_template=self.chat, max_tokens=self.max_tokens,
                               system_prompt=self.config.system_prompt)
        self._cancel = threading.Event()
        self.busy = True
        self._asked = {}
        self._generated = {}
        self._shift_token += 1
        for which, it in jobs:
            for role in self.ready_roles:
                self.pane(which, role).reset("queued")
                self._asked[(which, role)] = it
        self._active = set(self.ready_roles)
        # Plain threads, one per model (a Llama object is used by one thread at a time): they
        # only put events on the queue, and shutdown() can join them.
        self._threads = [
            threading.Thread(target=self._ask_role, args=(role, jobs, settings, self._cancel),
                             name=f"tunelens-ask-{role}", daemon=True)
            for role in self.ready_roles
        ]
        for t in self._threads:
            t.start()
        self._render_status()

    def _ensure_run(self) -> None:
        """The session's run is opened on the first question, so browsing makes no empty run."""
        session = self.session
        assert session is not None
        with self._start_lock:
            if session.run_id is None:
                loaded = tuple(r for r in session.config.roles if r in session.models)
                if loaded != session.config.roles:
                    session.config = replace(session.config, roles=loaded)
                run_id = session.start()
                self._events.put(("started", None, run_id))

    def _ask_role(self, role: str, jobs: list[tuple[Which, Item]], settings: Any,
                  cancel: threading.Event) -> None:
        session = self.session
        assert session is not None
        _lower_priority()
        try:
            self._ensure_run()
            for which, item in jobs:
                if cancel.is_set():
                    self._events.put(("begin", (which, role), None))
                    break
                key = (which, role)
                self._events.put(("begin", key, None))

                def on_text(chunk: str, key: tuple[str, str] = key) -> None:
                    self._events.put(("text", key, chunk))

                answer = session.ask(role, item, settings, on_text=on_text,  # type: ignore[arg-type]
                                     cancel=cancel)
                self._events.put(("done", key, (answer, item.gold)))
        except Exception as exc:
            self._events.put(("error", (jobs[0][0], role), _one_line(exc)))
        finally:
            self._events.put(("end", role, None))

    # -- token shift (t) ------------------------------------------------------------------------
    def shown_instruct_answers(self) -> dict[str, tuple[str, str | None]]:
        """which -> (generation id, finish reason) of the recorded instruct answers on screen."""
        items = self.current_items()
        out = {}
        for (which, role), got in self._generated.items():
            pane = self.pane(which, role)
            if role == "instruct" and pane.display and self._asked.get((which, role)) is (
                    items.get(which)):  # type: ignore[call-overload]
                out[which] = got
        return out

    def action_token_shift(self, step: int = 1) -> None:
        """Score the instruct answer just produced under the base model; then step through it."""
        pane = shift_pane(self)
        if pane is not None:
            if pane.step_shift(step) is None:
                self.notify("Every token is the base model's first choice.", timeout=3)
            return
        if self.shifting:
            self.notify("Scoring the token shift…", timeout=3)
            return
        if self.shift_refusal:
            self._show_shift_refusal(self.shift_refusal)
            return
        if self.busy:
            self.notify("Wait for the answers to finish (Esc stops them); then t scores the "
                        "instruct answer.", severity="warning")
            return
        missing = [r for r in ROLES if r not in self.loaded]
        if missing or self.session is None:
            self.notify(f"Token shift needs both models loaded ({', '.join(missing)} is not).",
                        severity="warning")
            return
        targets = self.shown_instruct_answers()
        if not targets and self._tokenizer_ok:
            self.notify("Ask a question first (Enter): t then scores the instruct answer under "
                        "the base model.", severity="warning")
            return
        self.shifting = True
        for which in targets:
            self.pane(which, "instruct").show_shift_message("scoring under the base model…")
        self._render_status()
        self._compute_shift(targets, self._shift_token)

    @work(thread=True, exclusive=True, group="shift")
    def _compute_shift(self, targets: dict[str, tuple[str, str | None]], token: int) -> None:
        from engine.analysis import shift_for_generation
        from engine.errors import ShiftError
        from engine.run.shift import check_same_tokenizer, compute_shift

        session = self.session
        assert session is not None
        _lower_priority()
        found: dict[str, list[Any]] = {}
        notes: dict[str, str] = {}
        try:
            if not self._tokenizer_ok:
                check_same_tokenizer(session.models["base"], session.models["instruct"],
                                     self.config.pair)
            ids = [gid for gid, finish in targets.values() if finish != "cancelled"]
            result = None
            if ids:
                result = compute_shift(self.store, session.models_config, self.config.pair,
                                       run_id=self.run_id, models=dict(session.models),
                                       generation_ids=ids)
            for which, (gid, finish) in targets.items():
                rows = shift_for_generation(self.store, gid) if finish != "cancelled" else []
                if rows:
                    found[which] = rows
                elif finish == "cancelled":
                    notes[which] = "a stopped answer is not scored"
                else:
                    skipped = ", ".join(result.skipped) if result and result.skipped else ""
                    notes[which] = f"not scored: {skipped or 'no answer tokens'}"
        except ShiftError as exc:
            self.app.call_from_thread(self._shift_finished, token, {}, {}, str(exc), True)
            return
        except Exception as exc:
            self.app.call_from_thread(self._shift_finished, token, {}, {}, _one_line(exc), False)
            return
        self.app.call_from_thread(self._shift_finished, token, found, notes, None, False)

    def _shift_finished(self, token: int, found: dict[str, list[Any]], notes: dict[str, str],
                        error: str | None, refused: bool) -> None:
        self.shifting = False
        self._render_status()
        if error is not None:
            if refused:  # a ShiftError: this pair cannot be scored, now or later
                self.shift_refusal = error
                self._show_shift_refusal(error)
            else:
                self.last_error = error
                self.notify(error, title="Token shift failed", severity="error")
                for which in WHICH:
                    self.pane(which, "instruct").show_shift_message(error, error=True)
            return
        self._tokenizer_ok = True
        if token != self._shift_token:
            return  # a new question was asked meanwhile: these answers are gone
        if not found and not notes:
            self.notify("Ask a question first (Enter): t then scores the instruct answer under "
                        "the base model.", severity="warning")
        for which, note in notes.items():
            self.pane(which, "instruct").show_shift_message(note)
        for which, rows in found.items():
            self.pane(which, "instruct").show_shift(rows)

    def _show_shift_refusal(self, message: str) -> None:
        self.notify(message, title="Token shift refused", severity="warning", timeout=10)
        for which in WHICH:
            pane = self.pane(which, "instruct")
            if pane.display:
                pane.show_shift_message(message, error=True)

    def action_stop(self) -> None:
        if self.busy:
            self._cancel.set()
            self.notify("Stopping…", timeout=2)

    def shutdown(self) -> None:
        """Stop generations in flight and close the session's run (called when the app exits)."""
        if self._shut:
            return
        self._shut = True
        self._cancel.set()
        for t in self._threads:
            t.join(timeout=10)
        if self.session is not None and self.session.run_id:
            # The answers are already written; only the run's end status could be lost.
            with contextlib.suppress(Exception):
                self.session.finish("completed")

    # -- status line --------------------------------------------------------------------------
    def _render_status(self) -> None:
        if not self.is_mounted:
            return
        item = self.item
        # (priority, text): the lowest priorities are dropped first when the line is too long.
        parts: list[tuple[int, str]] = [
            (9, f"[b]{self.config.pair}[/b]"),
            (2, self.config.dataset),
            (8, f"item {self.index + 1}/{len(self.items)}" if item else "no items"),
            (9, f"[b]{MODE_LABELS.get(self.mode, self.mode)}[/b]"),
            (7, f"chat {'on' if self.chat else 'off'}"),
            (6, f"max {self.max_tokens}"),
        ]
        if self.perturbation != NO_PERTURBATION:
            parts.append((7, f"variant {self.perturbation}"))
        if self.quad:
            parts.append((7, "2x2"))
        if self.busy:
            parts.append((9, "[reverse] running [/reverse]"))
        elif self.shifting:
            parts.append((9, "[reverse] token shift… [/reverse]"))
        elif len(self.loaded) + len(self.failed) < len(self.config.roles):
            parts.append((9, "loading models…"))
        if self.run_id:
            parts.append((1, f"run {self.run_id}"))
        width = max(20, self.size.width - 2)
        while len(parts) > 1:
            line = " · ".join(t for _, t in parts)
            if Text.from_markup(line).cell_len <= width:
                break
            parts.remove(min(parts, key=lambda p: p[0]))
        self.query_one("#status-line", Static).update(" · ".join(t for _, t in parts))

    def on_resize(self) -> None:
        # The settings panel needs room: shown by default only on wide terminals.
        controls = self.query_one("#controls")
        if not controls.has_class("-user-set"):
            controls.display = self.size.width >= 120
        self._render_status()


class StoredCompareScreen(CompareLayout):
    """A recorded answer and its counterparts, in the compare layout, without running a model."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "app.help", "Help"),
        Binding("escape,backspace", "back", "Back"),
        Binding("2", "toggle_quad", "2x2"),
        Binding("t", "step_shift(1)", "Next shifted token", show=False),
        Binding("shift+t", "step_shift(-1)", "Previous shifted token", show=False),
    ]

    def __init__(self, data: CompareSet,
                 shifts: dict[str, list[TokenShift]] | None = None) -> None:
        super().__init__(id="stored-compare")
        self.data = data
        self.which = data.focus
        self.shifts = shifts or {}  # generation_id -> its token shift (instruct answers)

    def compose(self) -> ComposeResult:
        yield Static(id="status-line")
        with Vertical(id="compare-left"):
            yield from self.compose_panes()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        d = self.data
        first = next(iter(d.answers.values()), None)  # run and mode are the same for all
        status = ["[b]recorded[/b]"]
        if first is not None:
            status += [f"run {first.run_id}", MODE_LABELS.get(first.mode, first.mode),
                       "chat on (instruct)" if any(a.chat_template for a in d.answers.values())
                       else "chat off"]
        if self.shifts:
            status.append("token shift (t)")
        self.query_one("#status-line", Static).update(" · ".join(status))
        view = self.query_one(QuestionView)
        if d.variant is not None and (d.focus == "variant" or self.quad):
            view.show_variant(d.original.item_id, d.original.question, d.variant.item_id,
                              d.variant.question, d.variant.perturbation or "variant",
                              d.variant.gold, d.original.gold)
        else:
            view.show_item(d.original.item_id, d.original.question, d.original.gold)
        gold = {"original": d.original.gold, "variant": d.variant.gold if d.variant else None}
        for which in WHICH:
            for role in ROLES:
                pane = self.pane(which, role)
                ans = d.answers.get((which, role))
                if ans is None:
                    pane.show_empty("no recorded answer")
                else:
                    pane.set_model(ans.model_name or "")
                    pane.show_result(PaneResult.from_stored(ans, gold[which]))
                    if ans.generation_id in self.shifts:
                        pane.show_shift(self.shifts[ans.generation_id])
                if ans is not None and ans.generation_id == d.selected:
                    pane.add_class("-selected")
        self.apply_layout()

    def action_step_shift(self, step: int) -> None:
        pane = shift_pane(self)
        if pane is None:
            self.notify("No token shift for the answers shown: `tunelens shift` scores a run.",
                        severity="warning")
            return
        if pane.step_shift(step) is None:
            self.notify("Every token is the base model's first choice.", timeout=3)

    def action_toggle_quad(self) -> None:
        if self.data.variant is None:
            self.notify("No variant of this item was recorded in this run.", severity="warning")
            return
        self.quad = not self.quad
        self.on_mount()

    def action_back(self) -> None:
        self.dismiss(None)


def shift_pane(screen: CompareLayout) -> AnswerPane | None:
    """The pane `t` steps through: the focused one if it has token shift, else the selected
    answer's, else the first shown with one."""
    shown = [p for p in screen.panes() if p.display and p.shifts]
    for p in shown:
        if p.has_focus_within:
            return p
    for p in shown:
        if p.has_class("-selected"):
            return p
    return shown[0] if shown else None


MODEL_NICE = 5


def _lower_priority() -> None:
    """Let the event loop win the CPU from the model threads (Linux: per-thread nice).

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


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:500]
