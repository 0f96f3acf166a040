"""Device rule checkpoints: the active gateway keeps each device's rule state in the store, and a gateway that
takes over (or starts again) continues from it.

What a device's ``DeviceRules`` knows that no hazard records, when it was last heard and the hold timers
in progress, would otherwise start again at every takeover: a detector silent for 50 minutes would go offline
only a whole report window after it. So:

- the engine marks a device *dirty* when a record or a timer touched it (``dirty``: one set add per record);
- every ``every_s`` (``RuleEngine(checkpoint_s=...)``, default 10 s, 0 off) ``write`` takes the dirty devices'
  ``DeviceRules.checkpoint()`` (on the event loop: building a dict, nothing else) and hands them to one worker
  thread that upserts them (``store.checkpoints.save``); while a write is still running, the devices wait for
  the next round. A failed write is logged and counted (``store_errors``) and its devices are written again;
- ``resume``, at construction and before open hazards are restored (which override their signals), continues
  every device from its checkpoint. Devices with none are written at the first rounds, so that the next
  gateway knows them too (``MAX_ROWS`` a round, so even a city's first write stays short on the loop).

Counting and logging happen on the event loop (when the next round looks at the finished write), so nothing
here is shared with the worker thread but the arguments of the write.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from gateway.casework.fleet import DeviceFleet
from gateway.casework.model import EngineCounters
from gateway.store import HazardStore

log = logging.getLogger(__name__)

#: Devices taken per round at most (the rest wait for the next round): bounds the time on the event loop.
MAX_ROWS = 20_000


class RuleCheckpoints:
    def __init__(
        self,
        store: HazardStore,
        fleet: DeviceFleet,
        counters: EngineCounters,
        every_s: float,
        now: datetime,
    ) -> None:
        self.store = store
        self.fleet = fleet
        self.counters = counters
        self.every_s = every_s
        #: Devices whose rule state changed since their last checkpoint was taken.
        self.dirty: set[str] = set()
        #: Rows written, writes failed, devices resumed at construction.
        self.written = 0
        self.failures = 0
        self.resumed = 0
        self._last = now
        self._executor: ThreadPoolExecutor | None = None
        self._running: tuple[Future[float], set[str]] | None = None

    @property
    def enabled(self) -> bool:
        return self.every_s > 0

    # -- start-up ----------------------------------------------------------------------------------------

    def resume(self, now: datetime) -> int:
        """Continue every device from its checkpoint in the store; returns how many were. Devices without one
        (new, or the store has none yet) are marked dirty. A store that cannot be read leaves every device
        as built (logged and counted): a takeover goes on without the checkpoints."""
        if not self.enabled:
            return 0
        fleet = self.fleet
        try:
            saved = self.store.checkpoints.all()
        except Exception:
            self.counters.store_errors += 1
            log.exception("could not read the device rule checkpoints; every device starts afresh")
            self.dirty.update(fleet.rules)
            return 0
        started = time.perf_counter()
        resumed: set[str] = set()
        for device_id, rules in fleet.rules.items():
            entry = saved.get(device_id)
            if entry is None:
                self.dirty.add(device_id)
                continue
            try:
                rules.resume(entry[1], now)
            except Exception:  # one odd row must not stop a takeover
                log.exception("could not resume device %s from its checkpoint", device_id)
                self.dirty.add(device_id)
                continue
            resumed.add(device_id)
            if entry[1].get("heard") is True and device_id not in fleet.heard:
                fleet.first_heard(device_id, rules.device.estate_id)
            if rules.needs_tick:
                fleet.ticking.add(device_id)
            if rules.rules:  # a rule not INACTIVE: the estate's offline and failing counts
                fleet.refresh_status(device_id)
        for estate_id, device_ids in fleet.estate_devices.items():
            if any(d in resumed for d in device_ids):
                fleet.last_heard_at[estate_id] = max(fleet.rules[d].last_seen for d in device_ids)
        self.resumed = len(resumed)
        self.counters.timings_ms["checkpoint_resume"] = (time.perf_counter() - started) * 1000
        if saved:
            log.info("device rule state resumed from %d checkpoints", len(resumed))
        return len(resumed)

    # -- every checkpoint_s ----------------------------------------------------------------------------

    def due(self, now: datetime) -> bool:
        return self.enabled and (now - self._last).total_seconds() >= self.every_s

    def write(self, now: datetime) -> int:
        """Hand the dirty devices' checkpoints to the worker thread (unless the last write still runs);
        returns how many. On the event loop: only ``DeviceRules.checkpoint()`` of each."""
        self._last = now
        if not self._harvest() or not self.dirty:
            return 0
        started = time.perf_counter()
        if len(self.dirty) <= MAX_ROWS:
            taken, self.dirty = self.dirty, set()
        else:
            taken = {self.dirty.pop() for _ in range(MAX_ROWS)}
        rules, heard = self.fleet.rules, self.fleet.heard
        states = {device_id: rules[device_id].checkpoint() for device_id in taken}
        for device_id in taken & heard:  # so that a gateway taking over does not show it "never heard"
            states[device_id]["heard"] = True
        self.counters.timings_ms["checkpoint_collect"] = (time.perf_counter() - started) * 1000
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rule-checkpoints")
        self._running = (self._executor.submit(self._save, states, now), taken)
        return len(states)

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait for the running write and take in its outcome; True when none is left running."""
        if self._running is not None:
            future = self._running[0]
            try:
                future.exception(timeout=timeout_s)
            except TimeoutError:
                return False
        return self._harvest()

    def close(self, now: datetime, timeout_s: float = 10.0) -> None:
        """Write what is dirty, wait for it and stop the worker thread (a clean stop)."""
        if self.enabled and self.flush(timeout_s):
            self.write(now)
            self.flush(timeout_s)
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def _save(self, states: dict[str, dict[str, Any]], now: datetime) -> float:
        """On the worker thread: the store write; returns how long it took in ms."""
        started = time.perf_counter()
        self.store.checkpoints.save(states, now)
        return (time.perf_counter() - started) * 1000

    def _harvest(self) -> bool:
        """Take in the outcome of the last write if it has finished; False while it still runs."""
        if self._running is None:
            return True
        future, taken = self._running
        if not future.done():
            return False
        self._running = None
        error = future.exception()
        if error is None:
            self.written += len(taken)
            self.counters.timings_ms["checkpoint_write"] = future.result()
            return True
        self.failures += 1
        self.counters.store_errors += 1
        self.dirty |= taken  # written again next round
        log.error(
            "could not write the rule checkpoints of %d devices (%s: %s); trying again",
            len(taken),
            type(error).__name__,
            error,
        )
        return True
