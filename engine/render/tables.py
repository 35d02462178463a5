"""Report tables: each analysis of a `Report` as a `ReportTable` (raw values for csv/json,
display strings for the terminal and Markdown), and those tables as rich renderables.

The order and wording of the tables is the report's layout; engine.render.formats prints them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.analysis.agreement import MAX_DISAGREEMENTS
from engine.analysis.labels import decoding_label, p_text, pct, pct_ci, r_text, signed_pp
from engine.analysis.report import Report
from engine.analysis.shift import TOP_TOKENS, ShiftReport
from engine.analysis.table import ReportTable, raw_rows
from engine.render.drop_tables import dataset_drop_table, linked_drop_table

MAX_ANSWER_ROWS = 40  # answers shown in the terminal's token-shift table (all in csv/json)


def report_tables(report: Report) -> list[ReportTable]:
    tables = [
        _runs_table(report),
        _accuracy_table(report),
        _paired_table(report),
        _drop_table(report),
        dataset_drop_table(report),
        linked_drop_table(report),
        _gain_table(report),
        *_convergence_tables(report),
        _agreement_table(report),
    ]
    if report.disagreements:
        tables.append(_disagreement_table(report))
    tables.append(_items_table(report))
    if report.shift is not None:
        tables.extend(shift_tables(report.shift))
    for t in tables:
        source = report.sources.get(t.key)
        if source is not None:
            t.source = source.footer()
    return tables


def _runs_table(report: Report) -> ReportTable:
    cols, raw = raw_rows(report.runs)
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


def _counts(*values: int | None) -> str:
    return "/".join("-" if v is None else str(v) for v in values)


def _accuracy_table(report: Report) -> ReportTable:
    cols, raw = raw_rows(report.accuracy)
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
    cols, raw = raw_rows(report.paired)
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
    cols, raw = raw_rows(report.drops)
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
    cols, raw = raw_rows(report.gains)
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
    cols, raw = raw_rows(report.agreement)
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
    cols, raw = raw_rows(report.outcomes)
    return ReportTable("items", "per-item outcomes", cols, raw, [], [], display=False)


def _disagreement_table(report: Report) -> ReportTable:
    cols, raw = raw_rows(report.disagreements)
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


# -- token shift ------------------------------------------------------------------------------


def _show(token: str) -> str:
    return repr(token)[1:-1]


def shift_tables(report: ShiftReport) -> list[ReportTable]:
    """Report tables: per setting, by position, most shifted tokens, and per answer."""
    cols, rows = raw_rows(report.summary)
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
    cols, rows = raw_rows(report.positions)
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
    cols, rows = raw_rows(report.top_tokens)
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


# -- rich -------------------------------------------------------------------------------------


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
        # Cells are plain text, never rich markup: "12.0% [n/a]" would lose its "[n/a]".
        caption = "\n".join(x for x in (t.note, t.source) if x)
        table = Table(title=Text(t.title), caption=Text(caption) if caption else None,
                      title_justify="left")
        for i, col in enumerate(t.display_columns):
            table.add_column(col, justify="right" if i in t.right else "left", overflow="fold")
        for row in t.display_rows:
            table.add_row(*(Text(cell) for cell in row))
        out.append(table)
    return out
