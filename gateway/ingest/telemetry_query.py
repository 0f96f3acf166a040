"""Reading telemetry back for the web UI's charts and device pages: from SQLite or InfluxDB.

The gateway writes through ``gateway/ingest/sinks``; this reads what was written, so a chart shows what is
stored (not what passed through memory). Charts ask for one field of one device over a window, downsampled
to a bounded number of points (the mean per time bucket) so a month of minute readings stays a light response.

- SQLite (embedded default): the ``points`` table, filtered on the device tag (an expression index keeps
  that cheap), bucketed in Python.
- InfluxDB 1.x: InfluxQL over ``/query`` with ``GROUP BY time(...)``.
- InfluxDB 2.x/3.x: the same InfluxQL through the v1 compatibility ``/query`` endpoint with the token (the
  bucket needs a DBRP mapping, which deploy/influxdb/init-dbrp.sh creates; the dashboards need it too).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from gateway.config import GatewayConfig, InfluxV1, InfluxV2, SqliteStorage


@dataclass(frozen=True, slots=True)
class StoredPoint:
    measurement: str
    time: datetime
    fields: dict[str, Any]
    #: The event type of a ``device_event`` point, the signal of a ``device_signal`` point (their tags).
    event: str = ""
    signal: str = ""


#: One measurement, or several read as one series (a field that readings and events both carry).
Sources = str | tuple[str, ...]


def _names(sources: Sources) -> tuple[str, ...]:
    return (sources,) if isinstance(sources, str) else sources


class TelemetryReader(Protocol):
    async def series(
        self, device_id: str, sources: Sources, field: str, start: datetime, end: datetime, buckets: int
    ) -> list[tuple[datetime, float]]: ...

    async def recent(self, device_id: str, limit: int) -> list[StoredPoint]: ...


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000) * 1000


def _bucketed(
    rows: list[tuple[int, float]], start_ns: int, end_ns: int, buckets: int
) -> list[tuple[datetime, float]]:
    if not rows:
        return []
    width = max(1, (end_ns - start_ns) // max(1, buckets))
    sums: dict[int, tuple[float, int]] = {}
    for t, v in rows:
        b = (t - start_ns) // width
        s, n = sums.get(b, (0.0, 0))
        sums[b] = (s + v, n + 1)
    return [
        (datetime.fromtimestamp((start_ns + b * width + width // 2) / 1e9, UTC), s / n)
        for b, (s, n) in sorted(sums.items())
    ]


class SqliteReader:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        return db

    def _series(
        self, device_id: str, sources: Sources, field: str, start: datetime, end: datetime, buckets: int
    ) -> list[tuple[datetime, float]]:
        start_ns, end_ns = _ns(start), _ns(end)
        names = _names(sources)
        marks = ", ".join("?" for _ in names)
        with self._connect() as db:
            rows = db.execute(
                "SELECT time_ns, json_extract(fields, ?) FROM points "
                f"WHERE json_extract(tags, '$.device') = ? AND measurement IN ({marks}) "
                "AND time_ns BETWEEN ? AND ? "
                "ORDER BY time_ns",
                (f"$.{field}", device_id, *names, start_ns, end_ns),
            ).fetchall()
        values = [
            (int(t), float(v)) for t, v in rows if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        return _bucketed(values, start_ns, end_ns, buckets)

    def _recent(self, device_id: str, limit: int) -> list[StoredPoint]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT measurement, time_ns, fields, json_extract(tags, '$.event'), "
                "json_extract(tags, '$.signal') FROM points "
                "WHERE json_extract(tags, '$.device') = ? ORDER BY time_ns DESC LIMIT ?",
                (device_id, limit),
            ).fetchall()
        return [
            StoredPoint(m, datetime.fromtimestamp(t / 1e9, UTC), json.loads(f), e or "", s or "")
            for m, t, f, e, s in rows
        ]

    async def series(
        self, device_id: str, sources: Sources, field: str, start: datetime, end: datetime, buckets: int
    ) -> list[tuple[datetime, float]]:
        if not self.path.exists():
            return []
        return await asyncio.to_thread(self._series, device_id, sources, field, start, end, buckets)

    async def recent(self, device_id: str, limit: int) -> list[StoredPoint]:
        if not self.path.exists():
            return []
        return await asyncio.to_thread(self._recent, device_id, limit)


class InfluxQLReader:
    """InfluxDB 1.x (``/query``) or 2.x/3.x through the v1 compatibility endpoint (token auth)."""

    def __init__(
        self, url: str, database: str, *, headers: dict[str, str] | None = None, auth: Any = None
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.headers = headers or {}
        self.auth = auth

    async def _query(self, q: str) -> list[dict[str, Any]]:
        params = {"db": self.database, "q": q, "epoch": "ns"}
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout, headers=self.headers, auth=self.auth) as http,
            http.get(f"{self.url}/query", params=params) as response,
        ):
            body = await response.json(content_type=None)
        out: list[dict[str, Any]] = []
        for statement in body.get("results", []):
            if "error" in statement:
                raise RuntimeError(statement["error"])
            for series in statement.get("series", []):
                cols = series["columns"]
                out += [
                    {"_measurement": series["name"], **dict(zip(cols, v, strict=True))}
                    for v in series["values"]
                ]
        return out

    @staticmethod
    def _quote(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    async def series(
        self, device_id: str, sources: Sources, field: str, start: datetime, end: datetime, buckets: int
    ) -> list[tuple[datetime, float]]:
        width_s = max(1, int((end - start).total_seconds() // max(1, buckets)))
        measurements = ", ".join(f'"{name}"' for name in _names(sources))
        q = (
            f'SELECT mean("{field}") AS v, count("{field}") AS n FROM {measurements} '
            f'WHERE "device" = {self._quote(device_id)} '
            f"AND time >= {_ns(start)} AND time <= {_ns(end)} GROUP BY time({width_s}s) fill(none)"
        )
        # Several measurements come back as a series each: one mean per bucket, weighted by their counts.
        sums: dict[int, tuple[float, float]] = {}
        for r in await self._query(q):
            if r.get("v") is not None:
                total, count = sums.get(r["time"], (0.0, 0.0))
                n = float(r.get("n") or 1)
                sums[r["time"]] = (total + float(r["v"]) * n, count + n)
        return [
            (datetime.fromtimestamp(t / 1e9, UTC), total / count)
            for t, (total, count) in sorted(sums.items())
        ]

    async def recent(self, device_id: str, limit: int) -> list[StoredPoint]:
        device = self._quote(device_id)
        q = f'SELECT * FROM /.*/ WHERE "device" = {device} ORDER BY time DESC LIMIT {int(limit)}'
        rows = await self._query(q)
        tag_keys = {
            "device",
            "kind",
            "estate",
            "building",
            "district",
            "street",
            "event",
            "signal",
            "time",
            "_measurement",
        }
        points = [
            StoredPoint(
                r["_measurement"],
                datetime.fromtimestamp(r["time"] / 1e9, UTC),
                {k: v for k, v in r.items() if k not in tag_keys and v is not None},
                r.get("event") or "",
                r.get("signal") or "",
            )
            for r in rows
        ]
        points.sort(key=lambda p: p.time, reverse=True)
        return points[:limit]


def reader_for(config: GatewayConfig) -> TelemetryReader:
    storage = config.storage
    if isinstance(storage, SqliteStorage):
        return SqliteReader(storage.path)
    if isinstance(storage, InfluxV1):
        auth = None
        if storage.username and storage.password is not None:
            auth = aiohttp.BasicAuth(storage.username, storage.password.get_secret_value())
        return InfluxQLReader(storage.url, storage.database, auth=auth)
    if isinstance(storage, InfluxV2):
        headers = {"Authorization": f"Token {storage.token.get_secret_value()}"}
        return InfluxQLReader(storage.url, storage.bucket, headers=headers)
    raise TypeError(f"no reader for {storage!r}")  # pragma: no cover
