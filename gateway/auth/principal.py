"""Who is asking: roles, permissions, the estates an account may see, and the signed-in principal.

Two questions are kept apart on purpose:

- **scope** — which estates exist for the caller. An estate outside it (and every hazard, alarm, device,
  complaint or fire of that estate) is "not found", with the same body as one that truly does not exist:
  a property company must not even learn that another company's estate is there. Lists are filtered.
- **permission** — what the caller may do inside its scope. A missing permission is 403 with a message
  naming the role and the permission, because there is nothing to hide about the caller's own rights.

Scope is checked first, so a request about an estate outside the scope is always 404, whatever its verb.
The scope is recomputed from the registry on each request, so an estate added to the registry (or moved to
another property company) is in or out of an account's scope at once, without touching the account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from gateway.ingest.registry import Registry
from gateway.store.database import NotFound
from gateway.store.photos import PhotoStep
from rules.lifecycle import AlarmAction, HazardAction


class Role(StrEnum):
    BRIGADE = "brigade"  # 消防救援大队: every estate, read and supervise
    OFFICE = "office"  # 街道/社区: its area (a district, optionally one street)
    PROPERTY = "property"  # 物业公司: the estates its company manages
    GRID = "grid"  # 网格员: its area; files hazards and complaints found on patrol
    VIEWER = "viewer"  # 只读: a scope given when created (all, an area or a company), read-only

    @property
    def zh(self) -> str:
        return ROLE_LABELS[self][0]

    @property
    def en(self) -> str:
        return ROLE_LABELS[self][1]


ROLE_LABELS: dict[Role, tuple[str, str]] = {
    Role.BRIGADE: ("消防救援大队", "fire brigade"),
    Role.OFFICE: ("街道/社区", "street / community office"),
    Role.PROPERTY: ("物业公司", "property company"),
    Role.GRID: ("网格员", "grid worker"),
    Role.VIEWER: ("只读", "read-only viewer"),
}


class Permission(StrEnum):
    """What a role may do; the strings are part of the API (``/api/auth/me``), so the UI can show buttons."""

    READ = "read"
    FILE_HAZARD = "file_hazard"
    DISPATCH_HAZARD = "dispatch_hazard"  # hazard action dispatch
    RECTIFY_HAZARD = "rectify_hazard"  # start, rectified
    VERIFY_HAZARD = "verify_hazard"  # verify, reject, close
    RECHECK_HAZARD = "recheck_hazard"  # the re-check (复查) of a verified hazard once it is due
    NOTE_HAZARD = "note_hazard"  # note
    RECORD_COMPLAINT = "record_complaint"
    RECORD_FIRE = "record_fire"
    HANDLE_ALARM = "handle_alarm"  # every alarm transition
    RECORD_ASSESSMENT = "record_assessment"  # 排查登记, and voiding an assessment or evidence record
    RECORD_EVIDENCE = "record_evidence"  # patrol log, drill, maintenance/testing report, duty roster
    SET_ESTATE_STATUS = "set_estate_status"  # out of use (停租停用) / back in use
    DECLARE_WINDOW = "declare_window"  # maintenance and test windows (屏蔽 with a time limit): declare, end
    VOID_COMPLAINT = "void_complaint"  # void a complaint filed in error, merge duplicates into one incident
    POST_PLACARD = "post_placard"  # record that a placard (公示牌) was posted at the entrance, with a photo
    MANAGE_PARTIES = "manage_parties"  # responsible parties (责任单位) hazards are dispatched to: add, change
    READ_NOTIFICATIONS = "read_notifications"  # the log of messages pushed to people (channels scrubbed)
    HAND_OVER_SHIFT = "hand_over_shift"  # hand a control-room shift over (交班), sign for taking one (接班)
    UNLOCK_ACCOUNTS = "unlock_accounts"  # end the sign-in lock-out of an account in the caller's area
    ADMIN = "admin"  # manage users and API tokens; from the account's admin flag, not from its role


_ALL_BUT_ADMIN = frozenset(Permission) - {Permission.ADMIN}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.BRIGADE: _ALL_BUT_ADMIN,
    Role.OFFICE: frozenset(
        {
            Permission.READ,
            Permission.FILE_HAZARD,
            Permission.DISPATCH_HAZARD,
            Permission.VERIFY_HAZARD,
            Permission.RECHECK_HAZARD,
            Permission.NOTE_HAZARD,
            Permission.RECORD_COMPLAINT,
            Permission.RECORD_FIRE,
            Permission.RECORD_ASSESSMENT,
            Permission.RECORD_EVIDENCE,
            Permission.SET_ESTATE_STATUS,
            Permission.DECLARE_WINDOW,
            Permission.VOID_COMPLAINT,
            Permission.POST_PLACARD,
            Permission.MANAGE_PARTIES,
            Permission.READ_NOTIFICATIONS,
            Permission.HAND_OVER_SHIFT,
            Permission.UNLOCK_ACCOUNTS,
        }
    ),
    Role.PROPERTY: frozenset(
        {
            Permission.READ,
            Permission.FILE_HAZARD,
            Permission.RECTIFY_HAZARD,
            Permission.NOTE_HAZARD,
            Permission.HANDLE_ALARM,
            Permission.RECORD_EVIDENCE,
            Permission.DECLARE_WINDOW,
            Permission.POST_PLACARD,
            Permission.HAND_OVER_SHIFT,
        }
    ),
    Role.GRID: frozenset(
        {
            Permission.READ,
            Permission.FILE_HAZARD,
            Permission.NOTE_HAZARD,
            Permission.RECORD_COMPLAINT,
            Permission.RECHECK_HAZARD,
        }
    ),
    Role.VIEWER: frozenset({Permission.READ}),
}

#: The permission each hazard action needs. ``auto_close`` and ``escalate`` are the gateway's own (the engine
#: refuses them from people); they are mapped to the supervisor's permission so that nobody below it even
#: reaches that refusal.
HAZARD_ACTION_PERMISSIONS: dict[HazardAction, Permission] = {
    HazardAction.DISPATCH: Permission.DISPATCH_HAZARD,
    HazardAction.START: Permission.RECTIFY_HAZARD,
    HazardAction.RECTIFIED: Permission.RECTIFY_HAZARD,
    HazardAction.VERIFY: Permission.VERIFY_HAZARD,
    HazardAction.REJECT: Permission.VERIFY_HAZARD,
    HazardAction.CLOSE: Permission.VERIFY_HAZARD,
    HazardAction.RECHECK: Permission.RECHECK_HAZARD,
    HazardAction.NOTE: Permission.NOTE_HAZARD,
    HazardAction.AUTO_CLOSE: Permission.VERIFY_HAZARD,
    HazardAction.ESCALATE: Permission.VERIFY_HAZARD,
}

ALARM_ACTION_PERMISSIONS: dict[AlarmAction, Permission] = dict.fromkeys(AlarmAction, Permission.HANDLE_ALARM)

#: Who may add a photo of which step of a hazard (``POST /api/hazards/{id}/photos``): what was found, by those
#: who report hazards; after rectification, by those who rectify; at the re-check, by those who re-check.
PHOTO_STEP_PERMISSIONS: dict[PhotoStep, Permission] = {
    PhotoStep.BEFORE: Permission.FILE_HAZARD,
    PhotoStep.AFTER: Permission.RECTIFY_HAZARD,
    PhotoStep.RECHECK: Permission.RECHECK_HAZARD,
    PhotoStep.OTHER: Permission.NOTE_HAZARD,
}


class ScopeKind(StrEnum):
    ALL = "all"
    AREA = "area"  # a district, optionally one street of it
    COMPANY = "company"  # the estates whose property_company is this company


class Unauthenticated(Exception):
    """No valid credentials (401). The message says what to do, never which part of a sign-in was wrong."""


class Forbidden(Exception):
    """Signed in and in scope, but the role lacks the permission (403)."""


@dataclass(frozen=True, slots=True)
class EstateScope:
    """Which estates a request may see. ``None`` means all. Anything outside is "not found" (404), never
    "forbidden": a property company must not even learn that another company's estate exists."""

    estate_ids: frozenset[str] | None = None

    def allows(self, estate_id: str) -> bool:
        return self.estate_ids is None or estate_id in self.estate_ids

    def check(self, estate_id: str, what: str = "estate") -> None:
        if not self.allows(estate_id):
            raise NotFound(f"no {what} {estate_id!r}")

    def filter(self, estate_ids: list[str] | None) -> list[str] | None:
        """Estate ids for a store query: the requested ones within scope, or the scope itself."""
        if estate_ids is None:
            return None if self.estate_ids is None else sorted(self.estate_ids)
        return [e for e in estate_ids if self.allows(e)]


