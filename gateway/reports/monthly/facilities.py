"""设施完好率, the facility intact rate: facility-hours intact ÷ facility-hours monitored (domain.md,
"Assessment of property companies"; seed 001 §(二)7).

What is counted, for every smoke detector and hydrant sensor of the estates (cameras watch the estate, not
its fire facilities) from the start of the month up to the cutoff (its end, or now for the month in
progress), as the gateway recorded the device's signals in ``signal_changes`` (a signal counts from the
moment its rule became active, after its hold time, to the moment it resolved):

- **Not monitored**: the hours in which a monitoring fault of the device was active, a signal the policy's
  ``[monitoring]`` lists for the device's kind (``Policy.is_monitoring_fault``: by default a pressure sensor
  offline, in Modbus communication fault or in sensor fault, a low battery). The monitoring gear failed, so
  the facility's state is unknown, neither intact nor failed: these hours leave both the numerator and the
  denominator, and are shown apart.
- **Monitored**: every other hour. Of them **failed**: the hours in which a facility fault was active, a
  signal of ``FAILURE_SIGNALS`` that is not a monitoring fault of the kind (a smoke detector in fault,
  removed, or offline past its report window, since nothing else in the home detects smoke; a hydrant with
  low, high or suddenly dropped pressure, or leaking). The rest are **intact**.

The rate is intact hours ÷ monitored hours, per device kind, per estate and in all; no monitored hours, no
rate. The signal rows come from ``gateway.reports.monthly.queries.signal_history``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.models import Device, DeviceKind
from gateway.reports.monthly.model import KindIntact
from rules.model import SignalKind
from rules.policy import Policy

#: Signals that mean a fire facility is not intact, unless the policy makes one a monitoring fault of the
#: device's kind (camera signals are about the estate, not a facility).
FAILURE_SIGNALS: frozenset[SignalKind] = frozenset(
    {
        SignalKind.OFFLINE,
        SignalKind.DEVICE_FAULT,
        SignalKind.TAMPER,
        SignalKind.LOW_BATTERY,
        SignalKind.COMM_FAULT,
        SignalKind.HYDRANT_LOW_PRESSURE,
        SignalKind.HYDRANT_HIGH_PRESSURE,
        SignalKind.HYDRANT_PRESSURE_DROP,
        SignalKind.HYDRANT_SENSOR_FAULT,
        SignalKind.HYDRANT_LEAK,
    }
)
FACILITY_KINDS: tuple[DeviceKind, ...] = (DeviceKind.SMOKE_DETECTOR, DeviceKind.HYDRANT)
KIND_ZH = {
    DeviceKind.SMOKE_DETECTOR: "独立式烟感",
    DeviceKind.HYDRANT: "消火栓水压",
    DeviceKind.CAMERA: "摄像机",
}
KIND_EN = {DeviceKind.SMOKE_DETECTOR: "smoke detectors", DeviceKind.HYDRANT: "hydrant sensors"}
HOUR_S = 3600.0


def intact(monitored_hours: float, failed_hours: float) -> float | None:
    """The intact rate of ``monitored_hours`` of which ``failed_hours`` failed; None for none monitored."""
    return (monitored_hours - failed_hours) / monitored_hours if monitored_hours > 0 else None


def facility_signals(policy: Policy) -> frozenset[SignalKind]:
    """The signals the rate reads: facility faults and the facility kinds' monitoring faults."""
    monitoring = {s for kind in FACILITY_KINDS for s in SignalKind if policy.is_monitoring_fault(kind, s)}
    return FAILURE_SIGNALS | monitoring


@dataclass(frozen=True, slots=True)
class DeviceHours:
    """One device's hours of the period that were not monitored (a monitoring fault), and of the monitored
    ones, failed (a facility fault)."""

    unmonitored: float = 0.0
    failed: float = 0.0


