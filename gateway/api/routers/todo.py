"""What waits for the signed-in account (待办), by what it may do and the estates it sees.

| list | holds | who gets it |
| --- | --- | --- |
| ``to_dispatch`` 待分流 | reported hazards | accounts that dispatch (office, brigade) |
| ``to_start`` 待我整改 | hazards dispatched to the account's party | property accounts |
| ``to_rectify`` 整改中 | hazards of the account's party being rectified | property accounts |
| ``to_verify`` 待我验收 | rectified hazards | accounts that verify (office, brigade) |
| ``recheck_due`` 待复查 | closed hazards whose re-check date has passed | office and grid accounts |
| ``alarms`` 待处理报警 | alarms not closed, unacknowledged first | alarm handlers (property, brigade) |

An account stands for a party this way: a property account (scoped by its company) is the property-company
parties of that exact name. Other accounts stand for no party (a brigade account may rectify, but nothing is
dispatched to it by name). Every list is also limited to the account's estates.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from gateway.api.convert import alarms_out, hazard_out
from gateway.api.deps import Engine, Principal, Scope
from gateway.api.schemas import AlarmOut, HazardOut, Out
from gateway.auth.principal import Permission, Role, ScopeKind
from gateway.auth.principal import Principal as Caller
from gateway.casework.engine import RuleEngine
from gateway.store.parties import PartyKind
from gateway.store.todo import TO_DISPATCH, TO_RECTIFY, TO_START, TO_VERIFY

router = APIRouter(prefix="/api/todo", tags=["todo"])

LABELS: dict[str, tuple[str, str]] = {
    "to_dispatch": ("待分流", "to dispatch"),
    "to_start": ("待我整改", "to start rectifying"),
    "to_rectify": ("整改中", "being rectified"),
    "to_verify": ("待我验收", "to verify"),
    "recheck_due": ("待复查", "re-checks due"),
    "alarms": ("待处理报警", "alarms to handle"),
}


class TodoList(Out):
    key: str
    zh: str
    en: str
    count: int = Field(description="how many wait (the list shows at most ``limit`` of them)")
    hazards: list[HazardOut] = Field(default_factory=list)
    alarms: list[AlarmOut] = Field(default_factory=list)


class TodoOut(Out):
    total: int
    party_ids: list[int]
    lists: list[TodoList]


class TodoCounts(Out):
    total: int
    counts: dict[str, int]
    unacknowledged_alarms: int


def lists_for(principal: Caller) -> list[str]:
    """The lists an account gets, in the order shown."""
    keys = []
    if principal.can(Permission.DISPATCH_HAZARD):
        keys.append("to_dispatch")
    if party_linked(principal):
        keys += ["to_start", "to_rectify"]
    if principal.can(Permission.VERIFY_HAZARD):
        keys.append("to_verify")
    if principal.role in (Role.OFFICE, Role.GRID):
        keys.append("recheck_due")
    if principal.can(Permission.HANDLE_ALARM) and principal.role in (Role.PROPERTY, Role.BRIGADE):
        keys.append("alarms")
    return keys


def party_linked(principal: Caller) -> bool:
    scope = principal.account_scope
    return principal.role is Role.PROPERTY and scope.kind is ScopeKind.COMPANY and bool(scope.company)


def party_ids_of(engine: RuleEngine, principal: Caller) -> list[int]:
    """The parties the account stands for: a property account, the property-company parties of its name."""
    if not party_linked(principal):
        return []
    return engine.store.parties.ids_named(PartyKind.PROPERTY_COMPANY, principal.account_scope.company or "")


def _counts(engine: RuleEngine, principal: Caller, scope_ids: list[str] | None) -> tuple[dict[str, int], int]:
    todo = engine.store.todo
    keys = lists_for(principal)
    counts: dict[str, int] = {}
    shared = [s for k, s in (("to_dispatch", TO_DISPATCH), ("to_verify", TO_VERIFY)) if k in keys]
    if shared:
        by_state = todo.hazard_counts(estate_ids=scope_ids, states=[s for group in shared for s in group])
        if "to_dispatch" in keys:
            counts["to_dispatch"] = sum(by_state[s] for s in TO_DISPATCH)
        if "to_verify" in keys:
            counts["to_verify"] = sum(by_state[s] for s in TO_VERIFY)
    if "to_start" in keys:
        parties = party_ids_of(engine, principal)
        by_state = todo.hazard_counts(
            estate_ids=scope_ids, states=[*TO_START, *TO_RECTIFY], party_ids=parties
        )
        counts["to_start"] = sum(by_state[s] for s in TO_START)
        counts["to_rectify"] = sum(by_state[s] for s in TO_RECTIFY)
    if "recheck_due" in keys:
        counts["recheck_due"] = todo.recheck_count(estate_ids=scope_ids, now=engine.clock())
    unacked = 0
    if "alarms" in keys:
        counts["alarms"], unacked = todo.alarm_counts(estate_ids=scope_ids)
    return {k: counts[k] for k in keys}, unacked


@router.get(
    "/counts", summary="How many items wait in each of the caller's to-do lists (cheap: for every page)"
)
async def todo_counts(engine: Engine, scope: Scope, principal: Principal) -> TodoCounts:
    counts, unacked = _counts(engine, principal, scope.filter(None))
    return TodoCounts(total=sum(counts.values()), counts=counts, unacknowledged_alarms=unacked)


@router.get(
    "", summary="What waits for the caller (待办): hazards to dispatch, rectify, verify, re-check; alarms"
)
async def todo(
    engine: Engine,
    scope: Scope,
    principal: Principal,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many items per list")] = 200,
) -> TodoOut:
    now = engine.clock()
    scope_ids = scope.filter(None)
    todo = engine.store.todo
    counts, _ = _counts(engine, principal, scope_ids)
    parties = party_ids_of(engine, principal)
    lists = []
    for key in counts:
        zh, en = LABELS[key]
        entry = TodoList(key=key, zh=zh, en=en, count=counts[key])
        if key == "alarms":
            entry.alarms = alarms_out(todo.open_alarms(estate_ids=scope_ids, limit=limit), engine, now)
        else:
            if key == "recheck_due":
                records = todo.hazards(estate_ids=scope_ids, recheck_due_by=now, limit=limit)
            else:
                states = {"to_dispatch": TO_DISPATCH, "to_start": TO_START, "to_rectify": TO_RECTIFY}.get(
                    key, TO_VERIFY
                )
                party_ids = parties if key in ("to_start", "to_rectify") else None
                records = todo.hazards(estate_ids=scope_ids, states=states, party_ids=party_ids, limit=limit)
            entry.hazards = [hazard_out(h, engine.policy, now, engine.registry) for h in records]
        lists.append(entry)
    return TodoOut(total=sum(counts.values()), party_ids=parties, lists=lists)
