"""The rule engine when its hazard store fails for real: nothing a rolled-back batch held is lost for good.

The failure is not a mock: a second sqlite3 connection takes the hazard store's write lock (``BEGIN
EXCLUSIVE``), as a backup tool or a second process on the same file would, and the engine's store waits only
50 ms for it (``?timeout=0.05``: pysqlite's busy timeout, from the store URL) before SQLite answers "database
is locked". The store is in WAL mode, so under that lock the engine can still read (the open-hazard index is
read back at once); ``lock(reads=True)`` takes SQLite's exclusive locking mode instead, so that reading fails
too. Time is a fake clock, stepped by hand as in test_rules_api.py.

What a rolled-back batch must not lose, and the tests check: a hazard the device rules opened (the rule is
ACTIVE and emits no second edge), an auto-close (the rule is inactive and the hazard still open), a smoke
alarm and the detector's clear (no rule state at all: the event is kept). Each is written by the next batch
once the store works, announced once, and never twice.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from assessed import assess
from clock import T0, FakeClock
from readings import healthy_readings

from gateway.casework.engine import RuleEngine
from gateway.casework.model import RuleUpdate
from gateway.casework.redo import REDO_BACKOFF_MAX_S
from gateway.ingest.registry import Registry
from gateway.ingest.schema import ALARM_MEASUREMENT, HAZARD_MEASUREMENT
from gateway.ingest.sinks.base import Point
from gateway.models import Device, DeviceEvent, EventType, MetricValue, Reading
from gateway.store import HazardStore
from rules.lifecycle import HazardAction
from rules.model import SignalKind
from rules.policy import load_policy
from simulators.fleet import generate_fleet

LOW = SignalKind.HYDRANT_LOW_PRESSURE
LEAK = SignalKind.HYDRANT_LEAK


@dataclass
class Env:
    engine: RuleEngine
    clock: FakeClock
    registry: Registry
    path: Path

    def device(self, estate: str, kind: str) -> Device:
        return next(d for d in self.registry.devices if d.estate_id == estate and d.kind.value == kind)

    def report(self, device: Device, **metrics: MetricValue) -> None:
        now = self.clock()
        self.engine.on_records([(device, Reading(device_id=device.id, time=now, metrics=metrics))], now)

    def event(self, device: Device, type_: EventType) -> datetime:
        now = self.clock()
        self.engine.on_records([(device, DeviceEvent(device_id=device.id, time=now, type=type_))], now)
        return now

    def tick(self, **delta: float) -> None:
        self.engine.tick(self.clock.advance(**delta))

    def heartbeat_all(self) -> None:
        """Every device reports (keeps the offline rule quiet)."""
        now = self.clock()
        self.engine.on_records(healthy_readings(self.registry, now), now)

    def grade(self, estate: str) -> str:
        return self.engine.grader.grades[estate].colour

    def updates(self, kind: str, device: Device) -> list[RuleUpdate]:
        return [
            u for u in self.engine.outbox.updates.recent if u.kind == kind and u.data["device"] == device.id
        ]

    def points(self, measurement: str, device: Device) -> list[Point]:
        return [
            p
            for p in self.engine.outbox.points
            if p.measurement == measurement
            and (p.fields.get("device") == device.id or p.tags.get("device") == device.id)
        ]

    def open_hazards(self, device: Device) -> list[tuple[str | None, str]]:
        """(signal, state) of the device's open hazards, as the store holds them."""
        hazards = self.engine.store.hazards.find(open_only=True, device_id=device.id)
        return [(h.signal, h.state.value) for h in hazards]

    @contextmanager
    def lock(self, *, reads: bool = False) -> Iterator[sqlite3.Connection]:
        """Hold the store file's write lock from a second connection until the block ends.

        ``reads=True`` also shuts readers out: SQLite's exclusive locking mode, which a connection can take
        only while no other has the WAL open, so the engine's pooled connections are closed first (they
        reconnect on their own, and fail, while the lock is held)."""
        if reads:
            self.engine.store.engine.dispose()
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=0)
        try:
            if reads:
                conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            conn.execute("BEGIN EXCLUSIVE")
            yield conn
        finally:
            conn.close()  # rolls back and lets go of every lock


