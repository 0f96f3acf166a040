"""Unit tests of estate grading (rules/grading.py), a pure function, under the default and the four-colour
policy. The reference is domain.md, "How a grade is earned": green is earned by a current assessment and
evidence, items count whatever their source, "unknown" is a floor, monitoring faults are not items.

The table-driven cases through the whole engine (device messages, people's records, a fake clock) are in
``tests/grading_cases.toml``; these tests pin the rules one at a time, plus properties over random inputs.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.models import DeviceKind
from rules.grading import Evidence, Grade, GradeInputs, OpenHazard, Reason, grade_estate, local_time
from rules.model import SignalKind
from rules.policy import EVIDENCE_KINDS, NOT_ASSESSED, UNKNOWN, Policy, builtin_policy

DEFAULT = builtin_policy("default")
FOUR = builtin_policy("four_colour")
POLICIES = [DEFAULT, FOUR]
#: 2026-06-01 12:00 in Shanghai.
NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
DAY = timedelta(days=1)
GREENS = tuple(DEFAULT.green_conditions())
HYDRANT = tuple(DEFAULT.criteria_for(DeviceKind.HYDRANT, SignalKind.HYDRANT_LOW_PRESSURE))
SMOKE = tuple(DEFAULT.criteria_for(DeviceKind.SMOKE_DETECTOR, SignalKind.DEVICE_FAULT))


def assessment(
    days_ago: float = 10, met: tuple[str, ...] = GREENS, not_met: tuple[str, ...] = (), record_id: int = 1
) -> Evidence:
    """The street office's assessment (排查登记), by default finding every green condition held."""
    met = tuple(c for c in met if c not in not_met)
    return Evidence(record_id, "assessment", NOW - timedelta(days=days_ago), "街道 王", met, not_met)


def record(kind: str, met: tuple[str, ...], days_ago: float, record_id: int = 2) -> Evidence:
    """Later evidence: a patrol log, a drill, a maintenance report, a duty roster."""
    return Evidence(record_id, kind, NOW - timedelta(days=days_ago), "物业 张", met)


ASSESSED = (assessment(),)


def manual(code: str, n: int = 0, detail: str = "") -> OpenHazard:
    """A hazard filed by a person (grid worker, inspector)."""
    return OpenHazard(
        hazard_id=f"m-{code}-{n}",
        criteria=(code,),
        detail=detail or f"网格员巡查发现 {code}",
        since=NOW - DAY,
    )


_DEFAULT_SIGNAL = {
    DeviceKind.HYDRANT: SignalKind.HYDRANT_LOW_PRESSURE,
    DeviceKind.SMOKE_DETECTOR: SignalKind.DEVICE_FAULT,
    DeviceKind.CAMERA: SignalKind.FIRE_LANE_OCCUPIED,
}


def device(
    hazard_id: str,
    device_id: str,
    kind: DeviceKind,
    *,
    signal: SignalKind | None = None,
    detail: str = "",
    since: datetime = NOW - DAY,
    policy: Policy = DEFAULT,
) -> OpenHazard:
    """A hazard a device rule opened, with the criteria the policy maps its signal to ([] for a monitoring
    fault: then a maintenance task)."""
    signal = signal or _DEFAULT_SIGNAL[kind]
    return OpenHazard(
        hazard_id=hazard_id,
        criteria=tuple(policy.criteria_for(kind, signal)),
        detail=detail or f"设备 {device_id} 异常",
        since=since,
        source="device",
        device_id=device_id,
        device_kind=kind,
        signal=signal.value,
    )


def grade(
    policy: Policy = DEFAULT, now: datetime = NOW, evidence: tuple[Evidence, ...] = ASSESSED, **inputs: object
) -> Grade:
    """Grade estate E001; assessed ten days ago with every condition met unless ``evidence`` says else."""
    return grade_estate(GradeInputs(estate_id="E001", evidence=evidence, **inputs), policy, now)  # type: ignore[arg-type]


def decisive_codes(g: Grade) -> set[str]:
    return {code for r in g.decisive for code in r.codes}


# -- green is earned: assessments, evidence, validity --------------------------------------------------------


def test_an_assessed_estate_with_nothing_open_is_green() -> None:
    g = grade(devices={DeviceKind.HYDRANT: 3, DeviceKind.SMOKE_DETECTOR: 100})
    assert g.colour == "green"
    assert g.level == 0
    assert g.reasons == ()
    assert g.rule == DEFAULT.say(DEFAULT.texts.why_default) == "绿色条件全部满足且有有效证明"
    assert g.rule_en == "every green condition holds, with current evidence"
    assert g.summary == "green"
    assert g.policy == f"{DEFAULT.id}@{DEFAULT.version}"
    assert g.decided_at == NOW
    assert g.assessed_at == NOW - 10 * DAY
    assert g.assessment_valid_until == NOW - 10 * DAY + DEFAULT.assessment.valid_for
    assert [c.state for c in g.conditions] == ["holds"] * len(GREENS)
    assert [c.code for c in g.conditions] == list(GREENS)


