"""Photos: every file the gateway stored (``uploads``) and the photos of each step of a hazard
(``hazard_photos``), both insert-only.

- ``uploads``: one row per stored file (``data_dir/uploads/<32 hex>.<ext>``): which account sent it, when,
  what for, its size, format and pixels, and whether a GPS location was taken out of it. The daily quota of
  an account is counted here, so it holds across restarts and for every kind of photo (hazard, placard).
- ``hazard_photos``: a photo of one step of a hazard: ``before`` (what was found), ``after`` (after
  rectification), ``recheck`` (at the re-check), ``other``; who added it, when, and a note. The photo given
  when the hazard was filed (``hazards.photo``) is its first ``before`` photo: it is listed with the others
  (``filed``) but not copied here, so the record of the filing stays where it was written.

Nothing is updated or deleted: a wrong photo is answered by another photo with a note, as on paper.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    insert,
    select,
)

from gateway.store.database import Database, new_id
from gateway.store.placards import placard_postings
from gateway.store.records import HazardRecord
from gateway.store.tables import UtcDateTime, hazard_transitions, hazards, metadata

#: What the API calls a stored file: ``uploads/<name>``, served by ``GET /api/uploads/{name}``.
UPLOADS_PREFIX = "uploads/"
#: The account quota counts what was uploaded in this window before each new upload.
QUOTA_WINDOW = timedelta(hours=24)


class PhotoStep(StrEnum):
    BEFORE = "before"  # 整改前: what was found
    AFTER = "after"  # 整改后: after rectification
    RECHECK = "recheck"  # 复查: at the re-check
    OTHER = "other"


uploads = Table(
    "uploads",
    metadata,
    #: The file's name in ``data_dir/uploads``: ``<32 hex>.<jpg|png|webp>``.
    Column("name", String(64), primary_key=True),
    #: The account (username) whose daily quota it counts against; "" with accounts disabled.
    Column("account", String(128), nullable=False),
    Column("uploaded_at", UtcDateTime, nullable=False),
    #: ``hazard`` (a photo of a hazard step, or given when filing one) or ``placard`` (a posted placard).
    Column("purpose", String(16), nullable=False),
    Column("bytes", Integer, nullable=False),
    #: As read from the content (Pillow): JPEG, PNG or WEBP.
    Column("format", String(8), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    #: The uploaded file carried a GPS location, which was taken out before it was stored.
    Column("location_removed", Boolean, nullable=False),
    Index("uploads_by_account", "account", "uploaded_at"),
)

hazard_photos = Table(
    "hazard_photos",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hazard_id", Integer, ForeignKey("hazards.id"), nullable=False),
    Column("step", String(16), nullable=False),
    Column("name", String(64), ForeignKey("uploads.name"), nullable=False, unique=True),
    #: Who added it: the signed-in account's display name.
    Column("added_by", String(128), nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
    Column("note", Text, nullable=False, default=""),
    Index("hazard_photos_by_hazard", "hazard_id", "added_at"),
)

#: ``GET /api/uploads/{name}`` finds the hazard a photo given at filing belongs to (to check the caller's
#: scope) by this column: without the index that would read every hazard for every photo shown.
Index("hazards_by_photo", hazards.c.photo)


@dataclass(frozen=True, slots=True)
class Upload:
    name: str
    account: str
    uploaded_at: datetime
    purpose: str
    bytes: int
    format: str
    width: int
    height: int
    location_removed: bool

    @property
    def ref(self) -> str:
        return UPLOADS_PREFIX + self.name


@dataclass(frozen=True, slots=True)
class HazardPhoto:
    #: None for the photo given when the hazard was filed (kept on the hazard, not in ``hazard_photos``).
    id: int | None
    hazard_id: int
    step: PhotoStep
    photo: str
    added_by: str
    added_at: datetime
    note: str
    filed: bool
    #: What the stored file is; None only for a filing photo the gateway did not store (an old URL).
    bytes: int | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    location_removed: bool = False


class QuotaExceeded(Exception):
    """The account's uploads of the last 24 h and this one are more than its daily quota."""

    def __init__(self, used: int, limit: int, size: int, frees_at: datetime | None) -> None:
        super().__init__(f"daily upload quota: {used} + {size} bytes > {limit}")
        self.used = used
        self.limit = limit
        self.size = size
        #: When enough of the last 24 h's uploads have aged out for this one; None: it never fits.
        self.frees_at = frees_at


