"""What grading reads, indexed in memory: open hazards per estate, complaint and fire dates per estate.

Re-grading an estate then costs microseconds and re-grading every estate of a city a fraction of a second;
the store stays the record. The index is filled from the store at start-up, kept up to date by every change
the casework makes, and read back whole after a rolled-back batch left it ahead of the store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from gateway.models import Device
from gateway.store.records import FireRecord, HazardRecord
from rules.grading import OpenHazard
from rules.lifecycle import is_overdue


class CaseIndex:
    def __init__(self, devices: dict[str, Device], estate_version: dict[str, int]) -> None:
        """``estate_version`` is the engine's per-estate change counter, bumped on every change here."""
        self._devices = devices
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

    def add(self, hazard: HazardRecord) -> None:
        """Index an open hazard (or its newer version)."""
        device = self._devices.get(hazard.device_id or "")
        self.open[hazard.estate_id][hazard.id] = OpenHazard(
            hazard_id=str(hazard.id),
            criteria=tuple(hazard.criteria),
            detail=hazard.description,
            since=hazard.since,
            source=hazard.source,
            device_id=hazard.device_id or "",
            device_kind=device.kind if device else None,
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

    def count_fire(self, fire: FireRecord) -> None:
        self.fire_ids.add(fire.id)
        self.fire_times[fire.estate_id].append((fire.occurred_at, fire.fatal or fire.high_impact))
