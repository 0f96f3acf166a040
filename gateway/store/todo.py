"""What waits for an account (待办): the queries behind ``/api/todo``, each one statement whatever the number
of estates in scope (``estate_id IN (...)``), so that the counts shown on every page stay cheap.

Which lists an account gets is decided by the caller (``gateway/api/routers/todo.py``); here, per list, the
hazards or alarms it holds and how many.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from gateway.store.database import Database
from gateway.store.records import AlarmRecord, HazardRecord, alarm_from_row, hazard_from_row
from gateway.store.tables import alarms, hazards
from rules.lifecycle import AlarmState, HazardState

#: Hazard lists: the states they hold.
TO_DISPATCH = (HazardState.REPORTED,)
TO_START = (HazardState.DISPATCHED,)
TO_RECTIFY = (HazardState.RECTIFYING,)
TO_VERIFY = (HazardState.RECTIFIED,)


class TodoQueries:
    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def _hazard_filter(
        query: Select[Any],
        estate_ids: Collection[str] | None,
        states: Sequence[HazardState] | None,
        party_ids: Collection[int] | None,
        recheck_due_by: datetime | None,
    ) -> Select[Any]:
        if estate_ids is not None:
            query = query.where(hazards.c.estate_id.in_(list(estate_ids)))
        if states is not None:
            query = query.where(hazards.c.state.in_([s.value for s in states]))
        if party_ids is not None:
            query = query.where(hazards.c.party_id.in_(list(party_ids)))
        if recheck_due_by is not None:
            query = query.where(
                hazards.c.state == HazardState.CLOSED.value,
                hazards.c.recheck_due.is_not(None),
                hazards.c.recheck_due <= recheck_due_by,
            )
        return query

    def hazards(
        self,
        *,
        estate_ids: Collection[str] | None,
        states: Sequence[HazardState] | None = None,
        party_ids: Collection[int] | None = None,
        recheck_due_by: datetime | None = None,
        limit: int = 200,
    ) -> list[HazardRecord]:
        """Oldest first (the longest waiting on top); a re-check list by when it fell due."""
        query = self._hazard_filter(select(hazards), estate_ids, states, party_ids, recheck_due_by)
        order = (hazards.c.recheck_due, hazards.c.id) if recheck_due_by is not None else (hazards.c.id,)
        with self._db.tx() as conn:
            rows = conn.execute(query.order_by(*order).limit(limit)).mappings()
            return [hazard_from_row(r) for r in rows]

    def hazard_counts(
        self,
        *,
        estate_ids: Collection[str] | None,
        states: Sequence[HazardState],
        party_ids: Collection[int] | None = None,
    ) -> dict[HazardState, int]:
        """How many hazards in scope are in each of ``states`` (one grouped statement)."""
        query = self._hazard_filter(
            select(hazards.c.state, func.count()).group_by(hazards.c.state),
            estate_ids,
            states,
            party_ids,
            None,
        )
        with self._db.tx() as conn:
            found = {HazardState(state): int(n) for state, n in conn.execute(query)}
        return {s: found.get(s, 0) for s in states}

    def recheck_count(self, *, estate_ids: Collection[str] | None, now: datetime) -> int:
        query = self._hazard_filter(select(func.count()).select_from(hazards), estate_ids, None, None, now)
        with self._db.tx() as conn:
            return int(conn.execute(query).scalar_one())

    def open_alarms(self, *, estate_ids: Collection[str] | None, limit: int = 200) -> list[AlarmRecord]:
        """Alarms not yet closed, unacknowledged first, then oldest first."""
        query = select(alarms).where(alarms.c.closed_at.is_(None))
        if estate_ids is not None:
            query = query.where(alarms.c.estate_id.in_(list(estate_ids)))
        unacked_first = (alarms.c.state != AlarmState.OPEN.value, alarms.c.received_at, alarms.c.id)
        with self._db.tx() as conn:
            return [
                alarm_from_row(r)
                for r in conn.execute(query.order_by(*unacked_first).limit(limit)).mappings()
            ]

    def alarm_counts(self, *, estate_ids: Collection[str] | None) -> tuple[int, int]:
        """(alarms not closed, of which not acknowledged), in one statement."""
        unacked = func.count().filter(alarms.c.state == AlarmState.OPEN.value)
        query = select(func.count(), unacked).where(alarms.c.closed_at.is_(None))
        if estate_ids is not None:
            query = query.where(alarms.c.estate_id.in_(list(estate_ids)))
        with self._db.tx() as conn:
            total, open_ = conn.execute(query).one()
        return int(total), int(open_ or 0)