@pytest.fixture
def env(tmp_path: Path) -> Env:
    """Two assessed estates, green to begin with. No cameras: none of these tests is about one, and since
    cameras send keep-alives a camera silent through a test's 20-minute jump would go offline and open a
    maintenance task of its own (a hazard the counters and the backlog would also hold)."""
    registry = generate_fleet(
        estates=2, smoke_per_estate=10, hydrants_per_estate=2, cameras_per_estate=0, modbus_share=0.0, seed=5
    )
    clock = FakeClock()
    path = tmp_path / "hazards.sqlite"
    store = HazardStore(f"sqlite:///{path}?timeout=0.05")
    e = Env(RuleEngine(registry, load_policy(), store, clock=clock), clock, registry, path)
    e.heartbeat_all()
    assess(e.engine)  # since issue 14 an estate is not_assessed, never green, until the office assessed it
    assert {e.grade("E001"), e.grade("E002")} == {"green"}
    return e


def low_pressure_pending(env: Env, hydrant: Device, minutes: int = 4) -> datetime:
    """Readings of 0.03 MPa, one a minute, ``minutes`` (< the 5-minute hold) long: the rule is PENDING.
    Starts 20 minutes after the heartbeat's 0.35 MPa (beyond ``pressure_drop_window_s``), so that it is no
    sudden drop: that would be an urgent episode, active after the 60 s drop hold instead of the 5 minutes."""
    env.clock.advance(minutes=20)
    first = env.clock()
    env.report(hydrant, pressure_mpa=0.03)
    for _ in range(minutes):
        env.tick(minutes=1)
        env.report(hydrant, pressure_mpa=0.03)
    assert env.engine.fleet.rules[hydrant.id].rules[LOW].state.value == "pending"
    return first


# -- a hazard opened while the store is locked ---------------------------------------------------------------


def test_a_low_pressure_that_goes_active_while_the_store_is_locked_is_opened_once_it_is_released(
    env: Env,
) -> None:
    hydrant = env.device("E001", "hydrant")
    first_low = low_pressure_pending(env, hydrant)
    errors = env.engine.counters.store_errors
    with env.lock():
        env.clock.advance(minutes=1)
        env.report(hydrant, pressure_mpa=0.03)  # past the hold: the rule goes ACTIVE in this batch
        assert env.engine.fleet.rules[hydrant.id].rules[LOW].active
        assert env.engine.counters.store_errors > errors, "the rolled-back batch is counted"
        assert env.engine.counters.hazards_opened == 0
        # Nothing announced, nothing in the store, nothing in the index: the grade has not moved.
        assert env.updates("hazard", hydrant) == []
        assert env.points(HAZARD_MEASUREMENT, hydrant) == []
        assert env.open_hazards(hydrant) == []
        assert (hydrant.id, LOW.value) not in env.engine.index.by_signal
        assert env.grade("E001") == "green"
        # Still locked at the next tick: still nothing, and nothing half-done.
        env.tick(seconds=1)
        assert env.open_hazards(hydrant) == []
        assert env.updates("hazard", hydrant) == []

    env.tick(seconds=REDO_BACKOFF_MAX_S)  # the lock is gone: the next batch reconciles the hydrant
    hazards = env.engine.store.hazards.find(open_only=True, device_id=hydrant.id)
    assert [(h.signal, h.source) for h in hazards] == [(LOW.value, "device")]
    hazard = hazards[0]
    assert hazard.since == first_low, "since when the condition held, from the rule"
    assert "0.03 MPa" in hazard.description
    assert hazard.value == pytest.approx(0.03)
    assert env.grade("E001") == "yellow"
    assert [u.data["action"] for u in env.updates("hazard", hydrant)] == ["report"]
    assert [p.fields["hazard_id"] for p in env.points(HAZARD_MEASUREMENT, hydrant)] == [str(hazard.id)]
    assert env.engine.counters.hazards_opened == 1
    grade_updates = [
        u for u in env.engine.outbox.updates.recent if u.kind == "grade" and u.estate_id == "E001"
    ]
    assert grade_updates[-1].data["grade"] == "yellow"
    assert str(hazard.id) in {h for r in grade_updates[-1].data["reasons"] for h in r["hazards"]}

    # The device goes on failing for a while: still exactly one hazard, announced once.
    for _ in range(10):
        env.tick(minutes=1)
        env.report(hydrant, pressure_mpa=0.03)
    assert env.open_hazards(hydrant) == [(LOW.value, "reported")]
    assert len(env.updates("hazard", hydrant)) == 1