def test_without_an_assessment_an_estate_is_not_assessed_whatever_its_devices_say() -> None:
    g = grade(evidence=(), devices={DeviceKind.SMOKE_DETECTOR: 10}, monitored=10)
    assert g.colour == NOT_ASSESSED
    assert g.level == -2
    assert g.assessed_at is None
    assert g.assessment_valid_until is None
    (floor,) = g.decisive
    assert floor.codes == ()
    assert floor.text == "未经街道排查登记，暂不评定颜色"
    assert g.reasons[0] is floor  # what decided comes first
    assert g.rule == "未评定：无有效排查登记，或绿色条件证明到期"
    assert {c.state for c in g.conditions} == {"missing"}
    # Later evidence alone (a patrol log) is no assessment.
    assert grade(evidence=(record("patrol", ("G2", "G5"), 1),)).colour == NOT_ASSESSED


def test_an_expired_assessment_is_not_assessed_and_says_when_it_ran_out() -> None:
    old = assessment(days_ago=400)
    g = grade(evidence=(old,))
    assert g.colour == NOT_ASSESSED
    assert g.assessment_valid_until == old.at + DEFAULT.assessment.valid_for
    (floor,) = g.decisive
    assert floor.text == "排查登记已过期（2025-04-27 登记，有效至 2026-04-27）"
    # The day before it runs out, it still holds (for the conditions that have not expired).
    fresh = grade(evidence=(assessment(days_ago=364, met=("G1", "G3", "G6")),))
    assert fresh.assessment_valid_until is not None
    assert fresh.assessment_valid_until > NOW


def test_a_condition_past_its_validity_is_due_and_decides_not_assessed() -> None:
    # G2 (regular patrols) holds 31 days from its evidence (Order 61 §26: monthly); the assessment was 40
    # days ago, everything else still holds.
    g = grade(evidence=(assessment(days_ago=40),))
    assert g.colour == NOT_ASSESSED
    states = {c.code: c.state for c in g.conditions}
    assert states["G2"] == "due"
    assert all(state == "holds" for code, state in states.items() if code != "G2")
    (reason,) = g.decisive
    assert reason.codes == ("G2",)
    assert reason.text == "G2 定期组织开展防火检查、巡查：排查登记已到期（2026-04-22，有效至 2026-05-23）"
    assert g.reasons[0] == reason
    assert g.missing_green == ()  # due is "not assessed for that condition", not failed
    assert g.yellow_items == ()
    # A patrol log five days ago renews it: green again.
    renewed = grade(evidence=(assessment(days_ago=40), record("patrol", ("G2",), 5)))
    assert renewed.colour == "green"
    g2 = next(c for c in renewed.conditions if c.code == "G2")
    assert (g2.state, g2.evidence_kind, g2.by) == ("holds", "patrol", "物业 张")
    assert g2.valid_until == NOW - 5 * DAY + timedelta(days=31)


def test_a_condition_the_assessment_did_not_cover_is_missing_and_not_assessed() -> None:
    g = grade(evidence=(assessment(met=GREENS[:-1]),))
    assert g.colour == NOT_ASSESSED
    assert next(c for c in g.conditions if c.code == "G8").state == "missing"
    assert decisive_codes(g) == {"G8"}


def test_evidence_only_renews_the_conditions_its_kind_may_show() -> None:
    # A drill cannot show G2 (patrols): the assessment's G2 expired and stays due.
    g = grade(evidence=(assessment(days_ago=40), record("drill", ("G2",), 1)))
    assert next(c for c in g.conditions if c.code == "G2").state == "due"
    assert g.colour == NOT_ASSESSED


def test_evidence_dated_after_now_is_not_counted_yet() -> None:
    g = grade(evidence=(assessment(days_ago=-1),))
    assert g.colour == NOT_ASSESSED


def test_a_condition_found_not_met_at_the_assessment_is_yellow() -> None:
    g = grade(evidence=(assessment(not_met=("G7",)),))
    assert g.colour == "yellow"
    assert g.missing_green == ("G7",)
    assert g.yellow_items == ()
    (reason,) = g.decisive
    assert reason.codes == ("G7",)
    assert "G7" in reason.text
    assert "排查登记认定不满足" in reason.text
    assert g.rule == "绿色判定条件被事实否定，不能评为绿色（附件3 绿色须同时满足各项）"
    assert next(c for c in g.conditions if c.code == "G7").state == "not_met"
    # A later assessment that finds it met again: green.
    again = grade(evidence=(assessment(days_ago=20, not_met=("G7",)), assessment(days_ago=1, record_id=9)))
    assert again.colour == "green"


# -- items: whatever the source ------------------------------------------------------------------------------


def test_a_failed_hydrant_flags_the_estate_yellow_with_its_contradicted_conditions() -> None:
    since = datetime(2026, 6, 1, 2, 41, tzinfo=UTC)  # 10:41 in Shanghai
    hazard = device(
        "17", "HY-E001-03", DeviceKind.HYDRANT, detail="消火栓 HY-E001-03：静压 0.02 MPa", since=since
    )
    g = grade(hazards=[hazard], devices={DeviceKind.HYDRANT: 3})
    assert g.colour == "yellow"
    assert g.level == 1
    assert g.yellow_items == ("Y10",)
    assert g.missing_green == ("G4", "G6")
    assert g.red_items == ()
    assert g.tolerated == ()
    assert g.rule == "绿色判定条件被事实否定，不能评为绿色（附件3 绿色须同时满足各项）"
    assert g.rule_en.startswith("a green condition is contradicted by a fact")
    (reason,) = g.reasons
    assert reason.decisive
    assert reason.codes == ("Y10", "G4", "G6")
    assert reason.hazard_ids == ("17",)
    assert str(reason) == "Y10, G4, G6: 消火栓 HY-E001-03：静压 0.02 MPa（自 2026-06-01 10:41 起）"
    assert "02:41" not in reason.text  # local time (Asia/Shanghai), not UTC
    assert g.summary.startswith("yellow — Y10, G4, G6: 消火栓 HY-E001-03")
    assert g.open_hazards == 1
    states = {c.code: c for c in g.conditions}
    assert states["G4"].state == "contradicted"
    assert states["G4"].contradicted_by == ("Y10",)
    assert states["G6"].state == "contradicted"


