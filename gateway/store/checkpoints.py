"""Device rule checkpoints: one row per device, the latest ``DeviceRules.checkpoint()`` of it.

The rule engine writes the devices that changed every few seconds, from a worker thread (``save``: an upsert
of many rows per statement), and reads every row once at start-up or takeover (``all``). A row is only ever
replaced by one written at the same time or later, so a gateway that lost its lease and writes late cannot put
a device back to an older state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite

from gateway.store.database import Database
from gateway.store.tables import device_rule_checkpoints

#: Rows per statement and per transaction: short enough that the event loop's own writes to a SQLite store
#: never wait long for the lock, few enough statements that 10,000 devices take a handful.
CHUNK_ROWS = 1000


def _upsert(dialect: str) -> Insert:
    """``INSERT ... ON CONFLICT (device_id) DO UPDATE``, only by a row written at the same time or later."""
    table = device_rule_checkpoints
    if dialect == "postgresql":
        pg = postgresql.insert(table)
        return pg.on_conflict_do_update(
            index_elements=[table.c.device_id],
            set_={"at": pg.excluded.at, "state": pg.excluded.state},
            where=table.c.at <= pg.excluded.at,
        )
    lite = sqlite.insert(table)
    return lite.on_conflict_do_update(
        index_elements=[table.c.device_id],
        set_={"at": lite.excluded.at, "state": lite.excluded.state},
        where=table.c.at <= lite.excluded.at,
    )


class CheckpointRepository:
    """The latest rule state of each device (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._upsert = _upsert(db.engine.dialect.name)

    def save(self, states: Mapping[str, Mapping[str, Any]], at: datetime) -> int:
        """Insert or replace the checkpoint of every device in ``states`` (device id -> checkpoint data): one
        statement with ``CHUNK_ROWS`` rows at a time, each in a short transaction of its own. Returns how many
        rows were given. Called from the engine's checkpoint thread (so never inside its ``batch``)."""
        rows = [{"device_id": device_id, "at": at, "state": state} for device_id, state in states.items()]
        for start in range(0, len(rows), CHUNK_ROWS):
            with self._db.tx() as conn:
                conn.execute(self._upsert, rows[start : start + CHUNK_ROWS])
        return len(rows)

    def all(self) -> dict[str, tuple[datetime, dict[str, Any]]]:
        """Every device's checkpoint: device id -> (when written, checkpoint data)."""
        table = device_rule_checkpoints
        with self._db.tx() as conn:
            rows = conn.execute(select(table.c.device_id, table.c.at, table.c.state))
            return {device_id: (at, state) for device_id, at, state in rows}
