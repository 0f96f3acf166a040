"""Complaints (投诉) and fires (火灾): incidents recorded by people, each counted by the grading standard.

A fire is recorded by hand, or by closing an alarm as a real fire (``AlarmRepository.transition``, which calls
``insert_fire`` in its own transaction).

Complaints count distinct incidents (Y14, R6). A complaint filed in error is voided, and duplicates about one
incident are merged into one of them, each with who, when and why: a row in ``complaint_changes``, which is
only inserted into (nothing is deleted or updated). A complaint has at most one such change (a unique index
says so): voided or merged is final. ``counted`` returns the complaints without one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, ForeignKey, Index, Integer, String, Table, Text, insert, select
from sqlalchemy.exc import IntegrityError

from gateway.store.database import Database, NotFound, new_id
from gateway.store.records import ComplaintRecord, FireRecord
from gateway.store.tables import UtcDateTime, complaints, fires, metadata
from rules.lifecycle import TransitionError

complaint_changes = Table(
    "complaint_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("complaint_id", Integer, ForeignKey("complaints.id"), nullable=False),
    Column("action", String(16), nullable=False),  # void / merge
    #: The complaint a merged one now counts as (``merge`` only).
    Column("into_id", Integer, ForeignKey("complaints.id")),
    Column("by", String(128), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Index("one_change_per_complaint", "complaint_id", unique=True),
    Index("complaint_changes_by_time", "at"),
)

#: Every complaint with its change, if any (a complaint has at most one).
_WITH_STATE = select(
    complaints, complaint_changes.c.action.label("change"), complaint_changes.c.into_id.label("into_id")
).select_from(complaints.outerjoin(complaint_changes, complaint_changes.c.complaint_id == complaints.c.id))
_STATES = {None: "counted", "void": "voided", "merge": "merged"}


def _complaint(row: Any) -> ComplaintRecord:
    data = dict(row)
    change, into_id = data.pop("change"), data.pop("into_id")
    return ComplaintRecord(**data, state=_STATES[change], merged_into=into_id)


class ComplaintChangeError(TransitionError):
    """A void or merge refused: the message names the field and what is allowed."""


class ComplaintRepository:
    """Complaint calls (12345, 119, walk-in), as received."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        *,
        estate_id: str,
        received_at: datetime,
        channel: str,
        description: str,
        reporter: str,
        now: datetime,
    ) -> ComplaintRecord:
        values: dict[str, Any] = {
            "estate_id": estate_id,
            "received_at": received_at,
            "channel": channel,
            "description": description,
            "reporter": reporter,
            "recorded_at": now,
        }
        with self._db.tx() as conn:
            result = conn.execute(insert(complaints).values(**values))
            self._db.announce_change(conn)
            return ComplaintRecord(id=new_id(result), **values)

    def find(
        self,
        estate_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        *,
        recorded_since: datetime | None = None,
    ) -> list[ComplaintRecord]:
        """Complaints received at or after ``since``, or recorded (entered) at or after ``recorded_since``,
        whatever their state (counted, voided, merged), oldest first."""
        query = _WITH_STATE
        if estate_ids is not None:
            query = query.where(complaints.c.estate_id.in_(list(estate_ids)))
        if since is not None:
            query = query.where(complaints.c.received_at >= since)
        if recorded_since is not None:
            query = query.where(complaints.c.recorded_at >= recorded_since)
        return self._select(query)

    def counted(
        self, estate_ids: Sequence[str] | None = None, since: datetime | None = None
    ) -> list[ComplaintRecord]:
        """The distinct incidents: complaints received at or after ``since`` that are neither voided nor
        merged into another, oldest first."""
        query = _WITH_STATE.where(complaint_changes.c.id.is_(None))
        if estate_ids is not None:
            query = query.where(complaints.c.estate_id.in_(list(estate_ids)))
        if since is not None:
            query = query.where(complaints.c.received_at >= since)
        return self._select(query)

    def get_many(self, ids: Sequence[int]) -> dict[int, ComplaintRecord]:
        """The complaints of ``ids`` that exist, by id."""
        if not ids:
            return {}
        query = _WITH_STATE.where(complaints.c.id.in_(list(ids)))
        return {c.id: c for c in self._select(query)}

    def get(self, complaint_id: int) -> ComplaintRecord:
        found = self.get_many([complaint_id])
        if complaint_id not in found:
            raise NotFound(f"no complaint {complaint_id}")
        return found[complaint_id]

    def changes(self, complaint_ids: Sequence[int]) -> list[dict[str, Any]]:
        """The void and merge rows of ``complaint_ids`` (and of complaints merged into them), oldest first."""
        if not complaint_ids:
            return []
        c = complaint_changes.c
        ids = list(complaint_ids)
        query = select(complaint_changes).where(c.complaint_id.in_(ids) | c.into_id.in_(ids)).order_by(c.id)
        with self._db.tx() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def changed_since(self, since: datetime) -> set[str]:
        """The estates with a complaint voided or merged at or after ``since`` (the writer's clock), for
        another gateway on the same store to count their distinct incidents again."""
        c = complaint_changes.c
        query = (
            select(complaints.c.estate_id)
            .select_from(complaint_changes.join(complaints, complaints.c.id == c.complaint_id))
            .where(c.at >= since)
            .distinct()
        )
        with self._db.tx() as conn:
            return set(conn.execute(query).scalars())

    def void(self, complaint_id: int, *, by: str, reason: str, now: datetime) -> ComplaintRecord:
        """Mark a complaint filed in error as voided; it stays, and no longer counts."""
        with self._db.tx() as conn:
            self._insert_changes(conn, [complaint_id], "void", None, by, reason, now)
        return self.get(complaint_id)

    def merge(
        self, complaint_ids: Sequence[int], *, into: int, by: str, reason: str, now: datetime
    ) -> list[ComplaintRecord]:
        """Mark duplicates as merged into ``into`` (one incident); all of them or none."""
        with self._db.tx() as conn:
            self._insert_changes(conn, list(complaint_ids), "merge", into, by, reason, now)
        found = self.get_many([into, *complaint_ids])
        return [found[i] for i in (into, *complaint_ids)]

    def _insert_changes(
        self,
        conn: Connection,
        ids: list[int],
        action: str,
        into: int | None,
        by: str,
        reason: str,
        now: datetime,
    ) -> None:
        rows = [
            {"complaint_id": i, "action": action, "into_id": into, "by": by, "at": now, "reason": reason}
            for i in ids
        ]
        try:
            with self._db.may_violate(conn):
                conn.execute(insert(complaint_changes), rows)
        except IntegrityError:  # another gateway voided or merged one of them a moment before
            raise ComplaintChangeError(
                "complaint_ids: one of them was voided or merged by someone else a moment ago; "
                "nothing was changed, look again"
            ) from None
        self._db.announce_change(conn)

    def _select(self, query: Any) -> list[ComplaintRecord]:
        with self._db.tx() as conn:
            rows = conn.execute(query.order_by(complaints.c.received_at, complaints.c.id)).mappings()
            return [_complaint(r) for r in rows]


