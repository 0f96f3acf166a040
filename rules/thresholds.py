"""Rule thresholds: defaults per device class, cited from the standards, overridable per device.

Resolution order, most specific last: the field defaults below, the defaults of the device's kind
(``KIND_DEFAULTS``), for hydrants those of the sensor's measuring point (``POINT_DEFAULTS``) and, for a sensor
that reads flowing pressure, the flowing-pressure limits (``FLOWING_DEFAULTS``), then the policy file's
``[thresholds.<kind>]`` table, then the device's own ``thresholds`` in the registry (e.g. a class-1 high-rise
public building with ``pressure_min_mpa = 0.10``). Unknown keys are errors that name the device or table, so
a typo in a registry never silently falls back to a default.

Hydrant pressure is physics (GB 50974-2014): most sensors read static pressure (no water flowing), which
depends on where the sensor sits. The least favourable point (the highest, furthest hydrant, or the roof tank
outlet) reads least; a riser or pump outlet lower down reads more; an outdoor hydrant reads the municipal
mains. Static pressure above 1.0 MPa at a hydrant means the system should have been zoned (§6.2.1). The
0.35 / 0.50 MPa figures of §7.4.12 are the *flowing* pressure at an indoor hydrant outlet and apply only to a
sensor that reads flowing pressure: a static 0.80 MPa at a riser is normal.

Hold times are measured on the gateway's clock (when a message arrived), not on the device's: device clocks
drift, and a device that reconnects replays messages it buffered, which must not look like an hour-long
condition that passed in a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.models import DeviceKind, MeasuringPoint

HOUR = 3600.0
DAY = 86_400.0


class Thresholds(BaseModel):
    """Every number a device rule uses. Durations in seconds, pressures in MPa, battery in percent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # -- offline ---------------------------------------------------------------------------------------
    #: How often the device reports when healthy; 0 disables the offline rule.
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
    #: The measuring point and a flowing-pressure sensor change it (``POINT_DEFAULTS``, ``FLOWING_DEFAULTS``).
    pressure_min_mpa: float = Field(default=0.07, ge=-0.1)
    #: GB 50974-2014 §6.2.1: static pressure at a hydrant outlet above 1.0 MPa requires a zoned system, so a
    #: static reading above it is a zoning or pressure-reducing fault. (The 0.50 MPa of §7.4.12 is a flowing
    #: outlet pressure: ``FLOWING_DEFAULTS``.)
    pressure_max_mpa: float = Field(default=1.0, gt=0)
    #: Below the minimum (or above the maximum) for this long before it is a hazard: pump starts and
    #: hydrant tests cause transients of seconds to minutes.
    pressure_hold_s: float = Field(default=300.0, ge=0)
    #: ...but when the episode began with a sudden drop (``pressure_drop_mpa``) it is a hazard once the
    #: pressure has stayed down this long: a dip of seconds is a pump start or water hammer, a drop that stays
    #: down a whole minute is a closed valve, an emptied tank or a burst main, and it is urgent.
    pressure_drop_hold_s: float = Field(default=60.0, ge=0)
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
    #: The sensor's static pressure when the system was commissioned (or last verified), MPa; 0 = none.
    #: Set per hydrant in the registry. A fall relative to the sensor's own baseline is the most telling sign
    #: of a closed valve or an emptying tank, long before the pressure reaches the code minimum.
    baseline_mpa: float = Field(default=0.0, ge=0)
    #: With a baseline, a reading below ``baseline_mpa * (1 - baseline_drop_share)`` counts as "without
    #: pressure". 30 %: a healthy static reading moves by a few percent (the roof tank level, a few metres
    #: of water, is a few hundredths of a MPa; the mains' day/night swing on an outdoor hydrant is larger but
    #: still well inside 30 %), while a closed valve or an empty tank takes away most of the pressure.
    baseline_drop_share: float = Field(default=0.3, gt=0, lt=1)
    sensor_fault_hold_s: float = Field(default=0.0, ge=0)
    leak_hold_s: float = Field(default=0.0, ge=0)
    #: A Modbus unit that stays unreachable this long is a communication fault (a single lost poll is not).
    comm_fault_hold_s: float = Field(default=300.0, ge=0)
    #: Recovery hold for the status-bit and communication rules.
    status_recovery_s: float = Field(default=300.0, ge=0)

    # -- cameras -------------------------------------------------------------------------------------------
    #: (The offline rule's window for cameras is in ``KIND_DEFAULTS``: cameras send keep-alives.)
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

    @model_validator(mode="after")
    def _limits_in_order(self) -> Thresholds:
        # A minimum at or above the maximum (a flowing sensor's 0.35 MPa floor under a device's 0.30 ceiling)
        # would hold one of the two pressure rules for ever.
        if self.pressure_min_mpa >= self.pressure_max_mpa:
            raise ValueError(
                f"pressure_min_mpa ({self.pressure_min_mpa:g}) must be below pressure_max_mpa "
                f"({self.pressure_max_mpa:g})"
            )
        return self


