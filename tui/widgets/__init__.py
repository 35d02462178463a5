"""The app's widgets, one per module; they only display, the screens decide what and when.

One layout serves the live compare screen and the recorded answer: `QuestionView` on top,
`AnswerPane`s below (each a `StreamText` with the verdict, timing and token shift under it).
"""

from tui.widgets.answer_pane import AnswerPane
from tui.widgets.control_panel import ControlPanel
from tui.widgets.pane_result import PaneResult, highlighted_output, stats_line
from tui.widgets.question_view import QuestionView, word_diff
from tui.widgets.status_line import StatusLine
from tui.widgets.stream_text import StreamText
from tui.widgets.token_shift import (
    SHIFT_CLASSES,
    shift_counts,
    shift_explanation,
    shift_legend,
    shift_output,
    shift_styles,
)

__all__ = [
    "SHIFT_CLASSES",
    "AnswerPane",
    "ControlPanel",
    "PaneResult",
    "QuestionView",
    "StatusLine",
    "StreamText",
    "highlighted_output",
    "shift_counts",
    "shift_explanation",
    "shift_legend",
    "shift_output",
    "shift_styles",
    "stats_line",
    "word_diff",
]
