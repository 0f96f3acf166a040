"""Maintenance and test windows (屏蔽 with a time limit): declared for a device, a building or an estate.

Inside a window, device signals are recorded and shown marked with it but file no hazard and do not move the
grade; a smoke alarm is still raised and shown, pre-marked as a test. A window expires by itself at
``ends_at`` or is ended early; then the devices still failing get their hazards (gateway/casework/windows.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import AwareDatetime, Field

from gateway.api.deps import Engine, Principal, Scope, actor_of
from gateway.api.schemas import SIGNED_IN_NAME, In, Out, RowId, Text
from gateway.auth.principal import Permission
from gateway.store.database import NotFound
from gateway.store.windows import WindowRecord

router = APIRouter(prefix="/api/windows", tags=["maintenance windows"])

#: The mark shown on what happens inside a window.
MARK = Text(zh="测试/维护中", en="testing / maintenance")


class WindowIn(In):
    estate_id: str
    building_id: str | None = Field(default=None, description="the window covers this building's devices")
    device_id: str | None = Field(default=None, description="the window covers this one device")
    starts_at: AwareDatetime | None = Field(default=None, description="default: now")
    ends_at: AwareDatetime = Field(description="at most the policy's maintenance.max_window after starts_at")
    reason: str = Field(default="", description="what is tested or maintained (required)")
    declared_by: str | None = Field(default=None, min_length=1, description=SIGNED_IN_NAME)


class WindowEndIn(In):
    reason: str = ""
    by: str | None = Field(default=None, min_length=1, description=SIGNED_IN_NAME)


class WindowOut(Out):
    id: int
    estate_id: str
    scope: str = Field(description="device / building / estate")
    target_id: str = Field(description="the device, building or estate the window covers")
    starts_at: datetime
    ends_at: datetime
    declared_by: str
    reason: str
    declared_at: datetime
    ended_at: datetime | None = Field(description="set if it was ended before ends_at")
    ended_by: str | None
    end_reason: str | None
    state: str = Field(description="scheduled / active / ended (early) / expired")
    settled_at: datetime | None = Field(description="when the gateway finished it")
    settlement: dict[str, Any] | None = Field(
        description="what finishing it did: hazards opened for devices still failing, closed for recovered"
    )
    mark: Text


def window_out(window: WindowRecord, now: datetime) -> WindowOut:
    return WindowOut(
        id=window.id,
        estate_id=window.estate_id,
        scope=window.scope.value,
        target_id=window.target_id,
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        declared_by=window.declared_by,
        reason=window.reason,
        declared_at=window.declared_at,
        ended_at=window.ended_at,
        ended_by=window.ended_by,
        end_reason=window.end_reason,
        state=window.state(now),
        settled_at=window.settled_at,
        settlement=window.settlement,
        mark=MARK,
    )


@router.get("", summary="Maintenance windows in scope, newest first")
async def list_windows(
    engine: Engine,
    scope: Scope,
    estate_id: Annotated[list[str] | None, Query()] = None,
    active: Annotated[bool, Query(description="only the windows covering their devices now")] = False,
    since: Annotated[datetime | None, Query(description="only windows still running at or after")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> list[WindowOut]:
    now = engine.clock()
    records = engine.store.windows.find(
        scope.filter(estate_id), since, active_at=now if active else None, limit=limit
    )
    return [window_out(w, now) for w in records]


@router.post("", status_code=status.HTTP_201_CREATED, summary="Declare a maintenance or test window")
async def declare_window(body: WindowIn, engine: Engine, scope: Scope, principal: Principal) -> WindowOut:
    scope.check(body.estate_id)
    principal.check(Permission.DECLARE_WINDOW, "declare maintenance windows")
    now = engine.clock()
    window = engine.windows.declare(
        estate_id=body.estate_id,
        building_id=body.building_id,
        device_id=body.device_id,
        starts_at=body.starts_at or now,
        ends_at=body.ends_at,
        reason=body.reason,
        declared_by=actor_of(principal, body.declared_by, "declared_by"),
        now=now,
    )
    return window_out(window, now)


@router.post("/{window_id}/end", summary="End a window early: devices still failing get their hazards")
async def end_window(
    window_id: RowId, body: WindowEndIn, engine: Engine, scope: Scope, principal: Principal
) -> WindowOut:
    current = engine.store.windows.get(window_id)
    if not scope.allows(current.estate_id):
        raise NotFound(f"no window {window_id}")
    principal.check(Permission.DECLARE_WINDOW, "end maintenance windows")
    now = engine.clock()
    window = engine.windows.end(window_id, by=actor_of(principal, body.by, "by"), reason=body.reason, now=now)
    return window_out(window, now)