def test_three_failed_hydrants_are_one_y10_item() -> None:
    hazards = [device(str(i), f"H{i}", DeviceKind.HYDRANT) for i in range(3)]
    g = grade(hazards=hazards, devices={DeviceKind.HYDRANT: 3})
    assert g.yellow_items == ("Y10",)
    assert len(g.reasons) == 3
    assert g.colour == "yellow"  # by the contradicted G4/G6, not by three Y items


@pytest.mark.parametrize(
    ("code", "conditions"), [("Y1", ("G5",)), ("Y7", ("G5",)), ("Y10", ("G4", "G6")), ("Y13", ("G1",))]
)
def test_a_contradiction_is_the_same_from_a_person_as_from_a_device(
    code: str, conditions: tuple[str, ...]
) -> None:
    """Y1/Y7 contradict G5, Y10 contradicts G4 and G6, Y13 contradicts G1: whoever reports it."""
    by_person = grade(hazards=[manual(code)])
    assert by_person.colour == "yellow"
    assert by_person.missing_green == tuple(sorted(conditions))
    assert decisive_codes(by_person) == {code, *conditions}
    assert by_person.decisive[0].codes == (code, *conditions)


def test_a_blocked_fire_lane_grades_the_same_seen_by_a_camera_or_filed_by_a_grid_worker() -> None:
    camera = grade(hazards=[device("c1", "CAM1", DeviceKind.CAMERA)], devices={DeviceKind.CAMERA: 2})
    worker = grade(hazards=[manual("Y1", detail="网格员：消防车通道被私家车占用")])
    for g in (camera, worker):
        assert g.colour == "yellow"
        assert g.yellow_items == ("Y1",)
        assert g.missing_green == ("G5",)
        assert decisive_codes(g) == {"Y1", "G5"}
        assert g.rule == camera.rule
    assert camera.key[0] == worker.key[0]
    # Also where the condition's evidence is due: the fact is the stronger reason, and decides.
    due = grade(hazards=[manual("Y1")], evidence=(assessment(days_ago=100),))
    assert due.colour == "yellow"
    assert next(c for c in due.conditions if c.code == "G5").state == "contradicted"


def test_smoke_detector_failures_within_tolerance_are_noted_not_counted() -> None:
    # 5 of 100 failing: 95 % healthy, exactly the default's minimum share.
    hazards = [device(f"s{i}", f"S{i}", DeviceKind.SMOKE_DETECTOR) for i in range(5)]
    # One detector with two hazards is still one failing detector.
    hazards.append(device("s0-tamper", "S0", DeviceKind.SMOKE_DETECTOR, signal=SignalKind.TAMPER))
    g = grade(hazards=hazards, devices={DeviceKind.SMOKE_DETECTOR: 100})
    assert g.colour == "green"
    assert g.tolerated == ("烟感探测器 5/100 台故障，在容许范围内（≥ 95%）",)
    assert g.reasons == ()
    assert g.yellow_items == ()
    assert g.missing_green == ()
    assert g.open_hazards == 6


def test_smoke_detector_failures_beyond_tolerance_make_the_estate_yellow() -> None:
    hazards = [device(f"s{i}", f"S{i}", DeviceKind.SMOKE_DETECTOR) for i in range(6)]
    g = grade(hazards=hazards, devices={DeviceKind.SMOKE_DETECTOR: 100})
    assert g.colour == "yellow"
    assert g.tolerated == ()
    assert g.yellow_items == ("Y10",)
    assert g.missing_green == ("G4", "G6")
    assert len(g.reasons) == 6
    assert all(r.codes == (*SMOKE, "G4", "G6") and r.decisive for r in g.reasons)


def test_an_offline_smoke_detector_is_a_facility_fault_within_tolerance() -> None:
    """An independent smoke detector is facility and monitor at once (domain.md)."""
    offline = [
        device(f"s{i}", f"S{i}", DeviceKind.SMOKE_DETECTOR, signal=SignalKind.OFFLINE) for i in range(2)
    ]
    assert grade(hazards=offline[:1], devices={DeviceKind.SMOKE_DETECTOR: 20}).colour == "green"  # 95 %
    two = grade(hazards=offline, devices={DeviceKind.SMOKE_DETECTOR: 20})  # 90 %
    assert two.colour == "yellow"
    assert two.yellow_items == ("Y10",)


def test_smoke_tolerance_without_a_registry_count_counts_every_failure() -> None:
    assert grade(hazards=[device("s1", "S1", DeviceKind.SMOKE_DETECTOR)]).colour == "yellow"


def test_tolerance_is_per_kind() -> None:
    hazards = [device("s1", "S1", DeviceKind.SMOKE_DETECTOR), device("h1", "H1", DeviceKind.HYDRANT)]
    g = grade(hazards=hazards, devices={DeviceKind.SMOKE_DETECTOR: 100, DeviceKind.HYDRANT: 10})
    assert g.colour == "yellow"
    assert [r.hazard_ids for r in g.reasons] == [("h1",)]
    assert g.tolerated == ("烟感探测器 1/100 台故障，在容许范围内（≥ 95%）",)


