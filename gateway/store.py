"""The hazard store: hazards with their append-only transition history, complaints, fires, alarms, grade
changes and device signal changes. SQLAlchemy 2 Core, so the same code runs on SQLite (embedded default,
one gateway) and PostgreSQL (one store shared by many gateways): ``sqlite:///path`` or
``postgresql+psycopg://user:pass@host/db``.

Rules the schema itself enforces, so no code path can break them:

- one open hazard per device and signal (a partial unique index on ``(device_id, signal)`` where the hazard
  is not closed), so a flapping sensor cannot flood the list;
- one open alarm per device (the same kind of index);
- nothing is deleted and transitions are only ever inserted.

Every change happens in one transaction that is checked before it writes: a refused transition raises
``TransitionError`` (or ``NotFound``) and leaves the store exactly as it was.

Calls are synchronous and short (one small transaction each, or a share of the caller's ``batch``). The
gateway calls them from its event loop: hazard and alarm changes are rare next to telemetry, and a single
writer keeps SQLite free of lock contention.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Insert,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from rules.lifecycle import (
    AlarmAction,
    AlarmOutcome,
    AlarmState,
    HazardAction,
    HazardState,
    step_alarm,
    step_hazard,
)


class NotFound(LookupError):
    """No such hazard, alarm or estate; the message names what was asked for."""


class BatchFailed(RuntimeError):
    """A call inside a ``HazardStore.batch`` whose transaction already failed and was rolled back."""


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = MetaData()

hazards = Table(
    "hazards",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("estate_id", String(64), nullable=False, index=True),
    #: The primary criterion (the first the signal feeds, or the one filed); ``criteria`` has them all.
    Column("criterion", String(8), nullable=False),
    Column("criteria", JSON, nullable=False),
    Column("source", String(16), nullable=False),  # device / manual / complaint
    Column("device_id", String(128)),
    Column("signal", String(64)),
    Column("state", String(16), nullable=False),
    Column("location", Text, nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("photo", Text, nullable=False, default=""),
    Column("reporter", String(128), nullable=False, default=""),
    Column("responsible", String(256), nullable=False, default=""),
    Column("value", Float),
    Column("since", UtcDateTime, nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("deadline", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Column("close_kind", String(16)),  # verified / auto / closed
    Column("escalations", Integer, nullable=False, default=0),
    Column("last_escalated_at", UtcDateTime),
    Column("recheck_due", UtcDateTime),
    Index(
        "one_open_hazard_per_device_signal",
        "device_id",
        "signal",
        unique=True,
        sqlite_where=Column("closed_at").is_(None) & Column("device_id").is_not(None),
        postgresql_where=Column("closed_at").is_(None) & Column("device_id").is_not(None),
    ),
    Index("hazards_open_by_estate", "estate_id", "closed_at"),
    #: ``hazards_updated_since``: what other gateways changed (the rule engine's store sync).
    Index("hazards_by_update", "updated_at"),
)

hazard_transitions = Table(
    "hazard_transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hazard_id", Integer, ForeignKey("hazards.id"), nullable=False, index=True),
    Column("at", UtcDateTime, nullable=False),
    Column("action", String(16), nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("data", JSON, nullable=False, default=dict),
)

complaints = Table(
    "complaints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("estate_id", String(64), nullable=False, index=True),
    Column("received_at", UtcDateTime, nullable=False),
    Column("channel", String(32), nullable=False, default="12345"),
    Column("description", Text, nullable=False, default=""),
    Column("reporter", String(128), nullable=False, default=""),
    Column("recorded_at", UtcDateTime, nullable=False),
)

fires = Table(
    "fires",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("estate_id", String(64), nullable=False, index=True),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("fatal", Boolean, nullable=False, default=False),
    Column("high_impact", Boolean, nullable=False, default=False),
    Column("alarm_id", Integer),
    Column("description", Text, nullable=False, default=""),
    Column("recorded_by", String(128), nullable=False, default=""),
    Column("recorded_at", UtcDateTime, nullable=False),
)

alarms = Table(
    "alarms",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("estate_id", String(64), nullable=False, index=True),
    Column("device_id", String(128), nullable=False),
    Column("building_id", String(64), nullable=False, default=""),
    Column("floor", Integer),
    Column("location", Text, nullable=False, default=""),
    #: Device time of the alarm message, and gateway time when it arrived: the targets run from the latter.
    Column("raised_at", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("outcome", String(16)),
    Column("repeats", Integer, nullable=False, default=0),
    Column("acknowledged_at", UtcDateTime),
    Column("dispatched_at", UtcDateTime),
    Column("on_scene_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Column("device_cleared_at", UtcDateTime),
    Column("note", Text, nullable=False, default=""),
    Index(
        "one_open_alarm_per_device",
        "device_id",
        unique=True,
        sqlite_where=Column("closed_at").is_(None),
        postgresql_where=Column("closed_at").is_(None),
    ),
)

alarm_transitions = Table(
    "alarm_transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alarm_id", Integer, ForeignKey("alarms.id"), nullable=False, index=True),
    Column("at", UtcDateTime, nullable=False),
    Column("action", String(16), nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("note", Text, nullable=False, default=""),
)

grade_changes = Table(
    "grade_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("estate_id", String(64), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("colour", String(16), nullable=False),
    Column("level", Integer, nullable=False),
    Column("previous", String(16)),
    Column("rule", Text, nullable=False, default=""),
    Column("reasons", JSON, nullable=False),
    Column("red_items", JSON, nullable=False),
    Column("yellow_items", JSON, nullable=False),
    Column("missing_green", JSON, nullable=False),
    Column("tolerated", JSON, nullable=False),
    Column("open_hazards", Integer, nullable=False),
    Column("stale", Boolean, nullable=False),
    Column("policy", String(128), nullable=False),
    Index("grade_changes_by_estate", "estate_id", "at"),
)

signal_changes = Table(
    "signal_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", String(128), nullable=False),
    Column("estate_id", String(64), nullable=False),
    Column("signal", String(64), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("since", UtcDateTime, nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("value", Float),
    Index("signal_changes_by_device", "device_id", "at"),
)


# -- records returned to callers --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HazardRecord:
    id: int
    estate_id: str
    criterion: str
    criteria: list[str]
    source: str
    device_id: str | None
    signal: str | None
    state: HazardState
    location: str
    description: str
    photo: str
    reporter: str
    responsible: str
    value: float | None
    since: datetime
    opened_at: datetime
    updated_at: datetime
    deadline: datetime | None
    closed_at: datetime | None
    close_kind: str | None
    escalations: int
    last_escalated_at: datetime | None
    recheck_due: datetime | None

    @property
    def is_open(self) -> bool:
        return self.state is not HazardState.CLOSED


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    at: datetime
    action: str
    from_state: str | None
    to_state: str
    actor: str
    reason: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    id: int
    estate_id: str
    device_id: str
    building_id: str
    floor: int | None
    location: str
    raised_at: datetime
    received_at: datetime
    state: AlarmState
    outcome: AlarmOutcome | None
    repeats: int
    acknowledged_at: datetime | None
    dispatched_at: datetime | None
    on_scene_at: datetime | None
    closed_at: datetime | None
    device_cleared_at: datetime | None
    note: str

    def seconds_to(self, step: datetime | None) -> float | None:
        return None if step is None else (step - self.received_at).total_seconds()


@dataclass(frozen=True, slots=True)
class ComplaintRecord:
    id: int
    estate_id: str
    received_at: datetime
    channel: str
    description: str
    reporter: str
    recorded_at: datetime


class HazardVersion(NamedTuple):
    """Which hazard changed when (``HazardStore.hazards_updated_since``)."""

    id: int
    estate_id: str
    updated_at: datetime
    is_open: bool


@dataclass(frozen=True, slots=True)
class FireRecord:
    id: int
    estate_id: str
    occurred_at: datetime
    fatal: bool
    high_impact: bool
    alarm_id: int | None
    description: str
    recorded_by: str


@dataclass(frozen=True, slots=True)
class GradeChangeRecord:
    id: int
    estate_id: str
    at: datetime
    colour: str
    level: int
    previous: str | None
    rule: str
    reasons: list[dict[str, Any]]
    red_items: list[str]
    yellow_items: list[str]
    missing_green: list[str]
    tolerated: list[str]
    open_hazards: int
    stale: bool
    policy: str


@dataclass(frozen=True, slots=True)
class SignalRecord:
    device_id: str
    estate_id: str
    signal: str
    active: bool
    at: datetime
    since: datetime
    detail: str
    value: float | None


def _as_read(values: Mapping[str, Any]) -> dict[str, Any]:
    """A row's values as reading the row back would give them (times in UTC: the store keeps UTC), so that
    a row just inserted need not be read back. Every column but the id must be in ``values``."""
    return {k: v.astimezone(UTC) if isinstance(v, datetime) else v for k, v in values.items()}


def _hazard(row: Mapping[Any, Any]) -> HazardRecord:
    data = dict(row)
    data["state"] = HazardState(data["state"])
    data["criteria"] = list(data["criteria"])
    return HazardRecord(**data)


def _history(
    conn: Connection, table: Table, key: Any, key_value: int, reason_column: str
) -> list[TransitionRecord]:
    """A hazard's or an alarm's transitions, oldest first (alarm transitions keep their reason as ``note``
    and carry no data)."""
    rows = conn.execute(select(table).where(key == key_value).order_by(table.c.id)).mappings()
    return [
        TransitionRecord(
            at=r["at"],
            action=r["action"],
            from_state=r["from_state"],
            to_state=r["to_state"],
            actor=r["actor"],
            reason=r[reason_column],
            data=dict(r.get("data") or {}),
        )
        for r in rows
    ]


def _alarm(row: Mapping[Any, Any]) -> AlarmRecord:
    data = dict(row)
    data["state"] = AlarmState(data["state"])
    data["outcome"] = AlarmOutcome(data["outcome"]) if data["outcome"] else None
    return AlarmRecord(**data)


# -- statements on the rule engine's path ----------------------------------------------------------------
#
# The statements that device events run (a hazard opened or closed itself, an alarm raised or cleared) are
# built once, here, with bind parameters for what varies. SQLAlchemy looks compiled SQL up by a cache key that
# it derives by walking the statement; for a statement built afresh on every call that walk (and building the
# statement) cost several times the SQL itself, while a prebuilt statement's key is computed once. Nothing is
# read back after a write: an insert's record is built from the values it wrote (``_as_read``), an update
# returns the row (RETURNING: SQLite >= 3.35, PostgreSQL), which also holds what another gateway changed.
# Bind parameters in WHERE clauses are named ``match_*``: a column's own name is reserved for its new value.

#: The open hazard of one device and signal (at most one: a partial unique index says so).
_OPEN_HAZARD = select(hazards).where(
    hazards.c.device_id == bindparam("match_device_id"),
    hazards.c.signal == bindparam("match_signal"),
    hazards.c.closed_at.is_(None),
)
_HAZARD_BY_ID = select(hazards).where(hazards.c.id == bindparam("match_id"))
_INSERT_HAZARD = insert(hazards)
#: The columns set are the keys of the parameters other than ``match_id``.
_UPDATE_HAZARD = update(hazards).where(hazards.c.id == bindparam("match_id")).returning(*hazards.c)
_INSERT_HAZARD_TRANSITION = insert(hazard_transitions)

_ALARM_BY_ID = select(alarms).where(alarms.c.id == bindparam("match_id"))
_INSERT_ALARM = insert(alarms)
_UPDATE_ALARM = update(alarms).where(alarms.c.id == bindparam("match_id")).returning(*alarms.c)
#: The device's open alarm (at most one), with the columns set given as parameters.
_UPDATE_OPEN_ALARM = (
    update(alarms)
    .where(alarms.c.device_id == bindparam("match_device_id"), alarms.c.closed_at.is_(None))
    .returning(*alarms.c)
)
_COUNT_ALARM_REPEAT = _UPDATE_OPEN_ALARM.values(repeats=alarms.c.repeats + 1)
_INSERT_ALARM_TRANSITION = insert(alarm_transitions)

_INSERT_SIGNALS = insert(signal_changes)
_INSERT_GRADE = insert(grade_changes)


@dataclass(slots=True)
class Batch:
    """The transaction that the calls made inside ``HazardStore.batch()`` share."""

    #: Opened by the first call that needs it (a batch without hazard or alarm changes costs nothing).
    connection: Connection | None = None
    #: The database error that ended the batch: everything written in it was rolled back.
    error: Exception | None = None
    #: Transition rows, per insert statement, written together before the commit (``_write_history``).
    history: dict[Insert, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.error is not None


# -- the store ---------------------------------------------------------------------------------------------


class HazardStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)
        # create_all adds tables, not the indexes a later version added to an existing table.
        for table in metadata.sorted_tables:
            for index in table.indexes:
                index.create(self.engine, checkfirst=True)
        #: The batch of the calling thread, if any (report threads read the store while the loop writes).
        self._local = threading.local()

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """Let the calls made inside, on this thread, share one transaction and one commit at the end.

        The rule engine wraps each batch of device events in one: a commit costs more than the few small
        statements of a hazard or alarm change. Each call still either does everything it does or nothing:
        refusals (``TransitionError``, ``NotFound``) are raised before anything is written and leave the
        batch going, while a database error rolls back the whole batch and ends it: later calls in it raise
        ``BatchFailed``, and ``Batch.failed`` tells the caller that nothing of the batch was kept. An
        exception from the caller's own code does not undo the calls that returned: they are committed, as
        they would have been one by one. A ``batch()`` inside another one joins it.
        """
        outer: Batch | None = getattr(self._local, "batch", None)
        if outer is not None:
            yield outer
            return
        batch = self._local.batch = Batch()
        try:
            yield batch
        finally:
            try:
                if batch.connection is not None:
                    try:
                        if batch.error is None:
                            self._flush_history()
                            batch.connection.commit()
                    except SQLAlchemyError as exc:
                        batch.error = exc
                    finally:
                        batch.connection.close()  # rolls back whatever was not committed
            finally:
                self._local.batch = None

    def _write_history(self, conn: Connection, statement: Insert, row: dict[str, Any]) -> None:
        """Insert a transition row: at once, or, inside a ``batch``, with the batch's other transitions in one
        statement before it commits (each would otherwise cost about as much as the change it records)."""
        batch: Batch | None = getattr(self._local, "batch", None)
        if batch is None:
            conn.execute(statement, row)
        else:
            batch.history.setdefault(statement, []).append(row)

    def _flush_history(self) -> None:
        """Write the pending transitions of this thread's batch: before it commits or a history is read."""
        batch: Batch | None = getattr(self._local, "batch", None)
        if batch is not None and batch.connection is not None:
            for statement, rows in batch.history.items():
                batch.connection.execute(statement, rows)
            batch.history.clear()

    @contextmanager
    def _may_violate(self, conn: Connection) -> Iterator[None]:
        """Around a statement whose ``IntegrityError`` the caller handles: on PostgreSQL a failed statement
        aborts the whole transaction (a whole ``batch``), so the statement gets a savepoint of its own; on
        SQLite it only undoes itself, and a savepoint would cost more than the statement."""
        if self.engine.dialect.name == "sqlite":
            yield
        else:
            with conn.begin_nested():
                yield

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """The transaction of one call: its own, or a share of the thread's ``batch``."""
        batch: Batch | None = getattr(self._local, "batch", None)
        if batch is None:
            with self.engine.begin() as conn:
                yield conn
            return
        if batch.error is not None:
            raise BatchFailed(
                "an earlier store call of this batch failed; the batch was rolled back"
            ) from batch.error
        try:
            if batch.connection is None:  # connecting can fail too (server down): that fails the batch
                batch.connection = self.engine.connect()
            yield batch.connection
        except SQLAlchemyError as exc:
            batch.error = exc
            if batch.connection is not None:
                with contextlib.suppress(SQLAlchemyError):  # a dead connection: closing it will do
                    batch.connection.rollback()
            raise

    # -- hazards ---------------------------------------------------------------------------------------

    def open_device_hazard(
        self,
        *,
        estate_id: str,
        device_id: str,
        signal: str,
        criteria: Sequence[str],
        description: str,
        location: str,
        since: datetime,
        value: float | None,
        now: datetime,
    ) -> tuple[HazardRecord, bool]:
        """Open the hazard for ``(device, signal)``, or return the one already open (``created=False``)."""
        params = {"match_device_id": device_id, "match_signal": signal}
        with self._tx() as conn:
            existing = conn.execute(_OPEN_HAZARD, params).mappings().first()
            if existing is not None:
                return _hazard(existing), False
            try:
                with self._may_violate(conn):
                    hazard = self._insert_hazard(
                        conn,
                        estate_id=estate_id,
                        criteria=list(criteria),
                        source="device",
                        device_id=device_id,
                        signal=signal,
                        location=location,
                        description=description,
                        reporter="system",
                        value=value,
                        since=since,
                        now=now,
                        reason=f"device rule {signal} became active",
                    )
            except IntegrityError:  # another gateway on the same store opened it first
                return _hazard(conn.execute(_OPEN_HAZARD, params).mappings().one()), False
            return hazard, True

    def file_hazard(
        self,
        *,
        estate_id: str,
        criterion: str,
        location: str,
        description: str,
        photo: str,
        reporter: str,
        now: datetime,
        source: str = "manual",
        since: datetime | None = None,
    ) -> HazardRecord:
        with self._tx() as conn:
            return self._insert_hazard(
                conn,
                estate_id=estate_id,
                criteria=[criterion],
                source=source,
                device_id=None,
                signal=None,
                location=location,
                description=description,
                photo=photo,
                reporter=reporter,
                value=None,
                since=since or now,
                now=now,
                reason="filed",
            )

    def _insert_hazard(
        self,
        conn: Connection,
        *,
        estate_id: str,
        criteria: list[str],
        source: str,
        device_id: str | None,
        signal: str | None,
        location: str,
        description: str,
        reporter: str,
        value: float | None,
        since: datetime,
        now: datetime,
        reason: str,
        photo: str = "",
    ) -> HazardRecord:
        # Every column but the id, so that the record is built from what was written (``_as_read``).
        values = {
            "estate_id": estate_id,
            "criterion": criteria[0],
            "criteria": criteria,
            "source": source,
            "device_id": device_id,
            "signal": signal,
            "state": HazardState.REPORTED.value,
            "location": location,
            "description": description,
            "photo": photo,
            "reporter": reporter,
            "responsible": "",
            "value": value,
            "since": since,
            "opened_at": now,
            "updated_at": now,
            "deadline": None,
            "closed_at": None,
            "close_kind": None,
            "escalations": 0,
            "last_escalated_at": None,
            "recheck_due": None,
        }
        hazard_id = _new_id(conn.execute(_INSERT_HAZARD, values))
        self._write_history(
            conn,
            _INSERT_HAZARD_TRANSITION,
            {
                "hazard_id": hazard_id,
                "at": now,
                "action": "report",
                "from_state": None,
                "to_state": HazardState.REPORTED.value,
                "actor": reporter,
                "reason": reason,
                "data": {"photo": photo} if photo else {},
            },
        )
        return _hazard({"id": hazard_id, **_as_read(values)})

    def transition_hazard(
        self,
        hazard_id: int,
        action: HazardAction,
        *,
        actor: str,
        now: datetime,
        reason: str = "",
        deadline: datetime | None = None,
        default_deadline_s: float | None = None,
        responsible: str | None = None,
        evidence: str = "",
        recheck_after_s: float | None = None,
    ) -> HazardRecord:
        """Apply one closed-loop step, or raise ``TransitionError``/``NotFound`` and change nothing."""
        with self._tx() as conn:
            current = self._get(conn, hazard_id)
            step = step_hazard(
                current.state,
                action,
                now=now,
                deadline=current.deadline,
                new_deadline=deadline,
                default_deadline=timedelta(seconds=default_deadline_s) if default_deadline_s else None,
                responsible=responsible,
                reason=reason,
            )
            values: dict[str, Any] = {"state": step.state.value, "updated_at": now, "deadline": step.deadline}
            if responsible:
                values["responsible"] = responsible
            if step.state is HazardState.CLOSED and current.is_open:
                values["closed_at"] = now
                values["close_kind"] = {
                    HazardAction.VERIFY: "verified",
                    HazardAction.AUTO_CLOSE: "auto",
                }.get(action, "closed")
                if recheck_after_s and action is HazardAction.VERIFY:
                    values["recheck_due"] = now + timedelta(seconds=recheck_after_s)
            if action is HazardAction.ESCALATE:
                values["escalations"] = current.escalations + 1
                values["last_escalated_at"] = now
            if action is HazardAction.RECHECK:
                values["recheck_due"] = None
            row = conn.execute(_UPDATE_HAZARD, {"match_id": hazard_id, **values}).mappings().one()
            data: dict[str, Any] = {}
            if evidence:
                data["evidence"] = evidence
            if responsible:
                data["responsible"] = responsible
            if step.deadline != current.deadline and step.deadline is not None:
                data["deadline"] = step.deadline.isoformat()
            self._write_history(
                conn,
                _INSERT_HAZARD_TRANSITION,
                {
                    "hazard_id": hazard_id,
                    "at": now,
                    "action": action.value,
                    "from_state": current.state.value,
                    "to_state": step.state.value,
                    "actor": actor,
                    "reason": reason,
                    "data": data,
                },
            )
            return _hazard(row)

    def _get(self, conn: Connection, hazard_id: int) -> HazardRecord:
        row = conn.execute(_HAZARD_BY_ID, {"match_id": hazard_id}).mappings().first()
        if row is None:
            raise NotFound(f"no hazard {hazard_id}")
        return _hazard(row)

    def hazard(self, hazard_id: int) -> HazardRecord:
        with self._tx() as conn:
            return self._get(conn, hazard_id)

    def hazard_history(self, hazard_id: int) -> list[TransitionRecord]:
        with self._tx() as conn:
            self._get(conn, hazard_id)
            self._flush_history()
            return _history(conn, hazard_transitions, hazard_transitions.c.hazard_id, hazard_id, "reason")

    def hazards(
        self,
        *,
        estate_ids: Sequence[str] | None = None,
        open_only: bool = False,
        state: HazardState | None = None,
        criterion: str | None = None,
        device_id: str | None = None,
        overdue_at: datetime | None = None,
        limit: int = 500,
        offset: int = 0,
    ) -> list[HazardRecord]:
        query = select(hazards)
        if estate_ids is not None:
            query = query.where(hazards.c.estate_id.in_(list(estate_ids)))
        if open_only:
            query = query.where(hazards.c.closed_at.is_(None))
        if state is not None:
            query = query.where(hazards.c.state == state.value)
        if criterion is not None:
            query = query.where(hazards.c.criterion == criterion)
        if device_id is not None:
            query = query.where(hazards.c.device_id == device_id)
        if overdue_at is not None:
            query = query.where(
                hazards.c.deadline < overdue_at,
                hazards.c.state.in_(["reported", "dispatched", "rectifying"]),
            )
        query = query.order_by(hazards.c.id.desc()).limit(limit).offset(offset)
        with self._tx() as conn:
            return [_hazard(r) for r in conn.execute(query).mappings()]

    def hazards_updated_since(self, since: datetime) -> list[HazardVersion]:
        """(id, estate, updated_at, open) of every hazard opened, stepped or closed at or after ``since``, by
        any gateway on this store: a few columns, so that finding what another gateway changed among what
        this one wrote itself stays cheap (``hazards_by_id`` fetches the whole records)."""
        query = (
            select(hazards.c.id, hazards.c.estate_id, hazards.c.updated_at, hazards.c.closed_at)
            .where(hazards.c.updated_at >= since)
            .order_by(hazards.c.id)
        )
        with self._tx() as conn:
            return [
                HazardVersion(row.id, row.estate_id, row.updated_at, row.closed_at is None)
                for row in conn.execute(query)
            ]

    def hazards_by_id(self, ids: Sequence[int]) -> list[HazardRecord]:
        if not ids:
            return []
        query = select(hazards).where(hazards.c.id.in_(list(ids))).order_by(hazards.c.id)
        with self._tx() as conn:
            return [_hazard(r) for r in conn.execute(query).mappings()]

    def open_hazards(self) -> list[HazardRecord]:
        """Every open hazard (for the engine's in-memory index at start-up)."""
        with self._tx() as conn:
            rows = conn.execute(select(hazards).where(hazards.c.closed_at.is_(None))).mappings()
            return [_hazard(r) for r in rows]

    def hazards_to_escalate(self, now: datetime) -> list[HazardRecord]:
        query = select(hazards).where(
            hazards.c.closed_at.is_(None),
            hazards.c.deadline.is_not(None),
            hazards.c.deadline < now,
            hazards.c.state.in_(["reported", "dispatched", "rectifying"]),
        )
        with self._tx() as conn:
            return [_hazard(r) for r in conn.execute(query).mappings()]

    def rechecks_due(self, now: datetime) -> list[HazardRecord]:
        query = select(hazards).where(hazards.c.recheck_due.is_not(None), hazards.c.recheck_due <= now)
        with self._tx() as conn:
            return [_hazard(r) for r in conn.execute(query).mappings()]

    # -- complaints and fires --------------------------------------------------------------------------

    def add_complaint(
        self,
        *,
        estate_id: str,
        received_at: datetime,
        channel: str,
        description: str,
        reporter: str,
        now: datetime,
    ) -> ComplaintRecord:
        with self._tx() as conn:
            record = ComplaintRecord(
                id=0,
                estate_id=estate_id,
                received_at=received_at,
                channel=channel,
                description=description,
                reporter=reporter,
                recorded_at=now,
            )
            values = {k: getattr(record, k) for k in record.__slots__ if k != "id"}
            result = conn.execute(insert(complaints).values(**values))
            return dataclasses.replace(record, id=_new_id(result))

    def complaints(
        self,
        estate_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        *,
        recorded_since: datetime | None = None,
    ) -> list[ComplaintRecord]:
        """Complaints received at or after ``since``, or recorded (entered) at or after ``recorded_since``."""
        query = select(complaints)
        if estate_ids is not None:
            query = query.where(complaints.c.estate_id.in_(list(estate_ids)))
        if since is not None:
            query = query.where(complaints.c.received_at >= since)
        if recorded_since is not None:
            query = query.where(complaints.c.recorded_at >= recorded_since)
        with self._tx() as conn:
            rows = conn.execute(query.order_by(complaints.c.received_at)).mappings()
            return [ComplaintRecord(**dict(r)) for r in rows]

    def add_fire(
        self,
        *,
        estate_id: str,
        occurred_at: datetime,
        fatal: bool,
        high_impact: bool,
        description: str,
        recorded_by: str,
        now: datetime,
        alarm_id: int | None = None,
    ) -> FireRecord:
        with self._tx() as conn:
            return self._add_fire(
                conn,
                estate_id=estate_id,
                occurred_at=occurred_at,
                fatal=fatal,
                high_impact=high_impact,
                description=description,
                recorded_by=recorded_by,
                now=now,
                alarm_id=alarm_id,
            )

    def _add_fire(self, conn: Connection, *, now: datetime, **values: Any) -> FireRecord:
        result = conn.execute(insert(fires).values(recorded_at=now, **values))
        return FireRecord(id=_new_id(result), **values)

    def fires(
        self,
        estate_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        *,
        recorded_since: datetime | None = None,
    ) -> list[FireRecord]:
        """Fires that occurred at or after ``since``, or recorded at or after ``recorded_since``."""
        query = select(fires)
        if estate_ids is not None:
            query = query.where(fires.c.estate_id.in_(list(estate_ids)))
        if since is not None:
            query = query.where(fires.c.occurred_at >= since)
        if recorded_since is not None:
            query = query.where(fires.c.recorded_at >= recorded_since)
        with self._tx() as conn:
            rows = conn.execute(query.order_by(fires.c.occurred_at)).mappings()
            return [
                FireRecord(
                    id=r["id"],
                    estate_id=r["estate_id"],
                    occurred_at=r["occurred_at"],
                    fatal=r["fatal"],
                    high_impact=r["high_impact"],
                    alarm_id=r["alarm_id"],
                    description=r["description"],
                    recorded_by=r["recorded_by"],
                )
                for r in rows
            ]

    # -- alarms ----------------------------------------------------------------------------------------

    def raise_alarm(
        self,
        *,
        estate_id: str,
        device_id: str,
        building_id: str,
        floor: int | None,
        location: str,
        raised_at: datetime,
        now: datetime,
    ) -> tuple[AlarmRecord, bool]:
        """Open an alarm for the device, or count a repeat on the one already open (``created=False``)."""
        with self._tx() as conn:
            params = {"match_device_id": device_id}
            repeated = conn.execute(_COUNT_ALARM_REPEAT, params).mappings().first()
            if repeated is not None:
                return _alarm(repeated), False
            # Every column but the id, so that the record is built from what was written (``_as_read``).
            values = {
                "estate_id": estate_id,
                "device_id": device_id,
                "building_id": building_id,
                "floor": floor,
                "location": location,
                "raised_at": raised_at,
                "received_at": now,
                "state": AlarmState.OPEN.value,
                "outcome": None,
                "repeats": 0,
                "acknowledged_at": None,
                "dispatched_at": None,
                "on_scene_at": None,
                "closed_at": None,
                "device_cleared_at": None,
                "note": "",
            }
            try:
                with self._may_violate(conn):
                    alarm_id = _new_id(conn.execute(_INSERT_ALARM, values))
            except IntegrityError:  # another gateway on the same store opened it in the meantime: a repeat
                return _alarm(conn.execute(_COUNT_ALARM_REPEAT, params).mappings().one()), False
            self._write_history(
                conn,
                _INSERT_ALARM_TRANSITION,
                {
                    "alarm_id": alarm_id,
                    "at": now,
                    "action": "raise",
                    "from_state": None,
                    "to_state": "open",
                    "actor": "device",
                    "note": "",
                },
            )
            return _alarm({"id": alarm_id, **_as_read(values)}), True

    def alarm_cleared_by_device(self, device_id: str, now: datetime) -> AlarmRecord | None:
        """The detector stopped sounding: recorded on the open alarm; only a person closes it."""
        with self._tx() as conn:
            params = {"match_device_id": device_id, "device_cleared_at": now}
            row = conn.execute(_UPDATE_OPEN_ALARM, params).mappings().first()
            return None if row is None else _alarm(row)

    def transition_alarm(
        self,
        alarm_id: int,
        action: AlarmAction,
        *,
        actor: str,
        now: datetime,
        outcome: AlarmOutcome | None = None,
        note: str = "",
        fatal: bool = False,
        high_impact: bool = False,
    ) -> tuple[AlarmRecord, FireRecord | None]:
        """One alarm step. Closing as a real fire also records the fire (it counts toward Y15/R7)."""
        with self._tx() as conn:
            current = self._alarm(conn, alarm_id)
            target = step_alarm(current.state, action, outcome)
            values: dict[str, Any] = {"state": target.value}
            stamp = {
                AlarmAction.ACKNOWLEDGE: "acknowledged_at",
                AlarmAction.DISPATCH: "dispatched_at",
                AlarmAction.ON_SCENE: "on_scene_at",
                AlarmAction.CLOSE: "closed_at",
            }[action]
            values[stamp] = now
            if outcome is not None:
                values["outcome"] = outcome.value
            if note:
                values["note"] = note
            row = conn.execute(_UPDATE_ALARM, {"match_id": alarm_id, **values}).mappings().one()
            self._write_history(
                conn,
                _INSERT_ALARM_TRANSITION,
                {
                    "alarm_id": alarm_id,
                    "at": now,
                    "action": action.value,
                    "from_state": current.state.value,
                    "to_state": target.value,
                    "actor": actor,
                    "note": note,
                },
            )
            fire = None
            if outcome is AlarmOutcome.REAL_FIRE:
                fire = self._add_fire(
                    conn,
                    estate_id=current.estate_id,
                    occurred_at=current.raised_at,
                    fatal=fatal,
                    high_impact=high_impact,
                    description=note or f"confirmed fire, alarm {alarm_id} from {current.device_id}",
                    recorded_by=actor,
                    now=now,
                    alarm_id=alarm_id,
                )
            return _alarm(row), fire

    def _alarm(self, conn: Connection, alarm_id: int) -> AlarmRecord:
        row = conn.execute(_ALARM_BY_ID, {"match_id": alarm_id}).mappings().first()
        if row is None:
            raise NotFound(f"no alarm {alarm_id}")
        return _alarm(row)

    def alarm(self, alarm_id: int) -> AlarmRecord:
        with self._tx() as conn:
            return self._alarm(conn, alarm_id)

    def alarm_history(self, alarm_id: int) -> list[TransitionRecord]:
        with self._tx() as conn:
            self._alarm(conn, alarm_id)
            self._flush_history()
            return _history(conn, alarm_transitions, alarm_transitions.c.alarm_id, alarm_id, "note")

    def alarms(
        self,
        *,
        estate_ids: Sequence[str] | None = None,
        open_only: bool = False,
        device_id: str | None = None,
        since: datetime | None = None,
        limit: int = 500,
    ) -> list[AlarmRecord]:
        query = select(alarms)
        if estate_ids is not None:
            query = query.where(alarms.c.estate_id.in_(list(estate_ids)))
        if open_only:
            query = query.where(alarms.c.closed_at.is_(None))
        if device_id is not None:
            query = query.where(alarms.c.device_id == device_id)
        if since is not None:
            query = query.where(alarms.c.received_at >= since)
        with self._tx() as conn:
            rows = conn.execute(query.order_by(alarms.c.id.desc()).limit(limit)).mappings()
            return [_alarm(r) for r in rows]

    # -- grades and signals ----------------------------------------------------------------------------

    def record_grade(self, values: dict[str, Any]) -> int:
        with self._tx() as conn:
            return _new_id(conn.execute(_INSERT_GRADE, values))

    def grade_history(
        self, estate_id: str, *, since: datetime | None = None, limit: int = 1000
    ) -> list[GradeChangeRecord]:
        query = select(grade_changes).where(grade_changes.c.estate_id == estate_id)
        if since is not None:
            query = query.where(grade_changes.c.at >= since)
        query = query.order_by(grade_changes.c.id.desc()).limit(limit)
        with self._tx() as conn:
            return [GradeChangeRecord(**dict(r)) for r in conn.execute(query).mappings()]

    def latest_grades(self) -> dict[str, GradeChangeRecord]:
        latest = select(func.max(grade_changes.c.id)).group_by(grade_changes.c.estate_id).scalar_subquery()
        with self._tx() as conn:
            rows = conn.execute(select(grade_changes).where(grade_changes.c.id.in_(latest))).mappings()
            return {r["estate_id"]: GradeChangeRecord(**dict(r)) for r in rows}

    def record_signals(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            with self._tx() as conn:
                conn.execute(_INSERT_SIGNALS, list(rows))

    def signal_history(self, device_id: str, limit: int = 200) -> list[SignalRecord]:
        query = (
            select(signal_changes)
            .where(signal_changes.c.device_id == device_id)
            .order_by(signal_changes.c.id.desc())
            .limit(limit)
        )
        with self._tx() as conn:
            return [
                SignalRecord(**{k: v for k, v in dict(r).items() if k != "id"})
                for r in conn.execute(query).mappings()
            ]

    def counts(self) -> dict[str, int]:
        """Row counts per table (for tests and the summary)."""
        with self._tx() as conn:
            return {
                t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in metadata.sorted_tables
            }


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - every table here has an integer primary key
        raise RuntimeError("insert returned no primary key")
    return int(key[0])


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
