"""The monthly report's figures (``gateway.reports.monthly.figures``): "as at the end of the month", per
criterion, estate and hour, the facility intact rate, alarm response, grade changes, and the estates a
district, a company or the caller's scope chooses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from reports_scenario import Scenario, local

from gateway.models import DeviceKind
from gateway.reports.monthly.facilities import DeviceHours, device_hours, facility_figures, intact
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


def test_facility_intact_rate_counts_facility_hours_monitored(
    november: MonthlyReport, scenario: Scenario
) -> None:
    """Facility-hours intact ÷ facility-hours monitored: the hours of a monitoring fault leave both."""
    r = november
    # E002's hydrant: low pressure from 11-10 09:06 to 11-12 09:12 (48.1 h, a facility fault), of which its
    # sensor was offline (a monitoring fault of a hydrant) from 11-11 12:00 to 11-12 09:00: 21 h not
    # monitored, so 27.1 h failed. Every other device of the 3 estates (10 smoke detectors, 2 hydrants
    # each) was monitored and intact all 720 h of November.
    assert r.unmonitored_hours == pytest.approx(21)
    assert r.monitored_hours == pytest.approx(36 * 720 - 21)
    assert r.failed_hours == pytest.approx(27.1)
    assert r.intact_rate == pytest.approx((36 * 720 - 21 - 27.1) / (36 * 720 - 21))
    kinds = {k.kind: k for k in r.intact_by_kind}
    hydrants = kinds["hydrant"]
    assert hydrants.devices == 6
    assert hydrants.monitored_hours == pytest.approx(6 * 720 - 21)
    assert hydrants.failed_hours == pytest.approx(27.1)
    assert hydrants.unmonitored_hours == pytest.approx(21)
    assert hydrants.intact_rate == pytest.approx((6 * 720 - 21 - 27.1) / (6 * 720 - 21))
    assert (kinds["smoke_detector"].monitored_hours, kinds["smoke_detector"].intact_rate) == (30 * 720, 1.0)
    e001, e002, _ = r.estates
    assert [e002.monitored_hours, e002.failed_hours, e002.unmonitored_hours] == pytest.approx(
        [12 * 720 - 21, 27.1, 21]
    )
    assert (e001.monitored_hours, e001.failed_hours, e001.intact_rate) == (12 * 720, 0.0, 1.0)
    # The offline hydrant is a maintenance task, not a hazard (E003's silent camera is the other one).
    assert (r.maintenance_opened, r.maintenance_open_at_end) == (2, 1)


def _row(device: str, signal: str, active: bool, at: datetime) -> dict[str, Any]:
    return {"device_id": device, "signal": signal, "active": active, "at": at}


def test_device_hours_leave_monitoring_faults_out_of_both_sides(scenario: Scenario) -> None:
    """Per device kind, the policy's monitoring faults (a hydrant offline, a low battery) are time not
    monitored; a smoke detector offline is a facility fault (nothing else detects smoke in the home)."""
    devices = {d.id: d for d in scenario.registry.devices}
    smoke = next(d.id for d in scenario.registry.devices if d.kind is DeviceKind.SMOKE_DETECTOR)
    hydrant = next(d.id for d in scenario.registry.devices if d.kind is DeviceKind.HYDRANT)
    camera = next(d.id for d in scenario.registry.devices if d.kind is DeviceKind.CAMERA)
    start, cutoff = local(11, 1, 0), local(11, 2, 0)
    initial = [_row(hydrant, "hydrant_low_pressure", True, start)]  # failed since before the period
    changes = [
        _row(smoke, "low_battery", True, local(11, 1, 1)),  # monitoring fault of a smoke detector
        _row(hydrant, "offline", True, local(11, 1, 2)),  # monitoring fault while failed: unknown
        _row(smoke, "offline", True, local(11, 1, 3)),  # a facility fault, but not monitored yet
        _row(smoke, "low_battery", False, local(11, 1, 4)),  # now the offline detector counts as failed
        _row(hydrant, "offline", False, local(11, 1, 6)),
        _row(smoke, "offline", False, local(11, 1, 7)),
        _row(hydrant, "hydrant_low_pressure", False, local(11, 1, 8)),
        _row(camera, "offline", True, local(11, 1, 9)),  # not a fire facility
        _row(hydrant, "hydrant_leak", True, local(11, 1, 23)),  # still active at the cutoff
        _row(hydrant, "hydrant_leak", False, local(11, 2, 1)),  # after the cutoff
    ]
    hours = device_hours(initial, changes, devices, scenario.policy, start, cutoff)
    assert hours == {
        smoke: DeviceHours(unmonitored=3.0, failed=3.0),
        hydrant: DeviceHours(unmonitored=4.0, failed=2.0 + 2.0 + 1.0),
    }
    chosen = {devices[smoke].estate_id, devices[hydrant].estate_id}
    figures = facility_figures(devices.values(), chosen, hours, 24.0)
    kinds = {k.kind: k for k in figures.by_kind}
    smoke_kind, hydrant_kind = kinds["smoke_detector"], kinds["hydrant"]
    assert (smoke_kind.monitored_hours, smoke_kind.failed_hours, smoke_kind.unmonitored_hours) == (
        smoke_kind.devices * 24 - 3,
        3,
        3,
    )
    assert hydrant_kind.intact_rate == pytest.approx(
        (hydrant_kind.devices * 24 - 4 - 5) / (hydrant_kind.devices * 24 - 4)
    )
    assert intact(0.0, 0.0) is None, "no monitored hours, no rate"


def test_complaints_count_distinct_incidents_as_at_the_end_of_the_month(
    november: MonthlyReport, scenario: Scenario
) -> None:
    """E002: a call on 11-07, its duplicate merged into it, a call filed in error voided on 11-09, and a call
    on 11-20 voided only on 12-02; E003: one call. As grading counted them at the end of November: 2 + 1."""
    r = november
    assert [e.complaints for e in r.estates] == [0, 2, 1]
    assert (r.complaints, r.complaints_voided, r.complaints_merged) == (3, 1, 1)
    assert len(scenario.store.complaints.find(["E002"])) == 4, "nothing is deleted"
    # The December void counts from December on: grading counts one incident for E002 now.
    assert [c.state for c in scenario.store.complaints.find(["E002"])] == [
        "counted",
        "merged",
        "voided",
        "voided",
    ]
    assert scenario.engine.grader.grades["E002"].yellow_items == ("Y14",)
    assert len(scenario.engine.index.complaints_of["E002"]) == 1


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
    assert (r.complaints, r.fires) == (3, 1)
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
    assert by_company.monitored_hours == 24 * 720
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
    # The month in progress: facility-hours only up to now (2 days and 12 hours).
    partial = build_monthly_report(
        scenario.store, scenario.registry, scenario.policy, month="2026-12", now=local(12, 3, 12)
    )
    assert partial.monitored_hours == 36 * 60
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
    assert (r.maintenance_opened, r.maintenance_open_at_end) == (2, 1)  # E002's hydrant was offline too
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
