"""What tuning changes in the tokens (Ghosh et al. 2024, measured as in URIAL, Lin et al. 2023):
from the stored per-token ranks (`token_shift`, engine.run.shift) of one run's instruct answers.

- shares of unshifted (base rank 1), marginal (2-3) and shifted (> 3) instruct tokens;
- the same by position in the answer (token-index bins, as URIAL plots them);
- the most frequent shifted tokens, split into *content* tokens (a number, or a word that occurs
  in the item's question) and *style/discourse* tokens (everything else: connectives, formatting,
  politeness, the answer's framing);
- the shifted share of answers to items the base model got wrong vs right (same run, same mode).

URIAL reports 5-8% shifted tokens for 7B chat models, mostly style words early in the answer;
Ghosh et al. read that as tuning learning how to start and style a response.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import engine.analysis.stats as stats
from engine.analysis.labels import pct, pct_ci, signed_pp
from engine.analysis.shift import POSITION_BUCKETS, bucket_label, display_token
from engine.analysis.table import ReportTable

if TYPE_CHECKING:
    from engine.store.store import Store

TOP = 10
_WORD = re.compile(r"[a-z]+")
_DIGIT = re.compile(r"\d")


def question_words(question: str) -> set[str]:
    """Lower-case words of a question (for telling content tokens apart)."""
    return set(_WORD.findall(question.lower()))


def token_kind(token: str, words: set[str]) -> str:
    """'content' for a number or a word of the question (at least 2 letters), else 'style'."""
    text = token.strip()
    if _DIGIT.search(text):
        return "content"
    found = _WORD.findall(text.lower())
    if any(len(w) >= 2 and w in words for w in found):
        return "content"
    return "style"


@dataclass(frozen=True)
class Shares:
    label: str
    answers: int
    tokens: int
    unshifted: float | None  # None: no tokens in this group
    marginal: float | None
    shifted: float | None
    answer_mean: float | None  # mean per-answer shifted share, with its interval over answers
    low: float | None
    high: float | None


@dataclass(frozen=True)
class KindToken:
    kind: str
    token: str
    shifted: int
    occurrences: int
    base_instead: str


@dataclass
class GhoshTables:
    overall: Shares
    positions: list[Shares]
    kinds: dict[str, int]  # shifted tokens per kind
    top: list[KindToken]
    by_base: list[Shares]  # base wrong, base right
    base_gap: stats.Interval  # right - wrong, difference of mean per-answer shifted shares
    run_id: str

    def as_report_tables(self) -> list[ReportTable]:
        def share_rows(rows: list[Shares]) -> list[list[str]]:
            return [[r.label, str(r.answers), str(r.tokens), pct(r.unshifted), pct(r.marginal),
                     pct(r.shifted), pct_ci(r.answer_mean, r.low, r.high)] for r in rows]

        cols = ["label", "answers", "tokens", "unshifted", "marginal", "shifted",
                "answer_mean_shifted", "low", "high"]
        disp = ["", "answers", "tokens", "unshifted", "marginal", "shifted",
                "per-answer shifted [95% CI]"]

        def raw(rows: list[Shares]) -> list[list[object]]:
            return [[r.label, r.answers, r.tokens, r.unshifted, r.marginal, r.shifted,
                     r.answer_mean, r.low, r.high] for r in rows]

        out = [
            ReportTable("ghosh_shares", "instruct tokens under the base model (URIAL classes)",
                        cols, raw([self.overall]), disp, share_rows([self.overall]),
                        note="rank 1 unshifted, 2-3 marginal, >3 shifted; interval: bootstrap "
                        "over answers", right=set(range(1, 7))),
            ReportTable("ghosh_positions", "by position in the answer (token index)",
                        cols, raw(self.positions), ["position", *disp[1:]],
                        share_rows(self.positions), right=set(range(1, 7))),
        ]
        total = sum(self.kinds.values())
        out.append(ReportTable(
            "ghosh_tokens", "most frequent shifted tokens",
            ["kind", "token", "shifted", "occurrences", "base_instead"],
            [[t.kind, t.token, t.shifted, t.occurrences, t.base_instead] for t in self.top],
            ["kind", "token", "shifted", "of occurrences", "base would say"],
            [[t.kind, repr(t.token), str(t.shifted), str(t.occurrences), repr(t.base_instead)]
             for t in self.top],
            note="shifted tokens: "
            + ", ".join(f"{k} {n} ({pct(n / total if total else None)})"
                        for k, n in sorted(self.kinds.items()))
            + "; content = a number or a word of the question, style/discourse = the rest",
            right={2, 3},
        ))
        gap = self.base_gap
        out.append(ReportTable(
            "ghosh_base_correct", "shifted share by the base model's verdict on the same item",
            cols, raw(self.by_base), ["base answer", *disp[1:]], share_rows(self.by_base),
            note="right - wrong (per-answer shifted share): "
            + signed_pp(gap.estimate, gap.low, gap.high) + " (bootstrap, groups resampled apart)",
            right=set(range(1, 7)),
        ))
        return out


SQL = """
SELECT t.generation_id, t.position, t.token, t.shift, t.base_top, i.question,
       (SELECT any_value(b.correct) FROM generations b
        WHERE b.run_id = g.run_id AND b.dataset = g.dataset AND b.item_id = g.item_id
          AND b.role = 'base' AND b.mode = g.mode AND b.shots = g.shots
          AND b.sample_index = g.sample_index) AS base_correct
