"""The embedded telemetry store: SQLite, so that ``firegw demo`` and small sites need no database server.

One table, one row per point, tags and fields as JSON text (SQLite's JSON functions can filter on them).
Written in WAL mode with ``synchronous=NORMAL``: a batch is one transaction (one ``executemany``), readers
never block the writer, and a power loss can lose at most the last transactions, never corrupt the file.
Writes run in a worker thread so the event loop keeps ingesting meanwhile.

This is not the production path: it keeps no retention and its queries are simple. Use InfluxDB (with the
durable buffer) when dashboards need history at scale.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path

from gateway.ingest.sinks.base import FieldValue, Point, SinkError, already_committed

SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    measurement TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    tags TEXT NOT NULL,
    fields TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS points_measurement_time ON points (measurement, time_ns);
-- The web UI's charts and device pages read one device at a time (gateway/ingest/telemetry_query.py).
CREATE INDEX IF NOT EXISTS points_device_time ON points (json_extract(tags, '$.device'), time_ns);
"""


class SqliteSink:
    """Points into a local SQLite file (see the module docstring)."""

    name = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the worker threads, serialised by a lock (sqlite3 objects are not safe
        # for concurrent use, and one writer is all SQLite allows anyway).
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" + SCHEMA)
        self.points_written = 0

    def write_sync(self, points: list[Point]) -> None:
        """Store a batch in one transaction (blocking)."""
        dumps = json.dumps
        rows = [
            (
                p.measurement,
                p.time_ns,
                dumps(p.tags, ensure_ascii=False, separators=(",", ":"), sort_keys=True),
                dumps(p.fields, ensure_ascii=False, separators=(",", ":")),
            )
            for p in points
        ]
        with self._lock:
            try:
                with self._db:
                    self._db.executemany(
                        "INSERT INTO points (measurement, time_ns, tags, fields) VALUES (?, ?, ?, ?)", rows
                    )
            except sqlite3.OperationalError as exc:  # locked by another process, disk full, read-only
                raise SinkError(f"SQLite {self.path}: {exc}", retryable=True) from exc
            self.points_written += len(rows)

    async def write(self, points: list[Point]) -> None:
        if points:
            await asyncio.to_thread(self.write_sync, points)

    def count(self, measurement: str | None = None) -> int:
        """Number of points stored, in one measurement or in all."""
        with self._lock:
            if measurement is None:
                row = self._db.execute("SELECT COUNT(*) FROM points").fetchone()
            else:
                row = self._db.execute(
                    "SELECT COUNT(*) FROM points WHERE measurement = ?", (measurement,)
                ).fetchone()
        return int(row[0])

    def latest(
        self, measurement: str, tag_filter: dict[str, str] | None = None, limit: int = 10
    ) -> list[Point]:
        """The newest points of a measurement (newest first), optionally only those with the given tags."""
        sql = "SELECT measurement, time_ns, tags, fields FROM points WHERE measurement = ?"
        params: list[str | int] = [measurement]
        for key, value in (tag_filter or {}).items():
            sql += " AND json_extract(tags, ?) = ?"
            params += [f'$."{key}"', value]
        sql += " ORDER BY time_ns DESC LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        result: list[Point] = []
        for name, time_ns, tags, fields in rows:
            decoded: dict[str, FieldValue] = json.loads(fields)
            result.append(Point(name, json.loads(tags), decoded, int(time_ns)))
        return result

    def committed(self) -> asyncio.Future[None]:
        return already_committed()  # ``write`` returned once the points were stored

    async def close(self) -> None:
        with self._lock:
            self._db.close()
