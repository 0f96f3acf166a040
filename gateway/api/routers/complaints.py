"""Complaints (12345 hotline, reports) and confirmed fires: the counted records behind Y14/R6, Y15/R7."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from gateway.api.deps import Engine, Principal, Scope, actor_of
from gateway.api.schemas import ComplaintIn, ComplaintOut, FireIn, FireOut
from gateway.auth.principal import Permission

router = APIRouter(prefix="/api", tags=["complaints and fires"])


@router.get("/complaints", summary="Complaints in scope, oldest first")
async def list_complaints(
    engine: Engine,
    scope: Scope,
    estate_id: Annotated[list[str] | None, Query()] = None,
    since: datetime | None = None,
) -> list[ComplaintOut]:
    return [
        ComplaintOut.model_validate(c) for c in engine.store.complaints.find(scope.filter(estate_id), since)
    ]


@router.post("/complaints", status_code=status.HTTP_201_CREATED, summary="Record a fire-hazard complaint")
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
