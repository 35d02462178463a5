"""The cross-benchmark drop tables of a report (engine.analysis.dataset_drops) as `ReportTable`s:
MATH-500 -> MATH-P-Hard (unpaired) and the paired drops (MATH-P-Simple -> Hard by problem_id,
GSM8K -> GSM-Symbolic P2 by original_id), shown next to the original -> perturbed table."""

from __future__ import annotations

from engine.analysis.labels import decoding_label, p_text, pct, pct_ci, signed_pp
from engine.analysis.report import Report
from engine.analysis.table import ReportTable, raw_rows


def _counts(*values: int | None) -> str:
    return "/".join("-" if v is None else str(v) for v in values)


def dataset_drop_table(report: Report) -> ReportTable:
    rows = report.dataset_drops
    cols, raw = raw_rows(rows)
    lead = ["pair"] if len({r.pair for r in rows}) > 1 else []
    disp_cols = [*lead, "source -> target", "setting", "role", "decoding", "n source/target",
                 "source", "target", "drop [95% CI]", "relative drop [95% CI]", "note"]
    disp = [
        [
            *([r.pair] if lead else []), f"{r.source} -> {r.target}", r.setting, r.role,
            decoding_label(r.strategy, r.metric), f"{r.n_source}/{r.n_target}",
            pct(r.source_accuracy), pct(r.target_accuracy),
            signed_pp(r.drop, r.drop_low, r.drop_high),
            pct_ci(r.relative_drop, r.relative_low, r.relative_high), r.note,
        ]
        for r in rows
    ]
    note = (
        "different items on each side (unpaired): drop = source - target accuracy, relative = "
        "drop / source; percentile bootstrap resampling each benchmark's items on its own"
        if disp
        else "needs the same role, setting and decoding on math500 and math-perturb-hard"
    )
    first = len(lead) + 4
    return ReportTable(
        "dataset_drops", "benchmark -> benchmark (unpaired)", cols, raw, disp_cols, disp, note,
        set(range(first, first + 5)),
    )


def linked_drop_table(report: Report) -> ReportTable:
    rows = report.linked_drops
    cols, raw = raw_rows(rows)
    lead = ["pair"] if len({r.pair for r in rows}) > 1 else []
    disp_cols = [*lead, "source -> target", "setting", "role", "decoding", "n",
                 "source", "target", "drop [95% CI]", "relative drop [95% CI]",
                 "both/src/tgt/neither", "McNemar p", "note"]
    disp = [
        [
            *([r.pair] if lead else []), f"{r.source} -> {r.target}", r.setting, r.role,
            decoding_label(r.strategy, r.metric),
            str(r.n) if r.n == r.n_target else f"{r.n} ({r.n_target})",
            pct(r.source_accuracy), pct(r.target_accuracy),
            signed_pp(r.drop, r.drop_low, r.drop_high),
            pct_ci(r.relative_drop, r.relative_low, r.relative_high),
            _counts(r.both_correct, r.source_only, r.target_only, r.both_wrong),
            p_text(r.p_value) + ("" if r.test in ("exact", "n/a", "none") else f" ({r.test})"),
            r.note,
        ]
        for r in rows
    ]
    note = (
        "paired on linked items: math-perturb by problem_id, gsm-symbolic-p2 variants by the "
        "GSM8K item they vary (original_id). n: source items (in brackets, target items when "
        "an item has several: its target accuracy is their mean). Bootstrap over source items; "
        "McNemar where each item has one 0/1 pair"
        if disp
        else "needs math-perturb-simple and -hard, or gsm8k and gsm-symbolic-p2, on linked items "
        "(same role, setting and decoding)"
    )
    first = len(lead) + 4
    return ReportTable(
        "linked_drops", "benchmark -> benchmark (paired by item)", cols, raw, disp_cols, disp,
        note, set(range(first, first + 7)),
    )
