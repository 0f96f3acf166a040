"""The monthly report as PDF (with charts), XLSX (one sheet per table) and CSV (one long table).

Everything here formats a ``MonthlyReport`` (``gateway.reports.monthly``); nothing reads the store.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import Flowable

from gateway.reports.fonts import pdf_font
from gateway.reports.monthly import OUTCOME_ZH, MonthlyReport
from gateway.reports.placard import COLOUR_RGB, OTHER_RGB

Format = Literal["pdf", "xlsx", "csv"]
#: Grade-change rows printed in the PDF (the XLSX and CSV have them all).
PDF_MAX_GRADE_CHANGES = 200

DEFINITIONS: list[tuple[str, str]] = [
    (
        "隐患整改率 Rectification rate",
        "本月新发现的隐患中，截至月末已整改销号（复查验收后关闭，或设备恢复正常并保持后自动关闭）的比例；"
        "督办人员以误报、重复等理由撤销的隐患不计入分子和分母；已整改待验收的不计为已整改。"
        " Of the hazards found in the month, the share closed as rectified by its end (verified by an "
        "inspector, or closed automatically after the device recovered); hazards withdrawn by a "
        "supervisor (filed in error, duplicate) leave both counts; rectified-awaiting-verification does "
        "not count yet.",
    ),
    (
        "设施完好率 Facility intact rate",
        "独立式烟感和消火栓水压监测设备的“设备·日”中无故障的比例：某设备某日内任一时刻存在离线、故障、"
        "拆除、低电量、通信故障、水压过低/过高/骤降、传感器故障或漏水信号，即计为该设备当日不完好"
        "（以网关记录的信号生效至恢复的时间为准）。本月未结束时统计至当前时刻。"
        " The share of device-days (smoke detectors and hydrant sensors) with no failure signal active "
        "at any time of the day, as recorded by the gateway; up to now for the month in progress.",
    ),
    (
        "接警响应 Alarm response",
        "本月收到的烟感报警（不含测试）自到达网关起至确认、到场、关闭的时长，p50/p90 为线性插值分位数；"
        "达标比例的目标为微型消防站“1 分钟响应、3 分钟到场、5 分钟处置”，确认与关闭以全部报警为分母"
        "（未确认即未达标），到场以已派出的报警为分母。"
        " Seconds from arrival to acknowledge, on scene and close for the month's smoke alarms (tests "
        "left out); p50/p90 by linear interpolation; the share within 1/3/5 minutes over every alarm "
        "(acknowledge, close) or every dispatched alarm (on scene).",
    ),
    (
        "评级变化 Grade changes",
        "本月内小区颜色发生变化的记录（仅颜色不变、支撑条款变化的记录不列出）；月末评级为月末时刻的颜色。"
        " Changes of an estate's colour in the month (changes of the items alone are not listed).",
    ),
]


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} s"


def _period(report: MonthlyReport) -> str:
    last = report.end.date().fromordinal(report.end.date().toordinal() - 1)
    return f"{report.start.date().isoformat()} — {last.isoformat()}"


def title_zh(report: MonthlyReport) -> str:
    year, month = report.month.split("-")
    return f"{report.scope_zh} 消防安全月报（{year}年{int(month)}月）"


# -- CSV ---------------------------------------------------------------------------------------------------


def summary_rows(report: MonthlyReport) -> list[tuple[str, str, Any]]:
    """(metric, label, value) of the key figures: shared by the CSV, the XLSX and the PDF."""
    rows: list[tuple[str, str, Any]] = [
        ("estates", "小区数 Estates", len(report.estates)),
        ("hazards_opened", "本月新发现隐患 Hazards found", report.hazards_opened),
        ("hazards_rectified", "其中已整改 Rectified", report.rectified),
        ("hazards_withdrawn", "其中撤销 Withdrawn", report.withdrawn),
        ("rectification_rate", "隐患整改率 Rectification rate", report.rectification_rate),
        (
            "closed_in_month",
            "本月整改销号（含往月隐患）Closed as rectified in the month",
            report.closed_in_month,
        ),
        ("open_at_end", "月末未销号隐患 Open at month end", report.open_at_end),
        ("overdue_at_end", "月末逾期未整改 Overdue at month end", report.overdue_at_end),
        (
            "awaiting_verification_at_end",
            "月末已整改待验收 Awaiting verification",
            report.awaiting_verification_at_end,
        ),
        ("device_days", "设备·日 Device-days", report.device_days),
        ("failed_device_days", "不完好设备·日 Failed device-days", report.failed_device_days),
        ("intact_rate", "设施完好率 Facility intact rate", report.intact_rate),
        ("alarms", "报警 Alarms", report.alarms),
        ("complaints", "投诉举报 Complaints", report.complaints),
        ("fires", "火灾 Fires", report.fires),
        ("grade_changes", "评级变化 Grade changes", len(report.grade_changes)),
    ]
    for step in report.steps:
        rows.append(
            (
                f"alarm_{step.step}_within_target",
                f"{step.zh}达标比例 {step.en} within target",
                step.share_within,
            )
        )
    return rows


def render_csv(report: MonthlyReport) -> bytes:
    """One long table: ``section, key, name, metric, value`` (UTF-8 with a BOM, so Excel reads Chinese)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["section", "key", "name", "metric", "value"])
    w.writerow(["report", "", report.scope_zh, "month", report.month])
    w.writerow(["report", "", "", "period_start", report.start.isoformat()])
    w.writerow(["report", "", "", "period_end", report.end.isoformat()])
    w.writerow(["report", "", "", "figures_until", report.cutoff.isoformat()])
    w.writerow(["report", "", "", "policy", report.policy_ref])
    for metric, label, value in summary_rows(report):
        w.writerow(["summary", "", label, metric, _csv_value(value)])
    for source, n in sorted(report.hazards_by_source.items()):
        w.writerow(["hazards_by_source", source, "", "opened", n])
    for c in report.by_criterion:
        for metric in ("opened", "rectified", "withdrawn", "open_at_end"):
            w.writerow(["by_criterion", c.code, c.zh, metric, getattr(c, metric)])
    for e in report.estates:
        for metric in (
            "opened",
            "rectified",
            "withdrawn",
            "rectification_rate",
            "open_at_end",
            "overdue_at_end",
            "device_days",
            "failed_device_days",
            "intact_rate",
            "alarms",
            "complaints",
            "fires",
            "grade_start",
            "grade_end",
            "grade_changes",
        ):
            w.writerow(["by_estate", e.estate_id, e.name, metric, _csv_value(getattr(e, metric))])
    for hour in range(24):
        w.writerow(["by_hour", f"{hour:02d}", "", "hazards_opened", report.hazards_by_hour[hour]])
        w.writerow(["by_hour", f"{hour:02d}", "", "alarms", report.alarms_by_hour[hour]])
    for k in report.intact_by_kind:
        for metric in ("devices", "device_days", "failed_device_days", "intact_rate"):
            w.writerow(["facilities", k.kind, k.zh, metric, _csv_value(getattr(k, metric))])
    for s in report.steps:
        for metric in ("target_s", "eligible", "reached", "within", "share_within", "p50_s", "p90_s"):
            w.writerow(["alarm_response", s.step, s.zh, metric, _csv_value(getattr(s, metric))])
    for outcome, n in sorted(report.alarm_outcomes.items()):
        w.writerow(["alarm_outcomes", outcome, OUTCOME_ZH.get(outcome, outcome), "alarms", n])
    for colour, n in sorted(report.grades_at_end.items()):
        w.writerow(["grades_at_end", colour, report.colour_name(colour), "estates", n])
    for g in report.grade_changes:
        w.writerow(
            ["grade_changes", g.estate_id, g.name, g.at.isoformat(), f"{g.previous or '-'}->{g.colour}"]
        )
    return out.getvalue().encode("utf-8-sig")


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return value