def test_three_distinct_yellow_items_make_the_estate_yellow() -> None:
    g = grade(hazards=[manual("Y3"), manual("Y11"), manual("Y8")])
    assert g.colour == "yellow"
    assert g.yellow_items == ("Y3", "Y8", "Y11")  # in the standard's order
    assert g.missing_green == ()
    assert g.rule == "存在黄色判定标准中三项及以上（附件3 黄色）"
    assert [r.codes for r in g.reasons] == [("Y3",), ("Y8",), ("Y11",)]
    assert all(r.decisive for r in g.reasons)


def test_two_yellow_items_that_contradict_nothing_are_not_yellow() -> None:
    g = grade(hazards=[manual("Y3"), manual("Y8")])
    assert g.colour == "green"
    assert g.yellow_items == ("Y3", "Y8")
    assert len(g.reasons) == 2
    assert g.decisive == ()


def test_three_hazards_of_the_same_yellow_criterion_are_one_item() -> None:
    g = grade(hazards=[manual("Y3", n) for n in range(3)])
    assert g.colour == "green"
    assert g.yellow_items == ("Y3",)
    assert len(g.reasons) == 3
    assert g.open_hazards == 3


def test_a_green_condition_filed_as_missing_is_yellow() -> None:
    g = grade(hazards=[manual("G8")])
    assert g.colour == "yellow"
    assert g.missing_green == ("G8",)
    assert decisive_codes(g) == {"G8"}


def test_one_red_item_makes_the_estate_red() -> None:
    g = grade(hazards=[manual("R4", detail="3号楼楼梯间堆放大量纸箱和自行车")])
    assert g.colour == "red"
    assert g.level == 2
    assert g.red_items == ("R4",)
    assert g.rule == "存在红色判定标准中任意一项（附件3 红色）"
    assert "纸箱" in g.summary


def test_decisive_reasons_come_first_then_the_rest_in_the_standards_order() -> None:
    hazards = [
        manual("G2"),
        device("h1", "H1", DeviceKind.HYDRANT),
        manual("Y3"),
        manual("R2"),
        manual("Y13"),
    ]
    g = grade(hazards=hazards, devices={DeviceKind.HYDRANT: 1})
    assert g.colour == "red"
    assert [(r.codes[0], r.decisive) for r in g.reasons] == [
        ("R2", True),
        ("Y3", False),
        ("Y10", False),
        ("Y13", False),
        ("G2", False),
    ]
    # Yellow by a contradiction: the contradicting item first, even after a lower code.
    y = grade(hazards=[manual("Y3"), manual("Y7")])
    assert y.colour == "yellow"
    assert [(r.codes, r.decisive) for r in y.reasons] == [(("Y7", "G5"), True), (("Y3",), False)]


def test_hazard_criteria_unknown_to_the_policy_are_ignored() -> None:
    hazard = OpenHazard(hazard_id="x", criteria=("X1",), detail="?", since=NOW)
    assert grade(hazards=[hazard]).colour == "green"


# -- monitoring faults and coverage --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "signal"),
    [
        (DeviceKind.HYDRANT, SignalKind.OFFLINE),
        (DeviceKind.HYDRANT, SignalKind.HYDRANT_SENSOR_FAULT),
        (DeviceKind.HYDRANT, SignalKind.COMM_FAULT),
        (DeviceKind.HYDRANT, SignalKind.LOW_BATTERY),
        (DeviceKind.SMOKE_DETECTOR, SignalKind.LOW_BATTERY),
        (DeviceKind.CAMERA, SignalKind.OFFLINE),
    ],
)
def test_a_monitoring_fault_is_a_maintenance_task_not_an_item(kind: DeviceKind, signal: SignalKind) -> None:
    assert DEFAULT.is_monitoring_fault(kind, signal)
    assert DEFAULT.criteria_for(kind, signal) == []
    hazard = device("m1", "D1", kind, signal=signal)
    g = grade(hazards=[hazard], devices={kind: 4}, monitored=4, monitoring_faults=1)
    assert g.colour == "green"
    assert g.reasons == ()
    assert g.yellow_items == ()
    assert g.missing_green == ()
    assert g.open_hazards == 1
    assert g.coverage == 0.75
    assert g.monitoring_faults == 1
    # The store's maintenance-task criterion is no criterion of the policy either.
    task = replace(hazard, criteria=("maint",))
    assert grade(hazards=[task], devices={kind: 4}).colour == "green"


def test_coverage_is_the_share_of_monitored_devices_without_a_monitoring_fault() -> None:
    assert grade(monitored=10, monitoring_faults=0).coverage == 1.0
    assert grade(monitored=10, monitoring_faults=3).coverage == pytest.approx(0.7)
    assert grade(monitored=0).coverage is None  # nothing monitored: no figure, not 100 %
    assert grade(monitored=2, monitoring_faults=5).coverage == 0.0


def test_an_e_bike_in_a_lift_grades_nothing_by_default() -> None:
    assert DEFAULT.criteria_for(DeviceKind.CAMERA, SignalKind.EBIKE_IN_LIFT) == []
    assert not DEFAULT.is_monitoring_fault(DeviceKind.CAMERA, SignalKind.EBIKE_IN_LIFT)
    g = grade(hazards=[device("e1", "CAM1", DeviceKind.CAMERA, signal=SignalKind.EBIKE_IN_LIFT)])
    assert g.colour == "green"
    assert "Y9" not in g.yellow_items


