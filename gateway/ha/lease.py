"""The partition lease: one row per partition in PostgreSQL, held by one gateway at a time.

Why a lease row with a heartbeat, and not a session-level advisory lock (``pg_try_advisory_lock``)?

- **Fencing needs a deadline the holder knows.** An advisory lock is released by the server when it notices
  that the holder's connection is gone, and a restarted PostgreSQL forgets every lock at once: a standby can
  take the lock while the old holder has not yet noticed anything (its connection looks fine until its next
  query, or until TCP gives up), so for a while two gateways would think they are active. A lease row
  expires at a time both sides agree on: the holder measures it from the moment it *sent* its last
  successful renewal (on its monotonic clock, so it is never later than the server's expiry), and stops
  being active one heartbeat before, whatever it knows or does not know about the server. A standby takes
  the lease only once the server's ``now()`` is past the expiry. So "at most one active" holds through a
  kill -9, a network cut and a PostgreSQL outage or restart, and needs no TCP timeout to be right.
- **Takeover time is the TTL**, not a TCP keepalive or timeout of some connection: ``ttl_s`` + one
  ``heartbeat_s`` of polling after the holder dies (5 s + 1 s by default), which the operator sets.
- **One statement does everything**: ``claim`` inserts the row, renews it, or takes it over if it expired,
  atomically (``INSERT ... ON CONFLICT DO UPDATE ... WHERE holder = me OR expires_at < now()``), and
  only the server's clock is compared: gateway clocks may differ. It survives connection pooling and a
  PostgreSQL restart (the row is data), and ``term`` counts takeovers.

The cost is one small UPDATE per heartbeat per gateway; an advisory lock costs none, but is only as good as
the server's view of a TCP connection.

Calls are synchronous (psycopg 3) and made from one worker thread by ``gateway/ha/standby.py``, never on the
event loop: a cut network can then never stall ingestion, and a call that hangs is simply not waited for.
The connection has TCP keepalives, a user timeout and a statement timeout, so such a call ends on its own.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import make_conninfo

from gateway.store.listen import KEEPALIVES, libpq_dsn

log = logging.getLogger(__name__)

TABLE = "firegw_ha_lease"

_CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    partition   text PRIMARY KEY,
    holder      text NOT NULL,
    gateway     text NOT NULL,
    term        bigint NOT NULL,
    acquired_at timestamptz NOT NULL,
    renewed_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
)
"""

#: Take, renew or take over the partition's lease; returns the term when this holder has it afterwards.
_CLAIM = f"""
INSERT INTO {TABLE} AS l (partition, holder, gateway, term, acquired_at, renewed_at, expires_at)
VALUES (%(partition)s, %(holder)s, %(gateway)s, 1, now(), now(), now() + %(ttl)s * interval '1 second')
ON CONFLICT (partition) DO UPDATE SET
    holder = EXCLUDED.holder,
    gateway = EXCLUDED.gateway,
    term = CASE WHEN l.holder = EXCLUDED.holder THEN l.term ELSE l.term + 1 END,
    acquired_at = CASE WHEN l.holder = EXCLUDED.holder THEN l.acquired_at ELSE now() END,
    renewed_at = now(),
    expires_at = EXCLUDED.expires_at
WHERE l.holder = EXCLUDED.holder OR l.expires_at < now()
RETURNING term
"""

_HOLDER = f"""
SELECT gateway, holder, term, extract(epoch FROM expires_at - now())::float8
FROM {TABLE} WHERE partition = %(partition)s
"""

#: A clean stop hands the lease over at once instead of letting it expire.
_RELEASE = f"""
UPDATE {TABLE} SET expires_at = now() - interval '1 millisecond'
WHERE partition = %(partition)s AND holder = %(holder)s
"""


@dataclass(frozen=True, slots=True)
class Claim:
    """What a claim found: ``held`` by this gateway (with its ``term``), or who holds it and for how long."""

    held: bool
    term: int
    gateway: str
    holder: str
    expires_in_s: float


class Lease:
    """One partition's lease, for one gateway process (see the module docstring).

    ``holder`` is unique per process (gateway id, host, pid and a random part): a restarted gateway is a new
    holder and waits for its own old lease to expire, since nothing can tell it that the old one is dead.
    """

    def __init__(
        self, store_url: str, partition: str, gateway_id: str, *, ttl_s: float, timeout_s: float
    ) -> None:
        self.dsn = libpq_dsn(store_url)
        self.partition = partition
        self.gateway_id = gateway_id
        self.holder = f"{gateway_id}@{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._created = False

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        self.close()
        timeout_ms = max(100, int(self.timeout_s * 1000))
        conninfo = make_conninfo(
            self.dsn,
            connect_timeout=max(2, int(self.timeout_s + 0.999)),
            application_name=f"firegw-lease {self.gateway_id}"[:63],
            options=f"-c statement_timeout={timeout_ms} -c lock_timeout={timeout_ms}",
            **{**KEEPALIVES, "tcp_user_timeout": timeout_ms},
        )
        conn = psycopg.connect(conninfo, autocommit=True)
        if not self._created:
            with conn.transaction():  # two gateways starting at once must not both create the table
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (TABLE,))
                conn.execute(_CREATE)
            self._created = True
        self._conn = conn
        return conn

    def _params(self) -> dict[str, object]:
        return {
            "partition": self.partition,
            "holder": self.holder,
            "gateway": self.gateway_id,
            "ttl": self.ttl_s,
        }

    def claim(self) -> Claim:
        """Take, renew or take over the lease if it is free, expired or ours; else say who holds it.
        Raises ``psycopg.Error`` when PostgreSQL cannot be reached (the connection is dropped)."""
        try:
            conn = self._connection()
            row = conn.execute(_CLAIM, self._params()).fetchone()
            if row is not None:
                return Claim(True, int(str(row[0])), self.gateway_id, self.holder, self.ttl_s)
            other = conn.execute(_HOLDER, self._params()).fetchone()
        except psycopg.Error:
            self.close()
            raise
        if other is None:  # released between the two statements: the next claim will take it
            return Claim(False, 0, "", "", 0.0)
        gateway, holder, term, expires_in = other
        return Claim(False, int(str(term)), str(gateway), str(holder), float(str(expires_in)))

    def release(self) -> None:
        """Let the lease expire now, if this gateway holds it (a clean stop: a standby takes it at once)."""
        try:
            self._connection().execute(_RELEASE, self._params())
        except psycopg.Error:
            self.close()
            raise

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:  # pragma: no cover - a broken connection: nothing more to do
                log.debug("closing the lease connection failed", exc_info=True)
