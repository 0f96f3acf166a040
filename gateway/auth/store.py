"""Accounts, sessions and API tokens, in the hazard store's database (SQLite or PostgreSQL).

Three tables with their own ``MetaData`` (created next to the hazard tables, on the same SQLAlchemy engine):

- ``auth_users``: username, display name, argon2id password hash (empty for an account that only uses API
  tokens), role and scope, admin flag, disabled flag, sign-in counters;
- ``auth_sessions``: one row per browser sign-in;
- ``auth_tokens``: API tokens for scripts and integrations.

Session and token secrets are random (256 bits from ``secrets``) and only their SHA-256 is stored: a copy of
the database does not let anyone sign in, and, unlike passwords, such secrets need no slow hash because
they cannot be guessed. A secret is shown once, when it is made. Rows are never deleted: a revoked or
expired credential keeps its row, so "who could act when" stays answerable.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Connection,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    insert,
    select,
    update,
)
from sqlalchemy.engine import CursorResult, Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from gateway.auth import passwords
from gateway.auth.principal import AccountScope, Principal, Role, ScopeKind, scope_for_role
from gateway.store import HazardStore
from gateway.store.tables import UtcDateTime

metadata = MetaData()

users = Table(
    "auth_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(128), nullable=False, default=""),
    #: argon2id (PHC string); empty: the account cannot sign in with a password, only with API tokens.
    Column("password_hash", String(512), nullable=False, default=""),
    Column("role", String(16), nullable=False),
    Column("scope_kind", String(16), nullable=False),
    Column("district", String(128)),
    Column("street", String(128)),
    Column("company", String(256)),
    Column("admin", Boolean, nullable=False, default=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("password_changed_at", UtcDateTime),
    Column("last_login_at", UtcDateTime),
    #: Wrong passwords since the last successful sign-in, and in all; when the last one was.
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("failed_logins_total", Integer, nullable=False, default=0),
    Column("last_failed_at", UtcDateTime),
)

sessions = Table(
    "auth_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("auth_users.id"), nullable=False, index=True),
    Column("secret_sha256", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    Column("last_seen_at", UtcDateTime),
)

tokens = Table(
    "auth_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("auth_users.id"), nullable=False, index=True),
    Column("secret_sha256", String(64), nullable=False, unique=True),
    Column("label", String(128), nullable=False, default=""),
    Column("created_by", String(64), nullable=False, default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    Column("last_used_at", UtcDateTime),
)

#: API tokens start with this, so that they are recognisable in a config file or a secret scanner.
TOKEN_PREFIX = "fgw_"
#: ``last_seen_at`` / ``last_used_at`` are refreshed at most this often (not one write per request).
_TOUCH_EVERY = timedelta(minutes=1)


class AccountError(ValueError):
    """A refused account change (unknown user, duplicate username, bad role or scope); says what is wrong."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    display_name: str
    role: Role
    scope: AccountScope
    admin: bool
    disabled: bool
    has_password: bool
    created_at: datetime
    last_login_at: datetime | None
    failed_logins: int
    failed_logins_total: int
    last_failed_at: datetime | None


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: int
    username: str
    label: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _user(row: RowMapping) -> UserRecord:
    return UserRecord(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        role=Role(row["role"]),
        scope=account_scope(row),
        admin=bool(row["admin"]),
        disabled=bool(row["disabled"]),
        has_password=bool(row["password_hash"]),
        created_at=row["created_at"],
        last_login_at=row["last_login_at"],
        failed_logins=row["failed_logins"],
        failed_logins_total=row["failed_logins_total"],
        last_failed_at=row["last_failed_at"],
    )


def account_scope(row: RowMapping) -> AccountScope:
    """The scope of an ``auth_users`` row."""
    return AccountScope(
        kind=ScopeKind(row["scope_kind"]),
        district=row["district"],
        street=row["street"],
        company=row["company"],
    )


def _principal(row: RowMapping, *, via: str, credential_id: int, expires_at: datetime) -> Principal:
    return Principal(
        username=row["username"],
        display_name=row["display_name"],
        role=Role(row["role"]),
        admin=bool(row["admin"]),
        account_scope=account_scope(row),
        user_id=row["id"],
        via=via,
        credential_id=credential_id,
        expires_at=expires_at,
    )


