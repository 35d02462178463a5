"""One of the report's terminal plots."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual_plotext import PlotextPlot

if TYPE_CHECKING:
    from engine.render import TerminalPlot


class ReportPlot(PlotextPlot):
    """One of the report's terminal plots (textual-plotext), drawn by the engine's plotter."""

    def __init__(self, plot: TerminalPlot) -> None:
        from engine.render import draw_plotext

        super().__init__(classes="report-plot")
        self.plot = plot
        draw_plotext(plot, self.plt)