# -- counted records -----------------------------------------------------------------------------------------


def test_one_complaint_in_a_rolling_year_is_y14() -> None:
    g = grade(complaints=[NOW - 200 * DAY])
    assert g.yellow_items == ("Y14",)
    assert g.colour == "green"  # one yellow item alone
    (reason,) = g.reasons
    assert reason.codes == ("Y14",)
    assert reason.text == "一年内火灾隐患投诉 1 起（不同事件）"


def test_three_complaints_in_a_rolling_year_are_red() -> None:
    g = grade(complaints=[NOW - 300 * DAY, NOW - 100 * DAY, NOW - DAY])
    assert g.colour == "red"
    assert g.red_items == ("R6",)
    assert "Y14" in g.yellow_items
    (decisive,) = g.decisive
    assert decisive.codes == ("R6",)
    assert decisive.text == "一年内火灾隐患投诉 3 起（不同事件）"


def test_complaints_older_than_a_year_do_not_count() -> None:
    assert grade(complaints=[NOW - 400 * DAY]).yellow_items == ()
    g = grade(complaints=[NOW - 400 * DAY, NOW - 380 * DAY, NOW - 10 * DAY])
    assert g.colour == "green"
    assert g.red_items == ()
    assert g.yellow_items == ("Y14",)
    # The window rolls: the same complaint counts on one day and not a year later.
    later = (assessment(days_ago=-360),)
    assert grade(now=NOW + 364 * DAY, evidence=later, complaints=[NOW]).yellow_items == ("Y14",)
    assert grade(now=NOW + 366 * DAY, evidence=later, complaints=[NOW]).yellow_items == ()


def test_three_fires_in_a_year_are_y15() -> None:
    two = grade(fires=[(NOW - 10 * DAY, False), (NOW - 20 * DAY, False)])
    assert two.yellow_items == ()
    three = grade(fires=[(NOW - 10 * DAY, False), (NOW - 20 * DAY, False), (NOW - 30 * DAY, False)])
    assert three.yellow_items == ("Y15",)
    assert three.colour == "green"
    assert any(r.codes == ("Y15",) and r.text == "一年内发生火灾 3 起" for r in three.reasons)


def test_a_fatal_fire_is_red_until_the_next_assessment() -> None:
    """R7 has no window in the seed: the default counts it until the estate's next assessment."""
    fire = (NOW - 100 * DAY, True)
    before = grade(evidence=(assessment(days_ago=200, met=("G1", "G3", "G6")),), fires=[fire])
    assert before.colour == "red"
    assert before.red_items == ("R7",)
    (reason,) = before.decisive
    assert reason.text == "发生亡人或有较大影响火灾 1 起（至下次排查登记）"
    # However long ago: still red without a new assessment, also where the assessment ran out.
    assert grade(evidence=(assessment(days_ago=500),), fires=[(NOW - 450 * DAY, True)]).colour == "red"
    assert grade(evidence=(), fires=[(NOW - 450 * DAY, True)]).colour == "red"
    # A patrol log is no assessment...
    patrol = record("patrol", ("G2",), 1)
    evidence = (assessment(days_ago=200, met=("G1", "G3", "G6")), patrol)
    assert grade(evidence=evidence, fires=[fire]).colour == "red"
    # ...the next assessment is.
    after = grade(evidence=(assessment(days_ago=200), assessment(days_ago=20, record_id=3)), fires=[fire])
    assert after.colour == "green"
    assert after.red_items == ()
    # A fire that is not fatal or high impact is not R7.
    assert grade(fires=[(NOW - DAY, False)]).red_items == ()


def test_counted_records_combine_with_hazards_to_three_yellow_items() -> None:
    g = grade(hazards=[manual("Y3"), manual("Y9")], complaints=[NOW - 5 * DAY])
    assert g.colour == "yellow"
    assert g.yellow_items == ("Y3", "Y9", "Y14")


# -- unknown is a floor --------------------------------------------------------------------------------------


def test_a_stale_estate_with_nothing_reported_is_unknown_never_green() -> None:
    heard = NOW - 3 * DAY
    g = grade(stale=True, last_heard=heard, devices={DeviceKind.SMOKE_DETECTOR: 10})
    assert g.colour == UNKNOWN
    assert g.level == -1
    assert g.stale
    assert g.last_heard == heard
    (floor,) = g.decisive
    assert floor.text == "全部设备失联（最后上报 2026-05-29 12:00），设备数据无法确认风险"
    assert g.rule == "未知：设备全部失联，且无人员上报的红黄项"


def test_stale_with_every_smoke_detector_offline_is_unknown_not_yellow() -> None:
    """The silence itself is what "unknown" says: every detector "offline" is not twenty facility faults."""
    offline = [
        device(f"s{i}", f"S{i}", DeviceKind.SMOKE_DETECTOR, signal=SignalKind.OFFLINE) for i in range(20)
    ]
    g = grade(stale=True, hazards=offline, devices={DeviceKind.SMOKE_DETECTOR: 20})
    assert g.colour == UNKNOWN
    assert g.yellow_items == ()
    assert g.missing_green == ()
    assert g.tolerated == ()
    # Not stale (one detector still reports): nineteen offline detectors are facility faults.
    assert (
        grade(stale=False, hazards=offline[:19], devices={DeviceKind.SMOKE_DETECTOR: 20}).colour == "yellow"
    )


