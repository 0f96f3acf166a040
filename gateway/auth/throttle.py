"""Sign-in throttling: failed attempts counted per account name and per client address, in the auth store.

- **Per account name**: 5 failed sign-ins within 15 minutes lock the name for 15 minutes; each further lock
  of the same name doubles (30 min, 1 h, ... at most 24 h) until a successful sign-in or an unlock. Names
  that belong to no account are counted and locked the same way, so the answer never tells which exist.
- **Per client address**: 20 failed sign-ins within 15 minutes lock the address for 15 minutes (not
  doubling: a control room's operators may share one address behind NAT), whatever names were tried.

Those are the defaults; ``[auth]`` sets each figure (``lock_after_failures``, ``address_lock_after_failures``,
``failure_window_s``, ``lock_s``, ``max_lock_s``: ``throttle_rules``).

While locked, every sign-in of that name or from that address is refused with 429 and ``Retry-After``
before the password is even checked, the right password included: the answer is the same whether the
password was right or not. Each attempt is counted *before* its password is checked, so a burst of parallel
guesses cannot slip past the limit while the slow hashes run; a successful sign-in takes its attempt back
from the address and clears the account's count.

Why the store and not ``limits``/``slowapi``: the counts must survive a restart and be shared by gateways
that share a store, and ``limits`` keeps them in memory, Redis, Memcached or MongoDB, none of which a
gateway has; the store (SQLite or PostgreSQL) is already there, and a lock-out also needs an audit record
and an unlock, which a rate-limit counter does not have. Each attempt is a few indexed reads and writes of
one small table, next to an argon2 hash that costs 0.4 s.

Every lock-out and every unlock is logged (``gateway.auth.throttle``, WARNING) and stored in ``auth_audit``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from gateway.config import AuthSection
from gateway.store.tables import UtcDateTime

log = logging.getLogger(__name__)

metadata = MetaData()

#: One row per account name or client address that failed to sign in lately.
throttle = Table(
    "auth_throttle",
    metadata,
    Column("kind", String(16), primary_key=True),  # account / address
    Column("name", String(128), primary_key=True),  # the name typed (known or not) / the client address
    Column("failures", Integer, nullable=False),  # attempts in the current window
    Column("window_start", UtcDateTime, nullable=False),
    Column("locked_until", UtcDateTime),
    Column("lockouts", Integer, nullable=False),  # locks since the last success or unlock (doubling)
    Column("updated_at", UtcDateTime, nullable=False, index=True),
)

#: Lock-outs and unlocks, never deleted.
audit = Table(
    "auth_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False, index=True),
    Column("event", String(16), nullable=False),  # lockout / unlock
    Column("kind", String(16), nullable=False),
    Column("name", String(128), nullable=False),
    Column("locked_until", UtcDateTime),  # lockout: until when; unlock: the lock it ended (None: none)
    Column("failures", Integer, nullable=False, default=0),
    Column("address", String(128), nullable=False, default=""),  # lockout: where the last attempt came from
    Column("actor", String(128), nullable=False, default=""),  # unlock: who
)


class Subject(StrEnum):
    ACCOUNT = "account"
    ADDRESS = "address"


@dataclass(frozen=True, slots=True)
class Rule:
    limit: int  # failed attempts within ``window`` that lock
    window: timedelta
    lock: timedelta  # the first lock; doubled for each further one when ``doubling``
    doubling: bool
    max_lock: timedelta


ACCOUNT_RULE = Rule(5, timedelta(minutes=15), timedelta(minutes=15), True, timedelta(hours=24))
ADDRESS_RULE = Rule(20, timedelta(minutes=15), timedelta(minutes=15), False, timedelta(minutes=15))


def throttle_rules(section: AuthSection) -> dict[str, Rule]:
    """``LoginThrottle``'s rules from ``[auth]``: names lock after ``lock_after_failures`` and double,
    addresses after ``address_lock_after_failures`` and do not."""
    window, lock = timedelta(seconds=section.failure_window_s), timedelta(seconds=section.lock_s)
    longest = timedelta(seconds=section.max_lock_s)
    return {
        "account": Rule(section.lock_after_failures, window, lock, True, longest),
        "address": Rule(section.address_lock_after_failures, window, lock, False, lock),
    }


#: A name's doubling starts again once its last lock ended this long ago without a new one.
FORGET_AFTER = timedelta(hours=24)
#: Rows neither locked nor touched for this long are deleted (at most once an hour).
PRUNE_AFTER = timedelta(days=2)


class Throttled(Exception):
    """A sign-in refused because its account name or client address is locked (429); says until when."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    event: str
    kind: Subject
    name: str
    locked_until: datetime | None
    failures: int
    address: str
    actor: str


@dataclass(frozen=True, slots=True)
class Lock:
    kind: Subject
    name: str
    locked_until: datetime
    lockouts: int


