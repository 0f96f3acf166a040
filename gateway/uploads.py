"""Photos people upload (hazard steps, filing, posted placards): one check for all of them, by content.

A photo is evidence, so what is stored must be what it claims to be and no more:

- **An image by its content**: JPEG, PNG or WebP as Pillow reads the bytes (the file name and the declared
  type do not count: a PNG named ``photo.jpg`` is stored as ``.png``); only those three decoders are tried,
  so nothing exotic (PostScript, ...) is ever handed a file from outside. The whole image is decoded once,
  so a truncated or corrupt file is refused, not stored.
- **Bounded**: at most ``[photos] max_bytes`` (413, naming the limit) and ``max_pixels`` (a 48-megapixel
  phone photo is 8000 × 6000; a small file that claims far more pixels is a decompression bomb), a still
  image (not animated), a daily byte quota per account and a cap of photos per hazard, both counted from
  the store (``gateway/store/photos.py``).
- **Only the image**: data after the image's end (a ZIP appended to a JPEG) and the extra images of a
  multi-picture JPEG (MPO: depth maps, previews) are dropped, and so is any GPS location (the EXIF GPS
  block, with the EXIF thumbnail when that block is rewritten; XMP packets naming GPS): photos are shown
  to every account that sees the estate and go into reports, the hazard's place is its estate and
  location, and a phone's position is its owner's personal information (PIPL: collect no more than
  needed). Everything else is kept byte for byte — pixels are never re-encoded, and the EXIF time and
  orientation stay — so the stored photo is the camera's own. Whether a location was taken out is recorded
  with the upload.

``after_photo_missing`` says what a ``rectified`` step lacks: an after-photo (整改后照片) added since
rectification last started (``HazardDesk.step`` refuses the step with that sentence).
"""

from __future__ import annotations

import asyncio
import io
import math
import os
import uuid
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from gateway.casework.model import EngineError
from gateway.config import PhotosSection
from gateway.store import HazardStore
from gateway.store.photos import HazardFull, PhotoStep, QuotaExceeded, Upload
from gateway.store.records import HazardRecord
from rules.lifecycle import HazardState

if TYPE_CHECKING:  # the engine's HazardDesk asks ``after_photo_missing``
    from gateway.casework.engine import RuleEngine

T = TypeVar("T")

#: Formats accepted, as Pillow names what it read, and the suffix the file is stored with. MPO is a JPEG
#: with extra pictures after it (phones' portrait mode): it is stored as the plain JPEG of its first picture.
SUFFIXES = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp"}
#: The only decoders a file from outside is handed (Pillow's JPEG decoder is the one that finds MPO).
DECODERS = ["JPEG", "PNG", "WEBP"]
#: Room for a multipart form's boundaries and other fields around the photo.
FORM_OVERHEAD = 64 << 10
_MIB = 1 << 20


