"""The quarterly assessment as an A4 PDF, in the monthly report's style: key figures, the ranking order, the
rankings per district and per street, each company's figures (rectification, overdue, facilities, alarm
response), then the definitions; Chinese first, English beside."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, Spacer
from reportlab.platypus.flowables import Flowable

from gateway.reports.fonts import pdf_font
from gateway.reports.monthly.pdf import hours, secs
from gateway.reports.monthly.pdf_charts import bar_chart
from gateway.reports.monthly.pdf_style import (
    Styles,
    a4_document,
    build_with_footer,
    data_table,
    definitions,
    key_figure_table,
)
from gateway.reports.monthly.text import causes_text
from gateway.reports.quarterly.model import Change, QuarterFigures, QuarterlyReport, RankingGroup
from gateway.reports.quarterly.ranking import per_mille
from gateway.reports.quarterly.text import (
    DEFINITIONS,
    ORDER,
    SCOPE_NOTE,
    in_progress_note,
    period,
    title_en,
    title_zh,
)


def rate(share: float | None) -> str:
    """A rate as printed and ranked: to 0.1 %, rounded half up."""
    value = per_mille(share)
    return "—" if value is None else f"{value / 10:.1f}%"


def points(difference: float | None) -> str:
    """A change of a rate in percentage points, signed."""
    return "—" if difference is None else f"{difference * 100:+.1f}"


def places(change: Change) -> str:
    if change.rank is None:
        return "—"
    return "持平" if change.rank == 0 else f"{'↑' if change.rank > 0 else '↓'}{abs(change.rank)}"


def rectified_of(figures: QuarterFigures) -> str:
    r = figures.rectification
    return f"{rate(r.rate)} ({r.on_time}/{r.due})"


def _key_figures(report: QuarterlyReport, styles: Styles) -> Flowable:
    t, before = report.total, report.previous_total
    r, f, o = t.rectification, t.facilities, t.overdue
    cells = [
        (
            "隐患整改率",
            "Rectification rate",
            rate(r.rate),
            f"按期 {r.on_time}/到期 {r.due}；上季度 {rate(before.rectification.rate)}",
        ),
        (
            "设施完好率",
            "Facility intact rate",
            rate(f.rate),
            f"{hours(f.monitored_hours - f.failed_hours)}/{hours(f.monitored_hours)} 设施·小时；"
            f"上季度 {rate(before.facilities.rate)}",
        ),
        (
            "季末逾期",
            "Overdue at quarter end",
            str(o.overdue_at_end),
            f"本季度督办升级 {o.escalated} 项（{o.escalations} 次）",
        ),
        (
            "1 分钟内确认",
            "Acknowledged ≤ 1 min",
            rate(t.alarms.share_within("ack")),
            f"报警 {t.alarms.received} 起",
        ),
        (
            "自动销号（另列）",
            "Closed by the device",
            str(r.auto_closed),
            f"撤销 {r.withdrawn}；维保任务 新增 {t.maintenance.opened}，"
            f"季末未完成 {t.maintenance.open_at_end}",
        ),
        (
            "火灾 / 误报",
            "Fires / false alarms",
            f"{t.alarms.fires} / {t.alarms.false_alarms}",
            causes_text(t.alarms.false_alarm_causes) or "无误报",
        ),
    ]
    return key_figure_table(cells, styles)


_RANK_HEADER = [
    "名次",
    "物业企业",
    "小区",
    "隐患整改率",
    "设施完好率",
    "季末逾期",
    "1分钟确认",
    "名次变化",
    "整改率±",
]
_RANK_WIDTHS = [11 * mm, 36 * mm, 11 * mm, 26 * mm, 20 * mm, 15 * mm, 17 * mm, 16 * mm, 17 * mm]


_COMPANY_HEADER = [
    "物业企业",
    "隐患整改率",
    "发现",
    "按期",
    "逾期销号",
    "未整改(待验收)",
    "自动销号",
    "撤销",
    "维保",
    "季末逾期",
    "督办",
    "设施完好率",
]
_COMPANY_WIDTHS = (
    [28 * mm, 20 * mm]
    + [10 * mm] * 2
    + [12 * mm, 17 * mm, 12 * mm]
    + [10 * mm] * 2
    + [12 * mm] * 2
    + [16 * mm]
)


def _company_row(company: str, figures: QuarterFigures) -> list[object]:
    r, o = figures.rectification, figures.overdue
    return [
        company,
        rectified_of(figures),
        r.found,
        r.on_time,
        r.late,
        f"{r.not_rectified} ({r.awaiting_verification})",
        r.auto_closed,
        r.withdrawn,
        figures.maintenance.opened,
        o.overdue_at_end,
        f"{o.escalated} ({o.escalations})",
        rate(figures.facilities.rate),
    ]


def _ranking(group: RankingGroup, styles: Styles, font: str) -> Flowable:
    where = group.district if group.level == "district" else f"{group.district} {group.street}"
    rows = [
        [
            f"{row.rank}/{group.ranked}",
            row.company,
            len(row.figures.estates),
            rectified_of(row.figures),
            rate(row.figures.facilities.rate),
            row.figures.overdue.overdue_at_end,
            rate(row.figures.alarms.share_within("ack")),
            places(row.change),
            points(row.change.rectification_rate),
        ]
        for row in group.rows
    ]
    return KeepTogether(
        [Paragraph(escape(where), styles.body), data_table(font, _RANK_HEADER, rows, _RANK_WIDTHS, styles, 2)]
    )


def render_pdf(report: QuarterlyReport, font: str | None = None) -> bytes:
    name = pdf_font(font)
    st = Styles(name)
    buffer = io.BytesIO()
    doc = a4_document(buffer, title_zh(report), title_en(report))
    story: list[Flowable] = [
        Paragraph(escape(title_zh(report)), st.title),
        Paragraph(escape(title_en(report)), st.subtitle),
        Paragraph(
            f"统计期间 Period：{period(report)}（{report.timezone}）　对比 {report.previous_quarter}　"
            f"小区 {len(report.total.estates)} 个　生成于 {report.generated_at:%Y-%m-%d %H:%M}　"
            f"判定标准：{escape(report.policy_zh)}（{escape(report.policy_ref)}）",
            st.small,
        ),
    ]
    if report.in_progress:
        story.append(Paragraph(escape(in_progress_note(report)), st.body))
    story += [Spacer(1, 8), _key_figures(report, st)]

    story.append(Paragraph("一、排名 Ranking", st.h2))
    story.append(Paragraph(escape(ORDER["zh"]), st.body))
    story.append(Paragraph(escape(f"{ORDER['en']} {SCOPE_NOTE['zh']} {SCOPE_NOTE['en']}"), st.small))
    if report.companies:
        story.append(
            bar_chart(
                name,
                "各物业企业 隐患整改率 / 设施完好率 (%)",
                [c.company for c in report.companies],
                [
                    ("隐患整改率", [100 * (c.figures.rectification.rate or 0.0) for c in report.companies]),
                    ("设施完好率", [100 * (c.figures.facilities.rate or 0.0) for c in report.companies]),
                ],
                percent=True,
            )
        )
    for title, groups in (("按区 By district", report.districts), ("按街道 By street", report.streets)):
        story.append(Paragraph(title, st.h2))
        story += [_ranking(group, st, name) for group in groups] or [Paragraph("无 None", st.body)]

    story.append(Paragraph("二、各物业企业 By company", st.h2))
    story.append(
        data_table(
            name,
            _COMPANY_HEADER,
            [_company_row(c.company, c.figures) for c in report.companies],
            _COMPANY_WIDTHS,
            st,
        )
    )
    story.append(Spacer(1, 4))
    story.append(
        Paragraph(
            "“自动销号”为设备恢复正常后自动关闭的设备隐患，不计为整改；“维保”为本季度新增的维保任务（监测故障）。"
            " Closed by the device: not rectification work, counted apart; maintenance tasks are apart too.",
            st.small,
        )
    )

    story.append(Paragraph("三、设施完好 Facilities", st.h2))
    story.append(
        data_table(
            name,
            [
                "物业企业",
                "设备 Kind",
                "设备数",
                "受监测设施·小时",
                "不完好",
                "监测故障（不计）",
                "完好率",
                "上季度",
            ],
            [
                [
                    c.company,
                    f"{k.zh} {k.en}",
                    k.devices,
                    hours(k.monitored_hours),
                    hours(k.failed_hours),
                    hours(k.unmonitored_hours),
                    rate(k.intact_rate),
                    rate(before.intact_rate),
                ]
                for c in report.companies
                for k, before in zip(c.figures.facilities.by_kind, c.previous.facilities.by_kind, strict=True)
            ],
            [32 * mm, 32 * mm, 12 * mm, 26 * mm, 16 * mm, 24 * mm, 16 * mm, 16 * mm],
            st,
            numeric_from=2,
        )
    )

    story.append(Paragraph("四、接警响应 Alarm response", st.h2))
    story.append(
        data_table(
            name,
            ["物业企业", "环节 Step", "目标", "应计", "达标", "达标比例", "p50", "p90"],
            [
                [
                    c.company,
                    f"{s.zh} {s.en}",
                    f"{s.target_s / 60:.0f} min",
                    s.eligible,
                    s.within,
                    rate(s.share_within),
                    secs(s.p50_s),
                    secs(s.p90_s),
                ]
                for c in report.companies
                for s in c.figures.alarms.steps
            ],
            [36 * mm, 36 * mm, 16 * mm, 14 * mm, 14 * mm, 20 * mm, 18 * mm, 18 * mm],
            st,
            numeric_from=2,
        )
    )
    for c in report.companies:
        a = c.figures.alarms
        story.append(
            Paragraph(
                escape(
                    f"{c.company}：报警 {a.received} 起，真实火警 {a.real_fires}，火灾记录 {a.fires}，"
                    f"误报 {a.false_alarms}（{causes_text(a.false_alarm_causes) or '—'}）。"
                ),
                st.body,
            )
        )

    story += definitions("口径说明 Definitions", DEFINITIONS, st)
    build_with_footer(doc, story, name, f"firegw · {title_zh(report)}")
    return buffer.getvalue()
