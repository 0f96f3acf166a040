"""Signing in and out, who am I, and API tokens (admins).

- ``POST /api/auth/login`` checks the password and sets the ``firegw_session`` cookie (HttpOnly, so page
  scripts cannot read it; SameSite=Strict, so no request from another site carries it); the answer is the
  same body as ``GET /api/auth/me``: role, permissions (for the UI's buttons), scope and when the session
  ends. Sign-ins are throttled per account name and per client address (429 with ``Retry-After``,
  ``gateway/auth/throttle.py``).
- ``POST /api/auth/logout`` ends the session (and the live feeds it opened, within 2 s).
- ``POST /api/auth/users/{username}/unlock``: an office (for accounts working in its area), the brigade or
  an admin ends a sign-in lock-out; audited. ``GET /api/auth/lockouts`` lists the locks the caller may end
  (the UI's 登录锁定 page); ``POST /api/auth/addresses/{address}/unlock``: the brigade and admins.
- ``/api/auth/tokens``: admins list, create and revoke API tokens; a new token's secret is in the answer to
  its creation and nowhere else.

With accounts disabled (``[auth] enabled = false``) every route here is 404: there is nobody to sign in as,
and the UI takes the 404 to mean "no sign-in needed".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import Field

from gateway.api.deps import Auth, Principal, Services, require
from gateway.api.schemas import In, Out, RowId
from gateway.auth import principal as accounts
from gateway.auth.principal import Forbidden, Permission, ScopeKind, may_unlock
from gateway.auth.service import SESSION_COOKIE, AuthService
from gateway.auth.store import AccountError, TokenRecord
from gateway.auth.throttle import Subject
from gateway.casework.model import EngineError
from gateway.store.database import NotFound

router = APIRouter(prefix="/api/auth", tags=["accounts"])

Admin = Annotated[accounts.Principal, require(Permission.ADMIN, "manage API tokens")]


class LoginIn(In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class ScopeOut(Out):
    kind: str = Field(description="all / area / company")
    district: str | None
    street: str | None
    company: str | None


class MeOut(Out):
    username: str
    display_name: str
    role: str = Field(description="brigade / office / property / grid / viewer")
    admin: bool
    permissions: list[str] = Field(
        description="what the UI may offer: read, file_hazard, dispatch_hazard, ..."
    )
    scope: ScopeOut
    expires_at: datetime | None = Field(description="when this session (or API token) ends")


class TokenIn(In):
    username: str | None = Field(default=None, description="the account the token acts as (default: yours)")
    ttl_days: float | None = Field(default=None, gt=0, le=3650, description="default: [auth] token_ttl_s")
    label: str = Field(default="", max_length=128, description="what the token is for")


class TokenOut(Out):
    id: int
    username: str
    label: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class UnlockOut(Out):
    username: str
    was_locked_until: datetime | None = Field(description="until when sign-in was locked; null: it was not")
    unlocked_by: str


class NewTokenOut(TokenOut):
    token: str = Field(description="the secret: shown only in this answer, stored only as a hash")


def me_out(principal: accounts.Principal) -> MeOut:
    return MeOut(
        username=principal.username,
        display_name=principal.display_name,
        role=principal.role.value,
        admin=principal.admin,
        permissions=principal.permission_list(),
        scope=ScopeOut.model_validate(principal.account_scope.as_json()),
        expires_at=principal.expires_at,
    )


def _token_out(record: TokenRecord) -> TokenOut:
    return TokenOut.model_validate(record)


def _cookie(auth: AuthService) -> dict[str, Any]:
    """How the session cookie is set and deleted: HttpOnly, SameSite=Strict, Secure behind TLS."""
    return {"path": "/", "httponly": True, "samesite": "strict", "secure": auth.cookie_secure}


@router.post(
    "/login",
    summary="Sign in: sets the firegw_session cookie and says who you are",
    responses={429: {"description": "the account name or the client address is locked for a while"}},
)
async def login(body: LoginIn, request: Request, response: Response, auth: Auth) -> MeOut:
    address = request.client.host if request.client is not None else ""
    principal, secret = await auth.login(body.username, body.password, address)
    response.set_cookie(
        SESSION_COOKIE, secret, max_age=int(auth.session_ttl.total_seconds()), **_cookie(auth)
    )
    return me_out(principal)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="End this session")
async def logout(auth: Auth, principal: Principal) -> Response:
    auth.logout(principal)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, **_cookie(auth))
    return response


@router.post(
    "/users/{username}/unlock",
    summary="End a sign-in lock-out: offices for accounts in their area, the brigade and admins for any",
)
async def unlock(username: str, auth: Auth, principal: Principal, services: Services) -> UnlockOut:
    if not principal.admin:
        principal.check(Permission.UNLOCK_ACCOUNTS, "unlock accounts")
    try:
        target = auth.store.user(username)
    except AccountError:
        target = None
    if target is None or not may_unlock(principal, target.scope, target.admin, services.registry):
        raise NotFound(
            f"no account {username!r} that you may unlock (an office unlocks the accounts working in its "
            "area; the brigade and admins unlock any)"
        )
    was = auth.unlock(target.username, actor=principal.actor)
    return UnlockOut(username=target.username, was_locked_until=was, unlocked_by=principal.actor)


class LockOut(Out):
    kind: Literal["account", "address"]
    name: str = Field(description="the account name typed, or the client address")
    display_name: str = Field(description="the account's display name; empty for an address or unknown name")
    known: bool = Field(description="an account of this gateway (a locked name nobody has: someone guessing)")
    locked_until: datetime
    lockouts: int = Field(description="locks of this name since its last success or unlock (each doubles)")


class AddressUnlockOut(Out):
    address: str
    was_locked_until: datetime | None = Field(description="until when sign-in was locked; null: it was not")
    unlocked_by: str


def _sees_every_lock(principal: accounts.Principal) -> bool:
    """Admins and city-wide callers (the brigade) see and end every lock, addresses and unknown names too."""
    return principal.admin or principal.account_scope.kind is ScopeKind.ALL


@router.get(
    "/lockouts",
    summary="Sign-in lock-outs in force that you may end, the longest first",
    description=(
        "An office sees the locked accounts working in its area; the brigade and admins see every lock: "
        "accounts, names nobody has (someone guessing) and client addresses."
    ),
)
async def lockouts(auth: Auth, principal: Principal, services: Services) -> list[LockOut]:
    if not principal.admin:
        principal.check(Permission.UNLOCK_ACCOUNTS, "see sign-in lock-outs")
    every = _sees_every_lock(principal)
    users = {u.username: u for u in auth.store.users()}
    shown = []
    for lock in auth.throttle.locks(auth.clock()):
        user = users.get(lock.name) if lock.kind is Subject.ACCOUNT else None
        mine = user is not None and may_unlock(principal, user.scope, user.admin, services.registry)
        if every or mine:
            shown.append(
                LockOut(
                    kind=lock.kind.value,
                    name=lock.name,
                    display_name=user.display_name if user else "",
                    known=user is not None,
                    locked_until=lock.locked_until,
                    lockouts=lock.lockouts,
                )
            )
    return shown


@router.post(
    "/addresses/{address}/unlock",
    summary="End a client address's sign-in lock-out (the brigade and admins)",
)
async def unlock_address(address: str, auth: Auth, principal: Principal) -> AddressUnlockOut:
    if not principal.admin:
        principal.check(Permission.UNLOCK_ACCOUNTS, "unlock client addresses")
    if not _sees_every_lock(principal):
        raise Forbidden("only the brigade and admins unlock a client address (it is shared by many accounts)")
    was = auth.throttle.unlock(Subject.ADDRESS, address[:128], actor=principal.actor, now=auth.clock())
    return AddressUnlockOut(address=address, was_locked_until=was, unlocked_by=principal.actor)


@router.get("/me", summary="Who you are: role, permissions, scope, when the session ends")
async def me(auth: Auth, principal: Principal) -> MeOut:
    del auth  # only for its 404 when accounts are disabled
    return me_out(principal)


@router.get("/tokens", summary="API tokens (admins), oldest first; secrets are never shown again")
async def list_tokens(auth: Auth, admin: Admin, username: str | None = None) -> list[TokenOut]:
    del admin
    return [_token_out(t) for t in auth.store.tokens(username)]


@router.post("/tokens", status_code=status.HTTP_201_CREATED, summary="Create an API token (admins)")
async def create_token(body: TokenIn, auth: Auth, admin: Admin) -> NewTokenOut:
    username = body.username or admin.username
    try:
        auth.store.user(username)
    except AccountError:
        raise NotFound(f"no user {username!r}") from None
    ttl = timedelta(days=body.ttl_days) if body.ttl_days is not None else None
    try:
        record, secret = auth.create_token(username, ttl=ttl, label=body.label, created_by=admin.username)
    except AccountError as exc:
        raise EngineError(str(exc)) from None
    return NewTokenOut(**_token_out(record).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", summary="Revoke an API token (admins); answers the revoked token")
async def revoke_token(token_id: RowId, auth: Auth, admin: Admin) -> TokenOut:
    del admin
    try:
        return _token_out(auth.revoke_token(token_id))
    except AccountError:
        raise NotFound(f"no token {token_id}") from None
