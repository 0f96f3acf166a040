"""Unit tests of the device-state rules (rules/device_rules.py) on a fake clock.

Every test drives ``DeviceRules`` by hand: ``Sim`` holds a plain ``datetime`` that the test advances, feeds
records stamped with it and calls ``tick`` the way the gateway's scheduler would. Nothing reads the wall
clock, so an hour of device life takes microseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.models import Device, DeviceEvent, DeviceKind, EventType, MeasuringPoint, MetricValue, Reading
from rules.device_rules import DeviceRules, HoldRule, RuleState
from rules.model import SignalChange, SignalKind
from rules.policy import builtin_policy
from rules.thresholds import ThresholdError, Thresholds, resolve_thresholds

POLICY = builtin_policy("default")
#: 2026-06-01 10:00 in Shanghai.
T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

LOW = SignalKind.HYDRANT_LOW_PRESSURE
HIGH = SignalKind.HYDRANT_HIGH_PRESSURE
#: Retired: a sudden drop is now the urgent start of LOW; no device emits it any more.
DROP = SignalKind.HYDRANT_PRESSURE_DROP
SECOND = timedelta(seconds=1)


class Sim:
    """One device's rules and a hand-stepped clock; every change emitted is also kept in ``changes``.

    A camera sends a keep-alive at every ``advance`` (as a real one does every minute), so that tests about
    detections are not about a camera going offline; ``keepalive=False`` makes it silent."""

    def __init__(
        self,
        kind: DeviceKind,
        *,
        device_id: str = "D1",
        thresholds: dict[str, float] | None = None,
        wire_format: str = "",
        start: datetime = T0,
        point: MeasuringPoint = MeasuringPoint.UNKNOWN,
        reading: str = "static",
        keepalive: bool = True,
    ) -> None:
        self.device = Device.model_validate(
            {
                "id": device_id,
                "kind": kind,
                "estate_id": "E001",
                "wire_format": wire_format,
                "thresholds": thresholds or {},
                "point": point,
                "reading": reading,
            }
        )
        t = POLICY.thresholds_for(
            kind, self.device.thresholds, f"device {device_id}", point=point, reading=self.device.reading
        )
        self.rules = DeviceRules(self.device, t, started=start)
        self.now = start
        self.changes: list[SignalChange] = []
        self.keepalive = keepalive and kind is DeviceKind.CAMERA

    def _keep(self, out: list[SignalChange]) -> list[SignalChange]:
        for change in out:
            assert change.device_id == self.device.id
            assert change.estate_id == "E001"
        self.changes.extend(out)
        return out

    def advance(self, delta: timedelta) -> list[SignalChange]:
        """Move the clock (a camera sends its keep-alive) and tick once."""
        self.now += delta
        out = self.reading(alive=True) if self.keepalive else []
        return out + self.tick()

    def tick(self) -> list[SignalChange]:
        return self._keep(self.rules.tick(self.now))

    def reading(self, **metrics: MetricValue) -> list[SignalChange]:
        record = Reading(device_id=self.device.id, time=self.now, metrics=metrics)
        return self._keep(self.rules.observe(record, self.now))

    def event(self, type_: EventType, **attributes: MetricValue) -> list[SignalChange]:
        record = DeviceEvent(device_id=self.device.id, time=self.now, type=type_, attributes=attributes)
        return self._keep(self.rules.observe(record, self.now))

    def minutes(self, n: int, **metrics: MetricValue) -> list[SignalChange]:
        """``n`` minutes of one reading a minute (then a tick), starting one minute from now."""
        out: list[SignalChange] = []
        for _ in range(n):
            self.now += MINUTE
            out += self.reading(**metrics)
            out += self.tick()
        return out

    def ticks(self, duration: timedelta, every: timedelta = MINUTE) -> list[SignalChange]:
        """Ticks only (a silent device) for ``duration``."""
        out: list[SignalChange] = []
        end = self.now + duration
        while self.now < end:
            out += self.advance(every)
        return out

    def of(self, signal: SignalKind) -> list[SignalChange]:
        return [c for c in self.changes if c.signal is signal]

    def edges(self, signal: SignalKind) -> list[bool]:
        return [c.active for c in self.of(signal)]

    def is_active(self, signal: SignalKind) -> bool:
        return signal in self.rules.active_signals()


def only(changes: list[SignalChange], signal: SignalKind) -> SignalChange:
    matching = [c for c in changes if c.signal is signal]
    assert len(matching) == 1, changes
    return matching[0]


# -- hydrant pressure --------------------------------------------------------------------------------------


def test_low_pressure_opens_only_after_the_hold_time_minute_by_minute() -> None:
    sim = Sim(DeviceKind.HYDRANT, device_id="H3")
    assert sim.reading(pressure_mpa=0.02) == []  # first reading: pending, nothing yet
    for minute in range(1, 5):
        assert sim.minutes(1, pressure_mpa=0.02) == [], f"opened after {minute} min, hold is 5 min"
        assert not sim.is_active(LOW)
    assert sim.rules.rules[LOW].state is RuleState.PENDING
    out = sim.minutes(1, pressure_mpa=0.02)
    change = only(out, LOW)
    assert change.active is True
    assert change.at == T0 + 5 * MINUTE
    assert change.since == T0  # when it was first seen, for "0.02 MPa since 10:00"
    assert change.value == pytest.approx(0.02)
    assert "0.02 MPa" in change.detail
    assert "min 0.07" in change.detail
    assert sim.is_active(LOW)
    assert "urgent" not in change.detail  # no earlier reading to fall from: the ordinary 5-minute hold


def test_low_pressure_opens_on_a_tick_without_further_readings() -> None:
    sim = Sim(DeviceKind.HYDRANT)
    sim.reading(pressure_mpa=0.03)
    sim.now = T0 + timedelta(seconds=299)
    assert sim.tick() == []
    sim.now = T0 + timedelta(seconds=300)
    change = only(sim.tick(), LOW)
    assert change.active
    assert change.since == T0
    assert change.value == pytest.approx(0.03)


def test_transient_dip_shorter_than_the_hold_opens_nothing() -> None:
    sim = Sim(DeviceKind.HYDRANT)
    sim.minutes(10, pressure_mpa=0.12)
    sim.minutes(4, pressure_mpa=0.05)  # a pump start: 4 minutes below 0.07
    sim.minutes(60, pressure_mpa=0.12)
    sim.ticks(HOUR)  # nothing pending left to go off later (and not yet silent long enough to be offline)
    assert sim.edges(LOW) == []
    assert sim.changes == []


def test_recovery_needs_hysteresis_and_the_recovery_hold() -> None:
    sim = Sim(DeviceKind.HYDRANT)
    sim.minutes(6, pressure_mpa=0.02)
    assert sim.edges(LOW) == [True]
    since = sim.of(LOW)[0].since
    # Hovering just above the minimum (0.07) but inside the hysteresis band (0.07 + 0.02): still low.
    assert sim.minutes(60, pressure_mpa=0.08) == []
    assert sim.is_active(LOW)
    assert sim.rules.rules[LOW].state is RuleState.ACTIVE
    # Healthy, but not yet for the recovery hold (10 min from the first healthy reading).
    sim.minutes(5, pressure_mpa=0.30)
    sim.minutes(1, pressure_mpa=0.085)  # a relapse into the band restarts the recovery hold
    assert sim.minutes(10, pressure_mpa=0.30) == []  # healthy from +1 to +10 min: 9 min
    assert sim.is_active(LOW)
    out = sim.minutes(1, pressure_mpa=0.30)
    change = only(out, LOW)
    assert change.active is False
    assert change.at == sim.now
    assert change.since == since  # the resolving change still says since when it held
    assert change.value == pytest.approx(0.30)  # the healthy value it recovered to
    assert not sim.is_active(LOW)
    assert sim.edges(LOW) == [True, False]


def test_recovery_completes_on_a_tick() -> None:
    sim = Sim(DeviceKind.HYDRANT)
    sim.minutes(6, pressure_mpa=0.02)
    sim.minutes(1, pressure_mpa=0.30)
    cleared = sim.now
    sim.now = cleared + timedelta(seconds=599)
    assert sim.tick() == []
    sim.now = cleared + timedelta(seconds=600)
    assert only(sim.tick(), LOW).active is False


def test_flapping_around_the_minimum_emits_one_active_and_one_resolved_change() -> None:
    sim = Sim(DeviceKind.HYDRANT)
    sim.minutes(6, pressure_mpa=0.06)
    # Two hours of a sensor flapping around the threshold: inside the band, out of it for a few minutes,
    # back below the minimum. Never healthy for the whole recovery hold.
    pattern = [0.06, 0.075, 0.08, 0.065, 0.10, 0.11, 0.12, 0.10, 0.05, 0.095, 0.09, 0.071]
    for i in range(120):
        sim.minutes(1, pressure_mpa=pattern[i % len(pattern)])
    assert sim.edges(LOW) == [True]
    sim.minutes(15, pressure_mpa=0.30)
    assert sim.edges(LOW) == [True, False]
    assert sim.changes == sim.of(LOW)  # no drop, no high pressure, nothing else either


def test_high_pressure_opens_after_hold_and_resolves_below_max_minus_hysteresis() -> None:
    """Static pressure: the ceiling is 1.0 MPa at a hydrant (GB 50974-2014 §6.2.1: zone above it)."""
    sim = Sim(DeviceKind.HYDRANT)
    sim.minutes(5, pressure_mpa=1.12)  # above max from +1 to +5 min: 4 min
    assert sim.edges(HIGH) == []
    change = only(sim.minutes(1, pressure_mpa=1.12), HIGH)
    assert change.active
    assert "1.12 MPa > max 1.00" in change.detail
    assert sim.minutes(30, pressure_mpa=0.99) == []  # below max, not below max - hysteresis (0.98)
    sim.minutes(10, pressure_mpa=0.90)
    assert sim.edges(HIGH) == [True]
    sim.minutes(1, pressure_mpa=0.90)
    assert sim.edges(HIGH) == [True, False]
    assert sim.edges(LOW) == []


def test_a_sudden_drop_that_stays_down_is_one_urgent_hazard_even_above_the_minimum() -> None:
    """A fall of 0.15 MPa or more between readings that stays down for pressure_drop_hold_s (60 s) opens the
    low-pressure hazard, urgent, even while the pressure is above the minimum; it is the same hazard for as
    long as the pressure stays down, and recovery (back near the level before, for 10 min) closes it."""
    sim = Sim(DeviceKind.HYDRANT)
    sim.minutes(3, pressure_mpa=0.35)
    dropped_at = sim.now + MINUTE
    assert sim.minutes(1, pressure_mpa=0.18) == [], "a drop must stay down a minute"
    out = sim.minutes(1, pressure_mpa=0.19)
    change = only(out, LOW)
    assert change.active
    assert change.at == dropped_at + MINUTE
    assert change.since == dropped_at
    assert change.value == pytest.approx(0.19)
    assert change.detail == "sudden drop from 0.35 to 0.18 MPa (urgent)"
    # Still well below where it was: not recovered however long it lasts; the text stays the drop's.
    assert sim.minutes(30, pressure_mpa=0.20) == []
    assert sim.rules.rules[LOW].detail == "sudden drop from 0.35 to 0.18 MPa (urgent)"
    sim.minutes(10, pressure_mpa=0.34)
    assert sim.edges(LOW) == [True]
    resolved = only(sim.minutes(1, pressure_mpa=0.34), LOW)
    assert resolved.active is False
    assert resolved.since == dropped_at
    assert sim.changes == sim.of(LOW), "one rule, one hazard: nothing else opened"
    # The episode is over: the next low pressure without a drop waits the ordinary hold again.
    assert sim.rules.rules[LOW].hold_s == 300.0


def test_a_drop_of_exactly_the_threshold_counts() -> None:
    sim = Sim(DeviceKind.HYDRANT)
    sim.minutes(1, pressure_mpa=0.35)
    sim.minutes(2, pressure_mpa=0.20)  # 0.35 - 0.20 is 0.1499... in floating point
    assert sim.edges(LOW) == [True]
    assert "urgent" in sim.of(LOW)[0].detail


def test_a_dip_shorter_than_the_drop_hold_opens_nothing() -> None:
    """Readings every 10 s: 0.35 -> 0.02 for 50 s (a pump start, water hammer, a short flow test) -> 0.35."""
    sim = Sim(DeviceKind.HYDRANT)
    for _ in range(6):
        sim.now += 10 * SECOND
        sim.reading(pressure_mpa=0.35)
    for _ in range(5):
        sim.now += 10 * SECOND
        sim.reading(pressure_mpa=0.02)
        sim.tick()
    assert sim.rules.rules[LOW].state is RuleState.PENDING
    sim.now += 10 * SECOND  # 60 s after the drop, but back up
    sim.reading(pressure_mpa=0.35)
    assert sim.rules.rules[LOW].state is RuleState.INACTIVE, "a transient is forgotten at once"
    # A second short dip two minutes later is a new transient, not the end of the first one's minute.
    sim.ticks(2 * MINUTE, every=10 * SECOND)
    for _ in range(4):
        sim.now += 10 * SECOND
        sim.reading(pressure_mpa=0.02)
        sim.tick()
    sim.now += 10 * SECOND
    sim.reading(pressure_mpa=0.35)
    sim.ticks(HOUR, every=MINUTE)
    assert sim.changes == []
    assert not sim.rules.needs_tick


def test_a_drop_that_stays_opens_one_hazard_at_the_drop_hold_on_a_tick() -> None:
    sim = Sim(DeviceKind.HYDRANT)
    sim.minutes(2, pressure_mpa=0.35)
    sim.now += 5 * SECOND
    dropped_at = sim.now
    assert sim.reading(pressure_mpa=0.02) == []
    sim.now = dropped_at + 59 * SECOND
    assert sim.tick() == []
    sim.now = dropped_at + 60 * SECOND
    change = only(sim.tick(), LOW)
    assert (change.active, change.since) == (True, dropped_at)
    assert change.detail == "sudden drop from 0.35 to 0.02 MPa (urgent)"
    # Sustained low pressure continues the same hazard: no second edge however long it lasts.
    sim.minutes(120, pressure_mpa=0.02)
    assert sim.edges(LOW) == [True]
    sim.minutes(11, pressure_mpa=0.35)
    assert sim.edges(LOW) == [True, False]
    assert {c.signal for c in sim.changes} == {LOW}


def test_two_failed_hydrants_are_two_hazards_not_four() -> None:
    opened: list[SignalChange] = []
    for device_id in ("HY-1", "HY-2"):
        sim = Sim(DeviceKind.HYDRANT, device_id=device_id)
        sim.minutes(3, pressure_mpa=0.38)
        sim.minutes(30, pressure_mpa=0.01)  # the supply is lost and stays lost
        opened += [c for c in sim.changes if c.active]
    assert [(c.device_id, c.signal) for c in opened] == [("HY-1", LOW), ("HY-2", LOW)]
    assert all("urgent" in c.detail for c in opened)


def test_a_low_pressure_episode_that_then_drops_suddenly_becomes_urgent() -> None:
    """Below the minimum for two minutes (pending, 5 min hold), then a sudden fall: the drop hold applies,
    counted from when the episode began, so the hazard opens at once; still one hazard."""
    sim = Sim(DeviceKind.HYDRANT, thresholds={"baseline_mpa": 0.40})
    sim.minutes(2, pressure_mpa=0.40)
    sim.minutes(2, pressure_mpa=0.26)  # below 0.40 x 0.7 = 0.28: pending, not urgent
    assert sim.rules.rules[LOW].state is RuleState.PENDING
    change = only(sim.minutes(1, pressure_mpa=0.05), LOW)
    assert change.active
    assert change.since == T0 + 3 * MINUTE
    assert "urgent" in change.detail


def test_slow_decline_or_readings_far_apart_are_not_a_sudden_drop() -> None:
    slow = Sim(DeviceKind.HYDRANT)
    for p in (0.40, 0.35, 0.30, 0.25, 0.20, 0.15):
        slow.minutes(1, pressure_mpa=p)
    assert slow.edges(DROP) == []

    apart = Sim(DeviceKind.HYDRANT)
    apart.reading(pressure_mpa=0.40)
    apart.now += timedelta(minutes=16)  # beyond the 15-minute comparison window
    apart.reading(pressure_mpa=0.15)
    assert apart.edges(DROP) == []


def test_sensor_fault_is_raised_and_its_pressure_ignored() -> None:
    sim = Sim(DeviceKind.HYDRANT)
    sim.minutes(2, pressure_mpa=0.35, sensor_fault=False)
    out = sim.minutes(1, pressure_mpa=0.0, sensor_fault=True)
    change = only(out, SignalKind.HYDRANT_SENSOR_FAULT)
    assert change.active
    assert change.detail == "sensor reports a fault"
    # An hour of garbage pressure from the faulty sensor: no low pressure, no sudden drop.
    sim.minutes(60, pressure_mpa=0.0, sensor_fault=True)
    assert sim.edges(LOW) == []
    assert sim.rules.rules[LOW].state is RuleState.INACTIVE
    # Repaired: resolved once healthy for the status recovery hold (5 min).
    sim.minutes(5, pressure_mpa=0.35, sensor_fault=False)
    assert sim.edges(SignalKind.HYDRANT_SENSOR_FAULT) == [True]
    sim.minutes(1, pressure_mpa=0.35, sensor_fault=False)
    assert sim.edges(SignalKind.HYDRANT_SENSOR_FAULT) == [True, False]
    assert sim.edges(LOW) == []  # 0.35 before the fault, 0.35 after: no drop


def test_a_sensor_fault_stops_pressure_timers_started_before_it() -> None:
    """The hold and recovery timers need valid readings: a faulty sensor confirms neither."""
    pending = Sim(DeviceKind.HYDRANT)
    pending.reading(pressure_mpa=0.02)  # low: pending
    pending.minutes(10, pressure_mpa=0.0, sensor_fault=True)
    assert pending.edges(LOW) == []
    assert pending.edges(SignalKind.HYDRANT_SENSOR_FAULT) == [True]

    recovering = Sim(DeviceKind.HYDRANT)
    recovering.minutes(6, pressure_mpa=0.02)
    recovering.minutes(1, pressure_mpa=0.30)  # healthy: the recovery hold starts
    recovering.minutes(20, pressure_mpa=0.0, sensor_fault=True)
    assert recovering.edges(LOW) == [True]  # not resolved by a faulty sensor
    recovering.minutes(10, pressure_mpa=0.30, sensor_fault=False)
    assert recovering.edges(LOW) == [True]
    recovering.minutes(1, pressure_mpa=0.30, sensor_fault=False)
    assert recovering.edges(LOW) == [True, False]

    dropped = Sim(DeviceKind.HYDRANT)
    dropped.minutes(2, pressure_mpa=0.40)
    dropped.minutes(2, pressure_mpa=0.20)  # a sudden drop that stays a minute: urgent, open
    dropped.minutes(1, pressure_mpa=0.40)  # back where it was: the recovery hold starts
    dropped.minutes(20, pressure_mpa=0.0, sensor_fault=True)
    assert dropped.edges(LOW) == [True]
    dropped.minutes(10, pressure_mpa=0.40, sensor_fault=False)
    assert dropped.edges(LOW) == [True]
    dropped.minutes(1, pressure_mpa=0.40, sensor_fault=False)
    assert dropped.edges(LOW) == [True, False]

    # A drop still pending when the sensor fails is forgotten: the faulty sensor cannot confirm it.
    pending_drop = Sim(DeviceKind.HYDRANT)
    pending_drop.minutes(2, pressure_mpa=0.40)
    pending_drop.now += 10 * SECOND
    pending_drop.reading(pressure_mpa=0.10)
    pending_drop.minutes(5, pressure_mpa=0.0, sensor_fault=True)
    assert pending_drop.rules.rules[LOW].state is RuleState.INACTIVE
    assert pending_drop.rules.rules[LOW].hold_s == 300.0
    assert pending_drop.edges(LOW) == []


def test_leak_opens_at_once_and_resolves_after_the_status_recovery_hold() -> None:
    sim = Sim(DeviceKind.HYDRANT)
    change = only(sim.reading(pressure_mpa=0.3, leak=True), SignalKind.HYDRANT_LEAK)
    assert change.active
    assert change.detail == "leak detected"
    sim.minutes(5, pressure_mpa=0.3, leak=False)
    assert sim.edges(SignalKind.HYDRANT_LEAK) == [True]
    sim.minutes(1, pressure_mpa=0.3, leak=False)
    assert sim.edges(SignalKind.HYDRANT_LEAK) == [True, False]


def test_comm_fault_waits_for_its_hold_and_is_restored_at_once() -> None:
    sim = Sim(DeviceKind.HYDRANT)
    assert sim.event(EventType.COMM_FAULT, reason="timeout") == []
    assert sim.ticks(4 * MINUTE) == []
    change = only(sim.ticks(MINUTE), SignalKind.COMM_FAULT)
    assert change.active
    assert change.since == T0
    assert "not answering (timeout)" in change.detail
    out = sim.event(EventType.COMM_RESTORED)
    assert only(out, SignalKind.COMM_FAULT).active is False
    assert sim.edges(SignalKind.COMM_FAULT) == [True, False]


def test_short_comm_fault_and_a_reading_clearing_it_open_nothing() -> None:
    sim = Sim(DeviceKind.HYDRANT)
    sim.event(EventType.COMM_FAULT, reason="timeout")
    sim.ticks(2 * MINUTE)
    sim.event(EventType.COMM_RESTORED)
    sim.ticks(HOUR)
    assert sim.edges(SignalKind.COMM_FAULT) == []

    sim.event(EventType.COMM_FAULT)
    sim.ticks(6 * MINUTE)
    assert sim.edges(SignalKind.COMM_FAULT) == [True]
    sim.reading(pressure_mpa=0.3)  # a unit that answers is not in a communication fault
    assert sim.edges(SignalKind.COMM_FAULT) == [True, False]


def test_hydrant_offline_after_its_window_and_grace() -> None:
    sim = Sim(DeviceKind.HYDRANT)
    sim.reading(pressure_mpa=0.3)
    assert sim.ticks(70 * MINUTE) == []  # report window 1 h + grace 10 min: not yet (strictly longer)
    change = only(sim.ticks(MINUTE), SignalKind.OFFLINE)
    assert change.active
    assert change.since == T0


# -- batteries -------------------------------------------------------------------------------------------


def test_low_battery_left_unfixed_for_three_days_then_replaced() -> None:
    sim = Sim(DeviceKind.SMOKE_DETECTOR)
    assert sim.event(EventType.LOW_BATTERY, battery_pct=15) == []
    for _ in range(2):  # daily heartbeats, still low: not yet a hazard
        sim.ticks(DAY, every=HOUR)
        sim.reading(battery_pct=14, signal_dbm=-80)
    assert sim.ticks(DAY - HOUR, every=HOUR) == []
    change = only(sim.ticks(HOUR, every=HOUR), SignalKind.LOW_BATTERY)
    assert change.active
    assert change.at == T0 + 3 * DAY
    assert change.since == T0
    assert change.value == pytest.approx(14)
    assert change.detail == "battery 14%"
    # Hysteresis: 22 % is above the 20 % limit but not above 20 + 5: a tired battery, not a new one.
    assert sim.reading(battery_pct=22) == []
    assert sim.is_active(SignalKind.LOW_BATTERY)
    out = sim.reading(battery_pct=95)
    assert only(out, SignalKind.LOW_BATTERY).active is False
    assert sim.edges(SignalKind.LOW_BATTERY) == [True, False]
    assert sim.edges(SignalKind.OFFLINE) == []


def test_low_battery_replaced_within_the_hold_opens_nothing() -> None:
    sim = Sim(DeviceKind.SMOKE_DETECTOR)
    sim.event(EventType.LOW_BATTERY, battery_pct=15)
    sim.ticks(2 * DAY, every=HOUR)
    sim.reading(battery_pct=100)
    sim.ticks(DAY, every=HOUR)
    sim.reading(battery_pct=100)
    sim.ticks(DAY, every=HOUR)
    assert sim.edges(SignalKind.LOW_BATTERY) == []


def test_hydrant_low_battery_status_bit() -> None:
    sim = Sim(DeviceKind.HYDRANT)
    for _ in range(3 * 24 + 1):  # low from the first reading (+1 h) to +73 h
        sim.now += HOUR
        sim.reading(pressure_mpa=0.3, battery_pct=40, low_battery=True)
        sim.tick()
    assert sim.edges(SignalKind.LOW_BATTERY) == [True]
    sim.reading(pressure_mpa=0.3, battery_pct=100, low_battery=False)
    assert sim.edges(SignalKind.LOW_BATTERY) == [True, False]


# -- smoke detector connectivity and status ----------------------------------------------------------------


def test_smoke_detector_offline_after_24h_plus_grace_not_before() -> None:
    sim = Sim(DeviceKind.SMOKE_DETECTOR)
    sim.now = T0 + HOUR
    sim.reading(battery_pct=90)
    heard = sim.now
    sim.now = heard + 26 * HOUR  # 24 h window + 2 h grace, exactly: not yet
    assert sim.tick() == []
    assert not sim.rules.offline_due(sim.now)
    sim.now += timedelta(seconds=1)
    assert sim.rules.offline_due(sim.now)
    change = only(sim.tick(), SignalKind.OFFLINE)
    assert change.active
    assert change.since == heard  # silent since the last message, not since the tick
    assert change.at == sim.now
    assert "nothing heard for 26.0 h" in change.detail
    assert not sim.rules.online
    assert sim.ticks(3 * DAY, every=HOUR) == []  # one change per outage
    assert not sim.rules.offline_due(sim.now)
    # Back online on any message, here a heartbeat.
    out = sim.reading(battery_pct=90)
    change = only(out, SignalKind.OFFLINE)
    assert change.active is False
    assert change.since == heard
    assert sim.rules.online


def test_silent_from_start_goes_offline_one_window_after_gateway_start() -> None:
    sim = Sim(DeviceKind.SMOKE_DETECTOR)
    assert sim.ticks(26 * HOUR, every=HOUR) == []
    change = only(sim.ticks(HOUR, every=HOUR), SignalKind.OFFLINE)
    assert change.since == T0


@pytest.mark.parametrize("type_", [EventType.SELF_TEST, EventType.ALARM, EventType.MUTE])
def test_any_message_brings_a_detector_back_online(type_: EventType) -> None:
    sim = Sim(DeviceKind.SMOKE_DETECTOR)
    sim.ticks(27 * HOUR, every=HOUR)
    assert sim.edges(SignalKind.OFFLINE) == [True]
    sim.event(type_)
    assert sim.edges(SignalKind.OFFLINE) == [True, False]


def test_a_camera_that_sends_keep_alives_is_never_offline() -> None:
    sim = Sim(DeviceKind.CAMERA)  # a keep-alive at every step (tests/test_camera_keepalive.py: silence)
    assert sim.ticks(3 * DAY, every=5 * MINUTE) == []
    assert sim.rules.online


def test_ctwing_offline_and_online_events() -> None:
    sim = Sim(DeviceKind.SMOKE_DETECTOR)
    change = only(sim.event(EventType.OFFLINE), SignalKind.OFFLINE)
    assert change.active
    assert change.since == T0
    assert "carrier platform" in change.detail
    sim.now += MINUTE
    assert sim.event(EventType.OFFLINE) == []  # already offline: no second change
    sim.ticks(30 * HOUR, every=HOUR)
    assert sim.edges(SignalKind.OFFLINE) == [True]
    change = only(sim.event(EventType.ONLINE), SignalKind.OFFLINE)
    assert change.active is False
    assert change.since == T0
    assert sim.edges(SignalKind.OFFLINE) == [True, False]


def test_fault_and_fault_clear() -> None:
    sim = Sim(DeviceKind.SMOKE_DETECTOR)
    change = only(sim.event(EventType.FAULT, fault_code="E03"), SignalKind.DEVICE_FAULT)
    assert change.active
    assert change.at == T0  # GB/T 45839: a fault is shown within 100 s, so no hold
    assert change.detail == "fault E03"
    sim.now += HOUR
    sim.reading(battery_pct=80)  # a native heartbeat says nothing about the fault
    assert sim.is_active(SignalKind.DEVICE_FAULT)
    change = only(sim.event(EventType.FAULT_CLEAR), SignalKind.DEVICE_FAULT)
    assert change.active is False
    assert change.since == T0
    assert sim.edges(SignalKind.DEVICE_FAULT) == [True, False]


def test_shielded_detector_is_a_device_fault() -> None:
    sim = Sim(DeviceKind.SMOKE_DETECTOR)
    change = only(sim.event(EventType.SHIELDED), SignalKind.DEVICE_FAULT)
    assert change.active
    assert "shielded" in change.detail


def test_gbt45839_normal_status_clears_a_fault() -> None:
    sim = Sim(DeviceKind.SMOKE_DETECTOR, wire_format="gbt45839_status")
    sim.event(EventType.FAULT)  # status 3
    assert sim.is_active(SignalKind.DEVICE_FAULT)
    sim.now += 10 * MINUTE
    # Status 1 (normal) is decoded as a reading: a full snapshot that says the fault is gone.
    out = sim.reading(battery_pct=88, signal_dbm=-75)
    change = only(out, SignalKind.DEVICE_FAULT)
    assert change.active is False
    assert change.at == T0 + 10 * MINUTE


def test_tamper_and_tamper_clear() -> None:
    sim = Sim(DeviceKind.SMOKE_DETECTOR)
    change = only(sim.event(EventType.TAMPER), SignalKind.TAMPER)
    assert change.active
    assert "removed" in change.detail
    sim.now += 5 * MINUTE
    assert only(sim.event(EventType.TAMPER_CLEAR), SignalKind.TAMPER).active is False


def test_smoke_alarm_is_not_a_device_signal() -> None:
    sim = Sim(DeviceKind.SMOKE_DETECTOR)
    assert sim.event(EventType.ALARM) == []
    assert sim.event(EventType.ALARM_CLEAR) == []
    assert sim.rules.active_signals() == []


# -- cameras ---------------------------------------------------------------------------------------------


def lane(sim: Sim, state: str, event_id: str, type_: EventType = EventType.FIRE_LANE_OCCUPIED) -> None:
    sim.event(type_, state=state, event_id=event_id)


def test_fire_lane_occupied_past_the_hold() -> None:
    sim = Sim(DeviceKind.CAMERA, device_id="CAM1")
    lane(sim, "start", "ev1")
    start = sim.now
    assert sim.ticks(9 * MINUTE) == []
    assert sim.rules.needs_tick
    change = only(sim.ticks(MINUTE), SignalKind.FIRE_LANE_OCCUPIED)
    assert change.active
    assert change.since == start
    assert change.at == start + 10 * MINUTE
    assert change.detail == "fire lane occupied for 10 min"
    sim.ticks(5 * MINUTE)
    lane(sim, "end", "ev1")
    assert sim.ticks(9 * MINUTE) == []
    assert sim.is_active(SignalKind.FIRE_LANE_OCCUPIED)
    assert only(sim.ticks(MINUTE), SignalKind.FIRE_LANE_OCCUPIED).active is False


def test_short_fire_lane_occupation_opens_nothing() -> None:
    sim = Sim(DeviceKind.CAMERA)
    lane(sim, "start", "ev1")
    sim.ticks(8 * MINUTE)
    lane(sim, "end", "ev1")
    sim.ticks(HOUR)
    assert sim.changes == []


def occupy(sim: Sim, event_id: str, minutes: int, gap: timedelta) -> None:
    lane(sim, "start", event_id)
    sim.ticks(minutes * MINUTE)
    lane(sim, "end", event_id)
    sim.ticks(gap, every=10 * MINUTE)


def test_fire_lane_occupied_repeatedly_in_a_day_even_if_each_is_short() -> None:
    sim = Sim(DeviceKind.CAMERA)
    occupy(sim, "a", 6, 3 * HOUR)  # each longer than lane_repeat_min (5 min), shorter than the hold (10)
    occupy(sim, "b", 6, 3 * HOUR)
    assert sim.changes == []
    lane(sim, "start", "c")
    third = sim.now
    sim.ticks(4 * MINUTE)
    assert sim.changes == []
    change = only(sim.ticks(MINUTE), SignalKind.FIRE_LANE_OCCUPIED)
    assert change.active
    assert "3 times" in change.detail
    assert change.since == third
    lane(sim, "end", "c")
    # Active while three occupations fall within 24 h of now; the first leaves the window ~18 h later.
    sim.ticks(17 * HOUR, every=10 * MINUTE)
    assert sim.edges(SignalKind.FIRE_LANE_OCCUPIED) == [True]
    sim.ticks(2 * HOUR, every=10 * MINUTE)
    assert sim.edges(SignalKind.FIRE_LANE_OCCUPIED) == [True, False]


def test_repeats_too_brief_or_too_far_apart_are_not_a_hazard() -> None:
    brief = Sim(DeviceKind.CAMERA)
    for i in range(5):
        occupy(brief, f"drop-off{i}", 2, HOUR)  # dropping someone off: under lane_repeat_min
    assert brief.changes == []

    apart = Sim(DeviceKind.CAMERA)
    for i in range(4):
        occupy(apart, f"park{i}", 6, 13 * HOUR)  # never three within 24 h
    assert apart.changes == []


def test_evacuation_route_blocked_past_its_hold() -> None:
    sim = Sim(DeviceKind.CAMERA)
    lane(sim, "start", "s1", EventType.EVACUATION_BLOCKED)
    assert sim.ticks(4 * MINUTE) == []
    change = only(sim.ticks(MINUTE), SignalKind.EVACUATION_BLOCKED)
    assert change.active
    assert change.since == T0
    assert "evacuation route blocked for" in change.detail
    lane(sim, "end", "s1", EventType.EVACUATION_BLOCKED)
    assert sim.ticks(9 * MINUTE) == []
    assert only(sim.ticks(MINUTE), SignalKind.EVACUATION_BLOCKED).active is False
    assert sim.edges(SignalKind.FIRE_LANE_OCCUPIED) == []


def test_evacuation_blockages_are_not_kept_as_lane_repeats() -> None:
    sim = Sim(DeviceKind.CAMERA)
    for i in range(4):
        lane(sim, "start", f"s{i}", EventType.EVACUATION_BLOCKED)
        sim.ticks(6 * MINUTE)
        lane(sim, "end", f"s{i}", EventType.EVACUATION_BLOCKED)
        sim.ticks(HOUR, every=10 * MINUTE)
    assert sim.edges(SignalKind.FIRE_LANE_OCCUPIED) == []
    assert sim.edges(SignalKind.EVACUATION_BLOCKED) == [True, False] * 4
    # Nothing prunes the evacuation rule's repeat list, so nothing may be added to it (a slow leak).
    assert len(sim.rules._evacuation.starts) == 0
    sim.ticks(HOUR)
    assert not sim.rules.needs_tick


def test_ebike_in_lift_is_a_hazard_at_once_and_recovers_after_an_hour_without_another() -> None:
    sim = Sim(DeviceKind.CAMERA)
    change = only(sim.event(EventType.EBIKE_IN_LIFT, state="start", event_id="b1"), SignalKind.EBIKE_IN_LIFT)
    assert change.active
    assert change.at == T0
    assert "e-bike" in change.detail
    sim.now += MINUTE
    assert sim.event(EventType.EBIKE_IN_LIFT, state="end", event_id="b1") == []
    sim.ticks(40 * MINUTE)
    # Another one within the hour: still the same hazard, and the hour starts again.
    assert sim.event(EventType.EBIKE_IN_LIFT, state="start", event_id="b2") == []
    sim.now += MINUTE
    sim.event(EventType.EBIKE_IN_LIFT, state="end", event_id="b2")
    assert sim.ticks(59 * MINUTE) == []
    assert only(sim.ticks(MINUTE), SignalKind.EBIKE_IN_LIFT).active is False
    assert sim.edges(SignalKind.EBIKE_IN_LIFT) == [True, False]


def test_hydrant_ignores_camera_and_detector_events() -> None:
    sim = Sim(DeviceKind.HYDRANT)
    sim.event(EventType.FAULT)
    sim.event(EventType.TAMPER)
    sim.event(EventType.FIRE_LANE_OCCUPIED, state="start", event_id="x")
    sim.ticks(HOUR)
    assert sim.changes == []


def test_a_restored_hazard_resolves_when_the_device_is_healthy() -> None:
    """After a gateway restart an open device hazard is continued; healthy readings close it."""
    sim = Sim(DeviceKind.HYDRANT)
    since = T0 - 2 * HOUR
    sim.rules.restore(LOW, since, T0, "0.02 MPa < min 0.07 MPa")
    assert sim.is_active(LOW)
    sim.minutes(30, pressure_mpa=0.05)
    assert sim.changes == []
    sim.minutes(11, pressure_mpa=0.30)
    change = only(sim.changes, LOW)
    assert change.active is False
    assert change.since == since


def test_a_restored_retired_drop_hazard_is_ignored() -> None:
    """A "hydrant_pressure_drop" hazard filed by an older version is no rule any more: restoring it does
    nothing, and the hydrant's rules go on from its readings."""
    sim = Sim(DeviceKind.HYDRANT)
    sim.rules.restore(DROP, T0 - HOUR, T0)
    assert sim.rules.active_signals() == []
    sim.minutes(11, pressure_mpa=0.35)
    assert sim.changes == []


