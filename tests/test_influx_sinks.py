"""InfluxDB sinks and the buffered sink, against a real InfluxDB 1.x wherever one can answer.

- ``InfluxV1Sink`` and ``BufferedSink`` run against the private ``influxd`` from conftest: writes are counted
  back with InfluxQL, outages are real process stops, a rejected batch is a real field type conflict.
- ``InfluxV2Sink`` cannot meet a real InfluxDB 2 here (Debian ships only 1.6, and nothing may be downloaded),
  so it is tested against a small recording HTTP server (see ``Recorder``). What matters on that side is
  what goes over the wire and how status codes are mapped, and both are checked exactly.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from services import InfluxService, free_port
from waiting import wait_until

from gateway.ingest.sinks.base import Point, SinkError
from gateway.ingest.sinks.buffer import DurableBuffer
from gateway.ingest.sinks.buffered import BufferedSink
from gateway.ingest.sinks.influx import InfluxV1Sink, InfluxV2Sink, classify_status
from gateway.ingest.sinks.lineprotocol import encode

T0 = 1763856000000000000


def points(n: int, *, start: int = 0, measurement: str = "telemetry", priority: bool = False) -> list[Point]:
    """``n`` distinct points (distinct timestamps, a few series)."""
    return [
        Point(
            measurement,
            {"device": f"SD-{i % 7}", "estate": "E1"},
            {"battery": 90.0 - i % 10, "smoke": 0.01 * (i % 3)},
            T0 + (start + i) * 1_000_000,
            priority=priority,
        )
        for i in range(n)
    ]


# -- a recording HTTP server ---------------------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int = 0


@dataclass
class Recorder:
    """An HTTP server that records every request and answers with scripted statuses.

    Why a recording server and not a fake client: the sinks are exercised through their real HTTP stacks
    (aiohttp, influxdb-client), and the assertions are on the bytes a real InfluxDB 2 would receive; this
    only replaces the server, because no InfluxDB 2 can be installed on these machines.
    """

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in order, then default_status
    default_status: int = 204
    delay_s: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.statuses.pop(0) if self.statuses else self.default_status
        recorded = Recorded(
            request.method, request.path, dict(request.query), dict(request.headers), body, status
        )
        self.requests.append(recorded)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if status == 204:
            return web.Response(status=204)
        return web.json_response({"code": "scripted", "message": f"scripted status {status}"}, status=status)


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    rec.url = f"http://127.0.0.1:{port}"
    try:
        yield rec
    finally:
        await runner.cleanup()


# -- InfluxV2Sink (recording server) -------------------------------------------------------------------------


async def test_v2_request_is_what_influxdb2_expects(recorder: Recorder) -> None:
    sink = InfluxV2Sink(recorder.url, org="fire-org", bucket="firegw", token="s3cr3t-token")
    batch = [*points(3), Point("m", {"k": "徐汇 区"}, {"s": 'a "q", b'}, T0)]
    try:
        await sink.write(batch)
    finally:
        await sink.close()
    assert len(recorder.requests) == 1
    request = recorder.requests[0]
    assert request.method == "POST"
    assert request.path == "/api/v2/write"
    assert request.query == {"org": "fire-org", "bucket": "firegw", "precision": "ns"}
    assert request.headers["Authorization"] == "Token s3cr3t-token"
    assert request.body == encode(batch)


async def test_v2_write_encoded_sends_the_stored_bytes_unchanged(recorder: Recorder) -> None:
    body = encode(points(5))
    sink = InfluxV2Sink(recorder.url, org="o", bucket="b", token="t")
    try:
        await sink.write_encoded(body, 5)
    finally:
        await sink.close()
    assert recorder.requests[0].body == body


STATUS_CASES = [
    pytest.param(400, False, False, id="400-bad-batch-dead-letter"),
    pytest.param(401, False, True, id="401-credentials-kept"),
    pytest.param(403, False, True, id="403-permission-kept"),
    pytest.param(404, False, True, id="404-no-bucket-kept"),
    pytest.param(413, False, False, id="413-too-large-dead-letter"),
    pytest.param(429, True, True, id="429-retry"),
    pytest.param(500, True, True, id="500-retry"),
    pytest.param(503, True, True, id="503-retry"),
]


def influx_sink(kind: str, url: str, **options: float) -> InfluxV1Sink | InfluxV2Sink:
    """A v1 (database "db") or v2 (org "o", bucket "b", token "t") sink writing to ``url``."""
    if kind == "v1":
        return InfluxV1Sink(url, "db", **options)
    return InfluxV2Sink(url, org="o", bucket="b", token="t", **options)


@pytest.mark.parametrize(("status", "retryable", "keep"), STATUS_CASES)
@pytest.mark.parametrize("kind", ["v1", "v2"])
async def test_status_mapping(
    recorder: Recorder, kind: str, status: int, retryable: bool, keep: bool
) -> None:
    recorder.statuses = [status]
    sink = influx_sink(kind, recorder.url)
    try:
        with pytest.raises(SinkError) as caught:
            await sink.write(points(1))
    finally:
        await sink.close()
    assert (caught.value.retryable, caught.value.keep) == (retryable, keep)
    assert f"HTTP {status}" in str(caught.value)


async def test_v1_request_shape_with_credentials_and_retention_policy(recorder: Recorder) -> None:
    sink = InfluxV1Sink(recorder.url, "fire db", username="gw", password="pa:ss", retention_policy="week")
    batch = points(2)
    try:
        await sink.write(batch)
    finally:
        await sink.close()
    request = recorder.requests[0]
    assert (request.method, request.path) == ("POST", "/write")
    assert request.query == {"db": "fire db", "precision": "ns", "rp": "week"}
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"gw:pa:ss").decode()
    assert request.body == encode(batch)


@pytest.mark.parametrize("kind", ["v1", "v2"])
async def test_connection_refused_and_timeout_are_retryable(recorder: Recorder, kind: str) -> None:
    refused = influx_sink(kind, f"http://127.0.0.1:{free_port()}", timeout_s=0.3)
    recorder.delay_s = 0.8
    slow = influx_sink(kind, recorder.url, timeout_s=0.3)
    try:
        for sink, words in ((refused, "cannot reach"), (slow, "no answer")):
            with pytest.raises(SinkError, match=words) as caught:
                await sink.write(points(1))
            assert caught.value.retryable
            assert caught.value.keep
    finally:
        await refused.close()
        await slow.close()


# -- InfluxV1Sink (real InfluxDB 1.x) ------------------------------------------------------------------------


@pytest.mark.services
@pytest.mark.parametrize("gzip", [False, True])
async def test_v1_writes_to_real_influxdb(influxdb: InfluxService, influx_db_name: str, gzip: bool) -> None:
    sink = InfluxV1Sink(influxdb.url, influx_db_name, gzip=gzip)
    try:
        await sink.write(points(1000))
        await sink.write_encoded(encode(points(500, start=1000)), 500)
    finally:
        await sink.close()
    assert influxdb.count_points(influx_db_name, "telemetry") == 1500


@pytest.mark.services
async def test_v1_real_errors_map_to_sink_errors(influxdb: InfluxService, influx_db_name: str) -> None:
    missing = InfluxV1Sink(influxdb.url, "no_such_db")
    sink = InfluxV1Sink(influxdb.url, influx_db_name)
    try:
        with pytest.raises(SinkError, match='CREATE DATABASE "no_such_db"') as not_found:
            await missing.write(points(1))
        assert (not_found.value.retryable, not_found.value.keep) == (False, True)
        with pytest.raises(SinkError, match="unable to parse") as bad:
            await sink.write_encoded(b"this is not line protocol\n", 1)
        assert (bad.value.retryable, bad.value.keep) == (False, False)
    finally:
        await missing.close()
        await sink.close()


# -- BufferedSink (real InfluxDB 1.x) ------------------------------------------------------------------------


def buffered(url: str, db: str, directory: Path, **kwargs: object) -> BufferedSink:
    options: dict[str, object] = {
        "batch_max_points": 200,
        "flush_interval_s": 0.05,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.3,
    }
    options.update(kwargs)
    return BufferedSink(
        InfluxV1Sink(url, db, timeout_s=2.0),
        DurableBuffer(directory, max_bytes=64 << 20, segment_bytes=1 << 20),
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.services
async def test_influxdb_outage_mid_run_loses_nothing_and_stores_each_point_once(
    influxdb: InfluxService, influx_db_name: str, tmp_path: Path
) -> None:
    total = 0
    async with buffered(influxdb.url, influx_db_name, tmp_path / "buf") as sink:

        async def produce(batches: int) -> None:
            nonlocal total
            for _ in range(batches):
                await sink.write(points(150, start=total))
                total += 150
                await asyncio.sleep(0.01)

        await produce(10)
        await wait_until(lambda: sink.counters()["points_written"] == total, 10, "first points stored")
        influxdb.stop()
        try:
            await produce(20)  # keeps accepting while InfluxDB is down
            await wait_until(lambda: sink.counters()["write_errors_unavailable"] >= 2, 10, "failed writes")
            assert sink.counters()["buffered_points"] > 0
            assert sink.last_error is not None
            assert "cannot reach" in sink.last_error
        finally:
            influxdb.start()
        await produce(10)
        await wait_until(lambda: sink.counters()["buffered_points"] == 0, 20, "backlog drained")
        counters = sink.counters()
    assert influxdb.count_points(influx_db_name, "telemetry") == total == 6000
    assert counters["points_written"] == total
    assert counters["dropped_points"] == 0
    assert counters["dead_lettered_points"] == 0
    assert sink.last_error is None


@pytest.mark.services
async def test_rejected_batch_goes_to_dead_letter_while_good_batches_land(
    influxdb: InfluxService, influx_db_name: str, tmp_path: Path
) -> None:
    """A field type conflict (``battery`` as a string after floats) is InfluxDB's real 400 for a batch."""
    dead: list[tuple[bytes, SinkError]] = []
    conflicting = [Point("telemetry", {"device": "SD-1"}, {"battery": "low"}, T0 + i) for i in range(1, 6)]
    async with buffered(
        influxdb.url, influx_db_name, tmp_path / "buf", on_dead_letter=lambda b, e: dead.append((b, e))
    ) as sink:
        await sink.write(points(100))
        await sink.flush()
        await sink.write(conflicting)
        await sink.flush()
        await sink.write(points(100, start=100))
        await wait_until(lambda: sink.counters()["buffered_points"] == 0, 10, "all batches handled")
        counters = sink.counters()
    assert influxdb.count_points(influx_db_name, "telemetry") == 200
    assert len(dead) == 1
    body, error = dead[0]
    assert body == encode(conflicting)
    assert "field type conflict" in str(error)
    assert counters["dead_lettered_points"] == 5
    assert counters["write_errors_rejected"] == 1
    assert counters["points_written"] == 200