# -- XLSX --------------------------------------------------------------------------------------------------

SHEETS = (
    "概要 Summary",
    "按条款 By criterion",
    "按小区 By estate",
    "按时段 By hour",
    "设施完好 Facilities",
    "接警响应 Alarms",
    "评级变化 Grades",
    "口径说明 Definitions",
)
_HEAD_FILL = PatternFill("solid", fgColor="1F2937")
_HEAD_FONT = Font(bold=True, color="FFFFFF")
_PERCENT = "0.0%"


def _sheet(wb: Workbook, title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Worksheet:
    ws: Worksheet = wb.create_sheet(title)
    ws.append(list(header))
    for cell in ws[1]:
        cell.fill = _HEAD_FILL
        cell.font = _HEAD_FONT
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    for row in rows:
        ws.append([_xlsx_value(v) for v in row])
    ws.freeze_panes = "A2"
    for i, name in enumerate(header, start=1):
        longest = max([len(str(name))] + [len(str(r[i - 1])) for r in rows if r[i - 1] is not None])
        ws.column_dimensions[get_column_letter(i)].width = min(60, max(8, longest * 1.6 + 2))
    return ws


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)  # Excel has no time zones: local time of the policy
    return value


def _percent_columns(ws: Worksheet, columns: Sequence[int]) -> None:
    for col in columns:
        for (cell,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
            cell.number_format = _PERCENT


def render_xlsx(report: MonthlyReport) -> bytes:
    wb = Workbook()
    for default in list(wb.worksheets):
        wb.remove(default)
    rate_metrics = {"rectification_rate", "intact_rate"} | {
        f"alarm_{s.step}_within_target" for s in report.steps
    }

    info = [
        ("month", "月份 Month", report.month),
        ("scope", "范围 Scope", report.scope_zh),
        ("period", "统计期间 Period", f"{_period(report)} ({report.timezone})"),
        ("figures_until", "数据截至 Figures until", report.cutoff.replace(tzinfo=None)),
        ("generated_at", "生成时间 Generated", report.generated_at.replace(tzinfo=None)),
        ("policy", "判定标准 Policy", f"{report.policy_zh} ({report.policy_ref})"),
    ]
    rows = [*info, *summary_rows(report)]
    ws = _sheet(wb, SHEETS[0], ["metric", "指标 Item", "值 Value"], [list(r) for r in rows])
    for row in ws.iter_rows(min_row=2):
        if row[0].value in rate_metrics:
            row[2].number_format = _PERCENT

    ws = _sheet(
        wb,
        SHEETS[1],
        [
            "代码 Code",
            "条款 Criterion",
            "Criterion (en)",
            "类别 Category",
            "发现 Found",
            "已整改 Rectified",
            "撤销 Withdrawn",
            "月末未销号 Open at end",
        ],
        [
            [c.code, c.zh, c.en, c.category, c.opened, c.rectified, c.withdrawn, c.open_at_end]
            for c in report.by_criterion
        ],
    )
    if report.by_criterion:
        chart = BarChart()
        chart.title = "隐患 按条款 Hazards by criterion"
        chart.add_data(
            Reference(ws, min_col=5, max_col=6, min_row=1, max_row=len(report.by_criterion) + 1),
            titles_from_data=True,
        )
        chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=len(report.by_criterion) + 1))
        ws.add_chart(chart, "J2")

    ws = _sheet(
        wb,
        SHEETS[2],
        [
            "小区编号 Estate",
            "小区 Name",
            "区 District",
            "街道 Street",
            "物业 Company",
            "发现 Found",
            "已整改 Rectified",
            "撤销 Withdrawn",
            "隐患整改率 Rectification rate",
            "月末未销号 Open at end",
            "月末逾期 Overdue at end",
            "设备·日 Device-days",
            "不完好设备·日 Failed",
            "设施完好率 Intact rate",
            "报警 Alarms",
            "投诉 Complaints",
            "火灾 Fires",
            "月初评级 Grade at start",
            "月末评级 Grade at end",
            "评级变化 Changes",
        ],
        [
            [
                e.estate_id,
                e.name,
                e.district,
                e.street,
                e.company,
                e.opened,
                e.rectified,
                e.withdrawn,
                e.rectification_rate,
                e.open_at_end,
                e.overdue_at_end,
                e.device_days,
                e.failed_device_days,
                e.intact_rate,
                e.alarms,
                e.complaints,
                e.fires,
                report.colour_name(e.grade_start),
                report.colour_name(e.grade_end),
                e.grade_changes,
            ]
            for e in report.estates
        ],
    )
    _percent_columns(ws, [9, 14])

    ws = _sheet(
        wb,
        SHEETS[3],
        ["时 Hour", "新发现隐患 Hazards found", "报警 Alarms"],
        [[h, report.hazards_by_hour[h], report.alarms_by_hour[h]] for h in range(24)],
    )
    chart = BarChart()
    chart.title = "按时段 By hour of day"
    chart.add_data(Reference(ws, min_col=2, max_col=3, min_row=1, max_row=25), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=25))
    ws.add_chart(chart, "E2")

    ws = _sheet(
        wb,
        SHEETS[4],
        [
            "类型 Kind",
            "设备 Kind (en)",
            "设备数 Devices",
            "设备·日 Device-days",
            "不完好设备·日 Failed",
            "设施完好率 Intact rate",
        ],
        [
            [k.zh, k.en, k.devices, k.device_days, k.failed_device_days, k.intact_rate]
            for k in report.intact_by_kind
        ]
        + [
            [
                "合计",
                "all",
                sum(k.devices for k in report.intact_by_kind),
                report.device_days,
                report.failed_device_days,
                report.intact_rate,
            ]
        ],
    )
    _percent_columns(ws, [6])

    ws = _sheet(
        wb,
        SHEETS[5],
        [
            "环节 Step",
            "Step (en)",
            "目标 Target (s)",
            "应计 Eligible",
            "已完成 Reached",
            "达标 Within",
            "达标比例 Share within",
            "p50 (s)",
            "p90 (s)",
        ],
        [
            [s.zh, s.en, s.target_s, s.eligible, s.reached, s.within, s.share_within, s.p50_s, s.p90_s]
            for s in report.steps
        ],
    )
    _percent_columns(ws, [7])
    ws.append([])
    ws.append(["结果 Outcome", "outcome", "报警 Alarms"])
    for outcome, n in sorted(report.alarm_outcomes.items()):
        ws.append([OUTCOME_ZH.get(outcome, outcome), outcome, n])

    _sheet(
        wb,
        SHEETS[6],
        ["时间 Time", "小区编号 Estate", "小区 Name", "原评级 From", "新评级 To", "原因 Reasons"],
        [
            [
                g.at,
                g.estate_id,
                g.name,
                report.colour_name(g.previous) if g.previous else "（首次评定）",
                report.colour_name(g.colour),
                g.reasons,
            ]
            for g in report.grade_changes
        ],
    )

    ws = _sheet(wb, SHEETS[7], ["项目 Item", "口径 Definition"], [list(d) for d in DEFINITIONS])
    ws.column_dimensions["B"].width = 120
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")

    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