class LoginThrottle:
    """The counts and locks of one auth store (``auth_throttle``, ``auth_audit`` on its engine)."""

    def __init__(self, engine: Engine, *, account: Rule = ACCOUNT_RULE, address: Rule = ADDRESS_RULE) -> None:
        self.engine = engine
        self.rules = {Subject.ACCOUNT: account, Subject.ADDRESS: address}
        self._pruned: datetime | None = None
        metadata.create_all(engine)

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _subjects(self, username: str, address: str) -> list[tuple[Subject, str]]:
        return [(Subject.ACCOUNT, username[:128]), (Subject.ADDRESS, address[:128] or "unknown")]

    # -- a sign-in ---------------------------------------------------------------------------------------

    def admit(self, username: str, address: str, now: datetime) -> None:
        """Before the password is checked: ``Throttled`` while the name or the address is locked; otherwise
        the attempt is counted (and a burst that goes past a limit is locked and refused at once)."""
        subjects = self._subjects(username, address)
        with self._tx() as conn:
            locked = self._locked(conn, subjects, now)
        if locked is not None:
            raise self._refusal(locked, now)
        counts = self._count(subjects, now)
        over = [(kind, name) for (kind, name), n in counts.items() if n > self.rules[kind].limit]
        if over:
            raise self._lock(over, address, now)

    def failed(self, username: str, address: str, now: datetime) -> None:
        """After a wrong password (its attempt counted by ``admit``): ``Throttled`` when that attempt
        reached a limit, which locks the name or the address from now on."""
        subjects = self._subjects(username, address)
        with self._tx() as conn:
            rows = {(r["kind"], r["name"]): r for r in self._rows(conn, subjects)}
        reached = [s for s in subjects if s in rows and rows[s]["failures"] >= self.rules[s[0]].limit]
        self._prune(now)
        if reached:
            raise self._lock(reached, address, now)

    def succeeded(self, username: str, address: str, now: datetime) -> None:
        """After the right password: the name's count and doubling start again; the address gets its
        attempt back (its count is not cleared: one good account must not reset a guessing address)."""
        (account, name), (_, where) = self._subjects(username, address)
        with self._tx() as conn:
            conn.execute(delete(throttle).where(throttle.c.kind == account.value, throttle.c.name == name))
            conn.execute(
                update(throttle)
                .where(
                    throttle.c.kind == Subject.ADDRESS.value,
                    throttle.c.name == where,
                    throttle.c.failures > 0,
                )
                .values(failures=throttle.c.failures - 1, updated_at=now)
            )

    # -- people --------------------------------------------------------------------------------------------

    def unlock(self, kind: Subject, name: str, *, actor: str, now: datetime) -> datetime | None:
        """End a lock and its doubling (audited): returns until when it was locked (None: it was not)."""
        with self._tx() as conn:
            row = (
                conn.execute(select(throttle).where(throttle.c.kind == kind.value, throttle.c.name == name))
                .mappings()
                .first()
            )
            was = row["locked_until"] if row is not None and _locked_at(row, now) else None
            conn.execute(delete(throttle).where(throttle.c.kind == kind.value, throttle.c.name == name))
            conn.execute(
                insert(audit).values(
                    at=now, event="unlock", kind=kind.value, name=name, locked_until=was, actor=actor
                )
            )
        log.warning(
            "sign-in unlocked: %s %r by %s (%s)",
            kind.value,
            name,
            actor,
            f"was locked until {was:%Y-%m-%d %H:%M:%S} UTC" if was else "was not locked",
        )
        return was

    def locked_until(self, kind: Subject, name: str, now: datetime) -> datetime | None:
        with self._tx() as conn:
            locked = self._locked(conn, [(kind, name)], now)
        return locked.locked_until if locked is not None else None

    def locks(self, now: datetime) -> list[Lock]:
        """Every name and address locked at ``now``, the longest first."""
        with self._tx() as conn:
            rows = conn.execute(
                select(throttle).where(throttle.c.locked_until > now).order_by(throttle.c.locked_until.desc())
            ).mappings()
            return [_lock_of(r) for r in rows]

    def events(self, limit: int = 50) -> list[AuditRecord]:
        """The latest lock-outs and unlocks, newest first."""
        with self._tx() as conn:
            rows = conn.execute(select(audit).order_by(audit.c.id.desc()).limit(limit)).mappings().all()
        return [AuditRecord(**{**r, "kind": Subject(r["kind"])}) for r in rows]

    # -- inside ----------------------------------------------------------------------------------------------

    @staticmethod
    def _rows(conn: Connection, subjects: list[tuple[Subject, str]]) -> list[RowMapping]:
        match = [(throttle.c.kind == k.value) & (throttle.c.name == n) for k, n in subjects]
        return list(conn.execute(select(throttle).where(or_(*match))).mappings().all())

    def _locked(self, conn: Connection, subjects: list[tuple[Subject, str]], now: datetime) -> Lock | None:
        """The lock in force on one of ``subjects`` (the account's first), or None."""
        locks = [_lock_of(r) for r in self._rows(conn, subjects) if _locked_at(r, now)]
        locks.sort(key=lambda lock: lock.kind is not Subject.ACCOUNT)
        return locks[0] if locks else None

    def _count(self, subjects: list[tuple[Subject, str]], now: datetime) -> dict[tuple[Subject, str], int]:
        """Add one attempt to each subject (a new window when the last one is over): the new counts."""
        for attempt in range(2):
            try:
                with self._tx() as conn:
                    rows = {(r["kind"], r["name"]): r for r in self._rows(conn, subjects)}
                    return {s: self._count_one(conn, s, rows.get(s), now) for s in subjects}
            except IntegrityError:  # another gateway added the same row just now: count again
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _count_one(
        self, conn: Connection, subject: tuple[Subject, str], row: RowMapping | None, now: datetime
    ) -> int:
        kind, name = subject
        if row is None:
            conn.execute(
                insert(throttle).values(
                    kind=kind.value, name=name, failures=1, window_start=now, lockouts=0, updated_at=now
                )
            )
            return 1
        where = (throttle.c.kind == kind.value) & (throttle.c.name == name)
        if now - row["window_start"] < self.rules[kind].window:
            bumped = update(throttle).where(where).values(failures=throttle.c.failures + 1, updated_at=now)
            conn.execute(bumped)
            return int(row["failures"]) + 1
        forget = row["locked_until"] is not None and now - row["locked_until"] >= FORGET_AFTER
        lockouts = 0 if forget else row["lockouts"]
        conn.execute(
            update(throttle)
            .where(where)
            .values(failures=1, window_start=now, lockouts=lockouts, updated_at=now)
        )
        return 1

    def _lock(self, subjects: list[tuple[Subject, str]], address: str, now: datetime) -> Throttled:
        """Lock ``subjects`` (each lock audited and logged) and say so."""
        with self._tx() as conn:
            for row in self._rows(conn, subjects):
                if _locked_at(row, now):
                    continue  # locked by a parallel attempt already
                kind = Subject(row["kind"])
                rule = self.rules[kind]
                factor = 2 ** min(row["lockouts"], 16) if rule.doubling else 1
                until = now + min(rule.lock * factor, rule.max_lock)
                conn.execute(
                    update(throttle)
                    .where(throttle.c.kind == kind.value, throttle.c.name == row["name"])
                    .values(
                        locked_until=until,
                        lockouts=row["lockouts"] + 1,
                        failures=0,
                        window_start=now,
                        updated_at=now,
                    )
                )
                conn.execute(
                    insert(audit).values(
                        at=now,
                        event="lockout",
                        kind=kind.value,
                        name=row["name"],
                        locked_until=until,
                        failures=row["failures"],
                        address=address[:128],
                    )
                )
                log.warning(
                    "sign-in locked: %s %r until %s UTC after %d failed attempts within %s "
                    "(lock-out %d, last attempt from %s)",
                    kind.value,
                    row["name"],
                    f"{until:%Y-%m-%d %H:%M:%S}",
                    row["failures"],
                    _minutes(rule.window.total_seconds()),
                    row["lockouts"] + 1,
                    address or "an unknown address",
                )
            locked = self._locked(conn, subjects, now)
        if locked is None:  # pragma: no cover - just locked above
            raise RuntimeError("a lock was not recorded")
        return self._refusal(locked, now)

    def _refusal(self, lock: Lock, now: datetime) -> Throttled:
        seconds = max(1, math.ceil((lock.locked_until - now).total_seconds()))
        rule = self.rules[lock.kind]
        when = f"try again in {_minutes(seconds)} (at {lock.locked_until:%H:%M} UTC)"
        if lock.kind is Subject.ACCOUNT:
            message = (
                f"sign-in as {lock.name!r} is locked after {rule.limit} failed attempts; {when}, "
                "or ask an office, brigade or admin account to unlock it"
            )
        else:
            message = (
                f"too many failed sign-ins from your address ({rule.limit} within "
                f"{_minutes(rule.window.total_seconds())}); {when}"
            )
        return Throttled(message, seconds)

    def _prune(self, now: datetime) -> None:
        if self._pruned is not None and now - self._pruned < timedelta(hours=1):
            return
        self._pruned = now
        with self._tx() as conn:
            conn.execute(
                delete(throttle).where(
                    throttle.c.updated_at < now - PRUNE_AFTER,
                    or_(throttle.c.locked_until.is_(None), throttle.c.locked_until < now),
                )
            )


def _locked_at(row: RowMapping, now: datetime) -> bool:
    return row["locked_until"] is not None and row["locked_until"] > now


def _lock_of(row: RowMapping) -> Lock:
    return Lock(Subject(row["kind"]), row["name"], row["locked_until"], row["lockouts"])


def _minutes(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour" + ("s" if hours > 1 else "")
    return f"{minutes} minute" + ("s" if minutes > 1 else "")
