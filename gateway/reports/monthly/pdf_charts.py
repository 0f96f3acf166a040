"""The monthly report's PDF charts: vertical bars (by criterion, by hour, grades, response targets) and
horizontal bars (the estates with the most hazards), with axes scaled to round steps."""

from __future__ import annotations

import math
from collections.abc import Sequence

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.units import mm

from gateway.reports.monthly.pdf_style import INK, SERIES


def _step(top: float) -> float:
    if top <= 5:
        return 1
    raw = top / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    return float(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))


def _count_label(value: float) -> str:
    return f"{value:.0f}" if value else ""  # no "0" over every empty hour


def _percent_label(value: float) -> str:
    return f"{value:.0f}%"


def bar_chart(
    font: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    width: float = 170 * mm,
    height: float = 62 * mm,
    bar_colours: Sequence[colors.Color] | None = None,
    percent: bool = False,
) -> Drawing:
    drawing = Drawing(width, height)
    chart = VerticalBarChart()
    chart.x, chart.y = 30, 28
    chart.width, chart.height = int(width - 45), int(height - 58)
    chart.data = [list(values) for _, values in series]
    chart.categoryAxis.categoryNames = list(categories)
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labels.boxAnchor = "n"
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    top = max([max(v, default=0) for _, v in series], default=0)
    chart.valueAxis.valueMin = 0
    if percent:
        chart.valueAxis.valueMax = 100
        chart.valueAxis.valueStep = 20
    else:
        step = _step(top)
        chart.valueAxis.valueStep = step
        chart.valueAxis.valueMax = max(step, math.ceil(top / step) * step)
    chart.barSpacing = 1
    chart.groupSpacing = 4
    for i in range(len(series)):
        chart.bars[i].fillColor = SERIES[i % len(SERIES)]
        chart.bars[i].strokeColor = None
    if bar_colours:
        for i, colour in enumerate(bar_colours):
            chart.bars[(0, i)].fillColor = colour
    chart.barLabelFormat = _percent_label if percent else _count_label
    chart.barLabels.fontName = font
    chart.barLabels.fontSize = 6.5
    chart.barLabels.nudge = 6
    drawing.add(chart)
    drawing.add(String(0, height - 12, title, fontName=font, fontSize=10, fillColor=INK))
    if len(series) > 1:
        legend = Legend()
        legend.fontName = font
        legend.fontSize = 7.5
        legend.alignment = "right"
        legend.x, legend.y = int(width - 150), int(height - 8)
        legend.columnMaximum = 1
        legend.dx = legend.dy = 7
        legend.deltax = 70
        legend.colorNamePairs = [(SERIES[i % len(SERIES)], name) for i, (name, _) in enumerate(series)]
        drawing.add(legend)
    return drawing


def hbar_chart(font: str, title: str, names: Sequence[str], values: Sequence[float]) -> Drawing:
    height = 30 + 14 * len(names) + 20
    width = 170 * mm
    drawing = Drawing(width, height)
    chart = HorizontalBarChart()
    chart.x, chart.y = 110, 18
    chart.width, chart.height = int(width - 130), int(height - 48)
    chart.data = [list(reversed(values))]
    chart.categoryAxis.categoryNames = list(reversed(names))
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    top = max(values, default=0)
    step = _step(top)
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueStep = step
    chart.valueAxis.valueMax = max(step, math.ceil(top / step) * step)
    chart.bars[0].fillColor = SERIES[0]
    chart.bars[0].strokeColor = None
    chart.barLabelFormat = _count_label
    chart.barLabels.fontName = font
    chart.barLabels.fontSize = 6.5
    chart.barLabels.nudge = 7
    drawing.add(chart)
    drawing.add(String(0, height - 12, title, fontName=font, fontSize=10, fillColor=INK))
    return drawing
