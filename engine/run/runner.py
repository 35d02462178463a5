"""Ask the two models of a pair the same questions, grade the answers and record them.

`ask()` is one question to one model: render the prompt, stream the answer, grade it, build the
row. Both fronts use it: the app calls it from its workers, one per pane, and `Runner` drives it
over a whole dataset with one thread per model (each `Llama` object is used by one thread only),
so both models progress at once and each keeps its own KV cache for prefix reuse.
"""

from __future__ import annotations

import json
import platform
import queue
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.grading import ExtractLLMGrader, grade
from engine.inference.defaults import DEFAULT_SIDE_BY_SIDE
from engine.inference.engine import Engine
from engine.inference.llama import (
    PromptTooLong,
    engine_version,
    llama_cpp_version,
    share_cpu,
)
from engine.prompts import RenderedPrompt, check_mode, render
from engine.records import FEW_SHOT_MODES, Decoding, Exemplar, Generation, Grade, Item, Role
from engine.run.config import TUNELENS_VERSION, RunConfig
from engine.run.cot_decoding import path_confidence
from engine.store.recorder import RunRecorder
from engine.store.store import Store, SyncResult, generation_key


@dataclass(frozen=True)
class Answer:
    """One graded answer: the row that goes into `generations`, plus its grade."""

    row: dict[str, Any]
    grade: Grade
    generation: Generation
    prompt: RenderedPrompt
    span: tuple[int, int] | None = None  # where the extracted answer sits in the output


def prompt_for(
    model: Engine,
    role: Role,
    item: Item,
    mode: str,
    exemplars: list[Exemplar],
    *,
    chat_template: bool = True,
    system_prompt: str | None = None,
) -> RenderedPrompt:
    """The base model always gets raw text; the instruct model its chat template if it has one.

    A served model whose template tunelens cannot read has the server render the messages; the
    prompt recorded is the text the server rendered.
    """
    chat = role == "instruct" and chat_template
    template = model.info.chat_template if chat else None
    renderer = getattr(model, "chat_renderer", None) if chat and not template else None
    return render(
        item,
        mode,
        exemplars,
        chat_template=template,
        bos_token=model.info.bos_token,
        eos_token=model.info.eos_token,
        system=system_prompt,
        chat_renderer=renderer,
    )


def ask(
    model: Engine,
    role: Role,
    item: Item,
    prompt: RenderedPrompt,
    decoding: Decoding,
    *,
    run_id: str,
    sample_index: int = 0,
    seed: int | None = None,
    grader: str | None = None,
    cancel: threading.Event | None = None,
    on_text: Callable[[str], None] | None = None,
    forced: tuple[int, ...] = (),
    want_margins: bool = False,
) -> Answer:
    seed = decoding.seed + sample_index if seed is None else seed
    dec = with_prompt_stops(decoding, prompt)
    done: Generation | None = None
    for chunk in model.stream(
        prompt.text,
        dec,
        special=prompt.special,
        seed=seed,
        cancel=cancel,
        forced=forced,
        want_margins=want_margins,
    ):
        if chunk.text and on_text is not None:
            on_text(chunk.text)
        done = chunk.done or done
    assert done is not None
    return answer_from(
        model,
        role,
        item,
        prompt,
        decoding,
        done,
        run_id=run_id,
        sample_index=sample_index,
        seed=seed,
        grader=grader,
        want_margins=want_margins,
    )


def with_prompt_stops(decoding: Decoding, prompt: RenderedPrompt) -> Decoding:
    """The decoding actually used: the prompt format's stop sequences, then the user's."""
    return replace(decoding, stop=tuple(dict.fromkeys(prompt.stop + decoding.stop)))


