"""Shift handovers (交接班): the outgoing operator hands the control room over, the incoming one signs for it.

A control room is the scope of the accounts that work it (``gateway/casework/handover.py``): an account
hands over, and signs for, the room of its own scope only. The outgoing account's ``POST /api/handovers``
records its note and the gateway's snapshot of what is open; a *different* account of the same room signs it
(``POST /api/handovers/{id}/sign``) with its own note. Until then the handover is pending, and the room cannot
be handed over again (409). Nothing is changed or deleted afterwards: there is no route to.

Reading: ``GET /api/handovers?room=…`` (the log, newest first; default the caller's room),
``GET /api/handovers/{id}``, ``GET /api/handovers/current?room=…`` (what a handover would record now, and the
pending one), ``GET /api/handovers/rooms``. A room whose estates are not all in the caller's scope is "not
found", and so is each of its handovers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import Field

from gateway.api.deps import Engine, Principal, Scope, actor_of
from gateway.api.schemas import SIGNED_IN_NAME, In, Out, RowId
from gateway.auth.principal import EstateScope, Forbidden, Permission
from gateway.auth.principal import Principal as Caller
from gateway.casework.engine import RuleEngine
from gateway.casework.handover import ControlRoom, HandoverSnapshot, SnapshotCounts, take_snapshot
from gateway.casework.model import EngineError
from gateway.store.database import NotFound
from gateway.store.handovers import HandoverRecord

router = APIRouter(prefix="/api/handovers", tags=["shift handover"])

#: ``?room=``: which control room (``gateway/casework/handover.py``); default the caller's own.
RoomKey = Annotated[str | None, Query(description="all, company:<company> or area:<district>[/<street>]")]

NOTE_MAX = 4000


class NoteIn(In):
    """A handover's or a signature's body: the shift's own note beside the gateway's snapshot."""

    note: str = Field(default="", max_length=NOTE_MAX, description="what the shift hands over or notes")
    by: str | None = Field(default=None, min_length=1, description=SIGNED_IN_NAME)


class RoomOut(Out):
    key: str = Field(description="all, company:<company>, area:<district> or area:<district>/<street>")
    zh: str
    en: str
    own: bool = Field(description="the room of the caller's own scope")
    works: bool = Field(description="the caller works this room: it may hand it over and sign for it")
    estate_ids: list[str] | None = Field(description="its estates now (null: every estate)")
    pending_id: int | None = Field(description="its handover waiting for a signature, if any")


class HandoverOut(Out):
    id: int
    room: str
    room_zh: str
    room_en: str
    estate_ids: list[str] | None = Field(description="the room's estates when it was handed over (null: all)")
    state: str = Field(description="pending (waiting for the incoming signature) / signed")
    outgoing_account: str
    outgoing_name: str
    outgoing_note: str
    started_at: datetime
    incoming_account: str | None
    incoming_name: str | None
    incoming_note: str | None
    signed_at: datetime | None
    counts: SnapshotCounts
    snapshot: HandoverSnapshot | None = Field(description="what was open (left out of the log's list)")


class CurrentOut(Out):
    room: RoomOut
    snapshot: HandoverSnapshot = Field(description="what a handover would record now")
    pending: HandoverOut | None


def handover_out(record: HandoverRecord, *, full: bool = True) -> HandoverOut:
    # The log's list reads only the counts: a city-wide room's snapshots hold hundreds of items each.
    snapshot = HandoverSnapshot.model_validate(record.snapshot) if full else None
    zh, en = ControlRoom.parse(record.room).label
    return HandoverOut(
        id=record.id,
        room=record.room,
        room_zh=zh,
        room_en=en,
        estate_ids=record.estate_ids,
        state="pending" if record.pending else "signed",
        outgoing_account=record.outgoing_account,
        outgoing_name=record.outgoing_name,
        outgoing_note=record.outgoing_note,
        started_at=record.started_at,
        incoming_account=record.incoming_account,
        incoming_name=record.incoming_name,
        incoming_note=record.incoming_note,
        signed_at=record.signed_at,
        counts=SnapshotCounts.model_validate(record.snapshot["counts"]),
        snapshot=snapshot,
    )


def _chosen_room(engine: Engine, scope: Scope, principal: Principal, room: RoomKey = None) -> ControlRoom:
    """The room asked for with ``?room=`` (default: the caller's own); 404 unless the caller may read it."""
    own = ControlRoom(principal.account_scope)
    if room is None:
        return own
    try:
        chosen = ControlRoom.parse(room)
    except ValueError as exc:
        raise EngineError(f"room: {exc}") from None
    if not chosen.readable_in(scope, own, engine.registry):
        raise NotFound(f"no control room {room!r}")
    return chosen


ChosenRoom = Annotated[ControlRoom, Depends(_chosen_room)]


def _room_out(room: ControlRoom, engine: RuleEngine, principal: Caller) -> RoomOut:
    zh, en = room.label
    estates = room.estates(engine.registry).estate_ids
    latest = engine.store.handovers.latest(room.key)
    own = room == ControlRoom(principal.account_scope)
    return RoomOut(
        key=room.key,
        zh=zh,
        en=en,
        own=own,
        works=own and principal.can(Permission.HAND_OVER_SHIFT),
        estate_ids=None if estates is None else sorted(estates),
        pending_id=latest.id if latest is not None and latest.pending else None,
    )


def _signer(principal: Caller, claimed: str | None) -> tuple[str, str]:
    """(account, name) of who signs: the signed-in account, or with accounts disabled the name given."""
    name = actor_of(principal, claimed, "by")
    return (principal.username if principal.authenticated else name), name


@router.get("/rooms", summary="The control rooms whose handovers the caller may read, its own first")
async def list_rooms(engine: Engine, scope: Scope, principal: Principal) -> list[RoomOut]:
    own = ControlRoom(principal.account_scope)
    rooms = [own]
    for key in engine.store.handovers.rooms():
        room = ControlRoom.parse(key)
        if room != own and room.readable_in(scope, own, engine.registry):
            rooms.append(room)
    return [_room_out(room, engine, principal) for room in rooms]


@router.get("/current", summary="What a handover of the room would record now, and its pending handover")
async def current(engine: Engine, principal: Principal, chosen: ChosenRoom) -> CurrentOut:
    now = engine.clock()
    latest = engine.store.handovers.latest(chosen.key)
    return CurrentOut(
        room=_room_out(chosen, engine, principal),
        snapshot=take_snapshot(engine, chosen.estates(engine.registry), now),
        pending=handover_out(latest) if latest is not None and latest.pending else None,
    )


@router.get("", summary="The room's handover log, newest first, with both signatures")
async def list_handovers(
    engine: Engine,
    chosen: ChosenRoom,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[RowId | None, Query(description="the next page: handovers before this id")] = None,
    full: Annotated[bool, Query(description="include each snapshot (for an export)")] = False,
) -> list[HandoverOut]:
    records = engine.store.handovers.find(chosen.key, limit=limit, before_id=before_id)
    return [handover_out(r, full=full) for r in records]


@router.get("/{handover_id}", summary="One handover with its snapshot")
async def get_handover(handover_id: RowId, engine: Engine, scope: Scope, principal: Principal) -> HandoverOut:
    return handover_out(_readable(handover_id, engine, scope, principal))


def _readable(handover_id: int, engine: RuleEngine, scope: EstateScope, principal: Caller) -> HandoverRecord:
    record = engine.store.handovers.get(handover_id)
    own = ControlRoom(principal.account_scope)
    if not ControlRoom.parse(record.room).readable_in(scope, own, engine.registry):
        raise NotFound(f"no handover {handover_id}")
    return record


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Hand the caller's control room over (交班): a note, and the gateway's snapshot of what is open",
)
async def hand_over(body: NoteIn, engine: Engine, principal: Principal) -> HandoverOut:
    principal.check(Permission.HAND_OVER_SHIFT, "hand a control-room shift over")
    room = ControlRoom(principal.account_scope)
    account, name = _signer(principal, body.by)
    now = engine.clock()
    estates = room.estates(engine.registry)
    snapshot = take_snapshot(engine, estates, now)
    record = engine.store.handovers.hand_over(
        room=room.key,
        estate_ids=None if estates.estate_ids is None else sorted(estates.estate_ids),
        outgoing_account=account,
        outgoing_name=name,
        note=body.note.strip(),
        snapshot=snapshot.model_dump(mode="json"),
        now=now,
    )
    return handover_out(record)


@router.post(
    "/{handover_id}/sign", summary="Sign for taking the shift over (接班): another account of its room"
)
async def sign(
    handover_id: RowId, body: NoteIn, engine: Engine, scope: Scope, principal: Principal
) -> HandoverOut:
    record = _readable(handover_id, engine, scope, principal)
    principal.check(Permission.HAND_OVER_SHIFT, "sign for a control-room shift")
    room, own = ControlRoom.parse(record.room), ControlRoom(principal.account_scope)
    if room != own:
        raise Forbidden(
            f"{principal.actor or 'this account'} works the {own.label[1]}, not the {room.label[1]}: "
            "an operator of that room signs for its shift"
        )
    account, name = _signer(principal, body.by)
    signed = engine.store.handovers.sign(
        handover_id, incoming_account=account, incoming_name=name, note=body.note.strip(), now=engine.clock()
    )
    return handover_out(signed)
