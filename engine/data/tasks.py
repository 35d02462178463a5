"""Tasks for correlations across tasks: slices of the datasets that exist offline.

Why slices: the in-context-learning study (Bigoulaeva et al. 2025) correlates accuracies over
*tasks*, and one dataset is one point. A slice is a subset the data already names: MATH-500's
subject, MedCalc-Bench's calculator category (or calculator), the embedded templates' number of
steps, GSM-Symbolic P2's variants; GSM8K and a user's `--dataset file` are one task each.
"""

from __future__ import annotations

from engine.records import Item

MEDCALC_SLICES = ("category", "calculator")


def task_of(item: Item, *, medcalc_by: str = "category") -> str | None:
    """The task an item belongs to, or None for an item no task takes (a P2 original)."""
    d = item.dataset
    f = item.fields
    if d in ("math500", "math-perturb-hard", "math-perturb-simple"):
        subject = str(f.get("subject") or "").strip()
        return f"{d}/{subject.lower()}" if subject else d
    if d == "medcalc":
        if medcalc_by == "calculator":
            name = str(f.get("calculator_name") or f.get("calculator_id") or "?").strip()
            return f"medcalc/{name}"
        return f"medcalc/{str(f.get('category') or '?').strip()}"
    if d == "embedded":
        return f"embedded/{f.get('steps', '?')}-step"
    if d == "gsm-symbolic-p2":
        # The rows' GSM8K originals come along with their P2 variants; the task is P2.
        return d if item.is_variant else None
    return d
