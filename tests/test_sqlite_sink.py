"""The embedded SQLite store: batches land in one transaction, values keep their types, queries filter."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from gateway.ingest.sinks.base import Point
from gateway.ingest.sinks.sqlite import SqliteSink

T0 = 1763856000000000000


def reading(i: int, device: str = "SD-1") -> Point:
    return Point(
        "smoke_detector", {"device": device, "estate": "徐汇"}, {"battery": 90.0 - i, "ok": True}, T0 + i
    )


async def test_batches_are_stored_and_counted(tmp_path: Path) -> None:
    sink = SqliteSink(tmp_path / "t.sqlite")
    try:
        await sink.write([reading(i) for i in range(500)])
        await sink.write([Point("device_event", {"event": "alarm"}, {"count": 1.0}, T0)])
        await sink.write([])
        assert sink.count() == 501
        assert sink.count("smoke_detector") == 500
        assert sink.count("device_event") == 1
        assert sink.count("nothing") == 0
    finally:
        await sink.close()


async def test_latest_filters_by_tag_newest_first_and_keeps_types(tmp_path: Path) -> None:
    sink = SqliteSink(tmp_path / "t.sqlite")
    note = 'He said "火警", a=b \\ done'
    try:
        await sink.write([reading(i, device=f"SD-{i % 2}") for i in range(10)])
        await sink.write([Point("camera", {"device": "CAM 1"}, {"note": note, "n": 7, "conf": 0.93}, T0)])
        latest = sink.latest("smoke_detector", {"device": "SD-1"}, limit=3)
        assert [p.time_ns for p in latest] == [T0 + 9, T0 + 7, T0 + 5]
        assert latest[0].tags == {"device": "SD-1", "estate": "徐汇"}
        assert latest[0].fields == {"battery": 81.0, "ok": True}
        (camera,) = sink.latest("camera")
        assert camera.fields == {"note": note, "n": 7, "conf": 0.93}
        assert type(camera.fields["n"]) is int
        assert type(camera.fields["conf"]) is float
        assert sink.latest("smoke_detector", {"device": "nope"}) == []
    finally:
        await sink.close()


async def test_wal_mode_index_and_concurrent_writers(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    sink = SqliteSink(path)
    try:
        await asyncio.gather(*(sink.write([reading(b * 100 + i) for i in range(100)]) for b in range(20)))
        assert sink.count() == 2000
        with sqlite3.connect(path) as reader:  # a second connection reads while the sink is open
            assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            indexes = {row[1] for row in reader.execute("PRAGMA index_list(points)")}
            assert "points_measurement_time" in indexes
            assert reader.execute("SELECT COUNT(*) FROM points").fetchone()[0] == 2000
    finally:
        await sink.close()


async def test_data_survives_reopen(tmp_path: Path) -> None:
    sink = SqliteSink(tmp_path / "t.sqlite")
    await sink.write([reading(i) for i in range(10)])
    await sink.close()
    again = SqliteSink(tmp_path / "t.sqlite")
    try:
        assert again.count("smoke_detector") == 10
    finally:
        await again.close()