@pytest.mark.parametrize(
    ("hazards", "colour", "decisive"),
    [
        ([manual("Y1")], "yellow", {"Y1", "G5"}),
        ([manual("Y3"), manual("Y8"), manual("Y11")], "yellow", {"Y3", "Y8", "Y11"}),
        ([manual("R4")], "red", {"R4"}),
    ],
)
def test_stale_device_data_never_hides_what_people_reported(
    hazards: list[OpenHazard], colour: str, decisive: set[str]
) -> None:
    g = grade(stale=True, hazards=hazards, devices={DeviceKind.SMOKE_DETECTOR: 10})
    assert g.colour == colour
    assert g.stale
    assert decisive_codes(g) == decisive
    assert g.rule != DEFAULT.say(DEFAULT.texts.why_unknown)


def test_stale_with_counted_complaints_is_red() -> None:
    assert grade(stale=True, complaints=[NOW - DAY] * 3).colour == "red"


def test_an_estate_never_assessed_is_not_assessed_before_unknown() -> None:
    assert grade(stale=True, evidence=()).colour == NOT_ASSESSED


# -- out of use: the four-colour policy's grey --------------------------------------------------------------


def test_out_of_use_is_grey_under_the_four_colour_policy_and_red_stays_red() -> None:
    g = grade(FOUR, out_of_use=True)
    assert g.colour == "grey"
    assert g.level == FOUR.level("grey")
    assert g.out_of_use
    (floor,) = g.decisive
    assert floor.text == "停租停用（由街道设置）"
    assert g.rule == "停租停用"
    # Out of use whatever else is known, but a red item is red.
    assert grade(FOUR, out_of_use=True, hazards=[manual("Y1")]).colour == "grey"
    assert grade(FOUR, out_of_use=True, evidence=()).colour == "grey"
    red = grade(FOUR, out_of_use=True, hazards=[manual("R5")])
    assert red.colour == "red"
    assert decisive_codes(red) == {"R5"}


def test_out_of_use_changes_nothing_under_the_default_policy() -> None:
    g = grade(DEFAULT, out_of_use=True)
    assert g.colour == "green"
    assert g.out_of_use
    assert grade(DEFAULT, out_of_use=True, hazards=[manual("Y1")]).colour == "yellow"


@pytest.mark.parametrize(
    ("hazards", "colour"),
    [
        ([], "green"),
        ([manual("Y5")], "green"),
        ([manual("Y5"), manual("Y6")], "green"),
        ([manual("Y5"), manual("Y6"), manual("Y8")], "yellow"),
        ([manual("G3")], "yellow"),
        ([device("h1", "H1", DeviceKind.HYDRANT)], "yellow"),
        ([manual("R5")], "red"),
    ],
)
def test_the_four_colour_policy_is_grey_only_out_of_use(hazards: list[OpenHazard], colour: str) -> None:
    """Grey is not a count of yellow items: in use, the four-colour policy grades as annex 3 does."""
    devices = {DeviceKind.HYDRANT: 4}
    assert grade(DEFAULT, hazards=hazards, devices=devices).colour == colour
    four = grade(FOUR, hazards=hazards, devices=devices)
    assert four.colour == colour
    assert four.level == FOUR.level(colour)
    assert four.policy == f"{FOUR.id}@{FOUR.version}"


# -- texts: the policy's words, in the users' language -------------------------------------------------------

#: What a user reading a grade in Chinese may see in Latin letters: criterion codes, units, the time zone.
_LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
_ALLOWED_LATIN = {"MPa"}


def _latin_words(text: str) -> set[str]:
    return set(_LATIN_WORD.findall(text)) - _ALLOWED_LATIN


def _sample_grades(policy: Policy) -> list[Grade]:
    smoke = [device(f"s{i}", f"S{i}", DeviceKind.SMOKE_DETECTOR) for i in range(2)]
    return [
        grade(policy),
        grade(policy, evidence=()),
        grade(policy, evidence=(assessment(days_ago=400),)),
        grade(policy, evidence=(assessment(days_ago=40),)),
        grade(policy, evidence=(assessment(not_met=("G3",)),)),
        grade(policy, evidence=(assessment(met=GREENS[:3]),)),
        grade(policy, hazards=[device("h1", "H1", DeviceKind.HYDRANT, detail="消火栓 H1：静压 0.02 MPa")]),
        grade(policy, hazards=[manual("Y3"), manual("Y8"), manual("Y11")]),
        grade(policy, hazards=[manual("R1")]),
        grade(policy, hazards=smoke, devices={DeviceKind.SMOKE_DETECTOR: 100}),
        grade(policy, complaints=[NOW - DAY] * 3, fires=[(NOW - DAY, True)] * 3),
        grade(policy, stale=True, last_heard=NOW - DAY),
        grade(policy, out_of_use=True),
    ]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.id)