class FireRepository:
    """Fires, with whether they were fatal or of high impact (R-level items of the standard)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        *,
        estate_id: str,
        occurred_at: datetime,
        fatal: bool,
        high_impact: bool,
        description: str,
        recorded_by: str,
        now: datetime,
        alarm_id: int | None = None,
    ) -> FireRecord:
        with self._db.tx() as conn:
            self._db.announce_change(conn)
            return insert_fire(
                conn,
                estate_id=estate_id,
                occurred_at=occurred_at,
                fatal=fatal,
                high_impact=high_impact,
                description=description,
                recorded_by=recorded_by,
                now=now,
                alarm_id=alarm_id,
            )

    def find(
        self,
        estate_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        *,
        recorded_since: datetime | None = None,
    ) -> list[FireRecord]:
        """Fires that occurred at or after ``since``, or recorded at or after ``recorded_since``."""
        query = select(fires)
        if estate_ids is not None:
            query = query.where(fires.c.estate_id.in_(list(estate_ids)))
        if since is not None:
            query = query.where(fires.c.occurred_at >= since)
        if recorded_since is not None:
            query = query.where(fires.c.recorded_at >= recorded_since)
        with self._db.tx() as conn:
            rows = conn.execute(query.order_by(fires.c.occurred_at)).mappings()
            return [
                FireRecord(
                    id=r["id"],
                    estate_id=r["estate_id"],
                    occurred_at=r["occurred_at"],
                    fatal=r["fatal"],
                    high_impact=r["high_impact"],
                    alarm_id=r["alarm_id"],
                    description=r["description"],
                    recorded_by=r["recorded_by"],
                )
                for r in rows
            ]


def insert_fire(conn: Connection, *, now: datetime, **values: Any) -> FireRecord:
    """Insert a fire row on the caller's connection, so it commits with whatever the caller also wrote."""
    result = conn.execute(insert(fires).values(recorded_at=now, **values))
    return FireRecord(id=new_id(result), **values)
