"""The monthly report as an A4 PDF: key figures, charts and tables in the order a reader asks (hazards,
estates, facilities, alarm response, grade changes), then the definitions; Chinese first, English beside."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, Spacer, Table
from reportlab.platypus.flowables import Flowable

from gateway.reports.fonts import pdf_font
from gateway.reports.monthly.model import MonthlyReport
from gateway.reports.monthly.pdf_charts import bar_chart, hbar_chart
from gateway.reports.monthly.pdf_style import (
    Styles,
    a4_document,
    build_with_footer,
    data_table,
    definitions,
    grade_colour,
    key_figure_table,
)
from gateway.reports.monthly.text import DEFINITIONS, OUTCOME_ZH, causes_text, day, period, title_zh

#: Grade-change rows printed in the PDF (the XLSX and CSV have them all).
PDF_MAX_GRADE_CHANGES = 200
#: Detectors listed in the PDF's false-alarm table (all of them in the XLSX/CSV).
PDF_MAX_FALSE_ALARM_DETECTORS = 30


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def hours(value: float) -> str:
    return f"{value:,.1f}"


def secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} s"


def _key_figures(report: MonthlyReport, styles: Styles) -> Table:
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
            f"{hours(report.monitored_hours - report.failed_hours)}/{hours(report.monitored_hours)}"
            " 设施·小时",
        ),
        (
            "本月新发现隐患",
            "Hazards found",
            str(report.hazards_opened),
            f"月末未销号 {report.open_at_end}，逾期 {report.overdue_at_end}",
        ),
        ("报警", "Alarms", str(report.alarms), f"1 分钟内确认 {pct(ack.share_within) if ack else '—'}"),
        (
            "投诉 / 火灾",
            "Complaints / fires",
            f"{report.complaints} / {report.fires}",
            f"投诉按不同事件计；另作废 {report.complaints_voided}，合并 {report.complaints_merged}"
            if report.complaints_voided or report.complaints_merged
            else "投诉按不同事件计",
        ),
        (
            "评级变化",
            "Grade changes",
            str(len(report.grade_changes)),
            "月末 "
            + "，".join(f"{report.colour_name(c)} {n}" for c, n in sorted(report.grades_at_end.items())),
        ),
    ]
    return key_figure_table(cells, styles)


def render_pdf(report: MonthlyReport, font: str | None = None) -> bytes:
    name = pdf_font(font)
    st = Styles(name)
    buffer = io.BytesIO()
    doc = a4_document(
        buffer, title_zh(report), f"fire-safety monthly report {report.month}: {report.scope_en}"
    )
    story: list[Flowable] = []
    story.append(Paragraph(escape(title_zh(report)), st.title))
    story.append(
        Paragraph(escape(f"Fire-safety monthly report — {report.scope_en}, {report.month}"), st.subtitle)
    )
    story.append(
        Paragraph(
            f"统计期间 Period：{period(report)}（{report.timezone}）　小区 {len(report.estates)} 个　"
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
    story.append(_key_figures(report, st))

    grades = [c for c in [*report.colour_names] if report.grades_at_end.get(c)]
    if grades:
        story.append(Spacer(1, 6))
        story.append(
            bar_chart(
                name,
                "月末评级分布 Estates by grade at month end",
                [report.colour_name(c) for c in grades],
                [("estates", [report.grades_at_end[c] for c in grades])],
                width=90 * mm,
                height=44 * mm,
                bar_colours=[grade_colour(c) for c in grades],
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
            bar_chart(
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
            data_table(
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
        bar_chart(
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
            hbar_chart(
                name,
                "本月新发现隐患最多的小区 Estates with the most hazards found",
                [e.name for e in ranked if e.opened],
                [e.opened for e in ranked if e.opened],
            )
        )
    story.append(
        data_table(
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

    # Where each estate stood at the end: assessment, conditions due, monitoring coverage.
    story.append(Spacer(1, 6))
    story.append(
        Paragraph(
            f"月末排查登记与监测 Assessment and monitoring at month end："
            f"无有效排查登记 {report.not_assessed_at_end} 个，有到期条件 {report.conditions_due_at_end} 个。",
            st.body,
        )
    )
    story.append(
        data_table(
            name,
            ["小区", "月末评级", "排查登记", "登记有效至", "到期条件 Due", "监测覆盖", "监测故障"],
            [
                [
                    e.name,
                    report.colour_name(e.grade_end),
                    day(e.assessed_at),
                    day(e.assessment_valid_until),
                    " ".join(e.conditions_due) or "—",
                    pct(e.coverage),
                    f"{e.monitoring_faults}/{e.monitored}",
                ]
                for e in report.estates
            ],
            [34 * mm, 18 * mm, 22 * mm, 22 * mm, 36 * mm, 18 * mm, 18 * mm],
            st,
            numeric_from=5,
        )
    )

    # Facilities.
    story.append(Paragraph("三、设施完好 Facilities", st.h2))
    story.append(
        data_table(
            name,
            ["设备 Kind", "设备数", "受监测设施·小时", "不完好", "监测故障（不计）", "设施完好率"],
            [
                [
                    f"{k.zh} {k.en}",
                    k.devices,
                    hours(k.monitored_hours),
                    hours(k.failed_hours),
                    hours(k.unmonitored_hours),
                    pct(k.intact_rate),
                ]
                for k in report.intact_by_kind
            ]
            + [
                [
                    "合计 all",
                    sum(k.devices for k in report.intact_by_kind),
                    hours(report.monitored_hours),
                    hours(report.failed_hours),
                    hours(report.unmonitored_hours),
                    pct(report.intact_rate),
                ]
            ],
            [50 * mm, 18 * mm, 30 * mm, 22 * mm, 30 * mm, 20 * mm],
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
        data_table(
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
            bar_chart(
                name,
                "目标内完成比例 Share within the 1/3/5-minute targets (%)",
                [f"{s.zh} ≤{s.target_s / 60:.0f}min" for s in report.steps],
                [("share", [100 * (s.share_within or 0.0) for s in report.steps])],
                height=50 * mm,
                percent=True,
            )
        )
    story.append(KeepTogether(response))
    story.append(KeepTogether(_false_alarms(report, name, st)))

    # Grade changes.
    story.append(Paragraph("五、评级变化 Grade changes", st.h2))
    if report.grade_changes:
        shown = report.grade_changes[:PDF_MAX_GRADE_CHANGES]
        story.append(
            data_table(
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

    story += definitions("口径说明 Definitions", DEFINITIONS, st)
    build_with_footer(doc, story, name, f"firegw · {title_zh(report)}")
    return buffer.getvalue()


def _false_alarms(report: MonthlyReport, name: str, st: Styles) -> list[Flowable]:
    """False alarms by cause, and the detectors with the most (candidates for cleaning, moving, replacing)."""
    out: list[Flowable] = [Paragraph("误报统计 False alarms", st.body)]
    total = sum(report.false_alarm_causes.values())
    if not total:
        out.append(Paragraph("本月无误报。 No false alarms in the month.", st.body))
        return out
    out.append(Paragraph(f"本月误报 {total} 起：{causes_text(report.false_alarm_causes)}。", st.body))
    shown = report.false_alarms_by_detector[:PDF_MAX_FALSE_ALARM_DETECTORS]
    out.append(
        data_table(
            name,
            ["探测器 Detector", "小区 Estate", "位置 Location", "误报", "原因 Causes"],
            [[d.device_id, d.estate_id, d.location, d.false_alarms, causes_text(d.by_cause)] for d in shown],
            [34 * mm, 18 * mm, 40 * mm, 14 * mm, 60 * mm],
            st,
        )
    )
    hidden = len(report.false_alarms_by_detector) - len(shown)
    if hidden > 0:
        out.append(Paragraph(f"另有 {hidden} 个探测器见 XLSX/CSV。 {hidden} more in the XLSX/CSV.", st.small))
    return out
