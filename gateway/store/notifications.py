"""Notifications (推送记录): one row per message and channel, written once its delivery ended.

A message is an alarm to the people on duty, an escalation of an alarm nobody acknowledged, or a hazard
dispatched, overdue or due for its re-check, to one channel (an Apprise URL). Its row says when it was
queued, when it was sent (or not), how many tries it took and, for one that was not sent, why: ``failed``
after its last try, ``dropped`` when the queue was full, ``abandoned`` when the gateway stopped first.

The channel is kept scrubbed (``gateway.notify.channels.scrub``): passwords and tokens never reach the
store. Insert-only: nothing is updated or deleted. Rows are written from the notifier's own threads, one
short transaction each, never from the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Integer, String, Table, Text, insert, select

from gateway.store.database import Database, new_id
from gateway.store.tables import UtcDateTime, metadata

notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    #: alarm / alarm_escalation / hazard_dispatched / hazard_overdue / hazard_recheck_due
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
    #: sent / failed / dropped / abandoned
    Column("state", String(16), nullable=False),
    Column("error", Text, nullable=False, default=""),
    Index("notifications_by_subject", "subject", "subject_id"),
    Index("notifications_by_time", "queued_at"),
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


def _record(row: Mapping[Any, Any]) -> NotificationRecord:
    return NotificationRecord(**dict(row))


class NotificationRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

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
    ) -> NotificationRecord:
        values: dict[str, Any] = {
            "kind": kind,
            "subject": subject,
            "subject_id": subject_id,
            "estate_id": estate_id,
            "channel": channel,
            "title": title,
            "body": body,
            "queued_at": queued_at,
            "sent_at": sent_at,
            "attempts": attempts,
            "state": state,
            "error": error[:2000],
        }
        with self._db.tx() as conn:
            row_id = new_id(conn.execute(insert(notifications).values(**values)))
        return NotificationRecord(id=row_id, **values)

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
