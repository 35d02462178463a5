"""Token distribution shift (URIAL, Lin et al. 2023): which of the instruct model's answer tokens
the base model would also have chosen.

For each recorded instruct answer o_1..o_T, the base model is teacher-forced on the same question
followed by o_1..o_{t-1}, and the rank of o_t in its next-token distribution is recorded:
rank 1 = unshifted, 2-3 = marginal, above 3 = shifted. Shifted tokens are what tuning added; if
they are few and mostly style words, tuning changed how the model talks more than what it knows.

What the base model sees (`context`):
- "raw" (default, recommended): the base-role prompt of the same item and mode, i.e. the same
  question (and the same few-shot exemplars) as raw text without a chat template, exactly what the
  base model is asked in a run. It is taken from the base answer recorded in the same run, or, for
  zero-shot modes, rendered from the item; few-shot answers without a recorded base prompt are
  skipped (the exemplars are not stored on their own).
- "chat": the instruct prompt verbatim, chat-template control tokens included: the URIAL setup
  in which the base model sees the aligned model's own context.

How: one llama.cpp batch per answer (the prompt suffix not already in the KV cache, then the answer
tokens) with logits requested for every answer position, read with `llama_get_logits_ith`; no
`logits_all`, no per-token decode. Consecutive answers that share a prompt prefix (few-shot
exemplars) reuse the cached prefix. Only when prompt + answer exceed the context's batch size is
the work split into several batches.

Needs one tokenizer for both models: the token ids of the instruct answer are fed to the base model
as they are. A pair whose models tokenise differently is refused.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.analysis import stats
from engine.analysis.report import ReportFilters, ReportTable, pct, pct_ci, setting_label
from engine.errors import ShiftError

if TYPE_CHECKING:
    from engine.inference.config import ModelsConfig
    from engine.inference.llama import Model
    from engine.store.store import Store

SHIFT_CLASSES = ("unshifted", "marginal", "shifted")
CONTEXTS = ("raw", "chat")
POSITION_BUCKETS: tuple[tuple[int, int | None], ...] = (
    (0, 5),
    (5, 10),
    (10, 20),
    (20, 50),
    (50, 100),
    (100, None),
)
TOP_TOKENS = 20
MAX_ANSWER_ROWS = 40
_WRITE_EVERY = 16  # answers per store write
_HEX_RE = re.compile(r"(?:<0x[0-9A-F]{2}>)+")


def classify(rank: int) -> str:
    """URIAL's classes: rank 1 unshifted, 2-3 marginal, above 3 shifted."""
    if rank < 1:
        raise ValueError(f"ranks start at 1, got {rank}")
    return "unshifted" if rank == 1 else "marginal" if rank <= 3 else "shifted"


# -- teacher forcing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PositionScores:
    """The base model's view of each answer token (arrays of length T, one entry per token)."""

    ranks: np.ndarray  # rank of the answer token: 1 + number of tokens with a higher logit
    probs: np.ndarray  # its probability
    top_ids: np.ndarray  # the base model's most likely token
    top_probs: np.ndarray
    batches: int  # llama_decode calls used (1 unless the text exceeded the batch size)


