"""Token distribution shift (URIAL, Lin et al. 2023): which of the instruct model's answer tokens
the base model would also have chosen, summarised from the ranks stored in `token_shift`.

Each recorded instruct answer token o_t has the rank it gets in the base model's next-token
distribution when the base model is teacher-forced on the question and o_1..o_{t-1} (computed by
engine.run.shift with engine.inference.teacher): rank 1 = unshifted, 2-3 = marginal, above 3 =
shifted. Shifted tokens are what tuning added; if they are few and mostly style words, tuning
changed how the model talks more than what it knows.

Token texts are stored as the model's bytes, where bytes that are not valid UTF-8 on their own
are written <0xNN> (lossless: a character split over two tokens can be put back together).
Nothing here runs a model.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import engine.analysis.stats as stats
from engine.analysis.labels import setting_label
from engine.analysis.rows import ReportFilters

if TYPE_CHECKING:
    from engine.store.store import Store

SHIFT_CLASSES = ("unshifted", "marginal", "shifted")
POSITION_BUCKETS: tuple[tuple[int, int | None], ...] = (
    (0, 5),
    (5, 10),
    (10, 20),
    (20, 50),
    (50, 100),
    (100, None),
)
TOP_TOKENS = 20
_HEX_RE = re.compile(r"(?:<0x[0-9A-F]{2}>)+")


def classify(rank: int) -> str:
    """URIAL's classes: rank 1 unshifted, 2-3 marginal, above 3 shifted."""
    if rank < 1:
        raise ValueError(f"ranks start at 1, got {rank}")
    return "unshifted" if rank == 1 else "marginal" if rank <= 3 else "shifted"


# -- token text ---------------------------------------------------------------------------------


def piece_bytes(text: str) -> bytes:
    """The bytes of a stored token text (<0xNN> runs written by engine.inference.teacher)."""
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
