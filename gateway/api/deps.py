"""What the routers depend on, as ``Annotated`` aliases (FastAPI resolves them per request).

- ``Services`` / ``Engine``: the gateway's parts.
- ``Principal``: who is asking (a signed-in account, or the open principal when accounts are disabled).
- ``Scope``: the estates that caller may see. Routers check it before anything else, so a resource outside
  it is "not found" whatever the request; then they check the permission (``principal.check`` or
  ``require``), which is 403.
- ``authenticate_api`` is installed on the whole app (``create_app``): every ``/api/`` route except the
  sign-in resolves the caller first, so a route that forgets to ask for ``Scope`` is still not public.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from gateway.api.security import check_origin
from gateway.auth import principal as accounts
from gateway.auth.principal import EstateScope, Permission
from gateway.auth.service import SESSION_COOKIE, AuthService
from gateway.casework.engine import RuleEngine
from gateway.casework.model import EngineError
from gateway.config import LimitsSection
from gateway.health import IngestHealth
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.registry import Registry
from gateway.ingest.telemetry_query import TelemetryReader
from gateway.store.database import NotFound

__all__ = [
    "ApiServices",
    "Engine",
    "EstateScope",
    "Principal",
    "Scope",
    "Services",
    "actor_of",
    "authenticate_api",
    "require",
]


@dataclass(slots=True)
class ApiServices:
    registry: Registry
    pipeline: Pipeline
    engine: RuleEngine | None
    deadletters: DeadLetterStore | None
    clock: Callable[[], datetime]
    #: Reads stored telemetry back for charts and device pages (None: no charts).
    telemetry: TelemetryReader | None = None
    #: Where uploaded hazard photos are kept (None: uploads refused).
    uploads_dir: Path | None = None
    #: Accounts, sessions and tokens. None: accounts are disabled and the API is open with fire-brigade
    #: rights (``[auth] enabled = false``, for a closed network only).
    auth: AuthService | None = None
    #: The gateway's ingest health (``/api/health``, ``/metrics``); None where the API runs without one.
    health: Callable[[], IngestHealth] | None = None
    #: The control room's own number, named on every alarm on screen (``[notify] control_room_phone``).
    control_room_phone: str = ""
    #: Request body size and each account's daily share of the store (``[limits]``, gateway/api/limits.py).
    limits: LimitsSection = field(default_factory=LimitsSection)

    def require_engine(self) -> RuleEngine:
        if self.engine is None:
            raise NotFound(
                "the rule layer is disabled in this gateway's configuration ([rules] enabled = false)"
            )
        return self.engine


#: Routes under /api/ that answer without credentials.
#: (``/metrics`` is outside /api/: Prometheus scrapes it without credentials; gateway-wide counters only.)
PUBLIC_PATHS = frozenset({"/api/auth/login"})

# Declared so that the OpenAPI page documents both ways in (and /docs can try routes with a token); the
# credentials themselves are read in ``_resolve``.
_bearer = HTTPBearer(
    auto_error=False, description="an API token: `firegw tokens create` or POST /api/auth/tokens"
)
_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="the session cookie set by POST /api/auth/login"
)


def _services(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


def _engine(request: Request) -> RuleEngine:
    return _services(request).require_engine()


def _resolve(request: Request) -> accounts.Principal:
    """The caller, once per request (kept on ``request.state``); ``Unauthenticated`` when it has no valid
    session or token."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, accounts.Principal):
        return cached
    auth = _services(request).auth
    if auth is None:
        principal = accounts.open_principal()
    else:
        principal = auth.authenticate(
            authorization=request.headers.get("authorization"), session=request.cookies.get(SESSION_COOKIE)
        )
    request.state.principal = principal
    return principal


def authenticate_api(
    request: Request,
    _token: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _session: Annotated[str | None, Depends(_cookie)],
) -> None:
    """App-wide dependency: resolve the caller of every ``/api/`` route but the sign-in, before the route's
    own dependencies and body checks run (so an anonymous request learns nothing, not even a 422)."""
    # The matched route's template, not the URL: it does not change behind a proxy's root path.
    path = getattr(request.scope.get("route"), "path", None) or request.url.path
    if path.startswith("/api/"):
        # A cookie-signed write must come from the UI's own pages (CSRF): after the caller is known, so
        # that a request without valid credentials is still 401.
        check_origin(request, None if path in PUBLIC_PATHS else _resolve(request))


def _principal(request: Request) -> accounts.Principal:
    return _resolve(request)


def _scope(request: Request, principal: Annotated[accounts.Principal, Depends(_principal)]) -> EstateScope:
    return principal.scope(_services(request).registry)


def _auth(request: Request) -> AuthService:
    auth = _services(request).auth
    if auth is None:
        raise NotFound("accounts are disabled on this gateway ([auth] enabled = false)")
    return auth


def require(permission: Permission, what: str = "use this route") -> Any:
    """A dependency for routes that touch no estate: the principal, or 403 without ``permission``.
    Routes about an estate check the scope first and then call ``principal.check`` themselves, so that
    an estate outside the scope is 404 even for a caller who lacks the permission."""

    def check(principal: Annotated[accounts.Principal, Depends(_principal)]) -> accounts.Principal:
        principal.check(permission, what)
        return principal

    return Depends(check)


def actor_of(principal: accounts.Principal, claimed: str | None, field: str = "actor") -> str:
    """Who is recorded as having acted: the signed-in account (what the body claims is ignored), or, with
    accounts disabled, the name the body gives, which is then required."""
    if principal.authenticated:
        return principal.actor
    if not claimed:
        raise EngineError(f"{field}: required when accounts are disabled ([auth] enabled = false)")
    return claimed


Services = Annotated[ApiServices, Depends(_services)]
Engine = Annotated[RuleEngine, Depends(_engine)]
Principal = Annotated[accounts.Principal, Depends(_principal)]
Scope = Annotated[EstateScope, Depends(_scope)]
Auth = Annotated[AuthService, Depends(_auth)]
