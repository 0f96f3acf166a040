"""Signing in and out, and turning a request's credentials into a principal.

A browser signs in with a username and password (``POST /api/auth/login``) and gets a session cookie; a
script sends ``Authorization: Bearer <token>``. Both are opaque random secrets looked up by their SHA-256 in
the store, so revoking one takes effect on the next request and no signing key exists that could leak.

Sign-ins are throttled per account name and per client address (``throttle.py``). A stream that outlives
the request that opened it (the live feed) asks ``SessionWatch`` every 2 s whether its session still holds.

Time comes from the wall clock, not from the gateway's clock: the demo runs the rule layer on a simulated
clock at 60x, and a 12-hour session must not end after 12 real minutes. Tests inject their own clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from gateway.auth import passwords
from gateway.auth.principal import Principal, Unauthenticated
from gateway.auth.store import AuthStore, TokenRecord, account_scope, sessions, tokens, users
from gateway.auth.throttle import LoginThrottle, Subject, Throttled, throttle_rules
from gateway.config import AuthSection
from gateway.models import utc_now

log = logging.getLogger(__name__)

SESSION_COOKIE = "firegw_session"
#: The only answer to a failed sign-in: it must not say whether the username or the password was wrong.
LOGIN_FAILED = "wrong username or password"
NO_CREDENTIALS = (
    "sign in first (POST /api/auth/login, which sets the firegw_session cookie) "
    "or send an API token as 'Authorization: Bearer <token>'"
)


@dataclass(slots=True)
class AuthCounters:
    logins: int = 0
    #: Failed sign-ins, unknown usernames included (per account counts are kept in the store).
    login_failures: int = 0
    #: Requests with a session or token that is unknown, expired or revoked.
    rejected_credentials: int = 0
    #: Sign-ins refused with 429 because the account name or the client address is locked.
    throttled: int = 0
    #: Live feeds closed because their session or token ended.
    streams_ended: int = 0


class AuthService:
    def __init__(
        self,
        store: AuthStore,
        *,
        session_ttl: timedelta = timedelta(hours=12),
        token_ttl: timedelta = timedelta(days=90),
        cookie_secure: bool = False,
        clock: Callable[[], datetime] = utc_now,
        hash_concurrency: int = 2,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.store = store
        self.throttle = throttle or LoginThrottle(store.engine)
        self.session_ttl = session_ttl
        self.token_ttl = token_ttl
        self.cookie_secure = cookie_secure
        self.clock = clock
        self.counters = AuthCounters()
        # Each argon2 check takes ~0.4 s and 64 MiB: a burst of sign-ins must neither stall the event loop
        # (it also carries the alarms) nor take the memory of one thread per request.
        self._hashing = asyncio.Semaphore(hash_concurrency)

    @classmethod
    def from_config(cls, section: AuthSection, store: AuthStore) -> AuthService:
        return cls(
            store,
            session_ttl=timedelta(seconds=section.session_ttl_s),
            token_ttl=timedelta(seconds=section.token_ttl_s),
            cookie_secure=section.cookie_secure,
            throttle=LoginThrottle(store.engine, **throttle_rules(section)),
        )

    def authenticate(self, *, authorization: str | None, session: str | None) -> Principal:
        """The principal behind a request's credentials, or ``Unauthenticated``. A bearer token is used when
        the header is there (an invalid one is refused, not overridden by a cookie)."""
        now = self.clock()
        if authorization is not None:
            scheme, _, secret = authorization.strip().partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
            principal = self.store.token_principal(secret.strip(), now)
            if principal is None:
                self.counters.rejected_credentials += 1
                raise Unauthenticated("the API token is not valid (unknown, expired or revoked)")
            return principal
        if session:
            principal = self.store.session_principal(session, now)
            if principal is None:
                self.counters.rejected_credentials += 1
                raise Unauthenticated("the session is not valid (expired, ended or unknown); sign in again")
            return principal
        raise Unauthenticated(NO_CREDENTIALS)

    async def login(self, username: str, password: str, address: str = "") -> tuple[Principal, str]:
        """Check the password off the event loop and open a session: ``(principal, session secret)``.

        ``Throttled`` (429) while the name or the client ``address`` is locked, and for the failure that
        locks it; the right password changes nothing about that. Every other failure, whatever its cause
        (unknown user, disabled account, token-only account, wrong password), raises the same
        ``Unauthenticated(LOGIN_FAILED)`` after the same work, and is counted.
        """
        try:
            self.throttle.admit(username, address, self.clock())
        except Throttled:
            self.counters.throttled += 1
            raise
        found = self.store.password_hash(username)
        password_hash = found[1] if found is not None else ""
        async with self._hashing:
            ok = await asyncio.to_thread(passwords.verify_password, password_hash, password)
        now = self.clock()
        if found is None or not ok:
            self.counters.login_failures += 1
            if found is not None:
                self.store.record_failure(found[0], now)
            log.warning("sign-in refused for username %r from %s", username[:64], address or "?")
            self.throttle.failed(username, address, now)
            raise Unauthenticated(LOGIN_FAILED)
        self.throttle.succeeded(username, address, now)
        user_id = found[0]
        if passwords.needs_rehash(password_hash):
            async with self._hashing:
                self.store.replace_hash(user_id, await asyncio.to_thread(passwords.HASHER.hash, password))
        self.counters.logins += 1
        return self.store.create_session(user_id, now, self.session_ttl)

    def unlock(self, username: str, *, actor: str) -> datetime | None:
        """End the sign-in lock of an account name (audited); until when it was locked, or None."""
        return self.throttle.unlock(Subject.ACCOUNT, username, actor=actor, now=self.clock())

    def ended(self, principal: Principal) -> tuple[str, str] | None:
        """Why the session or token behind ``principal`` no longer holds, as (code, sentence): ``disabled``,
        ``role_changed``, ``ended`` (signed out, revoked) or ``expired``; None while it holds. One read by
        primary key. The code lets the UI say it in the user's language."""
        if not principal.authenticated or principal.credential_id is None:
            return None
        table = sessions if principal.via == "session" else tokens
        what = "session" if principal.via == "session" else "API token"
        query = (
            select(table.c.revoked_at, table.c.expires_at, users)
            .select_from(table.join(users, table.c.user_id == users.c.id))
            .where(table.c.id == principal.credential_id)
        )
        with self.store.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        # The most telling reason first: disabling an account or changing its role also revokes its sessions.
        if row is not None and row["disabled"]:
            return "disabled", "the account was disabled"
        if row is not None and (row["role"], bool(row["admin"]), account_scope(row)) != (
            principal.role.value,
            principal.admin,
            principal.account_scope,
        ):
            return "role_changed", "the account's role or scope changed; sign in again"
        if row is None or row["revoked_at"] is not None:
            return "ended", f"the {what} was ended (signed out or revoked); sign in again"
        if row["expires_at"] <= self.clock():
            return "expired", f"the {what} expired; sign in again"
        return None

    def logout(self, principal: Principal) -> None:
        """End the session the request came with. An API token is not ended by a logout: it is revoked
        explicitly (``DELETE /api/auth/tokens/{id}``), so a script cannot lose its token by accident."""
        if principal.via == "session" and principal.credential_id is not None:
            self.store.revoke_session(principal.credential_id, self.clock())

    def create_token(
        self, username: str, *, ttl: timedelta | None = None, label: str = "", created_by: str = ""
    ) -> tuple[TokenRecord, str]:
        """A new API token (default lifetime ``token_ttl``): the record and the secret, shown only now."""
        return self.store.create_token(
            username, now=self.clock(), ttl=ttl or self.token_ttl, label=label, created_by=created_by
        )

    def revoke_token(self, token_id: int) -> TokenRecord:
        return self.store.revoke_token(token_id, self.clock())


class SessionWatch:
    """For a stream: whether its caller's session or token still holds, asked of the store at most every
    ``every`` seconds (a stream calls ``ended`` as often as it likes)."""

    def __init__(self, auth: AuthService | None, principal: Principal, every: float = 2.0) -> None:
        self.auth = auth
        self.principal = principal
        self.every = every
        self._checked = time.monotonic()

    def ended(self) -> tuple[str, str] | None:
        if self.auth is None or time.monotonic() - self._checked < self.every:
            return None
        self._checked = time.monotonic()
        reason = self.auth.ended(self.principal)
        if reason is not None:
            self.auth.counters.streams_ended += 1
        return reason
