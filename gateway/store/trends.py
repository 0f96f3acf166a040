"""The last hours, hour by hour, for the duty overview's small trends (``GET /api/overview/trends``).

Per hour: alarms that arrived (test alarms, raised inside a maintenance window, left out), hazards opened and
hazards closed (maintenance tasks left out), and how many devices were offline at the end of the hour. The
last is walked back from the number offline now (the engine's, passed in) through the recorded offline signal
edges, so no snapshot has to be stored. Each figure is one statement that reads the rows of the hours asked
for through an index on their time and counts them per hour in the database (``GROUP BY`` the hour: a text
prefix on SQLite, ``date_trunc`` on PostgreSQL), with the caller's estates as ``estate_id IN (...)``; a day
of a city-wide mass outage (6,000 offline edges) costs a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from gateway.store.database import Database
from gateway.store.hazards import MAINTENANCE_TASK
from gateway.store.tables import alarms, hazards, signal_changes
from rules.model import SignalKind

HOUR = timedelta(hours=1)


def hour_starts(now: datetime, hours: int) -> list[datetime]:
    """The start of each of the last ``hours`` hours (UTC), oldest first; the last holds ``now``."""
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [current - HOUR * (hours - 1 - i) for i in range(hours)]


class TrendQueries:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._sqlite = db.engine.dialect.name == "sqlite"

    def _hour(self, column: Any) -> ColumnElement[Any]:
        """The hour a stored time falls in: 'YYYY-MM-DD HH' on SQLite (times are stored as UTC text), the
        truncated timestamp on PostgreSQL."""
        return func.substr(column, 1, 13) if self._sqlite else func.date_trunc("hour", column)

    @staticmethod
    def _start(key: Any) -> datetime:
        if isinstance(key, str):
            return datetime.strptime(key, "%Y-%m-%d %H").replace(tzinfo=UTC)
        assert isinstance(key, datetime)
        return key.replace(tzinfo=UTC)

    def _per_hour(
        self, column: Any, starts: list[datetime], estate_ids: Collection[str] | None, *where: Any
    ) -> list[int]:
        hour = self._hour(column)
        query: Select[Any] = select(hour, func.count()).where(column >= starts[0], *where).group_by(hour)
        if estate_ids is not None:
            query = query.where(column.table.c.estate_id.in_(list(estate_ids)))
        index = {start: i for i, start in enumerate(starts)}
        counts = [0] * len(starts)
        with self._db.tx() as conn:
            for key, n in conn.execute(query):
                i = index.get(self._start(key))
                if i is not None:
                    counts[i] += int(n)
        return counts

    def alarms(self, starts: list[datetime], estate_ids: Collection[str] | None) -> list[int]:
        return self._per_hour(alarms.c.received_at, starts, estate_ids, alarms.c.window_id.is_(None))

    def hazards(
        self, starts: list[datetime], estate_ids: Collection[str] | None
    ) -> tuple[list[int], list[int]]:
        """(opened, closed) per hour. A hazard opened or closed since then was updated since then, and
        ``updated_at`` is indexed."""
        recent = (hazards.c.updated_at >= starts[0], hazards.c.criterion != MAINTENANCE_TASK)
        return (
            self._per_hour(hazards.c.opened_at, starts, estate_ids, *recent),
            self._per_hour(hazards.c.closed_at, starts, estate_ids, *recent),
        )

    def offline(
        self, starts: list[datetime], offline_now: int, estate_ids: Collection[str] | None
    ) -> list[int]:
        """Devices offline at the end of each hour (now for the current one), from ``offline_now``: the edges
        of each later hour (+1 a device went offline, -1 one came back) are taken back."""
        offline = signal_changes.c.signal == SignalKind.OFFLINE.value
        went = self._per_hour(signal_changes.c.at, starts, estate_ids, offline, signal_changes.c.active)
        back = self._per_hour(signal_changes.c.at, starts, estate_ids, offline, ~signal_changes.c.active)
        levels = [0] * len(starts)
        level = offline_now
        for i in range(len(starts) - 1, -1, -1):
            levels[i] = max(0, level)
            level -= went[i] - back[i]  # before this hour's edges
        return levels
