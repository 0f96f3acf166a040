"""Rule thresholds: defaults per device class, cited from the standards, overridable per device.

Resolution order, most specific last: the defaults below, then the policy file's ``[thresholds.<kind>]``
table, then the device's own ``thresholds`` in the registry (e.g. an outdoor hydrant on the municipal mains
with ``pressure_min_mpa = 0.14``). Unknown keys are errors that name the device or table, so a typo in a
registry never silently falls back to a default.

Hold times are measured on the gateway's clock (when a message arrived), not on the device's: device clocks
drift, and a device that reconnects replays messages it buffered, which must not look like an hour-long
condition that passed in a second.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.models import DeviceKind

HOUR = 3600.0
DAY = 86_400.0


class Thresholds(BaseModel):
    """Every number a device rule uses. Durations in seconds, pressures in MPa, battery in percent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # -- offline ---------------------------------------------------------------------------------------
    #: How often the device reports when healthy; 0 disables the offline rule (cameras only send events).
    report_window_s: float = Field(default=DAY, ge=0)
    #: Extra time before "offline": one late heartbeat is not an outage.
    offline_grace_s: float = Field(default=2 * HOUR, ge=0)

    # -- smoke detectors and battery-powered sensors ---------------------------------------------------
    #: GB/T 45839-2025: a device fault must be shown within 100 s, so no hold by default.
    fault_hold_s: float = Field(default=0.0, ge=0)
    tamper_hold_s: float = Field(default=0.0, ge=0)
    #: Below this the battery is low (detectors chirp and report ``low_battery`` on their own, ~20 %).
    low_battery_pct: float = Field(default=20.0, ge=0, le=100)
    #: "Low battery left unfixed": a hazard only when nobody replaced it within this time.
    low_battery_hold_s: float = Field(default=3 * DAY, ge=0)
    #: The battery counts as replaced only above ``low_battery_pct`` plus this margin.
    low_battery_hysteresis_pct: float = Field(default=5.0, ge=0)

    # -- hydrants ----------------------------------------------------------------------------------------
    #: GB 50974-2014 §5.2.2: static pressure at the least favourable point >= 0.07 MPa (high-rise homes;
    #: 0.10 for class-1 high-rise public buildings, 0.15 above 100 m: set per hydrant in the registry).
    pressure_min_mpa: float = Field(default=0.07, ge=-0.1)
    #: GB 50974-2014 §7.4.12: hydrant outlet pressure <= 0.50 MPa.
    pressure_max_mpa: float = Field(default=0.50, gt=0)
    #: Below the minimum (or above the maximum) for this long before it is a hazard: pump starts and
    #: hydrant tests cause transients of seconds to minutes.
    pressure_hold_s: float = Field(default=300.0, ge=0)
    #: Healthy for this long before a pressure hazard closes itself.
    pressure_recovery_s: float = Field(default=600.0, ge=0)
    #: Value hysteresis: low pressure resolves only at ``min + hysteresis``, high only at
    #: ``max - hysteresis``, so a sensor hovering around a threshold does not flap.
    pressure_hysteresis_mpa: float = Field(default=0.02, ge=0)
    #: A fall of at least this much between consecutive readings is a sudden drop (a burst main, an opened
    #: hydrant) even while the pressure is still above the minimum.
    pressure_drop_mpa: float = Field(default=0.15, gt=0)
    #: Consecutive readings further apart than this are not compared for a drop.
    pressure_drop_window_s: float = Field(default=900.0, gt=0)
    sensor_fault_hold_s: float = Field(default=0.0, ge=0)
    leak_hold_s: float = Field(default=0.0, ge=0)
    #: A Modbus unit that stays unreachable this long is a communication fault (a single lost poll is not).
    comm_fault_hold_s: float = Field(default=300.0, ge=0)
    #: Recovery hold for the status-bit and communication rules.
    status_recovery_s: float = Field(default=300.0, ge=0)

    # -- cameras -------------------------------------------------------------------------------------------
    #: Fire lane occupied continuously this long (a delivery van stopping is not a hazard).
    lane_occupied_hold_s: float = Field(default=600.0, ge=0)
    #: ...or occupied this many times within ``lane_repeat_window_s`` (the same lane blocked every evening).
    lane_repeat_count: int = Field(default=3, ge=1)
    lane_repeat_window_s: float = Field(default=DAY, gt=0)
    #: Only occupations lasting this long count toward the repeats (a car stopping for a few minutes to
    #: drop someone off is not an occupation; one parked for five is).
    lane_repeat_min_s: float = Field(default=300.0, ge=0)
    lane_recovery_s: float = Field(default=600.0, ge=0)
    evacuation_hold_s: float = Field(default=300.0, ge=0)
    evacuation_recovery_s: float = Field(default=600.0, ge=0)
    #: An e-bike taken into a lift is a hazard at once; it is resolved after this long without another.
    ebike_recovery_s: float = Field(default=HOUR, ge=0)
    #: A camera detection whose "end" never arrives (lost message, camera rebooted) is taken as ended after
    #: this long, so one lost message cannot hold a hazard open for ever.
    camera_event_max_s: float = Field(default=6 * HOUR, gt=0)


#: Per-kind defaults that differ from the field defaults above.
KIND_DEFAULTS: dict[DeviceKind, dict[str, float]] = {
    # GB/T 45839-2025: a signal-quality report at least every 24 h; loss of communication within 24 h.
    DeviceKind.SMOKE_DETECTOR: {"report_window_s": DAY, "offline_grace_s": 2 * HOUR},
    # Modbus units are polled every minute; DTUs report every 5-15 min: an hour of silence is an outage.
    DeviceKind.HYDRANT: {"report_window_s": HOUR, "offline_grace_s": 10 * 60.0},
    # Cameras only send detections (no heartbeat on the wire format), so silence means nothing.
    DeviceKind.CAMERA: {"report_window_s": 0.0},
}

THRESHOLD_KEYS: frozenset[str] = frozenset(Thresholds.model_fields)


class ThresholdError(ValueError):
    """A threshold key or value is wrong; the message names where it came from."""


def resolve_thresholds(
    kind: DeviceKind,
    policy_overrides: Mapping[str, float] | None = None,
    device_overrides: Mapping[str, float] | None = None,
    *,
    where: str = "",
) -> Thresholds:
    """Thresholds for one device: kind defaults, then the policy's table for the kind, then the device's."""
    values: dict[str, float] = dict(KIND_DEFAULTS.get(kind, {}))
    for source, overrides in (("policy", policy_overrides), (where or "device", device_overrides)):
        if not overrides:
            continue
        unknown = sorted(set(overrides) - THRESHOLD_KEYS)
        if unknown:
            known = ", ".join(sorted(THRESHOLD_KEYS))
            raise ThresholdError(f"{source}: unknown threshold(s) {', '.join(unknown)}; known: {known}")
        values.update(overrides)
    try:
        return Thresholds.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ThresholdError(f"{where or kind.value}: {problems}") from None
