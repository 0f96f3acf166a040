"""The monthly report as XLSX: one sheet per table, with charts; numbers stay numbers, rates are
percentages."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from gateway.reports.monthly.model import MonthlyReport
from gateway.reports.monthly.text import CAUSE_ZH, DEFINITIONS, OUTCOME_ZH, causes_text, period, summary_rows

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
#: The columns of an alarm-response table (``StepStats``).
STEP_COLUMNS = [
    "环节 Step",
    "Step (en)",
    "目标 Target (s)",
    "应计 Eligible",
    "已完成 Reached",
    "达标 Within",
    "达标比例 Share within",
    "p50 (s)",
    "p90 (s)",
]
PERCENT = "0.0%"
HOURS = "#,##0.0"


def write_sheet(wb: Workbook, title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Worksheet:
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


def format_columns(ws: Worksheet, columns: Sequence[int], number_format: str = PERCENT) -> None:
    for col in columns:
        for (cell,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
            cell.number_format = number_format


def definitions_sheet(wb: Workbook, title: str, definitions: Sequence[tuple[str, str]]) -> Worksheet:
    """The sheet of (item, definition) rows, wrapped to be read."""
    ws = write_sheet(wb, title, ["项目 Item", "口径 Definition"], [list(d) for d in definitions])
    ws.column_dimensions["B"].width = 120
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    return ws


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
        ("period", "统计期间 Period", f"{period(report)} ({report.timezone})"),
        ("figures_until", "数据截至 Figures until", report.cutoff.replace(tzinfo=None)),
        ("generated_at", "生成时间 Generated", report.generated_at.replace(tzinfo=None)),
        ("policy", "判定标准 Policy", f"{report.policy_zh} ({report.policy_ref})"),
    ]
    rows = [*info, *summary_rows(report)]
    ws = write_sheet(wb, SHEETS[0], ["metric", "指标 Item", "值 Value"], [list(r) for r in rows])
    hour_metrics = {"monitored_hours", "failed_hours", "unmonitored_hours"}
    for row in ws.iter_rows(min_row=2):
        if row[0].value in rate_metrics:
            row[2].number_format = PERCENT
        elif row[0].value in hour_metrics:
            row[2].number_format = HOURS

    ws = write_sheet(
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

    ws = write_sheet(
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
            "受监测设施·小时 Facility-hours monitored",
            "不完好设施·小时 Failed",
            "监测故障设施·小时 Not monitored",
            "设施完好率 Intact rate",
            "报警 Alarms",
            "投诉（不同事件）Complaints",
            "火灾 Fires",
            "月初评级 Grade at start",
            "月末评级 Grade at end",
            "评级变化 Changes",
            "排查登记 Assessed on",
            "登记有效至 Assessment valid until",
            "到期条件 Conditions due",
            "应上报设备 Monitored devices",
            "监测故障 Monitoring faults",
            "监测覆盖 Coverage",
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
                e.monitored_hours,
                e.failed_hours,
                e.unmonitored_hours,
                e.intact_rate,
                e.alarms,
                e.complaints,
                e.fires,
                report.colour_name(e.grade_start),
                report.colour_name(e.grade_end),
                e.grade_changes,
                e.assessed_at,
                e.assessment_valid_until,
                " ".join(e.conditions_due),
                e.monitored,
                e.monitoring_faults,
                e.coverage,
            ]
            for e in report.estates
        ],
    )
    format_columns(ws, [9, 15, 27])
    format_columns(ws, [12, 13, 14], HOURS)

    ws = write_sheet(
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

    ws = write_sheet(
        wb,
        SHEETS[4],
        [
            "类型 Kind",
            "设备 Kind (en)",
            "设备数 Devices",
            "受监测设施·小时 Facility-hours monitored",
            "不完好设施·小时 Failed",
            "监测故障设施·小时 Not monitored",
            "设施完好率 Intact rate",
        ],
        [
            [k.zh, k.en, k.devices, k.monitored_hours, k.failed_hours, k.unmonitored_hours, k.intact_rate]
            for k in report.intact_by_kind
        ]
        + [
            [
                "合计",
                "all",
                sum(k.devices for k in report.intact_by_kind),
                report.monitored_hours,
                report.failed_hours,
                report.unmonitored_hours,
                report.intact_rate,
            ]
        ],
    )
    format_columns(ws, [7])
    format_columns(ws, [4, 5, 6], HOURS)

    ws = write_sheet(
        wb,
        SHEETS[5],
        STEP_COLUMNS,
        [
            [s.zh, s.en, s.target_s, s.eligible, s.reached, s.within, s.share_within, s.p50_s, s.p90_s]
            for s in report.steps
        ],
    )
    format_columns(ws, [7])
    ws.append([])
    ws.append(["结果 Outcome", "outcome", "报警 Alarms"])
    for outcome, n in sorted(report.alarm_outcomes.items()):
        ws.append([OUTCOME_ZH.get(outcome, outcome), outcome, n])
    ws.append([])
    ws.append(["误报原因 Cause", "cause", "误报 False alarms"])
    for cause, n in sorted(report.false_alarm_causes.items(), key=lambda kv: (-kv[1], kv[0])):
        ws.append([CAUSE_ZH.get(cause, cause), cause, n])
    ws.append([])
    ws.append(["探测器 Detector", "小区 Estate", "位置 Location", "误报 False alarms", "原因 Causes"])
    for d in report.false_alarms_by_detector:
        ws.append([d.device_id, d.estate_id, d.location, d.false_alarms, causes_text(d.by_cause)])

    write_sheet(
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

    definitions_sheet(wb, SHEETS[7], DEFINITIONS)

    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
