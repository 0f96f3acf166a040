"""The durable buffer on a real filesystem: order, restart survival, torn writes, retention, priority lane.

Each test plays a failure the buffer exists for (a crash mid-write, a long outage filling the disk budget)
and checks the exact accounting: every appended point is either still pending, acknowledged, or counted as
dropped.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from gateway.ingest.sinks.buffer import BufferedRecord, BufferLockedError, DurableBuffer
from gateway.ingest.sinks.frames import FRAME


def rec(i: int, size: int = 100) -> bytes:
    """A recognisable record: its number, padded."""
    return f"rec {i:06d} ".encode().ljust(size, b".")


def number(record: BufferedRecord) -> int:
    return int(record.body[4:10])


def drain(buffer: DurableBuffer, priority: bool | None = None) -> list[BufferedRecord]:
    out = []
    while (record := buffer.peek(priority)) is not None:
        out.append(record)
        buffer.ack(record)
    return out


def segments(directory: Path, lane: str = "telemetry") -> list[Path]:
    return sorted((directory / lane).glob("*.seg"))


def test_fifo_order_and_priority_lane_first(tmp_path: Path) -> None:
    buffer = DurableBuffer(tmp_path, max_bytes=1 << 20, segment_bytes=4096)
    for i in range(100):
        buffer.append(rec(i), points=i % 7 + 1)
    buffer.append(rec(1000), priority=True, points=1)
    buffer.append(rec(1001), priority=True, points=1)
    assert buffer.pending_points == sum(i % 7 + 1 for i in range(100)) + 2
    out = drain(buffer)
    assert [number(r) for r in out] == [1000, 1001, *range(100)]
    assert [r.priority for r in out[:3]] == [True, True, False]
    assert [r.points for r in out[2:]] == [i % 7 + 1 for i in range(100)]
    assert buffer.pending_points == 0
    assert buffer.pending_records == 0
    buffer.close()


def test_peek_returns_the_same_record_until_acked(tmp_path: Path) -> None:
    buffer = DurableBuffer(tmp_path)
    buffer.append(rec(1))
    buffer.append(rec(2))
    first = buffer.peek()
    assert first is not None
    assert buffer.peek() == first
    buffer.ack(first)
    buffer.ack(first)  # a repeated ack is harmless
    second = buffer.peek()
    assert second is not None
    assert number(second) == 2
    buffer.close()


def test_consumed_segments_are_deleted(tmp_path: Path) -> None:
    buffer = DurableBuffer(tmp_path, max_bytes=1 << 20, segment_bytes=4096)
    for i in range(200):
        buffer.append(rec(i, 500))
    assert len(segments(tmp_path)) > 10
    drain(buffer)
    assert len(segments(tmp_path)) <= 1  # at most the segment still open for appends
    assert buffer.disk_bytes <= 4096
    buffer.close()


def test_survives_restart_and_resumes_at_the_cursor(tmp_path: Path) -> None:
    buffer = DurableBuffer(tmp_path, max_bytes=1 << 20, segment_bytes=4096)
    for i in range(50):
        buffer.append(rec(i), points=10)
    buffer.append(rec(500), priority=True, points=1)
    for _ in range(21):  # the priority record and 20 telemetry records
        record = buffer.peek()
        assert record is not None
        buffer.ack(record)
    buffer.close()

    reopened = DurableBuffer(tmp_path, max_bytes=1 << 20, segment_bytes=4096)
    assert reopened.pending_records == 30
    assert reopened.pending_points == 300
    reopened.append(rec(50), points=10)  # appends after a restart go behind the old records
    assert [number(r) for r in drain(reopened)] == list(range(20, 51))
    reopened.close()
    assert DurableBuffer(tmp_path).pending_points == 0


def test_fully_consumed_buffer_restarts_empty(tmp_path: Path) -> None:
    buffer = DurableBuffer(tmp_path)
    buffer.append(rec(1))
    drain(buffer)
    buffer.close()
    reopened = DurableBuffer(tmp_path)
    assert reopened.peek() is None
    reopened.close()


@pytest.mark.parametrize("cut", [1, FRAME.size - 1, FRAME.size + 10, 99 + FRAME.size])
def test_torn_last_record_is_truncated_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, cut: int
) -> None:
    """A crash mid-append leaves a partial frame at the end: header or payload cut at any byte."""
    buffer = DurableBuffer(tmp_path)
    for i in range(10):
        buffer.append(rec(i), points=5)
    buffer.close()
    segment = segments(tmp_path)[-1]
    size = segment.stat().st_size
    os.truncate(segment, size - (FRAME.size + 100) + cut)  # the last record keeps only `cut` bytes

    with caplog.at_level(logging.WARNING, logger="gateway.ingest.sinks.buffer"):
        reopened = DurableBuffer(tmp_path)
    assert "truncating" in caplog.text
    assert reopened.truncated_bytes == cut
    assert reopened.pending_points == 45
    reopened.append(rec(10), points=5)  # the log continues cleanly after the cut
    assert [number(r) for r in drain(reopened)] == [*range(9), 10]
    reopened.close()


def test_corrupt_last_record_fails_crc_and_is_truncated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    buffer = DurableBuffer(tmp_path)
    for i in range(3):
        buffer.append(rec(i))
    buffer.close()
    segment = segments(tmp_path)[-1]
    data = bytearray(segment.read_bytes())
    data[-5] ^= 0xFF  # a payload byte of the last record: same length, wrong CRC
    segment.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="gateway.ingest.sinks.buffer"):
        reopened = DurableBuffer(tmp_path)
    assert "CRC" in caplog.text
    assert [number(r) for r in drain(reopened)] == [0, 1]
    reopened.close()


def test_retention_drops_oldest_telemetry_and_counts_exactly(tmp_path: Path) -> None:
    buffer = DurableBuffer(tmp_path, max_bytes=64 * 1024, segment_bytes=8 * 1024)
    appended = 0
    for i in range(400):
        buffer.append(rec(i, 1000), points=i % 5 + 1)
        appended += i % 5 + 1
    assert buffer.dropped_points > 0
    assert buffer.disk_bytes <= 64 * 1024
    remaining = drain(buffer)
    assert buffer.dropped_points + sum(r.points for r in remaining) == appended
    assert buffer.dropped_records + len(remaining) == 400
    numbers = [number(r) for r in remaining]
    assert numbers == list(range(400 - len(numbers), 400)), "what is kept is the newest, in order"
    buffer.close()


def test_priority_records_are_never_dropped(tmp_path: Path) -> None:
    buffer = DurableBuffer(tmp_path, max_bytes=32 * 1024, segment_bytes=4 * 1024)
    for i in range(100):  # priority alone: three times the cap
        buffer.append(rec(i, 1000), priority=True)
        buffer.append(rec(10_000 + i, 1000))
    assert buffer.pending_priority_points == 100
    assert buffer.dropped_points > 0
    priority = drain(buffer, priority=True)
    assert [number(r) for r in priority] == list(range(100))
    telemetry = drain(buffer)
    assert buffer.dropped_points + len(telemetry) == 100
    buffer.close()


def test_record_being_sent_when_its_segment_is_dropped_is_counted_once(tmp_path: Path) -> None:
    """The drain holds a record while InfluxDB is down; retention deletes its segment meanwhile. The record
    is still delivered from memory, so it must count as written, not as dropped, and the backlog must
    return to zero."""
    buffer = DurableBuffer(tmp_path, max_bytes=32 * 1024, segment_bytes=4 * 1024)
    buffer.append(rec(0, 1000), points=7)
    held = buffer.peek()
    assert held is not None
    for i in range(1, 200):
        buffer.append(rec(i, 1000), points=1)
    assert not (tmp_path / "telemetry" / f"{held.segment:020d}.seg").exists()
    buffer.ack(held)
    remaining = drain(buffer)
    assert buffer.pending_points == 0
    assert held.points + buffer.dropped_points + len(remaining) == 7 + 199
    buffer.close()


def test_directory_is_locked_against_a_second_user(tmp_path: Path) -> None:
    buffer = DurableBuffer(tmp_path)
    with pytest.raises(BufferLockedError, match="data_dir"):
        DurableBuffer(tmp_path)
    buffer.close()
    DurableBuffer(tmp_path).close()


def test_oversized_record_gets_its_own_segment(tmp_path: Path) -> None:
    buffer = DurableBuffer(tmp_path, max_bytes=1 << 20, segment_bytes=4096)
    buffer.append(rec(1))
    buffer.append(rec(2, 20_000))
    buffer.append(rec(3))
    assert [number(r) for r in drain(buffer)] == [1, 2, 3]
    buffer.close()


def test_consecutive_records_are_read_as_one_up_to_max_points_and_survive_a_restart(tmp_path: Path) -> None:
    """Group commit appends many small records; the drain reads them back as few large writes."""
    buffer = DurableBuffer(tmp_path)
    for i in range(5):
        buffer.append(rec(i), points=10)
    merged = buffer.peek(priority=False, max_points=25)
    assert merged is not None
    assert (merged.frames, merged.points) == (2, 20), "a third record would exceed 25 points"
    assert merged.body == rec(0) + rec(1)
    buffer.ack(merged)
    assert (buffer.pending_records, buffer.pending_points) == (3, 30)
    buffer.close()
    reopened = DurableBuffer(tmp_path)
    rest = reopened.peek(priority=False, max_points=1000)
    assert rest is not None
    assert [number(rest)] == [2]
    assert (rest.frames, rest.points) == (3, 30)
    reopened.ack(rest)
    assert reopened.peek() is None
    assert (reopened.pending_records, reopened.pending_points) == (0, 0)
    reopened.close()


def test_a_merged_record_in_flight_when_retention_drops_its_segment_is_counted_once(tmp_path: Path) -> None:
    buffer = DurableBuffer(tmp_path, max_bytes=4096, segment_bytes=1024)
    for i in range(3):
        buffer.append(rec(i), points=5)
    in_flight = buffer.peek(priority=False, max_points=100)
    assert in_flight is not None
    assert in_flight.frames == 3
    for i in range(3, 60):  # past the cap: the oldest segments, in-flight one included, are dropped
        buffer.append(rec(i), points=5)
    buffer.ack(in_flight)  # stored from memory after all
    delivered = 15 + sum(r.points for r in drain(buffer))
    assert delivered + buffer.dropped_points == 60 * 5, "every point delivered or counted as dropped, once"
    assert buffer.pending_points == 0
    buffer.close()


def test_damage_in_the_middle_of_a_segment_is_cut_out_and_the_records_after_it_are_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A power cut or a bad sector garbles bytes in the middle of a segment: only the records it hit are lost;
    the scan finds the next record that passes its CRC check and keeps everything after it, and the
    acknowledged position (the cursor) still points at the right record."""
    buffer = DurableBuffer(tmp_path)
    for i in range(6):
        buffer.append(rec(i), points=2)
    first = buffer.peek(priority=False)
    assert first is not None
    buffer.ack(first)  # record 0 is stored; the cursor points at record 1
    buffer.close()
    segment = segments(tmp_path)[-1]
    data = bytearray(segment.read_bytes())
    frame = 12 + 100  # header + one record's payload (rec() pads to 100 bytes)
    damaged = len(b"FGWBUF1\n") + 2 * frame + 40  # inside record 2
    data[damaged : damaged + 30] = b"\x00" * 30
    segment.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="gateway.ingest.sinks.buffer"):
        reopened = DurableBuffer(tmp_path)
    assert "damaged bytes" in caplog.text
    assert reopened.truncated_bytes == frame, "exactly record 2 is lost"
    assert [number(r) for r in drain(reopened)] == [1, 3, 4, 5]
    reopened.close()
    again = DurableBuffer(tmp_path)  # the repair was written: nothing is reported twice, nothing resent
    assert again.truncated_bytes == 0
    assert again.peek() is None
    again.close()
