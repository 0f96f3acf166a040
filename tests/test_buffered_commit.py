"""``BufferedSink.committed``: done only once the points are in the durable buffer, and soon (group commit).

The MQTT collector acknowledges a batch when this future is done (tests/test_mqtt_acks.py shows the broker's
side), so two things matter: it must never be done early, and it must not wait out ``flush_interval_s``
(with a broker window of 1,000 messages, a 0.5 s wait would cap ingestion at 2,000 msg/s). The buffer is the
real one on a real file system; the disk that refuses appends is simulated by making ``append`` raise ENOSPC
(filling a real disk is not something a test suite should do to the machine it runs on).
"""

from __future__ import annotations

import asyncio
import errno
import time
from pathlib import Path

import pytest
from test_influx_sinks import points

from gateway.ingest.sinks.buffer import DurableBuffer
from gateway.ingest.sinks.buffered import BufferedSink


class HungInner:
    """The InfluxDB side, hung: it never answers, so what was appended stays in the buffer to be counted."""

    name = "hung"

    async def write(self, points: object) -> None:
        await asyncio.Event().wait()

    async def write_encoded(self, body: bytes, count: int) -> None:
        await asyncio.Event().wait()

    def committed(self) -> asyncio.Future[None]:
        raise AssertionError("not asked of the inner sink")

    async def close(self) -> None:
        pass


def sink_at(directory: Path) -> BufferedSink:
    return BufferedSink(HungInner(), DurableBuffer(directory), flush_interval_s=5.0, close_timeout_s=0)


async def test_committed_is_done_only_when_the_points_are_on_disk_and_well_before_the_flush_interval(
    tmp_path: Path,
) -> None:
    sink = sink_at(tmp_path / "buffer")
    task = asyncio.create_task(sink.run())
    try:
        await asyncio.sleep(0)
        await sink.write(points(500))
        done = sink.committed()
        assert not done.done(), "500 telemetry points are still in memory"
        started = time.monotonic()
        await asyncio.wait_for(done, 2.0)
        waited = time.monotonic() - started
        assert sink.buffer.pending_points == 500, "on disk when the future is done"
        assert waited < 1.0, f"group commit, not the 5 s flush interval: {waited:.3f} s"
        again = sink.committed()
        assert again.done(), "nothing new written: nothing to wait for"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sink.close()


async def test_a_refusing_disk_keeps_committed_pending_and_a_recovered_one_completes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = sink_at(tmp_path / "buffer")
    real_append = sink.buffer.append

    def full_disk(record: bytes, priority: bool = False, points: int = 1) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sink.buffer, "append", full_disk)
    task = asyncio.create_task(sink.run())
    try:
        await asyncio.sleep(0)
        await sink.write(points(100) + points(2, start=100, priority=True))
        done = sink.committed()
        await asyncio.sleep(0.5)
        assert not done.done(), "nothing reached the disk: no acknowledgement may go out"
        assert sink.buffer_errors >= 1
        monkeypatch.setattr(sink.buffer, "append", real_append)
        await asyncio.wait_for(done, 10.0)  # the next try (after flush_interval_s) succeeds
        assert sink.buffer.pending_points == 102, "alarms and telemetry, nothing dropped"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sink.close()


async def test_without_the_spool_task_committed_flushes_by_itself(tmp_path: Path) -> None:
    sink = sink_at(tmp_path / "buffer")
    try:
        await sink.write(points(10))
        await asyncio.wait_for(sink.committed(), 5.0)
        assert sink.buffer.pending_points == 10
    finally:
        await sink.close()
