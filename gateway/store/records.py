"""What the store hands its callers: frozen records, built from rows or from the values just written.

Callers never see a SQLAlchemy row; these are the store's whole vocabulary outside the package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Table, select

from rules.lifecycle import AlarmOutcome, AlarmState, FalseAlarmCause, HazardState


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
    #: The party it was dispatched to (gateway/store/parties.py); None before dispatch or for old records.
    party_id: int | None = None
    #: The hazard whose failed re-check opened this one.
    reopened_from: int | None = None
    recheck_announced_at: datetime | None = None

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
    #: Raised inside this maintenance window (gateway/store/windows.py): a test, shown as one.
    window_id: int | None = None
    #: The false-alarm cause (a fault: ``device_fault``) and its text, or a real fire's answers.
    cause: FalseAlarmCause | None = None
    cause_text: str = ""
    fatal: bool | None = None
    high_impact: bool | None = None

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
    #: counted / voided / merged (into ``merged_into``): only counted complaints count toward the grade.
    state: str = "counted"
    merged_into: int | None = None


class HazardVersion(NamedTuple):
    """Which hazard changed when (``HazardRepository.updated_since``)."""

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
    #: The maintenance window the device was in: recorded, no hazard filed from it.
    window_id: int | None = None


def as_read(values: Mapping[str, Any]) -> dict[str, Any]:
    """A row's values as reading the row back would give them (times in UTC: the store keeps UTC), so that
    a row just inserted need not be read back. Every column but the id must be in ``values``."""
    return {k: v.astimezone(UTC) if isinstance(v, datetime) else v for k, v in values.items()}


def hazard_from_row(row: Mapping[Any, Any]) -> HazardRecord:
    data = dict(row)
    data["state"] = HazardState(data["state"])
    data["criteria"] = list(data["criteria"])
    return HazardRecord(**data)


def transitions(
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


def alarm_from_row(row: Mapping[Any, Any]) -> AlarmRecord:
    data = dict(row)
    data["state"] = AlarmState(data["state"])
    data["outcome"] = AlarmOutcome(data["outcome"]) if data["outcome"] else None
    data["cause"] = FalseAlarmCause(data["cause"]) if data.get("cause") else None
    data["cause_text"] = data.get("cause_text") or ""
    return AlarmRecord(**data)


# -- statements on the rule engine's path ----------------------------------------------------------------
#
# The statements that device events run (a hazard opened or closed itself, an alarm raised or cleared) are
# built once, here, with bind parameters for what varies. SQLAlchemy looks compiled SQL up by a cache key that
# it derives by walking the statement; for a statement built afresh on every call that walk (and building the
# statement) cost several times the SQL itself, while a prebuilt statement's key is computed once. Nothing is
