"""The monthly report's figures (``gateway.reports.monthly.figures``): "as at the end of the month", per
criterion, estate and hour, the facility intact rate, alarm response, grade changes, and the estates a
district, a company or the caller's scope chooses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from reports_scenario import Scenario, local

from gateway.reports.monthly.figures import build_monthly_report, percentile
from gateway.reports.monthly.model import MonthlyReport

pytest_plugins = ["reports_fixtures"]


def test_november_figures_as_at_the_end_of_the_month(november: MonthlyReport) -> None:
    r = november
    assert [e.estate_id for e in r.estates] == ["E001", "E002", "E003"]
    # Found in November: R4, Y9, Y3 (withdrawn), G7, the hydrant's device hazard, Y1. Not the October Y11.
    assert r.hazards_opened == 6
    assert r.hazards_by_source == {"manual": 5, "device": 1}
    assert r.withdrawn == 1
    assert r.rectified == 2  # R4 verified, the hydrant closed itself when pressure returned
    assert r.rectification_rate == pytest.approx(2 / 5)
    # Open at the end: Y9, G7 (overdue: deadline 11-10, rectified only in December), Y1 (awaiting the
    # inspector; verified in December), and October's Y11.
    assert r.open_at_end == 4
    assert r.overdue_at_end == 1
    assert r.awaiting_verification_at_end == 1
    assert r.closed_in_month == 2
    by_code = {c.code: c for c in r.by_criterion}
    assert [c.code for c in r.by_criterion] == ["R4", "Y1", "Y3", "Y9", "Y10", "G7"]
    assert (by_code["R4"].opened, by_code["R4"].rectified, by_code["R4"].open_at_end) == (1, 1, 0)
    assert by_code["Y3"].withdrawn == 1
    assert by_code["Y10"].rectified == 1
    assert by_code["Y10"].zh.startswith("未按照国家标准")
    hours = {h: n for h, n in enumerate(r.hazards_by_hour) if n}
    assert hours == {9: 2, 10: 1, 11: 1, 14: 1, 15: 1}
    e001, e002, e003 = r.estates
    assert (e001.opened, e001.rectified, e001.withdrawn, e001.rectification_rate) == (3, 1, 1, 0.5)
    assert (e002.opened, e002.rectified, e002.overdue_at_end) == (2, 1, 1)
    assert e003.opened == 1
    assert e003.rectification_rate == 0.0
    assert e003.open_at_end == 2


def test_facility_intact_rate_counts_device_days(november: MonthlyReport, scenario: Scenario) -> None:
    r = november
    # 3 estates x (10 smoke detectors + 2 hydrants) x 30 days; the hydrant failed on the 10th, 11th and 12th.
    assert r.device_days == 36 * 30
    assert r.failed_device_days == 3
    assert r.intact_rate == pytest.approx(1077 / 1080)
    kinds = {k.kind: k for k in r.intact_by_kind}
    assert kinds["hydrant"].failed_device_days == 3
    assert kinds["hydrant"].device_days == 6 * 30
    assert kinds["smoke_detector"].intact_rate == 1.0
    e002 = r.estates[1]
    assert (e002.device_days, e002.failed_device_days) == (360, 3)


def test_alarm_response_times_against_the_targets(november: MonthlyReport) -> None:
    r = november
    assert r.alarms == 4
    assert r.alarm_outcomes == {"false_alarm": 2, "real_fire": 1, "test": 1}
    steps = {s.step: s for s in r.steps}
    ack = steps["ack"]  # the test alarm is left out: 40, 90, 30 s
    assert (ack.eligible, ack.reached, ack.within) == (3, 3, 2)
    assert ack.p50_s == 40
    assert ack.p90_s == pytest.approx(80)
    on_scene = steps["on_scene"]  # only the two dispatched alarms: 150, 400 s
    assert (on_scene.eligible, on_scene.within, on_scene.share_within) == (2, 1, 0.5)
    close = steps["close"]  # 250, 500, 200 s
    assert (close.eligible, close.within) == (3, 2)
    assert close.p50_s == 250
    assert sum(r.alarms_by_hour) == 4
    assert r.alarms_by_hour[3] == 1
    assert r.alarms_by_hour[20] == 1
    assert (r.complaints, r.fires) == (2, 1)
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0


def test_grade_changes_in_the_month(november: MonthlyReport) -> None:
    r = november
    changes = [(g.estate_id, g.previous, g.colour) for g in r.grade_changes]
    assert changes == [
        ("E001", "green", "red"),
        ("E001", "red", "green"),
        ("E002", "green", "yellow"),
        ("E003", "green", "yellow"),  # Y11 (October), Y14 (complaint), Y1: three yellow items
    ]
    assert r.grade_changes[0].at.hour == 9
    assert "R4" in r.grade_changes[0].reasons
    assert r.grades_at_end == {"green": 1, "yellow": 2}
    assert [(e.grade_start, e.grade_end, e.grade_changes) for e in r.estates] == [
        ("green", "green", 2),
        ("green", "yellow", 1),
        ("green", "yellow", 1),
    ]


def test_a_district_or_a_company_and_the_callers_scope_choose_the_estates(scenario: Scenario) -> None:
    def report(**kw: Any) -> MonthlyReport:
        return build_monthly_report(
            scenario.store, scenario.registry, scenario.policy, month="2026-11", now=scenario.clock.now, **kw
        )

    assert [e.estate_id for e in report(district="锦江区").estates] == ["E001", "E002"]
    by_company = report(company="锦绣物业")
    assert [e.estate_id for e in by_company.estates] == ["E001", "E003"]
    assert by_company.scope_zh == "锦绣物业"
    assert by_company.hazards_opened == 4
    assert by_company.device_days == 24 * 30
    assert [e.estate_id for e in report(district="锦江区", company="锦绣物业").estates] == ["E001"]
    scoped = report(allowed=lambda e: e == "E002")
    assert [e.estate_id for e in scoped.estates] == ["E002"]
    assert scoped.alarms == 1
    with pytest.raises(ValueError, match=r"districts: 锦江区$"):
        report(district="青羊区", allowed=lambda e: e != "E003")  # names only districts in scope
    with pytest.raises(ValueError, match="YYYY-MM"):
        build_monthly_report(
            scenario.store, scenario.registry, scenario.policy, month="2026-13", now=scenario.clock.now
        )
    # The month in progress: device-days only up to now.
    partial = build_monthly_report(
        scenario.store, scenario.registry, scenario.policy, month="2026-12", now=local(12, 3, 12)
    )
    assert partial.device_days == 36 * 3
    assert partial.cutoff.day == 3


def test_assessment_conditions_due_and_coverage_as_at_the_end_of_the_month(
    november: MonthlyReport, scenario: Scenario
) -> None:
    """Each estate was assessed on 20 October (every green condition found to hold) and patrolled on
    15 November (G2, G5); E003's camera went silent on the 27th (a maintenance task, not a hazard)."""
    r = november
    assert [(str(e.assessed_at), str(e.assessment_valid_until)) for e in r.estates] == [
        ("2026-10-20 09:00:00+08:00", "2027-10-20 09:00:00+08:00")
    ] * 3
    assert [e.conditions_due for e in r.estates] == [(), (), ()]
    assert (r.not_assessed_at_end, r.conditions_due_at_end) == (0, 0)
    assert [(e.monitored, e.monitoring_faults) for e in r.estates] == [(13, 0), (13, 0), (13, 1)]
    assert r.estates[2].coverage == pytest.approx(12 / 13)
    assert (r.maintenance_opened, r.maintenance_open_at_end) == (1, 1)
    assert "maint" not in [c.code for c in r.by_criterion], "a maintenance task is not a hazard"

    # Two months on: G2 (monthly) ran out on 16 December, G4, G7 and G8 (quarterly) on 20 January; G5 was
    # renewed by the patrol. The camera is still silent.
    january = build_monthly_report(
        scenario.store,
        scenario.registry,
        scenario.policy,
        month="2027-01",
        now=datetime(2027, 2, 3, tzinfo=UTC),
    )
    assert [e.conditions_due for e in january.estates] == [("G2", "G4", "G7", "G8")] * 3
    assert january.conditions_due_at_end == 3
    assert january.estates[2].monitoring_faults == 1


def test_before_any_assessment_every_condition_is_due_and_no_grade_is_named_a_colour(
    scenario: Scenario,
) -> None:
    """The October report cut off before the office's first assessment: nothing assessed, every condition
    due, and the estates without a grade on record are "暂无评定", not a colour."""
    early = build_monthly_report(
        scenario.store, scenario.registry, scenario.policy, month="2026-10", now=local(10, 20, 8)
    )
    greens = tuple(scenario.policy.green_conditions())
    assert [(e.assessed_at, e.conditions_due) for e in early.estates] == [(None, greens)] * 3
    assert early.not_assessed_at_end == 3
    assert early.grades_at_end == {"": 3}
    assert early.colour_name("") == "暂无评定"
    assert early.colour_name("not_assessed") == "未评定"
    assert early.colour_name("unknown") == "未知"
