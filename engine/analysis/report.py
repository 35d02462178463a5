"""Report tables built from recorded runs: accuracy, base vs instruct, perturbation drops, few-shot
gains, the convergence analysis, grader agreement and token distribution shift.

Why it is built this way: every analysis starts from one *item outcome* per (item, model, setting,
decoding metric), so that intervals resample items, paired tests pair items, and several answers
per item (sampling, CoT-decoding branches) collapse to one number per item before anything is
averaged. `build_report` returns plain dataclasses (the app's Report screen and the CLI both use
them); `tables()` turns them into display/raw tables and the renderers below print those as a rich
table, CSV, JSON or Markdown. No Textual here.

Choices worth knowing when reading a report:
- Answers are de-duplicated: for one (pair, item, model, mode, shots, chat template, strategy,
  sample index) only the newest recorded answer counts (re-running a configuration replaces, it
  does not double-count). Cancelled answers (app) are left out. Filter with `--run` to compare
  specific runs.
- Metrics per strategy: greedy -> `greedy`; sample -> `pass@1` (mean over samples, unbiased),
  `maj@n` (majority vote over extracted answers, normalised as numbers), `pass@n` and any extra
  `pass@k` (unbiased estimator); cot-decoding -> `best-path` (the branch with the highest
  confidence score; the first branch when no branch has one) and `pass@K` (any branch right).
- Intervals: Wilson for 0/1 outcomes; percentile bootstrap over items for fractional outcomes,
  differences and relative drops. McNemar (exact up to 25 discordant pairs) for paired 0/1.
- Role `instruct-raw` is the instruct model asked without its chat template.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.analysis import stats
from engine.analysis.stats import Correlation, Interval, Proportion

if TYPE_CHECKING:
    from rich.console import Console

    from engine.analysis.shift import ShiftReport
    from engine.render.plots import TerminalPlot
    from engine.store.store import Store

MODE_ORDER = {"zero-shot": 0, "zero-shot-cot": 1, "few-shot-cot": 2}
ZERO_MODES = ("zero-shot", "zero-shot-cot")
FEW_MODE = "few-shot-cot"
ORIGINAL = "original"
MAX_DISAGREEMENTS = 20
FEW_ITEMS = 10  # below this a percentile bootstrap interval is too narrow to trust


# -- filters and the rows read from the store ----------------------------------------------------


@dataclass(frozen=True)
class ReportFilters:
    """Which recorded answers a report covers, and how it is computed. Empty: all runs."""

    runs: tuple[str, ...] = ()
    dataset: str | None = None
    pair: str | None = None
    grader: str | None = None  # whose verdicts count; None: the primary grader of each answer
    pass_k: tuple[int, ...] = ()  # extra k for pass@k (pass@1 and pass@n always)
    resamples: int = stats.BOOTSTRAP_RESAMPLES
    seed: int = 0

    def where(self, gen: str = "g", run: str = "r") -> tuple[str, list[Any]]:
        """SQL WHERE clause (with parameters) for generations `gen` joined to runs `run`."""
        clauses = [f"coalesce({gen}.finish_reason, '') <> 'cancelled'"]
        params: list[Any] = []
        if self.runs:
            clauses.append(f"{gen}.run_id IN ({', '.join('?' * len(self.runs))})")
            params.extend(self.runs)
        if self.dataset:
            clauses.append(f"{gen}.dataset = ?")
            params.append(self.dataset)
        if self.pair:
            clauses.append(f"{run}.pair = ?")
            params.append(self.pair)
        return " AND ".join(clauses), params


@dataclass(frozen=True)
class Answer:
    """One recorded answer, reduced to what the analyses need."""

    pair: str
    run_id: str
    generation_id: str
    dataset: str
    item_id: str
    original_id: str | None
    variant: str
    role: str  # base, instruct, instruct-raw
    model_name: str
    mode: str
    shots: int
    strategy: str
    sample_index: int
    extracted: str | None
    correct: bool
    score: float | None

    @property
    def setting(self) -> str:
        return setting_label(self.mode, self.shots)


def setting_label(mode: str, shots: int) -> str:
    return f"{mode}/{shots}" if mode == FEW_MODE else mode


def _setting_key(setting: str) -> tuple[int, int, str]:
    mode, _, shots = setting.partition("/")
    return (MODE_ORDER.get(mode, 9), int(shots or 0), setting)


def _variant_key(variant: str) -> tuple[int, str]:
    return (0 if variant == ORIGINAL else 1, variant)


def _role_key(role: str) -> tuple[int, str]:
    return ({"base": 0, "instruct": 1}.get(role, 2), role)


ANSWERS_SQL = """
SELECT coalesce(r.pair, '?') AS pair, g.run_id, g.generation_id, g.dataset, g.item_id,
       g.original_id, coalesce(g.perturbation, 'original') AS variant,
       CASE WHEN g.role = 'instruct' AND NOT coalesce(g.chat_template, false)
            THEN 'instruct-raw' ELSE g.role END AS role_label,
       coalesce(g.model_name, '?'), g.mode, coalesce(g.shots, 0), g.strategy, g.sample_index,
       {extracted} AS extracted, {correct} AS correct, g.score
FROM generations g JOIN runs r USING (run_id) {join}
WHERE {where}
QUALIFY row_number() OVER (
    PARTITION BY r.pair, g.dataset, g.item_id, g.role, g.model_sha256, g.mode, g.shots,
                 g.chat_template, g.strategy, g.sample_index
    ORDER BY g.created_at DESC, g.generation_id) = 1