# -- thresholds ------------------------------------------------------------------------------------------


def test_per_device_pressure_minimum_override() -> None:
    mains = Sim(DeviceKind.HYDRANT, thresholds={"pressure_min_mpa": 0.14})  # GB 55036-2022 §3.0.3
    default = Sim(DeviceKind.HYDRANT)
    for sim in (mains, default):
        sim.minutes(6, pressure_mpa=0.10)
    assert default.changes == []
    change = only(mains.changes, LOW)
    assert change.active
    assert "min 0.14" in change.detail
    # Hysteresis counts from the device's own minimum: 0.15 is not above 0.14 + 0.02.
    mains.minutes(30, pressure_mpa=0.15)
    assert mains.edges(LOW) == [True]


def test_thresholds_resolve_kind_then_policy_then_device() -> None:
    t = resolve_thresholds(DeviceKind.HYDRANT, {"pressure_hold_s": 60.0}, {"pressure_hold_s": 30.0})
    assert t.pressure_hold_s == 30.0
    assert t.report_window_s == 3600.0  # hydrant kind default
    assert resolve_thresholds(DeviceKind.HYDRANT, {"pressure_hold_s": 60.0}).pressure_hold_s == 60.0
    assert resolve_thresholds(DeviceKind.CAMERA).report_window_s == 300.0  # cameras send keep-alives
    assert resolve_thresholds(DeviceKind.SMOKE_DETECTOR).report_window_s == 86_400.0
    assert Thresholds().pressure_min_mpa == 0.07
    assert Thresholds().pressure_max_mpa == 1.0  # static ceiling at a hydrant (GB 50974-2014 §6.2.1)