class HazardFull(Exception):
    """The hazard already has the most photos one hazard takes."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"hazard has {count} photos of at most {limit}")
        self.count = count
        self.limit = limit


def _upload(row: Mapping[Any, Any]) -> Upload:
    return Upload(**{c.name: row[c.name] for c in uploads.columns})


#: A photo's own columns and its file's (``uploads``), for ``_photo``.
_PHOTO_COLUMNS = (
    hazard_photos.c.id,
    hazard_photos.c.hazard_id,
    hazard_photos.c.step,
    hazard_photos.c.added_by,
    hazard_photos.c.added_at,
    hazard_photos.c.note,
    *uploads.columns,
)


def _photo(row: Mapping[Any, Any]) -> HazardPhoto:
    upload = _upload(row)
    fields = {key: row[key] for key in ("id", "hazard_id", "added_by", "added_at", "note")}
    return _with_file(upload, step=PhotoStep(row["step"]), photo=upload.ref, filed=False, **fields)


def _with_file(upload: Upload | None, **fields: Any) -> HazardPhoto:
    """A photo with what its stored file is (``upload`` None: a filing photo the gateway did not store)."""
    if upload is None:
        return HazardPhoto(**fields)
    return HazardPhoto(
        **fields,
        bytes=upload.bytes,
        format=upload.format,
        width=upload.width,
        height=upload.height,
        location_removed=upload.location_removed,
    )


def upload_name(ref: str) -> str | None:
    """``uploads/<name>`` → ``<name>``; None for anything else (an old URL given when filing)."""
    return ref[len(UPLOADS_PREFIX) :] if ref.startswith(UPLOADS_PREFIX) else None


class PhotoRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- writes ----------------------------------------------------------------------------------------

    def record_upload(self, upload: Upload, *, daily_bytes: int) -> Upload:
        """Keep an upload that belongs to nothing yet (a photo for a hazard about to be filed, a placard), or
        raise ``QuotaExceeded`` and keep nothing."""
        with self._db.tx() as conn:
            self._check_quota(conn, upload, daily_bytes)
            conn.execute(insert(uploads).values(**_values(upload)))
        return upload

    def add_to_hazard(
        self,
        upload: Upload,
        hazard: HazardRecord,
        *,
        step: PhotoStep,
        added_by: str,
        note: str,
        daily_bytes: int,
        per_hazard: int,
    ) -> HazardPhoto:
        """Keep the upload as a photo of ``step`` of the hazard, or raise ``QuotaExceeded`` / ``HazardFull``
        and keep nothing."""
        with self._db.tx() as conn:
            count = self._count(conn, hazard.id) + (1 if hazard.photo else 0)
            if count >= per_hazard:
                raise HazardFull(count, per_hazard)
            self._check_quota(conn, upload, daily_bytes)
            conn.execute(insert(uploads).values(**_values(upload)))
            values: dict[str, Any] = {
                "hazard_id": hazard.id,
                "step": step,
                "added_by": added_by,
                "added_at": upload.uploaded_at,
                "note": note,
            }
            insert_photo = insert(hazard_photos).values(name=upload.name, **{**values, "step": step.value})
            photo_id = new_id(conn.execute(insert_photo))
        return _with_file(upload, id=photo_id, photo=upload.ref, filed=False, **values)

    def _count(self, conn: Connection, hazard_id: int) -> int:
        query = select(func.count()).select_from(hazard_photos).where(hazard_photos.c.hazard_id == hazard_id)
        return int(conn.execute(query).scalar_one())

    def _check_quota(self, conn: Connection, upload: Upload, daily_bytes: int) -> None:
        """Raise ``QuotaExceeded`` when the account's uploads of the last 24 h and this one exceed
        ``daily_bytes``; it says when enough of them age out for this one to fit."""
        query = (
            select(uploads.c.uploaded_at, uploads.c.bytes)
            .where(
                uploads.c.account == upload.account,
                uploads.c.uploaded_at > upload.uploaded_at - QUOTA_WINDOW,
            )
            .order_by(uploads.c.uploaded_at)
        )
        recent = [(row.uploaded_at, int(row.bytes)) for row in conn.execute(query)]
        used = sum(size for _, size in recent)
        if used + upload.bytes <= daily_bytes:
            return
        frees_at = None
        if upload.bytes <= daily_bytes:
            excess, aged = used + upload.bytes - daily_bytes, 0
            for at, size in recent:
                aged += size
                if aged >= excess:
                    frees_at = at + QUOTA_WINDOW
                    break
        raise QuotaExceeded(used, daily_bytes, upload.bytes, frees_at)

    # -- reads -----------------------------------------------------------------------------------------

    def upload(self, name: str) -> Upload | None:
        with self._db.tx() as conn:
            row = conn.execute(select(uploads).where(uploads.c.name == name)).mappings().first()
        return None if row is None else _upload(row)

    def for_hazard(self, hazard: HazardRecord) -> list[HazardPhoto]:
        """The hazard's photos in the order they were taken: the one given at filing first."""
        query = (
            select(*_PHOTO_COLUMNS)
            .join(uploads, uploads.c.name == hazard_photos.c.name)
            .where(hazard_photos.c.hazard_id == hazard.id)
            .order_by(hazard_photos.c.added_at, hazard_photos.c.id)
        )
        with self._db.tx() as conn:
            photos = [_photo(row) for row in conn.execute(query).mappings()]
        filed = self._filed(hazard)
        return [filed, *photos] if filed is not None else photos

    def _filed(self, hazard: HazardRecord) -> HazardPhoto | None:
        if not hazard.photo:
            return None
        name = upload_name(hazard.photo)
        return _with_file(
            self.upload(name) if name else None,
            id=None,
            hazard_id=hazard.id,
            step=PhotoStep.BEFORE,
            photo=hazard.photo,
            added_by=hazard.reporter,
            added_at=hazard.opened_at,
            note="",
            filed=True,
        )

    def rectification_started(self, hazard_id: int) -> datetime | None:
        """When the hazard last went into ``rectifying`` (started, or sent back by a rejected check)."""
        self._db.flush_history()
        query = select(func.max(hazard_transitions.c.at)).where(
            hazard_transitions.c.hazard_id == hazard_id, hazard_transitions.c.to_state == "rectifying"
        )
        with self._db.tx() as conn:
            started: datetime | None = conn.execute(query).scalar_one()  # max() keeps the column's type
        return started

    def owners(self, name: str) -> tuple[set[str], Upload | None]:
        """The estates whose hazards or placard postings show the stored file ``name``, and its upload row
        (None: stored before uploads were recorded). Who may see the file follows from them."""
        ref = UPLOADS_PREFIX + name
        by_step = select(hazards.c.estate_id).join(hazard_photos, hazard_photos.c.hazard_id == hazards.c.id)
        queries = (
            by_step.where(hazard_photos.c.name == name),
            select(hazards.c.estate_id).where(hazards.c.photo == ref),
            select(placard_postings.c.estate_id).where(placard_postings.c.photo == ref),
        )
        with self._db.tx() as conn:
            estates = {row[0] for query in queries for row in conn.execute(query)}
        return estates, self.upload(name)


def _values(upload: Upload) -> dict[str, Any]:
    return {c.name: getattr(upload, c.name) for c in uploads.columns}
