"""How settings, decodings and numbers are written, and the order they are listed in.

Shared by the analyses (which sort their rows by these keys) and the renderers (which print the
labels), so that a table, a plot and a CSV name a setting the same way.
"""

from __future__ import annotations

from engine.records import FEW_SHOT_MODES, MODE_ORDER, ORIGINAL


def setting_label(mode: str, shots: int) -> str:
    """'zero-shot-cot', or 'few-shot-cot/8': the shot count only where it changes the prompt."""
    return f"{mode}/{shots}" if mode in FEW_SHOT_MODES else mode


def decoding_label(strategy: str, metric: str) -> str:
    """'greedy', 'sample maj@5', 'cot-decoding best-path': one column instead of two."""
    return strategy if metric == strategy else f"{strategy} {metric}"


def setting_key(setting: str) -> tuple[int, int, str]:
    """Sort key: modes in their usual order, then by shots."""
    mode, _, shots = setting.partition("/")
    return (MODE_ORDER.get(mode, 9), int(shots or 0), setting)


def variant_key(variant: str) -> tuple[int, str]:
    """Sort key: the original first, then perturbations by name."""
    return (0 if variant == ORIGINAL else 1, variant)


def role_key(role: str) -> tuple[int, str]:
    """Sort key: base, instruct, then other roles (instruct-raw) by name."""
    return ({"base": 0, "instruct": 1}.get(role, 2), role)


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
