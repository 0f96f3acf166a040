"""The quarterly assessment as XLSX, in the monthly report's style: one sheet per table; numbers stay
numbers, rates are percentages, changes are in percentage points."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook

from gateway.reports.monthly.text import CAUSE_ZH, OUTCOME_ZH
from gateway.reports.monthly.xlsx import (
    HOURS,
    PERCENT,
    STEP_COLUMNS,
    definitions_sheet,
    format_columns,
    write_sheet,
)
from gateway.reports.quarterly.model import QuarterFigures, QuarterlyReport
from gateway.reports.quarterly.text import DEFINITIONS, ORDER, SCOPE_NOTE, in_progress_note, period, title_zh

SHEETS = (
    "概要 Summary",
    "排名 Rankings",
    "物业企业 Companies",
    "设施完好 Facilities",
    "接警响应 Alarms",
    "口径说明 Definitions",
)
_POINTS = '+0.0" pp";-0.0" pp";0.0" pp"'

#: (metric, label) of each company's figures, in the order of the columns of the companies sheet.
FIGURE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("rectification_rate", "隐患整改率 Rectification rate"),
    ("found", "发现 Found"),
    ("due", "到期 Due"),
    ("on_time", "按期整改销号 On time"),
    ("late", "逾期销号 Verified late"),
    ("not_rectified", "未整改 Not rectified"),
    ("awaiting_verification", "其中待验收 Awaiting verification"),
    ("auto_closed", "自动销号（另列）Closed by the device"),
    ("withdrawn", "撤销 Withdrawn"),
    ("open_at_end", "季末未销号 Open at end"),
    ("overdue_at_end", "季末逾期 Overdue at end"),
    ("escalated", "督办升级隐患 Escalated"),
    ("escalations", "督办升级次数 Escalations"),
    ("maintenance_opened", "新增维保任务 Maintenance tasks opened"),
    ("maintenance_open_at_end", "季末未完成维保任务 Maintenance tasks open"),
    ("intact_rate", "设施完好率 Intact rate"),
    ("monitored_hours", "受监测设施·小时 Facility-hours monitored"),
    ("failed_hours", "不完好设施·小时 Failed"),
    ("unmonitored_hours", "监测故障设施·小时 Not monitored"),
    ("alarms", "报警 Alarms"),
    ("ack_within", "1分钟内确认 Acknowledged ≤ 1 min"),
    ("on_scene_within", "3分钟内到场 On scene ≤ 3 min"),
    ("close_within", "5分钟内处置 Closed ≤ 5 min"),
    ("real_fires", "真实火警 Real fires"),
    ("fires", "火灾记录 Fires"),
    ("false_alarms", "误报 False alarms"),
)
_RATES = {"rectification_rate", "intact_rate", "ack_within", "on_scene_within", "close_within"}
_HOUR_VALUES = {"monitored_hours", "failed_hours", "unmonitored_hours"}


def figure_values(f: QuarterFigures) -> dict[str, Any]:
    r, o, m, fa, a = f.rectification, f.overdue, f.maintenance, f.facilities, f.alarms
    return {
        "rectification_rate": r.rate,
        "found": r.found,
        "due": r.due,
        "on_time": r.on_time,
        "late": r.late,
        "not_rectified": r.not_rectified,
        "awaiting_verification": r.awaiting_verification,
        "auto_closed": r.auto_closed,
        "withdrawn": r.withdrawn,
        "open_at_end": o.open_at_end,
        "overdue_at_end": o.overdue_at_end,
        "escalated": o.escalated,
        "escalations": o.escalations,
        "maintenance_opened": m.opened,
        "maintenance_open_at_end": m.open_at_end,
        "intact_rate": fa.rate,
        "monitored_hours": fa.monitored_hours,
        "failed_hours": fa.failed_hours,
        "unmonitored_hours": fa.unmonitored_hours,
        "alarms": a.received,
        "ack_within": a.share_within("ack"),
        "on_scene_within": a.share_within("on_scene"),
        "close_within": a.share_within("close"),
        "real_fires": a.real_fires,
        "fires": a.fires,
        "false_alarms": a.false_alarms,
    }


def render_xlsx(report: QuarterlyReport) -> bytes:
    wb = Workbook()
    for default in list(wb.worksheets):
        wb.remove(default)

    total, before = figure_values(report.total), figure_values(report.previous_total)
    info: list[list[Any]] = [
        ["title", "报表 Report", title_zh(report), None],
        ["quarter", "季度 Quarter", report.quarter, report.previous_quarter],
        ["period", "统计期间 Period", f"{period(report)} ({report.timezone})", None],
        ["figures_until", "数据截至 Figures until", report.cutoff.replace(tzinfo=None), None],
        ["in_progress", "进行中 In progress", in_progress_note(report) or "否 no", None],
        ["generated_at", "生成时间 Generated", report.generated_at.replace(tzinfo=None), None],
        ["policy", "判定标准 Policy", f"{report.policy_zh} ({report.policy_ref})", None],
    ]
    rows = info + [[metric, label, total[metric], before[metric]] for metric, label in FIGURE_COLUMNS]
    ws = write_sheet(wb, SHEETS[0], ["metric", "项目 Item", "本季度 This quarter", "上季度 Previous"], rows)
    formats = dict.fromkeys(_RATES, PERCENT) | dict.fromkeys(_HOUR_VALUES, HOURS)
    for row in ws.iter_rows(min_row=2):
        for cell in row[2:] if row[0].value in formats else ():
            cell.number_format = formats[str(row[0].value)]

    ws = write_sheet(
        wb,
        SHEETS[1],
        [
            "层级 Level",
            "区 District",
            "街道 Street",
            "名次 Rank",
            "参与排名 Ranked",
            "物业企业 Company",
            "小区数 Estates",
            "隐患整改率",
            "到期 Due",
            "按期 On time",
            "设施完好率",
            "季末逾期 Overdue",
            "1分钟内确认",
            "上季度名次 Previous rank",
            "名次变化 Places",
            "整改率变化",
            "完好率变化",
        ],
        [
            [
                g.level,
                g.district,
                g.street,
                row.rank,
                g.ranked,
                row.company,
                len(row.figures.estates),
                row.figures.rectification.rate,
                row.figures.rectification.due,
                row.figures.rectification.on_time,
                row.figures.facilities.rate,
                row.figures.overdue.overdue_at_end,
                row.figures.alarms.share_within("ack"),
                row.previous_rank,
                row.change.rank,
                _pp(row.change.rectification_rate),
                _pp(row.change.intact_rate),
            ]
            for g in (*report.districts, *report.streets)
            for row in g.rows
        ],
    )
    format_columns(ws, [8, 11, 13])
    format_columns(ws, [16, 17], _POINTS)

    ws = write_sheet(
        wb,
        SHEETS[2],
        [
            "物业企业 Company",
            "小区 Estates",
            *(label for _, label in FIGURE_COLUMNS),
            "上季度整改率",
            "上季度完好率",
        ],
        [
            [
                c.company,
                " ".join(c.figures.estates),
                *figure_values(c.figures).values(),
                c.previous.rectification.rate,
                c.previous.facilities.rate,
            ]
            for c in report.companies
        ],
    )
    columns = {metric: i for i, (metric, _) in enumerate(FIGURE_COLUMNS, start=3)}
    format_columns(ws, [columns[m] for m in _RATES] + [len(FIGURE_COLUMNS) + 3, len(FIGURE_COLUMNS) + 4])
    format_columns(ws, [columns[m] for m in _HOUR_VALUES], HOURS)

    ws = write_sheet(
        wb,
        SHEETS[3],
        [
            "物业企业 Company",
            "类型 Kind",
            "Kind (en)",
            "设备数 Devices",
            "受监测设施·小时 Monitored",
            "不完好设施·小时 Failed",
            "监测故障设施·小时 Not monitored",
            "设施完好率 Intact rate",
        ],
        [
            [
                c.company,
                k.zh,
                k.en,
                k.devices,
                k.monitored_hours,
                k.failed_hours,
                k.unmonitored_hours,
                k.intact_rate,
            ]
            for c in report.companies
            for k in c.figures.facilities.by_kind
        ],
    )
    format_columns(ws, [8])
    format_columns(ws, [5, 6, 7], HOURS)

    ws = write_sheet(
        wb,
        SHEETS[4],
        ["物业企业 Company", *STEP_COLUMNS],
        [
            [
                c.company,
                s.zh,
                s.en,
                s.target_s,
                s.eligible,
                s.reached,
                s.within,
                s.share_within,
                s.p50_s,
                s.p90_s,
            ]
            for c in report.companies
            for s in c.figures.alarms.steps
        ],
    )
    format_columns(ws, [8])
    ws.append([])
    ws.append(["物业企业 Company", "结果或误报原因 Outcome / cause", "key", "报警 Alarms"])
    for c in report.companies:
        for outcome, n in sorted(c.figures.alarms.outcomes.items()):
            ws.append([c.company, OUTCOME_ZH.get(outcome, outcome), outcome, n])
        for cause, n in sorted(c.figures.alarms.false_alarm_causes.items(), key=lambda kv: (-kv[1], kv[0])):
            ws.append([c.company, f"误报：{CAUSE_ZH.get(cause, cause)}", f"false_alarm:{cause}", n])

    definitions_sheet(
        wb,
        SHEETS[5],
        [
            ("排名顺序 Ranking order", f"{ORDER['zh']} {ORDER['en']}"),
            ("排名范围 Who is ranked", f"{SCOPE_NOTE['zh']} {SCOPE_NOTE['en']}"),
            *DEFINITIONS,
        ],
    )

    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _pp(difference: float | None) -> float | None:
    """A difference of shares in percentage points."""
    return None if difference is None else difference * 100