def test_every_text_a_user_sees_is_the_policys_chinese(policy: Policy) -> None:
    rules = {policy.say(r.why) for r in policy.grade_rules}
    texts = policy.texts
    floors = {policy.say(t) for t in (texts.why_default, texts.why_not_assessed, texts.why_unknown)}
    floors.add(policy.say(texts.why_out_of_use))
    for g in _sample_grades(policy):
        assert g.rule in rules | floors, g.rule
        assert re.search(r"[\u4e00-\u9fff]", g.rule), g.rule
        shown = [g.rule, *(r.text for r in g.reasons), *g.tolerated]
        for text in shown:
            assert not _latin_words(text), f"English in a Chinese text: {text!r}"
            for note in ("default", "seed", "project", "silent", "TODO"):
                assert note not in text, text
        # ...and the English beside it for English users, from the same policy.
        assert g.rule_en
        assert not re.search(r"[\u4e00-\u9fff]", g.rule_en), g.rule_en


def test_reasons_are_written_in_the_policys_language() -> None:
    english = DEFAULT.model_copy(update={"language": "en"})
    complaints = [NOW - DAY]
    assert [r.text for r in grade(english, complaints=complaints).reasons] == [
        "1 distinct fire-hazard complaints in a year"
    ]
    assert [r.text for r in grade(DEFAULT, complaints=complaints).reasons] == [
        "一年内火灾隐患投诉 1 起（不同事件）"
    ]
    assert grade(english, evidence=()).decisive[0].text.startswith("not yet inspected and registered")
    assert grade(english, evidence=()).rule == grade(english, evidence=()).rule_en


def test_grade_key_ignores_reason_order_but_not_items() -> None:
    a = grade(hazards=[manual("Y3"), manual("Y7")])
    b = grade(hazards=[manual("Y7"), manual("Y3")])
    c = grade(hazards=[manual("Y3"), manual("Y9")])
    assert a.key == b.key
    assert a.key != c.key


def test_local_time_uses_the_policy_timezone() -> None:
    assert local_time(datetime(2026, 1, 1, 16, 30, tzinfo=UTC), DEFAULT) == "2026-01-02 00:30"
    assert str(Reason(("Y1",), "x")) == "Y1: x"


# -- properties over random estates --------------------------------------------------------------------------

ALL_CODES = sorted(DEFAULT.criteria)
KINDS = list(DeviceKind)
SIGNALS_BY_KIND = {
    DeviceKind.HYDRANT: [
        SignalKind.HYDRANT_LOW_PRESSURE,
        SignalKind.HYDRANT_HIGH_PRESSURE,
        SignalKind.HYDRANT_SENSOR_FAULT,
        SignalKind.HYDRANT_LEAK,
        SignalKind.COMM_FAULT,
        SignalKind.OFFLINE,
        SignalKind.LOW_BATTERY,
    ],
    DeviceKind.SMOKE_DETECTOR: [
        SignalKind.DEVICE_FAULT,
        SignalKind.TAMPER,
        SignalKind.LOW_BATTERY,
        SignalKind.OFFLINE,
    ],
    DeviceKind.CAMERA: [
        SignalKind.FIRE_LANE_OCCUPIED,
        SignalKind.EVACUATION_BLOCKED,
        SignalKind.EBIKE_IN_LIFT,
        SignalKind.OFFLINE,
    ],
}
#: Per kind of later record, the conditions it may evidence (an assessment evidences all).
ACCEPTED = {kind: [c for c in GREENS if DEFAULT.conditions[c].accepts(kind)] for kind in EVIDENCE_KINDS}


@st.composite
def hazards(draw: st.DrawFn) -> OpenHazard:
    hazard_id = str(draw(st.integers(0, 10_000)))
    since = NOW - timedelta(hours=draw(st.integers(0, 2000)))
    if draw(st.booleans()):
        codes = draw(st.lists(st.sampled_from(ALL_CODES), min_size=1, max_size=3, unique=True))
        return OpenHazard(hazard_id=hazard_id, criteria=tuple(codes), detail="人工上报", since=since)
    kind = draw(st.sampled_from(KINDS))
    signal = draw(st.sampled_from(SIGNALS_BY_KIND[kind]))
    return device(hazard_id, f"{kind.value}-{draw(st.integers(0, 12))}", kind, signal=signal, since=since)


@st.composite
def evidence(draw: st.DrawFn) -> tuple[Evidence, ...]:
    """Mostly a current assessment that found everything held; sometimes none, an old one, conditions not
    met or not covered; and later records."""
    out: list[Evidence] = []
    for record_id in range(draw(st.integers(0, 2))):
        met = draw(st.one_of(st.just(list(GREENS)), st.lists(st.sampled_from(GREENS), unique=True)))
        rest = [c for c in GREENS if c not in met]
        not_met = draw(st.lists(st.sampled_from(rest), unique=True)) if rest else []
        # Distinct times: which of two records made at the same minute wins is pinned apart, below.
        at = NOW - timedelta(days=draw(st.one_of(st.integers(0, 30), st.integers(0, 500))), minutes=record_id)
        out.append(Evidence(record_id, "assessment", at, "街道", tuple(met), tuple(not_met)))
    for record_id in range(10, 10 + draw(st.integers(0, 3))):
        kind = draw(st.sampled_from([k for k in EVIDENCE_KINDS if k != "assessment"]))
        met = draw(st.lists(st.sampled_from(ACCEPTED[kind]), min_size=1, unique=True))
        at = NOW - timedelta(days=draw(st.integers(0, 400)), minutes=record_id)
        out.append(Evidence(record_id, kind, at, "物业", tuple(met)))
    return tuple(out)


record_times = st.integers(0, 500).map(lambda days: NOW - timedelta(days=days))
fires = st.tuples(record_times, st.booleans())