class UploadRefused(Exception):
    """An upload refused with a status of its own: 413 too large, 429 over the daily quota (``Retry-After``),
    409 the hazard has all the photos it takes. The message is the API's ``detail``."""

    def __init__(
        self, status_code: int, error: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.error = error
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class CheckedImage:
    """An uploaded image as it will be stored: the bytes (without location and trailing data), and what
    they are."""

    data: bytes
    format: str  # JPEG, PNG or WEBP
    width: int
    height: int
    location_removed: bool

    @property
    def suffix(self) -> str:
        return SUFFIXES[self.format]


def size_text(n: int) -> str:
    """``5 MiB``, ``3.2 MiB``, ``512 KiB``, ``900 bytes``."""
    if n >= _MIB:
        return f"{n / _MIB:.1f}".removesuffix(".0") + " MiB"
    if n >= 1024:
        return f"{n / 1024:.0f} KiB"
    return f"{n} bytes"


def too_large(limit: int) -> UploadRefused:
    return UploadRefused(413, "too_large", f"photo: larger than {size_text(limit)}")


# -- the check ----------------------------------------------------------------------------------------------


def check_image(data: bytes, *, max_bytes: int, max_pixels: int) -> CheckedImage:
    """The image to store, or a refusal naming the field: ``UploadRefused`` (413) over ``max_bytes``,
    ``EngineError`` (422) for anything that is not one whole still JPEG, PNG or WebP of at most
    ``max_pixels``. CPU-bound (decodes the image): call it in a worker thread."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > max_bytes:
        raise too_large(max_bytes)
    if not data:
        raise EngineError("photo: the file is empty")
    unreadable = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError)
    try:
        with Image.open(io.BytesIO(data), formats=DECODERS) as image:
            fmt, (width, height) = image.format or "", image.size
            animated = fmt != "MPO" and bool(getattr(image, "is_animated", False))
    except Image.DecompressionBombError as exc:
        raise EngineError(f"photo: far too many pixels for a photo (a decompression bomb?): {exc}") from None
    except UnidentifiedImageError:
        raise EngineError(
            "photo: not an image: its content is no JPEG, PNG or WebP, whatever its name or type says"
        ) from None
    except unreadable as exc:
        raise EngineError(f"photo: not an image (a JPEG, PNG or WebP that cannot be read: {exc})") from None
    if width * height > max_pixels:
        raise EngineError(
            f"photo: {width} × {height} pixels is more than the {max_pixels:,} a photo may have "
            "([photos] max_pixels; a small file claiming more is a decompression bomb): send a smaller photo"
        )
    if animated:
        raise EngineError("photo: an animated image; a still photo (JPEG, PNG or WebP) is expected")
    try:
        clean, removed = strip_extras(fmt, data)
        with Image.open(io.BytesIO(clean), formats=DECODERS) as image:
            if image.format == "JPEG":  # decoding at 1/8 scale still reads every byte of the image
                image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
            image.load()
    except (*unreadable, Image.DecompressionBombError) as exc:
        raise EngineError(f"photo: not a whole image (truncated or corrupt {fmt}: {exc})") from None
    return CheckedImage(clean, "JPEG" if fmt == "MPO" else fmt, width, height, removed)


def strip_extras(fmt: str, data: bytes) -> tuple[bytes, bool]:
    """The image without trailing data, extra pictures and location, and whether a location was removed.
    ``ValueError`` when the container is cut short or malformed."""
    if fmt in ("JPEG", "MPO"):
        return _jpeg(data)
    if fmt == "PNG":
        return _png(data)
    return _webp(data)


_EXIF = b"Exif\x00\x00"
_XMP = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")
_PNG_XMP = b"XML:com.adobe.xmp\x00"
_GPS_IFD = 0x8825


def _exif_without_gps(payload: bytes) -> tuple[bytes | None, bool]:
    """The EXIF block without its GPS part (same prefix as given), None to drop it, and whether anything
    was removed. Unreadable EXIF is dropped whole: it cannot be shown to hold no location."""
    from PIL import Image

    exif = Image.Exif()
    try:
        exif.load(payload)
        if _GPS_IFD not in exif:
            return payload, False
        del exif[_GPS_IFD]
        rebuilt = exif.tobytes()
    except Exception:  # whatever Pillow makes of a malformed block, the block goes
        return None, True
    return (rebuilt if payload.startswith(_EXIF) else rebuilt.removeprefix(_EXIF)), True


def _xmp_with_gps(payload: bytes) -> bool:
    return b"GPS" in payload


def _jpeg(data: bytes) -> tuple[bytes, bool]:
    """Walk the JPEG's segments to its end-of-image marker, rewriting EXIF without GPS and dropping XMP with
    GPS and the MPO index; whatever follows the end of the first image is dropped."""
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("no JPEG start marker")
    out, removed, i, n = [b"\xff\xd8"], False, 2, len(data)
    while True:
        if i >= n or data[i] != 0xFF:
            raise ValueError(f"image file is truncated or corrupt (no marker at byte {i})")
        while i < n and data[i] == 0xFF:
            i += 1
        if i >= n:
            raise ValueError("image file is truncated")
        marker = data[i]
        i += 1
        if marker == 0xD9:
            out.append(b"\xff\xd9")
            return b"".join(out), removed
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            out.append(bytes((0xFF, marker)))
            continue
        length = int.from_bytes(data[i : i + 2], "big")
        if length < 2 or i + length > n:
            raise ValueError("image file is truncated")
        payload, end = data[i + 2 : i + length], i + length
        if marker == 0xDA:  # a scan: its header, then coded data up to the next real marker
            scan_end = _scan_end(data, end)
            out.append(data[i - 2 : scan_end])
            i = scan_end
            continue
        kept: bytes | None = payload
        if marker == 0xE1 and payload.startswith(_EXIF):
            kept, gone = _exif_without_gps(payload)
            removed |= gone
        elif marker == 0xE1 and payload.startswith(_XMP) and _xmp_with_gps(payload):
            kept, removed = None, True
        elif marker == 0xE2 and payload.startswith(b"MPF\x00"):
            kept = None  # the index of the extra pictures, which are not kept
        if kept is not None and len(kept) <= 0xFFFF - 2:
            out.append(bytes((0xFF, marker)) + (len(kept) + 2).to_bytes(2, "big") + kept)
        i = end


def _scan_end(data: bytes, start: int) -> int:
    """Where a scan's entropy-coded data ends: the first 0xFF that is neither a stuffed 0xFF00, nor a restart
    marker, nor a fill byte."""
    n, j = len(data), start
    while True:
        j = data.find(b"\xff", j)
        if j < 0 or j + 1 >= n:
            raise ValueError("image file is truncated (scan data runs to the end)")
        following = data[j + 1]
        if following == 0xFF:
            j += 1
        elif following == 0x00 or 0xD0 <= following <= 0xD7:
            j += 2
        else:
            return j


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def _png(data: bytes) -> tuple[bytes, bool]:
    """The PNG's chunks up to IEND, with eXIf without GPS and XMP with GPS (or compressed) dropped."""
    out, removed, i, n = [data[:8]], False, 8, len(data)
    while True:
        if i + 12 > n:
            raise ValueError("image file is truncated (no IEND chunk)")
        length, kind = int.from_bytes(data[i : i + 4], "big"), data[i + 4 : i + 8]
        end = i + 12 + length
        if end > n:
            raise ValueError(f"image file is truncated (in a {kind!r} chunk)")
        body, chunk = data[i + 8 : i + 8 + length], data[i:end]
        if kind == b"eXIf":
            kept, gone = _exif_without_gps(body)
            removed |= gone
            chunk = b"" if kept is None else (_png_chunk(kind, kept) if gone else chunk)
        elif kind in (b"iTXt", b"zTXt", b"tEXt") and body.startswith(_PNG_XMP):
            compressed = kind == b"zTXt" or (
                kind == b"iTXt" and body[len(_PNG_XMP) : len(_PNG_XMP) + 1] != b"\0"
            )
            if compressed or _xmp_with_gps(body):
                chunk, removed = b"", True
        out.append(chunk)
        i = end
        if kind == b"IEND":
            return b"".join(out), removed


_VP8X_FLAGS = {b"EXIF": 0x08, b"XMP ": 0x04}


def _webp(data: bytes) -> tuple[bytes, bool]:
    """The WebP's RIFF chunks (nothing after the RIFF's own length), with EXIF without GPS and XMP with GPS
    dropped; the VP8X header's flags follow what is dropped."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("no RIFF/WEBP header")
    end = 8 + int.from_bytes(data[4:8], "little")
    if end > len(data):
        raise ValueError("image file is truncated")
    chunks: list[tuple[bytes, bytes]] = []
    removed, dropped_flags, i = False, 0, 12
    while i < end:
        if i + 8 > end:
            raise ValueError("image file is truncated (chunk header)")
        fourcc, length = data[i : i + 4], int.from_bytes(data[i + 4 : i + 8], "little")
        if i + 8 + length > end:
            raise ValueError(f"image file is truncated (in a {fourcc!r} chunk)")
        body: bytes | None = data[i + 8 : i + 8 + length]
        i += 8 + length + (length & 1)
        if fourcc == b"EXIF" and body is not None:
            body, gone = _exif_without_gps(body)
            removed |= gone
        elif fourcc == b"XMP " and body is not None and _xmp_with_gps(body):
            body, removed = None, True
        if body is None:
            dropped_flags |= _VP8X_FLAGS[fourcc]
        else:
            chunks.append((fourcc, body))
    if not removed:
        return data[:end], False
    parts = []
    for fourcc, body in chunks:
        if fourcc == b"VP8X" and body:
            body = bytes((body[0] & ~dropped_flags,)) + body[1:]
        parts.append(fourcc + len(body).to_bytes(4, "little") + body + (b"\0" if len(body) & 1 else b""))
    riff = b"WEBP" + b"".join(parts)
    return b"RIFF" + len(riff).to_bytes(4, "little") + riff, True


# -- reading requests ---------------------------------------------------------------------------------------


async def _limited(chunks: AsyncIterator[bytes], limit: int, photo_limit: int) -> AsyncGenerator[bytes, None]:
    """The request body, refused (413) as soon as it passes ``limit``: nothing larger reaches the disk or
    the memory, whether or not the client said its length."""
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise too_large(photo_limit)
        yield chunk


def _declared_too_large(request: Request, limit: int) -> bool:
    length = request.headers.get("content-length", "")
    return length.isdigit() and int(length) > limit


async def read_raw_photo(request: Request, max_bytes: int) -> bytes:
    """The request body as the photo (``POST /api/uploads``), at most ``max_bytes``."""
    if _declared_too_large(request, max_bytes):
        raise too_large(max_bytes)
    body = bytearray()
    async for chunk in _limited(request.stream(), max_bytes, max_bytes):
        body += chunk
    return bytes(body)


async def read_photo_form(
    request: Request, max_bytes: int, fields: frozenset[str]
) -> tuple[dict[str, str], bytes | None]:
    """A ``multipart/form-data`` body: its text fields (only ``fields``; empty ones left out) and the file
    ``photo`` (None without one), the photo at most ``max_bytes``."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "multipart/form-data":
        raise EngineError("body: multipart/form-data expected, with the image as the file 'photo'")
    limit = max_bytes + FORM_OVERHEAD
    if _declared_too_large(request, limit):
        raise too_large(max_bytes)
    parser = MultiPartParser(
        request.headers, _limited(request.stream(), limit, max_bytes), max_files=1, max_fields=len(fields)
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise EngineError(f"body: not a form this route takes ({exc})") from None
    values: dict[str, str] = {}
    photo: bytes | None = None
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key != "photo":
                    raise EngineError(f"{key}: unexpected file; the image goes in 'photo'")
                photo = await value.read(max_bytes + 1)
                if len(photo) > max_bytes:
                    raise too_large(max_bytes)
            elif key == "photo":
                raise EngineError("photo: send the image as a file, not as text")
            elif key not in fields:
                raise EngineError(f"{key}: unknown field; this form takes photo, {', '.join(sorted(fields))}")
            elif value != "":
                values[key] = value
    finally:
        await form.close()
    return values, photo


# -- keeping a photo ----------------------------------------------------------------------------------------


def new_upload(image: CheckedImage, name: str, *, account: str, purpose: str, now: datetime) -> Upload:
    return Upload(
        name=name,
        account=account,
        uploaded_at=now,
        purpose=purpose,
        bytes=len(image.data),
        format=image.format,
        width=image.width,
        height=image.height,
        location_removed=image.location_removed,
    )


async def keep(
    uploads_dir: Path | None, image: CheckedImage, record: Callable[[str], T], now: datetime, tz: str
) -> T:
    """Write the image under a new random name, then ``record(name)`` it in the store; when the store
    refuses (quota, per-hazard cap) or fails, the file goes again and the refusal is a sentence."""
    if uploads_dir is None:
        raise EngineError("photo: uploads are not configured on this gateway")
    name = f"{uuid.uuid4().hex}{image.suffix}"
    path = uploads_dir / name
    await asyncio.to_thread(_write, path, image.data)
    try:
        return record(name)
    except BaseException as exc:
        path.unlink(missing_ok=True)
        if isinstance(exc, QuotaExceeded):
            raise quota_refusal(exc, now, tz) from None
        if isinstance(exc, HazardFull):
            raise hazard_full_refusal(exc) from None
        raise


async def keep_upload(
    uploads_dir: Path | None, engine: RuleEngine, image: CheckedImage, *, account: str, purpose: str
) -> Upload:
    """``keep`` an upload that belongs to nothing yet: a photo for a hazard about to be filed, a placard's."""
    now, rules = engine.clock(), engine.hazards.photo_rules
    return await keep(
        uploads_dir,
        image,
        lambda name: engine.store.photos.record_upload(
            new_upload(image, name, account=account, purpose=purpose, now=now), daily_bytes=rules.daily_bytes
        ),
        now,
        engine.policy.timezone,
    )


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".part")
    partial.write_bytes(data)
    os.replace(partial, path)


def quota_refusal(exc: QuotaExceeded, now: datetime, tz: str) -> UploadRefused:
    head = (
        f"photo: {size_text(exc.size)} would pass the daily upload quota of {size_text(exc.limit)} per "
        f"account ([photos] daily_bytes); {size_text(exc.used)} uploaded in the last 24 hours"
    )
    if exc.frees_at is None:
        return UploadRefused(
            429, "quota", f"{head}. The photo alone is larger than the quota: send a smaller one"
        )
    local = exc.frees_at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    wait = max(1, math.ceil((exc.frees_at - now).total_seconds()))
    return UploadRefused(
        429, "quota", f"{head}. It fits again from {local} ({tz})", headers={"Retry-After": str(wait)}
    )


def hazard_full_refusal(exc: HazardFull) -> UploadRefused:
    return UploadRefused(
        409,
        "too_many_photos",
        f"photo: this hazard already has {exc.count} photos, the most one hazard takes ([photos] per_hazard "
        f"= {exc.limit}); photos are kept for good, so none is freed: add what remains to a note",
    )


# -- what a rectified step needs ----------------------------------------------------------------------------


def after_photo_missing(store: HazardStore, hazard: HazardRecord, rules: PhotosSection) -> str | None:
    """What a ``rectified`` step of ``hazard`` lacks: an after-photo (整改后照片) added since rectification
    last started (a rejected check starts it again, so the photo that was rejected does not count). None
    when it has one, when it is not being rectified, or when ``[photos] rectified_needs_after_photo`` is
    off."""
    if not rules.rectified_needs_after_photo or hazard.state is not HazardState.RECTIFYING:
        return None
    started = store.photos.rectification_started(hazard.id)
    after = [p for p in store.photos.for_hazard(hazard) if p.step is PhotoStep.AFTER]
    if any(started is None or p.added_at >= started for p in after):
        return None
    sentence = (
        f"rectified needs an after-photo (整改后照片): upload one to POST /api/hazards/{hazard.id}/photos "
        "with step=after"
    )
    if after:
        sentence += " (the after-photos on record were added before rectification last started)"
    return sentence
