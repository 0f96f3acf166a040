"""Alarms: acknowledged, dispatched, on scene, then closed as real fire, false alarm, test or fault."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from gateway.api.convert import alarms_out, transition_out
from gateway.api.deps import Engine, Principal, Scope, Services, actor_of
from gateway.api.schemas import AlarmDetail, AlarmOut, AlarmScreenOut, AlarmTransitionIn, RowId
from gateway.auth.principal import ALARM_ACTION_PERMISSIONS
from gateway.store.database import NotFound
from rules.lifecycle import ALARM_TARGETS_S

router = APIRouter(prefix="/api/alarms", tags=["alarms"])


@router.get("", summary="Alarms in scope, newest first")
async def list_alarms(
    engine: Engine,
    scope: Scope,
    estate_id: Annotated[list[str] | None, Query()] = None,
    open: Annotated[bool, Query(description="only alarms not yet closed")] = False,
    device_id: str | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> list[AlarmOut]:
    now = engine.clock()
    records = engine.store.alarms.find(
        estate_ids=scope.filter(estate_id), open_only=open, device_id=device_id, since=since, limit=limit
    )
    return alarms_out(records, engine, now)


@router.get("/screen", summary="What the alarm bar needs besides the alarms: the targets and the phone")
async def alarm_screen(services: Services) -> AlarmScreenOut:
    """The micro fire station targets an alarm's timer and urgency run against (1 minute to acknowledge, 3 to
    be on scene, 5 to handle), and the control room's own phone (``[notify] control_room_phone``)."""
    return AlarmScreenOut(targets_s=ALARM_TARGETS_S, control_room_phone=services.control_room_phone)


@router.get("/{alarm_id}", summary="One alarm with the time of each step")
async def get_alarm(alarm_id: RowId, engine: Engine, scope: Scope) -> AlarmDetail:
    return _detail(engine, scope, alarm_id)


@router.post("/{alarm_id}/transitions", summary="acknowledge, dispatch, on_scene, or close with an outcome")
async def transition(
    alarm_id: RowId, body: AlarmTransitionIn, engine: Engine, scope: Scope, principal: Principal
) -> AlarmDetail:
    _detail(engine, scope, alarm_id)
    principal.check(ALARM_ACTION_PERMISSIONS[body.action], f"{body.action.value!r} alarms")
    engine.alarms.step(
        alarm_id,
        body.action,
        actor=actor_of(principal, body.actor),
        outcome=body.outcome,
        note=body.note,
        cause=body.cause,
        cause_text=body.cause_text,
        confirm=body.confirm,
        fatal=body.fatal,
        high_impact=body.high_impact,
    )
    return _detail(engine, scope, alarm_id)


def _detail(engine: Engine, scope: Scope, alarm_id: int) -> AlarmDetail:
    alarm = engine.store.alarms.get(alarm_id)
    if not scope.allows(alarm.estate_id):
        raise NotFound(f"no alarm {alarm_id}")
    (out,) = alarms_out([alarm], engine, engine.clock())
    tz = engine.policy.timezone
    history = [transition_out(t, timezone=tz) for t in engine.store.alarms.history(alarm_id)]
    return AlarmDetail(**out.model_dump(), history=history)
