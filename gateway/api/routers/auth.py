"""Signing in and out, who am I, and API tokens (admins).

- ``POST /api/auth/login`` checks the password and sets the ``firegw_session`` cookie (HttpOnly, so page
  scripts cannot read it; SameSite=Lax, so another site cannot post with it); the answer is the same body
  as ``GET /api/auth/me``: role, permissions (for the UI's buttons), scope and when the session ends.
- ``POST /api/auth/logout`` ends the session.
- ``/api/auth/tokens``: admins list, create and revoke API tokens; a new token's secret is in the answer to
  its creation and nowhere else.

With accounts disabled (``[auth] enabled = false``) every route here is 404: there is nobody to sign in as,
and the UI takes the 404 to mean "no sign-in needed".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Response, status
from pydantic import Field

from gateway.api.deps import Auth, Principal, require
from gateway.api.schemas import In, Out
from gateway.auth import principal as accounts
from gateway.auth.principal import Permission
from gateway.auth.service import SESSION_COOKIE
from gateway.auth.store import AccountError, TokenRecord
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


@router.post("/login", summary="Sign in: sets the firegw_session cookie and says who you are")
async def login(body: LoginIn, response: Response, auth: Auth) -> MeOut:
    principal, secret = await auth.login(body.username, body.password)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(auth.session_ttl.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=auth.cookie_secure,
    )
    return me_out(principal)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="End this session")
async def logout(auth: Auth, principal: Principal) -> Response:
    auth.logout(principal)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=auth.cookie_secure)
    return response


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
async def revoke_token(token_id: int, auth: Auth, admin: Admin) -> TokenOut:
    del admin
    try:
        return _token_out(auth.revoke_token(token_id))
    except AccountError:
        raise NotFound(f"no token {token_id}") from None
