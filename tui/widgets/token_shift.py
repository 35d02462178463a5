"""How an instruct answer with a known token shift is drawn.

`engine.analysis.shift.TokenShift` rows colour the answer by class (unshifted, marginal,
shifted) in the theme's colours, with a legend; every token carries its explanation (what the
base model preferred there) as a tooltip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text

if TYPE_CHECKING:
    from engine.analysis import TokenShift

SHIFT_CLASSES = ("unshifted", "marginal", "shifted")


def shift_styles(variables: Mapping[str, str]) -> dict[str, Style]:
    """Styles per shift class (and the selected token) from the theme's colour variables.

    Unshifted tokens stay plain; marginal ones take the theme's warning text colour, shifted ones
    its error text colour, bold and underlined so they stand out without colour too.
    """
    warning = variables.get("text-warning") or variables.get("warning") or "yellow"
    error = variables.get("text-error") or variables.get("error") or "red"
    primary = variables.get("primary") or "blue"
    return {
        "unshifted": Style(),
        "marginal": Style(color=warning),
        "shifted": Style(color=error, bold=True, underline=True),
        "selected": Style(color="#ffffff", bgcolor=primary, bold=True),
    }


def _quoted(token: str) -> str:
    return repr(token)


def shift_explanation(tok: TokenShift) -> str:
    """One line on a token: what the instruct model wrote and what the base model preferred."""
    if tok.shift == "unshifted":
        return (f"instruct wrote {_quoted(tok.token)}: the base model's first choice too "
                f"(p={tok.prob:.2f})")
    return (f"instruct wrote {_quoted(tok.token)} (rank {tok.rank}), base preferred "
            f"{_quoted(tok.base_top)} (p={tok.base_top_prob:.2f})")


def shift_output(output: str, span: tuple[int, int] | None, shifts: Sequence[TokenShift],
                 styles: Mapping[str, Style], selected: int | None = None) -> Text:
    """The answer coloured by shift class; every token carries its explanation as a tooltip.

    `selected` is a position in `shifts`, drawn in the selection style. The extracted answer is
    marked as in `highlighted_output`.
    """
    text = Text(output)
    n = len(output)
    for i, tok in enumerate(shifts):
        start, end = max(0, tok.start), min(n, tok.end)
        if start >= end:
            continue  # part of a character completed by the next token
        meta = {"tooltip": shift_explanation(tok), "token": i}
        text.stylize(styles.get(tok.shift, Style()) + Style(meta=meta), start, end)
    if span is not None and 0 <= span[0] < span[1] <= n:
        text.stylize("bold reverse", span[0], span[1])
    if selected is not None and 0 <= selected < len(shifts):
        tok = shifts[selected]
        if tok.start < tok.end:
            text.stylize(styles["selected"], tok.start, min(n, tok.end))
    return text


def shift_counts(shifts: Sequence[TokenShift]) -> dict[str, int]:
    counts = dict.fromkeys(SHIFT_CLASSES, 0)
    for tok in shifts:
        counts[tok.shift] = counts.get(tok.shift, 0) + 1
    return counts


def shift_legend(shifts: Sequence[TokenShift], styles: Mapping[str, Style]) -> Text:
    """'unshifted/marginal/shifted 80/12/8%': each class name in its own style, one line in a pane
    at 80 columns."""
    counts = shift_counts(shifts)
    total = max(1, len(shifts))
    legend = Text()
    for i, cls in enumerate(SHIFT_CLASSES):
        if i:
            legend.append("/", style="dim")
        legend.append(cls, style=styles.get(cls, Style()) + Style(dim=cls == "unshifted"))
    shares = "/".join(f"{100 * counts[cls] / total:.0f}" for cls in SHIFT_CLASSES)
    legend.append(f" {shares}%")
    return legend
