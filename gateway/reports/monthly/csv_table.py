"""The monthly report as CSV: one long table ``section, key, name, metric, value`` for any tool to filter."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from gateway.reports.monthly.model import MonthlyReport
from gateway.reports.monthly.text import CAUSE_ZH, OUTCOME_ZH, summary_rows


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
            "monitored_hours",
            "failed_hours",
            "unmonitored_hours",
            "intact_rate",
            "alarms",
            "complaints",
            "fires",
            "grade_start",
            "grade_end",
            "grade_changes",
            "assessed_at",
            "assessment_valid_until",
            "conditions_due",
            "monitored",
            "monitoring_faults",
            "coverage",
        ):
            w.writerow(["by_estate", e.estate_id, e.name, metric, _csv_value(getattr(e, metric))])
    for hour in range(24):
        w.writerow(["by_hour", f"{hour:02d}", "", "hazards_opened", report.hazards_by_hour[hour]])
        w.writerow(["by_hour", f"{hour:02d}", "", "alarms", report.alarms_by_hour[hour]])
    for k in report.intact_by_kind:
        for metric in ("devices", "monitored_hours", "failed_hours", "unmonitored_hours", "intact_rate"):
            w.writerow(["facilities", k.kind, k.zh, metric, _csv_value(getattr(k, metric))])
    for s in report.steps:
        for metric in ("target_s", "eligible", "reached", "within", "share_within", "p50_s", "p90_s"):
            w.writerow(["alarm_response", s.step, s.zh, metric, _csv_value(getattr(s, metric))])
    for outcome, n in sorted(report.alarm_outcomes.items()):
        w.writerow(["alarm_outcomes", outcome, OUTCOME_ZH.get(outcome, outcome), "alarms", n])
    for cause, n in sorted(report.false_alarm_causes.items()):
        w.writerow(["false_alarm_causes", cause, CAUSE_ZH.get(cause, cause), "false_alarms", n])
    for d in report.false_alarms_by_detector:
        w.writerow(["false_alarms_by_detector", d.device_id, d.location, "false_alarms", d.false_alarms])
        for cause, n in sorted(d.by_cause.items()):
            w.writerow(["false_alarms_by_detector", d.device_id, d.location, f"cause_{cause}", n])
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
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4f}"
    return value