@st.composite
def estates(draw: st.DrawFn) -> GradeInputs:
    monitored = draw(st.integers(0, 60))
    return GradeInputs(
        estate_id="E",
        hazards=draw(st.lists(hazards(), max_size=8)),
        devices=draw(st.dictionaries(st.sampled_from(KINDS), st.integers(0, 60))),
        complaints=draw(st.lists(record_times, max_size=4)),
        fires=draw(st.lists(fires, max_size=4)),
        stale=draw(st.booleans()),
        evidence=draw(evidence()),
        out_of_use=draw(st.booleans()),
        monitored=monitored,
        monitoring_faults=draw(st.integers(0, monitored)),
    )


@st.composite
def additions(draw: st.DrawFn) -> tuple[str, object]:
    what = draw(st.sampled_from(["hazard", "complaint", "fire"]))
    value = {"hazard": hazards(), "complaint": record_times, "fire": fires}[what]
    return what, draw(value)


def with_addition(inputs: GradeInputs, addition: tuple[str, object]) -> GradeInputs:
    what, value = addition
    if isinstance(value, OpenHazard):
        return replace(inputs, hazards=[*inputs.hazards, value])
    if isinstance(value, datetime):
        return replace(inputs, complaints=[*inputs.complaints, value])
    assert what == "fire"
    return replace(inputs, fires=[*inputs.fires, cast(tuple[datetime, bool], value)])


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.id)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=estates(), addition=additions())
def test_adding_a_hazard_complaint_or_fire_never_improves_the_grade(
    policy: Policy, inputs: GradeInputs, addition: tuple[str, object]
) -> None:
    before = grade_estate(inputs, policy, NOW)
    after = grade_estate(with_addition(inputs, addition), policy, NOW)
    assert after.level >= before.level, (before.summary, after.summary)
    assert after.level == policy.level(after.colour)
    # Items only ever grow.
    assert set(before.red_items) <= set(after.red_items)
    assert set(before.yellow_items) <= set(after.yellow_items)
    assert set(before.missing_green) <= set(after.missing_green)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.id)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=estates())
def test_grade_does_not_depend_on_the_order_of_its_inputs(policy: Policy, inputs: GradeInputs) -> None:
    shuffled = replace(
        inputs,
        hazards=list(reversed(inputs.hazards)),
        complaints=list(reversed(inputs.complaints)),
        fires=list(reversed(inputs.fires)),
        evidence=tuple(reversed(inputs.evidence)),
    )
    a, b = grade_estate(inputs, policy, NOW), grade_estate(shuffled, policy, NOW)
    assert (a.colour, a.red_items, a.yellow_items, a.missing_green) == (
        b.colour,
        b.red_items,
        b.yellow_items,
        b.missing_green,
    )
    # (``contradicted_by`` lists the items in the order the hazards came: compared as a set.)
    assert [c._replace(contradicted_by=tuple(sorted(c.contradicted_by))) for c in a.conditions] == [
        c._replace(contradicted_by=tuple(sorted(c.contradicted_by))) for c in b.conditions
    ]
    assert a.key == b.key
    assert [(r.codes, r.decisive) for r in a.decisive] == [(r.codes, r.decisive) for r in b.decisive]


def test_of_two_records_made_at_the_same_time_the_later_entered_one_wins() -> None:
    first = assessment(record_id=1)
    second = assessment(not_met=("G7",), record_id=2)  # entered after it, about the same inspection
    assert grade(evidence=(first, second)).colour == "yellow"
    assert grade(evidence=(second, first)).colour == "yellow"


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.id)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=estates())
def test_green_is_only_ever_earned(policy: Policy, inputs: GradeInputs) -> None:
    """Green needs a current assessment and every condition holding on current evidence; grey needs the
    office's out-of-use; whatever decided is listed first."""
    g = grade_estate(inputs, policy, NOW)
    if g.colour == policy.default:
        assert g.assessment_valid_until is not None
        assert g.assessment_valid_until > NOW
        assert all(c.state == "holds" for c in g.conditions), g.conditions
        assert not inputs.stale
        assert not inputs.out_of_use or policy.out_of_use_colour is None
    if g.colour == "grey":
        assert inputs.out_of_use
    if policy.out_of_use_colour is not None and inputs.out_of_use:
        assert g.colour in (policy.out_of_use_colour, "red")
    flags = [r.decisive for r in g.reasons]
    assert flags == sorted(flags, reverse=True), "decisive reasons first"
    if g.colour not in (policy.default,):
        assert g.decisive, g.summary  # something decided it, and says so


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.id)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=estates(), kind=st.sampled_from(KINDS))
def test_a_maintenance_task_never_moves_the_colour(
    policy: Policy, inputs: GradeInputs, kind: DeviceKind
) -> None:
    """A monitoring fault (its hazard is no item of any criterion) leaves colour and items as they were."""
    signal = policy.monitoring[kind][0]
    task = device("task", f"{kind.value}-99", kind, signal=signal, policy=policy)
    assert task.criteria == ()
    before = grade_estate(inputs, policy, NOW)
    after = grade_estate(replace(inputs, hazards=[*inputs.hazards, task]), policy, NOW)
    assert (after.colour, after.red_items, after.yellow_items, after.missing_green) == (
        before.colour,
        before.red_items,
        before.yellow_items,
        before.missing_green,
    )