"""


def load_answers(store: Store, filters: ReportFilters) -> tuple[list[Answer], int]:
    """De-duplicated answers under the filters, and how many older duplicates were left out."""
    where, params = filters.where()
    if filters.grader:
        join = "JOIN grades x ON x.generation_id = g.generation_id AND x.grader = ?"
        params = [filters.grader, *params]
        extracted, correct = "x.extracted", "coalesce(x.correct, false)"
    else:
        join, extracted, correct = "", "g.extracted", "coalesce(g.correct, false)"
    sql = ANSWERS_SQL.format(join=join, where=where, extracted=extracted, correct=correct)
    rows = store.query(sql, params).rows
    total_sql = (
        f"SELECT count(*) FROM generations g JOIN runs r USING (run_id) {join} WHERE {where}"
    )
    total = store.query(total_sql, params).rows[0][0]
    return [Answer(*row) for row in rows], int(total) - len(rows)


# -- item outcomes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemOutcome:
    """One item's result under one metric: 0/1, or a fraction (pass@1 over samples, pass@k<n).

    `answer` is the answer that metric stands for: the greedy answer, the majority-vote answer
    (maj@n) or the best-scored CoT-decoding path's answer; None for pass@k.
    """

    pair: str
    dataset: str
    item_id: str
    original_id: str | None
    variant: str
    setting: str
    role: str
    model_name: str
    strategy: str
    metric: str
    value: float
    n_answers: int
    answer: str | None = None

    @property
    def binary(self) -> bool:
        return self.value in (0.0, 1.0)


def answer_key(extracted: str | None) -> Any:
    """Normalise an extracted answer for voting: equal numbers vote together (18 = 18.0 = $18)."""
    if extracted is None:
        return None
    from engine.grading import parse_number

    text = extracted.strip()
    if not text:
        return None
    try:
        value = parse_number(text)
    except (ValueError, ZeroDivisionError, ArithmeticError):
        value = None
    return value if value is not None else " ".join(text.lower().split())


Outcome = tuple[str, float, str | None]  # metric, value, answer


def outcomes_for(answers: Sequence[Answer], pass_k: Sequence[int] = ()) -> list[Outcome]:
    """(metric, value, answer) for the answers of one item under one model/setting/strategy."""
    ordered = sorted(answers, key=lambda a: a.sample_index)
    strategy = ordered[0].strategy
    n = len(ordered)
    c = sum(1 for a in ordered if a.correct)
    if strategy == "greedy":
        return [("greedy", float(ordered[0].correct), ordered[0].extracted)]
    out: list[Outcome] = []
    if strategy == "cot-decoding":
        scored = [a for a in ordered if a.score is not None and not math.isnan(a.score)]
        # max() keeps the first of equal scores: the more likely first token wins a tie.
        best = max(scored, key=lambda a: a.score or 0.0) if scored else ordered[0]
        out.append(("best-path", float(best.correct), best.extracted))
        out.append((f"pass@{n}", float(c > 0), None))
    else:
        out.append(("pass@1", c / n, None))
        if n > 1:
            keys = [answer_key(a.extracted) for a in ordered]
            winner, _ = stats.majority_vote(keys)
            voters = [
                a for a, k in zip(ordered, keys, strict=True) if winner is not None and k == winner
            ]
            right = any(a.correct for a in voters)
            out.append((f"maj@{n}", float(right), voters[0].extracted if voters else None))
            out.append((f"pass@{n}", float(c > 0), None))
    for k in sorted(set(pass_k)):
        if 1 < k < n:
            out.append((f"pass@{k}", stats.pass_at_k(n, c, k), None))
    return out


def item_outcomes(answers: Iterable[Answer], pass_k: Sequence[int] = ()) -> list[ItemOutcome]:
    """Collapse answers to one outcome per item, model, setting, strategy and metric."""
    groups: dict[tuple[Any, ...], list[Answer]] = defaultdict(list)
    for a in answers:
        key = (a.pair, a.dataset, a.item_id, a.role, a.model_name, a.setting, a.strategy)
        groups[key].append(a)
    out: list[ItemOutcome] = []
    for (pair, dataset, item_id, role, model, setting, strategy), group in groups.items():
        first = group[0]
        for metric, value, answer in outcomes_for(group, pass_k):
            out.append(
                ItemOutcome(
                    pair, dataset, item_id, first.original_id, first.variant, setting, role,
                    model, strategy, metric, value, len(group), answer,
                )
            )
    return out


def accuracy_of(values: Sequence[float], filters: ReportFilters) -> Proportion | Interval:
    """Wilson for 0/1 outcomes, a bootstrap interval of the mean otherwise."""
    if all(v in (0.0, 1.0) for v in values):
        return stats.proportion(int(sum(values)), len(values))
    return stats.mean_ci(values, resamples=filters.resamples, seed=filters.seed)


def _estimate(x: Proportion | Interval) -> float | None:
    return x.p if isinstance(x, Proportion) else x.estimate


# -- report rows --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    kind: str
    pair: str | None
    dataset: str | None
    modes: list[str]
    perturbations: list[str]
    strategy: str | None
    status: str | None
    started_at: Any
    answers: int


@dataclass(frozen=True)
class AccuracyRow:
    """Accuracy of one model role in one setting (dataset x variant x mode x strategy x metric)."""

    pair: str
    dataset: str
    variant: str
    setting: str
    role: str
    model: str
    strategy: str
    metric: str
    n: int
    correct: int | None  # None for fractional outcomes
    accuracy: float | None
    low: float | None
    high: float | None
    interval: str  # wilson or bootstrap-percentile


@dataclass(frozen=True)
class PairedRow:
    """Base vs instruct on the same items: difference, 2x2 agreement table and McNemar's test."""

    pair: str
    dataset: str
    variant: str
    setting: str
    strategy: str
    metric: str
    instruct_role: str
    n: int
    base_accuracy: float | None
    instruct_accuracy: float | None
    difference: float | None  # instruct - base
    diff_low: float | None
    diff_high: float | None
    both_correct: int | None
    base_only: int | None
    instruct_only: int | None
    both_wrong: int | None
    p_value: float | None
    test: str  # exact, chi2-cc, none, or n/a (fractional outcomes)