# -- PDF ---------------------------------------------------------------------------------------------------

_INK = colors.HexColor("#111827")
_MUTED = colors.HexColor("#4B5563")
_GRID = colors.HexColor("#D1D5DB")
_HEAD = colors.HexColor("#1F2937")
_SERIES = [colors.HexColor("#2563EB"), colors.HexColor("#16A34A"), colors.HexColor("#F59E0B")]


def _rgb(colour: str) -> colors.Color:
    r, g, b = COLOUR_RGB.get(colour, OTHER_RGB)
    return colors.Color(r / 255, g / 255, b / 255)


def _style(name: str, font: str, size: float, leading: float, colour: colors.Color = _INK) -> ParagraphStyle:
    return ParagraphStyle(
        name,
        fontName=font,
        fontSize=size,
        leading=leading,
        wordWrap="CJK",
        alignment=TA_LEFT,
        textColor=colour,
    )


class _Styles:
    def __init__(self, font: str) -> None:
        self.title = _style("title", font, 18, 24)
        self.subtitle = _style("subtitle", font, 10, 13, _MUTED)
        self.h2 = _style("h2", font, 13, 18)
        self.h2.spaceBefore, self.h2.spaceAfter, self.h2.keepWithNext = 10, 4, 1
        self.body = _style("body", font, 9, 12.5)
        self.small = _style("small", font, 7.5, 10, _MUTED)
        self.cell = _style("cell", font, 7.5, 9.5)
        self.big = _style("big", font, 15, 18)


