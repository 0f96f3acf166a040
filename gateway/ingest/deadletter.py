"""The dead-letter store: every rejected input with its raw bytes, the reason and what to fix.

``add`` never blocks and never raises (it is called from the ingest hot path); entries are written to SQLite
in batches by ``run``. The table is capped at ``max_rows``: beyond it the oldest rows are deleted and the
number deleted is counted, so the store cannot fill the disk during a flood of garbage.

Logging does not flood either: the first reject of each reason is logged in full, then one summary line per
reason per ``log_interval_s``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    device_id TEXT,
    topic TEXT,
    payload BLOB
);
CREATE INDEX IF NOT EXISTS dead_letters_device ON dead_letters (device_id, id);
CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters (reason, id);
"""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    received_at: datetime
    source: str
    reason: str
    detail: str
    device_id: str | None
    topic: str | None
    payload: bytes | None


class DeadLetterStore:
    def __init__(
        self,
        path: str | Path,
        *,
        max_rows: int = 100_000,
        max_pending: int = 50_000,
        flush_interval_s: float = 0.5,
        log_interval_s: float = 60.0,
    ) -> None:
        self.path = Path(path)
        self.max_rows = max_rows
        self.max_pending = max_pending
        self.flush_interval_s = flush_interval_s
        self.log_interval_s = log_interval_s
        self._pending: list[DeadLetter] = []
        self._flush_lock = threading.Lock()
        self.stored = 0
        self.evicted = 0  # deleted because the table exceeded max_rows
        self.overflowed = (
            0  # not stored because the writer fell max_pending behind (still counted as rejects)
        )
        self._logged_reasons: set[str] = set()
        self._since_log: Counter[str] = Counter()
        self._last_log = time.monotonic()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" + SCHEMA)

    def add(
        self,
        *,
        source: str,
        reason: str,
        detail: str,
        device_id: str | None = None,
        topic: str | None = None,
        payload: bytes | None = None,
    ) -> None:
        if len(self._pending) >= self.max_pending:
            self.overflowed += 1
        else:
            self._pending.append(
                DeadLetter(datetime.now(UTC), source, reason, detail, device_id, topic, payload)
            )
        self._log(reason, detail, device_id, topic)

    def _log(self, reason: str, detail: str, device_id: str | None, topic: str | None) -> None:
        if reason not in self._logged_reasons:
            self._logged_reasons.add(reason)
            log.warning(
                "rejected input (%s) device=%s topic=%s: %s "
                "[further '%s' rejects are summarised every %.0f s]",
                reason,
                device_id or "-",
                topic or "-",
                detail,
                reason,
                self.log_interval_s,
            )
            return
        self._since_log[reason] += 1
        now = time.monotonic()
        if now - self._last_log >= self.log_interval_s:
            summary = ", ".join(f"{r}={n}" for r, n in self._since_log.most_common())
            log.warning("rejected inputs in the last %.0f s: %s", now - self._last_log, summary)
            self._since_log.clear()
            self._last_log = now

    def flush(self) -> int:
        """Write pending entries; returns how many were written. Safe from any thread (``run`` flushes from
        a worker thread, ``Pipeline.committed`` from the event loop)."""
        if not self._pending:
            return 0
        with self._flush_lock:
            return self._flush_locked()

    def _flush_locked(self) -> int:
        if not self._pending:
            return 0
        batch, self._pending = self._pending, []
        rows = [
            (d.received_at.isoformat(), d.source, d.reason, d.detail, d.device_id, d.topic, d.payload)
            for d in batch
        ]
        with self._db:
            self._db.executemany(
                "INSERT INTO dead_letters (received_at, source, reason, detail, device_id, topic, payload)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self.stored += len(rows)
            (max_id,) = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM dead_letters").fetchone()
            cutoff = max_id - self.max_rows
            if cutoff > 0:
                deleted = self._db.execute("DELETE FROM dead_letters WHERE id <= ?", (cutoff,)).rowcount
                self.evicted += deleted
        return len(rows)

    async def run(self) -> None:
        """Flush periodically until cancelled; flushes what is left on the way out."""
        try:
            while True:
                await asyncio.sleep(self.flush_interval_s)
                if self._pending:
                    await asyncio.to_thread(self.flush)
        finally:
            self.flush()

    def recent(
        self, *, limit: int = 50, device_id: str | None = None, reason: str | None = None
    ) -> list[DeadLetter]:
        self.flush()
        query = "SELECT received_at, source, reason, detail, device_id, topic, payload FROM dead_letters"
        where, args = [], []
        if device_id is not None:
            where.append("device_id = ?")
            args.append(device_id)
        if reason is not None:
            where.append("reason = ?")
            args.append(reason)
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY id DESC LIMIT ?"
        rows = self._db.execute(query, (*args, limit)).fetchall()
        return [DeadLetter(datetime.fromisoformat(r[0]), r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]

    def count(self, reason: str | None = None) -> int:
        self.flush()
        if reason is None:
            (n,) = self._db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()
        else:
            (n,) = self._db.execute(
                "SELECT COUNT(*) FROM dead_letters WHERE reason = ?", (reason,)
            ).fetchone()
        return int(n)

    def close(self) -> None:
        self.flush()
        self._db.close()
