"""The rule engine: where the pure rule layer meets the store, the clock and the outside world.

Data flow, for each batch the pipeline accepted (``on_records``, the pipeline's ``RulesHook``) and for each
clock tick (``tick``)::

    records ──► DeviceRules.observe ──► SignalChange ──► open / auto-close a device hazard (store)
    clock   ──► DeviceRules.tick    ──┘                          │
    API     ──► file / step hazards, complaints, fires, alarms ──┤
                                                                 ▼
                              grade_estate(open hazards, counted records, freshness) ──► changed?
                  ──► grade_changes (store) + estate_grade (InfluxDB) + retained MQTT + updates

The engine keeps an in-memory index of what grading reads (open hazards, complaint and fire dates per estate)
so that re-grading an estate costs microseconds and re-grading all 2,000 estates of a city a fraction of a
second; the store stays the record. The store writes of a batch share one transaction, and the hazard and
alarm changes it announces wait for its commit (``_store_batch``). A batch the store rolls back is not
forgotten: the device rules have moved on, so the next batch makes the store agree with them again for what
the lost batch touched, and writes again the alarms, signal history and grade history it lost (``_redo``).
Only devices with a running timer are ticked every second; the offline check for every other device runs on
a slower sweep.

Nothing here reads the wall clock: ``clock`` is injected (the scenario clock in tests and demos).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from gateway.models import Device, DeviceEvent, DeviceKind, EventType, Record
from gateway.pipeline import Broadcast
from gateway.publisher import MqttPublisher, grade_topic
from gateway.registry import Registry
from gateway.schema import (
    ALARM_MEASUREMENT,
    ESTATE_DEVICES_MEASUREMENT,
    GRADE_MEASUREMENT,
    HAZARD_MEASUREMENT,
    SIGNAL_MEASUREMENT,
    device_tags,
    estate_tags,
    rule_point,
)
from gateway.sinks.base import Point
from gateway.store import (
    AlarmRecord,
    Batch,
    BatchFailed,
    FireRecord,
    GradeChangeRecord,
    HazardRecord,
    HazardStore,
    NotFound,
)
from rules.device_rules import DeviceRules
from rules.grading import Grade, GradeInputs, OpenHazard, grade_estate
from rules.lifecycle import (
    AlarmAction,
    AlarmOutcome,
    HazardAction,
    escalation_due,
    is_overdue,
)
from rules.model import SignalChange, SignalKind
from rules.policy import Policy
from rules.texts import describe as describe_signal
from rules.thresholds import ThresholdError, Thresholds

log = logging.getLogger(__name__)

#: A smoke alarm or its device clear, with the gateway time it arrived (``_alarm_event``).
_AlarmEvent = tuple[Device, DeviceEvent, datetime]
_ALARM_EVENTS = (EventType.ALARM, EventType.ALARM_CLEAR)
#: Counters of store changes: a rolled-back batch takes back what it counted (its changes are redone).
_ROLLED_BACK_COUNTERS = ("hazards_opened", "hazards_auto_closed", "alarms_raised", "escalations")
#: Retrying what rolled-back batches lost waits 1, 2, 4... up to this many seconds while the store keeps
#: failing: every attempt blocks the event loop for the store's busy timeout.
REDO_BACKOFF_MAX_S = 8.0
#: Signal-history rows kept for a store that keeps failing; beyond this the oldest are dropped (and logged).
SIGNAL_BACKLOG_MAX = 100_000
#: ``sync_from_store`` reads changes written up to this long before its last run: gateway clocks differ a
#: little, and a transaction may commit after a sync that started later than its writes.
STORE_SYNC_MARGIN_S = 120.0


@dataclass(slots=True)
class _Writes:
    """Store writes for device events that ``_redo`` can do again: the (device, signal) pairs whose hazard
    was opened or closed (what the rule says now is written: ``_reconcile``), smoke alarm events (no rule
    state holds them: the event itself is kept, in arrival order), signal-history rows and grade-history
    rows (oldest first; the grade itself was published when it changed, only its history row is late)."""

    pairs: set[tuple[str, SignalKind]] = field(default_factory=set)
    alarms: list[_AlarmEvent] = field(default_factory=list)
    signal_rows: list[dict[str, Any]] = field(default_factory=list)
    grade_rows: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.pairs or self.alarms or self.signal_rows or self.grade_rows)

    def add(self, other: _Writes) -> None:
        """Append ``other``'s, which came later."""
        self.pairs |= other.pairs
        self.alarms.extend(other.alarms)
        self.signal_rows.extend(other.signal_rows)
        self.grade_rows.extend(other.grade_rows)
        for rows, what in ((self.signal_rows, "signal changes"), (self.grade_rows, "grade changes")):
            if len(rows) > SIGNAL_BACKLOG_MAX:  # a store that keeps failing: keep the newest
                dropped = len(rows) - SIGNAL_BACKLOG_MAX
                log.error("hazard store still failing: %d %s dropped from the history", dropped, what)
                del rows[:dropped]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _json_object(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$datetime" in obj:
        return datetime.fromisoformat(obj["$datetime"])
    return obj


def save_writes(path: Path, writes: _Writes) -> None:
    """Keep ``writes`` on disk (atomically: a crash leaves the old file or the new one, never half of one)."""
    data = {
        "pairs": sorted([device_id, signal.value] for device_id, signal in writes.pairs),
        "alarms": [
            {"device": device.id, "event": event.model_dump(mode="json"), "received": received}
            for device, event, received in writes.alarms
        ],
        "signal_rows": writes.signal_rows,
        "grade_rows": writes.grade_rows,
    }
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(data, file, default=_json_default)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def load_writes(path: Path, devices: dict[str, Device]) -> _Writes:
    """Read what ``save_writes`` kept; entries for devices no longer in the registry are left out (logged)."""
    data = json.loads(path.read_text(encoding="utf-8"), object_hook=_json_object)
    writes = _Writes()
    unknown: set[str] = set()
    for device_id, signal in data.get("pairs", []):
        if device_id in devices:
            writes.pairs.add((device_id, SignalKind(signal)))
        else:
            unknown.add(device_id)
    for alarm in data.get("alarms", []):
        device = devices.get(alarm["device"])
        if device is None:
            unknown.add(alarm["device"])
            continue
        writes.alarms.append((device, DeviceEvent.model_validate(alarm["event"]), alarm["received"]))
    writes.signal_rows = list(data.get("signal_rows", []))
    writes.grade_rows = list(data.get("grade_rows", []))
    if unknown:
        log.warning(
            "%s: left out writes for %d devices no longer in the registry: %s",
            path,
            len(unknown),
            ", ".join(sorted(unknown)[:10]),
        )
    return writes


def _same_grade(stored: GradeChangeRecord, grade: Grade) -> bool:
    """A recorded grade says what ``grade`` says: same colour, same red and yellow items."""
    return stored.colour == grade.colour and sorted(stored.red_items + stored.yellow_items) == sorted(
        grade.red_items + grade.yellow_items
    )


def _store_failure(exc: Exception) -> bool:
    """A database error (the call wrote nothing and may work later), not a refusal such as
    ``TransitionError`` (which would be refused again)."""
    return isinstance(exc, (SQLAlchemyError, BatchFailed))


class EngineError(ValueError):
    """A request the engine refuses before touching the store (unknown estate, unknown criterion...)."""


@dataclass(frozen=True, slots=True)
class RuleUpdate:
    """What the control room's live view is told: a grade, hazard or alarm changed."""

    kind: str  # grade / hazard / alarm
    estate_id: str
    at: datetime
    data: dict[str, Any]


@dataclass(slots=True)
class EngineCounters:
    signals: int = 0
    hazards_opened: int = 0
    hazards_auto_closed: int = 0
    grade_changes: int = 0
    alarms_raised: int = 0
    escalations: int = 0
    store_errors: int = 0
    regrades: int = 0
    #: ``sync_from_store`` runs that found another gateway's changes.
    store_syncs: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)


