"""The connection to the hazard store's database, and the transactions every repository shares.

``sqlite:///path`` (embedded default, one gateway) or ``postgresql+psycopg://user:pass@host/db`` (one store
shared by many gateways). Every change happens in one transaction that is checked before it writes: a refused
transition raises ``TransitionError`` (or ``NotFound``) and leaves the store exactly as it was.

Calls are synchronous and short (one small transaction each, or a share of the caller's ``batch``). The
gateway calls them from its event loop: hazard and alarm changes are rare next to telemetry, and a single
writer keeps SQLite free of lock contention. The repositories (``hazards``, ``alarms``, ``incidents``,
``history``) take a ``Database`` and use only ``tx``, ``may_violate`` and ``write_history``.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Insert, create_engine, event, func, inspect, select, text
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.store.tables import metadata

#: The PostgreSQL channel on which a store announces that hazards, complaints or fires changed
#: (``announce_change``); the payload is the announcing ``Database.origin``. gateway/store/listen.py listens.
CHANGES_CHANNEL = "firegw_store_changes"
_NOTIFY = text("SELECT pg_notify(:channel, :origin)")


class NotFound(LookupError):
    """No such hazard, alarm or estate; the message names what was asked for."""


class BatchFailed(RuntimeError):
    """A call inside a ``Database.batch`` whose transaction already failed and was rolled back."""


@dataclass(slots=True)
class Batch:
    """The transaction that the calls made inside ``Database.batch()`` share."""

    #: Opened by the first call that needs it (a batch without hazard or alarm changes costs nothing).
    connection: Connection | None = None
    #: The database error that ended the batch: everything written in it was rolled back.
    error: Exception | None = None
    #: Transition rows, per insert statement, written together before the commit (``write_history``).
    history: dict[Insert, list[dict[str, Any]]] = field(default_factory=dict)
    #: Hazards, complaints or fires changed in it: one NOTIFY before the commit (``announce_change``).
    announce: bool = False

    @property
    def failed(self) -> bool:
        return self.error is not None


class Database:
    """The engine, the tables created on it, and the calling thread's batch."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)
        _add_missing_columns(self.engine)
        # create_all adds tables, not the indexes a later version added to an existing table.
        for table in metadata.sorted_tables:
            for index in table.indexes:
                index.create(self.engine, checkfirst=True)
        #: The batch of the calling thread, if any (report threads read the store while the loop writes).
        self._local = threading.local()
        #: Names this store's own change announcements, which its listener skips (``announce_change``).
        self.origin = uuid.uuid4().hex
        self.announces = self.engine.dialect.name == "postgresql"

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
                            self.flush_history()
                            if batch.announce:
                                batch.connection.execute(_NOTIFY, self._notify_params())
                            batch.connection.commit()
                    except SQLAlchemyError as exc:
                        batch.error = exc
                    finally:
                        batch.connection.close()  # rolls back whatever was not committed
            finally:
                self._local.batch = None

    def write_history(self, conn: Connection, statement: Insert, row: dict[str, Any]) -> None:
        """Insert a transition row: at once, or, inside a ``batch``, with the batch's other transitions in one
        statement before it commits (each would otherwise cost about as much as the change it records)."""
        batch: Batch | None = getattr(self._local, "batch", None)
        if batch is None:
            conn.execute(statement, row)
        else:
            batch.history.setdefault(statement, []).append(row)

    def flush_history(self) -> None:
        """Write the pending transitions of this thread's batch: before it commits or a history is read."""
        batch: Batch | None = getattr(self._local, "batch", None)
        if batch is not None and batch.connection is not None:
            for statement, rows in batch.history.items():
                batch.connection.execute(statement, rows)
            batch.history.clear()

    def announce_change(self, conn: Connection) -> None:
        """Hazards, complaints or fires changed on ``conn``: on PostgreSQL, tell the other gateways on this
        store (``NOTIFY`` on ``CHANGES_CHANNEL``, delivered when the transaction commits and never if it rolls
        back; a ``batch`` sends one, before its commit), so that their ``StoreSync`` reads the change at once
        instead of at its next poll. Repositories call it after each such write; SQLite has no one to tell."""
        if not self.announces:
            return
        batch: Batch | None = getattr(self._local, "batch", None)
        if batch is None:
            conn.execute(_NOTIFY, self._notify_params())
        else:
            batch.announce = True

    def _notify_params(self) -> dict[str, str]:
        return {"channel": CHANGES_CHANNEL, "origin": self.origin}

    @contextmanager
    def may_violate(self, conn: Connection) -> Iterator[None]:
        """Around a statement whose ``IntegrityError`` the caller handles: on PostgreSQL a failed statement
        aborts the whole transaction (a whole ``batch``), so the statement gets a savepoint of its own; on
        SQLite it only undoes itself, and a savepoint would cost more than the statement."""
        if self.engine.dialect.name == "sqlite":
            yield
        else:
            with conn.begin_nested():
                yield

    @contextmanager
    def tx(self) -> Iterator[Connection]:
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

    def counts(self) -> dict[str, int]:
        """Row counts per table (for tests and the summary)."""
        with self.tx() as conn:
            return {
                t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in metadata.sorted_tables
            }


def new_id(result: CursorResult[Any]) -> int:
    """The id an insert gave its row."""
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - every table here has an integer primary key
        raise RuntimeError("insert returned no primary key")
    return int(key[0])


def _add_missing_columns(engine: Engine) -> None:
    """Add the nullable columns a later version added to an existing table (``create_all`` adds tables, not
    columns). Only nullable columns without a server default can be added this way, on SQLite and PostgreSQL
    alike, which is the rule for new columns of this schema: a column an older gateway does not know is
    simply left empty by it."""
    inspector = inspect(engine)
    existing_tables = set(inspector.get_table_names())
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if table.name not in existing_tables:
                continue
            have = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in have:
                    continue
                if not column.nullable:
                    raise RuntimeError(
                        f"the store's table {table.name} lacks the column {column.name}, which cannot be "
                        "added to existing rows (not nullable); new columns of this schema must be nullable"
                    )
                kind = column.type.compile(dialect=engine.dialect)
                conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