class TeacherForcer:
    """Scores answers under one model, keeping the KV cache of the previous prompt.

    Use as a context manager: it holds the model's lock (one caller at a time) and leaves the
    context empty and the `Llama` wrapper reset on exit, so the wrapper's own prefix cache never
    sees tokens it did not put there.
    """

    def __init__(self, model: Model) -> None:
        self.model = model
        self._cached: list[int] = []
        self._batch: Any = None
        self._n_batch = 0
        # Model serialises its own calls with this lock; scoring must not interleave with them.
        self._lock: threading.Lock = model._lock

    def __enter__(self) -> TeacherForcer:
        import llama_cpp

        self._lock.acquire()
        try:
            llm = self.model.llm
            self._n_batch = int(llama_cpp.llama_n_batch(llm.ctx))
            self._batch = llama_cpp.llama_batch_init(self._n_batch, 0, 1)
            self._clear()
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        import llama_cpp

        try:
            self._clear()
            if self._batch is not None:
                llama_cpp.llama_batch_free(self._batch)
                self._batch = None
        finally:
            self._lock.release()

    def _clear(self) -> None:
        import llama_cpp

        llm = self.model.llm
        mem = llama_cpp.llama_get_memory(llm.ctx)
        if mem is not None:
            llama_cpp.llama_memory_clear(mem, True)
        llm.reset()
        self._cached = []

    def score(self, prompt_ids: Sequence[int], answer_ids: Sequence[int]) -> PositionScores:
        """Teacher-force `answer_ids` after `prompt_ids`; row t is the distribution that predicted
        answer token t."""
        import llama_cpp

        if self._batch is None:
            raise RuntimeError("use TeacherForcer as a context manager")
        if not prompt_ids or not answer_ids:
            raise ValueError("need at least one prompt token and one answer token")
        llm = self.model.llm
        ctx = llm.ctx
        n_vocab = llm.n_vocab()
        # The last answer token is only predicted, never evaluated.
        tokens = [*prompt_ids, *answer_ids[:-1]]
        first_out = len(prompt_ids) - 1  # its logits predict answer token 0
        if len(tokens) > llm.n_ctx():
            raise ValueError(f"prompt + answer ({len(tokens)} tokens) exceed the context")
        common = 0
        for a, b in zip(self._cached, tokens, strict=False):
            if a != b:
                break
            common += 1
        keep = min(common, first_out)
        mem = llama_cpp.llama_get_memory(ctx)
        if keep < len(self._cached) and not llama_cpp.llama_memory_seq_rm(mem, 0, keep, -1):
            llama_cpp.llama_memory_clear(mem, True)
            keep = 0
        self._cached = tokens[:keep]

        T = len(answer_ids)
        ranks = np.empty(T, dtype=np.int64)
        probs = np.empty(T, dtype=np.float64)
        top_ids = np.empty(T, dtype=np.int64)
        top_probs = np.empty(T, dtype=np.float64)
        answer = np.asarray(answer_ids, dtype=np.int64)
        batch = self._batch
        calls = 0
        pos = keep
        while pos < len(tokens):
            chunk = tokens[pos : pos + self._n_batch]
            outputs: list[int] = []  # batch index -> answer index
            for j, tok in enumerate(chunk):
                p = pos + j
                batch.token[j] = tok
                batch.pos[j] = p
                batch.n_seq_id[j] = 1
                batch.seq_id[j][0] = 0
                wanted = p >= first_out
                batch.logits[j] = 1 if wanted else 0
                if wanted:
                    outputs.append(j)
            batch.n_tokens = len(chunk)
            rc = llama_cpp.llama_decode(ctx, batch)
            calls += 1
            if rc != 0:
                self._clear()
                raise RuntimeError(f"llama_decode returned {rc}")
            self._cached.extend(chunk)
            if outputs:
                rows = np.empty((len(outputs), n_vocab), dtype=np.float32)
                for r, j in enumerate(outputs):
                    ptr = llama_cpp.llama_get_logits_ith(ctx, j)
                    rows[r] = np.ctypeslib.as_array(ptr, shape=(n_vocab,))
                idx = np.asarray([pos + j - first_out for j in outputs])
                _rank_rows(rows, answer[idx], idx, ranks, probs, top_ids, top_probs)
            pos += len(chunk)
        return PositionScores(ranks, probs, top_ids, top_probs, calls)


def _rank_rows(
    rows: np.ndarray,
    targets: np.ndarray,
    idx: np.ndarray,
    ranks: np.ndarray,
    probs: np.ndarray,
    top_ids: np.ndarray,
    top_probs: np.ndarray,
) -> None:
    """Rank (ties favour the target), probability, and the top token of each logit row."""
    target_logits = rows[np.arange(len(rows)), targets]
    ranks[idx] = (rows > target_logits[:, None]).sum(axis=1) + 1
    top = rows.argmax(axis=1)
    hi = rows[np.arange(len(rows)), top].astype(np.float64)
    z = np.exp(rows.astype(np.float64) - hi[:, None]).sum(axis=1)
    probs[idx] = np.exp(target_logits.astype(np.float64) - hi) / z
    top_ids[idx] = top
    top_probs[idx] = 1.0 / z


# -- token text ---------------------------------------------------------------------------------


def piece_text(model: Model, token_id: int) -> str:
    """A token's text; bytes that are not valid UTF-8 on their own are written <0xNN> (lossless:
    a multi-byte character split over two tokens can be put back together)."""
    raw = model.llm.detokenize([token_id])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(f"<0x{b:02X}>" for b in raw)


def piece_bytes(text: str) -> bytes:
    if text and _HEX_RE.fullmatch(text):
        return bytes(int(text[i + 3 : i + 5], 16) for i in range(0, len(text), 6))
    return text.encode("utf-8")


