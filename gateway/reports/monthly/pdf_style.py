"""The look of the reports' PDFs: the A4 page and its footer, the palette, paragraph styles, the key-figure
boxes and the table style, shared by the monthly report (``pdf``), its charts (``pdf_charts``) and the
quarterly assessment (``gateway.reports.quarterly.pdf``)."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

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


def a4_document(buffer: io.BytesIO, title: str, subject: str) -> SimpleDocTemplate:
    """An A4 portrait document with the reports' margins."""
    return SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=title,
        author="firegw",
        subject=subject,
    )


def page_footer(font: str, text: str) -> Callable[[Canvas, Any], None]:
    """Draws ``text`` and the page number at the foot of every page (``doc.build(onFirstPage=...)``)."""

    def on_page(canvas: Canvas, _doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.setFillColor(MUTED)
        canvas.drawString(18 * mm, 9 * mm, text)
        canvas.drawRightString(A4[0] - 18 * mm, 9 * mm, f"第 {canvas.getPageNumber()} 页")
        canvas.restoreState()

    return on_page


def key_figure_table(cells: Sequence[tuple[str, str, str, str]], styles: Styles) -> Table:
    """Boxes of key figures, three a row: (Chinese label, English label, value, note)."""
    data = []
    for i in range(0, len(cells), 3):
        row = []
        for zh, en, value, note in cells[i : i + 3]:
            row.append(
                [
                    Paragraph(f"{zh} <font size=7 color='#4B5563'>{en}</font>", styles.body),
                    Paragraph(escape(value), styles.big),
                    Paragraph(escape(note), styles.small),
                ]
            )
        data.append(row)
    table = Table(data, colWidths=[58 * mm] * 3)
    table.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.5, GRID),
                ("INNERGRID", (0, 0), (-1, -1), 0.5, GRID),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#F9FAFB")),
            ]
        )
    )
    return table


def definitions(heading: str, items: Sequence[tuple[str, str]], styles: Styles) -> list[Flowable]:
    """The closing section: a heading, then each (term, text) as a small paragraph."""
    out: list[Flowable] = [Paragraph(heading, styles.h2)]
    for term, text in items:
        out.append(Paragraph(f"<font color='#111827'>{escape(term)}</font>：{escape(text)}", styles.small))
        out.append(Spacer(1, 3))
    return out


def build_with_footer(doc: SimpleDocTemplate, story: list[Flowable], font: str, footer: str) -> None:
    """Lay the story out, with ``footer`` and the page number on every page."""
    on_page = page_footer(font, footer)
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
