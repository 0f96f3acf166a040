"""The look of the monthly report's PDF: its palette, paragraph styles and table style, shared by the page
(``pdf``) and its charts (``pdf_charts``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Paragraph, Table, TableStyle

from gateway.reports.colours import COLOUR_RGB, OTHER_RGB

INK = colors.HexColor("#111827")
MUTED = colors.HexColor("#4B5563")
GRID = colors.HexColor("#D1D5DB")
SERIES = [colors.HexColor("#2563EB"), colors.HexColor("#16A34A"), colors.HexColor("#F59E0B")]


def grade_colour(colour: str) -> colors.Color:
    r, g, b = COLOUR_RGB.get(colour, OTHER_RGB)
    return colors.Color(r / 255, g / 255, b / 255)


def _style(name: str, font: str, size: float, leading: float, colour: colors.Color = INK) -> ParagraphStyle:
    return ParagraphStyle(
        name,
        fontName=font,
        fontSize=size,
        leading=leading,
        wordWrap="CJK",
        alignment=TA_LEFT,
        textColor=colour,
    )


class Styles:
    def __init__(self, font: str) -> None:
        self.title = _style("title", font, 18, 24)
        self.subtitle = _style("subtitle", font, 10, 13, MUTED)
        self.h2 = _style("h2", font, 13, 18)
        self.h2.spaceBefore, self.h2.spaceAfter, self.h2.keepWithNext = 10, 4, 1
        self.body = _style("body", font, 9, 12.5)
        self.small = _style("small", font, 7.5, 10, MUTED)
        self.cell = _style("cell", font, 7.5, 9.5)
        self.big = _style("big", font, 15, 18)


def data_table(
    font: str,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    styles: Styles,
    numeric_from: int = 1,
) -> Table:
    data: list[list[Any]] = [[Paragraph(escape(h), styles.cell) for h in header]]
    for row in rows:
        data.append(
            [Paragraph(escape(v), styles.cell) if isinstance(v, str) and len(v) > 14 else v for v in row]
        )
    table = Table(data, colWidths=list(widths), repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), font, 7.5),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E5E7EB")),
                ("GRID", (0, 0), (-1, -1), 0.4, GRID),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("ALIGN", (numeric_from, 1), (-1, -1), "RIGHT"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table
