"""Placards (公示牌): the serial printed on each one, and the record of each posting at the entrance.

- ``placard_serials``: one random, unguessable serial per estate and grade change. It is printed on the
  placard of that grade (as text and in the QR code that leads to the public check page ``/p/{serial}``)
  and remembers what the placard says: the colour and when that grade was decided. The same grade always
  prints the same serial, so printing a placard twice does not make two.
- ``placard_postings``: who posted which placard (its serial, colour and grade date), when, with a photo of
  it on the wall and a note.

Both are insert-only: nothing is updated or deleted. Whether a placard is still current is not stored; it is
its serial's grade against the estate's latest grade, asked when someone looks.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Integer, String, Table, Text, insert, select
from sqlalchemy.exc import IntegrityError

from gateway.store.database import Database, NotFound, new_id
from gateway.store.records import GradeChangeRecord
from gateway.store.tables import UtcDateTime, metadata

placard_serials = Table(
    "placard_serials",
    metadata,
    #: ``secrets.token_urlsafe(12)``: 96 random bits, so a serial cannot be guessed from another.
    Column("serial", String(32), primary_key=True),
    Column("estate_id", String(64), nullable=False),
    #: The grade change the placard prints (``grade_changes.id``), its colour and when it was decided.
    Column("grade_id", Integer, nullable=False, unique=True),
    Column("colour", String(32), nullable=False),
    Column("graded_at", UtcDateTime, nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Index("placard_serials_by_estate", "estate_id"),
)

placard_postings = Table(
    "placard_postings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("estate_id", String(64), nullable=False),
    Column("serial", String(32), nullable=False),
    #: What the posted placard says: the grade's colour and when that grade was decided.
    Column("colour", String(32), nullable=False),
    Column("graded_at", UtcDateTime, nullable=False),
    Column("posted_at", UtcDateTime, nullable=False),
    Column("posted_by", String(128), nullable=False),
    #: The photo of the placard on the wall, as stored by the gateway (``uploads/<name>``), or null.
    Column("photo", String(256)),
    Column("note", Text, nullable=False, default=""),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("placard_postings_by_estate", "estate_id", "posted_at"),
)


@dataclass(frozen=True, slots=True)
class PlacardSerial:
    serial: str
    estate_id: str
    grade_id: int
    colour: str
    graded_at: datetime
    issued_at: datetime

    def current(self, latest: GradeChangeRecord | None) -> bool:
        """The placard prints the estate's latest grade (the same grade change)."""
        return latest is not None and latest.id == self.grade_id


@dataclass(frozen=True, slots=True)
class PlacardPosting:
    id: int
    estate_id: str
    serial: str
    colour: str
    graded_at: datetime
    posted_at: datetime
    posted_by: str
    photo: str | None
    note: str
    recorded_at: datetime


def _serial(row: Mapping[Any, Any]) -> PlacardSerial:
    return PlacardSerial(**dict(row))


def _posting(row: Mapping[Any, Any]) -> PlacardPosting:
    return PlacardPosting(**dict(row))


class PlacardRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def serial_for(self, grade: GradeChangeRecord, now: datetime) -> PlacardSerial:
        """The serial of the placard that prints ``grade``: the one already issued, or a new one."""
        query = select(placard_serials).where(placard_serials.c.grade_id == grade.id)
        with self._db.tx() as conn:
            row = conn.execute(query).mappings().first()
        if row is not None:
            return _serial(row)
        values = {
            "serial": secrets.token_urlsafe(12),
            "estate_id": grade.estate_id,
            "grade_id": grade.id,
            "colour": grade.colour,
            "graded_at": grade.at,
            "issued_at": now,
        }
        try:
            with self._db.tx() as conn:
                conn.execute(insert(placard_serials).values(**values))
        except IntegrityError:  # printed at the same moment by another request: theirs is the serial
            with self._db.tx() as conn:
                return _serial(conn.execute(query).mappings().one())
        return _serial(values)

    def serial(self, serial: str) -> PlacardSerial:
        with self._db.tx() as conn:
            row = (
                conn.execute(select(placard_serials).where(placard_serials.c.serial == serial))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no placard {serial!r}")
        return _serial(row)

    def post(
        self,
        *,
        serial: PlacardSerial,
        posted_at: datetime,
        posted_by: str,
        photo: str | None,
        note: str,
        now: datetime,
    ) -> PlacardPosting:
        values: dict[str, Any] = {
            "estate_id": serial.estate_id,
            "serial": serial.serial,
            "colour": serial.colour,
            "graded_at": serial.graded_at,
            "posted_at": posted_at,
            "posted_by": posted_by,
            "photo": photo,
            "note": note,
            "recorded_at": now,
        }
        with self._db.tx() as conn:
            posting_id = new_id(conn.execute(insert(placard_postings).values(**values)))
        return PlacardPosting(id=posting_id, **values)

    def postings(self, estate_id: str, limit: int = 200) -> list[PlacardPosting]:
        """The estate's postings, newest first."""
        query = (
            select(placard_postings)
            .where(placard_postings.c.estate_id == estate_id)
            .order_by(placard_postings.c.posted_at.desc(), placard_postings.c.id.desc())
            .limit(limit)
        )
        with self._db.tx() as conn:
            return [_posting(r) for r in conn.execute(query).mappings()]
