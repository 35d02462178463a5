"""The app's widgets, one per module; they only display, the screens decide what and when.

One layout serves the live compare screen and the recorded answer: `QuestionView` on top,
`AnswerPane`s below (each a `StreamText` with the verdict, timing and token shift under it), the
`ControlPanel` at the side and a `StatusLine` above. The Report screen is made of
`report_section`s (title, `DataTable`, notes) and `ReportPlot`s.
"""

from tui.widgets.answer_pane import AnswerPane
from tui.widgets.control_panel import ControlPanel
from tui.widgets.pane_result import PaneResult, highlighted_output, stats_line
from tui.widgets.question_view import QuestionView, word_diff
from tui.widgets.report_plot import ReportPlot
from tui.widgets.report_table import CompactTable, compact_columns, report_section, section_title
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
    "CompactTable",
    "ControlPanel",
    "PaneResult",
    "QuestionView",
    "ReportPlot",
    "StatusLine",
    "StreamText",
    "compact_columns",
    "highlighted_output",
    "report_section",
    "section_title",
    "shift_counts",
    "shift_explanation",
    "shift_legend",
    "shift_output",
    "shift_styles",
    "stats_line",
    "word_diff",
]
