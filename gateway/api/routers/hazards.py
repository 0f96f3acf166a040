"""Hazards (隐患): list, file by hand, step through the closed loop; each step keeps who, when, why."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from gateway.api.convert import hazard_out, transition_out
from gateway.api.deps import Engine, Principal, Scope, actor_of
from gateway.api.limits import SHARE_REFUSAL, Share, daily_share
from gateway.api.routers.photos import photo_fields
from gateway.api.schemas import MAX_INT, FileHazardIn, HazardDetail, HazardOut, HazardTransitionIn, RowId
from gateway.auth.principal import HAZARD_ACTION_PERMISSIONS, Permission
from gateway.store.database import NotFound
from rules.lifecycle import HazardState, allowed_hazard_actions

router = APIRouter(prefix="/api/hazards", tags=["hazards"])


@router.get("", summary="Hazards in scope, newest first")
async def list_hazards(
    engine: Engine,
    scope: Scope,
    estate_id: Annotated[list[str] | None, Query()] = None,
    open: Annotated[bool, Query(description="only hazards not yet closed")] = False,
    state: HazardState | None = None,
    criterion: str | None = None,
    device_id: str | None = None,
    overdue: Annotated[bool, Query(description="only hazards past their deadline and not fixed")] = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> list[HazardOut]:
    now = engine.clock()
    records = engine.store.hazards.find(
        estate_ids=scope.filter(estate_id),
        open_only=open,
        state=state,
        criterion=criterion,
        device_id=device_id,
        overdue_at=now if overdue else None,
        limit=limit,
        offset=offset,
    )
    return [hazard_out(h, engine.policy, now, engine.registry) for h in records]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="File a hazard found on patrol or inspection",
    dependencies=[daily_share(Share.HAZARDS)],  # [limits] hazards_per_day (gateway/api/limits.py)
    responses=SHARE_REFUSAL,
)
async def file_hazard(body: FileHazardIn, engine: Engine, scope: Scope, principal: Principal) -> HazardDetail:
    scope.check(body.estate_id)
    principal.check(Permission.FILE_HAZARD, "file hazards")
    hazard = engine.hazards.file(
        estate_id=body.estate_id,
        criterion=body.criterion,
        location=body.location,
        description=body.description,
        photo=body.photo,
        reporter=actor_of(principal, body.reporter, "reporter"),
    )
    return _detail(engine, hazard.id)


@router.get("/{hazard_id}", summary="One hazard with its full transition history")
async def get_hazard(hazard_id: RowId, engine: Engine, scope: Scope) -> HazardDetail:
    hazard = engine.store.hazards.get(hazard_id)
    if not scope.allows(hazard.estate_id):
        raise NotFound(f"no hazard {hazard_id}")
    return _detail(engine, hazard_id)


@router.post("/{hazard_id}/transitions", summary="Step the hazard: dispatch, start, rectified, verify, ...")
async def transition(
    hazard_id: RowId, body: HazardTransitionIn, engine: Engine, scope: Scope, principal: Principal
) -> HazardDetail:
    hazard = engine.store.hazards.get(hazard_id)
    if not scope.allows(hazard.estate_id):
        raise NotFound(f"no hazard {hazard_id}")
    principal.check(HAZARD_ACTION_PERMISSIONS[body.action], f"{body.action.value!r} hazards")
    engine.hazards.step(
        hazard_id,
        body.action,
        actor=actor_of(principal, body.actor),
        reason=body.reason,
        deadline=body.deadline,
        responsible=body.responsible,
        evidence=body.evidence,
        party_id=body.party_id,
        outcome=body.outcome,
    )
    return _detail(engine, hazard_id)


def _detail(engine: Engine, hazard_id: int) -> HazardDetail:
    hazard = engine.store.hazards.get(hazard_id)
    out = hazard_out(hazard, engine.policy, engine.clock(), engine.registry)
    signal, tz = hazard.signal or "", engine.policy.timezone
    history = [transition_out(t, signal, tz) for t in engine.store.hazards.history(hazard_id)]
    return HazardDetail(
        **out.model_dump(),
        history=history,
        allowed_actions=allowed_hazard_actions(hazard.state),
        reopened_as=next((t.data["reopened_as"] for t in history if "reopened_as" in t.data), None),
        **photo_fields(engine, hazard),
    )
