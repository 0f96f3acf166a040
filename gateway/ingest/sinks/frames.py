"""The durable buffer's file format: segment files of CRC-checked records, read, checked and repaired.

A segment starts with ``SEGMENT_MAGIC``; a record is ``<u32 length><u32 points><u32 crc32>`` followed by
``length`` bytes, the CRC covering length, points and payload, so a torn header is caught as surely as a torn
payload. Damage (a power cut, a bad sector) is found by the CRC; ``next_valid_frame`` resynchronises after
it, and ``rewrite_segment`` writes the good records back without it.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

SEGMENT_MAGIC = b"FGWBUF1\n"
FRAME = struct.Struct("<III")  # payload length, points in the payload, crc32(length, points, payload)
FRAME_HEAD = struct.Struct("<II")


def crc(length: int, points: int, payload: bytes | memoryview) -> int:
    return zlib.crc32(payload, zlib.crc32(FRAME_HEAD.pack(length, points)))


def valid_frame(data: bytes, view: memoryview, offset: int) -> tuple[int, int] | None:
    """(points, end) of a whole record at ``offset`` of ``data`` that passes its CRC check, or None."""
    if offset + FRAME.size > len(data):
        return None
    length, points, checksum = FRAME.unpack_from(data, offset)
    end = offset + FRAME.size + length
    if end > len(data) or crc(length, points, view[offset + FRAME.size : end]) != checksum:
        return None
    return int(points), end


def next_valid_frame(data: bytes, view: memoryview, start: int) -> int | None:
    """The first offset at or after ``start`` where a valid record begins (resynchronising after damage).
    A candidate is checked cheaply first (a length that fits, at most one point per byte) before its CRC."""
    limit = len(data) - FRAME.size
    for offset in range(start, limit + 1):
        length, points = FRAME_HEAD.unpack_from(data, offset)
        fits = 0 < length <= len(data) - offset - FRAME.size and points <= length
        if fits and valid_frame(data, view, offset) is not None:
            return offset
    return None


def read_frame(fd: int, offset: int) -> tuple[bytes, int, int] | None:
    """(body, points, end) of the record at ``offset`` of an open segment, or None if it is incomplete or
    fails its CRC."""
    header = os.pread(fd, FRAME.size, offset)
    if len(header) != FRAME.size:
        return None
    length, points, checksum = FRAME.unpack(header)
    body = os.pread(fd, length, offset + FRAME.size)
    if len(body) != length or crc(length, points, body) != checksum:
        return None
    return body, int(points), offset + FRAME.size + length


def rewrite_segment(path: Path, data: bytes, kept: list[tuple[int, int]]) -> int:
    """Write ``path`` again with only the records at the ``kept`` (start, end) ranges of ``data``,
    atomically (a crash leaves the old file or the new one); returns the new size."""
    repaired = SEGMENT_MAGIC + b"".join(data[start:end] for start, end in kept)
    temporary = path.with_name(path.name + ".repair")
    with open(temporary, "wb") as file:
        file.write(repaired)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    return len(repaired)