def _table(
    font: str,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    styles: _Styles,
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
                ("GRID", (0, 0), (-1, -1), 0.4, _GRID),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("ALIGN", (numeric_from, 1), (-1, -1), "RIGHT"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


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


def _bar_chart(
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
        chart.bars[i].fillColor = _SERIES[i % len(_SERIES)]
        chart.bars[i].strokeColor = None
    if bar_colours:
        for i, colour in enumerate(bar_colours):
            chart.bars[(0, i)].fillColor = colour
    chart.barLabelFormat = _percent_label if percent else _count_label
    chart.barLabels.fontName = font
    chart.barLabels.fontSize = 6.5
    chart.barLabels.nudge = 6
    drawing.add(chart)
    drawing.add(String(0, height - 12, title, fontName=font, fontSize=10, fillColor=_INK))
    if len(series) > 1:
        legend = Legend()
        legend.fontName = font
        legend.fontSize = 7.5
        legend.alignment = "right"
        legend.x, legend.y = int(width - 150), int(height - 8)
        legend.columnMaximum = 1
        legend.dx = legend.dy = 7
        legend.deltax = 70
        legend.colorNamePairs = [(_SERIES[i % len(_SERIES)], name) for i, (name, _) in enumerate(series)]
        drawing.add(legend)
    return drawing


def _hbar_chart(font: str, title: str, names: Sequence[str], values: Sequence[float]) -> Drawing:
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
    chart.bars[0].fillColor = _SERIES[0]
    chart.bars[0].strokeColor = None
    chart.barLabelFormat = _count_label
    chart.barLabels.fontName = font
    chart.barLabels.fontSize = 6.5
    chart.barLabels.nudge = 7
    drawing.add(chart)
    drawing.add(String(0, height - 12, title, fontName=font, fontSize=10, fillColor=_INK))
    return drawing


def _key_figures(report: MonthlyReport, styles: _Styles, font: str) -> Table:
    ack = next((s for s in report.steps if s.step == "ack"), None)
    cells = [
        (
            "隐患整改率",
            "Rectification rate",
            pct(report.rectification_rate),
            f"{report.rectified}/{report.rectification_denominator}",
        ),
        (
            "设施完好率",
            "Facility intact rate",
            pct(report.intact_rate),
            f"{report.device_days - report.failed_device_days}/{report.device_days} 设备·日",
        ),
        (
            "本月新发现隐患",
            "Hazards found",
            str(report.hazards_opened),
            f"月末未销号 {report.open_at_end}，逾期 {report.overdue_at_end}",
        ),
        ("报警", "Alarms", str(report.alarms), f"1 分钟内确认 {pct(ack.share_within) if ack else '—'}"),
        ("投诉 / 火灾", "Complaints / fires", f"{report.complaints} / {report.fires}", ""),
        (
            "评级变化",
            "Grade changes",
            str(len(report.grade_changes)),
            "月末 "
            + "，".join(f"{report.colour_name(c)} {n}" for c, n in sorted(report.grades_at_end.items())),
        ),
    ]
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
                ("BOX", (0, 0), (-1, -1), 0.5, _GRID),
                ("INNERGRID", (0, 0), (-1, -1), 0.5, _GRID),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#F9FAFB")),
            ]
        )
    )
    return table


