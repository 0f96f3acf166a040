"""The grade history and the device signal history: append-only rows, written by the rule engine.

A grade row is written when an estate's grade changes (or its reasons do); a signal row each time a device
rule's signal turns on or off. The engine batches both (``Database.batch``) with the changes that caused them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select

from gateway.store.database import Database, new_id
from gateway.store.records import GradeChangeRecord, SignalRecord
from gateway.store.tables import grade_changes, signal_changes

_INSERT_SIGNALS = insert(signal_changes)
_INSERT_GRADE = insert(grade_changes)


class GradeRepository:
    """Each estate's grade changes, newest first when read."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, values: dict[str, Any]) -> int:
        with self._db.tx() as conn:
            return new_id(conn.execute(_INSERT_GRADE, values))

    def history(
        self, estate_id: str, *, since: datetime | None = None, limit: int = 1000
    ) -> list[GradeChangeRecord]:
        query = select(grade_changes).where(grade_changes.c.estate_id == estate_id)
        if since is not None:
            query = query.where(grade_changes.c.at >= since)
        query = query.order_by(grade_changes.c.id.desc()).limit(limit)
        with self._db.tx() as conn:
            return [GradeChangeRecord(**dict(r)) for r in conn.execute(query).mappings()]

    def latest(self) -> dict[str, GradeChangeRecord]:
        """The newest grade row of every estate that has one."""
        latest = select(func.max(grade_changes.c.id)).group_by(grade_changes.c.estate_id).scalar_subquery()
        with self._db.tx() as conn:
            rows = conn.execute(select(grade_changes).where(grade_changes.c.id.in_(latest))).mappings()
            return {r["estate_id"]: GradeChangeRecord(**dict(r)) for r in rows}


class SignalRepository:
    """Each device's signal changes (a device rule turning on or off), newest first when read."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            with self._db.tx() as conn:
                conn.execute(_INSERT_SIGNALS, list(rows))

    def history(self, device_id: str, limit: int = 200) -> list[SignalRecord]:
        query = (
            select(signal_changes)
            .where(signal_changes.c.device_id == device_id)
            .order_by(signal_changes.c.id.desc())
            .limit(limit)
        )
        with self._db.tx() as conn:
            return [
                SignalRecord(**{k: v for k, v in dict(r).items() if k != "id"})
                for r in conn.execute(query).mappings()
            ]