def _token(row: RowMapping) -> TokenRecord:
    return TokenRecord(
        id=row["id"],
        username=row["username"],
        label=row["label"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


class AuthStore:
    """The account tables on an existing SQLAlchemy engine (normally ``HazardStore.engine``).

    Calls are synchronous, small transactions, like the hazard store's; the one slow step of a sign-in (the
    password hash) is not done here but by the caller, off the event loop.
    """

    def __init__(self, engine: Engine, *, owner: HazardStore | None = None) -> None:
        self.engine = engine
        self._owner = owner
        metadata.create_all(engine)

    @classmethod
    def open(cls, url: str) -> AuthStore:
        """The account tables of the store at ``url`` when no hazard store is open (CLI, rules disabled)."""
        store = HazardStore(url)
        return cls(store.engine, owner=store)

    def close(self) -> None:
        if self._owner is not None:
            self._owner.close()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # -- users ---------------------------------------------------------------------------------------

    def create_user(
        self,
        *,
        username: str,
        role: Role | str,
        password: str | None,
        now: datetime,
        display_name: str = "",
        district: str | None = None,
        street: str | None = None,
        company: str | None = None,
        admin: bool = False,
    ) -> UserRecord:
        """Add an account. ``password`` None makes an account that signs in with API tokens only."""
        username = _check_username(username)
        role, scope = _role_and_scope(role, district, street, company)
        password_hash = passwords.hash_password(password, username) if password is not None else ""
        values = {
            "username": username,
            "display_name": display_name.strip(),
            "password_hash": password_hash,
            **_role_values(role, scope),
            "admin": admin,
            "disabled": False,
            "created_at": now,
            "password_changed_at": now if password_hash else None,
            "failed_logins": 0,
            "failed_logins_total": 0,
        }
        try:
            with self._tx() as conn:
                _check_recorded_name_free(conn, username, display_name.strip())
                conn.execute(insert(users).values(**values))
        except IntegrityError:
            raise AccountError(f"user {username!r} exists already") from None
        return self.user(username)

    def ensure_user(
        self,
        *,
        username: str,
        role: Role | str,
        password: str | None,
        now: datetime,
        display_name: str = "",
        district: str | None = None,
        street: str | None = None,
        company: str | None = None,
        admin: bool = False,
    ) -> UserRecord:
        """Create the account, or bring an existing one to exactly this role, scope and password (and enable
        it, ending its sessions). The demo calls it on every start with fresh random passwords."""
        try:
            existing = self.user(username)
        except AccountError:
            return self.create_user(
                username=username,
                role=role,
                password=password,
                now=now,
                display_name=display_name,
                district=district,
                street=street,
                company=company,
                admin=admin,
            )
        role, scope = _role_and_scope(role, district, street, company)
        password_hash = passwords.hash_password(password, username) if password is not None else ""
        with self._tx() as conn:
            _check_recorded_name_free(conn, username, display_name.strip())
            conn.execute(
                update(users)
                .where(users.c.id == existing.id)
                .values(
                    display_name=display_name.strip(),
                    password_hash=password_hash,
                    password_changed_at=now if password_hash else None,
                    **_role_values(role, scope),
                    admin=admin,
                    disabled=False,
                    failed_logins=0,
                )
            )
            self._revoke_sessions(conn, existing.id, now)
        return self.user(username)

    def user(self, username: str) -> UserRecord:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).mappings().first()
        if row is None:
            raise AccountError(f"no user {username!r}")
        return _user(row)

    def users(self) -> list[UserRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(users).order_by(users.c.username)).mappings().all()
        return [_user(r) for r in rows]

    def has_admin(self) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(users.c.id).where(users.c.admin.is_(True), users.c.disabled.is_(False)).limit(1)
            ).first()
        return row is not None

    def set_password(self, username: str, password: str, now: datetime) -> None:
        """A new password; every session of the account ends (its API tokens stay valid)."""
        user = self.user(username)
        password_hash = passwords.hash_password(password, username)
        with self._tx() as conn:
            conn.execute(
                update(users)
                .where(users.c.id == user.id)
                .values(password_hash=password_hash, password_changed_at=now, failed_logins=0)
            )
            self._revoke_sessions(conn, user.id, now)

    def set_role(
        self,
        username: str,
        role: Role | str,
        now: datetime,
        *,
        district: str | None = None,
        street: str | None = None,
        company: str | None = None,
    ) -> UserRecord:
        """Give an account another role and scope; its sessions end (and with them its live feeds), so that
        its person signs in again to the new rights. Its API tokens act with the new ones at once."""
        user = self.user(username)
        role, scope = _role_and_scope(role, district, street, company)
        with self._tx() as conn:
            conn.execute(update(users).where(users.c.id == user.id).values(**_role_values(role, scope)))
            self._revoke_sessions(conn, user.id, now)
        return self.user(username)

    def set_disabled(self, username: str, disabled: bool, now: datetime) -> UserRecord:
        """Disable (or enable again) an account. Disabling ends its sessions and revokes its API tokens at
        once: a disabled account must not keep working through a token someone forgot about."""
        user = self.user(username)
        with self._tx() as conn:
            conn.execute(update(users).where(users.c.id == user.id).values(disabled=disabled))
            if disabled:
                self._revoke_sessions(conn, user.id, now)
                conn.execute(
                    update(tokens)
                    .where(tokens.c.user_id == user.id, tokens.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
        return self.user(username)

    # -- passwords and sign-in -----------------------------------------------------------------------

    def password_hash(self, username: str) -> tuple[int, str] | None:
        """``(user id, hash)`` of an enabled account, or None (unknown or disabled: the caller still spends
        the time of a password check, so the answer's timing does not tell which)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(users.c.id, users.c.password_hash).where(
                    users.c.username == username, users.c.disabled.is_(False)
                )
            ).first()
        return None if row is None else (int(row[0]), str(row[1]))

    def record_failure(self, user_id: int, now: datetime) -> None:
        with self._tx() as conn:
            conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(
                    failed_logins=users.c.failed_logins + 1,
                    failed_logins_total=users.c.failed_logins_total + 1,
                    last_failed_at=now,
                )
            )

    def replace_hash(self, user_id: int, password_hash: str) -> None:
        """Store a re-hash made with stronger parameters after a successful sign-in."""
        with self._tx() as conn:
            conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))

    def create_session(self, user_id: int, now: datetime, ttl: timedelta) -> tuple[Principal, str]:
        """A new session for a user who just proved the password; returns the principal and the secret."""
        secret = secrets.token_urlsafe(32)
        expires_at = now + ttl
        with self._tx() as conn:
            conn.execute(
                update(users).where(users.c.id == user_id).values(last_login_at=now, failed_logins=0)
            )
            result = conn.execute(
                insert(sessions).values(
                    user_id=user_id,
                    secret_sha256=secret_digest(secret),
                    created_at=now,
                    expires_at=expires_at,
                    last_seen_at=now,
                )
            )
            session_id = _new_id(result)
            row = conn.execute(select(users).where(users.c.id == user_id)).mappings().one()
        return _principal(row, via="session", credential_id=session_id, expires_at=expires_at), secret

    def session_principal(self, secret: str, now: datetime) -> Principal | None:
        """The principal of a live session (not expired, not revoked, account enabled), or None."""
        return self._lookup(sessions, sessions.c.last_seen_at, secret, now, via="session")

    def token_principal(self, secret: str, now: datetime) -> Principal | None:
        """The principal of a live API token, or None."""
        return self._lookup(tokens, tokens.c.last_used_at, secret, now, via="token")

    def _lookup(
        self, table: Table, touched: Column[datetime], secret: str, now: datetime, *, via: str
    ) -> Principal | None:
        query = (
            select(users, table.c.id.label("credential_id"), table.c.expires_at.label("credential_expires"))
            .select_from(table.join(users, table.c.user_id == users.c.id))
            .where(
                table.c.secret_sha256 == secret_digest(secret),
                table.c.revoked_at.is_(None),
                table.c.expires_at > now,
                users.c.disabled.is_(False),
            )
            .add_columns(touched.label("touched"))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        if row["touched"] is None or now - row["touched"] >= _TOUCH_EVERY:
            with self._tx() as conn:
                conn.execute(
                    update(table).where(table.c.id == row["credential_id"]).values({touched.name: now})
                )
        return _principal(
            row, via=via, credential_id=row["credential_id"], expires_at=row["credential_expires"]
        )

    def revoke_session(self, session_id: int, now: datetime) -> None:
        with self._tx() as conn:
            conn.execute(
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )

    @staticmethod
    def _revoke_sessions(conn: Connection, user_id: int, now: datetime) -> None:
        conn.execute(
            update(sessions)
            .where(and_(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)))
            .values(revoked_at=now)
        )

    # -- API tokens ----------------------------------------------------------------------------------

    def create_token(
        self, username: str, *, now: datetime, ttl: timedelta, label: str = "", created_by: str = ""
    ) -> tuple[TokenRecord, str]:
        """A new API token for an enabled account; returns the record and the secret (shown only now)."""
        user = self.user(username)
        if user.disabled:
            raise AccountError(f"user {username!r} is disabled")
        if ttl <= timedelta(0):
            raise AccountError("a token's lifetime must be positive")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._tx() as conn:
            result = conn.execute(
                insert(tokens).values(
                    user_id=user.id,
                    secret_sha256=secret_digest(secret),
                    label=label.strip(),
                    created_by=created_by,
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
            token_id = _new_id(result)
        return self.token(token_id), secret

    def token(self, token_id: int) -> TokenRecord:
        rows = self._tokens(tokens.c.id == token_id)
        if not rows:
            raise AccountError(f"no token {token_id}")
        return rows[0]

    def tokens(self, username: str | None = None) -> list[TokenRecord]:
        return self._tokens(users.c.username == username if username is not None else None)

    def _tokens(self, where: ColumnElement[bool] | None) -> list[TokenRecord]:
        query = (
            select(tokens, users.c.username)
            .select_from(tokens.join(users, tokens.c.user_id == users.c.id))
            .order_by(tokens.c.id)
        )
        if where is not None:
            query = query.where(where)
        with self.engine.connect() as conn:
            return [_token(r) for r in conn.execute(query).mappings().all()]

    def revoke_token(self, token_id: int, now: datetime) -> TokenRecord:
        """Revoke a token (a second revoke keeps the first time)."""
        self.token(token_id)
        with self._tx() as conn:
            conn.execute(
                update(tokens)
                .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return self.token(token_id)


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - both tables have an integer primary key
        raise RuntimeError("insert returned no primary key")
    return int(key[0])


def _check_username(username: str) -> str:
    name = username.strip()
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise AccountError("a username is 1 to 64 characters without spaces")
    return name


def _role_values(role: Role, scope: AccountScope) -> dict[str, str | None]:
    """The ``auth_users`` columns of a role and its scope."""
    return {
        "role": role.value,
        "scope_kind": scope.kind.value,
        "district": scope.district,
        "street": scope.street,
        "company": scope.company,
    }


def _role_and_scope(
    role: Role | str, district: str | None, street: str | None, company: str | None
) -> tuple[Role, AccountScope]:
    try:
        role = Role(role)
    except ValueError:
        raise AccountError(f"unknown role {role!r}; roles: {', '.join(r.value for r in Role)}") from None
    try:
        return role, scope_for_role(role, district=district, street=street, company=company)
    except ValueError as exc:
        raise AccountError(str(exc)) from None


def _check_recorded_name_free(conn: Connection, username: str, display_name: str) -> None:
    """``AccountError`` when the name this account would be recorded by (its display name, else its username:
    ``Principal.actor``) is already another account's. Hazards, history lines and each account's daily share
    ([limits]) carry that name, so two accounts with one name could not be told apart, and would share a day's
    share."""
    recorded = display_name or username
    rows = conn.execute(select(users.c.username, users.c.display_name).where(users.c.username != username))
    for other, other_display in rows:
        if (other_display or other) == recorded:
            raise AccountError(
                f"the name {recorded!r} is already how account {other!r} is recorded (in hazards, history "
                "and daily shares): give this account another display name"
            )
