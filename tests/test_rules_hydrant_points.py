"""Hydrant pressure is physics: limits per measuring point, static vs flowing readings, a commissioned
baseline.

What a fire officer would check, each on a fake clock (``Sim`` from tests/test_rules_device.py):

- a legal static 0.80 MPa is no hazard anywhere (0.50 MPa is the *flowing* outlet limit of GB 50974-2014
  §7.4.12), while a flowing 0.80 MPa is over-pressure;
- an outdoor hydrant on the municipal mains needs 0.14 MPa (GB 55036-2022 §3.0.3), so 0.10 MPa is low there
  and fine at the least favourable indoor point (0.07 MPa, GB 50974-2014 §5.2.2);
- a fall below the sensor's own commissioned baseline is "without pressure" before the code minimum is
  reached;
- the point and reading come from the registry (CSV columns ``point``, ``reading``), and every threshold is
  resolved kind -> point -> policy -> device;
- the drop state survives a takeover (rule checkpoints), and old checkpoints with the retired
  ``hydrant_pressure_drop`` rule still load.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
from test_rules_device import HIGH, LOW, MINUTE, POLICY, SECOND, T0, Sim, only

from gateway.casework.fleet import DeviceFleet
from gateway.ingest.registry import RegistryError, load_registry, registry_to_toml
from gateway.models import Device, DeviceKind, MeasuringPoint, Reading
from rules.device_rules import DeviceRules, RuleState
from rules.model import SignalChange, SignalKind
from rules.texts import describe, signal_sentence_zh
from rules.thresholds import POINT_DEFAULTS, ThresholdError, resolve_thresholds

HYDRANT = DeviceKind.HYDRANT
POINTS = list(MeasuringPoint)


def hydrant(
    point: MeasuringPoint = MeasuringPoint.UNKNOWN,
    reading: str = "static",
    thresholds: dict[str, float] | None = None,
) -> Sim:
    return Sim(HYDRANT, device_id="HY-1", point=point, reading=reading, thresholds=thresholds)


# -- static vs flowing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "point", [MeasuringPoint.UNKNOWN, MeasuringPoint.LEAST_FAVOURABLE, MeasuringPoint.RISER]
)
def test_a_static_080_mpa_is_no_hazard(point: MeasuringPoint) -> None:
    sim = hydrant(point)
    sim.minutes(60, pressure_mpa=0.80)
    assert sim.changes == []
    assert sim.rules.t.pressure_max_mpa == 1.0


def test_a_flowing_080_mpa_is_over_pressure() -> None:
    """GB 50974-2014 §7.4.12: the flowing pressure at an indoor hydrant outlet is at most 0.50 MPa."""
    sim = hydrant(MeasuringPoint.LEAST_FAVOURABLE, "flowing")
    change = only(sim.minutes(6, pressure_mpa=0.80), HIGH)
    assert change.active
    assert change.detail == "0.80 MPa > max 0.50 MPa (flowing)"
    assert sim.edges(LOW) == []


def test_static_above_10_mpa_is_over_pressure_at_every_point() -> None:
    """GB 50974-2014 §6.2.1: above 1.0 MPa static at a hydrant the system must be zoned."""
    for point in POINTS:
        sim = hydrant(point)
        sim.minutes(6, pressure_mpa=1.05)
        assert sim.edges(HIGH) == [True], point


def test_a_flowing_sensor_below_035_is_low_and_the_minimum_is_per_device() -> None:
    high_rise = hydrant(MeasuringPoint.LEAST_FAVOURABLE, "flowing")
    change = only(high_rise.minutes(6, pressure_mpa=0.30), LOW)
    assert change.detail == "0.30 MPa < min 0.35 MPa (flowing)"
    low_rise = hydrant(MeasuringPoint.LEAST_FAVOURABLE, "flowing", {"pressure_min_mpa": 0.25})
    low_rise.minutes(30, pressure_mpa=0.30)
    assert low_rise.changes == []


# -- per point -------------------------------------------------------------------------------------------


def test_outdoor_mains_need_014_mpa() -> None:
    mains = hydrant(MeasuringPoint.OUTDOOR_MAINS)
    indoor = hydrant(MeasuringPoint.LEAST_FAVOURABLE)
    for sim in (mains, indoor):
        sim.minutes(6, pressure_mpa=0.10)
    assert indoor.changes == []
    change = only(mains.changes, LOW)
    assert change.active
    assert change.detail == "0.10 MPa < min 0.14 MPa"
    assert "urgent" not in change.detail


def test_an_outdoor_hydrant_read_flowing_needs_010_mpa_and_has_no_050_ceiling() -> None:
    """GB 50974-2014 §7.2.8: >= 0.10 MPa from the ground while a fire engine draws from it."""
    sim = hydrant(MeasuringPoint.OUTDOOR_MAINS, "flowing")
    sim.minutes(30, pressure_mpa=0.12)
    sim.minutes(30, pressure_mpa=0.62)
    assert sim.changes == []
    sim.minutes(6, pressure_mpa=0.08)
    assert sim.edges(LOW) == [True]


def test_point_defaults_carry_their_clauses() -> None:
    assert {p: d["pressure_min_mpa"] for p, d in POINT_DEFAULTS.items()} == {
        MeasuringPoint.LEAST_FAVOURABLE: 0.07,
        MeasuringPoint.RISER: 0.07,
        MeasuringPoint.OUTDOOR_MAINS: 0.14,
        MeasuringPoint.UNKNOWN: 0.07,
    }
    for point in POINTS:
        static = resolve_thresholds(HYDRANT, point=point)
        assert static.pressure_max_mpa == 1.0, point
    flowing = resolve_thresholds(HYDRANT, point=MeasuringPoint.RISER, reading="flowing")
    assert (flowing.pressure_min_mpa, flowing.pressure_max_mpa) == (0.35, 0.50)
    # Only hydrants have measuring points: a smoke detector's thresholds do not move with one.
    smoke = resolve_thresholds(DeviceKind.SMOKE_DETECTOR, point=MeasuringPoint.OUTDOOR_MAINS)
    assert smoke == resolve_thresholds(DeviceKind.SMOKE_DETECTOR)


def test_resolution_order_is_kind_point_policy_device() -> None:
    mains = MeasuringPoint.OUTDOOR_MAINS
    assert resolve_thresholds(HYDRANT, point=mains).pressure_min_mpa == 0.14
    assert resolve_thresholds(HYDRANT, {"pressure_min_mpa": 0.12}, point=mains).pressure_min_mpa == 0.12
    t = resolve_thresholds(HYDRANT, {"pressure_min_mpa": 0.12}, {"pressure_min_mpa": 0.16}, point=mains)
    assert t.pressure_min_mpa == 0.16
    assert t.report_window_s == 3600.0  # still the hydrant kind's default
    # The policy passes the point through (a policy without a hydrant pressure table).
    policy = POLICY.model_copy(update={"thresholds": {}})
    assert policy.thresholds_for(HYDRANT, {}, "device H1", point=mains).pressure_min_mpa == 0.14
    assert policy.thresholds_for(HYDRANT, {}, "device H1", reading="flowing").pressure_max_mpa == 0.50


def test_a_minimum_above_the_maximum_is_refused_with_both_named() -> None:
    with pytest.raises(
        ThresholdError, match=r"device H9: pressure_min_mpa \(0.35\) must be below pressure_max_mpa"
    ):
        resolve_thresholds(HYDRANT, None, {"pressure_max_mpa": 0.30}, where="device H9", reading="flowing")


# -- the commissioned baseline ------------------------------------------------------------------------------


def test_a_fall_below_the_commissioned_baseline_is_without_pressure() -> None:
    """Baseline 0.45 MPa, 30 % share: below 0.315 MPa the hydrant is without pressure, though far above the
    0.07 MPa minimum (a valve half closed, a tank emptying)."""
    sim = hydrant(MeasuringPoint.RISER, thresholds={"baseline_mpa": 0.45})
    sim.minutes(10, pressure_mpa=0.44)
    sim.minutes(30, pressure_mpa=0.33)  # 27 % down: inside the share
    assert sim.changes == []
    sim.minutes(5, pressure_mpa=0.30)
    change = only(sim.minutes(1, pressure_mpa=0.30), LOW)
    assert change.active
    assert change.detail == "0.30 MPa < 0.32 MPa, more than 30% below its commissioned 0.45 MPa"
    assert "urgent" not in change.detail
    # Hysteresis: 0.33 is above the limit (0.315) but not above it + 0.02.
    sim.minutes(20, pressure_mpa=0.33)
    assert sim.edges(LOW) == [True]
    sim.minutes(11, pressure_mpa=0.43)
    assert sim.edges(LOW) == [True, False]


def test_without_a_baseline_only_the_minimum_and_sudden_drops_count() -> None:
    sim = hydrant(MeasuringPoint.RISER)
    for p in (0.44, 0.40, 0.36, 0.32, 0.28, 0.24):  # a slow fall, 0.04 MPa a step
        sim.minutes(5, pressure_mpa=p)
    assert sim.changes == []


def test_with_a_baseline_a_pump_stopping_is_not_a_drop() -> None:
    """A fire pump run lifts a riser to 0.90 MPa; when it stops the pressure falls back to the commissioned
    0.45 MPa within a reading. With the baseline known that is a return to normal; without it, the same fall
    that stays down is indistinguishable from a burst main and opens an urgent hazard."""
    known = hydrant(MeasuringPoint.RISER, thresholds={"baseline_mpa": 0.45})
    unknown = hydrant(MeasuringPoint.RISER)
    for sim in (known, unknown):
        sim.minutes(3, pressure_mpa=0.45)
        sim.minutes(5, pressure_mpa=0.90)
        sim.minutes(10, pressure_mpa=0.44)
    assert known.changes == []
    assert [c.active for c in unknown.of(LOW)] == [True]
    assert "urgent" in unknown.of(LOW)[0].detail
    # ...and below the baseline, a sudden drop is urgent with a baseline too.
    known.minutes(2, pressure_mpa=0.05)
    assert "urgent" in only(known.changes, LOW).detail


# -- texts -------------------------------------------------------------------------------------------------


def change(signal: SignalKind, value: float, detail: str = "") -> SignalChange:
    return SignalChange(
        device_id="HY-1",
        estate_id="E001",
        signal=signal,
        active=True,
        at=T0,
        since=T0,
        detail=detail,
        value=value,
    )


def test_chinese_sentences_say_static_or_flowing_and_show_the_limit() -> None:
    mains = resolve_thresholds(HYDRANT, point=MeasuringPoint.OUTDOOR_MAINS)
    assert signal_sentence_zh(change(LOW, 0.10), mains) == "静压 0.10 MPa，低于下限 0.14 MPa"
    flowing = resolve_thresholds(HYDRANT, reading="flowing")
    assert signal_sentence_zh(change(HIGH, 0.80), flowing, "flowing") == "动压 0.80 MPa，高于上限 0.50 MPa"
    urgent = change(LOW, 0.02, "sudden drop from 0.35 to 0.02 MPa (urgent)")
    assert signal_sentence_zh(urgent, mains) == "水压骤降至 0.02 MPa 且未恢复（紧急），静压低于下限 0.14 MPa"
    based = resolve_thresholds(HYDRANT, None, {"baseline_mpa": 0.45})
    assert signal_sentence_zh(change(LOW, 0.30), based) == "静压 0.30 MPa，比调试基准 0.45 MPa 下降超过 30%"
    device = Device(id="HY-1", kind=HYDRANT, estate_id="E001", location="2号楼 30层", reading="flowing")
    assert (
        describe(device, change(HIGH, 0.62), flowing, "zh")
        == "消火栓 HY-1（2号楼 30层）：动压 0.62 MPa，高于上限 0.50 MPa"
    )


# -- registry and fleet ------------------------------------------------------------------------------------


def test_registry_csv_point_and_reading_columns(tmp_path: Path) -> None:
    good = tmp_path / "devices.csv"
    good.write_text(
        "device_id,kind,estate_id,location,point,reading,thresholds\n"
        "HY-1,hydrant,E1,2号楼 屋顶水箱出水管,least_favourable,,baseline_mpa=0.12\n"
        "HY-2,hydrant,E1,室外 市政消火栓,outdoor_mains,static,\n"
        "HY-3,hydrant,E1,3号楼 30层 栓口,least_favourable,flowing,pressure_min_mpa=0.25\n"
        "HY-4,hydrant,E1,4号楼 消防泵房,,,\n",
        encoding="utf-8",
    )
    registry = load_registry(good)
    assert [(d.point, d.reading) for d in registry.devices] == [
        (MeasuringPoint.LEAST_FAVOURABLE, "static"),
        (MeasuringPoint.OUTDOOR_MAINS, "static"),
        (MeasuringPoint.LEAST_FAVOURABLE, "flowing"),
        (MeasuringPoint.UNKNOWN, "static"),
    ]
    toml = registry_to_toml(registry)
    assert 'point = "outdoor_mains"' in toml
    assert 'reading = "flowing"' in toml
    again = tmp_path / "registry.toml"
    again.write_text(toml, encoding="utf-8")
    assert load_registry(again) == registry

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "device_id,kind,estate_id,point,reading\nA,hydrant,E1,roof,\nB,hydrant,E1,riser,dynamic\n",
        encoding="utf-8",
    )
    with pytest.raises(RegistryError) as info:
        load_registry(bad)
    first, second = info.value.problems
    assert first.startswith("line 2: point:")
    assert "'least_favourable', 'riser', 'outdoor_mains' or 'unknown'" in first
    assert second.startswith("line 3: reading:")
    assert "'static' or 'flowing'" in second


def test_the_fleet_resolves_each_device_with_its_point(tmp_path: Path) -> None:
    csv = tmp_path / "devices.csv"
    csv.write_text(
        "device_id,kind,estate_id,point,reading\n"
        "HY-1,hydrant,E1,outdoor_mains,\nHY-2,hydrant,E1,,\nHY-3,hydrant,E1,,flowing\nHY-4,hydrant,E1,outdoor_mains,\n",
        encoding="utf-8",
    )
    registry = load_registry(csv)
    policy = POLICY.model_copy(update={"thresholds": {}})
    fleet = DeviceFleet(registry, policy, defaultdict(int), T0)
    limits = {d: (r.t.pressure_min_mpa, r.t.pressure_max_mpa) for d, r in fleet.rules.items()}
    assert limits == {"HY-1": (0.14, 1.0), "HY-2": (0.07, 1.0), "HY-3": (0.35, 0.50), "HY-4": (0.14, 1.0)}
    assert fleet.rules["HY-1"].t is fleet.rules["HY-4"].t, "one threshold object per distinct set"


# -- checkpoints -------------------------------------------------------------------------------------------


def rules_for() -> DeviceRules:
    device = Device(id="HY-1", kind=HYDRANT, estate_id="E001")
    return DeviceRules(device, POLICY.thresholds_for(HYDRANT, {}, "device HY-1"), started=T0)


def feed(rules: DeviceRules, at: timedelta, p: float) -> list[SignalChange]:
    now = T0 + at
    return rules.observe(Reading(device_id="HY-1", time=now, metrics={"pressure_mpa": p}), now)


def taken_over(rules: DeviceRules, at: timedelta) -> DeviceRules:
    other = rules_for()
    other.resume(json.loads(json.dumps(rules.checkpoint())), T0 + at)
    return other


def test_an_urgent_drop_pending_at_a_takeover_opens_on_its_drop_hold() -> None:
    a = rules_for()
    feed(a, timedelta(0), 0.35)
    feed(a, MINUTE, 0.02)
    data = a.checkpoint()
    assert data["drop_reference"] == 0.35
    assert data["drop_urgent"] is True
    assert data["rules"]["hydrant_low_pressure"]["detail"] == "sudden drop from 0.35 to 0.02 MPa (urgent)"
    b = taken_over(a, MINUTE + 20 * SECOND)
    assert b.rules[LOW].state is RuleState.PENDING
    assert b.rules[LOW].hold_s == 60.0
    assert b.tick(T0 + MINUTE + 59 * SECOND) == []
    (opened,) = b.tick(T0 + 2 * MINUTE)
    assert (opened.signal, opened.active, opened.since) == (LOW, True, T0 + MINUTE)
    assert "urgent" in opened.detail
    # Back near 0.35 MPa: the recovery continues on the new gateway and closes the same hazard.
    feed(b, 3 * MINUTE, 0.34)
    c = taken_over(b, 4 * MINUTE)
    assert c.rules[LOW].state is RuleState.RECOVERING
    (closed,) = c.tick(T0 + 13 * MINUTE)
    assert (closed.signal, closed.active) == (LOW, False)
    assert "drop_urgent" not in c.checkpoint()
    assert c.rules[LOW].hold_s == 300.0


def test_an_old_checkpoint_with_the_retired_drop_rule_loads_and_is_ignored() -> None:
    now = T0 + 3 * MINUTE
    old = {
        "v": 1,
        "last_seen": (T0 + 2 * MINUTE).isoformat(),
        "rules": {
            "hydrant_pressure_drop": {
                "state": "recovering",
                "pending_at": (T0 + MINUTE).isoformat(),
                "clear_at": (T0 + 2 * MINUTE).isoformat(),
                "since": (T0 + MINUTE).isoformat(),
                "detail": "fell from 0.35 to 0.18 MPa",
                "value": 0.34,
            }
        },
        "pressure": [(T0 + 2 * MINUTE).isoformat(), 0.34],
        "drop_reference": 0.35,
    }
    b = rules_for()
    b.resume(old, now)
    assert b.last_seen == T0 + 2 * MINUTE
    assert dict(b.rules) == {}
    assert b.active_signals() == []
    assert b.checkpoint() == {
        "v": 1,
        "last_seen": (T0 + 2 * MINUTE).isoformat(),
        "pressure": [(T0 + 2 * MINUTE).isoformat(), 0.34],
    }, "the drop reference of an ignored rule is not carried on"
    assert b.tick(T0 + 30 * MINUTE) == []
    assert feed(b, 31 * MINUTE, 0.34) == []


def test_an_old_low_pressure_checkpoint_without_drop_state_continues_as_ordinary() -> None:
    b = rules_for()
    b.resume(
        {
            "v": 1,
            "last_seen": T0.isoformat(),
            "rules": {
                "hydrant_low_pressure": {"state": "pending", "pending_at": T0.isoformat(), "value": 0.02}
            },
        },
        T0 + MINUTE,
    )
    assert b.rules[LOW].hold_s == 300.0
    assert b.tick(T0 + 4 * MINUTE) == []
    (opened,) = b.tick(T0 + 5 * MINUTE)
    assert (opened.signal, opened.active) == (LOW, True)
