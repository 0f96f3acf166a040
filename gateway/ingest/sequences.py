"""Each device's last message counter, kept on disk so that a gap across a restart is seen.

Devices number their messages (``seq``); a jump is messages lost on the way (the carrier's network, a
broker that dropped them). Held only in memory, the last number of every device was forgotten at each
restart, so messages lost around a crash were never counted. Here the numbers of the devices a batch
touched are written (one small SQLite upsert per batch, on a worker thread) before that batch is
acknowledged to the broker (``Pipeline.committed``): after a crash, the number on disk is never older
than what the broker considers delivered, and the first message after the restart shows any gap exactly.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS device_seq (
    device_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
"""


class SequenceStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" + SCHEMA)
        self._lock = threading.Lock()

    def load(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT device_id, seq FROM device_seq").fetchall())

    def save(self, latest: Mapping[str, int]) -> None:
        """Keep each device's latest number (blocking: the pipeline calls it off the loop)."""
        if not latest:
            return
        with self._lock, self._db:
            self._db.executemany(
                "INSERT INTO device_seq (device_id, seq) VALUES (?, ?)"
                " ON CONFLICT (device_id) DO UPDATE SET seq = excluded.seq",
                list(latest.items()),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
