"""What grading reads, indexed in memory: open hazards per estate, complaint and fire dates per estate.

Re-grading an estate then costs microseconds and re-grading every estate of a city a fraction of a second;
the store stays the record. The index is filled from the store at start-up, kept up to date by every change
the casework makes, and read back whole after a rolled-back batch left it ahead of the store.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from gateway.models import Device
from gateway.store.records import FireRecord, HazardRecord
from rules.grading import Evidence, OpenHazard
from rules.lifecycle import is_overdue
from rules.model import SignalKind
from rules.policy import Policy
from rules.texts import stored_description_en


class CaseIndex:
    def __init__(
        self, devices: dict[str, Device], estate_version: dict[str, int], policy: Policy | None = None
    ) -> None:
        """``estate_version`` is the engine's per-estate change counter, bumped on every change here.
        ``policy``: a device hazard is graded by what the policy in force says its signal is an item of, not
        by the criteria written on it when it opened (a policy changed since, or an upgrade that made a
        sensor offline a monitoring fault, applies to hazards already open)."""
        self._devices = devices
        self._policy = policy
        self.estate_version = estate_version
        #: Per estate, the open hazards as grading sees them, and as the store returned them.
        self.open: dict[str, dict[int, OpenHazard]] = defaultdict(dict)
        self.open_records: dict[str, dict[int, HazardRecord]] = defaultdict(dict)
        #: The open hazard of a (device, signal), if any.
        self.by_signal: dict[tuple[str, str], int] = {}
        self.complaint_times: dict[str, list[datetime]] = defaultdict(list)
        self.fire_times: dict[str, list[tuple[datetime, bool]]] = defaultdict(list)
        #: Ids of the complaints and fires counted in ``complaint_times`` and ``fire_times``.
        self.complaint_ids: set[int] = set()
        self.fire_ids: set[int] = set()
        #: Per estate, the counted complaints as (id, received).
        self.complaints_of: dict[str, list[tuple[int, datetime]]] = defaultdict(list)
        #: Per estate, the assessments and later evidence of its green conditions (``Evidence``).
        self.evidence: dict[str, list[Evidence]] = defaultdict(list)
        #: Estates the office set out of use (the four-colour policy's grey).
        self.out_of_use: set[str] = set()

    def add(self, hazard: HazardRecord) -> None:
        """Index an open hazard (or its newer version)."""
        device = self._devices.get(hazard.device_id or "")
        criteria = tuple(hazard.criteria)
        if self._policy is not None and device is not None and hazard.source == "device" and hazard.signal:
            with contextlib.suppress(ValueError):  # a signal this version does not know: as written
                criteria = tuple(self._policy.criteria_for(device.kind, SignalKind(hazard.signal)))
        self.open[hazard.estate_id][hazard.id] = OpenHazard(
            hazard_id=str(hazard.id),
            criteria=criteria,
            detail=hazard.description,
            since=hazard.since,
            source=hazard.source,
            device_id=hazard.device_id or "",
            device_kind=device.kind if device else None,
            signal=hazard.signal or "",
            place=hazard.location or (device.location if device else ""),
            detail_en=stored_description_en(device, hazard.signal, hazard.value)
            if device is not None and hazard.source == "device" and hazard.signal
            else "",
        )
        self.open_records[hazard.estate_id][hazard.id] = hazard
        self.estate_version[hazard.estate_id] += 1
        if hazard.device_id and hazard.signal:
            self.by_signal[(hazard.device_id, hazard.signal)] = hazard.id

    def remove(self, hazard: HazardRecord) -> None:
        self.open[hazard.estate_id].pop(hazard.id, None)
        self.open_records[hazard.estate_id].pop(hazard.id, None)
        self.estate_version[hazard.estate_id] += 1
        if hazard.device_id and hazard.signal:
            self.by_signal.pop((hazard.device_id, hazard.signal), None)

    def replace(self, records: Iterable[HazardRecord]) -> set[str]:
        """Index exactly ``records`` (read back from the store); returns the estates whose hazards may have
        changed."""
        estates = {estate_id for estate_id, hazards in self.open.items() if hazards}
        self.open.clear()
        self.open_records.clear()
        self.by_signal.clear()
        for hazard in records:
            self.add(hazard)
            estates.add(hazard.estate_id)
        for estate_id in estates:
            self.estate_version[estate_id] += 1
        return estates

    def record(self, estate_id: str, hazard_id: int) -> HazardRecord | None:
        return self.open_records.get(estate_id, {}).get(hazard_id)

    def overdue_count(self, estate_id: str, now: datetime) -> int:
        records = self.open_records.get(estate_id, {}).values()
        return sum(1 for h in records if is_overdue(h.state, h.deadline, now))

    def count_complaint(self, complaint_id: int, estate_id: str, received_at: datetime) -> None:
        self.complaint_ids.add(complaint_id)
        self.complaint_times[estate_id].append(received_at)
        self.complaints_of[estate_id].append((complaint_id, received_at))

    def count_fire(self, fire: FireRecord) -> None:
        self.fire_ids.add(fire.id)
        self.fire_times[fire.estate_id].append((fire.occurred_at, fire.fatal or fire.high_impact))

    def set_complaints(self, estate_id: str, complaints: Iterable[tuple[int, datetime]]) -> None:
        """Count exactly ``complaints`` (id, received) for the estate: the distinct incidents, without the
        voided complaints and those merged into another."""
        old = self.complaint_times.get(estate_id, [])
        pairs = list(complaints)
        self.complaint_ids.difference_update(cid for cid, _ in self.complaints_of.get(estate_id, []))
        self.complaints_of[estate_id] = pairs
        self.complaint_ids.update(cid for cid, _ in pairs)
        self.complaint_times[estate_id] = sorted(received for _, received in pairs)
        if old != self.complaint_times[estate_id]:
            self.estate_version[estate_id] += 1

    def add_evidence(self, estate_id: str, evidence: Evidence) -> None:
        """An assessment or a later record of green conditions (or its newer version: same record id)."""
        records = self.evidence[estate_id]
        records[:] = [e for e in records if e.record_id != evidence.record_id]
        records.append(evidence)
        self.estate_version[estate_id] += 1

    def remove_evidence(self, estate_id: str, record_id: int) -> None:
        """A voided record no longer evidences anything."""
        records = self.evidence.get(estate_id, [])
        records[:] = [e for e in records if e.record_id != record_id]
        self.estate_version[estate_id] += 1

    def set_out_of_use(self, estate_id: str, out_of_use: bool) -> None:
        if out_of_use == (estate_id in self.out_of_use):
            return
        if out_of_use:
            self.out_of_use.add(estate_id)
        else:
            self.out_of_use.discard(estate_id)
        self.estate_version[estate_id] += 1