@pytest.mark.services
async def test_missing_database_is_kept_and_resumes_once_created(
    influxdb: InfluxService, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = f"created_later_{time.monotonic_ns()}"
    try:
        with caplog.at_level(logging.ERROR, logger="gateway.ingest.sinks.buffered"):
            async with buffered(influxdb.url, db, tmp_path / "buf") as sink:
                await sink.write(points(300))
                await wait_until(lambda: sink.counters()["write_errors_config"] >= 2, 10, "config errors")
                assert sink.counters()["buffered_points"] == 300
                assert sink.counters()["dead_lettered_points"] == 0
                influxdb.create_database(db)
                await wait_until(lambda: sink.counters()["buffered_points"] == 0, 10, "drained after fix")
        assert f'CREATE DATABASE "{db}"' in caplog.text
        assert influxdb.count_points(db, "telemetry") == 300
    finally:
        with contextlib.suppress(Exception):
            influxdb.drop_database(db)


@pytest.mark.services
async def test_backlog_survives_gateway_restart(
    influxdb: InfluxService, influx_db_name: str, tmp_path: Path
) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens: every write fails
    first = buffered(down, influx_db_name, tmp_path / "buf", close_timeout_s=0.2)
    async with first:
        await sink_write_all(first, 3)
    assert first.counters()["points_written"] == 0
    second = buffered(influxdb.url, influx_db_name, tmp_path / "buf")
    assert second.counters()["buffered_points"] == 600, "resumed from disk"
    async with second:
        await wait_until(lambda: second.counters()["buffered_points"] == 0, 10, "backlog drained")
    assert influxdb.count_points(influx_db_name, "telemetry") == 600


async def sink_write_all(sink: BufferedSink, batches: int) -> None:
    for b in range(batches):
        await sink.write(points(200, start=b * 200))


async def test_priority_points_jump_ahead_of_the_backlog(recorder: Recorder, tmp_path: Path) -> None:
    """Telemetry queued during an outage waits; an alarm raised meanwhile is the first batch sent after it."""
    recorder.default_status = 503
    sink = buffered(recorder.url, "db", tmp_path / "buf", backoff_initial_s=0.05, backoff_max_s=0.1)
    alarm = Point("device_event", {"device": "SD-1", "event": "alarm"}, {"count": 1.0}, T0, priority=True)
    async with sink:
        await sink.write(points(200))
        await sink.flush()
        await sink.write(points(200, start=200))
        await sink.flush()
        await wait_until(lambda: len(recorder.requests) >= 2, 5, "failed attempts")
        await sink.write([alarm])
        await sink.flush()  # durable in the priority lane now (the spool task would do it within ms)
        seen = len(recorder.requests)  # the last of these may be a telemetry attempt already under way
        await wait_until(lambda: len(recorder.requests) >= seen + 2, 5, "attempts after the alarm")
        assert recorder.requests[seen + 1].body == encode([alarm]), "the next attempt is the alarm"
        recorder.default_status = 204
        await wait_until(lambda: sink.counters()["buffered_points"] == 0, 10, "drained")
    accepted = [r.body for r in recorder.requests if r.status == 204]
    assert accepted == [encode([alarm]), encode(points(200)), encode(points(200, start=200))]
    assert all(r.status == 503 for r in recorder.requests[: -len(accepted)])


async def test_priority_points_are_not_starved_by_a_steady_telemetry_stream(
    recorder: Recorder, tmp_path: Path
) -> None:
    """An alarm written while telemetry keeps arriving is stored within a few appends, not after the stream.

    A regression test: the spool's flush took telemetry batches for as long as the pipeline refilled
    them, and priority points handed over meanwhile waited until ingestion paused (seconds at 25,000
    msg/s). The disk is slowed (each append sleeps 20 ms in its worker thread) so that a modest stream
    keeps the flush busy on any machine; the rest is real (buffer on disk, HTTP to a recording server).
    """
    sink = buffered(recorder.url, "db", tmp_path / "buf", batch_max_points=200)
    real_append = sink.buffer.append

    def slow_append(body: bytes, *, priority: bool, points: int) -> None:
        time.sleep(0.02)
        real_append(body, priority=priority, points=points)

    sink.buffer.append = slow_append  # type: ignore[method-assign]
    alarm = Point("device_event", {"device": "SD-1", "event": "alarm"}, {"count": 1.0}, T0, priority=True)
    stop = asyncio.Event()

    async def stream() -> None:
        start = 0
        while not stop.is_set():  # about 2 batches per append: the flush never runs dry
            await sink.write(points(100, start=start))
            start += 100
            await asyncio.sleep(0.01)

    async with sink:
        writer = asyncio.create_task(stream())
        await asyncio.sleep(0.3)  # the flush is under way now
        await sink.write([alarm])
        sent_at = time.monotonic()
        alarm_body = encode([alarm])
        await wait_until(lambda: any(r.body == alarm_body for r in recorder.requests), 5, "the alarm sent")
        waited = time.monotonic() - sent_at
        stop.set()
        await writer
    assert waited < 0.5, f"the alarm waited {waited:.2f} s behind telemetry"


@pytest.mark.services
async def test_a_point_beyond_retention_costs_that_point_not_its_batch(
    influxdb: InfluxService, tmp_path: Path
) -> None:
    """A database with a 400-day retention (as docker-compose sets up) and a batch holding one point from
    2000-01-01: InfluxDB stores the others and answers 400 "partial write: points beyond retention policy
    dropped=1". The batch's bytes go to the dead letters, but only that point counts as lost."""
    db = "retained_400d"
    influxdb.query(f'CREATE DATABASE "{db}" WITH DURATION 400d NAME "year"', post=True)
    dead: list[tuple[bytes, SinkError]] = []
    ancient = Point("telemetry", {"device": "SD-9"}, {"battery": 80.0}, 946_684_800_000_000_000)
    try:
        async with buffered(
            influxdb.url, db, tmp_path / "buf", on_dead_letter=lambda b, e: dead.append((b, e))
        ) as sink:
            recent = points(99, start=0)
            await sink.write([*recent[:50], ancient, *recent[50:]])
            await wait_until(lambda: sink.counters()["buffered_points"] == 0, 10, "the batch handled")
            counters = sink.counters()
        assert influxdb.count_points(db, "telemetry") == 99
        assert counters["points_written"] == 99
        assert counters["dead_lettered_points"] == 1
        assert counters["dead_lettered_batches"] == 1
        ((body, error),) = dead
        assert error.dropped == 1
        assert "beyond retention policy" in str(error)
        assert "stored the rest of the batch" in str(error)
        assert encode([ancient]) in body
    finally:
        influxdb.drop_database(db)


async def test_v2_partial_write_answer_says_how_many_points_were_dropped(recorder: Recorder) -> None:
    """InfluxDB 2.x answers a partial write with 422 (no InfluxDB 2 can run here: the recording server
    answers as one does)."""
    recorder.statuses = [422]
    sink = InfluxV2Sink(recorder.url, "org", "bucket", "token", timeout_s=2.0)
    try:
        with pytest.raises(SinkError) as caught:
            await sink.write(points(3))
    finally:
        await sink.close()
    assert caught.value.dropped is None, "no 'partial write' in the scripted answer: nothing known stored"
    error = classify_status(
        422,
        '{"code":"unprocessable entity","message":"failure writing points to database: partial write:'
        ' points beyond retention policy dropped=2"}',
        hints={},
    )
    assert error.dropped == 2
    assert not error.retryable
    assert not error.keep
