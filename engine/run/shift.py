"""Token distribution shift, computed: the base model ranks every token of a run's recorded
instruct answers (teacher-forced, engine.inference.teacher) and the ranks go to the store's
`token_shift` table, which engine.analysis.shift summarises.

What the base model sees (`context`):
- "raw" (default, recommended): the base-role prompt of the same item and mode, i.e. the same
  question (and the same few-shot exemplars) as raw text without a chat template, exactly what the
  base model is asked in a run. It is taken from the base answer recorded in the same run, or, for
  zero-shot modes, rendered from the item; few-shot answers without a recorded base prompt are
  skipped (the exemplars are not stored on their own).
- "chat": the instruct prompt verbatim, chat-template control tokens included: the URIAL setup
  in which the base model sees the aligned model's own context.

Needs one tokenizer for both models: the token ids of the instruct answer are fed to the base model
as they are. A pair whose models tokenise differently is refused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.analysis.labels import setting_label
from engine.analysis.shift import classify
from engine.errors import CapabilityError, ShiftError
from engine.inference.teacher import TeacherForcer, piece_text
from engine.records import FEW_SHOT_MODES
from engine.store.store import Store, item_columns, item_from_row

if TYPE_CHECKING:
    from engine.inference.config import ModelsConfig
    from engine.inference.llama import Model

CONTEXTS = ("raw", "chat")
_WRITE_EVERY = 16  # answers per store write


# -- what the base model is shown ---------------------------------------------------------------


@dataclass(frozen=True)
class ShiftTarget:
    """One instruct answer to score, with the context the base model gets."""

    generation_id: str
    output_ids: list[int]
    output: str
    context: str | None  # None: no base-format prompt available
    special: bool
    skip_reason: str = ""


TARGETS_SQL = """
SELECT g.generation_id, g.output_token_ids, g.output, g.prompt, g.chat_template, g.mode, g.shots,
       (SELECT any_value(b.prompt) FROM generations b
        WHERE b.run_id = g.run_id AND b.dataset = g.dataset AND b.item_id = g.item_id
          AND b.role = 'base' AND b.mode = g.mode AND b.shots = g.shots) AS base_prompt,
       {items}
FROM generations g
LEFT JOIN items i ON i.dataset = g.dataset AND i.item_id = g.item_id
WHERE g.run_id = ? AND g.role = 'instruct' AND len(coalesce(g.output_token_ids, [])) > 0
  AND coalesce(g.finish_reason, '') <> 'cancelled'
  {skip_done}