def render_pdf(report: MonthlyReport, font: str | None = None) -> bytes:
    name = pdf_font(font)
    st = _Styles(name)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=title_zh(report),
        author="firegw",
        subject=f"fire-safety monthly report {report.month}: {report.scope_en}",
    )
    story: list[Flowable] = []
    story.append(Paragraph(escape(title_zh(report)), st.title))
    story.append(
        Paragraph(escape(f"Fire-safety monthly report — {report.scope_en}, {report.month}"), st.subtitle)
    )
    story.append(
        Paragraph(
            f"统计期间 Period：{_period(report)}（{report.timezone}）　小区 {len(report.estates)} 个　"
            f"生成于 {report.generated_at:%Y-%m-%d %H:%M}　"
            f"判定标准：{escape(report.policy_zh)}（{escape(report.policy_ref)}）",
            st.small,
        )
    )
    if report.cutoff < report.end:
        story.append(
            Paragraph(
                f"本月尚未结束，数据截至 {report.cutoff:%Y-%m-%d %H:%M}。"
                f" Month in progress: figures up to {report.cutoff:%Y-%m-%d %H:%M}.",
                st.small,
            )
        )
    story.append(Spacer(1, 8))
    story.append(_key_figures(report, st, name))

    grades = [c for c in [*report.colour_names] if report.grades_at_end.get(c)]
    if grades:
        story.append(Spacer(1, 6))
        story.append(
            _bar_chart(
                name,
                "月末评级分布 Estates by grade at month end",
                [report.colour_name(c) for c in grades],
                [("estates", [report.grades_at_end[c] for c in grades])],
                width=90 * mm,
                height=44 * mm,
                bar_colours=[_rgb(c) for c in grades],
            )
        )

    # Hazards.
    story.append(Paragraph("一、隐患 Hazards", st.h2))
    sources = "，".join(f"{k} {v}" for k, v in sorted(report.hazards_by_source.items())) or "无"
    story.append(
        Paragraph(
            f"本月新发现隐患 {report.hazards_opened} 项（来源：{sources}），"
            f"截至月末已整改 {report.rectified} 项，撤销 {report.withdrawn} 项，"
            f"隐患整改率 {pct(report.rectification_rate)}；"
            f"本月整改销号（含往月隐患）{report.closed_in_month} 项；"
            f"月末未销号 {report.open_at_end} 项，其中逾期 {report.overdue_at_end} 项、"
            f"已整改待验收 {report.awaiting_verification_at_end} 项。",
            st.body,
        )
    )
    if report.by_criterion:
        story.append(
            _bar_chart(
                name,
                "隐患 按条款 Hazards by criterion",
                [c.code for c in report.by_criterion],
                [
                    ("发现 found", [c.opened for c in report.by_criterion]),
                    ("已整改 rectified", [c.rectified for c in report.by_criterion]),
                ],
            )
        )
        story.append(
            _table(
                name,
                ["代码", "条款 Criterion", "发现", "已整改", "撤销", "月末未销号"],
                [
                    [c.code, c.zh, c.opened, c.rectified, c.withdrawn, c.open_at_end]
                    for c in report.by_criterion
                ],
                [14 * mm, 100 * mm, 14 * mm, 14 * mm, 14 * mm, 18 * mm],
                st,
                numeric_from=2,
            )
        )
    story.append(Spacer(1, 6))
    story.append(
        _bar_chart(
            name,
            "按时段 By hour of day (隐患 hazards, 报警 alarms)",
            [f"{h}" for h in range(24)],
            [("隐患 hazards", report.hazards_by_hour), ("报警 alarms", report.alarms_by_hour)],
        )
    )

    # Estates.
    story.append(Paragraph("二、各小区 By estate", st.h2))
    ranked = sorted(report.estates, key=lambda e: (-e.opened, e.estate_id))[:15]
    if any(e.opened for e in ranked):
        story.append(
            _hbar_chart(
                name,
                "本月新发现隐患最多的小区 Estates with the most hazards found",
                [e.name for e in ranked if e.opened],
                [e.opened for e in ranked if e.opened],
            )
        )
    story.append(
        _table(
            name,
            [
                "小区",
                "物业",
                "发现",
                "整改",
                "整改率",
                "未销号",
                "逾期",
                "完好率",
                "报警",
                "投诉",
                "月末评级",
                "变化",
            ],
            [
                [
                    e.name,
                    e.company,
                    e.opened,
                    e.rectified,
                    pct(e.rectification_rate),
                    e.open_at_end,
                    e.overdue_at_end,
                    pct(e.intact_rate),
                    e.alarms,
                    e.complaints,
                    report.colour_name(e.grade_end),
                    e.grade_changes,
                ]
                for e in report.estates
            ],
            [
                30 * mm,
                30 * mm,
                10 * mm,
                10 * mm,
                13 * mm,
                11 * mm,
                9 * mm,
                13 * mm,
                9 * mm,
                9 * mm,
                15 * mm,
                9 * mm,
            ],
            st,
            numeric_from=2,
        )
    )

    # Facilities.
    story.append(Paragraph("三、设施完好 Facilities", st.h2))
    story.append(
        _table(
            name,
            ["设备 Kind", "设备数", "设备·日", "不完好设备·日", "设施完好率"],
            [
                [f"{k.zh} {k.en}", k.devices, k.device_days, k.failed_device_days, pct(k.intact_rate)]
                for k in report.intact_by_kind
            ]
            + [
                [
                    "合计 all",
                    sum(k.devices for k in report.intact_by_kind),
                    report.device_days,
                    report.failed_device_days,
                    pct(report.intact_rate),
                ]
            ],
            [60 * mm, 25 * mm, 25 * mm, 30 * mm, 30 * mm],
            st,
        )
    )

    # Alarms.
    response: list[Flowable] = [Paragraph("四、接警响应 Alarm response", st.h2)]
    outcomes = (
        "，".join(f"{OUTCOME_ZH.get(k, k)} {v}" for k, v in sorted(report.alarm_outcomes.items())) or "无"
    )
    response.append(Paragraph(f"本月报警 {report.alarms} 起（{outcomes}）。", st.body))
    response.append(
        _table(
            name,
            ["环节 Step", "目标", "应计", "已完成", "达标", "达标比例", "p50", "p90"],
            [
                [
                    f"{s.zh} {s.en}",
                    f"{s.target_s / 60:.0f} min",
                    s.eligible,
                    s.reached,
                    s.within,
                    pct(s.share_within),
                    secs(s.p50_s),
                    secs(s.p90_s),
                ]
                for s in report.steps
            ],
            [40 * mm, 16 * mm, 16 * mm, 16 * mm, 16 * mm, 20 * mm, 20 * mm, 20 * mm],
            st,
        )
    )
    if report.alarms:
        response.append(
            _bar_chart(
                name,
                "目标内完成比例 Share within the 1/3/5-minute targets (%)",
                [f"{s.zh} ≤{s.target_s / 60:.0f}min" for s in report.steps],
                [("share", [100 * (s.share_within or 0.0) for s in report.steps])],
                height=50 * mm,
                percent=True,
            )
        )
    story.append(KeepTogether(response))

    # Grade changes.
    story.append(Paragraph("五、评级变化 Grade changes", st.h2))
    if report.grade_changes:
        shown = report.grade_changes[:PDF_MAX_GRADE_CHANGES]
        story.append(
            _table(
                name,
                ["时间", "小区", "原评级", "新评级", "原因 Reasons"],
                [
                    [
                        f"{g.at:%m-%d %H:%M}",
                        g.name,
                        report.colour_name(g.previous) if g.previous else "首次评定",
                        report.colour_name(g.colour),
                        g.reasons or "—",
                    ]
                    for g in shown
                ],
                [20 * mm, 30 * mm, 16 * mm, 16 * mm, 92 * mm],
                st,
                numeric_from=99,
            )
        )
        if len(report.grade_changes) > len(shown):
            more = len(report.grade_changes) - len(shown)
            story.append(Paragraph(f"另有 {more} 条见 XLSX/CSV。 {more} more in the XLSX/CSV.", st.small))
    else:
        story.append(Paragraph("本月无评级变化。 No grade changed in the month.", st.body))

    # Definitions.
    story.append(Paragraph("口径说明 Definitions", st.h2))
    for term, text in DEFINITIONS:
        story.append(Paragraph(f"<font color='#111827'>{escape(term)}</font>：{escape(text)}", st.small))
        story.append(Spacer(1, 3))

    footer = f"firegw · {title_zh(report)}"

    def on_page(canvas: Canvas, _doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(name, 7)
        canvas.setFillColor(_MUTED)
        canvas.drawString(18 * mm, 9 * mm, footer)
        canvas.drawRightString(A4[0] - 18 * mm, 9 * mm, f"第 {canvas.getPageNumber()} 页")
        canvas.restoreState()

    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()


def render_report(report: MonthlyReport, fmt: Format, font: str | None = None) -> bytes:
    if fmt == "pdf":
        return render_pdf(report, font)
    if fmt == "xlsx":
        return render_xlsx(report)
    return render_csv(report)
