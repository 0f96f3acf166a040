"""Active or standby: stand by until this gateway holds its partition's lease, be active while it does.

``ActiveStandby.run(active_part)`` loops forever:

1. **Standby.** Try to take the lease every ``heartbeat_s`` (``Lease.claim``); log once per holder
   ``standby: gateway X holds partition P``.
2. **Active.** Once it holds the lease, run ``active_part`` (the gateway builds its rule engine from the store
   and starts the MQTT session, the Modbus poller and the rule ticks there) beside ``_keep``, which renews the
   lease every ``heartbeat_s``.
3. **Lost.** When a renewal has not succeeded by one heartbeat before the lease could expire (measured from
   when the last successful renewal was *sent*, so never later than the server's expiry), or another gateway
   holds the lease, ``_keep`` raises ``LeaseLost``: ``active_part`` is cancelled at once (the MQTT session is
   dropped without acknowledging anything more, so the broker gives the rest to the next holder) and the
   gateway stands by again. It does not exit: when PostgreSQL returns, exactly one gateway takes the lease,
   and the others stand by.

Fencing of last resort: a watchdog thread ends the process (exit code 70) if the gateway is still active half
a heartbeat after it should have stood down. That happens only when the event loop is stuck (a synchronous
hazard-store call hanging on a cut network, say), and then the loop cannot stand down by itself before a
standby takes over.

A clean stop (``request_stop``: SIGTERM, SIGINT) cancels ``run`` after the MQTT session was closed cleanly;
``run`` then releases the lease, and a standby takes over within one heartbeat instead of a TTL.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg

from gateway.config import HaSection
from gateway.ha.lease import Claim, Lease

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Exit code of a gateway that the watchdog ended because it could not stand down in time.
FENCED_EXIT_CODE = 70


class LeaseLost(Exception):
    """This gateway no longer holds its partition's lease and must stop being active at once."""