def answer_from(
    model: Engine,
    role: Role,
    item: Item,
    prompt: RenderedPrompt,
    decoding: Decoding,
    done: Generation,
    *,
    run_id: str,
    sample_index: int,
    seed: int,
    grader: str | None = None,
    want_margins: bool = False,
) -> Answer:
    """Grade a finished generation and build its row (shared by `ask` and batched runs)."""
    dec = with_prompt_stops(decoding, prompt)
    g = grade(item, done.text, grader)
    score = path_confidence(done, g.span) if want_margins else None
    key = generation_key(
        run_id,
        item.item_id,
        role,
        prompt.mode,
        prompt.shots,
        prompt.chat,
        decoding.strategy,
        sample_index,
    )
    row = {
        "generation_id": key,
        "run_id": run_id,
        "dataset": item.dataset,
        "item_id": item.item_id,
        "original_id": item.original_id,
        "perturbation": item.perturbation,
        "role": role,
        "model_name": model.info.name,
        "model_sha256": model.info.sha256,
        "mode": prompt.mode,
        "shots": prompt.shots,
        "chat_template": prompt.chat,
        "strategy": decoding.strategy,
        "sample_index": sample_index,
        "prompt": prompt.text,
        "prompt_tokens": done.prompt_tokens,
        "output": done.text,
        "output_token_ids": list(done.token_ids),
        "extracted": g.extracted,
        "correct": g.correct,
        "grader": g.grader,
        "grader_rule": g.rule,
        "tokens": done.tokens,
        "ttft_s": done.ttft_s,
        "gen_time_s": done.gen_time_s,
        "tokens_per_s": done.tokens_per_s,
        "finish_reason": done.finish_reason,
        "seed": seed,
        "temperature": decoding.temperature if decoding.strategy == "sample" else 0.0,
        "top_p": decoding.top_p,
        "top_k": decoding.top_k,
        "max_tokens": decoding.max_tokens,
        "decoding": json.dumps({**dec.as_dict(), "seed": seed}),
        "score": score,
        "llama_cpp_version": engine_version(model),
        "created_at": datetime.now(),
    }
    return Answer(row=row, grade=g, generation=done, prompt=prompt, span=g.span)


def grade_rows(answer: Answer) -> list[dict[str, Any]]:
    g = answer.grade
    return [
        {
            "generation_id": answer.row["generation_id"],
            "grader": g.grader,
            "extracted": g.extracted,
            "correct": g.correct,
            "rule": g.rule,
            "detail": g.detail,
        }
    ]


# -- whole runs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One planned model call."""

    item: Item
    role: Role
    mode: str
    sample_index: int
    key: str


@dataclass
class RunPlan:
    run_id: str
    items: list[Item]
    calls: dict[Role, list[Call]]
    skipped_existing: int
    exemplars: dict[str, list[Exemplar]]  # by mode (few-shot exemplars shared by every item)

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.calls.values())


@dataclass(frozen=True)
class Skipped:
    """A planned answer that could not be made (its prompt does not fit the context)."""

    call: Call
    reason: str


@dataclass(frozen=True)
class Progress:
    """Reported after each answer, for progress bars."""

    role: Role
    answer: Answer | None  # None: the call was skipped (see Runner.skipped)
    done: int
    total: int


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def system_info() -> str:
    try:
        import llama_cpp

        return llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    except Exception:  # informational only
        return ""


def new_run_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


