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

Calls are synchronous and short (one small transaction each). The gateway calls them from its event loop:
hazard and alarm changes are rare next to telemetry, and a single writer keeps SQLite free of lock contention.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import CursorResult, Engine, RowMapping
from sqlalchemy.exc import IntegrityError

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


def _hazard(row: RowMapping) -> HazardRecord:
    data = dict(row)
    data["state"] = HazardState(data["state"])
    data["criteria"] = list(data["criteria"])
    return HazardRecord(**data)


def _open_hazard_query(device_id: str, signal: str) -> Any:
    """The open hazard of one device and signal (at most one: a partial unique index says so)."""
    return select(hazards).where(
        hazards.c.device_id == device_id, hazards.c.signal == signal, hazards.c.closed_at.is_(None)
    )


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


def _alarm(row: RowMapping) -> AlarmRecord:
    data = dict(row)
    data["state"] = AlarmState(data["state"])
    data["outcome"] = AlarmOutcome(data["outcome"]) if data["outcome"] else None
    return AlarmRecord(**data)


# -- the store ---------------------------------------------------------------------------------------------


class HazardStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

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
        with self._tx() as conn:
            existing = conn.execute(_open_hazard_query(device_id, signal)).mappings().first()
            if existing is not None:
                return _hazard(existing), False
            try:
                hazard_id = self._insert_hazard(
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
                conn.rollback()
                return self._open_for(device_id, signal), False
            return self._get(conn, hazard_id), True

    def _open_for(self, device_id: str, signal: str) -> HazardRecord:
        with self._tx() as conn:
            row = conn.execute(_open_hazard_query(device_id, signal)).mappings().one()
            return _hazard(row)

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
            hazard_id = self._insert_hazard(
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
            return self._get(conn, hazard_id)

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
    ) -> int:
        result = conn.execute(
            insert(hazards).values(
                estate_id=estate_id,
                criterion=criteria[0],
                criteria=criteria,
                source=source,
                device_id=device_id,
                signal=signal,
                state=HazardState.REPORTED.value,
                location=location,
                description=description,
                photo=photo,
                reporter=reporter,
                value=value,
                since=since,
                opened_at=now,
                updated_at=now,
                escalations=0,
            )
        )
        hazard_id = _new_id(result)
        conn.execute(
            insert(hazard_transitions).values(
                hazard_id=hazard_id,
                at=now,
                action="report",
                from_state=None,
                to_state=HazardState.REPORTED.value,
                actor=reporter,
                reason=reason,
                data={"photo": photo} if photo else {},
            )
        )
        return hazard_id

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
        from datetime import timedelta

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
            conn.execute(update(hazards).where(hazards.c.id == hazard_id).values(**values))
            data: dict[str, Any] = {}
            if evidence:
                data["evidence"] = evidence
            if responsible:
                data["responsible"] = responsible
            if step.deadline != current.deadline and step.deadline is not None:
                data["deadline"] = step.deadline.isoformat()
            conn.execute(
                insert(hazard_transitions).values(
                    hazard_id=hazard_id,
                    at=now,
                    action=action.value,
                    from_state=current.state.value,
                    to_state=step.state.value,
                    actor=actor,
                    reason=reason,
                    data=data,
                )
            )
            return self._get(conn, hazard_id)

    def _get(self, conn: Connection, hazard_id: int) -> HazardRecord:
        row = conn.execute(select(hazards).where(hazards.c.id == hazard_id)).mappings().first()
        if row is None:
            raise NotFound(f"no hazard {hazard_id}")
        return _hazard(row)

    def hazard(self, hazard_id: int) -> HazardRecord:
        with self._tx() as conn:
            return self._get(conn, hazard_id)

    def hazard_history(self, hazard_id: int) -> list[TransitionRecord]:
        with self._tx() as conn:
            self._get(conn, hazard_id)
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
        self, estate_ids: Sequence[str] | None = None, since: datetime | None = None
    ) -> list[ComplaintRecord]:
        query = select(complaints)
        if estate_ids is not None:
            query = query.where(complaints.c.estate_id.in_(list(estate_ids)))
        if since is not None:
            query = query.where(complaints.c.received_at >= since)
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
        self, estate_ids: Sequence[str] | None = None, since: datetime | None = None
    ) -> list[FireRecord]:
        query = select(fires)
        if estate_ids is not None:
            query = query.where(fires.c.estate_id.in_(list(estate_ids)))
        if since is not None:
            query = query.where(fires.c.occurred_at >= since)
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
            open_row = (
                conn.execute(
                    select(alarms).where(alarms.c.device_id == device_id, alarms.c.closed_at.is_(None))
                )
                .mappings()
                .first()
            )
            if open_row is not None:
                conn.execute(
                    update(alarms).where(alarms.c.id == open_row["id"]).values(repeats=alarms.c.repeats + 1)
                )
                return self._alarm(conn, open_row["id"]), False
            result = conn.execute(
                insert(alarms).values(
                    estate_id=estate_id,
                    device_id=device_id,
                    building_id=building_id,
                    floor=floor,
                    location=location,
                    raised_at=raised_at,
                    received_at=now,
                    state=AlarmState.OPEN.value,
                    repeats=0,
                )
            )
            alarm_id = _new_id(result)
            conn.execute(
                insert(alarm_transitions).values(
                    alarm_id=alarm_id,
                    at=now,
                    action="raise",
                    from_state=None,
                    to_state="open",
                    actor="device",
                )
            )
            return self._alarm(conn, alarm_id), True

    def alarm_cleared_by_device(self, device_id: str, now: datetime) -> AlarmRecord | None:
        """The detector stopped sounding: recorded on the open alarm; only a person closes it."""
        with self._tx() as conn:
            row = (
                conn.execute(
                    select(alarms).where(alarms.c.device_id == device_id, alarms.c.closed_at.is_(None))
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            conn.execute(update(alarms).where(alarms.c.id == row["id"]).values(device_cleared_at=now))
            return self._alarm(conn, row["id"])

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
            conn.execute(update(alarms).where(alarms.c.id == alarm_id).values(**values))
            conn.execute(
                insert(alarm_transitions).values(
                    alarm_id=alarm_id,
                    at=now,
                    action=action.value,
                    from_state=current.state.value,
                    to_state=target.value,
                    actor=actor,
                    note=note,
                )
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
            return self._alarm(conn, alarm_id), fire

    def _alarm(self, conn: Connection, alarm_id: int) -> AlarmRecord:
        row = conn.execute(select(alarms).where(alarms.c.id == alarm_id)).mappings().first()
        if row is None:
            raise NotFound(f"no alarm {alarm_id}")
        return _alarm(row)

    def alarm(self, alarm_id: int) -> AlarmRecord:
        with self._tx() as conn:
            return self._alarm(conn, alarm_id)

    def alarm_history(self, alarm_id: int) -> list[TransitionRecord]:
        with self._tx() as conn:
            self._alarm(conn, alarm_id)
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
            return _new_id(conn.execute(insert(grade_changes).values(**values)))

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
                conn.execute(insert(signal_changes), list(rows))

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
