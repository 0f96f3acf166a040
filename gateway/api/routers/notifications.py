"""``GET /api/notifications``: the messages pushed to people, newest first, with how each went.

For office (street/community) and brigade accounts, within their scope: each row is one message to one
channel (scrubbed of its secrets): what (alarm, escalation, hazard dispatched/overdue/re-check due), about
which alarm or hazard, when it was queued and sent, in how many tries, and why it failed if it did.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query

from gateway.api.deps import Engine, Principal, Scope
from gateway.api.schemas import Out, RowId
from gateway.auth.principal import Permission

router = APIRouter(tags=["notifications"])


class NotificationOut(Out):
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


@router.get("/api/notifications", response_model=list[NotificationOut], summary="Messages pushed to people")
def list_notifications(
    engine: Engine,
    principal: Principal,
    scope: Scope,
    subject: Literal["alarm", "hazard"] | None = None,
    subject_id: RowId | None = None,
    state: Literal["queued", "sent", "failed", "dropped", "abandoned"] | None = None,
    limit: int = Query(default=200, ge=1, le=2000),
) -> list[NotificationOut]:
    principal.check(Permission.READ_NOTIFICATIONS, "read the notification log")
    rows = engine.store.notifications.recent(
        estate_ids=scope.filter(None),
        subject=subject,
        subject_id=subject_id,
        state=state,
        limit=limit,
    )
    return [NotificationOut.model_validate(row, from_attributes=True) for row in rows]
