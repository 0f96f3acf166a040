"""Responsible parties (责任单位): the property company, community, street, maintenance company, owners'
committee or brigade a hazard is dispatched to, with a person, a phone and the channels that reach them.

Everyone signed in reads the parties serving estates in their scope (the estates outside it are left out of
each party, and the channel addresses, which carry webhook keys, are shown only to those who manage parties).
Office and brigade accounts create and change them (``manage_parties``); nothing is deleted (``active``
false), and every change keeps a version, which ``GET /api/parties/{id}/versions`` lists to everyone who sees
the party (as the list shows it: estates in scope, addresses to managers only).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import Field

from gateway.api.deps import Engine, Principal, Scope, actor_of
from gateway.api.schemas import SIGNED_IN_NAME, In, Out, RowId, Text
from gateway.auth.principal import EstateScope, Permission
from gateway.casework.engine import RuleEngine
from gateway.casework.model import EngineError
from gateway.casework.parties import check_party
from gateway.store.database import NotFound
from gateway.store.parties import FIELDS, PartyKind, PartyRecord, version_record
from rules.history_texts import actor_text, transition_text

router = APIRouter(prefix="/api/parties", tags=["parties"])


class PartyIn(In):
    kind: str = Field(
        description="property_company, community, street, maintenance_company, owners_committee, district, "
        "brigade"
    )
    name: str = Field(description="e.g. 锦绣物业, 和平街道办事处")
    contact: str = Field(default="", description="the contact person")
    phone: str = Field(default="", description="mobile, landline with area code, 400/800 or service number")
    channels: list[str] = Field(
        default_factory=list, description="webhook URLs (WeCom, DingTalk, Apprise URLs) or e-mail addresses"
    )
    estate_ids: list[str] = Field(description="the estates it serves (at least one)")
    active: bool = True
    reason: str = ""
    actor: str | None = Field(default=None, min_length=1, description=SIGNED_IN_NAME)


class PartyPatch(In):
    """Only the fields given change. ``estate_ids`` replaces the estates in the caller's scope; those outside
    it stay as they are."""

    kind: str | None = None
    name: str | None = None
    contact: str | None = None
    phone: str | None = None
    channels: list[str] | None = None
    estate_ids: list[str] | None = None
    active: bool | None = None
    reason: str = ""
    actor: str | None = Field(default=None, min_length=1, description=SIGNED_IN_NAME)


class PartyOut(Out):
    id: int
    kind: PartyKind
    kind_zh: str
    name: str
    contact: str
    phone: str
    channels: list[str] | None = Field(description="null for callers who do not manage parties")
    channel_count: int
    estate_ids: list[str] = Field(description="the estates it serves, within the caller's scope")
    active: bool
    created_at: datetime
    updated_at: datetime


def party_out(party: PartyRecord, scope: EstateScope, show_channels: bool) -> PartyOut:
    return PartyOut(
        id=party.id,
        kind=party.kind,
        kind_zh=party.kind.zh,
        name=party.name,
        contact=party.contact,
        phone=party.phone,
        channels=list(party.channels) if show_channels else None,
        channel_count=len(party.channels),
        estate_ids=[e for e in party.estate_ids if scope.allows(e)],
        active=party.active,
        created_at=party.created_at,
        updated_at=party.updated_at,
    )


def visible(party: PartyRecord, scope: EstateScope) -> bool:
    """A caller limited to some estates sees the parties serving at least one of them."""
    return scope.estate_ids is None or any(scope.allows(e) for e in party.estate_ids)


def _known(engine: RuleEngine, scope: EstateScope) -> Any:
    def known(estate_id: object) -> bool:
        if not isinstance(estate_id, str) or not scope.allows(estate_id):
            return False
        try:
            engine.registry.estate(estate_id)
        except KeyError:
            return False
        return True

    return known


def _visible_party(engine: RuleEngine, scope: EstateScope, party_id: int) -> PartyRecord:
    """The party, or ``NotFound`` for one that serves no estate in scope (the same answer as for none)."""
    try:
        party = engine.store.parties.get(party_id)
    except NotFound:
        raise NotFound(f"no party {party_id}") from None
    if not visible(party, scope):
        raise NotFound(f"no party {party_id}")
    return party


@router.get("", summary="The parties serving estates in scope (filter by estate, kind, active)")
async def list_parties(
    engine: Engine,
    scope: Scope,
    principal: Principal,
    estate_id: Annotated[str | None, Query(description="only the parties serving this estate")] = None,
    kind: PartyKind | None = None,
    active: bool | None = None,
) -> list[PartyOut]:
    show = principal.can(Permission.MANAGE_PARTIES)
    out = []
    for party in engine.store.parties.all():
        if not visible(party, scope):
            continue
        if estate_id is not None and not (scope.allows(estate_id) and party.serves(estate_id)):
            continue
        if (kind is not None and party.kind is not kind) or (active is not None and party.active != active):
            continue
        out.append(party_out(party, scope, show))
    return out


@router.post("", status_code=status.HTTP_201_CREATED, summary="Add a party (office and brigade accounts)")
async def create_party(body: PartyIn, engine: Engine, scope: Scope, principal: Principal) -> PartyOut:
    principal.check(Permission.MANAGE_PARTIES, "manage parties")
    fields = check_party(
        body.model_dump(exclude={"reason", "actor"}), known_estate=_known(engine, scope), creating=True
    )
    if not fields["estate_ids"]:
        raise EngineError("estate_ids: name at least one estate the party serves")
    party = engine.store.parties.create(
        **fields, actor=actor_of(principal, body.actor), now=engine.clock(), reason=body.reason
    )
    return party_out(party, scope, True)


@router.patch("/{party_id}", summary="Change a party (office and brigade accounts); a version is kept")
async def update_party(
    party_id: RowId, body: PartyPatch, engine: Engine, scope: Scope, principal: Principal
) -> PartyOut:
    current = _visible_party(engine, scope, party_id)
    principal.check(Permission.MANAGE_PARTIES, "manage parties")
    given = body.model_dump(exclude_unset=True, exclude={"reason", "actor"})
    nulls = sorted(k for k, v in given.items() if v is None)
    if nulls:
        raise EngineError(f"{nulls[0]}: null is not a value; leave the field out to keep it")
    changes = check_party(given, known_estate=_known(engine, scope), creating=False)
    if "estate_ids" in changes:
        if not changes["estate_ids"]:
            raise EngineError("estate_ids: name at least one estate the party serves (or set active false)")
        outside = [e for e in current.estate_ids if not scope.allows(e)]
        changes["estate_ids"] = [*outside, *changes["estate_ids"]]
    actor = actor_of(principal, body.actor)
    if not changes:
        raise EngineError(
            "body: nothing to change (give kind, name, contact, phone, channels, estate_ids or active)"
        )
    party = engine.store.parties.update(
        party_id, changes, actor=actor, now=engine.clock(), reason=body.reason
    )
    return party_out(party, scope, True)


class PartyVersionOut(Out):
    at: datetime
    actor: str
    action: str = Field(description="create or update")
    reason: str
    reason_text: Text | None = Field(default=None, description="the reason as people read it, zh and en")
    actor_text: Text | None = Field(default=None, description="who, in words (设备登记表 for the registry)")
    changed: list[str] = Field(description="the fields that differ from the version before (all on create)")
    party: PartyOut = Field(description="the party as it became, shown as the caller may see it")


@router.get("/{party_id}/versions", summary="Every version of a party, oldest first (who, when, why, what)")
async def party_versions(
    party_id: RowId, engine: Engine, scope: Scope, principal: Principal
) -> list[PartyVersionOut]:
    current = _visible_party(engine, scope, party_id)
    show = principal.can(Permission.MANAGE_PARTIES)
    out: list[PartyVersionOut] = []
    before: dict[str, Any] = {}
    for version in engine.store.parties.versions(party_id):
        shown = party_out(version_record(current, version), scope, show)
        seen = shown.model_dump(include=set(FIELDS))
        if not show:
            seen["channels"] = shown.channel_count  # the addresses are not shown; how many there are is
        changed = [f for f in FIELDS if f not in before or before[f] != seen[f]]
        before = seen
        out.append(
            PartyVersionOut(
                at=version.at,
                actor=version.actor,
                action=version.action,
                reason=version.reason,
                reason_text=Text(**transition_text(version.action, version.reason, {})),
                actor_text=Text(**actor_text(version.actor)),
                changed=changed,
                party=shown,
            )
        )
    return out