def test_a_store_that_stays_locked_keeps_the_hazard_pending_and_retries_with_a_back_off(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    hydrant = env.device("E001", "hydrant")
    low_pressure_pending(env, hydrant)
    with env.lock():
        env.tick(minutes=1)  # the hold ends on a tick this time
        assert env.engine.counters.store_errors > 0
        # A minute of ticks against the locked store: retried after 1, 2, 4, 8, 8... seconds (each try
        # waits out the store's busy timeout on the event loop), never given up.
        caplog.clear()
        for _ in range(60):
            env.tick(seconds=1)
        retries = [r for r in caplog.records if "was rolled back" in r.getMessage()]
        assert len(retries) == 1 + 2 + 1 + 5, [r.getMessage() for r in retries]  # at +1, 3, 7, 15, ..., 55 s
        assert env.open_hazards(hydrant) == []
        assert env.engine.fleet.rules[hydrant.id].rules[LOW].active
    env.tick(seconds=REDO_BACKOFF_MAX_S)
    assert env.open_hazards(hydrant) == [(LOW.value, "reported")]
    assert env.grade("E001") == "yellow"
    assert len(env.updates("hazard", hydrant)) == 1


def test_a_successful_write_retries_at_once_instead_of_waiting_out_the_back_off(env: Env) -> None:
    hydrant = env.device("E001", "hydrant")
    other = env.device("E002", "hydrant")
    low_pressure_pending(env, hydrant)
    with env.lock():
        env.tick(minutes=1)
        for _ in range(10):  # into the longest back-off: the next try is due 15 s after the first failure
            env.tick(seconds=1)
        assert env.open_hazards(hydrant) == []
    # Another device's leak, written fine: the store works again, so the very next batch reconciles.
    env.report(other, pressure_mpa=0.35, leak=True)
    assert env.open_hazards(other) == [(LEAK.value, "reported")]
    env.tick(seconds=0.1)
    assert env.open_hazards(hydrant) == [(LOW.value, "reported")]


def test_a_hazard_lost_while_the_store_cannot_even_be_opened_is_opened_once_it_can(env: Env) -> None:
    """No transaction to roll back here: the store's connection cannot be opened, so each call fails on
    its own and the batch has nothing to undo. What those calls were to write is redone all the same."""
    hydrant = env.device("E002", "hydrant")
    low_pressure_pending(env, hydrant)
    with env.lock(reads=True):
        env.tick(minutes=1)
        assert env.engine.fleet.rules[hydrant.id].rules[LOW].active
        for _ in range(5):
            env.tick(seconds=1)
        assert env.engine.backlog.due.pairs == {(hydrant.id, LOW)}
        assert [r["signal"] for r in env.engine.backlog.due.signal_rows] == [LOW.value]
        assert env.updates("hazard", hydrant) == []
    assert env.open_hazards(hydrant) == []
    env.tick(seconds=REDO_BACKOFF_MAX_S)
    assert env.open_hazards(hydrant) == [(LOW.value, "reported")]
    assert env.grade("E002") == "yellow"
    assert [u.data["action"] for u in env.updates("hazard", hydrant)] == ["report"]
    assert [(s.signal, s.active) for s in env.engine.store.signals.history(hydrant.id)] == [(LOW.value, True)]
    assert not env.engine.backlog.due


# -- an auto-close rolled back -----------------------------------------------------------------------------


def test_an_auto_close_rolled_back_is_redone_once_the_store_is_released(env: Env) -> None:
    hydrant = env.device("E001", "hydrant")
    low_pressure_pending(env, hydrant)
    env.tick(minutes=1)
    assert env.open_hazards(hydrant) == [(LOW.value, "reported")]
    assert env.grade("E001") == "yellow"
    # Healthy again: the hazard closes itself after the 10-minute recovery hold...
    env.tick(minutes=1)
    env.report(hydrant, pressure_mpa=0.30)
    for _ in range(9):
        env.tick(minutes=1)
        env.report(hydrant, pressure_mpa=0.30)
    assert env.open_hazards(hydrant) == [(LOW.value, "reported")]
    # ...which ends while the store is locked.
    with env.lock():
        env.tick(minutes=1)
        assert not env.engine.fleet.rules[hydrant.id].rules[LOW].active
        assert env.engine.counters.hazards_auto_closed == 0
        # The store still holds the hazard open, and so do the index and the grade: they follow the store.
        assert env.open_hazards(hydrant) == [(LOW.value, "reported")]
        assert (hydrant.id, LOW.value) in env.engine.index.by_signal
        assert env.grade("E001") == "yellow"
        assert [u.data["action"] for u in env.updates("hazard", hydrant)] == ["report"]
    env.tick(seconds=REDO_BACKOFF_MAX_S)
    assert env.open_hazards(hydrant) == []
    closed = env.engine.store.hazards.find(device_id=hydrant.id)
    assert [(h.signal, h.close_kind) for h in closed] == [(LOW.value, "auto")]
    assert "device recovered" in env.engine.store.hazards.history(closed[0].id)[-1].reason
    assert env.grade("E001") == "green"
    assert [u.data["action"] for u in env.updates("hazard", hydrant)] == ["report", "auto_close"]
    assert env.engine.counters.hazards_auto_closed == 1
    # Later ticks do not close anything twice (nor reopen it).
    for _ in range(5):
        env.tick(minutes=1)
    assert [u.data["action"] for u in env.updates("hazard", hydrant)] == ["report", "auto_close"]


def test_a_hazard_a_person_closed_is_not_reopened_by_reconciling_another_signal(env: Env) -> None:
    """Reconciliation looks at the signals a lost batch touched, not at every signal of the device: a
    device hazard closed by a person while its rule stays active stays closed (``step_hazard``)."""
    hydrant = env.device("E001", "hydrant")
    low_pressure_pending(env, hydrant)
    env.tick(minutes=1)
    (low,) = env.engine.store.hazards.find(open_only=True, device_id=hydrant.id)
    env.engine.hazards.step(low.id, HazardAction.CLOSE, actor="supervisor", reason="pump room under repair")
    assert env.engine.fleet.rules[hydrant.id].rules[LOW].active
    with env.lock():
        env.tick(seconds=30)
        env.report(hydrant, pressure_mpa=0.03, leak=True)  # a leak (no hold): its hazard is rolled back
        assert env.open_hazards(hydrant) == []
    env.tick(seconds=REDO_BACKOFF_MAX_S)
    assert env.open_hazards(hydrant) == [(LEAK.value, "reported")]


# -- smoke alarms ------------------------------------------------------------------------------------------


def test_a_smoke_alarm_raised_while_the_store_is_locked_is_raised_once_it_is_released(env: Env) -> None:
    """An alarm is no rule state that could be re-derived: the rolled-back event itself is kept and
    written again, with the time it arrived (the response targets run from it)."""
    detector = env.device("E002", "smoke_detector")
    env.clock.advance(minutes=3)
    with env.lock():
        received = env.event(detector, EventType.ALARM)
        assert env.engine.counters.store_errors > 0
        assert env.engine.store.alarms.find(open_only=True) == []
        assert env.updates("alarm", detector) == []
        assert env.points(ALARM_MEASUREMENT, detector) == []
        env.tick(seconds=1)
        assert env.engine.store.alarms.find(open_only=True) == []
    env.tick(seconds=REDO_BACKOFF_MAX_S)
    (alarm,) = env.engine.store.alarms.find(open_only=True)
    assert alarm.device_id == detector.id
    assert alarm.received_at == received, "the alarm keeps the time it arrived, not the time it was written"
    assert alarm.raised_at == received
    assert alarm.repeats == 0
    updates = env.updates("alarm", detector)
    assert [u.data["action"] for u in updates] == ["raise"]
    assert updates[0].data["elapsed_s"] == pytest.approx(1 + REDO_BACKOFF_MAX_S)
    assert len(env.points(ALARM_MEASUREMENT, detector)) == 1
    assert env.engine.counters.alarms_raised == 1
    # Once only: later batches do not raise it again; the detector's next report is a repeat.
    env.tick(seconds=1)
    env.event(detector, EventType.ALARM)
    (alarm,) = env.engine.store.alarms.find()
    assert alarm.repeats == 1
    assert env.engine.counters.alarms_raised == 1


def test_an_alarm_and_its_clear_lost_in_two_batches_are_written_in_order(env: Env) -> None:
    detector = env.device("E001", "smoke_detector")
    with env.lock():
        received = env.event(detector, EventType.ALARM)
        env.clock.advance(seconds=20)
        # The clear comes in a batch of its own; it retries the backlog at once (whatever the back-off),
        # fails again, and queues behind the alarm.
        cleared = env.event(detector, EventType.ALARM_CLEAR)
        assert [e.type for _, e, _ in env.engine.backlog.due.alarms] == [
            EventType.ALARM,
            EventType.ALARM_CLEAR,
        ]
    env.tick(seconds=REDO_BACKOFF_MAX_S)
    (alarm,) = env.engine.store.alarms.find()
    assert alarm.received_at == received
    assert alarm.device_cleared_at == cleared
    assert alarm.state.value == "open", "only a person closes an alarm"
    assert [u.data["action"] for u in env.updates("alarm", detector)] == ["raise", "device_cleared"]
    assert not env.engine.backlog.due


def test_a_new_alarm_after_the_store_recovers_does_not_overtake_the_lost_one(env: Env) -> None:
    first = env.device("E001", "smoke_detector")
    second = env.device("E002", "smoke_detector")
    with env.lock():
        env.event(first, EventType.ALARM)
    env.clock.advance(seconds=0.2)  # within the back-off: only the new alarm's batch would write
    env.event(second, EventType.ALARM)
    alarms = sorted(env.engine.store.alarms.find(), key=lambda a: a.id)
    assert [a.device_id for a in alarms] == [first.id, second.id]
    assert [u.data["device"] for u in env.engine.outbox.updates.recent if u.kind == "alarm"] == [
        first.id,
        second.id,
    ]


# -- signal history ------------------------------------------------------------------------------------------


def test_the_signal_history_of_a_rolled_back_batch_is_written_by_the_next_one(env: Env) -> None:
    hydrant = env.device("E001", "hydrant")
    low_pressure_pending(env, hydrant)
    with env.lock():
        env.tick(minutes=1)
        assert [s.signal for s in env.engine.store.signals.history(hydrant.id)] == []
    env.tick(seconds=REDO_BACKOFF_MAX_S)
    history = env.engine.store.signals.history(hydrant.id)
    assert [(s.signal, s.active) for s in history] == [(LOW.value, True)]
    assert history[0].at == T0 + timedelta(minutes=25), "the time the rule decided, not the time written"


# -- a grade change whose history row cannot be written ------------------------------------------------------


def test_a_grade_change_whose_history_row_fails_is_written_by_the_next_batch(env: Env) -> None:
    """The hazard's batch committed; then the store is locked for exactly the grade-history write. The
    grade is published all the same, and its history row is written by the next batch, with its own time."""
    hydrant = env.device("E001", "hydrant")
    low_pressure_pending(env, hydrant)
    store = env.engine.store
    real_record_grade = store.grades.record
    tried: list[str] = []

    def record_grade_while_locked(values: dict[str, Any]) -> int:
        with env.lock():  # a real "database is locked", on this write only
            tried.append(values["colour"])
            return real_record_grade(values)

    store.grades.record = record_grade_while_locked  # type: ignore[method-assign]
    errors = env.engine.counters.store_errors
    env.clock.advance(minutes=1)
    changed_at = env.clock()
    env.report(hydrant, pressure_mpa=0.03)  # past the hold: hazard opened and committed, grade -> yellow
    store.grades.record = real_record_grade  # type: ignore[method-assign]
    assert tried == ["yellow"]
    assert env.engine.counters.store_errors == errors + 1
    assert env.open_hazards(hydrant) == [(LOW.value, "reported")]
    assert env.grade("E001") == "yellow", "the grade itself is published"
    # Newest first: the assessment's not_assessed -> green (the fixture), and no yellow row yet.
    assert [g.colour for g in store.grades.history("E001")] == ["green", "not_assessed"], "missing for now"

    env.tick(seconds=1)  # the next batch writes it
    history = store.grades.history("E001")
    assert [(g.colour, g.previous) for g in history] == [
        ("yellow", "green"),
        ("green", "not_assessed"),
        ("not_assessed", None),
    ]
    assert history[0].at == changed_at
    env.tick(seconds=1)
    assert len(store.grades.history("E001")) == 3, "written once"


# -- a restart while the store is down -----------------------------------------------------------------------


def test_what_the_store_lost_survives_a_gateway_restart(tmp_path: Path) -> None:
    """The store fails, and the gateway stops before it comes back: the alarm (and the signal history)
    that waited in memory are kept in ``redo_path`` and written by the restarted engine's first batch,
    with the time the alarm arrived. Once written, the file is gone."""
    registry = generate_fleet(
        estates=2, smoke_per_estate=10, hydrants_per_estate=2, cameras_per_estate=1, modbus_share=0.0, seed=5
    )
    clock = FakeClock()
    path = tmp_path / "hazards.sqlite"
    redo = tmp_path / "rules-redo.json"

    def start() -> Env:
        store = HazardStore(f"sqlite:///{path}?timeout=0.05")
        engine = RuleEngine(registry, load_policy(), store, clock=clock, redo_path=redo)
        return Env(engine, clock, registry, path)

    first = start()
    first.heartbeat_all()
    detector = first.device("E002", "smoke_detector")
    hydrant = first.device("E001", "hydrant")
    clock.advance(minutes=3)
    drop_hold_s = first.engine.fleet.rules[hydrant.id].t.pressure_drop_hold_s  # 60 s
    with first.lock():
        received = first.event(detector, EventType.ALARM)
        # 0.35 -> 0.03 MPa: a sudden drop. Since issue 14 it is no zero-hold signal of its own but the start
        # of the one low-pressure episode, which goes active (a signal-history row) once the pressure has
        # stayed down for the drop hold.
        first.report(hydrant, pressure_mpa=0.03)
        assert not first.engine.fleet.rules[hydrant.id].rules[LOW].active
        first.clock.advance(seconds=drop_hold_s)
        decided = first.clock()
        first.report(hydrant, pressure_mpa=0.03)  # still down: the rule goes ACTIVE in a rolled-back batch
        assert first.engine.fleet.rules[hydrant.id].rules[LOW].active
        assert first.engine.store.alarms.find() == []
        assert first.engine.store.signals.history(hydrant.id) == []
        assert redo.exists(), "kept on disk as soon as the batch was rolled back"
        first.engine.store.close()  # the gateway stops (or is killed) while the store is down
    assert first.engine.store.alarms.find() == []

    clock.advance(minutes=1)
    second = start()  # the store works again
    assert second.engine.backlog.due.alarms, "read back at start-up"
    second.tick(seconds=1)
    (alarm,) = second.engine.store.alarms.find()
    assert alarm.device_id == detector.id
    assert alarm.received_at == received
    assert [u.data["action"] for u in second.updates("alarm", detector)] == ["raise"]
    signals = second.engine.store.signals.history(hydrant.id)
    # One row, of the one rule, at the time it decided (was: the drop's own row, at the time it arrived).
    assert [(s.signal, s.active, s.at) for s in signals] == [(LOW.value, True, decided)]
    assert not redo.exists(), "nothing waits any more"
    second.tick(seconds=1)
    assert len(second.engine.store.alarms.find()) == 1, "written once"


def test_a_store_that_cannot_be_read_is_synced_every_store_sync_s_and_logged_once(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """Reading back other gateways' changes (``sync_from_store``) while the store refuses even reads: tried
    every ``store_sync_s``, not every tick, with one warning for the outage and one line when it ends."""
    tried: list[datetime] = []
    real = env.engine.store.hazards.updated_since

    def counted(since: datetime) -> list[Any]:
        tried.append(env.clock())
        return real(since)

    env.engine.store.hazards.updated_since = counted  # type: ignore[method-assign]
    caplog.set_level(logging.INFO, logger="gateway.casework.sync")
    caplog.clear()
    with env.lock(reads=True):
        for _ in range(95):
            env.tick(seconds=1)
    warnings = [r for r in caplog.records if "other gateways' changes" in r.getMessage()]
    assert len(tried) == 3, "at +30, +60 and +90 s"
    assert len(warnings) == 1
    env.tick(seconds=30)
    assert len(tried) == 4
    assert any("works again" in r.getMessage() for r in caplog.records)


def test_an_unreadable_backlog_file_is_moved_aside_and_the_engine_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = generate_fleet(
        estates=1, smoke_per_estate=2, hydrants_per_estate=1, cameras_per_estate=0, modbus_share=0.0, seed=5
    )
    redo = tmp_path / "rules-redo.json"
    # Damaged (a disk error, a hand edit): writes themselves are atomic.
    redo.write_text('{"alarms": [{"device": "SD-E001-01", "event": {"type": "alarm"')
    store = HazardStore(f"sqlite:///{tmp_path / 'hazards.sqlite'}")
    engine = RuleEngine(registry, load_policy(), store, clock=FakeClock(), redo_path=redo)
    assert not engine.backlog.due
    assert not redo.exists()
    assert (tmp_path / "rules-redo.json.unreadable").exists(), "kept for a person to look at"
    assert any("cannot read the hazard store's backlog" in r.getMessage() for r in caplog.records)
    store.close()