def device_hours(
    initial: Iterable[Mapping[Any, Any]],
    changes: Iterable[Mapping[Any, Any]],
    devices: Mapping[str, Device],
    policy: Policy,
    start: datetime,
    cutoff: datetime,
) -> dict[str, DeviceHours]:
    """Per facility device with a monitoring or facility fault in ``[start, cutoff)``: its hours not
    monitored and failed, from the signals active at ``start`` and the period's changes in order
    (``queries.signal_history`` with ``facility_signals``). Devices without one are absent: all their hours
    were monitored and intact."""
    monitoring: dict[DeviceKind, set[str]] = {}
    failure: dict[DeviceKind, set[str]] = {}
    for kind in FACILITY_KINDS:
        monitoring[kind] = {s.value for s in SignalKind if policy.is_monitoring_fault(kind, s)}
        failure[kind] = {s.value for s in FAILURE_SIGNALS if not policy.is_monitoring_fault(kind, s)}

    active: dict[str, set[str]] = defaultdict(set)
    since: dict[str, datetime] = {}
    unmonitored: dict[str, float] = defaultdict(float)
    failed: dict[str, float] = defaultdict(float)

    def close(device_id: str, until: datetime) -> None:
        """Count the time since the device's last change by the signals active over it."""
        kind = devices[device_id].kind
        held = active[device_id]
        seconds = (min(until, cutoff) - since[device_id]).total_seconds()
        if seconds <= 0:
            return
        if held & monitoring[kind]:
            unmonitored[device_id] += seconds
        elif held & failure[kind]:
            failed[device_id] += seconds

    def wanted(device_id: str) -> bool:
        device = devices.get(device_id)
        return device is not None and device.kind in FACILITY_KINDS

    for row in initial:
        if wanted(row["device_id"]):
            active[row["device_id"]].add(row["signal"])
            since[row["device_id"]] = start
    for row in changes:
        device_id = row["device_id"]
        if row["at"] >= cutoff:
            break
        if not wanted(device_id):
            continue
        moment = max(row["at"], start)
        if device_id in since:
            close(device_id, moment)
        since[device_id] = moment
        if row["active"]:
            active[device_id].add(row["signal"])
        else:
            active[device_id].discard(row["signal"])
    for device_id in since:
        close(device_id, cutoff)
    return {
        device_id: DeviceHours(unmonitored[device_id] / HOUR_S, failed[device_id] / HOUR_S)
        for device_id in unmonitored.keys() | failed.keys()
    }


@dataclass(frozen=True, slots=True)
class FacilityFigures:
    #: Facility-hours monitored, of them failed, and facility-hours not monitored (left out of the rate).
    monitored_hours: float
    failed_hours: float
    unmonitored_hours: float
    by_kind: list[KindIntact]
    #: Per estate: facility-hours monitored, failed, not monitored.
    estate_monitored: dict[str, float]
    estate_failed: dict[str, float]
    estate_unmonitored: dict[str, float]


def facility_figures(
    devices: Iterable[Device], estate_ids: Container[str], hours: Mapping[str, DeviceHours], period_h: float
) -> FacilityFigures:
    """The facility-hours of the fire facilities (``FACILITY_KINDS``) of the estates, over ``period_h``
    hours, from ``device_hours``."""
    chosen: Sequence[Device] = [d for d in devices if d.estate_id in estate_ids and d.kind in FACILITY_KINDS]
    estate_monitored: dict[str, float] = defaultdict(float)
    estate_failed: dict[str, float] = defaultdict(float)
    estate_unmonitored: dict[str, float] = defaultdict(float)
    kind_devices: Counter[DeviceKind] = Counter()
    kind_monitored: dict[DeviceKind, float] = defaultdict(float)
    kind_failed: dict[DeviceKind, float] = defaultdict(float)
    kind_unmonitored: dict[DeviceKind, float] = defaultdict(float)
    for device in chosen:
        h = hours.get(device.id, DeviceHours())
        monitored = period_h - h.unmonitored
        estate_monitored[device.estate_id] += monitored
        estate_failed[device.estate_id] += h.failed
        estate_unmonitored[device.estate_id] += h.unmonitored
        kind_devices[device.kind] += 1
        kind_monitored[device.kind] += monitored
        kind_failed[device.kind] += h.failed
        kind_unmonitored[device.kind] += h.unmonitored
    by_kind = [
        KindIntact(
            kind=kind.value,
            zh=KIND_ZH[kind],
            en=KIND_EN[kind],
            devices=kind_devices[kind],
            monitored_hours=kind_monitored[kind],
            failed_hours=kind_failed[kind],
            unmonitored_hours=kind_unmonitored[kind],
            intact_rate=intact(kind_monitored[kind], kind_failed[kind]),
        )
        for kind in FACILITY_KINDS
    ]
    return FacilityFigures(
        monitored_hours=sum(kind_monitored.values()),
        failed_hours=sum(kind_failed.values()),
        unmonitored_hours=sum(kind_unmonitored.values()),
        by_kind=by_kind,
        estate_monitored=dict(estate_monitored),
        estate_failed=dict(estate_failed),
        estate_unmonitored=dict(estate_unmonitored),
    )