@dataclass(frozen=True)
class DropRow:
    """Original vs perturbed items (each variant paired with its own original)."""

    pair: str
    dataset: str
    perturbation: str
    setting: str
    role: str
    model: str
    strategy: str
    metric: str
    n: int
    original_accuracy: float | None
    perturbed_accuracy: float | None
    relative_drop: float | None  # (orig - pert) / orig
    drop_low: float | None
    drop_high: float | None
    note: str = ""


@dataclass(frozen=True)
class GainRow:
    """Zero-shot to few-shot on the same items, per role."""

    pair: str
    dataset: str
    variant: str
    role: str
    model: str
    strategy: str
    metric: str
    zero_setting: str
    few_setting: str
    n: int
    zero_accuracy: float | None
    few_accuracy: float | None
    gain: float | None  # few - zero
    gain_low: float | None
    gain_high: float | None
    p_value: float | None
    test: str


@dataclass(frozen=True)
class ConvergenceTask:
    dataset: str
    variant: str
    n: int
    instruct_zero: float
    base_few: float
    base_zero: float | None


@dataclass(frozen=True)
class Convergence:
    """Across tasks: does the instruct model's zero-shot accuracy track the base model's few-shot
    accuracy (Bigoulaeva et al. 2025)? The base zero-shot correlation is the baseline to beat."""

    pair: str
    strategy: str
    metric: str
    instruct_role: str
    instruct_setting: str
    base_few_setting: str
    base_zero_setting: str | None
    tasks: list[ConvergenceTask]
    few: Correlation  # instruct zero-shot vs base few-shot
    zero: Correlation | None  # instruct zero-shot vs base zero-shot (baseline)


@dataclass(frozen=True)
class AgreementRow:
    """Two graders' verdicts on the same recorded answers."""

    pair: str
    dataset: str
    role: str
    grader_a: str
    grader_b: str
    n: int
    both_correct: int
    a_only: int
    b_only: int
    both_wrong: int
    agreement: float | None
    agreement_low: float | None
    agreement_high: float | None
    p_value: float | None  # McNemar: does the choice of grader change accuracy?
    test: str


@dataclass(frozen=True)
class Disagreement:
    generation_id: str
    dataset: str
    item_id: str
    role: str
    grader_a: str
    extracted_a: str | None
    correct_a: bool
    grader_b: str
    extracted_b: str | None
    correct_b: bool