def test_a_per_device_hold_time_is_used() -> None:
    sim = Sim(DeviceKind.HYDRANT, thresholds={"pressure_hold_s": 60.0})
    sim.reading(pressure_mpa=0.02)
    assert sim.edges(LOW) == []
    sim.minutes(1, pressure_mpa=0.02)
    assert sim.edges(LOW) == [True]


def test_unknown_threshold_key_names_the_key_and_the_device() -> None:
    with pytest.raises(ThresholdError, match=r"device H9: unknown threshold\(s\) pressure_min\b"):
        POLICY.thresholds_for(DeviceKind.HYDRANT, {"pressure_min": 0.14}, "device H9")


def test_bad_threshold_value_names_the_key() -> None:
    with pytest.raises(ThresholdError, match=r"device H9: .*pressure_max_mpa"):
        POLICY.thresholds_for(DeviceKind.HYDRANT, {"pressure_max_mpa": -1.0}, "device H9")


# -- the hold-rule state machine as a property ------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    hold_s=st.sampled_from([0.0, 60.0, 300.0]),
    recovery_s=st.sampled_from([0.0, 120.0, 600.0]),
    steps=st.lists(st.tuples(st.integers(1, 400), st.booleans(), st.booleans()), max_size=60),
)
def test_hold_rule_edges_alternate_and_respect_the_hold_times(
    hold_s: float, recovery_s: float, steps: list[tuple[int, bool, bool]]
) -> None:
    """Whatever the condition does, edges alternate (active, resolved, active...). An activation comes only
    while the condition holds, at least ``hold_s`` after it was first seen, with no clear spell of
    ``recovery_s`` or longer in between (a shorter healthy spell does not restart the hold; with no recovery
    hold any clear reading does). A resolution comes only after the condition was continuously clear for
    ``recovery_s``."""
    rule = HoldRule(SignalKind.HYDRANT_LOW_PRESSURE, hold_s, recovery_s)
    now = T0
    held_since: datetime | None = None  # start of the current hold, by the rule's definition
    clear_since: datetime | None = None
    expected_active = False
    for gap_s, holds, is_tick in steps:
        now += timedelta(seconds=gap_s)
        if is_tick:
            edge = rule.tick(now)
        else:
            if holds:
                spell_counted = clear_since is not None and (now - clear_since).total_seconds() >= recovery_s
                if held_since is None or spell_counted:
                    held_since = now
                clear_since = None
            else:
                clear_since = clear_since or now
                if recovery_s <= 0:
                    held_since = None
            edge = rule.observe(holds, now)
        if edge is None:
            continue
        assert edge is not expected_active, "two edges in the same direction"
        expected_active = edge
        if edge:
            assert clear_since is None, "activated while the condition is clear"
            assert held_since is not None
            assert (now - held_since).total_seconds() >= hold_s
        else:
            assert clear_since is not None
            assert (now - clear_since).total_seconds() >= recovery_s
        assert rule.active is expected_active


