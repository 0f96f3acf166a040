"""设施完好率, the facility intact rate: which device-days of the month had a failed fire facility.

The share of device-days without a failure: over every smoke detector and hydrant sensor of the estates
(cameras watch the estate, not its fire facilities) and every day of the month up to now, a device-day is
failed when any failure signal of the device (offline, fault, tamper, low battery, Modbus communication,
low/high pressure, sudden drop, sensor fault, leak) was active at any time that day, as the gateway
recorded it in ``signal_changes`` (from the moment the rule became active, after its hold time, to the
moment it resolved). The signal rows come from ``gateway.reports.monthly.queries.signal_history``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import RowMapping

from gateway.models import Device, DeviceKind
from gateway.reports.monthly.model import KindIntact
from rules.model import SignalKind

#: Signals that mean a fire facility is not intact (camera signals are about the estate, not a facility).
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


def intact(device_days: int, failed: int) -> float | None:
    """The intact rate of ``device_days`` of which ``failed`` failed; None for no device-days."""
    return (device_days - failed) / device_days if device_days else None


def failed_days(
    initial: Iterable[RowMapping],
    changes: Iterable[RowMapping],
    start: datetime,
    cutoff: datetime,
    days: list[date],
    tz: ZoneInfo,
) -> dict[str, set[int]]:
    """Per device, the indexes of the month's ``days`` on which a failure signal was active at some time,
    from the signals active at ``start`` and the month's changes in order."""
    if not days:
        return {}
    first = days[0]
    last = len(days) - 1

    def index(moment: datetime) -> int:
        return min(last, max(0, (moment.astimezone(tz).date() - first).days))

    active: dict[str, set[str]] = defaultdict(set)
    since: dict[str, datetime] = {}
    failed: dict[str, set[int]] = defaultdict(set)

    def mark(device: str, a: datetime, b: datetime) -> None:
        b = min(b, cutoff)
        if b > a:
            failed[device].update(range(index(a), index(b - timedelta(microseconds=1)) + 1))
        elif b == a and a < cutoff:
            failed[device].add(index(a))

    for row in initial:
        active[row["device_id"]].add(row["signal"])
        since[row["device_id"]] = start
    for row in changes:
        device = row["device_id"]
        if row["at"] >= cutoff:
            break
        was = bool(active[device])
        if row["active"]:
            active[device].add(row["signal"])
        else:
            active[device].discard(row["signal"])
        if not was and active[device]:
            since[device] = row["at"]
        elif was and not active[device]:
            mark(device, since.pop(device), row["at"])
    for device, held in active.items():
        if held and device in since:
            mark(device, since[device], cutoff)
    return {device: idx for device, idx in failed.items() if device and idx}


@dataclass(frozen=True, slots=True)
class FacilityFigures:
    device_days: int
    failed_device_days: int
    by_kind: list[KindIntact]
    #: Device-days and failed device-days of each estate.
    estate_days: Counter[str]
    estate_failed: Counter[str]


def facility_figures(
    devices: Iterable[Device], estate_ids: Container[str], failed: dict[str, set[int]], n_days: int
) -> FacilityFigures:
    """The device-day counts of the fire facilities (``FACILITY_KINDS``) of the estates, over ``n_days``."""
    chosen: Sequence[Device] = [d for d in devices if d.estate_id in estate_ids and d.kind in FACILITY_KINDS]
    estate_days: Counter[str] = Counter()
    estate_failed: Counter[str] = Counter()
    kind_devices: Counter[DeviceKind] = Counter()
    kind_failed: Counter[DeviceKind] = Counter()
    for device in chosen:
        bad = len(failed.get(device.id, ()))
        estate_days[device.estate_id] += n_days
        estate_failed[device.estate_id] += bad
        kind_devices[device.kind] += 1
        kind_failed[device.kind] += bad
    by_kind = [
        KindIntact(
            kind=kind.value,
            zh=KIND_ZH[kind],
            en=KIND_EN[kind],
            devices=kind_devices[kind],
            device_days=kind_devices[kind] * n_days,
            failed_device_days=kind_failed[kind],
            intact_rate=intact(kind_devices[kind] * n_days, kind_failed[kind]),
        )
        for kind in FACILITY_KINDS
    ]
    return FacilityFigures(
        device_days=len(chosen) * n_days,
        failed_device_days=sum(kind_failed.values()),
        by_kind=by_kind,
        estate_days=estate_days,
        estate_failed=estate_failed,
    )
