"""The compare screen: one question, the base and the instruct answer side by side, live.

`CompareScreen` drives `engine.run.session.Session`, which owns the threads: it loads the items
and one model per role in the background, and asks each question with one thread per model, so
both answers stream at once. The session reports through `tui.bridge.SessionBridge`, which posts
typed messages (`tui.events`) that the `on_*` handlers below apply on the event loop; streamed
text arrives batched, one redraw per pane per flush.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Footer, Input, Select, Switch

from engine.records import MODE_LABELS, MODES, ORIGINAL, ROLES
from engine.run.session import AskSettings, one_line, start_session
from tui import events
from tui.bridge import SessionBridge
from tui.screens.compare_layout import WHICH, CompareLayout, Which
from tui.widgets import ControlPanel, PaneResult, QuestionView, StatusLine

if TYPE_CHECKING:
    from engine.records import Item
    from engine.run.config import RunConfig
    from engine.run.session import Session
    from engine.store.store import Store

MAX_TOKEN_STEPS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
READY_HINT = "Enter asks both models this question · F1 lists every key"
ASK_FIRST = ("Ask a question first (Enter): t then scores the instruct answer under the base "
             "model.")


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
        self.mode: str = config.modes[0] if config.modes else "zero-shot-cot"
        self.chat = config.chat_template
        self.max_tokens = config.decoding.max_tokens
        self.perturbation = ORIGINAL
        self.perturbations: list[str] = []
        self.loaded: dict[str, str] = {}  # role -> model description
        self.failed: dict[str, str] = {}  # role -> error
        self.busy = False
        self.completed = 0  # questions fully answered (or stopped) so far
        self.run_id: str | None = None
        self.last_error: str | None = None
        self._bridge = SessionBridge(self)
        self._active: set[str] = set()  # roles still answering the current question
        self._answered: set[tuple[str, str]] = set()  # (pane, role) that got an answer or error
        # What the user asked for while answers streamed (n, p, a perturbation...): done once
        # the stopped answers have ended, so a pane never shows an old answer under a new question.
        self._after_stop: Callable[[], None] | None = None
        self._variants: dict[tuple[str, str], Item | None] = {}
        self._asked: dict[tuple[str, str], Item] = {}
        self._rng = random.Random()
        self._shut = False
        # Token shift (t): the recorded answers of the last question, and what scoring found.
        self._generated: dict[tuple[str, str], tuple[str, str | None]] = {}  # -> (id, finish)
        self.shifting = False
        self.shift_refusal: str | None = None  # one line, when the pair has two tokenizers
        self._tokenizer_ok = False
        self._shift_token = 0

    # -- layout -------------------------------------------------------------------------------
    @property
    def controls(self) -> ControlPanel:
        return self.query_one(ControlPanel)

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status-line")
        with Horizontal(id="compare-main"):
            with Vertical(id="compare-left"):
                yield from self.compose_panes()
            yield ControlPanel(pair=self.config.pair, dataset=self.config.dataset,
                               mode=self.mode, chat=self.chat, max_tokens=self.max_tokens)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.apply_layout()
        for p in self.panes():
            p.set_status("loading…")
        self.query_one(QuestionView).show_message("Loading the dataset and the models…")
        start_session(self.config, self.store, self._bridge, self._session_factory)
        self._render_status()
        self.pane("original", "base").query_one(".pane-body").focus()

    # -- what the session reports (tui.events, on the event loop) -----------------------------
    def on_session_failed(self, message: events.SessionFailed) -> None:
        self.last_error = message.error
        self.query_one(QuestionView).show_message(message.error, error=True)
        for p in self.panes():
            p.set_status("not loaded", error=True)
        self.notify(message.error, title="Cannot start", severity="error", timeout=10)

    def on_session_ready(self, message: events.SessionReady) -> None:
        self.session = message.session
        self.items = message.items
        self.perturbations = message.perturbations
        self.controls.set_perturbations(self.perturbations)
        for role in ROLES:
            if role not in self.config.roles:
                for which in WHICH:
                    self.pane(which, role).show_empty(f"{role} not loaded (--role)")
        self._show_item()

    def on_model_status(self, message: events.ModelStatus) -> None:
        for which in WHICH:
            self.pane(which, message.role).set_status(message.status)

    def on_model_loaded(self, message: events.ModelLoaded) -> None:
        self.loaded[message.role] = message.description
        for which in WHICH:
            p = self.pane(which, message.role)
            p.set_model(message.name)
            if not p.text:
                p.show_empty(READY_HINT)
            p.set_status(f"ready: {message.description}")
        self._render_status()

    def on_model_failed(self, message: events.ModelFailed) -> None:
        role, error = message.role, message.error
        self.failed[role] = error
        self.last_error = error
        for which in WHICH:
            self.pane(which, role).show_error(f"The {role} model failed to load:\n{error}")
        self.notify(error, title=f"{role} model failed to load", severity="error", timeout=15)

    def on_run_started(self, message: events.RunStarted) -> None:
        self.run_id = message.run_id
        self._render_status()

    def on_answer_started(self, message: events.AnswerStarted) -> None:
        self.pane(message.which, message.role).reset("prompt…")

    def on_text_streamed(self, message: events.TextStreamed) -> None:
        pane = self.pane(message.which, message.role)
        if pane.border_subtitle != "streaming…":
            pane.set_status("streaming…")
        pane.append(message.text)

    def on_answer_finished(self, message: events.AnswerFinished) -> None:
        self._answered.add((message.which, message.role))
        answer = message.answer
        self.pane(message.which, message.role).show_result(
            PaneResult.from_answer(answer, message.gold))
        gid = answer.row.get("generation_id")
        if gid and self.run_id:
            self._generated[(message.which, message.role)] = (
                gid, answer.generation.finish_reason)

    def on_answer_failed(self, message: events.AnswerFailed) -> None:
        self._answered.add((message.which, message.role))
        self.last_error = message.error
        self.pane(message.which, message.role).show_error(message.error)
        self.notify(message.error, title=f"{message.role} failed", severity="error")

    def on_role_finished(self, message: events.RoleFinished) -> None:
        self._active.discard(message.role)
        # A pane stopped before its answer began (Esc while the run opened) says so, and is
        # ready again, instead of waiting at "queued" or "prompt…" for nothing.
        for which, role in list(self._asked):
            if role == message.role and (which, role) not in self._answered:
                del self._asked[(which, role)]
                pane = self.pane(which, role)
                pane.show_empty(READY_HINT)
                pane.set_status("stopped before answering")
        if not self._active:
            self.busy = False
            self.completed += 1
            self._render_status()
            then, self._after_stop = self._after_stop, None
            if then is not None:
                then()

    def _when_stopped(self, then: Callable[[], None], what: str) -> bool:
        """While answers stream, stop them and do `then` once they have ended; True if so.

        The answers on screen belong to the question asked: moving on under them would show
        (and grade) them beside another question.
        """
        if not self.busy:
            return False
        self._after_stop = then
        if self.session is not None:
            self.session.stop()
        self.notify(f"Stopping the answers first, then {what}.", timeout=3)
        return True

    # -- items --------------------------------------------------------------------------------
    @property
    def item(self) -> Item | None:
        return self.items[self.index] if self.items else None

    def variant_of(self, item: Item, name: str) -> Item | None:
        """The variant the user picked: the published one if the workload has it, else made now
        (by the session, once per item and perturbation)."""
        key = (item.item_id, name)
        if key not in self._variants:
            found = None
            if self.session is not None:
                try:
                    found = self.session.variant_of(item, name)
                except Exception as exc:
                    self.notify(one_line(exc), title="perturbation failed", severity="warning")
            self._variants[key] = found
        return self._variants[key]

    def current_items(self) -> dict[Which, Item | None]:
        item = self.item
        if item is None:
            return {}
        variant = None
        if self.perturbation != ORIGINAL:
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
        if self.perturbation != ORIGINAL and variant is None:
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
        if self._when_stopped(lambda: self._move(index), f"item {index % len(self.items) + 1}"):
            return
        self.index = index % len(self.items)
        self.controls.clear_jump()
        self._show_item()

    def action_next_item(self) -> None:
        self._move(self.index + 1)

    def action_previous_item(self) -> None:
        self._move(self.index - 1)

    def action_random_item(self) -> None:
        if self.items:
            self._move(self._rng.randrange(len(self.items)))

    def action_goto_item(self) -> None:
        self.controls.focus_jump()

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
        self.controls.show_mode(mode)
        self._render_status()

    def action_toggle_chat(self) -> None:
        self.set_chat(not self.chat)

    def set_chat(self, on: bool) -> None:
        self.chat = on
        self.controls.show_chat(on)
        self._render_status()

    def action_more_tokens(self) -> None:
        bigger = [s for s in MAX_TOKEN_STEPS if s > self.max_tokens]
        self.set_max_tokens(bigger[0] if bigger else self.max_tokens)

    def action_fewer_tokens(self) -> None:
        smaller = [s for s in MAX_TOKEN_STEPS if s < self.max_tokens]
        self.set_max_tokens(smaller[-1] if smaller else self.max_tokens)

    def set_max_tokens(self, value: int) -> None:
        self.max_tokens = max(1, value)
        self.controls.show_max_tokens(self.max_tokens)
        self._render_status()

    def action_cycle_perturbation(self) -> None:
        options = [ORIGINAL, *self.perturbations]
        nxt = options[(options.index(self.perturbation) + 1) % len(options)] if (
            self.perturbation in options) else ORIGINAL
        self.set_perturbation(nxt)

    def set_perturbation(self, name: str) -> None:
        if self._when_stopped(lambda: self.set_perturbation(name), f"variant {name}"):
            self.controls.show_perturbation(self.perturbation)
            return
        self.perturbation = name
        self.controls.show_perturbation(name)
        self._show_item()

    def action_toggle_quad(self) -> None:
        if self._when_stopped(self.action_toggle_quad, "the 2x2 view"):
            return
        self.quad = not self.quad
        if self.quad and self.perturbation == ORIGINAL and self.perturbations:
            # The 2x2 view needs a variant: pick the first perturbation that has one.
            item = self.item
            for name in self.perturbations:
                if item is not None and self.variant_of(item, name) is not None:
                    self.set_perturbation(name)
                    break
        self._show_item()

    def action_toggle_controls(self) -> None:
        self.controls.pin(not self.controls.display)

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
        if not self.ready or self.session is None:
            pending = [r for r in self.config.roles if r not in self.loaded]
            if self.items and pending and all(r in self.failed for r in pending) and not (
                    self.ready_roles):
                self.notify("No model loaded: see the errors in the panes.", severity="error")
            else:
                self.notify("Still loading the models…", severity="warning")
            return
        jobs = self._jobs()
        if not jobs:
            return
        settings = AskSettings(mode=self.mode, shots=self.config.shots,
                               chat_template=self.chat, max_tokens=self.max_tokens,
                               system_prompt=self.config.system_prompt)
        self.busy = True
        self._asked = {}
        self._answered = set()
        self._generated = {}
        self._shift_token += 1
        for which, it in jobs:
            for role in self.ready_roles:
                self.pane(which, role).reset("queued")
                self._asked[(which, role)] = it
        self._active = set(self.ready_roles)
        self.session.ask_async(self.ready_roles, jobs, settings,  # type: ignore[arg-type]
                               self._bridge)
        self._render_status()

    def _jobs(self) -> list[tuple[Which, Item]]:
        """(pane, item) to ask each model: the item shown, or original and variant in 2x2."""
        items = self.current_items()
        if self.quad:
            if items.get("variant") is None:
                self.notify("No variant for this item: running the original only.",
                            severity="warning")
            return [(w, it) for w, it in items.items() if it is not None]
        it = items.get(self.which)
        return [(self.which, it)] if it is not None else []

    def action_stop(self) -> None:
        if self.busy and self.session is not None:
            self.session.stop()
            self.notify("Stopping…", timeout=2)

    def shutdown(self) -> None:
        """Stop generations in flight and close the session's run (called when the app exits)."""
        if self._shut:
            return
        self._shut = True
        if self.session is not None:
            self.session.close()

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
        if self.step_shift(step):
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
            self.notify(ASK_FIRST, severity="warning")
            return
        self.shifting = True
        for which in targets:
            self.pane(which, "instruct").show_shift_message("scoring under the base model…")
        self._render_status()
        self.session.token_shift_async(targets, check_tokenizer=not self._tokenizer_ok,
                                       on_done=self._bridge.shift_done(self._shift_token))

    def on_token_shift_ready(self, message: events.TokenShiftReady) -> None:
        self.shifting = False
        self._render_status()
        if message.error is not None:
            if message.refused:  # a ShiftError: this pair cannot be scored, now or later
                self.shift_refusal = message.error
                self._show_shift_refusal(message.error)
            else:
                self.last_error = message.error
                self.notify(message.error, title="Token shift failed", severity="error")
                for which in WHICH:
                    self.pane(which, "instruct").show_shift_message(message.error, error=True)
            return
        self._tokenizer_ok = True
        if message.token != self._shift_token:
            return  # a new question was asked meanwhile: these answers are gone
        if not message.found and not message.notes:
            self.notify(ASK_FIRST, severity="warning")
        for which, note in message.notes.items():
            self.pane(which, "instruct").show_shift_message(note)
        for which, rows in message.found.items():
            self.pane(which, "instruct").show_shift(rows)

    def _show_shift_refusal(self, message: str) -> None:
        self.notify(message, title="Token shift refused", severity="warning", timeout=10)
        for which in WHICH:
            pane = self.pane(which, "instruct")
            if pane.display:
                pane.show_shift_message(message, error=True)

    # -- command palette ----------------------------------------------------------------------
    def palette_commands(self) -> Iterable[SystemCommand]:
        """The screen's actions by name (the app adds them to the palette here)."""
        yield SystemCommand("Run", "Ask both models the current question (Enter)",
                            self.action_run)
        yield SystemCommand("Stop", "Stop the generations in flight (Esc)", self.action_stop)
        yield SystemCommand("Next item", "n", self.action_next_item)
        yield SystemCommand("Previous item", "p", self.action_previous_item)
        yield SystemCommand("Random item", "r", self.action_random_item)
        yield SystemCommand("Go to item id", "g", self.action_goto_item)
        for mode in MODES:
            yield SystemCommand(f"Mode: {MODE_LABELS[mode]}", f"Prompt mode {mode}",
                                lambda mode=mode: self.set_mode(mode))
        yield SystemCommand("Toggle chat template", "Instruct model: chat template on/off (c)",
                            self.action_toggle_chat)
        for name in self.perturbations:
            yield SystemCommand(f"Perturbation: {name}", "Show this variant of the item",
                                lambda name=name: self.set_perturbation(name))
        yield SystemCommand("Perturbation: none", "Back to the original item",
                            lambda: self.set_perturbation(ORIGINAL))
        yield SystemCommand("Toggle 2x2 view", "Original vs variant x base vs instruct (2)",
                            self.action_toggle_quad)
        yield SystemCommand("Settings panel", "Show or hide the controls (s)",
                            self.action_toggle_controls)
        yield SystemCommand("Token shift", "Score the instruct answer under the base model, "
                            "then step through its shifted tokens (t)",
                            self.action_token_shift)

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
        if self.perturbation != ORIGINAL:
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
        self.query_one(StatusLine).show_parts(parts, self.size.width - 2)

    def on_resize(self) -> None:
        # The settings panel needs room: shown by default only on wide terminals.
        self.controls.fit(self.size.width)
        self._render_status()