def test_a_short_healthy_spell_does_not_restart_the_pressure_hold() -> None:
    """Low four minutes out of five is a hazard: one good reading in the middle of the hold does not hide it;
    a healthy spell as long as the recovery hold does restart it."""
    rule = HoldRule(SignalKind.HYDRANT_LOW_PRESSURE, hold_s=300.0, recovery_s=600.0)
    minute = timedelta(minutes=1)
    pattern = [True, True, False, True, True, True]  # minutes 0..5: one healthy reading at minute 2
    edges = [rule.observe(holds, T0 + i * minute) for i, holds in enumerate(pattern)]
    assert edges == [None, None, None, None, None, True], "active 5 minutes after first seen low"
    fresh = HoldRule(SignalKind.HYDRANT_LOW_PRESSURE, hold_s=300.0, recovery_s=600.0)
    assert fresh.observe(True, T0) is None
    assert fresh.observe(False, T0 + minute) is None
    assert fresh.tick(T0 + 11 * minute) is None, "clear for the recovery hold: the pending hold is dropped"
    assert fresh.state is RuleState.INACTIVE
    assert fresh.observe(True, T0 + 12 * minute) is None, "a new hold starts"
    assert fresh.observe(True, T0 + 16 * minute) is None
    assert fresh.observe(True, T0 + 17 * minute) is True


