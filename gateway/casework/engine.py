"""The rule engine: where the pure rule layer meets the store, the clock and the outside world.

It is the coordinator of the casework; each part does one thing and gets what it needs passed in:

- ``DeviceFleet`` (fleet.py): every device's ``DeviceRules`` and the per-estate counts read from them;
- ``CaseIndex`` (index.py): open hazards and counted complaints/fires, in memory, for grading;
- ``HazardDesk``, ``AlarmDesk``, ``IncidentDesk``: hazards, alarms, complaints and fires, each through the
  store, the index and the ``Outbox``;
- ``AssessmentDesk`` (assessments.py): assessments, later evidence and estates set out of use;
- ``WindowDesk`` (windows.py): maintenance and test windows, inside which devices file no hazard;
- ``Grader`` (grades.py): grades derived, recorded when they change, published;
- ``StoreBacklog`` (redo.py): what the store lost, kept until it is written again;
- ``StoreSync`` (sync.py): what other gateways on the same store changed;
- ``RuleCheckpoints`` (checkpoints.py): each device's rule state kept in the store, for a gateway that takes
  over.

Data flow, for each batch the pipeline accepted (``on_records``, the pipeline's ``RulesHook``) and for each
clock tick (``tick``)::

    records ──► DeviceRules.observe ──► SignalChange ──► open / auto-close a device hazard (store)
    clock   ──► DeviceRules.tick    ──┘                          │
    API     ──► file / step hazards, complaints, fires, alarms ──┤
                                                                 ▼
                              grade_estate(open hazards, counted records, freshness) ──► changed?
                  ──► grade_changes (store) + estate_grade (InfluxDB) + retained MQTT + updates

The store writes of a batch share one transaction, and the hazard and alarm changes it announces wait for
its commit (``_store_batch``). A batch the store rolls back is not forgotten: the device rules have moved on,
so the next batch makes the store agree with them again for what the lost batch touched, and writes again
the alarms, signal history and grade history it lost (``_redo``). Only devices with a running timer are
ticked every second; the offline check for every other device runs on a slower sweep.

Nothing here reads the wall clock: ``clock`` is injected (the scenario clock in tests and demos).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.casework.alarms import ALARM_EVENTS, AlarmDesk
from gateway.casework.assessments import AssessmentDesk, evidence_of
from gateway.casework.checkpoints import RuleCheckpoints
from gateway.casework.fleet import DeviceFleet
from gateway.casework.grades import Grader
from gateway.casework.hazards import HazardDesk
from gateway.casework.incidents import IncidentDesk
from gateway.casework.index import CaseIndex
from gateway.casework.model import Clock, EngineCounters
from gateway.casework.outbox import Outbox
from gateway.casework.parties import seed_from_registry as seed_parties
from gateway.casework.points import signal_point
from gateway.casework.publisher import MqttPublisher
from gateway.casework.redo import StoreBacklog, Writes
from gateway.casework.sync import StoreSync
from gateway.casework.windows import WindowDesk
from gateway.config import PhotosSection
from gateway.ingest.registry import Registry
from gateway.ingest.sinks.base import Point
from gateway.models import Device, DeviceEvent, Record
from gateway.store import HazardStore
from gateway.store.database import Batch
from rules.model import SignalChange, SignalKind
from rules.policy import Policy

log = logging.getLogger(__name__)

#: Counters of store changes: a rolled-back batch takes back what it counted (its changes are redone).
_ROLLED_BACK_COUNTERS = ("hazards_opened", "hazards_auto_closed", "alarms_raised", "escalations")


class RuleEngine:
    def __init__(
        self,
        registry: Registry,
        policy: Policy,
        store: HazardStore,
        *,
        clock: Clock,
        publisher: MqttPublisher | None = None,
        topic_prefix: str = "firegw",
        grade_repeat_s: float = 300.0,
        offline_sweep_s: float = 30.0,
        redo_path: Path | None = None,
        store_sync_s: float = 30.0,
        checkpoint_s: float = 0.0,
        photos: PhotosSection | None = None,
    ) -> None:
        """``redo_path``: a file where what the store lost is kept until it is written again (``_redo``), so
        that a restart during a store outage does not lose it; read back at start-up. None: memory only.

        ``store_sync_s``: how often ``tick`` reads back what other gateways on the same store changed
        (``StoreSync``); 0 turns it off.

        ``checkpoint_s``: how often the rule state of the devices that changed is written to the store, from a
        worker thread (``RuleCheckpoints``); at construction every device continues from its checkpoint. 0
        turns both off.

        ``photos``: the gateway's ``[photos]`` (what a rectified step needs, upload limits); None: the
        defaults, and a rectified step needs no after-photo."""
        self.registry = registry
        self.policy = policy
        self.store = store
        self.clock = clock
        self.grade_repeat_s = grade_repeat_s
        self.offline_sweep_s = offline_sweep_s
        self.counters = EngineCounters()
        now = clock()
        #: Bumped whenever anything the estate board shows about an estate changes (grade, hazards, device
        #: counts), so the API can cache each estate's board entry until then.
        self.estate_version: dict[str, int] = defaultdict(int)
        self.outbox = Outbox(publisher, topic_prefix)
        self.fleet = DeviceFleet(registry, policy, self.estate_version, now)
        self.index = CaseIndex(self.fleet.devices, self.estate_version, policy)
        self.backlog = StoreBacklog(redo_path, now)
        self.grader = Grader(
            registry,
            policy,
            store,
            self.fleet,
            self.index,
            self.outbox,
            self.backlog,
            self.counters,
            self.estate_version,
        )
        parts = (store, self.fleet, self.index, self.grader, self.outbox, self.backlog, self.counters, clock)
        self.hazards = HazardDesk(*parts)
        if photos is not None:
            self.hazards.photo_rules = photos
        self.alarms = AlarmDesk(*parts)
        self.incidents = IncidentDesk(*parts)
        self.windows = WindowDesk(*parts, hazards=self.hazards)
        self.alarms.windows = self.windows
        self.assessments = AssessmentDesk(*parts)
        self.sync = StoreSync(store, self.fleet, self.index, self.grader, self.counters, store_sync_s, now)
        self.checkpoints = RuleCheckpoints(store, self.fleet, self.counters, checkpoint_s, now)
        #: Signal changes not yet written to the store: history that nothing on a batch's own path reads, so
        #: each batch (``on_records``, ``tick``) writes them in one statement.
        self._signal_rows: list[dict[str, Any]] = []
        #: A rolled-back batch left the open-hazard index ahead of the store, and reading it back failed.
        self._reindex_due = False
        self._last_sweep = now
        self._last_repeat = now
        seed_parties(store, registry, now)  # each estate's property company, as a party to dispatch to
        self._restore(now)
        self.backlog.load(self.fleet.devices)

    def _restore(self, now: datetime) -> None:
        """Continue every device from its checkpoint; load open hazards and counted records; continue device
        hazards so recovery can close them."""
        fleet = self.fleet
        self.checkpoints.resume(now)
        for hazard in self.store.hazards.all_open():
            if hazard.device_id and hazard.signal and hazard.device_id in fleet.rules:
                try:
                    signal = SignalKind(hazard.signal)
                except ValueError:
                    self.index.add(hazard)
                    continue
                if not fleet.rules[hazard.device_id].rules.has(signal):
                    self.hazards.retire(hazard, now)
                    continue
                self.index.add(hazard)
                fleet.rules[hazard.device_id].restore(signal, hazard.since, now, hazard.description)
                fleet.ticking.add(hazard.device_id)
                fleet.refresh_status(hazard.device_id)
            else:
                self.index.add(hazard)
        windows = [c.window for c in self.policy.counted if c.window is not None]
        year_ago = now - max(windows, default=timedelta(days=365))
        for complaint in self.store.complaints.counted(since=year_ago):  # distinct incidents only
            self.index.count_complaint(complaint.id, complaint.estate_id, complaint.received_at)
        # Every fire, however old: a counted record without a window (R7) lasts until the next assessment.
        for fire in self.store.fires.find():
            self.index.count_fire(fire)
        self._restore_assessments(now)
        self.windows.restore(now)
        self.grader.restore(now)

    def _restore_assessments(self, now: datetime) -> None:
        """Load the evidence that has not expired yet (assessments and later records) and the estates set out
        of use, for grading."""
        policy = self.policy
        longest = max([policy.assessment.valid_for, *(c.valid_for for c in policy.conditions.values())])
        for record in self.store.assessments.all_current(since=now - longest):
            self.index.add_evidence(record.estate_id, evidence_of(record))
        for estate_id, out_of_use in self.store.estate_status.latest().items():
            self.index.set_out_of_use(estate_id, out_of_use)

    # -- the pipeline hook -----------------------------------------------------------------------------

    def on_records(self, items: Sequence[tuple[Device, Record]], now: datetime) -> None:
        affected: set[str] = set()
        # New alarm events must not overtake older ones waiting to be written again (a clear before its
        # alarm), nor wait for the back-off: a batch carrying one retries the backlog whatever the back-off.
        urgent = bool(self.backlog.due.alarms) and any(
            isinstance(record, DeviceEvent) and record.type in ALARM_EVENTS for _, record in items
        )
        all_rules = self.fleet.rules
        ticking = self.fleet.ticking
        last_heard = self.fleet.last_heard_at
        heard = self.fleet.heard
        dirty = self.checkpoints.dirty
        with self._store_batch(affected, now, urgent=urgent):
            for device, record in items:
                rules = all_rules.get(device.id)
                if rules is None:
                    continue
                changes = rules.observe(record, now)
                dirty.add(device.id)
                if rules.last_seen is now:  # a sign of life (a poller's comm_fault report is not one)
                    last_heard[device.estate_id] = now
                    if device.id not in heard:
                        self.fleet.first_heard(device.id, device.estate_id)
                if changes:
                    self._apply(changes, now, affected)
                if rules.needs_tick:
                    ticking.add(device.id)
                if isinstance(record, DeviceEvent) and record.type in ALARM_EVENTS:
                    self.alarms.device_event(device, record, now, now)
            self._record_signals()
        if affected:
            self.grader.regrade(affected, now)

    @contextlib.contextmanager
    def _store_batch(self, affected: set[str], now: datetime, *, urgent: bool = False) -> Iterator[None]:
        """One store transaction for a batch of device events (``on_records``, ``tick``).

        A commit costs more than the few statements of a hazard or alarm change, so the changes of a batch
        share one (``HazardStore.batch``). What they announce (live updates, MQTT, InfluxDB points) waits for
        the commit, so that nothing is announced that the store does not hold. If the store fails, the whole
        batch is rolled back: nothing of it is announced and the index of open hazards is read back from the
        store. The device rules have moved on all the same (a low pressure is ACTIVE, a recovered hydrant's
        rule is inactive) and emit no second edge, so what the batch wrote for device events is kept and
        written again first by a later batch (``_redo``). Any database error inside the batch, a failed
        connect included, fails the whole batch (``Database.batch``). Estates to re-grade are added to
        ``affected``.
        """
        outbox, backlog = self.outbox, self.backlog
        if outbox.held is not None:  # already inside one: this joins it
            yield
            return
        if self._reindex_due:
            affected |= self._reindex()
        outbox.held = []
        backlog.batch = Writes()
        counted = {name: getattr(self.counters, name) for name in _ROLLED_BACK_COUNTERS}
        batch: Batch | None = None
        try:
            with self.store.batch() as batch:
                if urgent or backlog.ready(now):
                    self._redo(now, affected)
                yield
        finally:
            unannounced, outbox.held = outbox.held, None
            writes, backlog.batch = backlog.batch, None
            failed = batch is not None and batch.failed
            if failed:
                self.counters.store_errors += 1
                for name, value in counted.items():
                    setattr(self.counters, name, value)
                backlog.rolled_back(writes, now)
            elif unannounced or writes.signal_rows or writes.grade_rows:  # it wrote, and the store took it
                backlog.store_works(now)
            if failed:
                assert batch is not None
                log.error(
                    "hazard store failed (%s): a batch with %d hazard and alarm changes was rolled back; "
                    "%d device signals, %d alarm events and %d signal changes wait to be written again",
                    batch.error,
                    len(unannounced),
                    len(backlog.due.pairs),
                    len(backlog.due.alarms),
                    len(backlog.due.signal_rows),
                )
                affected |= self._reindex()
            else:
                for announce in unannounced:
                    announce()
            if backlog.dirty:
                backlog.keep()

    def _redo(self, now: datetime, affected: set[str]) -> None:
        """First in a batch, write again what the store lost (``backlog.due``): alarm events in the order they
        arrived, signal-history rows (with this batch's own, ``_record_signals``) and, for each device signal
        whose hazard was to be opened or closed, what the rule says now (``HazardDesk.reconcile``). It all
        joins this batch and is kept with it, so a store that still fails keeps it for the next try.

        Only what was lost is looked at (a few devices, not the city). The hazards wait while the open-hazard
        index could not be read back (``_reindex_due``): it is what they are compared with.
        """
        due = self.backlog.due
        if due:
            self.backlog.dirty = True  # taken into this batch: kept again if it fails, the file goes if not
        if due.alarms:
            backlog, due.alarms = due.alarms, []
            for device, event, received in backlog:
                self.alarms.device_event(device, event, received, now)
        if due.signal_rows:
            for row in due.signal_rows:  # kept by a version without maintenance windows
                row.setdefault("window_id", None)
            self._signal_rows[:0] = due.signal_rows
            due.signal_rows = []
        if due.grade_rows:
            backlog_rows, due.grade_rows = due.grade_rows, []
            for row in backlog_rows:
                self.grader.write_row(row)
        if due.pairs and not self._reindex_due:
            pending, due.pairs = due.pairs, set()
            for device_id, signal in sorted(pending):
                self.hazards.reconcile(device_id, signal, now, affected)

    def _reindex(self) -> set[str]:
        """Read the open hazards back from the store, after a rolled-back batch left the index ahead of it;
        if that fails too, it is tried again before the next batch. Returns the estates to re-grade."""
        try:
            records = self.store.hazards.all_open()
        except Exception:
            self.counters.store_errors += 1
            self._reindex_due = True
            log.exception("could not read the open hazards back from the store; trying again next batch")
            return set()
        self._reindex_due = False
        return self.index.replace(records)

    # -- the clock -------------------------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """Advance timers: devices with a running hold/recovery every call, the offline sweep and deadlines
        every ``offline_sweep_s``, the periodic grade repeat every ``grade_repeat_s``."""
        affected: set[str] = set()
        fleet = self.fleet
        dirty = self.checkpoints.dirty
        self.windows.refresh(now)
        with self._store_batch(affected, now):
            for device_id in list(fleet.ticking):
                rules = fleet.rules[device_id]
                changes = rules.tick(now)
                dirty.add(device_id)
                if changes:
                    self._apply(changes, now, affected)
                if not rules.needs_tick:
                    fleet.ticking.discard(device_id)
            if (now - self._last_sweep).total_seconds() >= self.offline_sweep_s:
                self._last_sweep = now
                for device_id, rules in fleet.rules.items():
                    if rules.offline_due(now):
                        changes = rules.tick(now)
                        dirty.add(device_id)
                        if changes:
                            self._apply(changes, now, affected)
                affected |= self.hazards.escalate(now)
                self.hazards.announce_rechecks(now)
            self.windows.expire(now, affected)
            self._record_signals()
        if affected:
            self.grader.regrade(affected, now)
        if self.sync.due(now):
            self.sync.sync(now)
        if self.checkpoints.due(now):
            self.checkpoints.write(now)
        if (now - self._last_repeat).total_seconds() >= self.grade_repeat_s:
            # On a fixed grid (not "now"), so a late tick does not push every later repeat back with it.
            step = timedelta(seconds=self.grade_repeat_s)
            while self._last_repeat + step <= now:
                self._last_repeat += step
            self.grader.regrade_all(now, repeat=True)

    async def run(self, sink_write: Callable[[list[Point]], Any], tick_interval_s: float = 1.0) -> None:
        """Tick every ``tick_interval_s`` on the injected clock, and hand rule-layer points to the telemetry
        sink as soon as there are some. Points wake this task but do not tick early: under load a batch
        with a signal change arrives every few milliseconds, and ticking every timer of every camera and
        hydrant that often cost more event-loop time than the rules themselves."""
        loop = asyncio.get_running_loop()
        outbox = self.outbox
        next_tick = loop.time()
        while True:
            wait_s = next_tick - loop.time()
            if wait_s > 0:
                # asyncio.timeout, not wait_for: on Python 3.11 a wait_for cancelled at the wrong moment can
                # hang its task's cancellation (seen in the buffered sink's spool loop).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait_s):
                        await outbox.points_ready.wait()
            outbox.points_ready.clear()
            if loop.time() >= next_tick:
                self.tick(self.clock())
                next_tick = loop.time() + tick_interval_s
            if outbox.points:
                batch, outbox.points = outbox.points, []
                await sink_write(batch)

    # -- signals -> hazards ----------------------------------------------------------------------------

    def _apply(self, changes: list[SignalChange], now: datetime, affected: set[str]) -> None:
        fleet, points, rows = self.fleet, self.outbox.points, self._signal_rows
        covering = self.windows.covering
        for device_id in {c.device_id for c in changes}:
            fleet.refresh_status(device_id)
        for change in changes:
            self.counters.signals += 1
            device = fleet.devices[change.device_id]
            # Inside a maintenance window: recorded and shown, marked with it; no hazard until it ends.
            window = covering(device, now)
            rows.append(
                {
                    "device_id": change.device_id,
                    "estate_id": change.estate_id,
                    "signal": change.signal.value,
                    "active": change.active,
                    "at": now,
                    "since": change.since,
                    "detail": change.detail,
                    "value": change.value,
                    "window_id": None if window is None else window.id,
                }
            )
            points.append(signal_point(fleet.tags[device.id], change, now))
            criteria = self.policy.criteria_for(device.kind, change.signal)
            if not criteria and not self.policy.is_monitoring_fault(device.kind, change.signal):
                continue  # recorded and shown, grades nothing (an e-bike taken into a lift)
            if window is not None:
                self.windows.suppress(window, change.device_id, change.signal)
                continue
            pair = (change.device_id, change.signal)
            if self.backlog.batch is not None:
                self.backlog.batch.pairs.add(pair)
            try:
                self.hazards.follow_signal(device, change, criteria, now)
            except Exception as exc:
                # The store is down or refused: count it, keep the engine running. If the store failed, a
                # later batch makes it agree with the rule (``_redo``).
                self.counters.store_errors += 1
                log.exception("hazard store failed on %s %s", change.device_id, change.signal.value)
                self.backlog.lose(exc, Writes(pairs={pair}))
                continue
            affected.add(change.estate_id)
        self.outbox.wake()

    def _record_signals(self) -> None:
        """Write the batch's signal changes (``_apply`` collects them) and those of rolled-back batches."""
        if not self._signal_rows:
            return
        rows, self._signal_rows = self._signal_rows, []
        if self.backlog.batch is not None:
            self.backlog.batch.signal_rows.extend(rows)
        try:
            self.store.signals.record(rows)
        except Exception as exc:
            # Kept for ``_redo``: the signal history (``/api/devices/{id}/signals``) would have a hole.
            self.counters.store_errors += 1
            log.exception("could not record %d signal changes", len(rows))
            self.backlog.lose(exc, Writes(signal_rows=rows))
