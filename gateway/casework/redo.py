"""What the hazard store lost while it failed, kept (in memory and on disk) until it is written again.

The device rules move on whatever the store does: a low pressure is ACTIVE, a recovered hydrant's rule is
inactive, and neither emits a second edge. So what a rolled-back batch (or a failed call outside one) was
to write for device events is kept here, and the engine's next batch writes it first (``RuleEngine._redo``):
for each device signal what the rule says *now*, the smoke alarm events in arrival order, and the signal and
grade history rows. The backlog is kept in ``data_dir/rules-redo.json`` while it holds anything, so a restart
during a store outage does not lose it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from gateway.models import Device, DeviceEvent
from gateway.store.database import BatchFailed
from rules.model import SignalKind

log = logging.getLogger(__name__)

#: A smoke alarm or its device clear, with the gateway time it arrived.
AlarmEvent = tuple[Device, DeviceEvent, datetime]
#: Retrying what rolled-back batches lost waits 1, 2, 4... up to this many seconds while the store keeps
#: failing: every attempt blocks the event loop for the store's busy timeout.
REDO_BACKOFF_MAX_S = 8.0
#: Signal-history rows kept for a store that keeps failing; beyond this the oldest are dropped (and logged).
SIGNAL_BACKLOG_MAX = 100_000


@dataclass(slots=True)
class Writes:
    """Store writes for device events that ``_redo`` can do again: the (device, signal) pairs whose hazard
    was opened or closed (what the rule says now is written: ``_reconcile``), smoke alarm events (no rule
    state holds them: the event itself is kept, in arrival order), signal-history rows and grade-history
    rows (oldest first; the grade itself was published when it changed, only its history row is late)."""

    pairs: set[tuple[str, SignalKind]] = field(default_factory=set)
    alarms: list[AlarmEvent] = field(default_factory=list)
    signal_rows: list[dict[str, Any]] = field(default_factory=list)
    grade_rows: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.pairs or self.alarms or self.signal_rows or self.grade_rows)

    def add(self, other: Writes) -> None:
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


def save_writes(path: Path, writes: Writes) -> None:
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


def load_writes(path: Path, devices: dict[str, Device]) -> Writes:
    """Read what ``save_writes`` kept; entries for devices no longer in the registry are left out (logged)."""
    data = json.loads(path.read_text(encoding="utf-8"), object_hook=_json_object)
    writes = Writes()
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


def store_failure(exc: Exception) -> bool:
    """A database error (the call wrote nothing and may work later), not a refusal such as
    ``TransitionError`` (which would be refused again)."""
    return isinstance(exc, (SQLAlchemyError, BatchFailed))


class StoreBacklog:
    """The writes that wait (``due``), when the next try may start, and the file that keeps them.

    ``batch`` is the writes of the store batch in progress (None outside one): every part of the casework
    adds what it writes for a device event there, so that a rollback puts all of it in ``due``.
    """

    def __init__(self, path: Path | None, now: datetime) -> None:
        self.path = path
        self.due = Writes()
        self.batch: Writes | None = None
        #: When the next try may start, and the back-off that set it (0 while the store works).
        self.retry_at = now
        self.backoff_s = 0.0
        #: ``due`` changed since it was last kept in ``path``.
        self.dirty = False

    def load(self, devices: dict[str, Device]) -> None:
        """Take up the backlog a previous run kept in ``path``. A file that cannot be read (a disk error, a
        hand edit) is moved aside, named in the log, and the gateway starts without it."""
        path = self.path
        if path is None or not path.exists():
            return
        try:
            self.due = load_writes(path, devices)
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
        if self.due:
            due = self.due
            log.warning(
                "%s: %d alarm events, %d device signals, %d signal and %d grade changes that the hazard store"
                " lost before the restart wait to be written again",
                path,
                len(due.alarms),
                len(due.pairs),
                len(due.signal_rows),
                len(due.grade_rows),
            )

    def ready(self, now: datetime) -> bool:
        return now >= self.retry_at

    def rolled_back(self, writes: Writes, now: datetime) -> None:
        """A batch failed: all it wrote waits, and the next try backs off."""
        self.due.add(writes)
        self.dirty = True
        self.backoff_s = min(max(1.0, 2 * self.backoff_s), REDO_BACKOFF_MAX_S)
        self.retry_at = now + timedelta(seconds=self.backoff_s)

    def store_works(self, now: datetime) -> None:
        self.backoff_s, self.retry_at = 0.0, now

    def lose(self, exc: Exception, lost: Writes) -> None:
        """A call for a device event failed. Inside a batch nothing more is needed: a database error fails
        the batch, and everything it wrote is redone. Outside one, if the store failed (not a refusal such as
        ``TransitionError``), keep what the call was to write."""
        if self.batch is None and store_failure(exc):
            self.due.add(lost)
            self.keep()

    def keep(self) -> None:
        """Keep ``due`` in ``path`` while it holds anything; remove the file once it is empty."""
        self.dirty = False
        path = self.path
        if path is None:
            return
        try:
            if self.due:
                save_writes(path, self.due)
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:  # the disk: what waits is still held in memory
            log.error("cannot keep the hazard store's backlog in %s: %s", path, exc)