# -- review follow-ups: what counts as a sign of life, lost camera "end" messages, lazy rules ----------------


def test_a_comm_fault_event_is_not_a_sign_of_life() -> None:
    """The Modbus poller reports a unit that does not answer; the device itself said nothing, so its offline
    clock keeps running and an offline hazard is not cleared by the poller's report."""
    sim = Sim(DeviceKind.HYDRANT)
    sim.reading(pressure_mpa=0.35)
    for _ in range(80):
        sim.advance(MINUTE)
        sim.event(EventType.COMM_FAULT, reason="timeout")
    active = {c.signal for c in sim.changes if c.active}
    assert SignalKind.COMM_FAULT in active
    assert SignalKind.OFFLINE in active, "an hour of comm faults is an hour of silence"
    assert not sim.rules.online
    sim.reading(pressure_mpa=0.35)
    assert sim.rules.online


def test_a_lost_camera_end_message_does_not_hold_a_hazard_for_ever() -> None:
    sim = Sim(DeviceKind.CAMERA)
    sim.event(EventType.FIRE_LANE_OCCUPIED, state="start", event_id="e1")
    sim.advance(15 * MINUTE)
    assert sim.rules.rules.is_active(SignalKind.FIRE_LANE_OCCUPIED)
    # The "end" never comes: after camera_event_max_s (6 h) the detection counts as over, then the
    # recovery hold (10 min) resolves the signal.
    for _ in range(7 * 6):
        sim.advance(10 * MINUTE)
    resolved = [c for c in sim.changes if c.signal is SignalKind.FIRE_LANE_OCCUPIED and not c.active]
    assert len(resolved) == 1
    assert not sim.rules.needs_tick or not sim.rules.rules.is_active(SignalKind.FIRE_LANE_OCCUPIED)