FROM token_shift t JOIN generations g USING (generation_id)
LEFT JOIN items i ON i.dataset = g.dataset AND i.item_id = g.item_id
WHERE g.run_id = ? AND g.role = 'instruct'
ORDER BY t.generation_id, t.position
"""


def _shares(label: str, answers: dict[str, Counter[str]], *, resamples: int,
            seed: int) -> Shares:
    total = Counter[str]()
    per = []
    for c in answers.values():
        total.update(c)
        n = sum(c.values())
        if n:
            per.append(c["shifted"] / n)
    tokens = sum(total.values())
    ci = stats.mean_ci(per, resamples=resamples, seed=seed)

    def share(k: str) -> float | None:
        return total[k] / tokens if tokens else None

    return Shares(label, len(answers), tokens, share("unshifted"), share("marginal"),
                  share("shifted"), ci.estimate, ci.low, ci.high)


def ghosh_tables(store: Store, run_id: str, *, resamples: int = stats.BOOTSTRAP_RESAMPLES,
                 seed: int = 0) -> GhoshTables | None:
    """The study's tables for one scored run; None when none of its answers was scored."""
    rows = store.query(SQL, [run_id]).rows
    if not rows:
        return None
    per_answer: dict[str, Counter[str]] = defaultdict(Counter)
    per_bucket: dict[int, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    verdict: dict[str, bool | None] = {}
    shifted: Counter[tuple[str, str]] = Counter()
    seen: Counter[str] = Counter()
    instead: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    kinds: Counter[str] = Counter()
    for gid, pos, tok, cls, top, question, base_ok in rows:
        per_answer[gid][cls] += 1
        b = next(i for i, (_, hi) in enumerate(POSITION_BUCKETS) if hi is None or pos < hi)
        per_bucket[b][gid][cls] += 1
        verdict[gid] = None if base_ok is None else bool(base_ok)
        shown = display_token(tok or "")
        seen[shown] += 1
        if cls == "shifted":
            kind = token_kind(shown, question_words(question or ""))
            kinds[kind] += 1
            shifted[(kind, shown)] += 1
            instead[(kind, shown)][display_token(top or "")] += 1
    kw = {"resamples": resamples, "seed": seed}
    overall = _shares("all instruct answers", per_answer, **kw)
    positions = [
        _shares(bucket_label(*POSITION_BUCKETS[b]), per_bucket[b], **kw)
        for b in sorted(per_bucket)
    ]
    top: list[KindToken] = []
    for kind in ("style", "content"):
        ranked = sorted(((n, t) for (k, t), n in shifted.items() if k == kind),
                        key=lambda x: (-x[0], x[1]))[:TOP]
        for n, t in ranked:
            top.append(KindToken(kind, t, n, seen[t], instead[(kind, t)].most_common(1)[0][0]))
    groups = {
        label: {g: c for g, c in per_answer.items() if verdict.get(g) is want}
        for label, want in (("base wrong", False), ("base right", True))
    }
    by_base = [_shares(label, g, **kw) for label, g in groups.items()]

    def shares_of(g: dict[str, Counter[str]]) -> list[float]:
        return [c["shifted"] / sum(c.values()) for c in g.values() if sum(c.values())]

    gap = stats.independent_difference_ci(
        shares_of(groups["base wrong"]), shares_of(groups["base right"]), **kw)
    return GhoshTables(overall, positions, dict(kinds), top, by_base, gap, run_id)