@dataclass(frozen=True, slots=True)
class AccountScope:
    """The part of the city an account is given: everything, an area (district, optionally one street) or a
    property company. Stored with the account; turned into estate ids against the registry per request."""

    kind: ScopeKind = ScopeKind.ALL
    district: str | None = None
    street: str | None = None
    company: str | None = None

    def estates(self, registry: Registry) -> EstateScope:
        if self.kind is ScopeKind.ALL:
            return EstateScope()
        if self.kind is ScopeKind.AREA:
            ids = frozenset(
                e.id
                for e in registry.estates
                if e.district == self.district and (not self.street or e.street == self.street)
            )
        else:
            ids = frozenset(e.id for e in registry.estates if e.property_company == self.company)
        return EstateScope(ids)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "district": self.district,
            "street": self.street,
            "company": self.company,
        }

    def describe(self) -> str:
        if self.kind is ScopeKind.AREA:
            return f"area {self.district}" + (f" / {self.street}" if self.street else "")
        if self.kind is ScopeKind.COMPANY:
            return f"company {self.company}"
        return "all estates"


def scope_for_role(
    role: Role, *, district: str | None = None, street: str | None = None, company: str | None = None
) -> AccountScope:
    """The scope an account of ``role`` gets from what was given, or ``ValueError`` saying what is missing.

    brigade: everything (an area or company is refused, so nobody believes a brigade account is limited);
    office and grid: an area (district required, street optional); property: a company;
    viewer: whichever was given (company, area, or nothing for all).
    """
    district, street, company = (v.strip() if v else None for v in (district, street, company))
    if street and not district:
        raise ValueError("a street needs its district (--district)")
    if role is Role.BRIGADE:
        if district or company:
            raise ValueError("a brigade account sees every estate; give it no district or company")
        return AccountScope()
    if role in (Role.OFFICE, Role.GRID):
        if company:
            raise ValueError(f"a {role.value} account is scoped by area; give --district (and --street)")
        if not district:
            raise ValueError(f"a {role.value} account needs its area: --district (and optionally --street)")
        return AccountScope(ScopeKind.AREA, district=district, street=street)
    if role is Role.PROPERTY:
        if district:
            raise ValueError("a property account is scoped by its company; give --company, not --district")
        if not company:
            raise ValueError(
                "a property account needs its company: --company (the estates' property_company)"
            )
        return AccountScope(ScopeKind.COMPANY, company=company)
    if company and district:
        raise ValueError("a viewer is scoped by an area or by a company, not both")
    if company:
        return AccountScope(ScopeKind.COMPANY, company=company)
    if district:
        return AccountScope(ScopeKind.AREA, district=district, street=street)
    return AccountScope()


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request: an account signed in with a session or an API token, or the open
    principal of a gateway with accounts disabled (``authenticated`` False, fire-brigade rights)."""

    username: str
    display_name: str
    role: Role
    admin: bool
    account_scope: AccountScope
    authenticated: bool = True
    user_id: int | None = None
    #: How the caller signed in: "session", "token", or "open" (accounts disabled).
    via: str = "session"
    #: The session or token row, so that logout revokes exactly this session.
    credential_id: int | None = None
    expires_at: datetime | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        granted = ROLE_PERMISSIONS[self.role]
        return granted | {Permission.ADMIN} if self.admin else granted

    def permission_list(self) -> list[str]:
        """In declaration order, so the API's list is stable."""
        have = self.permissions
        return [p.value for p in Permission if p in have]

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def check(self, permission: Permission, what: str) -> None:
        """Raise ``Forbidden`` unless the role has ``permission``; ``what`` completes "may not ..."."""
        if not self.can(permission):
            raise Forbidden(f"role {self.role.value} may not {what} (needs {permission.value})")

    def scope(self, registry: Registry) -> EstateScope:
        """The estates this caller may see, from the registry as it is now."""
        return self.account_scope.estates(registry)

    @property
    def actor(self) -> str:
        """The name recorded as who did something: the display name, or the username when there is none."""
        return self.display_name or self.username


def may_unlock(caller: Principal, target: AccountScope, target_admin: bool, registry: Registry) -> bool:
    """Whether ``caller`` (who has ``unlock_accounts`` or is an admin) may end the sign-in lock of an account
    with scope ``target``: an admin or a city-wide caller any account; an office an account that works in
    its area (one of its estates is the office's), unless that account is an admin or sees every estate."""
    if caller.admin or caller.account_scope.kind is ScopeKind.ALL:
        return True
    if target_admin or target.kind is ScopeKind.ALL:
        return False
    mine = caller.scope(registry).estate_ids or frozenset()
    return bool(mine & (target.estates(registry).estate_ids or frozenset()))


def open_principal() -> Principal:
    """The caller when accounts are disabled: fire-brigade rights, no name (the body's actor is recorded)."""
    return Principal(
        username="",
        display_name="",
        role=Role.BRIGADE,
        admin=False,
        account_scope=AccountScope(),
        authenticated=False,
        via="open",
    )