def char_spans(pieces: Sequence[str], output: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of each token in `output`.

    Token bytes are accumulated; a character split over tokens belongs to the token that
    completes it (the others get an empty span). Offsets never run past the output.
    """
    spans = []
    raw = b""
    prev = 0
    for piece in pieces:
        raw += piece_bytes(piece)
        end = min(len(raw.decode("utf-8", errors="ignore")), len(output))
        spans.append((min(prev, end), end))
        prev = end
    return spans


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
       i.dataset, i.item_id, i.question, i.gold, i.answer_type, i.fields
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
    import json

    from engine.prompts import render_raw
    from engine.records import Item

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
    sql = TARGETS_SQL.format(skip_done=skip_done)
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
        elif mode != "few-shot-cot" and item_cols[0] is not None:
            dataset, item_id, question, gold, answer_type, fields_json = item_cols
            item = Item(
                dataset=dataset,
                item_id=item_id,
                question=question or "",
                gold=gold or "",
                answer_type=answer_type or "number",
                fields=json.loads(fields_json) if fields_json else {},
            )
            text = render_raw(item, mode, []).text
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


# -- reading back ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenShift:
    """One instruct answer token under the base model; start/end index the answer's text."""

    position: int
    token_id: int
    token: str
    start: int
    end: int
    rank: int
    prob: float
    base_top_id: int
    base_top: str
    base_top_prob: float
    shift: str  # unshifted, marginal, shifted


def shift_for_generation(store: Store, generation_id: str) -> list[TokenShift]:
    """The stored token shift of one instruct answer, with character offsets for colouring.

    Empty when the answer has not been scored (`tunelens shift`).
    """
    out = store.query("SELECT output FROM generations WHERE generation_id = ?", [generation_id])
    if not out.rows:
        return []
    output = out.rows[0][0] or ""
    rows = store.query(
        "SELECT position, token_id, token, rank, prob, base_top_id, base_top, base_top_prob, "
        "shift FROM token_shift WHERE generation_id = ? ORDER BY position",
        [generation_id],
    ).rows
    spans = char_spans([r[2] or "" for r in rows], output)
    return [
        TokenShift(r[0], r[1], display_token(r[2] or ""), s, e, r[3], r[4], r[5],
                   display_token(r[6] or ""), r[7], r[8])
        for r, (s, e) in zip(rows, spans, strict=True)
    ]


def display_token(text: str) -> str:
    """Token text for people: partial UTF-8 bytes shown as one replacement character."""
    return _HEX_RE.sub("\ufffd", text)


# -- report ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerShift:
    generation_id: str
    pair: str
    dataset: str
    item_id: str
    variant: str
    setting: str
    strategy: str
    tokens: int
    unshifted: int
    marginal: int
    shifted: int

    @property
    def shifted_share(self) -> float:
        return self.shifted / self.tokens if self.tokens else 0.0


@dataclass(frozen=True)
class ShiftSummary:
    pair: str
    dataset: str
    variant: str
    setting: str
    answers: int
    tokens: int
    unshifted: float
    marginal: float
    shifted: float
    mean_answer_shifted: float | None  # mean over answers of each answer's shifted share
    answer_low: float | None
    answer_high: float | None


@dataclass(frozen=True)
class PositionShift:
    bucket: str
    tokens: int
    unshifted: float
    marginal: float
    shifted: float


@dataclass(frozen=True)
class TopToken:
    token: str
    shifted: int
    occurrences: int
    share_shifted: float
    base_instead: str  # the base model's most frequent top choice where this token was shifted


@dataclass
class ShiftReport:
    answers: list[AnswerShift]
    summary: list[ShiftSummary]
    positions: list[PositionShift]
    top_tokens: list[TopToken]


SHIFT_SQL = """
SELECT t.generation_id, coalesce(r.pair, '?'), g.dataset, g.item_id,
       coalesce(g.perturbation, 'original'), g.mode, coalesce(g.shots, 0), g.strategy,
       t.position, t.token, t.shift, t.base_top
FROM token_shift t JOIN generations g USING (generation_id) JOIN runs r ON r.run_id = g.run_id
WHERE {where}
ORDER BY t.generation_id, t.position
"""


def bucket_label(lo: int, hi: int | None) -> str:
    return f"{lo}+" if hi is None else f"{lo}-{hi - 1}"


def shift_report(store: Store, filters: ReportFilters) -> ShiftReport | None:
    """Shift of the scored answers under the filters; None when nothing was scored."""
    where, params = filters.where()
    rows = store.query(SHIFT_SQL.format(where=where), params).rows
    if not rows:
        return None
    per_answer: dict[str, list[Any]] = {}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    positions: dict[int, Counter[str]] = defaultdict(Counter)
    token_total: Counter[str] = Counter()
    token_shifted: Counter[str] = Counter()
    instead: dict[str, Counter[str]] = defaultdict(Counter)
    for gid, pair, dataset, item, variant, mode, shots, strategy, pos, tok, cls, top in rows:
        per_answer.setdefault(gid, [pair, dataset, item, variant, setting_label(mode, shots),
                                    strategy])
        counts[gid][cls] += 1
        b = next(i for i, (lo, hi) in enumerate(POSITION_BUCKETS) if hi is None or pos < hi)
        positions[b][cls] += 1
        shown = display_token(tok or "")
        token_total[shown] += 1
        if cls == "shifted":
            token_shifted[shown] += 1
            instead[shown][display_token(top or "")] += 1
    answers = [
        AnswerShift(gid, *meta, sum(counts[gid].values()), counts[gid]["unshifted"],
                    counts[gid]["marginal"], counts[gid]["shifted"])
        for gid, meta in per_answer.items()
    ]
    groups: dict[tuple[str, ...], list[AnswerShift]] = defaultdict(list)
    for a in answers:
        groups[(a.pair, a.dataset, a.variant, a.setting)].append(a)
    summary = []
    for (pair, dataset, variant, setting), group in sorted(groups.items()):
        total = sum(a.tokens for a in group)
        ci = stats.mean_ci([a.shifted_share for a in group], resamples=filters.resamples,
                           seed=filters.seed)
        summary.append(
            ShiftSummary(
                pair, dataset, variant, setting, len(group), total,
                sum(a.unshifted for a in group) / total, sum(a.marginal for a in group) / total,
                sum(a.shifted for a in group) / total, ci.estimate, ci.low, ci.high,
            )
        )
    pos_rows = []
    for b, (lo, hi) in enumerate(POSITION_BUCKETS):
        c = positions.get(b)
        if not c:
            continue
        total = sum(c.values())
        pos_rows.append(
            PositionShift(bucket_label(lo, hi), total, c["unshifted"] / total,
                          c["marginal"] / total, c["shifted"] / total)
        )
    top = [
        TopToken(tok, n, token_total[tok], n / token_total[tok], instead[tok].most_common(1)[0][0])
        for tok, n in token_shifted.most_common(TOP_TOKENS)
    ]
    return ShiftReport(answers, summary, pos_rows, top)


def _show(token: str) -> str:
    return repr(token)[1:-1]


def shift_tables(report: ShiftReport) -> list[ReportTable]:
    """Report tables: per setting, by position, most shifted tokens, and per answer."""
    from dataclasses import asdict

    def raw(rows: Sequence[Any]) -> tuple[list[str], list[list[Any]]]:
        if not rows:
            return [], []
        cols = list(asdict(rows[0]))
        return cols, [list(asdict(r).values()) for r in rows]

    cols, rows = raw(report.summary)
    summary = ReportTable(
        "shift",
        "token distribution shift (instruct answer tokens ranked by the base model)",
        cols,
        rows,
        ["dataset", "variant", "setting", "answers", "tokens", "unshifted", "marginal",
         "shifted", "shifted per answer [95% CI]"],
        [
            [s.dataset, s.variant, s.setting, str(s.answers), str(s.tokens), pct(s.unshifted),
             pct(s.marginal), pct(s.shifted),
             pct_ci(s.mean_answer_shifted, s.answer_low, s.answer_high)]
            for s in report.summary
        ],
        "rank 1 unshifted, 2-3 marginal, >3 shifted (URIAL); CI: bootstrap over answers",
        set(range(3, 9)),
    )
    cols, rows = raw(report.positions)
    positions = ReportTable(
        "shift_positions",
        "token shift by answer position",
        cols,
        rows,
        ["positions", "tokens", "unshifted", "marginal", "shifted"],
        [[p.bucket, str(p.tokens), pct(p.unshifted), pct(p.marginal), pct(p.shifted)]
         for p in report.positions],
        "",
        {1, 2, 3, 4},
    )
    cols, rows = raw(report.top_tokens)
    top = ReportTable(
        "shift_tokens",
        f"most often shifted tokens (top {TOP_TOKENS})",
        cols,
        rows,
        ["token", "shifted", "occurrences", "shifted share", "base would say"],
        [[_show(t.token), str(t.shifted), str(t.occurrences), pct(t.share_shifted),
          _show(t.base_instead)] for t in report.top_tokens],
        "" if report.top_tokens else "no shifted tokens",
        {1, 2, 3},
    )
    answer_cols = ["generation_id", "pair", "dataset", "item_id", "variant", "setting",
                   "strategy", "tokens", "unshifted", "marginal", "shifted", "shifted_share"]
    answer_rows = [
        [a.generation_id, a.pair, a.dataset, a.item_id, a.variant, a.setting, a.strategy,
         a.tokens, a.unshifted, a.marginal, a.shifted, a.shifted_share]
        for a in report.answers
    ]
    shown = report.answers[:MAX_ANSWER_ROWS]
    answers = ReportTable(
        "shift_answers",
        "token shift per answer",
        answer_cols,
        answer_rows,
        ["generation", "item", "variant", "setting", "tokens", "shifted", "shifted share"],
        [[a.generation_id[:12], a.item_id, a.variant, a.setting, str(a.tokens), str(a.shifted),
          pct(a.shifted_share)] for a in shown],
        f"first {MAX_ANSWER_ROWS} of {len(report.answers)} answers (all in csv/json)"
        if len(report.answers) > MAX_ANSWER_ROWS
        else "",
        {4, 5, 6},
    )
    return [summary, positions, top, answers]
