"""Maintenance and test windows (屏蔽 with a time limit): declared, ended early or expired, settled; kept.

A maintenance company testing a building's devices (a monthly test alarm, a hydrant flow test) declares a
window: which devices (one device, a building or a whole estate), from when to when, who and why. Inside it
the rule engine records device signals marked with the window's id but files no hazard from them
(gateway/casework/windows.py).

The row is the window's audit record; nothing is deleted and no column is ever cleared:

- ``declared_by`` / ``declared_at`` / ``reason``: who declared it, when, why;
- ``ended_at`` / ``ended_by`` / ``end_reason``: set once if someone ended it before ``ends_at``;
- ``settled_at`` / ``settlement``: set once when the gateway finished it (at ``ends_at``, or when it was ended
  early): which hazards it then opened for devices still failing and which it closed for devices that
  recovered. A window not yet settled is what a gateway holds in memory (``unsettled``); one that expired
  while no gateway ran is settled by the next one that starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    insert,
    or_,
    select,
    update,
)

from gateway.store.database import Database, NotFound, new_id
from gateway.store.records import as_read
from gateway.store.tables import UtcDateTime, metadata, signal_changes
from rules.lifecycle import TransitionError
from rules.model import SignalKind

maintenance_windows = Table(
    "maintenance_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("estate_id", String(64), nullable=False),
    #: device / building / estate (``WindowScope``), and the id of that device, building or estate.
    Column("scope", String(16), nullable=False),
    Column("target_id", String(128), nullable=False),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),
    Column("declared_by", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("declared_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
    Column("ended_by", String(128)),
    Column("end_reason", Text),
    Column("settled_at", UtcDateTime),
    Column("settlement", JSON),
    Index("maintenance_windows_by_estate", "estate_id", "ends_at"),
    Index("maintenance_windows_unsettled", "settled_at"),
)


class WindowScope(StrEnum):
    DEVICE = "device"
    BUILDING = "building"
    ESTATE = "estate"


@dataclass(frozen=True, slots=True)
class WindowRecord:
    id: int
    estate_id: str
    scope: WindowScope
    target_id: str
    starts_at: datetime
    ends_at: datetime
    declared_by: str
    reason: str
    declared_at: datetime
    ended_at: datetime | None
    ended_by: str | None
    end_reason: str | None
    settled_at: datetime | None
    settlement: dict[str, Any] | None

    @property
    def until(self) -> datetime:
        """When the window stops covering its devices: ``ends_at``, or earlier if it was ended early."""
        if self.ended_at is not None and self.ended_at < self.ends_at:
            return self.ended_at
        return self.ends_at

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at < self.until

    def state(self, now: datetime) -> str:
        """scheduled / active / ended (early, by a person) / expired."""
        if self.ended_at is not None:
            return "ended"
        if now >= self.ends_at:
            return "expired"
        return "active" if now >= self.starts_at else "scheduled"


def window_from_row(row: Mapping[Any, Any]) -> WindowRecord:
    data = dict(row)
    data["scope"] = WindowScope(data["scope"])
    data["settlement"] = dict(data["settlement"]) if data["settlement"] is not None else None
    return WindowRecord(**data)


_WINDOW_BY_ID = select(maintenance_windows).where(maintenance_windows.c.id == bindparam("match_id"))
_UPDATE_WINDOW = (
    update(maintenance_windows)
    .where(maintenance_windows.c.id == bindparam("match_id"))
    .returning(*maintenance_windows.c)
)


class WindowRepository:
    """Maintenance and test windows (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        *,
        estate_id: str,
        scope: WindowScope,
        target_id: str,
        starts_at: datetime,
        ends_at: datetime,
        declared_by: str,
        reason: str,
        now: datetime,
    ) -> WindowRecord:
        """Store a window the caller has checked (``WindowDesk.declare``)."""
        values: dict[str, Any] = {
            "estate_id": estate_id,
            "scope": scope.value,
            "target_id": target_id,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "declared_by": declared_by,
            "reason": reason,
            "declared_at": now,
            "ended_at": None,
            "ended_by": None,
            "end_reason": None,
            "settled_at": None,
            "settlement": None,
        }
        with self._db.tx() as conn:
            window_id = new_id(conn.execute(insert(maintenance_windows), values))
        return window_from_row({"id": window_id, **as_read(values)})

    def get(self, window_id: int) -> WindowRecord:
        with self._db.tx() as conn:
            row = conn.execute(_WINDOW_BY_ID, {"match_id": window_id}).mappings().first()
        if row is None:
            raise NotFound(f"no window {window_id}")
        return window_from_row(row)

    def end_early(self, window_id: int, *, by: str, reason: str, now: datetime) -> WindowRecord:
        """End a scheduled or active window now; refused (``TransitionError``) for one already ended or
        expired, and nothing changes."""
        with self._db.tx() as conn:
            row = conn.execute(_WINDOW_BY_ID, {"match_id": window_id}).mappings().first()
            if row is None:
                raise NotFound(f"no window {window_id}")
            current = window_from_row(row)
            if current.ended_at is not None:
                raise TransitionError(
                    f"window {window_id} was already ended by {current.ended_by} at "
                    f"{current.ended_at.isoformat()}"
                )
            if now >= current.ends_at:
                raise TransitionError(
                    f"window {window_id} expired by itself at {current.ends_at.isoformat()}: nothing to end"
                )
            params = {"match_id": window_id, "ended_at": now, "ended_by": by, "end_reason": reason}
            return window_from_row(conn.execute(_UPDATE_WINDOW, params).mappings().one())

    def settle(self, window_id: int, *, now: datetime, settlement: dict[str, Any]) -> None:
        """Record that the gateway finished the window (once: a second call changes nothing)."""
        query = (
            update(maintenance_windows)
            .where(maintenance_windows.c.id == window_id, maintenance_windows.c.settled_at.is_(None))
            .values(settled_at=now, settlement=settlement)
        )
        with self._db.tx() as conn:
            conn.execute(query)

    def active(self, now: datetime) -> list[WindowRecord]:
        """The windows covering their devices at ``now``."""
        return [w for w in self.current_and_future(now) if w.covers(now)]

    def current_and_future(self, now: datetime) -> list[WindowRecord]:
        """Windows not ended early that end after ``now`` (active or scheduled), by start."""
        query = select(maintenance_windows).where(
            maintenance_windows.c.ended_at.is_(None), maintenance_windows.c.ends_at > now
        )
        return self._select(query.order_by(maintenance_windows.c.starts_at, maintenance_windows.c.id))

    def unsettled(self) -> list[WindowRecord]:
        """Windows the gateway has not finished yet: scheduled, active, or ended and not yet settled."""
        query = select(maintenance_windows).where(maintenance_windows.c.settled_at.is_(None))
        return self._select(query.order_by(maintenance_windows.c.id))

    def find(
        self,
        estate_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        *,
        active_at: datetime | None = None,
        limit: int = 500,
    ) -> list[WindowRecord]:
        """Windows of ``estate_ids`` that were still running at or after ``since`` (newest first); with
        ``active_at``, only those covering their devices then."""
        query = select(maintenance_windows)
        c = maintenance_windows.c
        if estate_ids is not None:
            query = query.where(c.estate_id.in_(list(estate_ids)))
        if since is not None:
            query = query.where(c.ends_at >= since, or_(c.ended_at.is_(None), c.ended_at >= since))
        if active_at is not None:
            query = query.where(
                c.starts_at <= active_at,
                c.ends_at > active_at,
                or_(c.ended_at.is_(None), c.ended_at > active_at),
            )
        return self._select(query.order_by(c.id.desc()).limit(limit))

    def suppressed(self, window_ids: Iterable[int]) -> dict[int, set[tuple[str, SignalKind]]]:
        """Per window, the (device, signal) pairs whose signal changed inside it (from the signal history:
        for the windows a restarted gateway still has to settle)."""
        ids = list(window_ids)
        if not ids:
            return {}
        c = signal_changes.c
        query = select(c.window_id, c.device_id, c.signal).where(c.window_id.in_(ids)).distinct()
        found: dict[int, set[tuple[str, SignalKind]]] = {}
        with self._db.tx() as conn:
            for window_id, device_id, signal in conn.execute(query):
                try:
                    found.setdefault(window_id, set()).add((device_id, SignalKind(signal)))
                except ValueError:  # a signal this version no longer has
                    continue
        return found

    def _select(self, query: Any) -> list[WindowRecord]:
        with self._db.tx() as conn:
            return [window_from_row(r) for r in conn.execute(query).mappings()]
