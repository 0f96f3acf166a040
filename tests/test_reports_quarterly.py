"""The quarterly assessment of property companies (``gateway.reports.quarterly``): every figure against a
scenario the rule engine ran on a fake clock through the third and fourth quarters of 2026, computed by hand
below; the ranking per street and district with a tie, the change against the previous quarter, the quarter
in progress; the HTTP route's scope, the PDF and XLSX read back, the CLI's refusals, and the UI page.

The estates (each with three smoke detectors, one hydrant sensor and one camera):

====  ==========  ======  ===========  ==========
id    name        区       街道          物业
====  ==========  ======  ===========  ==========
E001  锦绣花园     锦江区   春熙路街道    锦绣物业
E002  望江苑       锦江区   春熙路街道    安居物业
E003  青羊小区     青羊区   草市街道      锦绣物业
E004  合江小区     锦江区   合江亭街道    安居物业
E005  宏达家园     锦江区   春熙路街道    宏达物业
E006  康居苑       锦江区   春熙路街道    康居物业
====  ==========  ======  ===========  ==========

Hazards (local time; deadlines at 18:00; escalations every 7 days while overdue, at the clock's steps):

- Q3: q1 E001 Y9 deadline 07-30, verified 07-25 (on time); p1 E002 Y1 deadline 08-10, escalated 08-14,
  verified 08-15 (late); h0 E001 G7 deadline 09-25, escalated 09-28, open at the end of Q3 (overdue),
  rectified 10-03, verified 10-05 (due in Q4 too: verified in it, late).
- Q4, 锦绣物业: h1 E001 Y9 deadline 10-20, verified 10-16 (on time); h2 E001 Y7 deadline 10-25, escalated
  10-28, verified 10-29 (late); h3 E003 Y11 deadline 11-30, never rectified (overdue; escalated 12-01,
  12-10, 12-18, 12-26 and, after the quarter, 2027-01-03); h4 E003 Y1 deadline 12-20, rectified 12-18,
  verified only 2027-01-03 (not rectified at the end: awaiting verification); h5 E001 Y3 withdrawn;
  h6 E001 Y9 deadline 2027-01-20 (not due), withdrawn only 2027-01-03; E001's hydrant loses pressure on
  11-10 and closes its own hazard (apart); E003's camera goes silent (a maintenance task, open at the end).
- Q4, 安居物业: a1 E002 Y1 deadline 10-30, verified 10-22; a2 E004 Y7 deadline 12-15, verified 12-02;
  a3 E004 G7 deadline 12-25, rectified 12-24 but verified 12-26 (late); E004's hydrant sensor is offline
  (a monitoring fault, a maintenance task) from 12-02 14:00 to 12-03 09:00.
- 宏达物业 and 康居物业: nothing at all (they tie).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from clock import FakeClock
from openpyxl import load_workbook
from playwright.async_api import async_playwright, expect
from reports_scenario import SHANGHAI, Driver, assess, local, pdf_text
from role_clients import role_clients
from served_app import served, signed_in

from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.casework.engine import RuleEngine
from gateway.cli import main
from gateway.ingest.registry import Registry, registry_to_toml
from gateway.models import DeviceKind
from gateway.reports.monthly.model import NothingToReport, ReportError
from gateway.reports.quarterly.build import build_quarterly_report
from gateway.reports.quarterly.model import QuarterFigures, QuarterlyReport, RankingGroup
from gateway.reports.quarterly.pdf import render_pdf
from gateway.reports.quarterly.ranking import per_mille, ranked
from gateway.reports.quarterly.text import as_json
from gateway.reports.quarterly.xlsx import SHEETS, render_xlsx
from gateway.store import HazardStore
from rules.lifecycle import AlarmOutcome, FalseAlarmCause, HazardAction
from rules.policy import load_policy
from simulators.fleet import generate_fleet

ESTATES = {
    "E001": ("锦绣花园", "锦江区", "春熙路街道", "锦绣物业"),
    "E002": ("望江苑", "锦江区", "春熙路街道", "安居物业"),
    "E003": ("青羊小区", "青羊区", "草市街道", "锦绣物业"),
    "E004": ("合江小区", "锦江区", "合江亭街道", "安居物业"),
    "E005": ("宏达家园", "锦江区", "春熙路街道", "宏达物业"),
    "E006": ("康居苑", "锦江区", "春熙路街道", "康居物业"),
}
#: Q4 2026 has 92 days; every estate has four fire facilities (three smoke detectors and a hydrant).
Q4_HOURS = 92 * 24
FACILITIES_PER_ESTATE = 4
#: E001's hydrant: low pressure from 11-10 09:00 (the reading after the 08:30 one, past the 5-minute hold)
#: to 11-12 09:12 (the recovery held from 09:00 on).
E001_FAILED_H = 48.2
#: E004's hydrant sensor: offline (a monitoring fault) from 12-02 14:00 to 12-03 09:00.
E004_UNMONITORED_H = 19.0
#: After everything: the report is asked for on 5 January 2027.
AFTER = datetime(2027, 1, 5, 2, tzinfo=UTC)
ESTATES_BY_COMPANY = {
    "锦绣物业": ("E001", "E003"),
    "安居物业": ("E002", "E004"),
    "宏达物业": ("E005",),
    "康居物业": ("E006",),
}


def jan(day: int, hour: int) -> datetime:
    return datetime(2027, 1, day, hour, tzinfo=UTC) - SHANGHAI


def make_registry() -> Registry:
    fleet = generate_fleet(
        estates=6, smoke_per_estate=3, hydrants_per_estate=1, cameras_per_estate=1, modbus_share=0.0, seed=5
    )
    keys = ("name", "district", "street", "property_company")
    estates = tuple(e.model_copy(update=dict(zip(keys, ESTATES[e.id], strict=True))) for e in fleet.estates)
    return Registry(estates=estates, buildings=fleet.buildings, devices=fleet.devices)


@dataclass
class Quarters:
    engine: RuleEngine
    clock: FakeClock
    config: Path

    @property
    def store(self) -> HazardStore:
        return self.engine.store

    def report(self, quarter: str = "2026Q4", now: datetime = AFTER, **kw: Any) -> QuarterlyReport:
        return build_quarterly_report(
            self.store, self.engine.registry, self.engine.policy, quarter=quarter, now=now, **kw
        )


def run_quarters(root: Path) -> Quarters:
    registry = make_registry()
    policy = load_policy()
    (root / "data").mkdir()
    clock = FakeClock(local(7, 1, 9))
    store = HazardStore(f"sqlite:///{root / 'data' / 'hazards.sqlite'}")
    engine = RuleEngine(registry, policy, store, clock=clock)
    d = Driver(engine, clock, registry)
    for estate_id in ESTATES:
        assess(engine, estate_id, "assessment", list(policy.green_conditions()))

    def device(estate: str, kind: DeviceKind, n: int = 0) -> Any:
        return [x for x in registry.devices if x.estate_id == estate and x.kind is kind][n]

    def started(estate: str, criterion: str, deadline: datetime) -> int:
        hazard = d.file(estate, criterion)
        d.step(hazard, HazardAction.START, deadline=deadline)
        return hazard

    def fixed(hazard: int) -> None:
        d.step(hazard, HazardAction.RECTIFIED, evidence="整改后照片")

    def verified(hazard: int) -> None:
        d.step(hazard, HazardAction.VERIFY)

    def go(*when: int) -> None:
        d.at(local(*when))

    # -- the third quarter --
    go(7, 10, 10)
    q1 = started("E001", "Y9", local(7, 30, 18))
    go(7, 24, 10)
    fixed(q1)
    go(7, 25, 10)
    verified(q1)
    go(8, 1, 10)
    p1 = started("E002", "Y1", local(8, 10, 18))
    go(8, 14, 10)  # p1 is escalated first
    fixed(p1)
    go(8, 15, 10)
    verified(p1)
    go(9, 1, 10)
    h0 = started("E001", "G7", local(9, 25, 18))
    go(9, 28, 10)  # h0 escalated

    # -- the fourth quarter --
    go(10, 3, 10)  # five days after the last escalation: not yet again
    fixed(h0)
    go(10, 5, 10)
    verified(h0)
    go(10, 8, 10)
    h1 = started("E001", "Y9", local(10, 20, 18))
    go(10, 10, 10)
    h2 = started("E001", "Y7", local(10, 25, 18))
    go(10, 12, 10)
    a1 = started("E002", "Y1", local(10, 30, 18))
    go(10, 15, 10)
    fixed(h1)
    go(10, 16, 10)
    verified(h1)
    go(10, 18, 20)
    d.alarm(
        device("E002", DeviceKind.SMOKE_DETECTOR),
        [("acknowledge", 30), ("dispatch", 40), ("on_scene", 120), ("close", 240)],
        AlarmOutcome.FALSE_ALARM,
        cause=FalseAlarmCause.COOKING_SMOKE,
    )
    go(10, 20, 10)
    fixed(a1)
    go(10, 22, 10)
    verified(a1)
    go(10, 28, 10)  # h2 escalated
    fixed(h2)
    go(10, 29, 10)
    verified(h2)
    go(11, 2, 10)
    started("E003", "Y11", local(11, 30, 18))  # h3
    go(11, 5, 10)
    h5 = d.file("E001", "Y3")
    go(11, 6, 10)
    d.step(h5, HazardAction.CLOSE, reason="重复上报")
    hydrant = device("E001", DeviceKind.HYDRANT)
    d.hydrant_pressure[hydrant.id] = 0.02
    for when in ((8, 30), (9, 0), (9, 6), (9, 7)):
        go(11, 10, *when)
    d.hydrant_pressure[hydrant.id] = 0.35
    for when in ((9, 0), (9, 1), (9, 12)):
        go(11, 12, *when)
    go(11, 15, 10)
    a2 = started("E004", "Y7", local(12, 15, 18))
    go(11, 20, 3)
    d.alarm(
        device("E002", DeviceKind.SMOKE_DETECTOR, 1),
        [("acknowledge", 70), ("dispatch", 80), ("on_scene", 200), ("close", 400)],
        AlarmOutcome.REAL_FIRE,
        confirm=True,
        fatal=False,
        high_impact=False,
    )
    go(11, 25, 10)
    d.alarm(
        device("E001", DeviceKind.SMOKE_DETECTOR), [("acknowledge", 10), ("close", 20)], AlarmOutcome.TEST
    )
    go(12, 1, 10)  # h3 escalated (1)
    h4 = started("E003", "Y1", local(12, 20, 18))
    fixed(a2)
    d.silent.add(device("E004", DeviceKind.HYDRANT).id)
    go(12, 2, 14)  # E004's hydrant sensor is offline from here
    verified(a2)
    d.silent.clear()
    go(12, 3, 9)
    go(12, 5, 10)
    a3 = started("E004", "G7", local(12, 25, 18))
    go(12, 5, 22)
    d.alarm(
        device("E003", DeviceKind.SMOKE_DETECTOR),
        [("acknowledge", 200), ("close", 900)],
        AlarmOutcome.FALSE_ALARM,
        cause=FalseAlarmCause.DUST,
    )
    go(12, 10, 10)  # h3 escalated (2)
    h6 = started("E001", "Y9", jan(20, 18))
    go(12, 12, 14)
    d.alarm(
        device("E004", DeviceKind.SMOKE_DETECTOR),
        [("acknowledge", 50), ("close", 100)],
        AlarmOutcome.FALSE_ALARM,
        cause=FalseAlarmCause.STEAM,
    )
    go(12, 18, 10)  # h3 escalated (3)
    fixed(h4)
    go(12, 20, 10)
    d.silent.add(device("E003", DeviceKind.CAMERA).id)
    go(12, 24, 10)  # E003's camera offline: a maintenance task
    fixed(a3)
    go(12, 26, 10)  # h3 escalated (4)
    verified(a3)

    # -- after the quarter: none of this may change its figures --
    d.at(jan(3, 10))  # h3 escalated (5)
    verified(h4)
    d.step(h6, HazardAction.CLOSE, reason="误报")

    (root / "registry.toml").write_text(registry_to_toml(registry), encoding="utf-8")
    config = root / "gateway.toml"
    config.write_text('[gateway]\nregistry = "registry.toml"\ndata_dir = "data"\n', encoding="utf-8")
    return Quarters(engine, clock, config)


@pytest.fixture(scope="module")
def quarters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Quarters]:
    q = run_quarters(tmp_path_factory.mktemp("quarterly"))
    yield q
    q.store.close()


@pytest.fixture(scope="module")
def q4(quarters: Quarters) -> QuarterlyReport:
    return quarters.report()


def company(report: QuarterlyReport, name: str) -> QuarterFigures:
    return next(c.figures for c in report.companies if c.company == name)


def test_rectification_rate_counts_people_worked_hazards_due_in_the_quarter(q4: QuarterlyReport) -> None:
    """锦绣物业: due h0 (verified in Q4, late), h1 (on time), h2 (late), h3 (open, overdue), h4 (rectified,
    verified only in January): 1 of 5. The hydrant's own recovery, the withdrawn h5 and h6 (deadline in
    January) are not due; what happened in January does not count."""
    jinxiu = company(q4, "锦绣物业").rectification
    assert (jinxiu.due, jinxiu.on_time, jinxiu.late) == (5, 1, 2)
    assert (jinxiu.not_rectified, jinxiu.awaiting_verification) == (2, 1)
    assert jinxiu.rate == pytest.approx(1 / 5)
    assert (jinxiu.auto_closed, jinxiu.withdrawn) == (1, 1), "apart: the device's own recovery, withdrawn"
    assert jinxiu.found == 7  # h1, h2, h3, h5, h6, h4 and the hydrant's device hazard
    # 安居物业: a1 and a2 verified by their deadline; a3 rectified in time but verified after its deadline.
    anju = company(q4, "安居物业").rectification
    assert (anju.due, anju.on_time, anju.late, anju.not_rectified) == (3, 2, 1, 0)
    assert anju.rate == pytest.approx(2 / 3)
    for nothing in ("宏达物业", "康居物业"):
        assert company(q4, nothing).rectification.due == 0
        assert company(q4, nothing).rectification.rate is None, "nothing due: no rate"
    total = q4.total.rectification
    assert (total.due, total.on_time, total.rate) == (8, 3, 3 / 8)
    assert [c.company for c in q4.companies] == sorted(ESTATES_BY_COMPANY)


def test_each_company_covers_its_own_estates(q4: QuarterlyReport) -> None:
    assert {c.company: c.figures.estates for c in q4.companies} == ESTATES_BY_COMPANY
    assert q4.total.estates == tuple(ESTATES)


def test_overdue_at_the_end_and_escalations_in_the_quarter(q4: QuarterlyReport) -> None:
    """h3 is overdue at the end (h4 waits for the inspector, h6's deadline is in January); h2 was escalated
    once (10-28), h3 four times in the quarter (its fifth, on 3 January, is not)."""
    jinxiu = company(q4, "锦绣物业").overdue
    assert (jinxiu.open_at_end, jinxiu.overdue_at_end) == (3, 1)
    assert (jinxiu.escalated, jinxiu.escalations) == (2, 5)
    anju = company(q4, "安居物业").overdue
    assert (anju.open_at_end, anju.overdue_at_end, anju.escalated) == (0, 0, 0), "a3 was rectified in time"
    # The third quarter as the previous one: h0 overdue at its end, h0 and p1 escalated once each.
    before = {c.company: c.previous.overdue for c in q4.companies}
    assert (before["锦绣物业"].overdue_at_end, before["锦绣物业"].escalations) == (1, 1)
    assert (before["安居物业"].overdue_at_end, before["安居物业"].escalations) == (0, 1)
    # Maintenance tasks (monitoring faults) are counted apart: E004's hydrant sensor offline (closed when it
    # reported again), E003's camera offline (open at the end).
    assert company(q4, "锦绣物业").maintenance.opened == 1
    assert company(q4, "锦绣物业").maintenance.open_at_end == 1
    anju_tasks = company(q4, "安居物业").maintenance
    assert (anju_tasks.opened, anju_tasks.closed, anju_tasks.open_at_end) == (1, 1, 0)


def test_facility_intact_rate_over_facility_hours_with_monitoring_faults_left_out(
    q4: QuarterlyReport,
) -> None:
    per_estate = FACILITIES_PER_ESTATE * Q4_HOURS
    jinxiu = company(q4, "锦绣物业").facilities
    assert (jinxiu.monitored_hours, jinxiu.unmonitored_hours) == (2 * per_estate, 0)
    assert jinxiu.failed_hours == pytest.approx(E001_FAILED_H)
    assert jinxiu.rate == pytest.approx((2 * per_estate - E001_FAILED_H) / (2 * per_estate))
    kinds = {k.kind: k for k in jinxiu.by_kind}
    assert (kinds["hydrant"].devices, kinds["hydrant"].monitored_hours) == (2, 2 * Q4_HOURS)
    assert kinds["hydrant"].intact_rate == pytest.approx((2 * Q4_HOURS - E001_FAILED_H) / (2 * Q4_HOURS))
    assert (kinds["smoke_detector"].devices, kinds["smoke_detector"].intact_rate) == (6, 1.0)
    # E004's offline hours are neither intact nor failed: they leave both sides of the rate.
    anju = company(q4, "安居物业").facilities
    assert anju.unmonitored_hours == pytest.approx(E004_UNMONITORED_H)
    assert anju.monitored_hours == pytest.approx(2 * per_estate - E004_UNMONITORED_H)
    assert (anju.failed_hours, anju.rate) == (0.0, 1.0)
    hydrants = {k.kind: k for k in anju.by_kind}["hydrant"]
    assert hydrants.monitored_hours == pytest.approx(2 * Q4_HOURS - E004_UNMONITORED_H)
    # The third quarter (92 days too) had no fault at all.
    previous = {c.company: c.previous.facilities for c in q4.companies}
    assert previous["锦绣物业"].rate == 1.0
    assert previous["锦绣物业"].monitored_hours == 2 * per_estate


def test_alarm_response_real_fires_and_false_alarms_by_cause(q4: QuarterlyReport) -> None:
    """安居物业: acknowledged after 30, 70, 50 s; on scene after 120, 200 s (the two dispatched); closed
    after 240, 400, 100 s. 锦绣物业: a test alarm (left out) and one acknowledged after 200 s."""
    anju = company(q4, "安居物业").alarms
    steps = {s.step: s for s in anju.steps}
    assert (steps["ack"].eligible, steps["ack"].within, steps["ack"].p50_s) == (3, 2, 50)
    assert steps["ack"].p90_s == pytest.approx(50 + 0.8 * 20)
    assert (steps["on_scene"].eligible, steps["on_scene"].within, steps["on_scene"].share_within) == (
        2,
        1,
        0.5,
    )
    assert (steps["close"].within, steps["close"].p50_s) == (2, 240)
    assert (anju.received, anju.real_fires, anju.fires, anju.false_alarms) == (3, 1, 1, 2)
    assert anju.false_alarm_causes == {"cooking_smoke": 1, "steam": 1}
    jinxiu = company(q4, "锦绣物业").alarms
    assert jinxiu.outcomes == {"test": 1, "false_alarm": 1}
    assert jinxiu.share_within("ack") == 0.0
    assert jinxiu.share_within("on_scene") is None, "nothing dispatched"
    assert jinxiu.false_alarm_causes == {"dust": 1}
    assert q4.total.alarms.share_within("ack") == 0.5  # 30, 70, 50, 200 s


def group(groups: tuple[RankingGroup, ...], district: str, street: str = "") -> list[tuple[int, str]]:
    found = next(g for g in groups if (g.district, g.street) == (district, street))
    return [(row.rank, row.company) for row in found.rows]


def test_ranking_within_each_street_and_district_ties_shared(q4: QuarterlyReport) -> None:
    """春熙路街道: 安居 (E002: 1 of 1) before 锦绣 (E001: 1 of 3); 宏达 and 康居 have no rate and equal
    everything else, so they share third place."""
    assert group(q4.streets, "锦江区", "春熙路街道") == [
        (1, "安居物业"),
        (2, "锦绣物业"),
        (3, "宏达物业"),
        (3, "康居物业"),
    ]
    assert group(q4.districts, "锦江区") == [
        (1, "安居物业"),
        (2, "锦绣物业"),
        (3, "宏达物业"),
        (3, "康居物业"),
    ]
    assert group(q4.streets, "锦江区", "合江亭街道") == [(1, "安居物业")]
    assert group(q4.districts, "青羊区") == [(1, "锦绣物业")]
    street = next(g for g in q4.streets if g.street == "春熙路街道")
    assert street.ranked == 4
    rows = {row.company: row for row in street.rows}
    assert rows["锦绣物业"].figures.estates == ("E001",)
    assert rows["锦绣物业"].figures.rectification.rate == pytest.approx(1 / 3)
    assert rows["安居物业"].figures.rectification.rate == 1.0
    # Against the third quarter, when 锦绣 (E001: q1 on time, h0 overdue: 1 of 2) led 安居 (p1 late: 0 of 1).
    assert {name: (row.previous_rank, row.change.rank) for name, row in rows.items()} == {
        "安居物业": (2, 1),
        "锦绣物业": (1, -1),
        "宏达物业": (3, 0),
        "康居物业": (3, 0),
    }
    assert rows["锦绣物业"].change.rectification_rate == pytest.approx(1 / 3 - 1 / 2)
    assert rows["锦绣物业"].change.overdue_at_end == -1
    assert rows["宏达物业"].change.rectification_rate is None
    by_company = {c.company: c.change for c in q4.companies}
    assert by_company["锦绣物业"].rectification_rate == pytest.approx(1 / 5 - 1 / 2)
    assert by_company["安居物业"].rectification_rate == pytest.approx(2 / 3)


def test_rates_are_ranked_as_printed_and_a_missing_rate_comes_last(q4: QuarterlyReport) -> None:
    base = company(q4, "宏达物业")

    def with_rate(share: float | None) -> QuarterFigures:
        return replace(base, rectification=replace(base.rectification, rate=share))

    rows = [
        ("甲", with_rate(0.66666)),
        ("乙", with_rate(0.6667)),
        ("丙", with_rate(None)),
        ("丁", with_rate(0.7)),
    ]
    assert [(rank, name) for rank, name, _ in ranked(rows)] == [(1, "丁"), (2, "乙"), (2, "甲"), (4, "丙")]
    assert (per_mille(0.0005), per_mille(0.66666), per_mille(None)) == (1, 667, None)


def test_a_quarter_in_progress_runs_to_now_and_says_so(quarters: Quarters) -> None:
    """On 15 November at noon: h3's deadline (11-30) has not come; facility-hours up to now (45.5 days)."""
    now = local(11, 15, 12)
    report = quarters.report(now=now)
    assert report.in_progress
    assert report.cutoff == now
    jinxiu = company(report, "锦绣物业")
    assert (jinxiu.rectification.due, jinxiu.rectification.on_time) == (3, 1)  # h0, h1, h2
    assert jinxiu.overdue.overdue_at_end == 0
    hours = 45.5 * 24
    assert jinxiu.facilities.monitored_hours == 2 * FACILITIES_PER_ESTATE * hours
    assert jinxiu.facilities.failed_hours == pytest.approx(E001_FAILED_H)
    assert not quarters.report(now=AFTER).in_progress
    data = as_json(report)
    assert data["in_progress"] is True
    assert data["period"] == "2026-10-01 — 2026-12-31"
    assert json.loads(json.dumps(data))["companies"][0]["figures"]["rectification"]["due"] >= 0


def test_refusals_say_what_is_wrong(quarters: Quarters) -> None:
    with pytest.raises(ReportError, match=r"YYYYQn.*got '2026Q5'"):
        quarters.report("2026Q5")
    with pytest.raises(ReportError, match="2027Q2 has not started"):
        quarters.report("2027Q2")
    with pytest.raises(NothingToReport, match=r"companies: 锦绣物业$"):
        quarters.report(company="安居物业", allowed=lambda e: e in ("E001", "E003"))
    with pytest.raises(NothingToReport, match="districts: 锦江区, 青羊区"):
        quarters.report(district="武侯区")


def test_a_company_filter_keeps_its_ranks_among_all_companies_in_scope(quarters: Quarters) -> None:
    report = quarters.report(company="锦绣物业")
    assert [c.company for c in report.companies] == ["锦绣物业"]
    assert report.total.estates == ("E001", "E003")
    assert group(report.streets, "锦江区", "春熙路街道") == [(2, "锦绣物业")]
    assert next(g for g in report.streets if g.street == "春熙路街道").ranked == 4
    assert report.scope_zh == "锦绣物业"
    # The caller's scope decides who is ranked: 锦绣 alone, it is first in its streets.
    own = quarters.report(allowed=lambda e: e in ("E001", "E003"))
    assert group(own.streets, "锦江区", "春熙路街道") == [(1, "锦绣物业")]


async def test_http_scope_a_property_company_sees_its_own_company_only(
    quarters: Quarters, tmp_path: Path
) -> None:
    roles = {"property": {"company": "锦绣物业"}, "office": {"district": "锦江区"}, "brigade": {}}
    async with role_clients(quarters.engine, quarters.clock, tmp_path, roles) as (http, tokens):

        async def get(role: str, **params: str) -> Any:
            headers = {"Authorization": f"Bearer {tokens[role]}"}
            return await http.get("/api/reports/quarterly", params=params, headers=headers)

        own = await get("property", quarter="2026Q4")
        assert own.status_code == 200, own.text
        body = own.json()
        assert [c["company"] for c in body["companies"]] == ["锦绣物业"]
        assert body["total"]["estates"] == ["E001", "E003"]
        assert body["in_progress"] is False
        assert body["order"]["zh"].startswith("排名顺序")
        # Ranked among what it may see: itself.
        assert {(g["street"], g["ranked"]) for g in body["streets"]} == {("春熙路街道", 1), ("草市街道", 1)}
        assert body["companies"][0]["figures"]["rectification"]["due"] == 5
        outside = await get("property", quarter="2026Q4", company="安居物业")
        assert outside.status_code == 404
        assert outside.json()["error"] == "not_found"
        assert "companies: 锦绣物业" in outside.json()["detail"]
        assert (await get("property", quarter="2026Q4", district="青羊区")).status_code == 200
        assert (await get("property", quarter="2026Q4", district="武侯区")).status_code == 404

        office = (await get("office", quarter="2026Q4")).json()
        assert {c["company"]: c["figures"]["estates"] for c in office["companies"]} == {
            "安居物业": ["E002", "E004"],
            "宏达物业": ["E005"],
            "康居物业": ["E006"],
            "锦绣物业": ["E001"],
        }
        assert [g["district"] for g in office["districts"]] == ["锦江区"]
        picked = (await get("office", quarter="2026Q4", company="锦绣物业")).json()
        street = next(g for g in picked["streets"] if g["street"] == "春熙路街道")
        assert (street["ranked"], [r["rank"] for r in street["rows"]]) == (4, [2])
        assert (
            await get("office", quarter="2026Q4", company="锦绣物业", district="青羊区")
        ).status_code == 404

        brigade = (await get("brigade", quarter="2026Q4")).json()
        assert brigade["total"]["estates"] == list(ESTATES)
        assert brigade["total"]["rectification"]["rate"] == 3 / 8

        bad = await get("brigade", quarter="2026-4")
        assert bad.status_code == 422
        assert "quarter: expected YYYYQn" in bad.json()["detail"]
        assert "has not started" in (await get("brigade", quarter="2099Q1")).json()["detail"]
        assert (await http.get("/api/reports/quarterly", params={"quarter": "2026Q4"})).status_code == 401

        pdf = await get("property", quarter="2026Q4", format="pdf")
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.headers["content-disposition"].startswith('attachment; filename="quarterly-2026Q4.pdf"')
        assert "锦绣物业" in pdf_text(pdf.content)
        assert "安居物业" not in pdf_text(pdf.content)
        xlsx = await get("office", quarter="2026Q4", format="xlsx")
        assert xlsx.status_code == 200
        assert load_workbook(io.BytesIO(xlsx.content)).sheetnames == list(SHEETS)


def test_pdf_reads_back_with_the_ranking_and_the_figures(q4: QuarterlyReport, quarters: Quarters) -> None:
    text = pdf_text(render_pdf(q4))
    assert "全部小区 物业企业消防安全季度考核（2026年第四季度）" in text
    for expected in ("排名顺序", "春熙路街道", "合江亭街道", "宏达物业", "康居物业", "口径说明", "自动销号"):
        assert expected in text, expected
    assert "37.5%" in text  # 3 of 8 due, verified by their deadline
    assert "20.0% (1/5)" in text  # 锦绣物业
    assert "↑1" in text  # 安居 and 锦绣 swapped places in 春熙路街道
    assert "↓1" in text
    assert "本季度尚未结束" not in text
    assert "本季度尚未结束（进行中），数据截至 2026-11-15 12:00" in pdf_text(
        render_pdf(quarters.report(now=local(11, 15, 12)))
    )


def test_xlsx_reads_back_with_numbers_as_numbers(q4: QuarterlyReport) -> None:
    wb = load_workbook(io.BytesIO(render_xlsx(q4)))
    assert wb.sheetnames == list(SHEETS)
    summary = {row[0]: row[2:4] for row in wb["概要 Summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["rectification_rate"][0] == 3 / 8
    assert summary["rectification_rate"][1] == pytest.approx(1 / 3)  # Q3: q1 of q1, p1, h0
    assert summary["due"] == (8, 3)
    assert summary["auto_closed"][0] == 1
    assert summary["unmonitored_hours"][0] == pytest.approx(E004_UNMONITORED_H)
    rankings = list(wb["排名 Rankings"].iter_rows(min_row=2, values_only=True))
    chunxi = [(r[3], r[5], r[14]) for r in rankings if r[0] == "street" and r[2] == "春熙路街道"]
    assert chunxi == [(1, "安居物业", 1), (2, "锦绣物业", -1), (3, "宏达物业", 0), (3, "康居物业", 0)]
    companies = {r[0]: r for r in wb["物业企业 Companies"].iter_rows(min_row=2, values_only=True)}
    assert companies["锦绣物业"][2] == pytest.approx(1 / 5)
    assert wb["物业企业 Companies"].cell(row=2, column=3).number_format == "0.0%"
    facilities = [
        r for r in wb["设施完好 Facilities"].iter_rows(min_row=2, values_only=True) if r[0] == "安居物业"
    ]
    assert [(r[1], r[6]) for r in facilities] == [
        ("独立式烟感", 0),
        ("消火栓水压", pytest.approx(E004_UNMONITORED_H)),
    ]


def test_cli_writes_the_report_and_refuses_with_a_sentence(
    quarters: Quarters, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command runs on the wall clock: 2026Q3 is over (or the machine's clock is wrong)."""
    args = ["report", "quarterly", "--config", str(quarters.config)]
    out = tmp_path / "q.xlsx"
    assert main([*args, "--quarter", "2026Q3", "-o", str(out)]) == 0
    assert load_workbook(out).sheetnames == list(SHEETS)
    data = tmp_path / "q.json"
    assert main([*args, "--quarter", "2026Q3", "--company", "安居物业", "-o", str(data)]) == 0
    body = json.loads(data.read_text("utf-8"))
    assert [c["company"] for c in body["companies"]] == ["安居物业"]
    assert body["companies"][0]["figures"]["rectification"]["late"] == 1  # p1
    pdf = tmp_path / "q.pdf"
    assert main([*args, "--quarter", "2026Q3", "--district", "青羊区", "-o", str(pdf)]) == 0
    assert "青羊区 物业企业消防安全季度考核（2026年第三季度）" in pdf_text(pdf.read_bytes())
    capsys.readouterr()
    for bad, said in (
        ("2026Q5", "error: quarter: expected YYYYQn with n from 1 to 4 (e.g. 2026Q4), got '2026Q5'"),
        ("2099Q1", "error: quarter 2099Q1 has not started yet"),
    ):
        assert main([*args, "--quarter", bad]) == 2
        assert capsys.readouterr().err.strip() == said
    assert main([*args, "--quarter", "2026Q3", "--company", "无名物业"]) == 2
    assert "companies: 安居物业, 宏达物业, 康居物业, 锦绣物业" in capsys.readouterr().err
    assert main(["report", "--config", str(quarters.config)]) == 2
    assert "--month YYYY-MM" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main([*args])  # --quarter missing: argparse's own sentence
    assert exit_.value.code == 2
    assert "--quarter" in capsys.readouterr().err


CHROMIUM = os.environ.get("FIREGW_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"


async def test_ui_page_ranks_the_companies_of_each_street_with_bars(
    quarters: Quarters, tmp_path: Path
) -> None:
    """A street office of 锦江区 signs in, opens 季度考核 from the header, and sees each street's ranking
    (the tie shared), each company's figures as bars, and the download links; English is a click away."""
    auth = AuthService(AuthStore(quarters.store.engine))
    auth.store.create_user(
        username="jinjiang",
        role="office",
        password=PASSWORD,
        now=AFTER,
        display_name="街道 陈",
        district="锦江区",
    )
    async with served(quarters.engine, auth, tmp_path) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            errors: list[str] = []
            page = await signed_in(browser, base, "jinjiang", PASSWORD, errors)
            link = page.locator('header nav a[href="#/quarterly"]')
            await expect(link).to_have_text("季度考核")
            await page.goto(base + "/#/quarterly/2026Q4")
            street = page.locator('[data-ranking="street:锦江区:春熙路街道"]')
            await expect(street).to_be_visible(timeout=10_000)
            ranks = await street.locator("tr[data-company]").evaluate_all(
                "rows => rows.map(r => [r.dataset.rank, r.dataset.company])"
            )
            assert ranks == [["1", "安居物业"], ["2", "锦绣物业"], ["3", "宏达物业"], ["3", "康居物业"]]
            first = street.locator('tr[data-company="安居物业"]')
            assert await first.locator(".q-bar > span").first.get_attribute("style") == "width:100.0%"
            await expect(street.locator('tr[data-company="锦绣物业"]')).to_contain_text("33.3%")
            await expect(street.locator('tr[data-company="锦绣物业"]')).to_contain_text("↓1")
            card = page.locator('[data-company-card="锦绣物业"]')
            await expect(card.locator('[data-detail="rectification"]')).to_contain_text(
                "按期整改销号 1 / 到期 3"
            )
            await expect(card.locator('[data-detail="apart"]')).to_contain_text("设备恢复自动销号 1")
            assert await page.locator("#q-in-progress").count() == 0
            pdf = page.locator('#q-links a[data-format="pdf"]')
            response = await page.request.get(base + (await pdf.get_attribute("href") or ""))
            assert response.status == 200
            assert response.headers["content-type"] == "application/pdf"
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / "quarterly.png"), full_page=True)
            await page.locator("#lang-toggle").click()
            await expect(page.locator("h1")).to_contain_text("Quarterly assessment of property companies")
            await expect(link).to_have_text("Quarterly")
            await page.locator("#q-company").select_option("安居物业")
            await expect(page.locator("[data-company-card]")).to_have_count(2)  # the company and its total
            assert page.url.endswith("#/quarterly/2026Q4/%E5%AE%89%E5%B1%85%E7%89%A9%E4%B8%9A")
            assert errors == []
        finally:
            await browser.close()
