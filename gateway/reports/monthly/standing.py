"""Where each estate stood at the end of the month (or now, for the month in progress), beside its grade:
its latest assessment (排查登记) and until when it holds, the green conditions whose evidence was due, and
its monitoring coverage.

- **Assessment**: the latest assessment record that had taken place and was not voided at the cutoff; it
  holds for the policy's ``[assessment] valid_for``.
- **Conditions due**: the green conditions without current evidence at the cutoff: never evidenced, or the
  latest record that may evidence the condition (``[conditions]``: which kinds, how long) has run out. A
  condition an assessment found not to hold is not "due" (it is a finding, and it shows in the grade).
- **Monitoring coverage**: the share of the estate's monitored devices (those with a reporting window, as the
  rule engine counts them) without a monitoring fault at the cutoff: a signal the policy's ``[monitoring]``
  lists for the device's kind (a pressure sensor offline, a low battery, a camera offline), active as the
  gateway recorded it in ``signal_changes``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import RowMapping

from gateway.models import Device, DeviceKind
from rules.policy import Policy
from rules.thresholds import ThresholdError, Thresholds


@dataclass(frozen=True, slots=True)
class Standing:
    assessed_at: datetime | None = None
    assessment_valid_until: datetime | None = None
    conditions_due: tuple[str, ...] = ()
    monitored: int = 0
    monitoring_faults: int = 0

    @property
    def coverage(self) -> float | None:
        return (self.monitored - self.monitoring_faults) / self.monitored if self.monitored else None


def assessment_standing(
    evidence: Iterable[RowMapping], policy: Policy, cutoff: datetime
) -> dict[str, tuple[datetime | None, datetime | None, tuple[str, ...]]]:
    """Per estate with any record: (latest assessment, until when it holds, the conditions due), from the
    records as they stood at ``cutoff`` (``queries.evidence_until``), oldest first."""
    by_estate: dict[str, list[RowMapping]] = defaultdict(list)
    for row in evidence:
        by_estate[row["estate_id"]].append(row)
    out: dict[str, tuple[datetime | None, datetime | None, tuple[str, ...]]] = {}
    for estate_id, rows in by_estate.items():
        assessed = max((r["at"] for r in rows if r["kind"] == "assessment"), default=None)
        until = assessed + policy.assessment.valid_for if assessed is not None else None
        out[estate_id] = (assessed, until, conditions_due(rows, policy, cutoff))
    return out


def conditions_due(rows: Iterable[RowMapping], policy: Policy, cutoff: datetime) -> tuple[str, ...]:
    """The green conditions of one estate without current evidence at ``cutoff``, in the standard's order."""
    latest: dict[str, tuple[datetime, bool]] = {}  # code -> (at, found not to hold)
    for row in rows:
        for field, not_met in (("met", False), ("not_met", True)):
            for code in row[field] or []:
                condition = policy.conditions.get(code)
                if condition is None or not condition.accepts(row["kind"]):
                    continue
                if code not in latest or row["at"] >= latest[code][0]:
                    latest[code] = (row["at"], not_met)
    due = []
    for code in policy.green_conditions():
        condition = policy.conditions.get(code)
        if condition is None:
            continue
        last = latest.get(code)
        if last is None or (not last[1] and last[0] + condition.valid_for <= cutoff):
            due.append(code)
    return tuple(due)


def monitored_devices(
    devices: Iterable[Device], estate_ids: Mapping[str, object], policy: Policy
) -> dict[str, int]:
    """Per estate, the devices that must report (a reporting window under their thresholds)."""
    resolved: dict[tuple[DeviceKind, str, str, tuple[tuple[str, float], ...]], Thresholds | None] = {}
    out: dict[str, int] = defaultdict(int)
    for device in devices:
        if device.estate_id not in estate_ids:
            continue
        key = (device.kind, device.point, device.reading, tuple(sorted(device.thresholds.items())))
        if key not in resolved:
            try:
                resolved[key] = policy.thresholds_for(
                    device.kind,
                    device.thresholds,
                    f"device {device.id}",
                    point=device.point,
                    reading=device.reading,
                )
            except ThresholdError:
                resolved[key] = None
        thresholds = resolved[key]
        if thresholds is not None and thresholds.report_window_s > 0:
            out[device.estate_id] += 1
    return out


def monitoring_faults_at(
    initial: Iterable[RowMapping],
    changes: Iterable[RowMapping],
    devices: Mapping[str, Device],
    policy: Policy,
    cutoff: datetime,
) -> dict[str, int]:
    """Per estate, the devices with a monitoring fault active at ``cutoff``, from the signals active when the
    month began and the month's changes in order (``queries.signal_history``)."""
    active: dict[str, set[str]] = defaultdict(set)
    for row in initial:
        active[row["device_id"]].add(row["signal"])
    for row in changes:
        if row["at"] >= cutoff:
            break
        if row["active"]:
            active[row["device_id"]].add(row["signal"])
        else:
            active[row["device_id"]].discard(row["signal"])
    out: dict[str, int] = defaultdict(int)
    for device_id, signals in active.items():
        device = devices.get(device_id)
        if device is None:
            continue
        faults = {s.value for s in policy.monitoring.get(device.kind, ())}
        if signals & faults:
            out[device.estate_id] += 1
    return out