ORDER BY g.mode, g.shots, g.dataset, g.item_id, g.strategy, g.sample_index
"""


def shift_targets(
    store: Store,
    run_id: str,
    *,
    context: str = "raw",
    scorer_sha256: str | None = None,
    limit: int | None = None,
    generation_ids: Sequence[str] | None = None,
) -> list[ShiftTarget]:
    """Instruct answers of a run, with the base-model context for each (see module docstring).

    With `scorer_sha256`, answers already scored by that model are left out; with
    `generation_ids`, only those answers (the app scores the answer it just showed).
    """
    from engine.prompts import render_raw

    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {CONTEXTS}")
    params: list[Any] = [run_id]
    skip_done = ""
    if scorer_sha256:
        skip_done = (
            "AND NOT EXISTS (SELECT 1 FROM token_shift t WHERE t.generation_id = g.generation_id "
            "AND t.scorer_sha256 = ?)"
        )
        params.append(scorer_sha256)
    if generation_ids is not None:
        skip_done += f" AND g.generation_id IN ({', '.join('?' * len(generation_ids)) or 'NULL'})"
        params.extend(generation_ids)
    sql = TARGETS_SQL.format(skip_done=skip_done, items=item_columns("i"))
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    out = []
    for row in store.query(sql, params).rows:
        gid, ids, output, prompt, chat, mode, shots, base_prompt, *item_cols = row
        ids = list(ids or [])
        if context == "chat":
            out.append(ShiftTarget(gid, ids, output or "", prompt, bool(chat)))
            continue
        if not chat:
            # Asked without a chat template: the instruct prompt already is the raw prompt.
            out.append(ShiftTarget(gid, ids, output or "", prompt, False))
        elif base_prompt is not None:
            out.append(ShiftTarget(gid, ids, output or "", base_prompt, False))
        elif mode not in FEW_SHOT_MODES and item_cols[0] is not None:
            text = render_raw(item_from_row(item_cols), mode, []).text
            out.append(ShiftTarget(gid, ids, output or "", text, False))
        else:
            reason = f"no base-format prompt recorded for {setting_label(mode, shots)}"
            out.append(ShiftTarget(gid, ids, output or "", None, False, reason))
    return out


# -- computing and storing ----------------------------------------------------------------------


@dataclass
class ShiftRun:
    """What `compute_shift` did."""

    run_id: str
    scorer: str
    scorer_sha256: str
    answers: int = 0
    tokens: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    truncated: int = 0
    batches: int = 0

    @property
    def shifted_share(self) -> float | None:
        return self.counts["shifted"] / self.tokens if self.tokens else None


def check_same_tokenizer(base: Model, instruct: Model, pair: str) -> None:
    """Refuse (ShiftError) unless both models map every token id to the same bytes."""
    from engine.inference.pairs import same_tokenizer

    a, b = base.info, instruct.info
    if a.n_vocab != b.n_vocab:
        raise ShiftError(
            f"pair '{pair}': token distribution shift needs one tokenizer, but the base "
            f"{a.name} has {a.n_vocab} tokens and the instruct {b.name} has {b.n_vocab} "
            "(different model families)"
        )
    if a.sha256 != b.sha256 and not same_tokenizer(base, instruct):
        raise ShiftError(
            f"pair '{pair}': token distribution shift needs one tokenizer, but {a.name} and "
            f"{b.name} map some token ids to different text"
        )


def precheck_run(store: Store, run_id: str) -> tuple[str | None, str | None]:
    """Refuse early (without loading models) when the run's recorded models differ in vocabulary.

    Returns (pair, instruct sha256) of the run.
    """
    rows = store.query(
        "SELECT rm.role, rm.model_name, m.n_vocab, rm.model_sha256, r.pair FROM run_models rm "
        "JOIN runs r USING (run_id) LEFT JOIN models m USING (model_sha256) WHERE rm.run_id = ?",
        [run_id],
    ).rows
    if not rows:
        raise ShiftError(f"run {run_id} is not in the store")
    by_role = {r[0]: r for r in rows}
    base, inst = by_role.get("base"), by_role.get("instruct")
    if base and inst and base[2] and inst[2] and base[2] != inst[2]:
        raise ShiftError(
            f"run {run_id}: token distribution shift needs one tokenizer, but the base "
            f"{base[1]} has {base[2]} tokens and the instruct {inst[1]} has {inst[2]} "
            "(different model families)"
        )
    return rows[0][4], inst[3] if inst else None


def latest_run(store: Store, pair: str) -> str:
    rows = store.query(
        "SELECT r.run_id FROM runs r WHERE r.pair = ? AND EXISTS (SELECT 1 FROM generations g "
        "WHERE g.run_id = r.run_id AND g.role = 'instruct') ORDER BY r.started_at DESC LIMIT 1",
        [pair],
    ).rows
    if not rows:
        raise ShiftError(f"no run of pair '{pair}' with instruct answers in the store")
    return rows[0][0]


def compute_shift(
    store: Store,
    models_config: ModelsConfig,
    pair: str,
    *,
    run_id: str | None = None,
    limit: int | None = None,
    context: str = "raw",
    force: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    models: dict[str, Model] | None = None,
    generation_ids: Sequence[str] | None = None,
) -> ShiftRun:
    """Score the recorded instruct answers of a run under the pair's base model and store rows.

    `models` (role -> Model) lets a caller that already holds the pair's models (the app) reuse
    them; otherwise both are loaded (the instruct model only to check the tokenizer).
    `generation_ids` restricts the scoring to those answers of the run.
    """
    from engine.inference.pairs import load_pair

    run_id = run_id or latest_run(store, pair)
    _run_pair, instruct_sha = precheck_run(store, run_id)
    # Migrate in a connection of its own: Store._migrate leaves a result open that makes the
    # Arrow `register` of insert_token_shift fail on a store's first write connection.
    store.ensure()
    own = models is None
    if models is None:
        models = dict(load_pair(models_config, pair))
    try:
        base, instruct = models["base"], models["instruct"]
        if not base.capabilities.teacher_forcing:
            raise CapabilityError(
                f"pair '{pair}': token shift needs the base model's rank of every instruct token; "
                f"{base.info.name} ({base.info.source}) cannot give it (no prompt logprobs): "
                "load the base model in-process (a GGUF path) for `tunelens shift`"
            )
        check_same_tokenizer(base, instruct, pair)
        if instruct_sha and instruct.info.sha256 != instruct_sha:
            raise ShiftError(
                f"run {run_id}: its instruct answers come from another model than pair "
                f"'{pair}' instruct {instruct.info.name} (sha256 differs); pick the run's pair"
            )
        if own:
            instruct.close()
        result = ShiftRun(run_id, base.info.name, base.info.sha256)
        targets = shift_targets(
            store,
            run_id,
            context=context,
            scorer_sha256=None if force else base.info.sha256,
            limit=limit,
            generation_ids=generation_ids,
        )
        _score_targets(store, base, targets, result, on_progress)
        return result
    finally:
        if own:
            for m in models.values():
                m.close()


def _score_targets(
    store: Store,
    base: Model,
    targets: list[ShiftTarget],
    result: ShiftRun,
    on_progress: Callable[[int, int], None] | None,
) -> None:
    pieces: dict[int, str] = {}

    def piece(t: int) -> str:
        if t not in pieces:
            pieces[t] = piece_text(base, t)
        return pieces[t]

    n_ctx = base.llm.n_ctx()
    pending: list[dict[str, Any]] = []
    with TeacherForcer(base) as forcer:
        for n, target in enumerate(targets, start=1):
            if on_progress is not None:
                on_progress(n, len(targets))
            if target.context is None:
                result.skipped[target.skip_reason] += 1
                continue
            prompt_ids = base.tokenize(target.context, special=target.special)
            answer = target.output_ids
            room = n_ctx - len(prompt_ids) + 1
            if room < 1:
                result.skipped["prompt longer than the base model's context"] += 1
                continue
            if len(answer) > room:
                answer = answer[:room]
                result.truncated += 1
            scores = forcer.score(prompt_ids, answer)
            result.batches += scores.batches
            for pos, tok in enumerate(answer):
                rank = int(scores.ranks[pos])
                cls = classify(rank)
                result.counts[cls] += 1
                top = int(scores.top_ids[pos])
                pending.append(
                    {
                        "generation_id": target.generation_id,
                        "position": pos,
                        "token_id": int(tok),
                        "token": piece(int(tok)),
                        "rank": rank,
                        "prob": float(scores.probs[pos]),
                        "base_top_id": top,
                        "base_top": piece(top),
                        "base_top_prob": float(scores.top_probs[pos]),
                        "shift": cls,
                        "scorer_sha256": base.info.sha256,
                    }
                )
            result.answers += 1
            result.tokens += len(answer)
            if result.answers % _WRITE_EVERY == 0:
                store.insert_token_shift(pending)
                pending = []
    store.insert_token_shift(pending)
