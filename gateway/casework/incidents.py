"""Complaints and fires entered by people: checked, stored, counted toward the grade at once."""

from __future__ import annotations

from datetime import datetime, timedelta

from gateway.casework.desk import Desk
from gateway.casework.model import EngineError, check_estate
from gateway.store.records import ComplaintRecord, FireRecord


class IncidentDesk(Desk):
    """Complaints and fires that people record."""

    def _check(self, estate_id: str, field: str, when: datetime, now: datetime) -> None:
        """A counted record names a known estate and a time not in the future (five minutes of clock skew
        between a phone and the gateway are allowed)."""
        check_estate(self.grader.registry, estate_id)
        if when > now + timedelta(minutes=5):
            raise EngineError(f"{field} {when.isoformat()} is in the future")

    def add_complaint(
        self,
        *,
        estate_id: str,
        received_at: datetime,
        channel: str,
        description: str,
        reporter: str,
        now: datetime | None = None,
    ) -> ComplaintRecord:
        now = now or self.clock()
        self._check(estate_id, "received_at", received_at, now)
        record = self.store.complaints.add(
            estate_id=estate_id,
            received_at=received_at,
            channel=channel,
            description=description,
            reporter=reporter,
            now=now,
        )
        self.index.count_complaint(record.id, estate_id, received_at)
        self.grader.regrade({estate_id}, now)
        return record

    def add_fire(
        self,
        *,
        estate_id: str,
        occurred_at: datetime,
        fatal: bool,
        high_impact: bool,
        description: str,
        recorded_by: str,
        now: datetime | None = None,
    ) -> FireRecord:
        now = now or self.clock()
        self._check(estate_id, "occurred_at", occurred_at, now)
        record = self.store.fires.add(
            estate_id=estate_id,
            occurred_at=occurred_at,
            fatal=fatal,
            high_impact=high_impact,
            description=description,
            recorded_by=recorded_by,
            now=now,
        )
        self.index.count_fire(record)
        self.grader.regrade({estate_id}, now)
        return record
