"""Shift handovers (交接班记录) of a control room: who handed over, who took over, and what was open.

A control room is staffed in shifts; at each change the outgoing operator records what is open and the
incoming one signs that they took it over (GB 25201-2010 §5.2 b: the duty record, table A.1, is filled in at
each 交班 and 接班). Two tables, both insert-only, so that a signed record can never be rewritten:

- ``handovers``: the outgoing half — the room, its estates then, the outgoing account, its note, and the
  snapshot of open items the gateway took at that moment (JSON, built by ``gateway/casework/handover.py``);
- ``handover_signatures``: the incoming half — at most one row per handover (its primary key), written once.

A handover without a signature is *pending*. A room has one chain of handovers: each names the one it follows
(``follows_id``, 0 for a room's first), and ``(room, follows_id)`` is unique, so two shifts handing over at
the same moment (two gateways on one PostgreSQL store included) cannot both follow the same handover; and a
handover is refused while the one it would follow is still pending.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Table,
    Text,
    distinct,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from gateway.store.database import Database, NotFound, new_id
from gateway.store.tables import UtcDateTime, metadata
from rules.lifecycle import TransitionError

handovers = Table(
    "handovers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    #: The control room's key (``gateway/casework/handover.py``: ``all``, ``company:…``, ``area:…``).
    Column("room", String(300), nullable=False),
    #: The room's estates when it was handed over (null: every estate, the city-wide room).
    Column("estate_ids", JSON),
    #: The handover of the same room this one follows (0: the room's first).
    Column("follows_id", Integer, nullable=False),
    #: The outgoing account (username; with accounts disabled, the name given) and its display name.
    Column("outgoing_account", String(128), nullable=False),
    Column("outgoing_name", String(128), nullable=False),
    Column("outgoing_note", Text, nullable=False, default=""),
    Column("started_at", UtcDateTime, nullable=False),
    Column("snapshot", JSON, nullable=False),
    Index("one_handover_follows_each", "room", "follows_id", unique=True),
)

handover_signatures = Table(
    "handover_signatures",
    metadata,
    Column("handover_id", Integer, ForeignKey("handovers.id"), primary_key=True),
    Column("incoming_account", String(128), nullable=False),
    Column("incoming_name", String(128), nullable=False),
    Column("incoming_note", Text, nullable=False, default=""),
    Column("signed_at", UtcDateTime, nullable=False),
)


class HandoverRefused(TransitionError):
    """A handover or a signature the log cannot take (the API answers 409); the message says why."""


@dataclass(frozen=True, slots=True)
class HandoverRecord:
    id: int
    room: str
    estate_ids: list[str] | None
    follows_id: int
    outgoing_account: str
    outgoing_name: str
    outgoing_note: str
    started_at: datetime
    snapshot: dict[str, Any]
    incoming_account: str | None = None
    incoming_name: str | None = None
    incoming_note: str | None = None
    signed_at: datetime | None = None

    @property
    def pending(self) -> bool:
        """Handed over, not yet signed for by the incoming shift."""
        return self.signed_at is None


def _record(row: Mapping[Any, Any]) -> HandoverRecord:
    data = dict(row)
    data.pop("handover_id", None)
    data["estate_ids"] = None if data["estate_ids"] is None else list(data["estate_ids"])
    data["snapshot"] = dict(data["snapshot"])
    return HandoverRecord(**data)


_SIGNED = [c for c in handover_signatures.c if c.name != "handover_id"]
_JOINED = handovers.outerjoin(handover_signatures, handover_signatures.c.handover_id == handovers.c.id)


def _select() -> Select[Any]:
    return select(handovers, *_SIGNED).select_from(_JOINED)


class HandoverRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _latest(self, conn: Connection, room: str) -> HandoverRecord | None:
        query = _select().where(handovers.c.room == room).order_by(handovers.c.id.desc()).limit(1)
        row = conn.execute(query).mappings().first()
        return None if row is None else _record(row)

    def latest(self, room: str) -> HandoverRecord | None:
        """The room's newest handover (pending or signed), or None before its first."""
        with self._db.tx() as conn:
            return self._latest(conn, room)

    def hand_over(
        self,
        *,
        room: str,
        estate_ids: list[str] | None,
        outgoing_account: str,
        outgoing_name: str,
        note: str,
        snapshot: dict[str, Any],
        now: datetime,
    ) -> HandoverRecord:
        """Record the outgoing half; ``HandoverRefused`` while the room's last handover waits for its
        signature (or when another one was recorded for the room at the same moment)."""
        with self._db.tx() as conn:
            last = self._latest(conn, room)
            if last is not None and last.pending:
                raise HandoverRefused(
                    f"handover {last.id} of this control room, by {last.outgoing_name} at "
                    f"{last.started_at.isoformat()}, is still waiting for the incoming operator's signature: "
                    "it must be signed before the room is handed over again"
                )
            values: dict[str, Any] = {
                "room": room,
                "estate_ids": estate_ids,
                "follows_id": 0 if last is None else last.id,
                "outgoing_account": outgoing_account,
                "outgoing_name": outgoing_name,
                "outgoing_note": note,
                "started_at": now,
                "snapshot": snapshot,
            }
            try:
                with self._db.may_violate(conn):
                    handover_id = new_id(conn.execute(insert(handovers).values(**values)))
            except IntegrityError:
                raise HandoverRefused(
                    "another handover of this control room was recorded at the same moment: "
                    "open the log, and sign that one or hand over after it"
                ) from None
        return HandoverRecord(id=handover_id, **values)

    def sign(
        self, handover_id: int, *, incoming_account: str, incoming_name: str, note: str, now: datetime
    ) -> HandoverRecord:
        """Record the incoming half, once; ``HandoverRefused`` if it is signed already or the outgoing
        account itself tries to sign."""
        with self._db.tx() as conn:
            current = self._get(conn, handover_id)
            if not current.pending:
                raise HandoverRefused(
                    f"handover {handover_id} was signed by {current.incoming_name} at "
                    f"{current.signed_at.isoformat() if current.signed_at else ''}; a signed handover "
                    "cannot be signed again"
                )
            if incoming_account == current.outgoing_account:
                raise HandoverRefused(
                    f"{incoming_name} handed this shift over and cannot also sign for taking it over: the "
                    "incoming operator signs with their own account"
                )
            values: dict[str, Any] = {
                "incoming_account": incoming_account,
                "incoming_name": incoming_name,
                "incoming_note": note,
                "signed_at": now,
            }
            try:
                with self._db.may_violate(conn):
                    conn.execute(insert(handover_signatures).values(handover_id=handover_id, **values))
            except IntegrityError:
                raise HandoverRefused(
                    f"handover {handover_id} was signed by someone else at the same moment"
                ) from None
        return replace(current, **values)

    def _get(self, conn: Connection, handover_id: int) -> HandoverRecord:
        row = conn.execute(_select().where(handovers.c.id == handover_id)).mappings().first()
        if row is None:
            raise NotFound(f"no handover {handover_id}")
        return _record(row)

    def get(self, handover_id: int) -> HandoverRecord:
        with self._db.tx() as conn:
            return self._get(conn, handover_id)

    def find(self, room: str, *, limit: int = 100, before_id: int | None = None) -> list[HandoverRecord]:
        """The room's handovers, newest first (``before_id``: the page after the one that ended there)."""
        query = _select().where(handovers.c.room == room)
        if before_id is not None:
            query = query.where(handovers.c.id < before_id)
        with self._db.tx() as conn:
            rows = conn.execute(query.order_by(handovers.c.id.desc()).limit(limit)).mappings()
            return [_record(r) for r in rows]

    def rooms(self) -> list[str]:
        """Every room that has handed over at least once."""
        with self._db.tx() as conn:
            return sorted(conn.execute(select(distinct(handovers.c.room))).scalars())