@dataclass
class Report:
    """Everything `tunelens report` shows; the app's Report screen renders the same object."""

    filters: ReportFilters
    runs: list[RunInfo]
    accuracy: list[AccuracyRow]
    paired: list[PairedRow]
    drops: list[DropRow]
    gains: list[GainRow]
    convergence: list[Convergence]
    agreement: list[AgreementRow]
    disagreements: list[Disagreement]
    shift: ShiftReport | None
    outcomes: list[ItemOutcome] = field(repr=False, default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.accuracy

    def tables(self) -> list[ReportTable]:
        """Every table, in display order (raw values for csv/json, strings for display)."""
        return report_tables(self)

    def plots(self) -> list[TerminalPlot]:
        """The figures as plotext-ready series (`engine.render.plots.draw_plotext` draws one)."""
        from engine.render.plots import terminal_plots

        return terminal_plots(self)


# -- building -----------------------------------------------------------------------------------


def build_report(store: Store, filters: ReportFilters | None = None) -> Report:
    """Read the selected answers and compute every analysis that applies to them (blocking: a
    front with an event loop calls it from a worker thread)."""
    filters = filters or ReportFilters()
    runs = load_runs(store, filters)
    answers, duplicates = load_answers(store, filters)
    notes: list[str] = []
    if duplicates:
        notes.append(
            f"{duplicates} older answers to the same question and settings were left out "
            "(newest kept); use --run to pick runs"
        )
    if filters.grader:
        notes.append(f"verdicts of grader '{filters.grader}' (from the grades table)")
    outcomes = item_outcomes(answers, filters.pass_k)
    agreement, disagreements = grader_agreement(store, filters)
    from engine.analysis.shift import shift_report

    report = Report(
        filters=filters,
        runs=runs,
        accuracy=accuracy_rows(outcomes, filters),
        paired=paired_rows(outcomes, filters),
        drops=drop_rows(outcomes, filters),
        gains=gain_rows(outcomes, filters),
        convergence=convergence(outcomes),
        agreement=agreement,
        disagreements=disagreements,
        shift=shift_report(store, filters),
        outcomes=outcomes,
        notes=notes,
    )
    if not answers:
        report.notes.append("no recorded answers match the filters")
    return report


def load_runs(store: Store, filters: ReportFilters) -> list[RunInfo]:
    where, params = filters.where()
    sql = f"""
        SELECT r.run_id, r.kind, r.pair, r.dataset, r.modes, r.perturbations, r.strategy,
               r.status, r.started_at, count(g.generation_id)
        FROM runs r JOIN generations g USING (run_id)
        WHERE {where}
        GROUP BY ALL ORDER BY r.started_at
    """
    return [
        RunInfo(row[0], row[1], row[2], row[3], list(row[4] or []), list(row[5] or []), *row[6:])
        for row in store.query(sql, params).rows
    ]


def _index(outcomes: Iterable[ItemOutcome]) -> dict[tuple[Any, ...], dict[str, ItemOutcome]]:
    """(pair, dataset, variant, setting, role, strategy, metric) -> item_id -> outcome."""
    out: dict[tuple[Any, ...], dict[str, ItemOutcome]] = defaultdict(dict)
    for o in outcomes:
        key = (o.pair, o.dataset, o.variant, o.setting, o.role, o.strategy, o.metric)
        out[key][o.item_id] = o
    return out


def _sorted_keys(keys: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    def sort_key(k: tuple[Any, ...]) -> tuple[Any, ...]:
        pair, dataset, variant, setting, role, strategy, metric = k
        return (
            pair,
            dataset,
            _variant_key(variant),
            _setting_key(setting),
            strategy,
            metric,
            _role_key(role),
        )

    return sorted(keys, key=sort_key)


def accuracy_rows(outcomes: Sequence[ItemOutcome], filters: ReportFilters) -> list[AccuracyRow]:
    index = _index(outcomes)
    rows = []
    for key in _sorted_keys(index):
        pair, dataset, variant, setting, role, strategy, metric = key
        items = list(index[key].values())
        values = [o.value for o in items]
        acc = accuracy_of(values, filters)
        models = sorted({o.model_name for o in items})
        if isinstance(acc, Proportion):
            correct, est, lo, hi, how = acc.successes, acc.p, acc.low, acc.high, acc.method
        else:
            correct, est, lo, hi, how = None, acc.estimate, acc.low, acc.high, acc.method
        rows.append(
            AccuracyRow(
                pair, dataset, variant, setting, role, ", ".join(models), strategy, metric,
                len(values), correct, est, lo, hi, how,
            )
        )
    return rows


def _paired_values(
    a: dict[str, ItemOutcome], b: dict[str, ItemOutcome]
) -> tuple[list[float], list[float]]:
    common = sorted(set(a) & set(b))
    return [a[i].value for i in common], [b[i].value for i in common]


def _paired_stats(
    xs: list[float], ys: list[float], filters: ReportFilters
) -> tuple[Interval, stats.McNemar | None]:
    diff = stats.paired_difference_ci(xs, ys, resamples=filters.resamples, seed=filters.seed)
    binary = all(v in (0.0, 1.0) for v in xs + ys)
    test = stats.mcnemar([bool(v) for v in xs], [bool(v) for v in ys]) if binary else None
    return diff, test


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def paired_rows(outcomes: Sequence[ItemOutcome], filters: ReportFilters) -> list[PairedRow]:
    index = _index(outcomes)
    rows = []
    for key in _sorted_keys(index):
        pair, dataset, variant, setting, role, strategy, metric = key
        if role != "base":
            continue
        for other in sorted({k[4] for k in index if k[4] != "base"}, key=_role_key):
            okey = (pair, dataset, variant, setting, other, strategy, metric)
            if okey not in index:
                continue
            xs, ys = _paired_values(index[key], index[okey])
            if not xs:
                continue
            diff, test = _paired_stats(xs, ys, filters)
            rows.append(
                PairedRow(
                    pair, dataset, variant, setting, strategy, metric, other, len(xs),
                    _mean(xs), _mean(ys), diff.estimate, diff.low, diff.high,
                    test.both if test else None,
                    test.a_only if test else None,
                    test.b_only if test else None,
                    test.neither if test else None,
                    test.p_value if test else None,
                    test.method if test else "n/a",
                )
            )
    return rows


def drop_rows(outcomes: Sequence[ItemOutcome], filters: ReportFilters) -> list[DropRow]:
    index = _index(outcomes)
    rows = []
    for key in _sorted_keys(index):
        pair, dataset, variant, setting, role, strategy, metric = key
        if variant == ORIGINAL:
            continue
        okey = (pair, dataset, ORIGINAL, setting, role, strategy, metric)
        if okey not in index:
            continue
        originals = index[okey]
        pairs = [
            (originals[v.original_id].value, v.value)
            for v in index[key].values()
            if v.original_id in originals
        ]
        if not pairs:
            continue
        xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
        drop = stats.relative_drop_ci(xs, ys, resamples=filters.resamples, seed=filters.seed)
        note = ""
        if drop.estimate is None:
            note = "original accuracy 0"
        elif drop.low is None:
            note = f"interval undefined: original accuracy 0 in {drop.undefined} resamples"
        elif len(pairs) < FEW_ITEMS:
            note = f"only {len(pairs)} items: the interval is optimistic"
        models = sorted({v.model_name for v in index[key].values()})
        rows.append(
            DropRow(
                pair, dataset, variant, setting, role, ", ".join(models), strategy, metric,
                len(pairs), _mean(xs), _mean(ys), drop.estimate, drop.low, drop.high, note,
            )
        )
    return rows


def gain_rows(outcomes: Sequence[ItemOutcome], filters: ReportFilters) -> list[GainRow]:
    index = _index(outcomes)
    rows = []
    for key in _sorted_keys(index):
        pair, dataset, variant, setting, role, strategy, metric = key
        if setting.partition("/")[0] != FEW_MODE:
            continue
        for zero in ZERO_MODES:
            zkey = (pair, dataset, variant, zero, role, strategy, metric)
            if zkey not in index:
                continue
            xs, ys = _paired_values(index[zkey], index[key])
            if not xs:
                continue
            diff, test = _paired_stats(xs, ys, filters)
            models = sorted({o.model_name for o in index[key].values()})
            rows.append(
                GainRow(
                    pair, dataset, variant, role, ", ".join(models), strategy, metric, zero,
                    setting, len(xs), _mean(xs), _mean(ys), diff.estimate, diff.low, diff.high,
                    test.p_value if test else None, test.method if test else "n/a",
                )
            )
    return rows


def convergence(outcomes: Sequence[ItemOutcome]) -> list[Convergence]:
    """One analysis per (pair, strategy, metric, instruct zero-shot setting, base few-shot setting);
    tasks are the dataset x variant groups where both accuracies exist."""
    acc: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for o in outcomes:
        acc[(o.pair, o.strategy, o.metric, o.role, o.setting, o.dataset, o.variant)].append(o.value)
    mean = {k: sum(v) / len(v) for k, v in acc.items()}
    size = {k: len(v) for k, v in acc.items()}
    combos: set[tuple[Any, ...]] = set()
    for pair, strategy, metric, role, setting, _d, _v in acc:
        if role.startswith("instruct") and setting in ZERO_MODES:
            for p2, s2, m2, r2, set2, _d2, _v2 in acc:
                if (p2, s2, m2, r2) == (pair, strategy, metric, "base") and set2.startswith(
                    FEW_MODE
                ):
                    combos.add((pair, strategy, metric, role, setting, set2))
    results = []
    for pair, strategy, metric, role, zero, few in sorted(combos):
        tasks = []
        task_keys = sorted(
            {(k[5], k[6]) for k in acc if k[:5] == (pair, strategy, metric, role, zero)},
            key=lambda t: (t[0], _variant_key(t[1])),
        )
        for dataset, variant in task_keys:
            ikey = (pair, strategy, metric, role, zero, dataset, variant)
            bkey = (pair, strategy, metric, "base", few, dataset, variant)
            zkey = (pair, strategy, metric, "base", zero, dataset, variant)
            if bkey not in mean:
                continue
            tasks.append(
                ConvergenceTask(
                    dataset, variant, size[ikey], mean[ikey], mean[bkey], mean.get(zkey)
                )
            )
        if not tasks:
            continue
        x = [t.instruct_zero for t in tasks]
        few_corr = stats.correlation(
            x, [t.base_few for t in tasks], labels=(f"{role} {zero}", f"base {few}")
        )
        with_zero = [t for t in tasks if t.base_zero is not None]
        zero_corr = (
            stats.correlation(
                [t.instruct_zero for t in with_zero],
                [t.base_zero or 0.0 for t in with_zero],
                labels=(f"{role} {zero}", f"base {zero}"),
            )
            if with_zero
            else None
        )
        results.append(
            Convergence(
                pair, strategy, metric, role, zero, few, zero if with_zero else None, tasks,
                few_corr, zero_corr,
            )
        )
    return results


AGREEMENT_SQL = """
WITH sel AS (
    SELECT g.generation_id, coalesce(r.pair, '?') AS pair, g.dataset, g.item_id, g.role
    FROM generations g JOIN runs r USING (run_id)
    WHERE {where}
)
SELECT s.pair, s.dataset, s.role, s.item_id, s.generation_id,
       a.grader, a.extracted, a.correct, b.grader, b.extracted, b.correct
FROM sel s
JOIN grades a ON a.generation_id = s.generation_id
JOIN grades b ON b.generation_id = s.generation_id AND a.grader < b.grader
WHERE a.rule <> 'error' AND b.rule <> 'error'
ORDER BY s.pair, s.dataset, s.role, a.grader, b.grader, s.generation_id
"""


def grader_agreement(
    store: Store, filters: ReportFilters
) -> tuple[list[AgreementRow], list[Disagreement]]:
    """Where two graders judged the same answers: how often they agree, and examples where not.

    Grades with rule 'error' (a grader that failed, e.g. a math-verify timeout) are left out.
    """
    where, params = filters.where()
    rows = store.query(AGREEMENT_SQL.format(where=where), params).rows
    groups: dict[tuple[str, ...], list[tuple[bool, bool]]] = defaultdict(list)
    examples: list[Disagreement] = []
    for pair, dataset, role, item_id, gid, ga, ea, ca, gb, eb, cb in rows:
        groups[(pair, dataset, role, ga, gb)].append((bool(ca), bool(cb)))
        if bool(ca) != bool(cb) and len(examples) < MAX_DISAGREEMENTS:
            examples.append(Disagreement(gid, dataset, item_id, role, ga, ea, bool(ca), gb, eb,
                                         bool(cb)))
    out = []
    for (pair, dataset, role, ga, gb), verdicts in sorted(
        groups.items(), key=lambda kv: (kv[0][0], kv[0][1], _role_key(kv[0][2]), kv[0][3:])
    ):
        test = stats.mcnemar([a for a, _ in verdicts], [b for _, b in verdicts])
        agree = stats.proportion(test.both + test.neither, test.n)
        out.append(
            AgreementRow(
                pair, dataset, role, ga, gb, test.n, test.both, test.a_only, test.b_only,
                test.neither, agree.p, agree.low, agree.high, test.p_value, test.method,
            )
        )
    return out, examples


# -- regrading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegradeResult:
    graded: int
    already: int
    errors: int  # the grader failed on the answer (rule 'error'); recorded, left out of agreement
    changed: int  # verdict differs from the primary grader's


REGRADE_SQL = """
SELECT g.generation_id, g.output, g.correct, i.dataset, i.item_id, i.question, i.gold,
       i.answer_type, i.solution, i.fields, i.original_id, i.perturbation,
       i.perturbation_seed, i.perturbation_params
FROM generations g JOIN runs r USING (run_id)
JOIN items i ON i.dataset = g.dataset AND i.item_id = g.item_id
WHERE {where}
  AND NOT EXISTS (SELECT 1 FROM grades x WHERE x.generation_id = g.generation_id AND x.grader = ?)
"""


def regrade(
    store: Store,
    grader: str,
    filters: ReportFilters | None = None,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> RegradeResult:
    """Add `grader`'s verdicts to `grades` for recorded answers that lack them.

    The runner records one grader per answer; a second grader's verdicts on the same outputs is
    what grader agreement needs (the paper behind tunelens shows the grader can flip a verdict).
    Items come from the `items` table, so the answer is graded against the gold it was asked with.
    """
    from engine.grading import get_grader
    from engine.records import Item

    fn = get_grader(grader)
    filters = filters or ReportFilters()
    where, params = filters.where()
    rows = store.query(REGRADE_SQL.format(where=where), [*params, grader]).rows
    count_sql = (
        "SELECT count(*) FROM generations g JOIN runs r USING (run_id) "
        f"JOIN grades x ON x.generation_id = g.generation_id AND x.grader = ? WHERE {where}"
    )
    already = store.query(count_sql, [grader, *params]).rows[0][0]
    out: list[tuple[Any, ...]] = []
    errors = changed = 0
    for n, row in enumerate(rows, start=1):
        gid, output, primary, *item_cols = row
        dataset, item_id, question, gold, answer_type, solution, fields_json, *rest = item_cols
        original_id, perturbation, pseed, pparams = rest
        item = Item(
            dataset=dataset,
            item_id=item_id,
            question=question or "",
            gold=gold or "",
            answer_type=answer_type or "number",
            solution=solution,
            fields=json.loads(fields_json) if fields_json else {},
            original_id=original_id,
            perturbation=perturbation,
            perturbation_seed=pseed,
            perturbation_params=json.loads(pparams) if pparams else {},
        )
        g = fn(item, output or "")
        errors += g.rule == "error"
        changed += g.rule != "error" and primary is not None and bool(primary) != g.correct
        out.append((gid, grader, g.extracted, g.correct, g.rule, g.detail))
        if on_progress is not None:
            on_progress(n, len(rows))
    if out:
        _insert_grades(store, out)
    return RegradeResult(len(out), int(already), errors, changed)


def _insert_grades(store: Store, rows: list[tuple[Any, ...]]) -> None:
    """Store has no grades-only insert: the same INSERT OR IGNORE, through Arrow (executemany
    costs milliseconds per row in DuckDB)."""
    import pyarrow as pa

    s = pa.string()
    columns = {"generation_id": s, "grader": s, "extracted": s, "correct": pa.bool_(),
               "rule": s, "detail": s}
    table = pa.table(
        {name: pa.array([r[i] for r in rows], typ) for i, (name, typ) in enumerate(columns.items())}
    )
    # A first write connection runs the migration, which leaves a result open that `register`
    # refuses to work next to: migrate in a connection of its own first.
    store.ensure()
    with store.connect() as con:
        con.register("_regrade", table)
        con.execute("INSERT OR IGNORE INTO grades BY NAME SELECT * FROM _regrade")
        con.unregister("_regrade")


# -- tables ---------------------------------------------------------------------------------------


@dataclass
class ReportTable:
    """One table two ways: raw values (csv/json) and display strings (terminal/markdown)."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    display_columns: list[str]
    display_rows: list[list[str]]
    note: str = ""
    right: set[int] = field(default_factory=set)  # display columns to right-align
    display: bool = True  # False: data only (csv/json), too long for the terminal


def pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def pct_ci(x: float | None, lo: float | None, hi: float | None) -> str:
    if x is None:
        return "-"
    if lo is None or hi is None:
        return f"{x:.1%} [n/a]"
    return f"{x:.1%} [{lo:.1%}, {hi:.1%}]"


def signed_pp(x: float | None, lo: float | None = None, hi: float | None = None) -> str:
    """A difference of proportions in percentage points, with its interval."""
    if x is None:
        return "-"
    text = f"{100 * x:+.1f} pp"
    if lo is not None and hi is not None:
        text += f" [{100 * lo:+.1f}, {100 * hi:+.1f}]"
    return text


def p_text(p: float | None) -> str:
    if p is None:
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def r_text(r: float | None, p: float | None) -> str:
    return "-" if r is None else f"{r:+.2f} (p={p_text(p)})"


def _raw(rows: Sequence[Any]) -> tuple[list[str], list[list[Any]]]:
    if not rows:
        return [], []
    cols = [f.name for f in fields(rows[0])]
    return cols, [[getattr(r, c) for c in cols] for r in rows]


def report_tables(report: Report) -> list[ReportTable]:
    tables = [
        _runs_table(report),
        _accuracy_table(report),
        _paired_table(report),
        _drop_table(report),
        _gain_table(report),
        *_convergence_tables(report),
        _agreement_table(report),
    ]
    if report.disagreements:
        tables.append(_disagreement_table(report))
    tables.append(_items_table(report))
    if report.shift is not None:
        from engine.analysis.shift import shift_tables

        tables.extend(shift_tables(report.shift))
    return tables


def _runs_table(report: Report) -> ReportTable:
    cols, raw = _raw(report.runs)
    disp_cols = [
        "run", "kind", "pair", "dataset", "modes", "perturb", "strategy", "status", "answers"
    ]
    disp = [
        [
            r.run_id, r.kind, r.pair or "-", r.dataset or "-", ",".join(r.modes),
            ",".join(r.perturbations) or "-", r.strategy or "-", r.status or "-", str(r.answers),
        ]
        for r in report.runs
    ]
    return ReportTable("runs", "runs in this report", cols, raw, disp_cols, disp, right={8})


def decoding_label(strategy: str, metric: str) -> str:
    """'greedy', 'sample maj@5', 'cot-decoding best-path': one column instead of two."""
    return strategy if metric == strategy else f"{strategy} {metric}"


def _counts(*values: int | None) -> str:
    return "/".join("-" if v is None else str(v) for v in values)


def _accuracy_table(report: Report) -> ReportTable:
    cols, raw = _raw(report.accuracy)
    lead = ["pair"] if len({r.pair for r in report.accuracy}) > 1 else []
    disp_cols = [*lead, "dataset", "variant", "setting", "role", "model", "decoding", "n",
                 "accuracy [95% CI]"]
    disp = [
        [
            *([r.pair] if lead else []), r.dataset, r.variant, r.setting, r.role, r.model,
            decoding_label(r.strategy, r.metric), str(r.n), pct_ci(r.accuracy, r.low, r.high),
        ]
        for r in report.accuracy
    ]
    n = len(disp_cols)
    note = "Wilson intervals for 0/1 outcomes; bootstrap over items for fractional metrics"
    return ReportTable("accuracy", "accuracy", cols, raw, disp_cols, disp, note, {n - 2, n - 1})


def _paired_table(report: Report) -> ReportTable:
    cols, raw = _raw(report.paired)
    several = len({r.instruct_role for r in report.paired}) > 1
    disp_cols = ["dataset", "variant", "setting", "decoding", *(["vs"] if several else []), "n",
                 "base", "instruct", "instruct - base [95% CI]",
                 "both/base-only/instr-only/neither", "McNemar p"]
    disp = [
        [
            r.dataset, r.variant, r.setting, decoding_label(r.strategy, r.metric),
            *([r.instruct_role] if several else []), str(r.n),
            pct(r.base_accuracy), pct(r.instruct_accuracy),
            signed_pp(r.difference, r.diff_low, r.diff_high),
            _counts(r.both_correct, r.base_only, r.instruct_only, r.both_wrong),
            p_text(r.p_value) + ("" if r.test in ("exact", "n/a", "none") else f" ({r.test})"),
        ]
        for r in report.paired
    ]
    note = (
        "paired on items; difference: bootstrap over items; McNemar exact binomial for <= 25 "
        "discordant pairs, chi-square with continuity correction above"
        if disp
        else "needs both roles on the same items"
    )
    first = 5 if several else 4
    return ReportTable(
        "paired", "base vs instruct (same items)", cols, raw, disp_cols, disp, note,
        set(range(first, len(disp_cols))),
    )


def _drop_table(report: Report) -> ReportTable:
    cols, raw = _raw(report.drops)
    disp_cols = ["dataset", "perturbation", "setting", "role", "decoding", "n", "original",
                 "perturbed", "relative drop [95% CI]", "note"]
    disp = [
        [
            r.dataset, r.perturbation, r.setting, r.role, decoding_label(r.strategy, r.metric),
            str(r.n), pct(r.original_accuracy), pct(r.perturbed_accuracy),
            pct_ci(r.relative_drop, r.drop_low, r.drop_high), r.note,
        ]
        for r in report.drops
    ]
    note = (
        "each variant paired with its original; relative drop = (orig - pert) / orig, "
        "bootstrap over original items"
        if disp
        else "needs perturbed variants (--perturb) and their originals"
    )
    return ReportTable(
        "drops", "original -> perturbed", cols, raw, disp_cols, disp, note, {5, 6, 7, 8}
    )


def _gain_table(report: Report) -> ReportTable:
    cols, raw = _raw(report.gains)
    disp_cols = ["dataset", "variant", "role", "decoding", "from -> to", "n", "zero-shot",
                 "few-shot", "gain [95% CI]", "McNemar p"]
    disp = [
        [
            r.dataset, r.variant, r.role, decoding_label(r.strategy, r.metric),
            f"{r.zero_setting} -> {r.few_setting}", str(r.n), pct(r.zero_accuracy),
            pct(r.few_accuracy), signed_pp(r.gain, r.gain_low, r.gain_high), p_text(r.p_value),
        ]
        for r in report.gains
    ]
    note = (
        "same items in both modes; gain: bootstrap over items"
        if disp
        else "needs a zero-shot and a few-shot mode on the same items"
    )
    return ReportTable(
        "gains", "zero-shot -> few-shot", cols, raw, disp_cols, disp, note, set(range(5, 10))
    )


def _convergence_tables(report: Report) -> list[ReportTable]:
    summary_cols = ["pair", "strategy", "metric", "instruct", "instruct_setting",
                    "base_few_setting", "base_zero_setting", "tasks", "spearman_r", "spearman_p",
                    "pearson_r", "pearson_p", "baseline_spearman_r", "baseline_spearman_p",
                    "baseline_pearson_r", "baseline_pearson_p", "note"]
    raw, disp = [], []
    task_raw, task_disp = [], []
    for c in report.convergence:
        z = c.zero
        note = c.few.note or ""
        if z is not None and z.note and z.note != note:
            note = f"{note}; baseline: {z.note}" if note else f"baseline: {z.note}"
        raw.append([
            c.pair, c.strategy, c.metric, c.instruct_role, c.instruct_setting, c.base_few_setting,
            c.base_zero_setting, c.few.n, c.few.spearman_r, c.few.spearman_p, c.few.pearson_r,
            c.few.pearson_p, z.spearman_r if z else None, z.spearman_p if z else None,
            z.pearson_r if z else None, z.pearson_p if z else None, note,
        ])
        disp.append([
            decoding_label(c.strategy, c.metric),
            f"{c.instruct_role} {c.instruct_setting} ~ base {c.base_few_setting}",
            str(c.few.n), r_text(c.few.spearman_r, c.few.spearman_p),
            r_text(c.few.pearson_r, c.few.pearson_p),
            r_text(z.spearman_r, z.spearman_p) if z else "-",
            r_text(z.pearson_r, z.pearson_p) if z else "-",
            note,
        ])
        for t in c.tasks:
            task_raw.append([
                c.pair, c.strategy, c.metric, t.dataset, t.variant, t.n, t.instruct_zero,
                t.base_few, t.base_zero,
            ])
            task_disp.append([
                decoding_label(c.strategy, c.metric), t.dataset, t.variant, str(t.n),
                pct(t.instruct_zero), pct(t.base_few), pct(t.base_zero),
            ])
    summary = ReportTable(
        "convergence",
        "convergence: instruct zero-shot vs base few-shot, across tasks",
        summary_cols,
        raw,
        ["decoding", "compared", "tasks", "Spearman r", "Pearson r",
         "baseline Spearman (base zero-shot)", "baseline Pearson", "note"],
        disp,
        "tasks = dataset x variant groups; baseline = the same correlation with base zero-shot"
        if disp
        else "needs instruct zero-shot and base few-shot on the same tasks",
        {2},
    )
    tasks = ReportTable(
        "convergence_tasks",
        "convergence tasks",
        ["pair", "strategy", "metric", "dataset", "variant", "n", "instruct_zero", "base_few",
         "base_zero"],
        task_raw,
        ["decoding", "dataset", "variant", "n", "instruct zero-shot", "base few-shot",
         "base zero-shot"],
        task_disp,
        "",
        {3, 4, 5, 6},
    )
    return [summary, tasks] if disp else [summary]


def _agreement_table(report: Report) -> ReportTable:
    cols, raw = _raw(report.agreement)
    disp_cols = ["dataset", "role", "grader A", "grader B", "n", "both right", "A only", "B only",
                 "both wrong", "agreement [95% CI]", "McNemar p"]
    disp = [
        [
            r.dataset, r.role, r.grader_a, r.grader_b, str(r.n), str(r.both_correct),
            str(r.a_only), str(r.b_only), str(r.both_wrong),
            pct_ci(r.agreement, r.agreement_low, r.agreement_high), p_text(r.p_value),
        ]
        for r in report.agreement
    ]
    note = (
        "verdicts of two graders on the same answers"
        if disp
        else "one grader per answer so far: run `tunelens regrade --grader math-verify` "
        "(or `report --regrade math-verify`)"
    )
    return ReportTable(
        "agreement", "grader agreement", cols, raw, disp_cols, disp, note, set(range(4, 11))
    )


def _items_table(report: Report) -> ReportTable:
    """Per-item outcomes (majority-vote answer, best path, pass@k): data for csv/json only."""
    cols, raw = _raw(report.outcomes)
    return ReportTable("items", "per-item outcomes", cols, raw, [], [], display=False)


def _disagreement_table(report: Report) -> ReportTable:
    cols, raw = _raw(report.disagreements)
    disp_cols = ["generation", "item", "role", "grader A", "extracted A", "A", "grader B",
                 "extracted B", "B"]
    disp = [
        [
            d.generation_id[:12], d.item_id, d.role, d.grader_a, str(d.extracted_a),
            "right" if d.correct_a else "wrong", d.grader_b, str(d.extracted_b),
            "right" if d.correct_b else "wrong",
        ]
        for d in report.disagreements
    ]
    return ReportTable(
        "disagreements", f"grader disagreements (first {MAX_DISAGREEMENTS})", cols, raw,
        disp_cols, disp,
    )


# -- renderers ------------------------------------------------------------------------------------


def describe_filters(filters: ReportFilters) -> str:
    parts = []
    if filters.runs:
        parts.append("runs " + ", ".join(filters.runs))
    if filters.dataset:
        parts.append(f"dataset {filters.dataset}")
    if filters.pair:
        parts.append(f"pair {filters.pair}")
    return "; ".join(parts) or "all runs"


def rich_tables(tables: Sequence[ReportTable]) -> list[Any]:
    """rich renderables, in order (a Table per report table, Text for empty ones)."""
    from rich.table import Table
    from rich.text import Text

    out: list[Any] = []
    for t in tables:
        if not t.display:
            continue
        if not t.display_rows:
            out.append(Text(f"{t.title}: {t.note or 'nothing to show'}", style="dim"))
            continue
        table = Table(title=t.title, caption=t.note or None, title_justify="left")
        for i, col in enumerate(t.display_columns):
            table.add_column(col, justify="right" if i in t.right else "left", overflow="fold")
        for row in t.display_rows:
            table.add_row(*row)
        out.append(table)
    return out


def print_report(report: Report, console: Console) -> None:
    console.print(f"[bold]tunelens report[/] ({describe_filters(report.filters)})")
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")
    for renderable in rich_tables(report.tables()):
        console.print(renderable)
        console.print()


def tables_markdown(tables: Sequence[ReportTable], heading: str, notes: Sequence[str] = ()) -> str:
    lines = [f"# {heading}", ""]
    lines += [f"- note: {n}" for n in notes]
    if notes:
        lines.append("")
    for t in tables:
        if not t.display:
            continue
        lines += [f"## {t.title}", ""]
        if not t.display_rows:
            lines += [f"_{t.note or 'nothing to show'}_", ""]
            continue
        esc = [[c.replace("|", "\\|") for c in row] for row in t.display_rows]
        lines.append("| " + " | ".join(t.display_columns) + " |")
        lines.append(
            "|" + "|".join("---:" if i in t.right else "---" for i in range(len(t.display_columns)))
            + "|"
        )
        lines += ["| " + " | ".join(row) + " |" for row in esc]
        if t.note:
            lines += ["", f"_{t.note}_"]
        lines.append("")
    return "\n".join(lines)


def tables_json(tables: Sequence[ReportTable], extra: dict[str, Any] | None = None) -> str:
    doc: dict[str, Any] = dict(extra or {})
    doc["tables"] = {
        t.key: [dict(zip(t.columns, row, strict=True)) for row in t.rows] for t in tables
    }
    return json.dumps(doc, indent=2, default=_json_default)


def _json_default(value: Any) -> Any:
    return str(value)


def _csv_rows(rows: Sequence[Sequence[Any]]) -> Iterable[list[Any]]:
    """Lists (a run's modes) as JSON, not Python reprs."""
    for row in rows:
        yield [json.dumps(v) if isinstance(v, list | dict) else v for v in row]


def tables_csv(tables: Sequence[ReportTable]) -> str:
    """All tables in one text: a '# key' line, the header and the rows, a blank line between."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for t in tables:
        if not t.rows:
            continue
        buf.write(f"# {t.key}\n")
        w.writerow(t.columns)
        w.writerows(_csv_rows(t.rows))
        buf.write("\n")
    return buf.getvalue()


def write_csv_dir(tables: Sequence[ReportTable], directory: Path) -> list[Path]:
    """One CSV file per non-empty table (accuracy.csv, paired.csv, ...)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for t in tables:
        if not t.rows:
            continue
        path = directory / f"{t.key}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(t.columns)
            w.writerows(_csv_rows(t.rows))
        paths.append(path)
    return paths


def to_markdown(report: Report) -> str:
    heading = f"tunelens report ({describe_filters(report.filters)})"
    return tables_markdown(report.tables(), heading, report.notes)


def to_json(report: Report) -> str:
    return tables_json(
        report.tables(), {"filters": asdict(report.filters), "notes": report.notes}
    )


def to_csv(report: Report) -> str:
    return tables_csv(report.tables())


RENDERERS: dict[str, Callable[[Report], str]] = {
    "csv": to_csv,
    "json": to_json,
    "markdown": to_markdown,
}
