"""Complaints (投诉) and fires (火灾): incidents recorded by people, each counted by the grading standard.

A fire is recorded by hand, or by closing an alarm as a real fire (``AlarmRepository.transition``, which calls
``insert_fire`` in its own transaction).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from gateway.store.database import Database, new_id
from gateway.store.records import ComplaintRecord, FireRecord
from gateway.store.tables import complaints, fires


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
        with self._db.tx() as conn:
            record = ComplaintRecord(
                id=0,
                estate_id=estate_id,
                received_at=received_at,
                channel=channel,
                description=description,
                reporter=reporter,
                recorded_at=now,
            )
            values = {k: getattr(record, k) for k in record.__slots__ if k != "id"}
            result = conn.execute(insert(complaints).values(**values))
            self._db.announce_change(conn)
            return dataclasses.replace(record, id=new_id(result))

    def find(
        self,
        estate_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        *,
        recorded_since: datetime | None = None,
    ) -> list[ComplaintRecord]:
        """Complaints received at or after ``since``, or recorded (entered) at or after ``recorded_since``."""
        query = select(complaints)
        if estate_ids is not None:
            query = query.where(complaints.c.estate_id.in_(list(estate_ids)))
        if since is not None:
            query = query.where(complaints.c.received_at >= since)
        if recorded_since is not None:
            query = query.where(complaints.c.recorded_at >= recorded_since)
        with self._db.tx() as conn:
            rows = conn.execute(query.order_by(complaints.c.received_at)).mappings()
            return [ComplaintRecord(**dict(r)) for r in rows]


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