class ActiveStandby:
    """One gateway's side of a partition's lease (see the module docstring)."""

    def __init__(
        self,
        settings: HaSection,
        store_url: str,
        gateway_id: str,
        *,
        exit_process: Callable[[int], object] = os._exit,
    ) -> None:
        self.settings = settings
        self.partition = settings.partition
        self.gateway_id = gateway_id
        self.lease = Lease(
            store_url, settings.partition, gateway_id, ttl_s=settings.ttl_s, timeout_s=settings.heartbeat_s
        )
        #: True while this gateway runs the active part; read by the watchdog thread.
        self.active = False
        #: "starting", "standby" or "active" (health, logs, tests).
        self.state = "starting"
        #: The lease's term when this gateway took it last, and how often it did.
        self.term = 0
        self.takeovers = 0
        #: time.monotonic() by which this gateway must have stopped being active unless it renews the lease.
        self.deadline = 0.0
        self._holding = False
        self._standing_down = False
        self._exit = exit_process
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ha-lease")
        self._watchdog: threading.Thread | None = None

    # -- the loop ----------------------------------------------------------------------------------------

    async def run(self, active_part: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Stand by, be active while holding the lease, stand by again; forever (until cancelled)."""
        try:
            while True:
                claim = await self._stand_by()
                await self._be_active(claim, active_part)
        finally:
            await self._release()

    async def _stand_by(self) -> Claim:
        """Try to take the lease every heartbeat until it is ours."""
        heartbeat = self.settings.heartbeat_s
        self.state = "standby"
        announced: str | None = None
        failing = False
        while True:
            sent = time.monotonic()
            try:
                claim = await self._call(self.lease.claim, heartbeat)
            except (psycopg.Error, OSError, TimeoutError) as exc:
                if not failing:
                    failing = True
                    log.warning(
                        "standby: cannot reach PostgreSQL for the lease of partition %r (%s); retrying every "
                        "%.1f s",
                        self.partition,
                        _describe(exc),
                        heartbeat,
                    )
            else:
                failing = False
                if claim.held:
                    self.deadline = sent + self.settings.ttl_s - heartbeat
                    return claim
                if claim.holder != announced:
                    announced = claim.holder
                    log.info(
                        "standby: gateway %s holds partition %r (term %d; this is gateway %s, taking over if "
                        "its lease is not renewed within %.1f s)",
                        claim.gateway or "(none)",
                        self.partition,
                        claim.term,
                        self.gateway_id,
                        max(claim.expires_in_s, 0.0),
                    )
            await asyncio.sleep(max(0.0, sent + heartbeat - time.monotonic()))

    async def _be_active(self, claim: Claim, active_part: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._holding = True
        self._standing_down = False
        self.active = True
        self.state = "active"
        self.term = claim.term
        self.takeovers += 1
        self._start_watchdog()
        log.info(
            "active: gateway %s holds partition %r (term %d); starting the MQTT session, Modbus and rules",
            self.gateway_id,
            self.partition,
            claim.term,
        )
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._keep(), name="ha-lease")
                group.create_task(active_part(), name="ha-active")
        except* LeaseLost as lost:
            self._holding = False
            log.error(
                "%s: stopped being active (MQTT session dropped, Modbus and rules stopped); standing by",
                lost.exceptions[0],
            )
        finally:
            self.active = False
            self.state = "standby"

    async def _keep(self) -> None:
        """Renew the lease every heartbeat; raise ``LeaseLost`` when it is gone or about to be."""
        heartbeat, ttl = self.settings.heartbeat_s, self.settings.ttl_s
        renewed = time.monotonic()
        failing = False
        while True:
            now = time.monotonic()
            if now >= self.deadline:
                self._standing_down = True
                raise LeaseLost(
                    f"could not renew the lease of partition {self.partition!r} for {now - renewed:.1f} s "
                    f"(it expires {heartbeat:.1f} s from now and a standby may take it)"
                )
            try:
                claim = await self._call(self.lease.claim, min(heartbeat, self.deadline - now))
            except (psycopg.Error, OSError, TimeoutError) as exc:
                if not failing:
                    failing = True
                    log.warning(
                        "cannot renew the lease of partition %r (%s); this gateway stops being active in "
                        "%.1f s unless a renewal succeeds",
                        self.partition,
                        _describe(exc),
                        max(0.0, self.deadline - time.monotonic()),
                    )
            else:
                if not claim.held:
                    self._standing_down = True
                    raise LeaseLost(f"gateway {claim.gateway} holds partition {self.partition!r} now")
                self.deadline = now + ttl - heartbeat
                renewed = now
                if failing:
                    failing = False
                    log.info("renewed the lease of partition %r again", self.partition)
            await asyncio.sleep(max(0.0, min(now + heartbeat, self.deadline) - time.monotonic()))

    async def _release(self) -> None:
        """After a clean stop: let the lease expire now, so that a standby takes over within a heartbeat."""
        if not self._holding:
            return
        self._holding = False
        try:
            await self._call(self.lease.release, 2.0)
        except (psycopg.Error, OSError, TimeoutError) as exc:
            log.warning(
                "could not release the lease of partition %r (%s): a standby takes over when it expires",
                self.partition,
                _describe(exc),
            )
        else:
            log.info("released the lease of partition %r: a standby takes over now", self.partition)

    async def _call(self, call: Callable[[], T], timeout_s: float) -> T:
        """Run a lease call on the lease's own thread; stop waiting for it after ``timeout_s``."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(max(timeout_s, 0.01)):
            return await loop.run_in_executor(self._executor, call)

    # -- fencing of last resort -------------------------------------------------------------------------

    def _start_watchdog(self) -> None:
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=self._watch, name="ha-watchdog", daemon=True)
            self._watchdog.start()

    def _watch(self) -> None:
        grace = self.settings.heartbeat_s / 2
        while True:
            time.sleep(min(0.1, grace / 2))
            if self.active and not self._standing_down and time.monotonic() > self.deadline + grace:
                log.critical(
                    "the event loop did not stand down from partition %r in time (stuck for %.1f s): ending "
                    "the process so that two gateways are never active at once",
                    self.partition,
                    time.monotonic() - self.deadline,
                )
                self._exit(FENCED_EXIT_CODE)
                return

    def close(self) -> None:
        """At the gateway's end: the lease thread and connection go (a held lease expires by itself)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.lease.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
