"""Complaints and fires entered by people: checked, stored, counted toward the grade at once.

Complaints count distinct incidents (Y14 one in a year, R6 three): an office or brigade account voids a
complaint filed in error, or merges duplicates about one incident into one of them, each with a reason.
Nothing is deleted (gateway/store/incidents.py); the estate's counted complaints are then read back from the
store and the estate re-graded at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from gateway.casework.desk import Desk
from gateway.casework.model import EngineError, check_estate
from gateway.store.records import ComplaintRecord, FireRecord
from rules.policy import Policy


def complaint_window(policy: Policy) -> timedelta:
    """How far back complaints count: the longest window of the policy's complaint items (a year)."""
    windows = [c.window for c in policy.counted if c.source == "complaints" and c.window is not None]
    return max(windows, default=timedelta(days=365))


def _not_counted(record: ComplaintRecord) -> str:
    if record.state == "merged":
        return f"complaint {record.id} was already merged into complaint {record.merged_into}"
    return f"complaint {record.id} was already voided"


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

    # -- distinct incidents: void and merge ------------------------------------------------------------

    def void_complaint(
        self, complaint_id: int, *, by: str, reason: str, now: datetime | None = None
    ) -> ComplaintRecord:
        """Void a complaint filed in error: it stays on record and no longer counts."""
        now = now or self.clock()
        found = self.store.complaints.get_many([complaint_id])
        problems = []
        record = found.get(complaint_id)
        if record is None:
            problems.append(f"complaint_id: no complaint {complaint_id}")
        elif record.state != "counted":
            problems.append(f"complaint_id: {_not_counted(record)}: only a counted one can be voided")
        problems += _reason_problems(reason, by)
        if problems or record is None:
            raise EngineError("; ".join(problems))
        voided = self.store.complaints.void(complaint_id, by=by, reason=reason.strip(), now=now)
        self._recount(record.estate_id, now)
        return voided

    def merge_complaints(
        self, complaint_ids: Sequence[int], *, into: int, by: str, reason: str, now: datetime | None = None
    ) -> list[ComplaintRecord]:
        """Merge duplicate complaints about one incident into ``into``: they stay on record, and the incident
        counts once (as ``into``). Returns ``into`` and the merged ones, as they are now."""
        now = now or self.clock()
        ids = list(complaint_ids)
        found = self.store.complaints.get_many([into, *ids])
        problems = []
        if not ids:
            problems.append("complaint_ids: give at least one complaint to merge into another")
        if len(set(ids)) != len(ids):
            problems.append("complaint_ids: each complaint once")
        if into in ids:
            problems.append(
                f"into: complaint {into} cannot be merged into itself: leave it out of complaint_ids"
            )
        target = found.get(into)
        if target is None:
            problems.append(f"into: no complaint {into}")
        elif target.state != "counted":
            problems.append(f"into: {_not_counted(target)}: merge into a counted complaint")
        missing = [i for i in ids if i not in found]
        if missing:
            problems.append("complaint_ids: no complaint " + ", ".join(str(i) for i in missing))
        for i in dict.fromkeys(ids):
            record = found.get(i)
            if record is None or i == into:
                continue
            if record.state != "counted":
                problems.append(f"complaint_ids: {_not_counted(record)}")
            if target is not None and record.estate_id != target.estate_id:
                problems.append(
                    f"complaint_ids: complaint {i} is about estate {record.estate_id}, complaint {into} "
                    f"about {target.estate_id}: only complaints about the same estate can be one incident"
                )
        problems += _reason_problems(reason, by)
        if problems or target is None:
            raise EngineError("; ".join(problems))
        merged = self.store.complaints.merge(ids, into=into, by=by, reason=reason.strip(), now=now)
        self._recount(target.estate_id, now)
        return merged

    def _recount(self, estate_id: str, now: datetime) -> None:
        """Count the estate's distinct incidents again, from the store, and re-grade it."""
        since = now - complaint_window(self.policy)
        counted = self.store.complaints.counted([estate_id], since=since)
        self.index.set_complaints(estate_id, [(c.id, c.received_at) for c in counted])
        self.grader.regrade({estate_id}, now)


def _reason_problems(reason: str, by: str) -> list[str]:
    problems = []
    if not reason.strip():
        problems.append("reason: required (why the complaint does not count as an incident of its own)")
    if not by.strip():
        problems.append("by: required (who decided)")
    return problems
