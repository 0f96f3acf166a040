"""What every form of the quarterly assessment says alike (JSON, PDF, XLSX): the title, the period, the
ranking order and the definitions, in Chinese and English.

The definitions are the printed form of ``gateway.reports.quarterly.tally`` and ``ranking`` (and of
``docs/reports.md``): when a definition changes, these words change with the code.
"""

from __future__ import annotations

from typing import Any

from gateway.reports.monthly.text import DEFINITIONS as MONTHLY_DEFINITIONS
from gateway.reports.quarterly.model import QuarterlyReport, plain
from gateway.reports.quarterly.period import quarter_zh

ORDER = {
    "zh": "排名顺序（依次比较）：① 隐患整改率高者在前；② 设施完好率高者在前；③ 季末逾期隐患少者在前；"
    "④ 报警 1 分钟内确认比例高者在前。比率按表中所印精确到 0.1 个百分点比较；无此项数据（无到期隐患、"
    "无受监测设施、无报警）者排在有数据者之后；四项均相同者名次并列，其后名次顺延（1、1、3）。",
    "en": "Ranked lexicographically: (1) rectification rate, higher first; (2) facility intact rate, higher "
    "first; (3) overdue at the quarter's end, fewer first; (4) share of alarms acknowledged within a minute, "
    "higher first. Rates are compared as printed, to 0.1 percentage point; a company without a rate (nothing "
    "due, nothing monitored, no alarm) comes after those with one; companies equal on all four share a "
    "rank and the next rank skips (1, 1, 3).",
}

SCOPE_NOTE = {
    "zh": "排名在本报表范围内（调用者可见的小区）的物业企业之间进行；无物业小区计入合计，不参与排名。",
    "en": "Companies are ranked among those whose estates the report covers (the caller's scope); estates "
    "without a property company count in the total and are not ranked.",
}

#: The monthly report's definitions that hold for the quarter as they stand (the same code computes them).
_REUSED = ("设施完好率", "接警响应", "误报")


def _for_the_quarter(text: str) -> str:
    """A monthly definition's "本月" (the month) is the quarter here."""
    return text.replace("本月", "本季度").replace("month", "quarter")


DEFINITIONS: list[tuple[str, str]] = [
    (
        "隐患整改率 Rectification rate",
        "按期整改并验收销号的隐患 ÷ 本季度到期的隐患。本季度到期：本季度内曾处于未销号状态、由人整改的隐患，"
        "其整改期限（截至季末或销号时的期限）在本季度内（季度进行中时截至当前），或在本季度内验收销号。"
        "按期：验收销号时间不晚于整改期限。季末仍未销号的到期隐患计为未整改（其中已整改待验收的另列）。"
        "设备恢复后自动销号的设备隐患不是整改工作，另列，不计入分子分母；督办人员撤销的（误报、重复）"
        "不计；维保任务（监测故障）另列。无到期隐患：无整改率（“—”）。"
        " Hazards rectified and verified by their deadline ÷ hazards due in the quarter: people-worked "
        "hazards open at some moment of it whose deadline (as at the quarter's end, or when verified) falls "
        "inside it (up to now while in progress), or verified inside it. On time: verified at or before the "
        "deadline. A due hazard still open at the end is not rectified (those waiting for the inspector are "
        "shown). "
        "Device hazards that closed themselves are counted apart, not as rectification; withdrawn hazards "
        "leave both sides; maintenance tasks are apart. Nothing due: no rate.",
    ),
    (
        "逾期与督办 Overdue and escalated",
        "季末逾期：季末未销号、已过整改期限且尚未整改完成的隐患。督办升级：本季度内至少升级督办一次的隐患数"
        "（及升级次数）。"
        " Overdue: open at the quarter's end, past its deadline then and not yet rectified. Escalated: "
        "hazards escalated at least once in the quarter (and the escalations).",
    ),
    *[(term, _for_the_quarter(text)) for term, text in MONTHLY_DEFINITIONS if term.startswith(_REUSED)],
    (
        "较上季度 Change",
        "与上一季度（全季度）相比：整改率、完好率之差（百分点），季末逾期数之差，名次变化（正数为上升）。"
        " Against the previous (whole) quarter: differences of the rates in percentage points, of the "
        "overdue count, and places gained (positive) or lost in the ranking.",
    ),
]


def title_zh(report: QuarterlyReport) -> str:
    return f"{report.scope_zh} 物业企业消防安全季度考核（{quarter_zh(report.quarter)}）"


def title_en(report: QuarterlyReport) -> str:
    return f"Quarterly assessment of property companies — {report.scope_en}, {report.quarter}"


def period(report: QuarterlyReport) -> str:
    last = report.end.date().fromordinal(report.end.date().toordinal() - 1)
    return f"{report.start.date().isoformat()} — {last.isoformat()}"


def in_progress_note(report: QuarterlyReport) -> str:
    """ "" for a quarter that is over."""
    if not report.in_progress:
        return ""
    return (
        f"本季度尚未结束（进行中），数据截至 {report.cutoff:%Y-%m-%d %H:%M}。"
        f" Quarter in progress: figures up to {report.cutoff:%Y-%m-%d %H:%M}."
    )


def as_json(report: QuarterlyReport) -> dict[str, Any]:
    """The report as the API answers it: the figures, whether the quarter is in progress, the title, the
    ranking order and the definitions (both languages)."""
    out: dict[str, Any] = plain(report)
    out["in_progress"] = report.in_progress
    out["period"] = period(report)
    out["title"] = {"zh": title_zh(report), "en": title_en(report)}
    out["order"] = ORDER
    out["scope_note"] = SCOPE_NOTE
    out["definitions"] = [{"term": term, "text": text} for term, text in DEFINITIONS]
    return out
