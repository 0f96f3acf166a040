"""Complaints (12345 hotline, reports) and confirmed fires: the counted records behind Y14/R6, Y15/R7."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import Field

from gateway.api.deps import Engine, Principal, Scope, actor_of
from gateway.api.limits import SHARE_REFUSAL, Share, daily_share
from gateway.api.schemas import SIGNED_IN_NAME, ComplaintIn, ComplaintOut, FireIn, FireOut, In, Out, RowId
from gateway.auth.principal import EstateScope, Permission
from gateway.casework.engine import RuleEngine
from gateway.store.database import NotFound

router = APIRouter(prefix="/api", tags=["complaints and fires"])


class ComplaintVoidIn(In):
    reason: str = Field(
        default="", description="why it does not count (filed in error, not a fire hazard...)"
    )
    by: str | None = Field(default=None, min_length=1, description=SIGNED_IN_NAME)


class ComplaintMergeIn(In):
    complaint_ids: list[RowId] = Field(description="the duplicates, merged into ``into``")
    into: RowId = Field(description="the complaint the incident counts as")
    reason: str = Field(default="", description="why they are one incident")
    by: str | None = Field(default=None, min_length=1, description=SIGNED_IN_NAME)


class ComplaintChangeOut(Out):
    complaint_id: int
    action: str = Field(description="void / merge")
    into_id: int | None
    by: str
    at: datetime
    reason: str


class ComplaintDetail(ComplaintOut):
    changes: list[ComplaintChangeOut] = Field(
        description="voids and merges of it, and of those merged into it"
    )


class ComplaintMergeOut(Out):
    into: ComplaintOut
    merged: list[ComplaintOut]
    changes: list[ComplaintChangeOut]


@router.get("/complaints", summary="Complaints in scope, oldest first, each with its state")
async def list_complaints(
    engine: Engine,
    scope: Scope,
    estate_id: Annotated[list[str] | None, Query()] = None,
    since: datetime | None = None,
    state: Annotated[
        Literal["counted", "voided", "merged"] | None, Query(description="only complaints in this state")
    ] = None,
) -> list[ComplaintOut]:
    found = engine.store.complaints.find(scope.filter(estate_id), since)
    return [ComplaintOut.model_validate(c) for c in found if state is None or c.state == state]


def _in_scope(engine: RuleEngine, scope: EstateScope, fields: dict[str, list[int]]) -> None:
    """404 for a complaint that does not exist or is outside the caller's scope (the same answer), naming
    the field that gave it."""
    found = engine.store.complaints.get_many([i for ids in fields.values() for i in ids])
    problems = []
    for field, ids in fields.items():
        hidden = [i for i in dict.fromkeys(ids) if i not in found or not scope.allows(found[i].estate_id)]
        if hidden:
            problems.append(f"{field}: no complaint " + ", ".join(str(i) for i in hidden))
    if problems:
        raise NotFound("; ".join(problems))


def _changes(engine: RuleEngine, ids: list[int]) -> list[ComplaintChangeOut]:
    return [ComplaintChangeOut.model_validate(c) for c in engine.store.complaints.changes(ids)]


@router.post(
    "/complaints/{complaint_id}/void", summary="Void a complaint filed in error (it stays, not counted)"
)
async def void_complaint(
    complaint_id: RowId, body: ComplaintVoidIn, engine: Engine, scope: Scope, principal: Principal
) -> ComplaintDetail:
    _in_scope(engine, scope, {"complaint_id": [complaint_id]})
    principal.check(Permission.VOID_COMPLAINT, "void complaints")
    record = engine.incidents.void_complaint(
        complaint_id, by=actor_of(principal, body.by, "by"), reason=body.reason
    )
    out = ComplaintOut.model_validate(record)
    return ComplaintDetail(**out.model_dump(), changes=_changes(engine, [complaint_id]))


@router.post("/complaints/merge", summary="Merge duplicate complaints about one incident into one")
async def merge_complaints(
    body: ComplaintMergeIn, engine: Engine, scope: Scope, principal: Principal
) -> ComplaintMergeOut:
    _in_scope(engine, scope, {"into": [body.into], "complaint_ids": body.complaint_ids})
    principal.check(Permission.VOID_COMPLAINT, "merge complaints")
    records = engine.incidents.merge_complaints(
        body.complaint_ids, into=body.into, by=actor_of(principal, body.by, "by"), reason=body.reason
    )
    return ComplaintMergeOut(
        into=ComplaintOut.model_validate(records[0]),
        merged=[ComplaintOut.model_validate(r) for r in records[1:]],
        changes=_changes(engine, [body.into]),
    )


@router.post(
    "/complaints",
    status_code=status.HTTP_201_CREATED,
    summary="Record a fire-hazard complaint",
    dependencies=[daily_share(Share.COMPLAINTS)],  # [limits] complaints_per_day (gateway/api/limits.py)
    responses=SHARE_REFUSAL,
)
async def add_complaint(
    body: ComplaintIn, engine: Engine, scope: Scope, principal: Principal
) -> ComplaintOut:
    scope.check(body.estate_id)
    principal.check(Permission.RECORD_COMPLAINT, "record complaints")
    record = engine.incidents.add_complaint(
        estate_id=body.estate_id,
        received_at=body.received_at,
        channel=body.channel,
        description=body.description,
        reporter=actor_of(principal, body.reporter, "reporter"),
    )
    return ComplaintOut.model_validate(record)


@router.get("/fires", summary="Confirmed fires in scope, oldest first")
async def list_fires(
    engine: Engine,
    scope: Scope,
    estate_id: Annotated[list[str] | None, Query()] = None,
    since: datetime | None = None,
) -> list[FireOut]:
    return [FireOut.model_validate(f) for f in engine.store.fires.find(scope.filter(estate_id), since)]


@router.post(
    "/fires", status_code=status.HTTP_201_CREATED, summary="Record a confirmed fire not raised by an alarm"
)
async def add_fire(body: FireIn, engine: Engine, scope: Scope, principal: Principal) -> FireOut:
    scope.check(body.estate_id)
    principal.check(Permission.RECORD_FIRE, "record fires")
    record = engine.incidents.add_fire(
        estate_id=body.estate_id,
        occurred_at=body.occurred_at,
        fatal=body.fatal,
        high_impact=body.high_impact,
        description=body.description,
        recorded_by=actor_of(principal, body.recorded_by, "recorded_by"),
    )
    return FireOut.model_validate(record)
