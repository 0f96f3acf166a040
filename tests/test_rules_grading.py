"""Unit tests of estate grading (rules/grading.py) under the default and the four-colour policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.models import DeviceKind
from rules.grading import Grade, GradeInputs, OpenHazard, Reason, grade_estate, local_time
from rules.model import SignalKind
from rules.policy import UNKNOWN, Policy, builtin_policy

DEFAULT = builtin_policy("default")
FOUR = builtin_policy("four_colour")
POLICIES = [DEFAULT, FOUR]
#: 2026-06-01 12:00 in Shanghai.
NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HYDRANT = tuple(DEFAULT.criteria_for(SignalKind.HYDRANT_LOW_PRESSURE))
SMOKE = tuple(DEFAULT.criteria_for(SignalKind.DEVICE_FAULT))


def manual(code: str, n: int = 0, detail: str = "") -> OpenHazard:
    return OpenHazard(
        hazard_id=f"m-{code}-{n}",
        criteria=(code,),
        detail=detail or f"{code} reported on patrol",
        since=NOW - DAY,
    )


def device(
    hazard_id: str,
    device_id: str,
    kind: DeviceKind,
    *,
    signal: SignalKind | None = None,
    detail: str = "",
    since: datetime = NOW - DAY,
) -> OpenHazard:
    default_signal = {
        DeviceKind.HYDRANT: SignalKind.HYDRANT_LOW_PRESSURE,
        DeviceKind.SMOKE_DETECTOR: SignalKind.DEVICE_FAULT,
        DeviceKind.CAMERA: SignalKind.FIRE_LANE_OCCUPIED,
    }[kind]
    return OpenHazard(
        hazard_id=hazard_id,
        criteria=tuple(DEFAULT.criteria_for(signal or default_signal)),
        detail=detail or f"{kind.value} {device_id} failing",
        since=since,
        source="device",
        device_id=device_id,
        device_kind=kind,
    )


def grade(policy: Policy = DEFAULT, now: datetime = NOW, **inputs: object) -> Grade:
    return grade_estate(GradeInputs(estate_id="E001", **inputs), policy, now)  # type: ignore[arg-type]


# -- devices ----------------------------------------------------------------------------------------------


def test_an_estate_with_nothing_open_is_green() -> None:
    g = grade(devices={DeviceKind.HYDRANT: 3, DeviceKind.SMOKE_DETECTOR: 100})
    assert g.colour == "green"
    assert g.level == 0
    assert g.reasons == ()
    assert g.rule == "default"
    assert g.summary == "green"
    assert g.policy == "municipal-3colour@2026.1"
    assert g.estate_id == "E001"
    assert g.decided_at == NOW


def test_a_failed_hydrant_flags_the_estate_yellow_with_reasons() -> None:
    since = datetime(2026, 6, 1, 2, 41, tzinfo=UTC)  # 10:41 in Shanghai
    hazard = device(
        "17", "HY-E001-03", DeviceKind.HYDRANT, detail="hydrant H3 in building 2 at 0.02 MPa", since=since
    )
    g = grade(hazards=[hazard], devices={DeviceKind.HYDRANT: 3})
    assert g.colour == "yellow"
    assert g.level == 1
    assert g.yellow_items == ("Y10",)
    assert g.missing_green == ("G4", "G6")
    assert g.red_items == ()
    assert g.tolerated == ()
    assert "missing a green condition" in g.rule or "green condition" in g.rule
    (reason,) = g.reasons
    assert reason.codes == ("Y10", "G4", "G6")
    assert reason.hazard_ids == ("17",)
    assert "hydrant H3 in building 2 at 0.02 MPa" in reason.text
    assert "10:41" in reason.text  # local time (Asia/Shanghai), not 02:41 UTC
    assert "02:41" not in reason.text
    assert str(reason) == "Y10, G4, G6: hydrant H3 in building 2 at 0.02 MPa（自 2026-06-01 10:41 起）"
    assert g.summary.startswith("yellow — Y10, G4, G6: hydrant H3")
    assert g.open_hazards == 1


def test_three_failed_hydrants_are_one_y10_item() -> None:
    hazards = [device(str(i), f"H{i}", DeviceKind.HYDRANT) for i in range(3)]
    g = grade(hazards=hazards, devices={DeviceKind.HYDRANT: 3})
    assert g.yellow_items == ("Y10",)
    assert len(g.reasons) == 3
    assert g.colour == "yellow"  # by the missing G4/G6, not by three Y items


def test_smoke_detector_failures_within_tolerance_are_noted_not_counted() -> None:
    # 5 of 100 failing: 95 % healthy, exactly the default's minimum share.
    hazards = [device(f"s{i}", f"S{i}", DeviceKind.SMOKE_DETECTOR) for i in range(5)]
    # One detector with two hazards is still one failing detector.
    hazards.append(device("s0-battery", "S0", DeviceKind.SMOKE_DETECTOR, signal=SignalKind.LOW_BATTERY))
    g = grade(hazards=hazards, devices={DeviceKind.SMOKE_DETECTOR: 100})
    assert g.colour == "green"
    assert g.tolerated == ("5 of 100 smoke_detector failing, within tolerance",)
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
    assert g.missing_green == ("G4",)
    assert len(g.reasons) == 6
    assert all(r.codes == SMOKE for r in g.reasons)


def test_smoke_tolerance_without_a_registry_count_counts_every_failure() -> None:
    g = grade(hazards=[device("s1", "S1", DeviceKind.SMOKE_DETECTOR)])
    assert g.colour == "yellow"


def test_tolerance_is_per_kind() -> None:
    hazards = [device("s1", "S1", DeviceKind.SMOKE_DETECTOR), device("h1", "H1", DeviceKind.HYDRANT)]
    g = grade(hazards=hazards, devices={DeviceKind.SMOKE_DETECTOR: 100, DeviceKind.HYDRANT: 10})
    assert g.colour == "yellow"
    assert [r.hazard_ids for r in g.reasons] == [("h1",)]
    assert g.tolerated == ("1 of 100 smoke_detector failing, within tolerance",)


def test_four_colour_policy_has_its_own_smoke_tolerance() -> None:
    def smoke(n: int) -> list[OpenHazard]:
        return [device(f"s{i}", f"S{i}", DeviceKind.SMOKE_DETECTOR) for i in range(n)]

    devices = {DeviceKind.SMOKE_DETECTOR: 100}
    assert grade(FOUR, hazards=smoke(8), devices=devices).colour == "green"  # 92 % >= 90 %
    assert grade(DEFAULT, hazards=smoke(8), devices=devices).colour == "yellow"  # 92 % < 95 %
    assert grade(FOUR, hazards=smoke(11), devices=devices).colour == "grey"


def test_camera_fire_lane_feeds_y1_and_g5() -> None:
    g = grade(hazards=[device("c1", "CAM1", DeviceKind.CAMERA)], devices={DeviceKind.CAMERA: 2})
    assert g.colour == "yellow"
    assert g.yellow_items == ("Y1",)
    assert g.missing_green == ("G5",)


# -- manual items -----------------------------------------------------------------------------------------


def test_three_distinct_yellow_items_make_the_estate_yellow() -> None:
    g = grade(hazards=[manual("Y3"), manual("Y7"), manual("Y11")])
    assert g.colour == "yellow"
    assert g.yellow_items == ("Y11", "Y3", "Y7") or set(g.yellow_items) == {"Y3", "Y7", "Y11"}
    assert g.missing_green == ()
    assert "three or more yellow items" in g.rule
    assert [r.codes for r in g.reasons] == [("Y3",), ("Y7",), ("Y11",)]  # in the standard's order


def test_two_yellow_items_are_not_yellow_by_count() -> None:
    g = grade(hazards=[manual("Y3"), manual("Y7")])
    assert g.colour == "green"
    assert set(g.yellow_items) == {"Y3", "Y7"}
    assert len(g.reasons) == 2


def test_three_hazards_of_the_same_yellow_criterion_are_one_item() -> None:
    g = grade(hazards=[manual("Y7", n) for n in range(3)])
    assert g.colour == "green"
    assert g.yellow_items == ("Y7",)
    assert len(g.reasons) == 3
    assert g.open_hazards == 3


def test_a_missing_green_condition_is_yellow_by_the_project_default() -> None:
    g = grade(hazards=[manual("G8")])
    assert g.colour == "yellow"
    assert g.missing_green == ("G8",)
    assert "green condition" in g.rule


def test_one_red_item_makes_the_estate_red() -> None:
    g = grade(hazards=[manual("R4", detail="bicycles and cartons stacked in stairwell 3")])
    assert g.colour == "red"
    assert g.level == 2
    assert g.red_items == ("R4",)
    assert "any one red item" in g.rule
    assert "bicycles and cartons" in g.summary


def test_red_wins_over_yellow_and_reasons_are_in_the_standards_order() -> None:
    hazards = [
        manual("G2"),
        device("h1", "H1", DeviceKind.HYDRANT),
        manual("Y3"),
        manual("R2"),
        manual("Y13"),
    ]
    g = grade(hazards=hazards, devices={DeviceKind.HYDRANT: 1})
    assert g.colour == "red"
    assert [r.codes[0] for r in g.reasons] == ["R2", "Y3", "Y10", "Y13", "G2"]


def test_hazard_criteria_unknown_to_the_policy_are_ignored() -> None:
    hazard = OpenHazard(hazard_id="x", criteria=("X1",), detail="?", since=NOW)
    assert grade(hazards=[hazard]).colour == "green"


# -- counted records --------------------------------------------------------------------------------------


def test_one_complaint_in_a_rolling_year_is_y14() -> None:
    g = grade(complaints=[NOW - 200 * DAY])
    assert g.yellow_items == ("Y14",)
    assert g.colour == "green"  # one yellow item alone
    (reason,) = g.reasons
    assert reason.codes == ("Y14",)
    assert reason.text == "365 天内火灾隐患投诉 1 次"


def test_three_complaints_in_a_rolling_year_are_red() -> None:
    g = grade(complaints=[NOW - 300 * DAY, NOW - 100 * DAY, NOW - DAY])
    assert g.colour == "red"
    assert g.red_items == ("R6",)
    assert "Y14" in g.yellow_items
    assert any(r.codes == ("R6",) and r.text == "365 天内火灾隐患投诉 3 次" for r in g.reasons)


def test_complaints_older_than_a_year_do_not_count() -> None:
    assert grade(complaints=[NOW - 400 * DAY]).yellow_items == ()
    g = grade(complaints=[NOW - 400 * DAY, NOW - 380 * DAY, NOW - 10 * DAY])
    assert g.colour == "green"
    assert g.red_items == ()
    assert g.yellow_items == ("Y14",)
    # The window rolls: the same complaint counts on one day and not a year later.
    assert grade(now=NOW + 364 * DAY, complaints=[NOW]).yellow_items == ("Y14",)
    assert grade(now=NOW + 366 * DAY, complaints=[NOW]).yellow_items == ()


def test_three_fires_in_a_year_are_y15_and_a_fatal_fire_is_red() -> None:
    two = grade(fires=[(NOW - 10 * DAY, False), (NOW - 20 * DAY, False)])
    assert two.yellow_items == ()
    three = grade(fires=[(NOW - 10 * DAY, False), (NOW - 20 * DAY, False), (NOW - 30 * DAY, False)])
    assert three.yellow_items == ("Y15",)
    assert three.colour == "green"
    assert any(r.codes == ("Y15",) and r.text == "365 天内发生火灾 3 起" for r in three.reasons)
    fatal = grade(fires=[(NOW - 10 * DAY, True)])
    assert fatal.colour == "red"
    assert fatal.red_items == ("R7",)
    old_fatal = grade(fires=[(NOW - 400 * DAY, True)])
    assert old_fatal.colour == "green"


def test_counted_records_combine_with_hazards_to_three_yellow_items() -> None:
    g = grade(hazards=[manual("Y3"), manual("Y9")], complaints=[NOW - 5 * DAY])
    assert g.colour == "yellow"
    assert set(g.yellow_items) == {"Y3", "Y9", "Y14"}


# -- freshness --------------------------------------------------------------------------------------------


def test_a_stale_estate_is_unknown_never_green() -> None:
    heard = NOW - 3 * DAY
    g = grade(stale=True, last_heard=heard, devices={DeviceKind.SMOKE_DETECTOR: 10})
    assert g.colour == UNKNOWN
    assert g.level == -1
    assert g.stale
    assert g.last_heard == heard
    assert "silent" in g.rule
    yellow = grade(stale=True, hazards=[device("h1", "H1", DeviceKind.HYDRANT)])
    assert yellow.colour == UNKNOWN


def test_a_stale_estate_with_a_red_item_is_red() -> None:
    g = grade(stale=True, hazards=[manual("R1")])
    assert g.colour == "red"
    assert grade(stale=True, complaints=[NOW - DAY] * 3).colour == "red"


# -- a second policy grades differently -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hazards", "default_colour", "four_colour"),
    [
        ([], "green", "green"),
        ([manual("Y5")], "green", "grey"),
        ([manual("Y5"), manual("Y6")], "green", "grey"),
        ([manual("Y5"), manual("Y6"), manual("Y8")], "yellow", "yellow"),
        ([manual("G3")], "yellow", "grey"),
        ([device("h1", "H1", DeviceKind.HYDRANT)], "yellow", "grey"),
        ([manual("R5")], "red", "red"),
    ],
)
def test_the_four_colour_policy_grades_the_same_inputs_differently(
    hazards: list[OpenHazard], default_colour: str, four_colour: str
) -> None:
    inputs = {"hazards": hazards, "devices": {DeviceKind.HYDRANT: 4}}
    assert grade(DEFAULT, **inputs).colour == default_colour
    four = grade(FOUR, **inputs)
    assert four.colour == four_colour
    assert four.level == FOUR.level(four_colour)
    assert four.policy == "example-4colour@2026.1"


def test_grade_key_ignores_reason_order_but_not_items() -> None:
    a = grade(hazards=[manual("Y3"), manual("Y7")])
    b = grade(hazards=[manual("Y7"), manual("Y3")])
    c = grade(hazards=[manual("Y3"), manual("Y9")])
    assert a.key == b.key
    assert a.key != c.key


def test_local_time_uses_the_policy_timezone() -> None:
    assert local_time(datetime(2026, 1, 1, 16, 30, tzinfo=UTC), DEFAULT) == "2026-01-02 00:30"
    assert str(Reason(("Y1",), "x")) == "Y1: x"


# -- adding a hazard never improves a grade (property) -----------------------------------------------------

ALL_CODES = sorted(DEFAULT.criteria)
KINDS = list(DeviceKind)
SIGNALS_BY_KIND = {
    DeviceKind.HYDRANT: [
        SignalKind.HYDRANT_LOW_PRESSURE,
        SignalKind.HYDRANT_HIGH_PRESSURE,
        SignalKind.HYDRANT_PRESSURE_DROP,
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
    ],
}


@st.composite
def hazards(draw: st.DrawFn) -> OpenHazard:
    hazard_id = str(draw(st.integers(0, 10_000)))
    since = NOW - timedelta(hours=draw(st.integers(0, 2000)))
    if draw(st.booleans()):
        codes = draw(st.lists(st.sampled_from(ALL_CODES), min_size=1, max_size=3, unique=True))
        return OpenHazard(hazard_id=hazard_id, criteria=tuple(codes), detail="manual", since=since)
    kind = draw(st.sampled_from(KINDS))
    signal = draw(st.sampled_from(SIGNALS_BY_KIND[kind]))
    return OpenHazard(
        hazard_id=hazard_id,
        criteria=tuple(DEFAULT.criteria_for(signal)),
        detail=signal.value,
        since=since,
        source="device",
        device_id=f"{kind.value}-{draw(st.integers(0, 12))}",
        device_kind=kind,
    )


record_times = st.integers(0, 500).map(lambda days: NOW - timedelta(days=days))
fires = st.tuples(record_times, st.booleans())


@st.composite
def estates(draw: st.DrawFn) -> GradeInputs:
    return GradeInputs(
        estate_id="E",
        hazards=draw(st.lists(hazards(), max_size=8)),
        devices=draw(st.dictionaries(st.sampled_from(KINDS), st.integers(0, 60))),
        complaints=draw(st.lists(record_times, max_size=4)),
        fires=draw(st.lists(fires, max_size=4)),
        stale=draw(st.booleans()),
    )


@st.composite
def additions(draw: st.DrawFn) -> tuple[str, object]:
    what = draw(st.sampled_from(["hazard", "complaint", "fire"]))
    value = {"hazard": hazards(), "complaint": record_times, "fire": fires}[what]
    return what, draw(value)


def with_addition(inputs: GradeInputs, addition: tuple[str, object]) -> GradeInputs:
    what, value = addition
    return GradeInputs(
        estate_id=inputs.estate_id,
        hazards=[*inputs.hazards, value] if what == "hazard" else inputs.hazards,  # type: ignore[list-item]
        devices=inputs.devices,
        complaints=[*inputs.complaints, value] if what == "complaint" else inputs.complaints,  # type: ignore[list-item]
        fires=[*inputs.fires, value] if what == "fire" else inputs.fires,  # type: ignore[list-item]
        stale=inputs.stale,
    )


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.id)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
@settings(max_examples=40, deadline=None)
@given(inputs=estates())
def test_grade_does_not_depend_on_the_order_of_hazards(policy: Policy, inputs: GradeInputs) -> None:
    shuffled = GradeInputs(
        estate_id=inputs.estate_id,
        hazards=list(reversed(inputs.hazards)),
        devices=inputs.devices,
        complaints=list(reversed(inputs.complaints)),
        fires=list(reversed(inputs.fires)),
        stale=inputs.stale,
    )
    a, b = grade_estate(inputs, policy, NOW), grade_estate(shuffled, policy, NOW)
    assert (a.colour, a.red_items, a.yellow_items, a.missing_green) == (
        b.colour,
        b.red_items,
        b.yellow_items,
        b.missing_green,
    )
    assert a.key == b.key
    if not inputs.stale and not a.reasons:
        assert a.colour == "green"  # nothing holds it: the policy's default


def test_reasons_are_written_in_the_policys_language() -> None:
    english = DEFAULT.model_copy(update={"language": "en"})
    complaints = [NOW - DAY]
    assert [r.text for r in grade(english, complaints=complaints).reasons] == ["1 complaint in 365 days"]
    assert [r.text for r in grade(DEFAULT, complaints=complaints).reasons] == ["365 天内火灾隐患投诉 1 次"]
