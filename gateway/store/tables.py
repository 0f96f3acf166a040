"""The hazard store's tables: what is kept, and the rules the schema itself enforces.

- one open hazard per device and signal (a partial unique index on ``(device_id, signal)`` where the hazard
  is not closed), so a flapping sensor cannot flood the list;
- one open alarm per device (the same kind of index);
- nothing is deleted and transitions are only ever inserted.

SQLAlchemy 2 Core, so the same tables exist on SQLite (embedded default, one gateway) and PostgreSQL (one
store shared by many gateways). The monthly report reads these tables directly for its aggregate queries.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
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
)


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
    #: The party (gateway/store/parties.py) it was dispatched to; ``responsible`` names it in words.
    Column("party_id", Integer),
    #: The hazard whose re-check (复查) failed and opened this one (the same problem, found back).
    Column("reopened_from", Integer),
    #: When the gateway announced the re-check as due (to the to-do lists and the party), once.
    Column("recheck_announced_at", UtcDateTime),
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
    #: Raised inside this maintenance window: shown pre-marked as a test, never dropped.
    Column("window_id", Integer),
    #: Closed as a false alarm: why (``rules.lifecycle.FalseAlarmCause``; ``other`` with a text). A fault is
    #: ``device_fault``. Closed as a real fire: the answers, also on the fire it recorded.
    Column("cause", String(32)),
    Column("cause_text", Text),
    Column("fatal", Boolean),
    Column("high_impact", Boolean),
    #: The duty overview's trend of alarms per hour (gateway/store/trends.py) reads the last hours.
    Index("alarms_by_arrival", "received_at"),
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
    #: What a close recorded besides the outcome (cause, cause_text, fatal, high_impact).
    Column("data", JSON),
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
    #: The maintenance window the device was in (gateway/store/windows.py): recorded, no hazard filed.
    Column("window_id", Integer),
    Index("signal_changes_by_device", "device_id", "at"),
    #: The duty overview's trend of devices offline per hour (gateway/store/trends.py) reads the last hours.
    Index("signal_changes_by_time", "at"),
    Index(
        "signal_changes_by_window",
        "window_id",
        sqlite_where=Column("window_id").is_not(None),
        postgresql_where=Column("window_id").is_not(None),
    ),
)

#: Each device's rule state (``DeviceRules.checkpoint``: last heard, hold timers), written every few seconds
#: by the active gateway for the devices that changed, and read by a gateway that takes over or starts again.
device_rule_checkpoints = Table(
    "device_rule_checkpoints",
    metadata,
    Column("device_id", String(128), primary_key=True),
    #: Gateway-clock time of the write.
    Column("at", UtcDateTime, nullable=False),
    Column("state", JSON, nullable=False),
)