class Runner:
    """A headless batch run over a dataset; resumable by configuration hash."""

    def __init__(
        self,
        config: RunConfig,
        store: Store,
        models: dict[Role, Engine],
        items: list[Item],
        *,
        exemplar_source: Callable[[Item, str], list[Exemplar]],
        kind: str = "headless",
    ) -> None:
        self.config = config
        self.store = store
        self.models = models
        self.items = items
        self.exemplar_source = exemplar_source
        self.kind = kind
        self.cancel = threading.Event()
        self.skipped: list[Skipped] = []
        # extract-llm beside the primary grader (RunConfig.extractor), after each answer, on the
        # thread that writes, while the workers go on generating.
        self.second_grader: ExtractLLMGrader | None = None
        self.second_graded = 0
        self.second_changed = 0  # its verdict differs from the primary's
        self._items_by_key: dict[tuple[str, str], Item] | None = None
        self.recorder: RunRecorder | None = None  # made by start(): the run's journal

    def plan(self, run_id: str) -> RunPlan:
        cfg = self.config
        existing = self.store.existing_keys(run_id)
        calls: dict[Role, list[Call]] = {r: [] for r in cfg.roles}
        skipped = 0
        n_samples = cfg.decoding.samples if cfg.decoding.strategy != "greedy" else 1
        for mode in cfg.modes:
            mode = check_mode(mode)
            shots = cfg.shots if mode in FEW_SHOT_MODES else 0
            for item in self.items:
                for role in cfg.roles:
                    chat = self._uses_chat(role)
                    for s in range(n_samples):
                        key = generation_key(
                            run_id,
                            item.item_id,
                            role,
                            mode,
                            shots,
                            chat,
                            cfg.decoding.strategy,
                            s,
                        )
                        if key in existing:
                            skipped += 1
                            continue
                        calls[role].append(Call(item, role, mode, s, key))
        return RunPlan(run_id, self.items, calls, skipped, {})

    def _uses_chat(self, role: Role) -> bool:
        model = self.models[role]
        renderer = getattr(model, "chat_renderer", None)
        can_chat = bool(model.info.chat_template) or renderer is not None
        return role == "instruct" and self.config.chat_template and can_chat

    def start(self, *, resume: bool) -> RunPlan:
        cfg = self.config
        digest = cfg.config_hash()
        run_id = self.store.find_resumable(digest) if resume else None
        run_id = run_id or new_run_id()
        # Everything the run writes goes through its journal: no holder of the store's file can
        # make it fail or lose an answer (engine/store/recorder.py).
        self.recorder = recorder = RunRecorder(self.store, run_id)
        recorder.start_run(
            {
                "run_id": run_id,
                "config_hash": digest,
                "kind": self.kind,
                "pair": cfg.pair,
                "dataset": cfg.dataset,
                "data_file": cfg.data_file,
                "modes": list(cfg.modes),
                "perturbations": ["+".join(g) for g in cfg.perturb],
                "strategy": cfg.decoding.strategy,
                "config": {**asdict(cfg), "decoding": cfg.decoding.as_dict()},
                "tunelens_version": TUNELENS_VERSION,
                "git_commit": git_commit(),
                "llama_cpp_version": llama_cpp_version(),
                "system_info": system_info(),
                "host": platform.node(),
                "n_planned": None,
            }
        )
        recorder.record_models([(r, m.info) for r, m in self.models.items()])
        recorder.record_items(self.items)
        # In the store before start() returns when the file is free (a front end may read the
        # run at once); otherwise the recorder's thread retries while the run goes on.
        if recorder.flush(wait_s=1.0).waiting or recorder.waiting().entries:
            recorder.kick()
        return self.plan(run_id)

    def finish(self, status: str, *, wait_s: float = 5.0) -> SyncResult:
        """Record the run's end; the result says what still waits in the journal, and for whom."""
        assert self.recorder is not None, "start() first"
        return self.recorder.finish(status, wait_s=wait_s)

    def execute(self, plan: RunPlan) -> Iterator[Progress]:
        """Run the plan; yields progress on the caller's thread, which also does all writing."""
        results: queue.Queue[tuple[Role, Answer | BaseException | None]] = queue.Queue()
        writer = self.recorder
        assert writer is not None and writer.run_id == plan.run_id, "start() first"
        active = [self.models[r] for r in plan.calls if plan.calls[r]]
        share_cpu(active, side_by_side_mode(self.config, active))
        threads = [
            threading.Thread(
                target=self._worker_for(role),
                args=(role, plan.calls[role], plan.run_id, results),
                name=f"tunelens-{role}",
                daemon=True,
            )
            for role in plan.calls
            if plan.calls[role]
        ]
        for t in threads:
            t.start()
        running, done, error = len(threads), 0, None
        try:
            while running:
                role, payload = results.get()
                if payload is None:
                    running -= 1
                    continue
                if isinstance(payload, Skipped):
                    self.skipped.append(payload)
                    done += 1
                    yield Progress(role, None, done, plan.total)
                    continue
                if isinstance(payload, BaseException):
                    error = error or payload
                    self.cancel.set()
                    continue
                writer.add(payload.row, grade_rows(payload))
                self._grade_again(payload, writer)
                done += 1
                yield Progress(role, payload, done, plan.total)
        finally:
            # Normal end, error or Ctrl+C: stop the workers, keep every finished answer.
            self.cancel.set()
            for t in threads:
                t.join(timeout=30.0)
            while True:
                try:
                    _, payload = results.get_nowait()
                except queue.Empty:
                    break
                if isinstance(payload, Answer):
                    writer.add(payload.row, grade_rows(payload))
            # Every answer is in the journal already; bring them into the store if it is free.
            writer.flush(wait_s=1.0)
        if error is not None:
            raise error

    def _grade_again(self, answer: Answer, writer: RunRecorder) -> None:
        """The second grader's verdict on an answer just added (nothing without one)."""
        grader = self.second_grader
        if grader is None:
            return
        if self._items_by_key is None:
            self._items_by_key = {(i.dataset, i.item_id): i for i in self.items}
        row = answer.row
        g = grader(self._items_by_key[(row["dataset"], row["item_id"])], row["output"] or "")
        grade = {"generation_id": row["generation_id"], "grader": g.grader,
                 "extracted": g.extracted, "correct": g.correct, "rule": g.rule,
                 "detail": g.detail}
        writer.add_grades([grade], grader.drain())
        self.second_graded += 1
        self.second_changed += g.correct != answer.grade.correct

    def _worker_for(self, role: Role) -> Callable[..., None]:
        """One answer at a time, several in one llama.cpp batch, or several requests in flight."""
        model = self.models[role]
        if self.concurrency(role) > 1:
            return self._concurrent_worker
        if self.config.parallel_items > 1 and model.capabilities.batched:
            return self._batched_worker
        return self._worker

    def concurrency(self, role: Role) -> int:
        """Requests in flight for a served model: --concurrency, else what the server offers."""
        model = self.models[role]
        if model.capabilities.batched:  # in-process: parallel_items decides
            return 1
        if self.config.concurrency:
            return self.config.concurrency
        return int(getattr(model, "concurrency", 1) or 1)

    def _prepared(
        self, role: Role, calls: Sequence[Call], on_skip: Callable[[Skipped], None]
    ) -> Iterator[tuple[Call, RenderedPrompt, tuple[int, ...]]]:
        """Each call's prompt, and for cot-decoding the forced first token of its branch.

        A prompt longer than the context is reported to `on_skip` and not yielded: nothing is
        recorded for it (a fake wrong answer would bias accuracy), for every decoding path alike.
        """
        model = self.models[role]
        cfg = self.config
        cot = cfg.decoding.strategy == "cot-decoding"
        branches: dict[tuple[str, str], list[tuple[int, float]]] = {}
        for call in calls:
            if self.cancel.is_set():
                return
            exemplars = self.exemplar_source(call.item, call.mode)
            prompt = prompt_for(
                model,
                role,
                call.item,
                call.mode,
                exemplars,
                chat_template=cfg.chat_template,
                system_prompt=cfg.system_prompt,
            )
            try:
                model.budget(len(model.tokenize(prompt.text, special=prompt.special)), cfg.decoding)
            except PromptTooLong as exc:
                on_skip(Skipped(call, str(exc)))
                continue
            forced: tuple[int, ...] = ()
            if cot:
                # Branch k of an item starts with the k-th most likely first token.
                key = (call.item.item_id, call.mode)
                if key not in branches:
                    branches = {
                        key: model.top_first_tokens(
                            prompt.text, cfg.decoding.samples, special=prompt.special
                        )
                    }
                if call.sample_index >= len(branches[key]):
                    continue
                forced = (branches[key][call.sample_index][0],)
            yield call, prompt, forced

    def _ask_call(
        self, role: Role, call: Call, prompt: RenderedPrompt, forced: tuple[int, ...], run_id: str
    ) -> Answer:
        """One planned answer, as every one-answer-per-call worker makes it."""
        cfg = self.config
        return ask(
            self.models[role],
            role,
            call.item,
            prompt,
            cfg.decoding,
            run_id=run_id,
            sample_index=call.sample_index,
            grader=cfg.grader,
            cancel=self.cancel,
            forced=forced,
            want_margins=cfg.decoding.strategy == "cot-decoding",
        )

    def _worker(
        self,
        role: Role,
        calls: Sequence[Call],
        run_id: str,
        results: queue.Queue[tuple[Role, Answer | BaseException | None]],
    ) -> None:
        try:
            skip = lambda s: results.put((role, s))  # noqa: E731
            for call, prompt, forced in self._prepared(role, calls, skip):
                answer = self._ask_call(role, call, prompt, forced, run_id)
                if answer.generation.finish_reason == "cancelled":
                    break  # a half answer is not recorded: a resumed run redoes it
                results.put((role, answer))
        except BaseException as exc:  # reported to the caller's thread
            results.put((role, exc))
        finally:
            results.put((role, None))

    def _concurrent_worker(
        self,
        role: Role,
        calls: Sequence[Call],
        run_id: str,
        results: queue.Queue[tuple[Role, Answer | BaseException | None]],
    ) -> None:
        """Like `_worker`, with up to `concurrency(role)` requests in flight to a server."""
        from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

        n = self.concurrency(role)

        def drain(done: set[Future[Answer]]) -> None:
            for f in done:
                answer = f.result()
                if answer.generation.finish_reason != "cancelled":
                    results.put((role, answer))

        try:
            with ThreadPoolExecutor(n, thread_name_prefix=f"tunelens-{role}") as pool:
                pending: set[Future[Answer]] = set()
                skip = lambda s: results.put((role, s))  # noqa: E731
                for call, prompt, forced in self._prepared(role, calls, skip):
                    while len(pending) >= n:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        drain(done)
                    if self.cancel.is_set():
                        break
                    pending.add(pool.submit(self._ask_call, role, call, prompt, forced, run_id))
                done, _ = wait(pending)
                drain(done)
        except BaseException as exc:  # reported to the caller's thread
            results.put((role, exc))
        finally:
            results.put((role, None))

    def _batched_worker(
        self,
        role: Role,
        calls: Sequence[Call],
        run_id: str,
        results: queue.Queue[tuple[Role, Answer | BaseException | None]],
    ) -> None:
        """Like `_worker`, with `parallel_items` answers in flight in one llama.cpp batch."""
        from engine.inference.batched import BatchedDecoder, Request

        model = self.models[role]
        cfg = self.config
        cot = cfg.decoding.strategy == "cot-decoding"

        def requests() -> Iterator[Request]:
            skip = lambda s: results.put((role, s))  # noqa: E731
            for call, prompt, forced in self._prepared(role, calls, skip):
                yield Request(
                    prompt.text,
                    with_prompt_stops(cfg.decoding, prompt),
                    cfg.decoding.seed + call.sample_index,
                    special=prompt.special,
                    forced=forced,
                    want_margins=cot,
                    tag=(call, prompt),
                )

        try:
            # With 'sequential' pacing one model runs its whole share, then the other.
            with model.answer_turn(), BatchedDecoder(model, cfg.parallel_items) as decoder:
                for request, done in decoder.run(requests(), cancel=self.cancel):
                    call, prompt = request.tag
                    answer = answer_from(
                        model,
                        role,
                        call.item,
                        prompt,
                        cfg.decoding,
                        done,
                        run_id=run_id,
                        sample_index=call.sample_index,
                        seed=request.seed,
                        grader=cfg.grader,
                        want_margins=cot,
                    )
                    results.put((role, answer))
        except BaseException as exc:  # reported to the caller's thread
            results.put((role, exc))
        finally:
            results.put((role, None))


def side_by_side_mode(config: RunConfig, models: Sequence[Engine]) -> str:
    """The run's choice, else models.toml's [engine] side_by_side, else the default."""
    if config.side_by_side:
        return config.side_by_side
    for m in models:
        return m.settings.side_by_side
    return DEFAULT_SIDE_BY_SIDE
