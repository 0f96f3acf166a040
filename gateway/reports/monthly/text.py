"""What every format of the monthly report prints alike: the title, the period, the key figures with their
bilingual labels, the outcome names and the definitions of the figures.

The definitions are the printed form of what ``gateway.reports.monthly.figures`` and ``facilities`` compute
(and of ``docs/reports.md``): when a definition changes, these words change with the code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.reports.monthly.model import MonthlyReport
from rules.lifecycle import FALSE_ALARM_CAUSE_ZH

OUTCOME_ZH = {
    "real_fire": "真实火警",
    "false_alarm": "误报",
    "test": "测试",
    "fault": "设备故障",
    "open": "未关闭",
}

#: False-alarm causes (误报原因); ``unknown`` for alarms closed before a cause was asked.
CAUSE_ZH = {**FALSE_ALARM_CAUSE_ZH, "unknown": "未记录"}


def causes_text(by_cause: dict[str, int]) -> str:
    """``烹饪油烟 2，灰尘 1``: most first."""
    ranked = sorted(by_cause.items(), key=lambda kv: (-kv[1], kv[0]))
    return "，".join(f"{CAUSE_ZH.get(k, k)} {n}" for k, n in ranked)


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
        "独立式烟感和消火栓水压监测设备的完好设施·小时数 ÷ 受监测设施·小时数，按设备类型统计。"
        "监测故障（判定标准所列该类设备的监测故障，默认为水压传感器离线、通信故障或传感器故障、低电量）期间"
        "设施状态未知，不计入分子和分母，另列为“未受监测”；受监测期间存在设施故障信号（烟感故障、拆除、"
        "超出上报周期离线，水压过低/过高/骤降、漏水）的时长计为不完好。以网关记录的信号生效至恢复的时间为准；"
        "本月未结束时统计至当前时刻。"
        " Facility-hours intact ÷ facility-hours monitored (smoke detectors and hydrant sensors), per kind. "
        "Hours in a monitoring fault (the policy's monitoring faults of the kind: by default a pressure "
        "sensor offline, in communication or sensor fault, a low battery) leave both and are shown apart as "
        "not monitored; monitored hours with a facility fault (a detector in fault, removed or offline past "
        "its report window; hydrant pressure low, high or dropped, a leak) are failed. As recorded by the "
        "gateway; up to now for the month in progress.",
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
        "误报统计 False alarms",
        "本月收到并以误报关闭的报警，按值班员关闭时选择的误报原因（烹饪油烟、水蒸气、灰尘、昆虫、设备故障、测试、其他）"
        "和探测器统计；“未记录”为要求填写原因之前关闭的误报。以设备故障关闭的报警不计为误报。"
        " Alarms received in the month and closed as false alarms, by the cause chosen when closing and by "
        "detector; 'unknown' for those closed before a cause was required. Alarms closed as a device fault "
        "are not false alarms.",
    ),
    (
        "排查登记、到期条件与监测覆盖 Assessment, conditions due, coverage",
        "均为月末时刻（本月未结束时为当前时刻）的状态：排查登记为街道最近一次排查登记的日期及按判定标准的有效期；"
        "到期条件为没有有效证明的绿色条件（从未登记，或最近一份可证明该条件的排查登记、巡查、演练、维保检测报告、"
        "值班记录已超过判定标准规定的有效期），证明到期的小区评为“未评定”而非不合格；监测覆盖为应上报设备中"
        "没有监测故障（水压传感器离线或故障、低电量、摄像机离线）的比例，监测故障是维保任务，不计为隐患项。"
        " As at the end of the month (now, for the month in progress): the street office's latest assessment "
        "and until when it holds; the green conditions without current evidence (never evidenced, or the "
        "latest record that may evidence them has expired), which make an estate not assessed, not failed; "
        "the share of the devices that must report without a monitoring fault (a maintenance task, not an "
        "item).",
    ),
    (
        "投诉举报 Complaints",
        "本月受理的投诉按不同事件计数，与评级（Y14、R6）的计数一致：截至月末被作废（误登记）或合并到同一事件"
        "另一投诉的不计入，另列作废数和合并数。"
        " Distinct incidents, as grading counts them (Y14, R6): complaints received in the month that were "
        "neither voided (filed in error) nor merged into another about the same incident by its end; the "
        "voided and merged ones are shown apart.",
    ),
    (
        "评级变化 Grade changes",
        "本月内小区颜色发生变化的记录（仅颜色不变、支撑条款变化的记录不列出）；月末评级为月末时刻的颜色。"
        " Changes of an estate's colour in the month (changes of the items alone are not listed).",
    ),
]


def day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment is not None else "—"


def period(report: MonthlyReport) -> str:
    last = report.end.date().fromordinal(report.end.date().toordinal() - 1)
    return f"{report.start.date().isoformat()} — {last.isoformat()}"


def title_zh(report: MonthlyReport) -> str:
    year, month = report.month.split("-")
    return f"{report.scope_zh} 消防安全月报（{year}年{int(month)}月）"


def summary_rows(report: MonthlyReport) -> list[tuple[str, str, Any]]:
    """(metric, label, value) of the key figures: the summary of the CSV and of the XLSX."""
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
        (
            "maintenance_opened",
            "本月新增维保任务（监测故障）Maintenance tasks opened",
            report.maintenance_opened,
        ),
        (
            "maintenance_open_at_end",
            "月末未完成维保任务 Maintenance tasks open",
            report.maintenance_open_at_end,
        ),
        ("monitored_hours", "受监测设施·小时 Facility-hours monitored", report.monitored_hours),
        ("failed_hours", "不完好设施·小时 Facility-hours failed", report.failed_hours),
        (
            "unmonitored_hours",
            "监测故障（不计入完好率）设施·小时 Facility-hours not monitored",
            report.unmonitored_hours,
        ),
        ("intact_rate", "设施完好率 Facility intact rate", report.intact_rate),
        ("alarms", "报警 Alarms", report.alarms),
        ("complaints", "投诉举报（不同事件）Complaints (distinct incidents)", report.complaints),
        ("complaints_voided", "另：作废投诉 Complaints voided", report.complaints_voided),
        ("complaints_merged", "另：合并为同一事件的投诉 Complaints merged", report.complaints_merged),
        ("fires", "火灾 Fires", report.fires),
        ("grade_changes", "评级变化 Grade changes", len(report.grade_changes)),
        ("not_assessed_at_end", "月末无有效排查登记的小区 Estates not assessed", report.not_assessed_at_end),
        (
            "conditions_due_at_end",
            "月末有到期条件的小区 Estates with conditions due",
            report.conditions_due_at_end,
        ),
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
