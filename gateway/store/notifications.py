"""Notifications (推送记录): one row per message and channel, written before delivery and finished after.

A message is an alarm to the people on duty, an escalation of an alarm nobody acknowledged, a hazard
dispatched, overdue, escalated or due for its re-check, to one channel (an Apprise URL). The notifier's
dispatcher writes each message ``queued`` (one transaction per batch of messages) before handing it to a
delivery thread, which finishes the row once its delivery ended: ``sent``, ``failed`` after its last try,
``dropped`` when the queue was full, or ``abandoned`` with the reason when a start found it no longer worth
sending (its alarm closed meanwhile, its channel gone from the configuration). A row still ``queued`` is owed:
the next start (or the gateway that takes over) resumes it.

The channel is kept scrubbed (``gateway.notify.channels.scrub``): passwords and tokens never reach the
store. ``route`` says where the address came from (``duty``, ``escalate``, ``hazards``, ``party:<id>``,
``level:<name>``), so that a resumed message finds its full address again in the configuration or the
party. Nothing is deleted; a finished row is never changed again. Rows are written from the notifier's own
threads, never from the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Integer, String, Table, Text, insert, select, update

from gateway.store.database import Database, new_id
from gateway.store.tables import UtcDateTime, metadata

#: A row's states: ``queued`` until its delivery ends, then one of the others for good.
QUEUED = "queued"
FINISHED = ("sent", "failed", "dropped", "abandoned")

notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    #: alarm / alarm_escalation / hazard_dispatched / hazard_overdue / hazard_escalated / hazard_recheck_due
    Column("kind", String(32), nullable=False),
    #: alarm / hazard, and its id
    Column("subject", String(16), nullable=False),
    Column("subject_id", Integer, nullable=False),
    Column("estate_id", String(64), nullable=False),
    #: The Apprise URL with its secrets masked.
    Column("channel", Text, nullable=False),
    Column("title", Text, nullable=False, default=""),
    Column("body", Text, nullable=False, default=""),
    Column("queued_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Column("attempts", Integer, nullable=False, default=0),
    #: queued / sent / failed / dropped / abandoned
    Column("state", String(16), nullable=False),
    Column("error", Text, nullable=False, default=""),
    #: Where the address came from (None on rows of older versions, which were written once finished).
    Column("route", String(64)),
    Index("notifications_by_subject", "subject", "subject_id"),
    Index("notifications_by_time", "queued_at"),
    Index("notifications_by_state", "state"),
)


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    id: int
    kind: str
    subject: str
    subject_id: int
    estate_id: str
    channel: str
    title: str
    body: str
    queued_at: datetime
    sent_at: datetime | None
    attempts: int
    state: str
    error: str
    route: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a queued row's delivery ended."""

    row_id: int
    state: str
    attempts: int
    sent_at: datetime | None = None
    error: str = ""


def _record(row: Mapping[Any, Any]) -> NotificationRecord:
    return NotificationRecord(**dict(row))


def _finished_values(state: str, attempts: int, sent_at: datetime | None, error: str) -> dict[str, Any]:
    if state not in FINISHED:
        raise ValueError(f"a notification ends {', '.join(FINISHED)}, not {state!r}")
    return {"state": state, "attempts": attempts, "sent_at": sent_at, "error": error[:2000]}


class NotificationRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def queue(self, messages: Sequence[Mapping[str, Any]]) -> list[int]:
        """Write ``messages`` (each: kind, subject, subject_id, estate_id, channel, route, title, body,
        queued_at) as ``queued`` in one transaction; their ids, in order."""
        ids: list[int] = []
        with self._db.tx() as conn:
            for message in messages:
                values = {**message, "state": QUEUED, "attempts": 0, "sent_at": None, "error": ""}
                ids.append(new_id(conn.execute(insert(notifications).values(**values))))
        return ids

    def finish(self, outcomes: Iterable[Outcome]) -> int:
        """End queued rows (one transaction); a row already finished is left as it is. How many ended."""
        ended = 0
        with self._db.tx() as conn:
            for o in outcomes:
                result = conn.execute(
                    update(notifications)
                    .where(notifications.c.id == o.row_id, notifications.c.state == QUEUED)
                    .values(**_finished_values(o.state, o.attempts, o.sent_at, o.error))
                )
                ended += result.rowcount
        return ended

    def record(
        self,
        *,
        kind: str,
        subject: str,
        subject_id: int,
        estate_id: str,
        channel: str,
        title: str,
        body: str,
        queued_at: datetime,
        sent_at: datetime | None,
        attempts: int,
        state: str,
        error: str = "",
        route: str | None = None,
    ) -> NotificationRecord:
        """Write a message that ends without having been queued in the store (its queued row could not be
        written, or a start decided at once not to send it)."""
        values: dict[str, Any] = {
            "kind": kind,
            "subject": subject,
            "subject_id": subject_id,
            "estate_id": estate_id,
            "channel": channel,
            "title": title,
            "body": body,
            "queued_at": queued_at,
            "route": route,
            **_finished_values(state, attempts, sent_at, error),
        }
        with self._db.tx() as conn:
            row_id = new_id(conn.execute(insert(notifications).values(**values)))
        return NotificationRecord(id=row_id, **values)

    def owed(self, limit: int = 10_000) -> list[NotificationRecord]:
        """The rows still ``queued`` (written before a crash, a stop or a takeover), oldest first."""
        query = (
            select(notifications)
            .where(notifications.c.state == QUEUED)
            .order_by(notifications.c.id)
            .limit(limit)
        )
        with self._db.tx() as conn:
            return [_record(r) for r in conn.execute(query).mappings()]

    def settled(self, subject: str, subject_ids: Sequence[int]) -> set[tuple[int, str, str]]:
        """(subject id, kind, channel) of the messages about these subjects that need no new try: sent,
        still queued, or abandoned for a reason."""
        if not subject_ids:
            return set()
        query = select(notifications.c.subject_id, notifications.c.kind, notifications.c.channel).where(
            notifications.c.subject == subject,
            notifications.c.subject_id.in_(list(subject_ids)),
            notifications.c.state.in_([QUEUED, "sent", "abandoned"]),
        )
        with self._db.tx() as conn:
            return {(int(r.subject_id), str(r.kind), str(r.channel)) for r in conn.execute(query)}

    def recent(
        self,
        *,
        estate_ids: list[str] | None = None,
        subject: str | None = None,
        subject_id: int | None = None,
        state: str | None = None,
        limit: int = 200,
    ) -> list[NotificationRecord]:
        """Newest first; ``estate_ids`` None means every estate."""
        query = select(notifications)
        if estate_ids is not None:
            query = query.where(notifications.c.estate_id.in_(estate_ids))
        if subject is not None:
            query = query.where(notifications.c.subject == subject)
        if subject_id is not None:
            query = query.where(notifications.c.subject_id == subject_id)
        if state is not None:
            query = query.where(notifications.c.state == state)
        query = query.order_by(notifications.c.queued_at.desc(), notifications.c.id.desc()).limit(limit)
        with self._db.tx() as conn:
            return [_record(r) for r in conn.execute(query).mappings()]
