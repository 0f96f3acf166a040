"""Maintenance and test windows (屏蔽 with a time limit): declared, kept in memory, ended, settled.

A maintenance company testing a building's devices (a monthly test alarm, a hydrant flow test) declares a
window for one device, a building or a whole estate, from when to when, who and why. Inside it:

- a device's signal changes are recorded (``signal_changes.window_id``) and still go out as points, but open
  or close no hazard, so the grade does not move (``RuleEngine._apply`` asks ``covering``);
- a smoke alarm is still raised and shown, pre-marked as a test (``alarms.window_id``; ``test: true`` in the
  alarm payload): never dropped.

When a window ends (it expires by itself at ``ends_at``: ``expire`` on the engine's tick; or someone ends it
early: ``end``), it is *settled*: every (device, signal) whose rule changed inside it is made to agree with
the rule as if the edge happened then (``HazardDesk.reconcile``): a hydrant still dry gets its hazard, one
that recovered inside the window opens nothing, and a device hazard open from before the window that
recovered inside it closes. A device still covered by another window passes to that one.

Audit: the window's row is its record (gateway/store/windows.py): who declared it and why, who ended it
early, and when the gateway settled it with which hazards it opened or closed; each is also a log line.

Windows declared or ended elsewhere (``firegw window`` on the command line, another gateway on the same
store) are read from the store every ``REFRESH_S`` (``refresh``). ``covering`` is on the ingest hot path:
without any window it is one truth test, with some a few dictionary look-ups.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from gateway.casework.desk import Desk
from gateway.casework.hazards import HazardDesk
from gateway.casework.model import EngineError
from gateway.ingest.registry import Registry
from gateway.models import Device
from gateway.store.windows import WindowRecord, WindowScope
from rules.model import SignalKind
from rules.policy import Policy

log = logging.getLogger(__name__)

#: How often windows declared or ended outside this gateway (the command line, another gateway) are read.
REFRESH_S = 30.0
#: A window's start may be this far before the gateway's clock (a form filled in a minute ago).
CLOCK_SKEW = timedelta(minutes=5)

Pair = tuple[str, SignalKind]


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86_400 == 0 and seconds > 86_400:
        return f"{seconds // 86_400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def window_problems(
    registry: Registry,
    policy: Policy,
    *,
    estate_id: str,
    building_id: str | None,
    device_id: str | None,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    declared_by: str,
    now: datetime,
) -> tuple[WindowScope, str, list[str]]:
    """Check a window to declare: (scope, target id, every problem found, each naming its field and what
    is allowed). Also used by ``firegw window add``, which writes to the store without an engine."""
    problems: list[str] = []
    known_estate = True
    try:
        registry.estate(estate_id)
    except KeyError:
        known_estate = False
        problems.append(f"estate_id: no estate {estate_id!r} in the registry")
    scope, target = WindowScope.ESTATE, estate_id
    if building_id and device_id:
        problems.append(
            "building_id, device_id: give one of them (or neither, for the whole estate), not both"
        )
    elif building_id:
        scope, target = WindowScope.BUILDING, building_id
        building = registry.building(building_id)
        if building is None:
            problems.append(f"building_id: no building {building_id!r} in the registry")
        elif known_estate and building.estate_id != estate_id:
            problems.append(
                f"building_id: building {building_id!r} belongs to estate {building.estate_id!r}, not "
                f"{estate_id!r}: give a building of estate {estate_id!r}"
            )
    elif device_id:
        scope, target = WindowScope.DEVICE, device_id
        device = registry.resolve(device_id)
        if device is None:
            problems.append(f"device_id: no device {device_id!r} in the registry")
        else:
            target = device.id
            if known_estate and device.estate_id != estate_id:
                problems.append(
                    f"device_id: device {device_id!r} belongs to estate {device.estate_id!r}, not "
                    f"{estate_id!r}: give a device of estate {estate_id!r}"
                )
    rules = policy.maintenance
    source = f"policy data [maintenance], {policy.id}: {rules.source.en}"
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        problems.append("starts_at, ends_at: give times with a UTC offset (e.g. 2026-11-23T10:00+08:00)")
    elif ends_at <= starts_at:
        problems.append(
            f"ends_at: {ends_at.isoformat()} is not after starts_at {starts_at.isoformat()}: a window ends "
            "after it starts"
        )
    else:
        if ends_at <= now:
            problems.append(
                f"ends_at: {ends_at.isoformat()} is in the past (now {now.isoformat()}): a window must end "
                "in the future"
            )
        if starts_at > now + rules.max_ahead:
            problems.append(
                f"starts_at: {starts_at.isoformat()} is more than {_span(rules.max_ahead)} ahead: a window "
                f"may be declared at most {_span(rules.max_ahead)} ahead ({source})"
            )
        if ends_at - starts_at > rules.max_window:
            problems.append(
                f"ends_at: the window would last {_span(ends_at - starts_at)}, longer than the "
                f"{_span(rules.max_window)} a window may last ({source}): declare a shorter one, and another "
                "when it ends if the work goes on"
            )
    if not reason.strip():
        problems.append("reason: required (what is tested or maintained, e.g. monthly test alarm)")
    if not declared_by.strip():
        problems.append("declared_by: required (who declares the window)")
    return scope, target, problems


class WindowDesk(Desk):
    """The windows not yet settled, by device, building and estate; declared, ended, expired, settled."""

    def __init__(self, *parts: Any, hazards: HazardDesk) -> None:
        super().__init__(*parts)
        self.hazards = hazards
        #: Every window not yet settled (scheduled, active, or ended and waiting to be settled).
        self.windows: dict[int, WindowRecord] = {}
        self._by_device: dict[str, list[WindowRecord]] = defaultdict(list)
        self._by_building: dict[str, list[WindowRecord]] = defaultdict(list)
        self._by_estate: dict[str, list[WindowRecord]] = defaultdict(list)
        #: Per window, the (device, signal) pairs whose rule changed inside it: what settling reconciles.
        self.pairs: dict[int, set[Pair]] = defaultdict(set)
        #: The earliest end among ``windows`` (None without any): ``expire`` does nothing before it.
        self.next_end: datetime | None = None
        self._refreshed_at: datetime | None = None

    # -- in memory ---------------------------------------------------------------------------------------

    def _table(self, window: WindowRecord) -> dict[str, list[WindowRecord]]:
        return {
            WindowScope.DEVICE: self._by_device,
            WindowScope.BUILDING: self._by_building,
            WindowScope.ESTATE: self._by_estate,
        }[window.scope]

    def _hold(self, window: WindowRecord) -> None:
        """Keep ``window`` (or its newer version) in memory."""
        self._drop(window.id)
        self.windows[window.id] = window
        self._table(window)[window.target_id].append(window)
        if self.next_end is None or window.until < self.next_end:
            self.next_end = window.until

    def _drop(self, window_id: int) -> None:
        old = self.windows.pop(window_id, None)
        if old is None:
            return
        table = self._table(old)
        held = [w for w in table.get(old.target_id, ()) if w.id != window_id]
        if held:
            table[old.target_id] = held
        else:
            table.pop(old.target_id, None)
        self.next_end = min((w.until for w in self.windows.values()), default=None)

    def covering(self, device: Device, now: datetime) -> WindowRecord | None:
        """The window ``device`` is in at ``now`` (the one that lasts longest, if several), or None."""
        if not self.windows:
            return None
        best: WindowRecord | None = None
        for held in (
            self._by_device.get(device.id),
            self._by_building.get(device.building_id) if device.building_id else None,
            self._by_estate.get(device.estate_id),
        ):
            if held:
                for window in held:
                    if window.starts_at <= now < window.until and (best is None or window.until > best.until):
                        best = window
        return best

    def suppress(self, window: WindowRecord, device_id: str, signal: SignalKind) -> None:
        """A rule changed inside ``window``: no hazard now; settled when the window ends."""
        self.pairs[window.id].add((device_id, signal))

    def restore(self, now: datetime) -> None:
        """At start-up: the windows not yet settled, and what changed inside them (from the signal history).
        Those that ended while no gateway ran are settled by the first tick."""
        windows = self.store.windows.unsettled()
        for window in windows:
            self._hold(window)
        for window_id, pairs in self.store.windows.suppressed(self.windows).items():
            self.pairs[window_id] |= pairs
        self._refreshed_at = now
        if windows:
            log.info("%d maintenance windows not yet settled: %s", len(windows), _ids(windows))

    def refresh(self, now: datetime) -> None:
        """Take in windows declared or ended outside this gateway (every ``REFRESH_S``, from the tick). A
        window settled elsewhere is let go; one ended elsewhere is settled by ``expire``."""
        if self._refreshed_at is not None and (now - self._refreshed_at).total_seconds() < REFRESH_S:
            return
        self._refreshed_at = now
        try:
            stored = {w.id: w for w in self.store.windows.unsettled()}
        except Exception:
            self.counters.store_errors += 1
            log.exception("could not read the maintenance windows from the store; trying again later")
            return
        for window_id in [i for i in self.windows if i not in stored]:
            self._drop(window_id)
            self.pairs.pop(window_id, None)
        for window_id, window in stored.items():
            if self.windows.get(window_id) != window:
                if window_id not in self.windows:
                    log.info(
                        "maintenance window %d taken in from the store: %s", window_id, _describe(window)
                    )
                self._hold(window)

    # -- people (the API and the command line call these) ------------------------------------------------

    def declare(
        self,
        *,
        estate_id: str,
        building_id: str | None = None,
        device_id: str | None = None,
        starts_at: datetime,
        ends_at: datetime,
        reason: str,
        declared_by: str,
        now: datetime | None = None,
    ) -> WindowRecord:
        """Check and store a window, and hold it; every problem at once (``EngineError``), nothing stored."""
        now = now or self.clock()
        scope, target, problems = window_problems(
            self.grader.registry,
            self.policy,
            estate_id=estate_id,
            building_id=building_id,
            device_id=device_id,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
            declared_by=declared_by,
            now=now,
        )
        if problems:
            raise EngineError("; ".join(problems))
        window = self.store.windows.add(
            estate_id=estate_id,
            scope=scope,
            target_id=target,
            starts_at=starts_at,
            ends_at=ends_at,
            declared_by=declared_by.strip(),
            reason=reason.strip(),
            now=now,
        )
        self._hold(window)
        log.info("maintenance window %d declared by %s: %s", window.id, window.declared_by, _describe(window))
        return window

    def end(self, window_id: int, *, by: str, reason: str = "", now: datetime | None = None) -> WindowRecord:
        """End a window before ``ends_at`` and settle it at once (``TransitionError`` if it already ended)."""
        now = now or self.clock()
        if not by.strip():
            raise EngineError("by: required (who ends the window)")
        window = self.store.windows.end_early(window_id, by=by.strip(), reason=reason.strip(), now=now)
        log.info("maintenance window %d ended early by %s: %s", window_id, window.ended_by, reason or "-")
        affected: set[str] = set()
        self._hold(window)
        self._settle(window, now, affected, "ended")
        if affected:
            self.grader.regrade(affected, now)
        return self.store.windows.get(window_id)

    # -- the clock ---------------------------------------------------------------------------------------

    def expire(self, now: datetime, affected: set[str]) -> None:
        """Settle every window that ended by ``now`` (from the engine's tick, inside its store batch)."""
        if self.next_end is None or now < self.next_end:
            return
        for window in sorted((w for w in self.windows.values() if w.until <= now), key=lambda w: w.until):
            self._settle(window, now, affected, "ended" if window.ended_at is not None else "expired")

    def _settle(self, window: WindowRecord, now: datetime, affected: set[str], how: str) -> None:
        """The window no longer covers its devices: make each hazard it held back agree with its rule."""
        self._drop(window.id)
        pairs = self.pairs.pop(window.id, set())
        opened: list[int] = []
        closed: list[int] = []
        passed: list[str] = []
        by_signal = self.index.by_signal
        for device_id, signal in sorted(pairs):
            device = self.fleet.devices.get(device_id)
            if device is None:
                continue
            other = self.covering(device, now)
            if other is not None:  # still in another window: settled with that one
                self.pairs[other.id].add((device_id, signal))
                passed.append(f"{device_id}:{signal.value}->{other.id}")
                continue
            before = by_signal.get((device_id, signal.value))
            self.hazards.reconcile(device_id, signal, now, affected)
            after = by_signal.get((device_id, signal.value))
            if after is not None and after != before:
                opened.append(after)
            elif before is not None and after is None:
                closed.append(before)
        settlement = {"how": how, "signals": len(pairs), "opened": opened, "closed": closed, "passed": passed}
        try:
            self.store.windows.settle(window.id, now=now, settlement=settlement)
        except Exception:
            # Held in the store as not settled: a restart (or ``refresh``) settles it again, which finds the
            # hazards already agreeing with the rules.
            self.counters.store_errors += 1
            log.exception("could not record that maintenance window %d was settled", window.id)
        log.info(
            "maintenance window %d %s (%s): %d signals changed inside it; hazards opened for devices still "
            "failing: %s; closed for devices that recovered: %s",
            window.id,
            how,
            _describe(window),
            len(pairs),
            _ids(opened) or "none",
            _ids(closed) or "none",
        )


def _describe(window: WindowRecord) -> str:
    return (
        f"{window.scope.value} {window.target_id} of estate {window.estate_id}, "
        f"{window.starts_at.isoformat()} to {window.ends_at.isoformat()}: {window.reason}"
    )


def _ids(items: Iterable[Any]) -> str:
    return ", ".join(str(getattr(i, "id", i)) for i in items)