#: Per-kind defaults that differ from the field defaults above.
KIND_DEFAULTS: dict[DeviceKind, dict[str, float]] = {
    # GB/T 45839-2025: a signal-quality report at least every 24 h; loss of communication within 24 h.
    DeviceKind.SMOKE_DETECTOR: {"report_window_s": DAY, "offline_grace_s": 2 * HOUR},
    # Modbus units are polled every minute; DTUs report every 5-15 min: an hour of silence is an outage.
    DeviceKind.HYDRANT: {"report_window_s": HOUR, "offline_grace_s": 10 * 60.0},
    # Cameras send keep-alives: Hikvision ISAPI alertStream a heartbeat (eventType "videoloss", eventState
    # "inactive") every 10 s on firmware 5.5.0 and later, timed out after 30 s; the ISAPI event subscription
    # a "heartBeat" every 30 s by default (Hikvision Device Network SDK developer guides, V6.1.x); Dahua's
    # eventManager.cgi "Heartbeat" at the period the platform asks for (heartbeat=<s>), typically seconds.
    # A bridge forwarding them to MQTT sends one a minute (``camera_event`` "heartbeat", docs/wire-formats.md
    # §6). Five minutes is several lost keep-alives or a camera rebooting; after five more of grace it is
    # offline and its fire lane is unmonitored (a monitoring fault, not a fire-safety item).
    DeviceKind.CAMERA: {"report_window_s": 300.0, "offline_grace_s": 300.0},
}

#: Hydrant limits per measuring point (static pressure), applied after the kind's defaults.
POINT_DEFAULTS: dict[MeasuringPoint, dict[str, float]] = {
    # GB 50974-2014 §5.2.2: the roof tank must give the least favourable point >= 0.07 MPa static (high-rise
    # homes, class-2 high-rise and multi-storey public buildings; 0.10 class-1 high-rise public, 0.15 above
    # 100 m: per device). Ceiling: the field default, 1.0 MPa static at a hydrant (§6.2.1).
    MeasuringPoint.LEAST_FAVOURABLE: {"pressure_min_mpa": 0.07},
    # A riser or pump outlet sits below the least favourable point, so it reads that point's pressure plus the
    # height between them (0.01 MPa per metre). The height is not in the registry, so the least favourable
    # point's 0.07 MPa is the only floor that is always right: below it no hydrant on the riser can have its
    # static minimum. Raise it per device (e.g. 0.07 + 0.01 x height difference in m). Ceiling 1.0 MPa: the
    # hydrants at the sensor's own level see about what it reads, and §6.2.1 zones a system above 1.0 MPa
    # static at a hydrant (a pump outlet feeding a zoned system may be set up to the 2.40 MPa system working
    # pressure of §6.2.1 per device).
    MeasuringPoint.RISER: {"pressure_min_mpa": 0.07, "pressure_max_mpa": 1.0},
    # GB 55036-2022 §3.0.3 (and GB 50974-2014 §7.2.8): municipal mains with hydrants run at >= 0.14 MPa in
    # normal operation.
    MeasuringPoint.OUTDOOR_MAINS: {"pressure_min_mpa": 0.14},
    # Not known: the least favourable point's floor (the lowest any healthy sensor should read) and the
    # static ceiling at a hydrant.
    MeasuringPoint.UNKNOWN: {"pressure_min_mpa": 0.07, "pressure_max_mpa": 1.0},
}

#: A sensor that reads the flowing (dynamic) pressure at an indoor hydrant outlet: GB 50974-2014 §7.4.12,
#: >= 0.35 MPa for high-rise buildings (>= 0.25 MPa elsewhere: set per device) and <= 0.50 MPa. Applied after
#: the point's defaults.
FLOWING_DEFAULTS: dict[str, float] = {"pressure_min_mpa": 0.35, "pressure_max_mpa": 0.50}

#: ...except at an outdoor hydrant on the municipal mains: during a fire the least favourable municipal
#: hydrant delivers >= 0.10 MPa from the ground (GB 50974-2014 §7.2.8); §7.4.12's 0.50 MPa is for indoor
#: outlets (a hose held by hand), not for a hydrant a fire engine draws from.
FLOWING_POINT_DEFAULTS: dict[MeasuringPoint, dict[str, float]] = {
    MeasuringPoint.OUTDOOR_MAINS: {"pressure_min_mpa": 0.10, "pressure_max_mpa": 1.0},
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
    point: MeasuringPoint = MeasuringPoint.UNKNOWN,
    reading: Literal["static", "flowing"] = "static",
) -> Thresholds:
    """Thresholds for one device: kind defaults, for hydrants the measuring point's (and flowing-pressure)
    defaults, then the policy's table for the kind, then the device's own."""
    values: dict[str, float] = dict(KIND_DEFAULTS.get(kind, {}))
    if kind is DeviceKind.HYDRANT:
        values.update(POINT_DEFAULTS.get(point, {}))
        if reading == "flowing":
            values.update(FLOWING_POINT_DEFAULTS.get(point, FLOWING_DEFAULTS))
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
        problems = "; ".join(_problem(e["loc"], e["msg"]) for e in exc.errors())
        raise ThresholdError(f"{where or kind.value}: {problems}") from None


def _problem(loc: tuple[int | str, ...], msg: str) -> str:
    msg = msg.removeprefix("Value error, ")
    return f"{'.'.join(map(str, loc))}: {msg}" if loc else msg
