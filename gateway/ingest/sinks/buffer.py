"""The durable buffer: an on-disk FIFO of encoded batches in front of InfluxDB.

Why a log of files rather than SQLite: other gateways' SQLite buffers spend their CPU on B-tree updates and
``DELETE`` churn for what is only ever appended at one end and read at the other. Here an append is one
``writev`` of a 12-byte frame header plus the batch (and an ``fsync``, on by default), a read is one
``pread``, and consumed data is given back by deleting whole segment files. The cost per point is the
encoded line protocol (~150-250 bytes for the gateway's points) plus 12 bytes per *batch*.

Layout of ``directory``::

    LOCK                      held (flock) while a process uses the buffer: two gateways must not share it
    telemetry/                 the telemetry lane
        00000000000000000001.seg   segments, oldest first; each starts with SEGMENT_MAGIC
        cursor                 (segment, offset) of the first record not yet acknowledged
    priority/                  alarms and faults: same format, read first, never dropped

Records and their CRC checks are described in ``frames``. On open every segment is checked: a record cut
short by a crash at the end is truncated away with a warning; damage in the middle (a power cut, a bad
sector) is cut out and the good records after it kept; the lost bytes are logged and counted in
``truncated_bytes``.

Delivery is at-least-once: the cursor is persisted (atomic rename, no fsync) after each acknowledgement, so
a crash between a successful write and the cursor update re-sends that batch. InfluxDB makes this harmless:
a point with the same measurement, tag set and timestamp overwrites itself.

Retention: when the segment files of both lanes together exceed ``max_bytes``, the oldest *telemetry*
segment is deleted, and the batches and points it still held are counted in ``dropped_records`` /
``dropped_points``. Priority records are never dropped (a fire alarm outlives any disk budget).

All public methods take an internal lock, so they may be called from ``asyncio.to_thread`` to keep
``fsync`` off the event loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from gateway.ingest.sinks.frames import (
    FRAME,
    SEGMENT_MAGIC,
    crc,
    next_valid_frame,
    read_frame,
    rewrite_segment,
    valid_frame,
)

log = logging.getLogger(__name__)

_CURSOR = struct.Struct("<QQI")  # segment number, offset, crc32 of the first 16 bytes
_SUFFIX = ".seg"
_MIN_SEGMENT_BYTES = 4096
_DROP_LOG_INTERVAL_S = 60.0


class BufferLockedError(RuntimeError):
    """Another process (or another DurableBuffer in this one) already uses the buffer directory."""


@dataclass(frozen=True, slots=True)
class BufferedRecord:
    """What ``peek`` returns: one appended record, or several consecutive ones of a segment read as one
    (``frames``); hand it back to ``ack`` once it is stored."""

    body: bytes
    points: int
    priority: bool
    segment: int
    offset: int
    end: int
    frames: int = 1


@dataclass(slots=True)
class _Segment:
    seq: int
    path: Path
    size: int
    records: int = 0
    points: int = 0
    #: Records/points before the cursor (non-zero only for the segment the cursor is in).
    consumed_records: int = 0
    consumed_points: int = 0


def _segment_name(seq: int) -> str:
    return f"{seq:020d}{_SUFFIX}"


class _Lane:
    """One FIFO of segment files with its own cursor (telemetry or priority)."""

    def __init__(self, directory: Path, *, priority: bool, segment_bytes: int, fsync: bool) -> None:
        self.directory = directory
        self.priority = priority
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self.segments: list[_Segment] = []
        self.cursor_seq = 0
        self.cursor_offset = 0
        self.pending_records = 0
        self.pending_points = 0
        self.truncated_bytes = 0
        self._write_fd: int | None = None  # open on segments[-1] while it accepts appends
        self._read_fd: int | None = None
        self._read_seq = -1
        #: (segment, offset) of the record handed out by peek, with its frames and points.
        self._inflight: tuple[int, int] | None = None
        self._inflight_size = (0, 0)
        self._dropped_inflight: tuple[int, int] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self._open()

    # -- opening and recovery -----------------------------------------------------------------------------

    def _open(self) -> None:
        self._load_cursor()
        paths = sorted(self.directory.glob("*" + _SUFFIX))
        for path in paths:
            try:
                seq = int(path.name[: -len(_SUFFIX)])
            except ValueError:
                log.warning("buffer: ignoring unexpected file %s", path)
                continue
            if seq < self.cursor_seq:  # fully acknowledged; the process stopped before deleting it
                path.unlink()
                continue
            segment = self._recover(seq, path)
            if segment is not None:
                self.segments.append(segment)
        for segment in self.segments:
            self.pending_records += segment.records - segment.consumed_records
            self.pending_points += segment.points - segment.consumed_points
        if self.pending_records:
            lane = "priority" if self.priority else "telemetry"
            log.info(
                "buffer: resuming %d %s batches (%d points) from %s",
                self.pending_records,
                lane,
                self.pending_points,
                self.directory,
            )

    def _recover(self, seq: int, path: Path) -> _Segment | None:
        """Scan one segment, checking every record. A torn tail (a crash mid-write) is truncated; damage in
        the middle (a power cut, a bad sector) is cut out: the scan finds the next record that passes its
        CRC check, keeps the good records on both sides, rewrites the segment without the damaged bytes and
        says how many bytes it lost and where."""
        data = path.read_bytes()
        if len(data) < len(SEGMENT_MAGIC) or not data.startswith(SEGMENT_MAGIC):
            if SEGMENT_MAGIC.startswith(data):  # created, then the process died before the magic was written
                path.unlink()
                return None
            log.error("buffer: %s is not a buffer segment (bad magic); moving it aside as .bad", path)
            path.rename(path.with_suffix(".bad"))
            return None
        segment = _Segment(seq, path, len(SEGMENT_MAGIC))
        consumed_to = self.cursor_offset if seq == self.cursor_seq else 0
        view = memoryview(data)
        #: (start, end) of every good record, in order; damaged ranges are what lies between them.
        kept: list[tuple[int, int]] = []
        offset = len(SEGMENT_MAGIC)
        while offset < len(data):
            frame = valid_frame(data, view, offset)
            if frame is None:
                resume = next_valid_frame(data, view, offset + 1)
                lost = (resume if resume is not None else len(data)) - offset
                self.truncated_bytes += lost
                if resume is None:
                    log.warning(
                        "buffer: %s ends with %d bytes that are not a whole record passing its CRC check (a"
                        " write torn by a crash or power loss); truncating them at offset %d. Records before"
                        " it are intact.",
                        path,
                        lost,
                        offset,
                    )
                    break
                log.error(
                    "buffer: %s has %d damaged bytes at offset %d (a power cut or a disk error); they are cut"
                    " out and the records on both sides kept",
                    path,
                    lost,
                    offset,
                )
                offset = resume
                continue
            points, end = frame
            kept.append((offset, end))
            segment.records += 1
            segment.points += points
            if end <= consumed_to:
                segment.consumed_records += 1
                segment.consumed_points += points
            offset = end
        good_end = kept[-1][1] if kept else len(SEGMENT_MAGIC)
        contiguous = all(a[1] == b[0] for a, b in itertools.pairwise(kept)) and (
            not kept or kept[0][0] == len(SEGMENT_MAGIC)
        )
        if contiguous:
            if good_end < len(data):
                os.truncate(path, good_end)
            segment.size = good_end
            return segment
        # Rewrite without the damaged ranges (atomically), and move the cursor to where it now points.
        size = rewrite_segment(path, data, kept)
        if seq == self.cursor_seq:
            self.cursor_offset = len(SEGMENT_MAGIC) + sum(b - a for a, b in kept if b <= consumed_to)
            self._save_cursor()
        segment.size = size
        return segment

    def _load_cursor(self) -> None:
        path = self.directory / "cursor"
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        if len(raw) == _CURSOR.size:
            seq, offset, crc = _CURSOR.unpack(raw)
            if zlib.crc32(raw[:16]) == crc:
                self.cursor_seq, self.cursor_offset = seq, offset
                return
        log.warning(
            "buffer: %s is damaged; re-reading from the oldest segment (batches may be re-sent)", path
        )

    def _save_cursor(self) -> None:
        head = struct.pack("<QQ", self.cursor_seq, self.cursor_offset)
        tmp = self.directory / "cursor.tmp"
        tmp.write_bytes(head + struct.pack("<I", zlib.crc32(head)))
        os.replace(tmp, self.directory / "cursor")

    # -- writing ------------------------------------------------------------------------------------------

    def append(self, record: bytes, points: int) -> int:
        """Append one record; returns the bytes it took on disk."""
        size = FRAME.size + len(record)
        last = self.segments[-1] if self.segments else None
        if last is None or self._write_fd is None or (last.records and last.size + size > self.segment_bytes):
            last = self._roll()
        assert self._write_fd is not None
        header = FRAME.pack(len(record), points, crc(len(record), points, record))
        written = os.writev(self._write_fd, [header, record])
        if written != size:  # a full disk, typically: undo the partial record so the file stays parseable
            os.ftruncate(self._write_fd, last.size)
            raise OSError(f"short write to {last.path}: {written} of {size} bytes")
        if self.fsync:
            os.fsync(self._write_fd)
        last.size += size
        last.records += 1
        last.points += points
        self.pending_records += 1
        self.pending_points += points
        return size

    def _roll(self) -> _Segment:
        """Start a new segment: the old one is closed for appends (it is deleted once fully read)."""
        self._close_writer()
        seq = max(self.segments[-1].seq if self.segments else 0, self.cursor_seq) + 1
        path = self.directory / _segment_name(seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o644)
        os.write(fd, SEGMENT_MAGIC)
        if self.fsync:
            os.fsync(fd)
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # the new file's name must survive a power loss too
            finally:
                os.close(dir_fd)
        self._write_fd = fd
        segment = _Segment(seq, path, len(SEGMENT_MAGIC))
        self.segments.append(segment)
        return segment

    def _close_writer(self) -> None:
        if self._write_fd is not None:
            os.close(self._write_fd)
            self._write_fd = None

    # -- reading ------------------------------------------------------------------------------------------

    def _head(self) -> tuple[_Segment, int] | None:
        """The segment and offset of the first unacknowledged record, deleting exhausted segments."""
        while self.segments:
            segment = self.segments[0]
            if segment.seq < self.cursor_seq:  # pragma: no cover - removed on open and on ack
                self._delete_first()
                continue
            offset = self.cursor_offset if segment.seq == self.cursor_seq else 0
            offset = max(offset, len(SEGMENT_MAGIC))
            if offset < segment.size:
                return segment, offset
            if segment is self.segments[-1] and self._write_fd is not None:
                return None  # caught up with the writer
            self._delete_first()
        return None

    def peek(self, max_points: int = 1) -> BufferedRecord | None:
        """The oldest unacknowledged record; with ``max_points`` > 1, it and the records after it in the same
        segment, read as one, while their points stay within ``max_points``. The durable buffer is appended
        to in small records when transports wait for each append (group commit); the database is written
        in large ones."""
        while True:
            head = self._head()
            if head is None:
                return None
            segment, offset = head
            fd = self._reader(segment)
            first = read_frame(fd, offset)
            if first is not None:
                bodies, points, frames, end = [first[0]], first[1], 1, first[2]
                while end < segment.size and points < max_points:
                    following = read_frame(fd, end)
                    if following is None or points + following[1] > max_points:
                        break  # a damaged frame is met as the head of a later peek
                    bodies.append(following[0])
                    points += following[1]
                    frames += 1
                    end = following[2]
                self._inflight = (segment.seq, offset)
                self._inflight_size = (frames, points)
                body = bodies[0] if frames == 1 else b"".join(bodies)
                return BufferedRecord(body, points, self.priority, segment.seq, offset, end, frames)
            # Checked on open, so this is damage since then (disk error, someone editing the file).
            lost_records = segment.records - segment.consumed_records
            lost_points = segment.points - segment.consumed_points
            log.error(
                "buffer: record at %s offset %d fails its CRC check; skipping the rest of the segment"
                " (%d batches, %d points lost)",
                segment.path,
                offset,
                lost_records,
                lost_points,
            )
            self.pending_records -= lost_records
            self.pending_points -= lost_points
            self.truncated_bytes += segment.size - offset
            if segment is self.segments[-1]:
                self._close_writer()
            self._delete_first()

    def _reader(self, segment: _Segment) -> int:
        if self._read_seq != segment.seq or self._read_fd is None:
            self._close_reader()
            self._read_fd = os.open(segment.path, os.O_RDONLY)
            self._read_seq = segment.seq
        return self._read_fd

    def _close_reader(self) -> None:
        if self._read_fd is not None:
            os.close(self._read_fd)
            self._read_fd = None
            self._read_seq = -1

    def ack(self, record: BufferedRecord) -> None:
        key = (record.segment, record.offset)
        if self._inflight == key:
            self._inflight = None
        if self._dropped_inflight == key:
            # Its segment was dropped by retention while it was being sent; the drop did not count it.
            self._dropped_inflight = None
            self.pending_records -= record.frames
            self.pending_points -= record.points
            return
        segment = self.segments[0] if self.segments else None
        if segment is None or segment.seq != record.segment:
            return  # acknowledged before (its segment is gone)
        start = self.cursor_offset if segment.seq == self.cursor_seq else 0
        start = max(start, len(SEGMENT_MAGIC))
        if record.offset < start:
            return  # acknowledged before
        if record.offset != start:
            raise ValueError("ack out of order: only the record returned by peek() can be acknowledged")
        self.cursor_seq, self.cursor_offset = record.segment, record.end
        segment.consumed_records += record.frames
        segment.consumed_points += record.points
        self.pending_records -= record.frames
        self.pending_points -= record.points
        if record.end >= segment.size and not (segment is self.segments[-1] and self._write_fd is not None):
            self._delete_first()
        self._save_cursor()

    # -- retention ----------------------------------------------------------------------------------------

    def drop_oldest(self) -> tuple[int, int, int]:
        """Delete the oldest segment; returns (records, points, bytes) it still held unacknowledged.

        A record being sent right now (handed out by ``peek``) is not counted: it is still delivered from
        memory, and its ``ack`` settles the backlog count.
        """
        segment = self.segments[0]
        if segment is self.segments[-1] and self._write_fd is not None:
            self._close_writer()  # the next append starts a new segment
        records = segment.records - segment.consumed_records
        points = segment.points - segment.consumed_points
        if self._inflight is not None and self._inflight[0] == segment.seq:
            inflight_frames, inflight_points = self._inflight_size
            records -= inflight_frames
            points -= inflight_points
            self._dropped_inflight, self._inflight = self._inflight, None
        self.pending_records -= records
        self.pending_points -= points
        size = segment.size
        self._delete_first()
        self.cursor_seq, self.cursor_offset = segment.seq + 1, 0
        self._save_cursor()
        return records, points, size

    def _delete_first(self) -> None:
        segment = self.segments.pop(0)
        if self._read_seq == segment.seq:
            self._close_reader()
        if not self.segments:
            self._close_writer()
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()

    @property
    def disk_bytes(self) -> int:
        return sum(s.size for s in self.segments)

    def close(self) -> None:
        self._close_writer()
        self._close_reader()


class DurableBuffer:
    """A write-ahead, on-disk FIFO of encoded batches with a priority lane and a retention cap.

    ``append`` stores a record (one encoded batch and its point count); ``peek`` returns the oldest
    unacknowledged record, priority lane first; ``ack`` consumes it. Unacknowledged records survive a
    process restart. ``max_bytes`` caps the disk used by segment files (see the module docstring).
    """

    def __init__(
        self,
        directory: str | Path,
        max_bytes: int = 1 << 30,
        segment_bytes: int = 16 << 20,
        *,
        fsync: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        if segment_bytes * 4 > max_bytes:
            # Retention works in whole segments: with fewer than four per budget one drop would throw
            # away a large share of the buffer at once.
            segment_bytes = max(_MIN_SEGMENT_BYTES, max_bytes // 4)
        self.segment_bytes = segment_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise BufferLockedError(
                f"buffer directory {self.directory} is in use by another gateway process; give each"
                " gateway its own [gateway] data_dir"
            ) from None
        self._lock = threading.Lock()
        self._telemetry = _Lane(
            self.directory / "telemetry", priority=False, segment_bytes=segment_bytes, fsync=fsync
        )
        self._priority = _Lane(
            self.directory / "priority", priority=True, segment_bytes=segment_bytes, fsync=fsync
        )
        self.dropped_records = 0
        self.dropped_points = 0
        self.dropped_bytes = 0
        self.appended_records = 0
        self.appended_bytes = 0
        self._last_drop_log = -_DROP_LOG_INTERVAL_S
        self._closed = False
        with self._lock:
            self._enforce_cap()

    def append(self, record: bytes, priority: bool = False, points: int = 1) -> None:
        """Store one record (an encoded batch of ``points`` points) durably at the end of its lane."""
        if not record:
            return
        with self._lock:
            self._check_open()
            lane = self._priority if priority else self._telemetry
            self.appended_bytes += lane.append(record, points)
            self.appended_records += 1
            if not priority:
                self._enforce_cap()
            elif self.disk_bytes_unlocked() > self.max_bytes:
                log.warning(
                    "buffer: over its %d-byte cap with priority records alone; they are kept anyway",
                    self.max_bytes,
                )

    def peek(self, priority: bool | None = None, max_points: int = 1) -> BufferedRecord | None:
        """The oldest unacknowledged record, priority lane first; None when both lanes are empty.

        ``priority=True`` / ``False`` looks at one lane only. Until it is acknowledged, the same record is
        returned again. A telemetry record being sent should be kept by the caller and retried as it is:
        retention may delete its segment meanwhile (it still counts in the backlog until ``ack``).
        ``max_points`` > 1 reads consecutive records of a segment as one, up to that many points.
        """
        with self._lock:
            self._check_open()
            if priority is None:
                return self._priority.peek(max_points) or self._telemetry.peek(max_points)
            return (self._priority if priority else self._telemetry).peek(max_points)

    def ack(self, record: BufferedRecord) -> None:
        """Consume ``record`` (the one ``peek`` returned): it is not returned again, even after a restart."""
        with self._lock:
            self._check_open()
            (self._priority if record.priority else self._telemetry).ack(record)

    def _enforce_cap(self) -> None:
        lane = self._telemetry
        while self.disk_bytes_unlocked() > self.max_bytes and lane.segments:
            records, points, size = lane.drop_oldest()
            self.dropped_records += records
            self.dropped_points += points
            self.dropped_bytes += size
            now = time.monotonic()
            if now - self._last_drop_log >= _DROP_LOG_INTERVAL_S:
                self._last_drop_log = now
                log.warning(
                    "buffer: over its %d-byte cap; dropping the oldest telemetry segments (this one: %d"
                    " batches, %d points; %d points dropped since start). Is the database reachable?"
                    " Raise [buffer] max_bytes to hold longer outages.",
                    self.max_bytes,
                    records,
                    points,
                    self.dropped_points,
                )

    def disk_bytes_unlocked(self) -> int:
        return self._telemetry.disk_bytes + self._priority.disk_bytes

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"buffer {self.directory} is closed")

    @property
    def pending_points(self) -> int:
        """Points stored and not yet acknowledged, both lanes."""
        return self._telemetry.pending_points + self._priority.pending_points

    @property
    def pending_records(self) -> int:
        return self._telemetry.pending_records + self._priority.pending_records

    @property
    def pending_priority_points(self) -> int:
        return self._priority.pending_points

    @property
    def disk_bytes(self) -> int:
        with self._lock:
            return self.disk_bytes_unlocked()

    @property
    def truncated_bytes(self) -> int:
        """Bytes cut off torn or corrupt records (found on open or on read)."""
        return self._telemetry.truncated_bytes + self._priority.truncated_bytes

    def stats(self) -> dict[str, int]:
        """Counters for dashboards: backlog, disk use, what retention dropped, what recovery truncated."""
        with self._lock:
            return {
                "pending_points": self.pending_points,
                "pending_records": self.pending_records,
                "pending_priority_points": self.pending_priority_points,
                "disk_bytes": self.disk_bytes_unlocked(),
                "dropped_records": self.dropped_records,
                "dropped_points": self.dropped_points,
                "dropped_bytes": self.dropped_bytes,
                "truncated_bytes": self.truncated_bytes,
                "appended_records": self.appended_records,
                "appended_bytes": self.appended_bytes,
            }

    def close(self) -> None:
        """Close files and release the directory lock; unacknowledged records stay for the next start."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._telemetry.close()
            self._priority.close()
            os.close(self._lock_fd)