class RuleEngine:
    def __init__(
        self,
        registry: Registry,
        policy: Policy,
        store: HazardStore,
        *,
        clock: Callable[[], datetime],
        publisher: MqttPublisher | None = None,
        topic_prefix: str = "firegw",
        grade_repeat_s: float = 300.0,
        offline_sweep_s: float = 30.0,
        redo_path: Path | None = None,
        store_sync_s: float = 30.0,
    ) -> None:
        """``redo_path``: a file where what the store lost is kept until it is written again (``_redo``), so
        that a restart during a store outage does not lose it; read back at start-up. None: memory only.

        ``store_sync_s``: how often ``tick`` reads back what other gateways on the same store changed
        (``sync_from_store``); 0 turns it off."""
        self.registry = registry
        self.policy = policy
        self.store = store
        self.clock = clock
        self.publisher = publisher
        self.topic_prefix = topic_prefix
        self.grade_repeat_s = grade_repeat_s
        self.offline_sweep_s = offline_sweep_s
        self.store_sync_s = store_sync_s
        self.counters = EngineCounters()
        self.updates: Broadcast[RuleUpdate] = Broadcast()
        #: Points for the telemetry store, drained by ``run`` (the rule hook is synchronous).
        self.points: list[Point] = []
        self._points_ready = asyncio.Event()

        now = clock()
        problems: list[str] = []
        self.rules: dict[str, DeviceRules] = {}
        self.devices: dict[str, Device] = {}
        self.estate_devices: dict[str, list[str]] = defaultdict(list)
        self.kind_counts: dict[str, dict[DeviceKind, int]] = defaultdict(lambda: defaultdict(int))
        # Most devices share their kind's thresholds: validate each distinct set once (200,000 devices).
        resolved: dict[tuple[DeviceKind, tuple[tuple[str, float], ...]], Thresholds] = {}
        #: Devices that must report (offline rule on) per estate, for "every device silent = unknown".
        self.watched: dict[str, int] = defaultdict(int)
        for device in registry.devices:
            key = (device.kind, tuple(sorted(device.thresholds.items())))
            thresholds = resolved.get(key)
            if thresholds is None:
                try:
                    thresholds = policy.thresholds_for(device.kind, device.thresholds, f"device {device.id}")
                except ThresholdError as exc:
                    problems.append(str(exc))
                    continue
                resolved[key] = thresholds
            self.rules[device.id] = DeviceRules(device, thresholds, started=now)
            self.devices[device.id] = device
            self.estate_devices[device.estate_id].append(device.id)
            self.kind_counts[device.estate_id][device.kind] += 1
            if thresholds.report_window_s > 0:
                self.watched[device.estate_id] += 1
        if problems:
            raise EngineError("registry thresholds:\n  " + "\n  ".join(problems))
        self._tags = {d.id: device_tags(d, registry.estate(d.estate_id)) for d in registry.devices}
        self._estate_tags = {e.id: estate_tags(e) for e in registry.estates}

        # What grading reads, indexed in memory; the store is the record.
        self.open: dict[str, dict[int, OpenHazard]] = defaultdict(dict)
        self.open_records: dict[str, dict[int, HazardRecord]] = defaultdict(dict)
        self._open_by_signal: dict[tuple[str, str], int] = {}
        self.complaint_times: dict[str, list[datetime]] = defaultdict(list)
        self.fire_times: dict[str, list[tuple[datetime, bool]]] = defaultdict(list)
        self.grades: dict[str, Grade] = {}
        #: Bumped whenever anything the estate board shows about an estate changes (grade, hazards, device
        #: counts), so the API can cache each estate's board entry until then.
        self.estate_version: dict[str, int] = defaultdict(int)
        self._ticking: set[str] = set()
        #: Signal changes not yet written to the store: history that nothing on a batch's own path reads, so
        #: each batch (``on_records``, ``tick``) writes them in one statement.
        self._signal_rows: list[dict[str, Any]] = []
        #: Inside a store batch: the hazard and alarm changes to announce once it is committed.
        self._unannounced: list[Callable[[], None]] | None = None
        #: A rolled-back batch left the open-hazard index ahead of the store, and reading it back failed.
        self._reindex_due = False
        #: Inside a store batch: what it writes for device events (all of it is redone if it rolls back).
        self._writes: _Writes | None = None
        #: What the store lost, for ``_redo`` to write again: everything of a rolled-back batch, or a call
        #: made outside a batch that failed. The device rules have moved on, and emit no second edge.
        self._redo_due = _Writes()
        #: When ``_redo`` may next try, and the back-off that set it (0 while the store works).
        self._redo_at = now
        self._redo_backoff_s = 0.0
        self._redo_path = redo_path
        #: ``_redo_due`` changed since it was last kept in ``redo_path``.
        self._redo_dirty = False
        self._last_event_time: datetime | None = None
        #: Per estate, the last time any of its devices was heard (start-up for a silent estate).
        self._last_heard: dict[str, datetime] = {e: now for e in self.estate_devices}
        #: Per device (offline, failing with another signal) and per estate [offline watched, failing]
        #: counts, kept up to date on every signal change so that the board and grading never walk every
        #: device of the city.
        self._status: dict[str, tuple[bool, bool]] = {}
        self.estate_status: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self._last_sweep = now
        self._last_repeat = now
        #: Ids of the complaints and fires counted in ``complaint_times`` and ``fire_times``.
        self._complaint_ids: set[int] = set()
        self._fire_ids: set[int] = set()
        #: ``sync_from_store`` has read everything changed before this (start-up read it all), and last
        #: tried at ``_sync_tried_at`` (a store that is down is tried again every ``store_sync_s``, not every
        #: tick); ``_sync_failing`` keeps the log to one line per outage.
        self._synced_at = now
        self._sync_tried_at = now
        self._sync_failing = False
        self._restore(now)
        if redo_path is not None and redo_path.exists():
            self._load_redo(redo_path)

    def _load_redo(self, path: Path) -> None:
        """Take up the backlog a previous run kept in ``path``. A file that cannot be read (a disk error, a
        hand edit) is moved aside, named in the log, and the gateway starts without it."""
        try:
            self._redo_due = load_writes(path, self.devices)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            aside = path.with_name(f"{path.name}.unreadable")
            with contextlib.suppress(OSError):
                os.replace(path, aside)
            log.error(
                "cannot read the hazard store's backlog from %s (%s); moved to %s, starting without it",
                path,
                exc,
                aside,
            )
            return
        if self._redo_due:
            due = self._redo_due
            log.warning(
                "%s: %d alarm events, %d device signals, %d signal and %d grade changes that the hazard store"
                " lost before the restart wait to be written again",
                path,
                len(due.alarms),
                len(due.pairs),
                len(due.signal_rows),
                len(due.grade_rows),
            )

    # -- start-up --------------------------------------------------------------------------------------

    def _restore(self, now: datetime) -> None:
        """Load open hazards and counted records; continue device hazards so recovery can close them."""
        for hazard in self.store.open_hazards():
            self._index_open(hazard)
            if hazard.device_id and hazard.signal and hazard.device_id in self.rules:
                try:
                    signal = SignalKind(hazard.signal)
                except ValueError:
                    continue
                self.rules[hazard.device_id].restore(signal, hazard.since, now, hazard.description)
                self._ticking.add(hazard.device_id)
                self._refresh_status(hazard.device_id)
        year_ago = now - timedelta(days=max((c.window.days for c in self.policy.counted), default=365))
        for complaint in self.store.complaints(since=year_ago):
            self._count_complaint(complaint.id, complaint.estate_id, complaint.received_at)
        for fire in self.store.fires(since=year_ago):
            self._count_fire(fire)
        previous = self.store.latest_grades()
        for estate in self.registry.estates:
            grade = self._grade(estate.id, now)
            last = previous.get(estate.id)
            self.grades[estate.id] = grade
            self.estate_version[estate.id] += 1
            if last is None or not _same_grade(last, grade):
                self._record_grade(grade, last.colour if last else None, now)

    def _index_open(self, hazard: HazardRecord) -> None:
        device = self.devices.get(hazard.device_id or "")
        self.open[hazard.estate_id][hazard.id] = OpenHazard(
            hazard_id=str(hazard.id),
            criteria=tuple(hazard.criteria),
            detail=hazard.description,
            since=hazard.since,
            source=hazard.source,
            device_id=hazard.device_id or "",
            device_kind=device.kind if device else None,
        )
        self.open_records[hazard.estate_id][hazard.id] = hazard
        self.estate_version[hazard.estate_id] += 1
        if hazard.device_id and hazard.signal:
            self._open_by_signal[(hazard.device_id, hazard.signal)] = hazard.id

    def overdue_count(self, estate_id: str, now: datetime) -> int:
        records = self.open_records.get(estate_id, {}).values()
        return sum(1 for h in records if is_overdue(h.state, h.deadline, now))

    # -- the pipeline hook -----------------------------------------------------------------------------

    def on_records(self, items: Sequence[tuple[Device, Record]], now: datetime) -> None:
        affected: set[str] = set()
        # New alarm events must not overtake older ones waiting to be written again (a clear before its
        # alarm), nor wait for the back-off: a batch carrying one retries the backlog whatever the back-off.
        urgent = bool(self._redo_due.alarms) and any(
            isinstance(record, DeviceEvent) and record.type in _ALARM_EVENTS for _, record in items
        )
        with self._store_batch(affected, now, urgent=urgent):
            for device, record in items:
                rules = self.rules.get(device.id)
                if rules is None:
                    continue
                changes = rules.observe(record, now)
                if rules.last_seen is now:  # a sign of life (a poller's comm_fault report is not one)
                    self._last_heard[device.estate_id] = now
                if changes:
                    self._apply(changes, now, affected)
                if rules.needs_tick:
                    self._ticking.add(device.id)
                if isinstance(record, DeviceEvent) and record.type in _ALARM_EVENTS:
                    self._alarm_event(device, record, now, now)
            self._record_signals()
        if affected:
            self._regrade(affected, now)

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
        connect included, fails the whole batch (``HazardStore.batch``). Estates to re-grade are added to
        ``affected``.
        """
        if self._unannounced is not None:  # already inside one: this joins it
            yield
            return
        if self._reindex_due:
            affected |= self._reindex()
        self._unannounced = []
        self._writes = _Writes()
        counted = {name: getattr(self.counters, name) for name in _ROLLED_BACK_COUNTERS}
        batch: Batch | None = None
        try:
            with self.store.batch() as batch:
                if urgent or now >= self._redo_at:
                    self._redo(now, affected)
                yield
        finally:
            unannounced, self._unannounced = self._unannounced, None
            writes, self._writes = self._writes, None
            failed = batch is not None and batch.failed
            if failed:
                self.counters.store_errors += 1
                for name, value in counted.items():
                    setattr(self.counters, name, value)
                self._redo_due.add(writes)
                self._redo_dirty = True
                self._redo_backoff_s = min(max(1.0, 2 * self._redo_backoff_s), REDO_BACKOFF_MAX_S)
                self._redo_at = now + timedelta(seconds=self._redo_backoff_s)
            elif unannounced or writes.signal_rows or writes.grade_rows:  # it wrote, and the store took it
                self._redo_backoff_s, self._redo_at = 0.0, now
            if failed:
                assert batch is not None
                log.error(
                    "hazard store failed (%s): a batch with %d hazard and alarm changes was rolled back; "
                    "%d device signals, %d alarm events and %d signal changes wait to be written again",
                    batch.error,
                    len(unannounced),
                    len(self._redo_due.pairs),
                    len(self._redo_due.alarms),
                    len(self._redo_due.signal_rows),
                )
                affected |= self._reindex()
            else:
                for announce in unannounced:
                    announce()
            if self._redo_dirty:
                self._keep_redo()

    def _lose(self, exc: Exception, lost: _Writes) -> None:
        """A call for a device event failed. Inside a batch nothing more is needed: a database error fails
        the batch, and everything it wrote is redone. Outside one, if the store failed (not a refusal such as
        ``TransitionError``), keep what the call was to write for ``_redo``."""
        if self._writes is None and _store_failure(exc):
            self._redo_due.add(lost)
            self._keep_redo()

    def _keep_redo(self) -> None:
        """Keep ``_redo_due`` in ``redo_path`` while it holds anything; remove the file once it is empty."""
        self._redo_dirty = False
        path = self._redo_path
        if path is None:
            return
        try:
            if self._redo_due:
                save_writes(path, self._redo_due)
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:  # the disk: what waits is still held in memory
            log.error("cannot keep the hazard store's backlog in %s: %s", path, exc)

    def _redo(self, now: datetime, affected: set[str]) -> None:
        """First in a batch, write again what the store lost (``_redo_due``): alarm events in the order they
        arrived, signal-history rows (with this batch's own, ``_record_signals``) and, for each device signal
        whose hazard was to be opened or closed, what the rule says now (``_reconcile``). It all joins this
        batch and is kept with it, so a store that still fails keeps it for the next try.

        Only what was lost is looked at (a few devices, not the city). The hazards wait while the open-hazard
        index could not be read back (``_reindex_due``): it is what they are compared with.
        """
        due = self._redo_due
        if due:
            self._redo_dirty = True  # taken into this batch: kept again if it fails, the file goes if not
        if due.alarms:
            backlog, due.alarms = due.alarms, []
            for device, event, received in backlog:
                self._alarm_event(device, event, received, now)
        if due.signal_rows:
            self._signal_rows[:0] = due.signal_rows
            due.signal_rows = []
        if due.grade_rows:
            backlog_rows, due.grade_rows = due.grade_rows, []
            for row in backlog_rows:
                self._write_grade_row(row)
        if due.pairs and not self._reindex_due:
            pending, due.pairs = due.pairs, set()
            for device_id, signal in sorted(pending):
                self._reconcile(device_id, signal, now, affected)

    def _reconcile(self, device_id: str, signal: SignalKind, now: datetime, affected: set[str]) -> None:
        """Make the store agree with one device rule: open its hazard if the rule is active and none is open,
        auto-close its device hazard if the rule is no longer active, the way the rule's edge would have.

        Only signals whose hazard a lost batch opened or closed are reconciled, not every signal of the
        device: a device hazard that a person closed while the rule stays active is meant to stay closed
        until the rule sees the condition afresh (``step_hazard``), and must not come back here.
        """
        device = self.devices.get(device_id)
        criteria = self.policy.criteria_for(signal)
        if device is None or not criteria:
            return
        if self._writes is not None:  # if this batch fails too, it is tried again
            self._writes.pairs.add((device_id, signal))
        rule = self.rules[device_id].rules.get(signal)  # dict.get: a rule never touched is inactive
        hazard_id = self._open_by_signal.get((device_id, signal.value))
        active = rule is not None and rule.active
        if active:
            if hazard_id is not None:
                return
            since = now
        else:
            hazard = None if hazard_id is None else self.open_records.get(device.estate_id, {}).get(hazard_id)
            if hazard is None or hazard.source != "device":
                return
            since = hazard.since
        change = SignalChange(
            device_id=device_id,
            estate_id=device.estate_id,
            signal=signal,
            active=active,
            at=now,
            since=(rule.since if rule else None) or since,
            detail=rule.detail if rule else "",
            value=rule.value if rule else None,
        )
        try:
            if active:
                self._open_device_hazard(device, change, criteria, now)
            else:
                self._auto_close(device, change, now)
        except Exception as exc:
            self.counters.store_errors += 1
            log.exception("could not reconcile the hazard of %s %s", device_id, signal.value)
            self._lose(exc, _Writes(pairs={(device_id, signal)}))
            return
        affected.add(device.estate_id)

    def _announce(self, announce: Callable[[], None]) -> None:
        """Announce a hazard or alarm change now or, inside a store batch, once the batch is committed."""
        if self._unannounced is None:
            announce()
        else:
            self._unannounced.append(announce)

    def _reindex(self) -> set[str]:
        """Read the open hazards back from the store, after a rolled-back batch left the index ahead of it;
        if that fails too, it is tried again before the next batch. Returns the estates to re-grade."""
        try:
            records = self.store.open_hazards()
        except Exception:
            self.counters.store_errors += 1
            self._reindex_due = True
            log.exception("could not read the open hazards back from the store; trying again next batch")
            return set()
        self._reindex_due = False
        estates = {estate_id for estate_id, hazards in self.open.items() if hazards}
        self.open.clear()
        self.open_records.clear()
        self._open_by_signal.clear()
        for hazard in records:
            self._index_open(hazard)
            estates.add(hazard.estate_id)
        for estate_id in estates:
            self.estate_version[estate_id] += 1
        return estates

    # -- the clock -------------------------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """Advance timers: devices with a running hold/recovery every call, the offline sweep and deadlines
        every ``offline_sweep_s``, the periodic grade repeat every ``grade_repeat_s``."""
        affected: set[str] = set()
        with self._store_batch(affected, now):
            for device_id in list(self._ticking):
                rules = self.rules[device_id]
                changes = rules.tick(now)
                if changes:
                    self._apply(changes, now, affected)
                if not rules.needs_tick:
                    self._ticking.discard(device_id)
            if (now - self._last_sweep).total_seconds() >= self.offline_sweep_s:
                self._last_sweep = now
                for rules in self.rules.values():
                    if rules.offline_due(now):
                        changes = rules.tick(now)
                        if changes:
                            self._apply(changes, now, affected)
                affected |= self._escalate(now)
            self._record_signals()
        if affected:
            self._regrade(affected, now)
        if self.store_sync_s > 0 and (now - self._sync_tried_at).total_seconds() >= self.store_sync_s:
            self.sync_from_store(now)
        if (now - self._last_repeat).total_seconds() >= self.grade_repeat_s:
            # On a fixed grid (not "now"), so a late tick does not push every later repeat back with it.
            step = timedelta(seconds=self.grade_repeat_s)
            while self._last_repeat + step <= now:
                self._last_repeat += step
            self.regrade_all(now, repeat=True)

    def sync_from_store(self, now: datetime) -> set[str]:
        """Take in what other gateways on the same store changed: hazards filed, stepped or closed through
        their API or by their device rules, complaints and fires entered there. Re-grades the estates that
        changed and returns them.

        The engine indexes open hazards and counted records in memory (grading reads them thousands of
        times a second); with one store for many gateways that index would otherwise only learn of another
        gateway's changes at a restart. What changed is read by its write time, from ``STORE_SYNC_MARGIN_S``
        before the last sync (gateway clocks differ a little, and a transaction can commit after a sync
        that began later than its writes); what is read twice is recognised and changes nothing. A grade
        that another gateway already recorded is not recorded again (``grade_changes`` would show it twice);
        it is still published, and identical retained MQTT messages are harmless.
        """
        since = self._synced_at - timedelta(seconds=STORE_SYNC_MARGIN_S)
        self._sync_tried_at = now
        known = self.estate_devices.keys() | self._estate_tags.keys()
        try:
            # Most of what changed is this gateway's own writes, already in the index with the same
            # ``updated_at``: only the others are fetched whole.
            to_fetch: list[int] = []
            closed: list[HazardRecord] = []
            for version in self.store.hazards_updated_since(since):
                if version.estate_id not in known:
                    continue
                current = self.open_records.get(version.estate_id, {}).get(version.id)
                if version.is_open:
                    if current is None or current.updated_at != version.updated_at:
                        to_fetch.append(version.id)
                elif current is not None:
                    closed.append(current)
            changed = self.store.hazards_by_id(to_fetch)
            complaints = self.store.complaints(recorded_since=since)
            fires = self.store.fires(recorded_since=since)
        except SQLAlchemyError as exc:
            if not self._sync_failing:
                self._sync_failing = True
                log.warning(
                    "cannot read other gateways' changes from the hazard store (%s); retrying every %.0f s",
                    exc,
                    self.store_sync_s,
                )
            return set()
        if self._sync_failing:
            self._sync_failing = False
            log.info("reading other gateways' changes from the hazard store works again")
        self._synced_at = now
        affected: set[str] = set()
        for hazard in closed:  # closed elsewhere: the indexed record says what to take out
            self._unindex(hazard)
            affected.add(hazard.estate_id)
        for hazard in changed:
            if hazard.is_open:
                self._index_open(hazard)
            else:  # closed between the two reads
                current = self.open_records.get(hazard.estate_id, {}).get(hazard.id)
                if current is None:
                    continue
                self._unindex(current)
            affected.add(hazard.estate_id)
        for complaint in complaints:
            if complaint.estate_id in known and complaint.id not in self._complaint_ids:
                self._count_complaint(complaint.id, complaint.estate_id, complaint.received_at)
                affected.add(complaint.estate_id)
        for fire in fires:
            if fire.estate_id in known and fire.id not in self._fire_ids:
                self._count_fire(fire)
                affected.add(fire.estate_id)
        if affected:
            self.counters.store_syncs += 1
            self._regrade(affected, now, recorded=self._recorded_grades(affected))
        return affected

    def _recorded_grades(self, estates: set[str]) -> dict[str, GradeChangeRecord]:
        """The latest recorded grade of each of ``estates`` (another gateway may have recorded it)."""
        try:
            latest = self.store.latest_grades()
        except SQLAlchemyError:
            return {}
        return {estate: latest[estate] for estate in estates if estate in latest}

    def _count_complaint(self, complaint_id: int, estate_id: str, received_at: datetime) -> None:
        self._complaint_ids.add(complaint_id)
        self.complaint_times[estate_id].append(received_at)

    def _count_fire(self, fire: FireRecord) -> None:
        self._fire_ids.add(fire.id)
        self.fire_times[fire.estate_id].append((fire.occurred_at, fire.fatal or fire.high_impact))

    async def run(self, sink_write: Callable[[list[Point]], Any], tick_interval_s: float = 1.0) -> None:
        """Tick every ``tick_interval_s`` on the injected clock, and hand rule-layer points to the telemetry
        sink as soon as there are some. Points wake this task but do not tick early: under load a batch
        with a signal change arrives every few milliseconds, and ticking every timer of every camera and
        hydrant that often cost more event-loop time than the rules themselves."""
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            wait_s = next_tick - loop.time()
            if wait_s > 0:
                # asyncio.timeout, not wait_for: on Python 3.11 a wait_for cancelled at the wrong moment can
                # hang its task's cancellation (seen in the buffered sink's spool loop).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait_s):
                        await self._points_ready.wait()
            self._points_ready.clear()
            if loop.time() >= next_tick:
                self.tick(self.clock())
                next_tick = loop.time() + tick_interval_s
            if self.points:
                batch, self.points = self.points, []
                await sink_write(batch)

    # -- signals -> hazards ----------------------------------------------------------------------------

    def _refresh_status(self, device_id: str) -> None:
        rules = self.rules[device_id]
        active = rules.active_signals()
        offline = SignalKind.OFFLINE in active
        status = (offline and rules.t.report_window_s > 0, any(s is not SignalKind.OFFLINE for s in active))
        before = self._status.get(device_id, (False, False))
        if status == before:
            return
        counts = self.estate_status[rules.device.estate_id]
        counts[0] += int(status[0]) - int(before[0])
        counts[1] += int(status[1]) - int(before[1])
        self.estate_version[rules.device.estate_id] += 1
        self._status[device_id] = status

    def device_counts(self, estate_id: str) -> tuple[int, int, int]:
        """(devices, offline, failing with a signal other than offline) for an estate, in O(1)."""
        offline, failing = self.estate_status.get(estate_id, (0, 0))
        return len(self.estate_devices.get(estate_id, ())), offline, failing

    def _apply(self, changes: list[SignalChange], now: datetime, affected: set[str]) -> None:
        rows = self._signal_rows
        for device_id in {c.device_id for c in changes}:
            self._refresh_status(device_id)
        for change in changes:
            self.counters.signals += 1
            device = self.devices[change.device_id]
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
                }
            )
            self.points.append(
                rule_point(
                    SIGNAL_MEASUREMENT,
                    {**self._tags[device.id], "signal": change.signal.value},
                    {
                        "active": 1.0 if change.active else 0.0,
                        "since_s": change.since.timestamp(),
                        "value": change.value,
                        "detail": change.detail,
                    },
                    now,
                )
            )
            criteria = self.policy.criteria_for(change.signal)
            if not criteria:
                continue
            pair = (change.device_id, change.signal)
            if self._writes is not None:
                self._writes.pairs.add(pair)
            try:
                if change.active:
                    self._open_device_hazard(device, change, criteria, now)
                else:
                    self._auto_close(device, change, now)
            except Exception as exc:
                # The store is down or refused: count it, keep the engine running. If the store failed, a
                # later batch makes it agree with the rule (``_redo``).
                self.counters.store_errors += 1
                log.exception("hazard store failed on %s %s", change.device_id, change.signal.value)
                self._lose(exc, _Writes(pairs={pair}))
                continue
            affected.add(change.estate_id)
        self._points_ready.set()

    def _record_signals(self) -> None:
        """Write the batch's signal changes (``_apply`` collects them) and those of rolled-back batches."""
        if not self._signal_rows:
            return
        rows, self._signal_rows = self._signal_rows, []
        if self._writes is not None:
            self._writes.signal_rows.extend(rows)
        try:
            self.store.record_signals(rows)
        except Exception as exc:
            # Kept for ``_redo``: the signal history (``/api/devices/{id}/signals``) would have a hole.
            self.counters.store_errors += 1
            log.exception("could not record %d signal changes", len(rows))
            self._lose(exc, _Writes(signal_rows=rows))

    def describe(self, device: Device, change: SignalChange) -> str:
        """The hazard's description, in the policy's language (rules/texts.py)."""
        return describe_signal(device, change, self.rules[device.id].t, self.policy.language)

    def _open_device_hazard(
        self, device: Device, change: SignalChange, criteria: list[str], now: datetime
    ) -> None:
        hazard, created = self.store.open_device_hazard(
            estate_id=device.estate_id,
            device_id=device.id,
            signal=change.signal.value,
            criteria=criteria,
            description=self.describe(device, change),
            location=device.location,
            since=change.since,
            value=change.value,
            now=now,
        )
        self._index_open(hazard)
        if created:
            self.counters.hazards_opened += 1
            self._hazard_changed(hazard, now, "report")

    def _auto_close(self, device: Device, change: SignalChange, now: datetime) -> None:
        hazard_id = self._open_by_signal.get((device.id, change.signal.value))
        if hazard_id is None:
            return
        rules = self.rules[device.id].rules.get(change.signal)
        held = f" and stayed healthy for {rules.recovery_s:.0f} s" if rules and rules.recovery_s else ""
        reason = f"device recovered ({change.detail or change.signal.value}){held}; closed automatically"
        hazard = self.store.transition_hazard(
            hazard_id, HazardAction.AUTO_CLOSE, actor="system", now=now, reason=reason
        )
        self._unindex(hazard)
        self.counters.hazards_auto_closed += 1
        self._hazard_changed(hazard, now, "auto_close")

    def _unindex(self, hazard: HazardRecord) -> None:
        self.open[hazard.estate_id].pop(hazard.id, None)
        self.open_records[hazard.estate_id].pop(hazard.id, None)
        self.estate_version[hazard.estate_id] += 1
        if hazard.device_id and hazard.signal:
            self._open_by_signal.pop((hazard.device_id, hazard.signal), None)

    def _event_time(self, now: datetime) -> datetime:
        """``now``, or 1 µs after the previous hazard/alarm point: two transitions in the same instant (a
        drop and a low-pressure hazard closing in one tick) would otherwise be one point in InfluxDB, whose
        series are keyed by tags and time, and a count of transitions would lose one."""
        if self._last_event_time is not None and now <= self._last_event_time:
            now = self._last_event_time + timedelta(microseconds=1)
        self._last_event_time = now
        return now

    def _hazard_changed(self, hazard: HazardRecord, now: datetime, action: str) -> None:
        self._announce(partial(self._publish_hazard, hazard, now, action))

    def _publish_hazard(self, hazard: HazardRecord, now: datetime, action: str) -> None:
        overdue = is_overdue(hazard.state, hazard.deadline, now)
        tags = {
            **self._estate_tags.get(hazard.estate_id, {"estate": hazard.estate_id}),
            "criterion": hazard.criterion,
            "source": hazard.source,
            "state": hazard.state.value,
        }
        tags.pop("street", None)
        self.points.append(
            rule_point(
                HAZARD_MEASUREMENT,
                tags,
                {
                    "count": 1.0,
                    "hazard_id": str(hazard.id),
                    "device": hazard.device_id or "",
                    "overdue": overdue,
                    "detail": hazard.description,
                },
                self._event_time(now),
            )
        )
        data = hazard_summary(hazard, now)
        data["action"] = action
        self.updates.publish(RuleUpdate("hazard", hazard.estate_id, now, data))
        if self.publisher is not None:
            self.publisher.event(f"{self.topic_prefix}/estates/{hazard.estate_id}/hazards", data)
        self._points_ready.set()

    # -- grading ---------------------------------------------------------------------------------------

    def stale(self, estate_id: str) -> bool:
        """True when the estate has devices that should report and every one of them is offline."""
        watched = self.watched.get(estate_id, 0)
        return watched > 0 and self.estate_status.get(estate_id, (0, 0))[0] >= watched

    def last_heard(self, estate_id: str) -> datetime | None:
        """When anything was last heard from the estate's devices (kept as records arrive: O(1))."""
        return self._last_heard.get(estate_id)

    def _grade(self, estate_id: str, now: datetime) -> Grade:
        inputs = GradeInputs(
            estate_id=estate_id,
            hazards=list(self.open.get(estate_id, {}).values()),
            devices=dict(self.kind_counts.get(estate_id, {})),
            complaints=self.complaint_times.get(estate_id, []),
            fires=self.fire_times.get(estate_id, []),
            stale=self.stale(estate_id),
            last_heard=self.last_heard(estate_id),
        )
        self.counters.regrades += 1
        return grade_estate(inputs, self.policy, now)

    def _regrade(
        self, estates: set[str], now: datetime, *, recorded: dict[str, GradeChangeRecord] | None = None
    ) -> None:
        """Re-grade ``estates``; a changed grade is recorded, published and announced. ``recorded``: the
        latest grade rows another gateway may have written (``sync_from_store``): a grade the store already
        holds is published but not recorded again."""
        for estate_id in estates:
            grade = self._grade(estate_id, now)
            previous = self.grades.get(estate_id)
            self.grades[estate_id] = grade
            self.estate_version[estate_id] += 1
            if previous is None or previous.key != grade.key:
                stored = recorded.get(estate_id) if recorded else None
                write_row = stored is None or not _same_grade(stored, grade)
                self._record_grade(grade, previous.colour if previous else None, now, write_row=write_row)

    def regrade_all(self, now: datetime, *, repeat: bool = False) -> int:
        """Re-derive every estate's grade (counted records age out of their windows); with ``repeat``, also
        write every grade and device summary to the telemetry store. Returns how many grades changed."""
        changed = 0
        for estate in self.registry.estates:
            grade = self._grade(estate.id, now)
            previous = self.grades.get(estate.id)
            self.grades[estate.id] = grade
            self.estate_version[estate.id] += 1
            if previous is None or previous.key != grade.key:
                self._record_grade(grade, previous.colour if previous else None, now)
                changed += 1
            elif repeat:
                self.points.append(self._grade_point(grade, now))
            if repeat:
                self.points.extend(self._device_summary_points(estate.id, now))
        self._points_ready.set()
        return changed

    def _record_grade(
        self, grade: Grade, previous: str | None, now: datetime, *, write_row: bool = True
    ) -> None:
        self.counters.grade_changes += 1
        payload = grade_payload(grade, self.policy)
        if write_row:
            self._write_grade_row(
                {
                    "estate_id": grade.estate_id,
                    "at": now,
                    "colour": grade.colour,
                    "level": grade.level,
                    "previous": previous,
                    "rule": grade.rule,
                    "reasons": payload["reasons"],
                    "red_items": list(grade.red_items),
                    "yellow_items": list(grade.yellow_items),
                    "missing_green": list(grade.missing_green),
                    "tolerated": list(grade.tolerated),
                    "open_hazards": grade.open_hazards,
                    "stale": grade.stale,
                    "policy": grade.policy,
                }
            )
        self.points.append(self._grade_point(grade, now))
        payload["previous"] = previous
        self.updates.publish(RuleUpdate("grade", grade.estate_id, now, payload))
        if self.publisher is not None:
            self.publisher.retain(grade_topic(self.topic_prefix, grade.estate_id), payload)
        if previous is not None and previous != grade.colour:
            log.info("estate %s: %s -> %s (%s)", grade.estate_id, previous, grade.colour, grade.summary)
        self._points_ready.set()

    def _write_grade_row(self, row: dict[str, Any]) -> None:
        """Add a row to the grade history (``/api/estates/{id}/grade-history``, reports). A store failure
        keeps it for ``_redo``: the grade was published all the same, and its history must not get a hole."""
        if self._writes is not None:
            self._writes.grade_rows.append(row)
        try:
            self.store.record_grade(row)
        except Exception as exc:
            self.counters.store_errors += 1
            log.exception("could not record the grade of %s", row["estate_id"])
            self._lose(exc, _Writes(grade_rows=[row]))

    def _grade_point(self, grade: Grade, now: datetime) -> Point:
        # The estate's coordinates ride along (fields, left out when the registry has none), so that a map
        # of grades needs nothing but this measurement (the city overview's geomap).
        place: dict[str, float | None] = {}
        with contextlib.suppress(KeyError):
            estate = self.registry.estate(grade.estate_id)
            place = {"latitude": estate.latitude, "longitude": estate.longitude}
        return rule_point(
            GRADE_MEASUREMENT,
            self._estate_tags.get(grade.estate_id, {"estate": grade.estate_id}),
            {
                "grade": grade.colour,
                "grade_level": float(grade.level),
                "red_items": len(grade.red_items),
                "yellow_items": len(grade.yellow_items),
                "missing_green": len(grade.missing_green),
                "open_hazards": grade.open_hazards,
                "reasons": "; ".join(str(r) for r in grade.reasons),
                **place,
            },
            now,
        )

    def _device_summary_points(self, estate_id: str, now: datetime) -> list[Point]:
        # Per kind, in one pass: total, online, offline, faulty (a signal other than offline), healthy.
        by_kind: dict[DeviceKind, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        for device_id in self.estate_devices.get(estate_id, ()):
            rules = self.rules[device_id]
            active = rules.active_signals()
            row = by_kind[rules.device.kind]
            row[0] += 1
            row[2 if SignalKind.OFFLINE in active else 1] += 1
            row[3] += any(s is not SignalKind.OFFLINE for s in active)
            row[4] += not active
        points = []
        for kind, (total, online, offline, faulty, healthy) in by_kind.items():
            points.append(
                rule_point(
                    ESTATE_DEVICES_MEASUREMENT,
                    {**self._estate_tags.get(estate_id, {"estate": estate_id}), "kind": kind.value},
                    {
                        "total": total,
                        "online": online,
                        "offline": offline,
                        "faulty": faulty,
                        "healthy_share": healthy / total if total else 1.0,
                    },
                    now,
                    priority=False,
                )
            )
        return points

    # -- escalation ------------------------------------------------------------------------------------

    def _escalate(self, now: datetime) -> set[str]:
        affected: set[str] = set()
        try:
            due = self.store.hazards_to_escalate(now)
        except Exception:
            self.counters.store_errors += 1
            log.exception("could not read overdue hazards")
            return affected
        every = self.policy.deadlines.escalate_every
        for hazard in due:
            if not escalation_due(hazard.deadline, hazard.last_escalated_at, now, every):
                continue
            late = now - hazard.deadline if hazard.deadline else timedelta(0)
            try:
                updated = self.store.transition_hazard(
                    hazard.id,
                    HazardAction.ESCALATE,
                    actor="system",
                    now=now,
                    reason=f"overdue by {late.days} d {late.seconds // 3600} h "
                    f"(escalation #{hazard.escalations + 1})",
                )
            except Exception:
                # Not fatal to the tick (and so to ``run``): the next sweep finds the hazard still due.
                self.counters.store_errors += 1
                log.exception("could not escalate hazard %d", hazard.id)
                continue
            self.counters.escalations += 1
            self._hazard_changed(updated, now, "escalate")
            affected.add(hazard.estate_id)
        return affected

    # -- alarms ----------------------------------------------------------------------------------------

    def _alarm_event(self, device: Device, event: DeviceEvent, received: datetime, now: datetime) -> None:
        """Write a smoke alarm or the detector's clear. ``received`` is when it arrived and is what the store
        keeps (the response targets run from it); ``now`` is when it is written and announced, later than
        ``received`` for an event a rolled-back batch lost. Inside a batch the event is kept with it, so that
        a rollback puts it in the backlog (``_redo``)."""
        if self._writes is not None:
            self._writes.alarms.append((device, event, received))
        if event.type is EventType.ALARM:
            self._raise_alarm(device, event, received, now)
        else:
            self._device_cleared(device, event, received, now)

    def _raise_alarm(self, device: Device, event: DeviceEvent, received: datetime, now: datetime) -> None:
        try:
            alarm, created = self.store.raise_alarm(
                estate_id=device.estate_id,
                device_id=device.id,
                building_id=device.building_id,
                floor=device.floor,
                location=device.location,
                raised_at=event.time,
                now=received,
            )
        except Exception as exc:
            self.counters.store_errors += 1
            log.exception("could not record the alarm from %s", device.id)
            self._lose(exc, _Writes(alarms=[(device, event, received)]))
            return
        if created:
            self.counters.alarms_raised += 1
            self._alarm_changed(alarm, now, "raise")

    def _device_cleared(self, device: Device, event: DeviceEvent, received: datetime, now: datetime) -> None:
        try:
            alarm = self.store.alarm_cleared_by_device(device.id, received)
        except Exception as exc:
            self.counters.store_errors += 1
            log.exception("could not record alarm_clear from %s", device.id)
            self._lose(exc, _Writes(alarms=[(device, event, received)]))
            return
        if alarm is not None:
            self._alarm_changed(alarm, now, "device_cleared")

    def _alarm_changed(self, alarm: AlarmRecord, now: datetime, action: str) -> None:
        self._announce(partial(self._publish_alarm, alarm, now, action))

    def _publish_alarm(self, alarm: AlarmRecord, now: datetime, action: str) -> None:
        data = alarm_summary(alarm, now)
        data["action"] = action
        self.updates.publish(RuleUpdate("alarm", alarm.estate_id, now, data))
        if self.publisher is not None:
            self.publisher.event(f"{self.topic_prefix}/estates/{alarm.estate_id}/alarms", data)
        tags = {
            **self._estate_tags.get(alarm.estate_id, {"estate": alarm.estate_id}),
            "device": alarm.device_id,
        }
        tags.pop("street", None)
        tags["outcome"] = alarm.outcome.value if alarm.outcome else "open"
        self.points.append(
            rule_point(
                ALARM_MEASUREMENT,
                tags,
                {
                    "count": 1.0,
                    "alarm_id": str(alarm.id),
                    "ack_s": alarm.seconds_to(alarm.acknowledged_at),
                    "dispatch_s": alarm.seconds_to(alarm.dispatched_at),
                    "on_scene_s": alarm.seconds_to(alarm.on_scene_at),
                    "close_s": alarm.seconds_to(alarm.closed_at),
                },
                self._event_time(now),
            )
        )
        self._points_ready.set()

    # -- requests from people (the API calls these) ----------------------------------------------------

    def _check_estate(self, estate_id: str) -> None:
        try:
            self.registry.estate(estate_id)
        except Exception:
            raise NotFound(f"no estate {estate_id!r} in the registry") from None

    def _check_record(self, estate_id: str, field: str, when: datetime, now: datetime) -> None:
        """A counted record (complaint, fire) names a known estate and a time not in the future (five minutes
        of clock skew between a phone and the gateway are allowed)."""
        self._check_estate(estate_id)
        if when > now + timedelta(minutes=5):
            raise EngineError(f"{field} {when.isoformat()} is in the future")

    def file_hazard(
        self,
        *,
        estate_id: str,
        criterion: str,
        location: str,
        description: str,
        photo: str = "",
        reporter: str,
        now: datetime | None = None,
    ) -> HazardRecord:
        now = now or self.clock()
        self._check_estate(estate_id)
        try:
            self.policy.check_code(criterion)
        except ValueError as exc:
            raise EngineError(str(exc)) from None
        hazard = self.store.file_hazard(
            estate_id=estate_id,
            criterion=criterion,
            location=location,
            description=description,
            photo=photo,
            reporter=reporter,
            now=now,
        )
        self._index_open(hazard)
        self._hazard_changed(hazard, now, "report")
        self._regrade({estate_id}, now)
        return hazard

    def step_hazard(
        self,
        hazard_id: int,
        action: HazardAction,
        *,
        actor: str,
        reason: str = "",
        deadline: datetime | None = None,
        responsible: str | None = None,
        evidence: str = "",
        now: datetime | None = None,
    ) -> HazardRecord:
        now = now or self.clock()
        if action in (HazardAction.AUTO_CLOSE, HazardAction.ESCALATE):
            raise EngineError(f"{action.value!r} is done by the gateway itself, not by a person")
        current = self.store.hazard(hazard_id)
        default = (
            self.policy.deadline_for(current.criterion) if current.criterion in self.policy.criteria else None
        )
        hazard = self.store.transition_hazard(
            hazard_id,
            action,
            actor=actor,
            now=now,
            reason=reason,
            deadline=deadline,
            default_deadline_s=default.total_seconds() if default else None,
            responsible=responsible,
            evidence=evidence,
            recheck_after_s=self.policy.deadlines.recheck_after.total_seconds(),
        )
        if hazard.is_open:
            self._index_open(hazard)
        else:
            self._unindex(hazard)
            # A device hazard closed by a person while the device still fails would re-open at once:
            # let the rule see the condition afresh instead.
        self._hazard_changed(hazard, now, action.value)
        self._regrade({hazard.estate_id}, now)
        return hazard

    def add_complaint(
        self,
        *,
        estate_id: str,
        received_at: datetime,
        channel: str,
        description: str,
        reporter: str,
        now: datetime | None = None,
    ) -> Any:
        now = now or self.clock()
        self._check_record(estate_id, "received_at", received_at, now)
        record = self.store.add_complaint(
            estate_id=estate_id,
            received_at=received_at,
            channel=channel,
            description=description,
            reporter=reporter,
            now=now,
        )
        self._count_complaint(record.id, estate_id, received_at)
        self._regrade({estate_id}, now)
        return record

    def add_fire(
        self,
        *,
        estate_id: str,
        occurred_at: datetime,
        fatal: bool,
        high_impact: bool,
        description: str,
        recorded_by: str,
        now: datetime | None = None,
    ) -> Any:
        now = now or self.clock()
        self._check_record(estate_id, "occurred_at", occurred_at, now)
        record = self.store.add_fire(
            estate_id=estate_id,
            occurred_at=occurred_at,
            fatal=fatal,
            high_impact=high_impact,
            description=description,
            recorded_by=recorded_by,
            now=now,
        )
        self._count_fire(record)
        self._regrade({estate_id}, now)
        return record

    def step_alarm(
        self,
        alarm_id: int,
        action: AlarmAction,
        *,
        actor: str,
        outcome: AlarmOutcome | None = None,
        note: str = "",
        fatal: bool = False,
        high_impact: bool = False,
        now: datetime | None = None,
    ) -> AlarmRecord:
        now = now or self.clock()
        alarm, fire = self.store.transition_alarm(
            alarm_id,
            action,
            actor=actor,
            now=now,
            outcome=outcome,
            note=note,
            fatal=fatal,
            high_impact=high_impact,
        )
        self._alarm_changed(alarm, now, action.value)
        if fire is not None:
            self._count_fire(fire)
            self._regrade({fire.estate_id}, now)
        return alarm


# -- JSON shapes shared by MQTT, the live updates and the API -----------------------------------------------


def grade_payload(grade: Grade, policy: Policy) -> dict[str, Any]:
    colour = policy.colour(grade.colour)
    return {
        "estate": grade.estate_id,
        "grade": grade.colour,
        "level": grade.level,
        "label": {"zh": colour.zh, "en": colour.en} if colour else {"zh": "未知", "en": "unknown"},
        "meaning": colour.meaning.model_dump()
        if colour
        else {"zh": "数据不足", "en": "inputs too old to grade"},
        "reasons": [
            {"codes": list(r.codes), "text": r.text, "hazards": list(r.hazard_ids)} for r in grade.reasons
        ],
        "summary": grade.summary,
        "red_items": list(grade.red_items),
        "yellow_items": list(grade.yellow_items),
        "missing_green": list(grade.missing_green),
        "open_hazards": grade.open_hazards,
        "tolerated": list(grade.tolerated),
        "stale": grade.stale,
        "rule": grade.rule,
        "decided_at": grade.decided_at.isoformat(),
        "last_heard": grade.last_heard.isoformat() if grade.last_heard else None,
        "policy": grade.policy,
    }


def hazard_summary(hazard: HazardRecord, now: datetime) -> dict[str, Any]:
    return {
        "id": hazard.id,
        "estate": hazard.estate_id,
        "criterion": hazard.criterion,
        "criteria": hazard.criteria,
        "source": hazard.source,
        "device": hazard.device_id,
        "signal": hazard.signal,
        "state": hazard.state.value,
        "description": hazard.description,
        "deadline": hazard.deadline.isoformat() if hazard.deadline else None,
        "overdue": is_overdue(hazard.state, hazard.deadline, now),
        "opened_at": hazard.opened_at.isoformat(),
        "closed_at": hazard.closed_at.isoformat() if hazard.closed_at else None,
        "close_kind": hazard.close_kind,
    }


def alarm_summary(alarm: AlarmRecord, now: datetime) -> dict[str, Any]:
    return {
        "id": alarm.id,
        "estate": alarm.estate_id,
        "device": alarm.device_id,
        "building": alarm.building_id,
        "floor": alarm.floor,
        "location": alarm.location,
        "state": alarm.state.value,
        "outcome": alarm.outcome.value if alarm.outcome else None,
        "raised_at": alarm.raised_at.isoformat(),
        "received_at": alarm.received_at.isoformat(),
        "ack_s": alarm.seconds_to(alarm.acknowledged_at),
        "dispatch_s": alarm.seconds_to(alarm.dispatched_at),
        "on_scene_s": alarm.seconds_to(alarm.on_scene_at),
        "close_s": alarm.seconds_to(alarm.closed_at),
        "elapsed_s": (now - alarm.received_at).total_seconds(),
        "device_cleared": alarm.device_cleared_at is not None,
        "repeats": alarm.repeats,
    }