def test_an_ebike_detection_without_end_resolves_after_the_maximum() -> None:
    sim = Sim(DeviceKind.CAMERA, thresholds={"camera_event_max_s": 3600, "ebike_recovery_s": 600})
    sim.event(EventType.EBIKE_IN_LIFT, state="start", event_id="b1")
    assert sim.rules.rules.is_active(SignalKind.EBIKE_IN_LIFT)
    for _ in range(8):
        sim.advance(10 * MINUTE)
    assert not sim.rules.rules.is_active(SignalKind.EBIKE_IN_LIFT)


def test_rules_are_created_only_when_a_condition_first_holds() -> None:
    """A healthy device carries no rule objects at all (200,000 devices in a city)."""
    sim = Sim(DeviceKind.HYDRANT)
    for _ in range(10):
        sim.advance(MINUTE)
        sim.reading(pressure_mpa=0.35, battery_pct=90.0, sensor_fault=False, leak=False)
    assert dict(sim.rules.rules) == {}
    assert sim.rules.online
    sim.reading(pressure_mpa=0.02)
    assert set(sim.rules.rules) == {LOW}
    assert not sim.rules.rules.has(DROP), "the retired drop rule exists on no device"
    with pytest.raises(KeyError):
        sim.rules.rules[SignalKind.TAMPER]  # hydrants have no tamper rule


def test_coming_down_from_over_pressure_is_not_a_sudden_drop() -> None:
    sim = Sim(DeviceKind.HYDRANT)
    sim.reading(pressure_mpa=1.20)
    sim.advance(MINUTE)
    sim.reading(pressure_mpa=0.35)
    sim.ticks(30 * MINUTE)
    assert not any(c.signal is LOW for c in sim.changes)
