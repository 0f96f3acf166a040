"""Device-state rules: records and the clock in, ``SignalChange``s out. Pure: no I/O, no wall clock.

Each rule is a hold rule (``rules/hold.py``): a small state machine, in the manner of Prometheus alerting
rules, that emits a ``SignalChange`` only when a condition has held for its hold time, and when it has been
clear for its recovery hold.

``DeviceRules.observe(record, now)`` runs the rules a record touches; ``DeviceRules.tick(now)`` advances the
time-based parts (hold and recovery timers, offline, occupation durations) and is called on a schedule by the
gateway with its injected clock, so tests and scenarios step time by hand.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gateway.models import Device, DeviceEvent, DeviceKind, EventType, Reading, Record
from rules.checkpoint import dump as dump_checkpoint
from rules.checkpoint import load as load_checkpoint
from rules.hold import HoldRule, RuleState
from rules.model import SignalChange, SignalKind
from rules.thresholds import Thresholds

__all__ = ["DeviceRules", "HoldRule", "RuleSet", "RuleState"]


@dataclass(slots=True)
class _Occupation:
    """Open camera detections (event id -> start, gateway clock and event time), and the start times of
    recent occupations that lasted long enough to count as one (``lane_repeat_min_s``)."""

    open: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    starts: deque[datetime] = field(default_factory=deque)
    counted: set[str] = field(default_factory=set)

    def count_long(self, now: datetime, min_s: float) -> None:
        """Count every open detection that has now lasted ``min_s`` (once each)."""
        for event_id, (start, _) in self.open.items():
            if event_id not in self.counted and (now - start).total_seconds() >= min_s:
                self.counted.add(event_id)
                self.starts.append(start)


#: Non-camera devices share this one, always empty.
_NO_OCCUPATION = _Occupation()


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


_SPECS: dict[tuple[DeviceKind, Thresholds], dict[SignalKind, tuple[float, float]]] = {}


def _specs(kind: DeviceKind, t: Thresholds) -> dict[SignalKind, tuple[float, float]]:
    """The rules a device kind has, with (hold, recovery) seconds; shared by every device with these
    thresholds."""
    key = (kind, t)
    spec = _SPECS.get(key)
    if spec is None:
        spec = {SignalKind.OFFLINE: (0.0, 0.0)}
        if kind is DeviceKind.SMOKE_DETECTOR:
            spec[SignalKind.DEVICE_FAULT] = (t.fault_hold_s, 0.0)
            spec[SignalKind.TAMPER] = (t.tamper_hold_s, 0.0)
            spec[SignalKind.LOW_BATTERY] = (t.low_battery_hold_s, 0.0)
        elif kind is DeviceKind.HYDRANT:
            # "Without pressure" is one rule, however it began (a sudden drop or a slow fall); its hold is
            # pressure_drop_hold_s for an episode that began with a sudden drop (see DeviceRules._pressure).
            # HYDRANT_PRESSURE_DROP is no rule any more: it only names hazards filed by older versions.
            spec[SignalKind.HYDRANT_LOW_PRESSURE] = (t.pressure_hold_s, t.pressure_recovery_s)
            spec[SignalKind.HYDRANT_HIGH_PRESSURE] = (t.pressure_hold_s, t.pressure_recovery_s)
            spec[SignalKind.HYDRANT_SENSOR_FAULT] = (t.sensor_fault_hold_s, t.status_recovery_s)
            spec[SignalKind.HYDRANT_LEAK] = (t.leak_hold_s, t.status_recovery_s)
            spec[SignalKind.COMM_FAULT] = (t.comm_fault_hold_s, 0.0)
            spec[SignalKind.LOW_BATTERY] = (t.low_battery_hold_s, 0.0)
        elif kind is DeviceKind.CAMERA:
            spec[SignalKind.FIRE_LANE_OCCUPIED] = (0.0, t.lane_recovery_s)
            spec[SignalKind.EVACUATION_BLOCKED] = (0.0, t.evacuation_recovery_s)
            spec[SignalKind.EBIKE_IN_LIFT] = (0.0, t.ebike_recovery_s)
        _SPECS[key] = spec
    return spec


class RuleSet(dict[SignalKind, HoldRule]):
    """A device's rules, each created the first time it is needed.

    A rule that was never touched is INACTIVE, so it need not exist: a city has 200,000 devices and most
    of their rules never leave INACTIVE. ``rules[signal]`` creates it; ``dict.get`` and iteration see only
    the rules that exist; ``has`` says whether the device kind has the rule at all.
    """

    __slots__ = ("spec",)

    def __init__(self, spec: dict[SignalKind, tuple[float, float]]) -> None:
        super().__init__()
        self.spec = spec

    def __missing__(self, signal: SignalKind) -> HoldRule:
        hold_s, recovery_s = self.spec[signal]  # KeyError: this kind of device has no such rule
        rule = self[signal] = HoldRule(signal, hold_s, recovery_s)
        return rule

    def has(self, signal: SignalKind) -> bool:
        return signal in self.spec

    def is_active(self, signal: SignalKind) -> bool:
        rule = dict.get(self, signal)
        return rule is not None and rule.active


class DeviceRules:
    """All rules for one device. Create one per registry device; feed it records and ticks."""

    def __init__(self, device: Device, thresholds: Thresholds, *, started: datetime) -> None:
        self.device = device
        self.t = thresholds
        #: Gateway-clock time of the last record (or of start-up, so a silent device goes offline one
        #: window after the gateway started, not at once).
        self.last_seen = started
        self.rules = RuleSet(_specs(device.kind, thresholds))
        self._last_pressure: tuple[datetime, float] | None = None
        #: The level before a sudden drop, while the pressure stays down (below it minus half the drop).
        self._drop_reference: float | None = None
        #: The open (pending or active) low-pressure episode began with a sudden drop: urgent, short hold.
        self._urgent = False
        camera = device.kind is DeviceKind.CAMERA
        self._lane = _Occupation() if camera else _NO_OCCUPATION
        self._evacuation = _Occupation() if camera else _NO_OCCUPATION
        #: Edges from camera events, emitted with the condition re-evaluation that follows them.
        self._pending_edges: list[tuple[HoldRule, bool | None]] = []
        #: When an e-bike detection started and has not ended (a lost "end" must not hold it forever).
        self._ebike_open_since: datetime | None = None

    # -- queries ---------------------------------------------------------------------------------------

    def active_signals(self) -> list[SignalKind]:
        return [s for s, rule in self.rules.items() if rule.active]

    @property
    def online(self) -> bool:
        return not self.rules.is_active(SignalKind.OFFLINE)

    @property
    def needs_tick(self) -> bool:
        """True while a timer runs (a hold or recovery, an open camera detection, recent lane starts):
        the gateway ticks such devices every second and the rest only on its offline sweep."""
        # Asked after every record: a plain loop, not any() over a generator (measurably cheaper here).
        for rule in self.rules.values():
            state = rule.state
            if state is RuleState.PENDING or state is RuleState.RECOVERING:
                return True
        return bool(self._lane.open or self._lane.starts or self._evacuation.open or self._ebike_open_since)

    def offline_due(self, now: datetime) -> bool:
        """True when a tick at ``now`` would declare the device offline (cheap: swept over every device)."""
        t = self.t
        if t.report_window_s <= 0 or self.rules.is_active(SignalKind.OFFLINE):
            return False
        return (now - self.last_seen).total_seconds() > t.report_window_s + t.offline_grace_s

    def restore(self, signal: SignalKind, since: datetime, now: datetime, detail: str = "") -> None:
        """Continue an open device hazard after a restart (see ``HoldRule.restore_active``); a rule
        ``resume``d active or recovering keeps its state and timers."""
        if self.rules.has(signal) and not self.rules.is_active(signal):
            self.rules[signal].restore_active(since, now, detail)

    def checkpoint(self) -> dict[str, Any]:
        """JSON-able state for a gateway that continues this device (``resume``; rules/checkpoint.py): when it
        was last heard, every rule not INACTIVE, the last pressure reading and how an open low-pressure
        episode began (the level before a sudden drop, urgent or not). Camera detections are not kept."""
        holds = self.rules.values()
        return dump_checkpoint(self.last_seen, holds, self._last_pressure, self._drop_reference, self._urgent)

    def resume(self, data: Mapping[str, Any], now: datetime) -> None:
        """On rules just built, continue from ``checkpoint()`` data (written by this or another gateway): a
        device silent since before goes offline when it would have, a pending hold completes on its time.
        What the data has of unknown signals, states or rules this device does not have is ignored."""
        saved = load_checkpoint(data, now)
        if saved.last_seen is not None:
            self.last_seen = saved.last_seen
        for hold in saved.holds:
            if self.rules.has(hold.signal):
                rule = self.rules[hold.signal]
                rule.state = RuleState(hold.state)
                rule.pending_at, rule.clear_at, rule.since = hold.pending_at, hold.clear_at, hold.since
                rule.detail, rule.value = hold.detail, hold.value
        if self.device.kind is DeviceKind.HYDRANT:
            self._last_pressure = saved.last_pressure
            # The drop state belongs to an open low-pressure episode; without one (an old checkpoint with a
            # "hydrant_pressure_drop" rule, which is ignored) it is dropped too.
            low = dict.get(self.rules, SignalKind.HYDRANT_LOW_PRESSURE)
            if low is not None:
                self._drop_reference, self._urgent = saved.drop_reference, saved.drop_urgent
                if self._urgent:
                    low.hold_s = self.t.pressure_drop_hold_s

    # -- input -----------------------------------------------------------------------------------------

    def observe(self, record: Record, now: datetime) -> list[SignalChange]:
        out: list[SignalChange] = []
        if isinstance(record, DeviceEvent) and record.type is EventType.COMM_FAULT:
            # The poller speaking for a unit that does not answer: no sign of life from the device.
            self._event(record, now, out)
            return out
        self.last_seen = now
        if isinstance(record, DeviceEvent) and record.type is EventType.OFFLINE:
            offline = self.rules[SignalKind.OFFLINE]
            if offline.force(True, now, detail="carrier platform reports the device offline"):
                self._emit(out, offline, True, now)
            return out
        offline_rule = dict.get(self.rules, SignalKind.OFFLINE)
        if offline_rule is not None and offline_rule.active and offline_rule.force(False, now):
            self._emit(out, offline_rule, False, now)
        if isinstance(record, Reading):
            self._reading(record, now, out)
        else:
            self._event(record, now, out)
        return out

    def tick(self, now: datetime) -> list[SignalChange]:
        out: list[SignalChange] = []
        t = self.t
        if t.report_window_s > 0 and not self.rules.is_active(SignalKind.OFFLINE):
            silent_s = (now - self.last_seen).total_seconds()
            if silent_s > t.report_window_s + t.offline_grace_s:
                offline = self.rules[SignalKind.OFFLINE]
                offline.force(True, now, detail=f"nothing heard for {_duration(silent_s)}")
                offline.since = self.last_seen
                self._emit(out, offline, True, now)
        if self.device.kind is DeviceKind.CAMERA:
            self._camera_conditions(now, out)
        for rule in list(self.rules.values()):
            self._edge(out, rule, rule.tick(now), now)
        if self._urgent or self._drop_reference is not None:
            self._settle_episode()
        return out

    # -- per kind --------------------------------------------------------------------------------------

    def _reading(self, reading: Reading, now: datetime, out: list[SignalChange]) -> None:
        m = reading.metrics
        t = self.t
        kind = self.device.kind
        if kind is DeviceKind.SMOKE_DETECTOR and self.device.wire_format == "gbt45839_status":
            # A GB/T 45839 status message is a full snapshot: status 1 (normal) means no fault, not shielded.
            self._step(out, SignalKind.DEVICE_FAULT, False, now, reading.time)
        if kind is DeviceKind.HYDRANT:
            self._step(out, SignalKind.COMM_FAULT, False, now, reading.time)
            pressure = _number(m.get("pressure_mpa"))
            # A sensor that reports its own fault reads garbage: judge the fault, not the pressure.
            if _bool(m.get("sensor_fault")) is True:
                # ...and no hold or recovery timer may complete on the readings from before the fault.
                for signal in (SignalKind.HYDRANT_LOW_PRESSURE, SignalKind.HYDRANT_HIGH_PRESSURE):
                    rule = dict.get(self.rules, signal)
                    if rule is not None:
                        rule.unconfirmed()
                self._settle_episode()
            elif pressure is not None:
                self._pressure(pressure, now, reading.time, out)
            for metric, signal, text in (
                ("sensor_fault", SignalKind.HYDRANT_SENSOR_FAULT, "sensor reports a fault"),
                ("leak", SignalKind.HYDRANT_LEAK, "leak detected"),
            ):
                flag = _bool(m.get(metric))
                if flag is not None:
                    self._step(out, signal, flag, now, reading.time, detail=text)
        battery = _number(m.get("battery_pct"))
        low_flag = _bool(m.get("low_battery")) is True  # hydrant status bit 3
        if (battery is not None or low_flag) and self.rules.has(SignalKind.LOW_BATTERY):
            active = self.rules.is_active(SignalKind.LOW_BATTERY)
            limit = t.low_battery_pct + (t.low_battery_hysteresis_pct if active else 0.0)
            low = low_flag or (battery is not None and battery < limit)
            # The text is only kept while the condition holds: not formatted for every healthy reading.
            detail = ("low battery" if battery is None else f"battery {battery:.0f}%") if low else ""
            self._step(out, SignalKind.LOW_BATTERY, low, now, reading.time, detail, battery)

    def _pressure(self, p: float, now: datetime, seen: datetime, out: list[SignalChange]) -> None:
        """One physical problem, one rule: the hydrant is "without pressure" while the reading is below its
        point's minimum, below its commissioned baseline less ``baseline_drop_share``, or still down after a
        sudden drop (a fall of ``pressure_drop_mpa`` between consecutive readings, until back within half a
        drop of the level before). An episode that began with a sudden drop is urgent and opens after
        ``pressure_drop_hold_s``, any other after ``pressure_hold_s``; either is closed by the same recovery
        (hysteresis and ``pressure_recovery_s``). Over-pressure is another problem and another rule."""
        t = self.t
        rules = self.rules
        low, high = SignalKind.HYDRANT_LOW_PRESSURE, SignalKind.HYDRANT_HIGH_PRESSURE
        low_rule = dict.get(rules, low)
        low_state = RuleState.INACTIVE if low_rule is None else low_rule.state
        low_active = low_state is RuleState.ACTIVE or low_state is RuleState.RECOVERING
        margin = t.pressure_hysteresis_mpa if low_active else 0.0
        below_min = p < t.pressure_min_mpa + margin
        base_limit = t.baseline_mpa * (1.0 - t.baseline_drop_share) if t.baseline_mpa > 0 else 0.0
        below_base = base_limit > 0 and p < base_limit + margin
        previous = self._last_pressure
        self._last_pressure = (now, p)
        sudden = (
            previous is not None
            and (now - previous[0]).total_seconds() <= t.pressure_drop_window_s
            # Rounded: 0.35 - 0.20 is 0.1499999... in binary floating point, and it is a 0.15 MPa fall.
            and round(previous[1] - p, 6) >= t.pressure_drop_mpa
            # Coming down from over-pressure to normal is a recovery, not a burst main.
            and previous[1] <= t.pressure_max_mpa
        )
        if sudden and previous is not None and self._drop_reference is None:
            # With a commissioned baseline, the level to stay below is at most the baseline: coming down from
            # above it (a fire pump stopping after a run) back to the baseline is no loss of pressure.
            level = previous[1] if t.baseline_mpa <= 0 else min(previous[1], t.baseline_mpa)
            self._drop_reference = level
        reference = self._drop_reference
        dropped = reference is not None and p < reference - t.pressure_drop_mpa / 2
        if reference is not None and not dropped:
            self._drop_reference = None  # back near the level before the drop
        holds = below_min or below_base or dropped
        # Texts are only made while the condition holds: formatted then, not for every healthy reading.
        detail = ""
        if holds:
            if dropped and sudden and previous is not None and not low_active and not self._urgent:
                self._urgent = True
                rules[low].hold_s = t.pressure_drop_hold_s
                detail = f"sudden drop from {previous[1]:.2f} to {p:.2f} MPa (urgent)"
            elif not self._urgent:  # an urgent episode keeps the sudden drop as its text
                detail = self._low_detail(p, below_min, below_base, base_limit, reference)
        elif self._urgent and low_state is RuleState.PENDING:
            # Back up before the drop hold passed: a transient (a pump start, a short flow test). The next
            # drop must stay down a whole ``pressure_drop_hold_s`` again.
            rules[low].unconfirmed()
            self._settle_episode()
        self._step(out, low, holds, now, seen, detail, p)
        high_active = rules.is_active(high)
        is_high = p > t.pressure_max_mpa - (t.pressure_hysteresis_mpa if high_active else 0.0)
        detail = f"{p:.2f} MPa > max {t.pressure_max_mpa:.2f} MPa{self._reading_note()}" if is_high else ""
        self._step(out, high, is_high, now, seen, detail, p)
        if self._urgent or self._drop_reference is not None:
            self._settle_episode()

    def _low_detail(
        self, p: float, below_min: bool, below_base: bool, base_limit: float, reference: float | None
    ) -> str:
        t = self.t
        if below_min:
            return f"{p:.2f} MPa < min {t.pressure_min_mpa:.2f} MPa{self._reading_note()}"
        if below_base:
            return (
                f"{p:.2f} MPa < {base_limit:.2f} MPa, more than {t.baseline_drop_share:.0%} below its "
                f"commissioned {t.baseline_mpa:.2f} MPa"
            )
        return f"{p:.2f} MPa, down from {reference or 0.0:.2f} MPa"

    def _reading_note(self) -> str:
        return " (flowing)" if self.device.reading == "flowing" else ""

    def _settle_episode(self) -> None:
        """When no low-pressure episode is open any more, forget how it began."""
        rule = dict.get(self.rules, SignalKind.HYDRANT_LOW_PRESSURE)
        if rule is None or rule.state is RuleState.INACTIVE:
            self._urgent = False
            self._drop_reference = None
            if rule is not None:
                rule.hold_s = self.t.pressure_hold_s

    def _event(self, event: DeviceEvent, now: datetime, out: list[SignalChange]) -> None:
        kind = self.device.kind
        et = event.type
        seen = event.time
        if kind is DeviceKind.SMOKE_DETECTOR:
            if et is EventType.FAULT:
                code = event.attributes.get("fault_code")
                detail = f"fault {code}" if code else "fault"
                self._step(out, SignalKind.DEVICE_FAULT, True, now, seen, detail)
            elif et is EventType.SHIELDED:
                self._step(out, SignalKind.DEVICE_FAULT, True, now, seen, "shielded (disabled)")
            elif et is EventType.FAULT_CLEAR:
                self._step(out, SignalKind.DEVICE_FAULT, False, now, seen)
            elif et is EventType.TAMPER:
                self._step(out, SignalKind.TAMPER, True, now, seen, "removed from its base")
            elif et is EventType.TAMPER_CLEAR:
                self._step(out, SignalKind.TAMPER, False, now, seen)
            elif et is EventType.LOW_BATTERY:
                battery = _number(event.attributes.get("battery_pct"))
                detail = f"battery {battery:.0f}%" if battery is not None else "low battery"
                self._step(out, SignalKind.LOW_BATTERY, True, now, seen, detail, battery)
        elif kind is DeviceKind.HYDRANT:
            if et is EventType.COMM_FAULT:
                reason = event.attributes.get("reason", "")
                detail = f"Modbus unit not answering ({reason})" if reason else "Modbus unit not answering"
                self._step(out, SignalKind.COMM_FAULT, True, now, seen, detail)
            elif et is EventType.COMM_RESTORED:
                self._step(out, SignalKind.COMM_FAULT, False, now, seen)
        elif kind is DeviceKind.CAMERA:
            self._camera_event(event, now)
            self._camera_conditions(now, out)

    def _camera_event(self, event: DeviceEvent, now: datetime) -> None:
        state = event.attributes.get("state")
        event_id = str(event.attributes.get("event_id", ""))
        if event.type is EventType.EBIKE_IN_LIFT:
            rule = self.rules[SignalKind.EBIKE_IN_LIFT]
            detail = "e-bike taken into the lift or lobby"
            self._ebike_open_since = now if state == "start" else None
            edge = rule.observe(state == "start", now, seen_at=event.time, detail=detail)
            self._pending_edges.append((rule, edge))
            return
        occupation = self._lane if event.type is EventType.FIRE_LANE_OCCUPIED else self._evacuation
        if event.type not in (EventType.FIRE_LANE_OCCUPIED, EventType.EVACUATION_BLOCKED):
            return
        if state == "start":
            occupation.open[event_id] = (now, event.time)
        elif state == "end":
            if occupation is self._lane:  # only the fire lane counts repeats (nothing prunes the others)
                occupation.count_long(now, self.t.lane_repeat_min_s)
            occupation.open.pop(event_id, None)
            occupation.counted.discard(event_id)

    def _camera_conditions(self, now: datetime, out: list[SignalChange]) -> None:
        """Re-evaluate the time-dependent camera conditions (durations, repeats in a window) at ``now``."""
        for rule, edge in self._pending_edges:
            self._edge(out, rule, edge, now)
        self._pending_edges.clear()
        t = self.t
        # A detection whose "end" never came (lost message, camera rebooted) ends after camera_event_max_s.
        horizon = now - timedelta(seconds=t.camera_event_max_s)
        for occupation in (self._lane, self._evacuation):
            for event_id in [e for e, (start, _) in occupation.open.items() if start < horizon]:
                if occupation is self._lane:
                    occupation.count_long(now, t.lane_repeat_min_s)
                del occupation.open[event_id]
                occupation.counted.discard(event_id)
        if self._ebike_open_since is not None and self._ebike_open_since < horizon:
            self._ebike_open_since = None
            rule = self.rules[SignalKind.EBIKE_IN_LIFT]
            self._edge(out, rule, rule.observe(False, now), now)
        lane = self._lane
        lane.count_long(now, t.lane_repeat_min_s)
        window_start = now - timedelta(seconds=t.lane_repeat_window_s)
        while lane.starts and lane.starts[0] < window_start:
            lane.starts.popleft()
        longest = _longest(lane, now)
        held_long = longest is not None and (now - longest[0]).total_seconds() >= t.lane_occupied_hold_s
        repeated = len(lane.starts) >= t.lane_repeat_count
        detail = ""
        if held_long and longest is not None:
            detail = f"fire lane occupied for {_duration((now - longest[0]).total_seconds())}"
        elif repeated:
            detail = f"fire lane occupied {len(lane.starts)} times in {_duration(t.lane_repeat_window_s)}"
        seen = longest[1] if longest is not None else now
        self._step(out, SignalKind.FIRE_LANE_OCCUPIED, held_long or repeated, now, seen, detail)
        blocked = _longest(self._evacuation, now)
        blocked_long = blocked is not None and (now - blocked[0]).total_seconds() >= t.evacuation_hold_s
        detail = ""
        if blocked is not None:
            detail = f"evacuation route blocked for {_duration((now - blocked[0]).total_seconds())}"
        seen = blocked[1] if blocked is not None else now
        self._step(out, SignalKind.EVACUATION_BLOCKED, blocked_long, now, seen, detail)

    # -- plumbing --------------------------------------------------------------------------------------

    def _step(
        self,
        out: list[SignalChange],
        signal: SignalKind,
        holds: bool,
        now: datetime,
        seen: datetime,
        detail: str = "",
        value: float | None = None,
    ) -> None:
        rule = dict.get(self.rules, signal)
        if rule is None:
            if not holds or not self.rules.has(signal):
                return  # a rule never touched is inactive: "not holding" changes nothing
            rule = self.rules[signal]
        self._edge(out, rule, rule.observe(holds, now, seen_at=seen, detail=detail, value=value), now)

    def _edge(self, out: list[SignalChange], rule: HoldRule, edge: bool | None, now: datetime) -> None:
        if edge is not None:
            self._emit(out, rule, edge, now)

    def _emit(self, out: list[SignalChange], rule: HoldRule, active: bool, now: datetime) -> None:
        out.append(
            SignalChange(
                device_id=self.device.id,
                estate_id=self.device.estate_id,
                signal=rule.signal,
                active=active,
                at=now,
                since=rule.since or now,
                detail=rule.detail,
                value=rule.value,
            )
        )


def _longest(occupation: _Occupation, now: datetime) -> tuple[datetime, datetime] | None:
    if not occupation.open:
        return None
    return min(occupation.open.values())


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86_400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"
