"""Assessments (排查登记) and later evidence, and each estate's out-of-use state: what makes an estate graded.

- ``assessments``: one row per record, the street office's assessment or later evidence (a patrol log, a
  drill, a maintenance/testing report, a duty roster): who, when, which green conditions were found to hold
  (``met``) or not (``not_met``, an assessment only), a note and attachments. Rows are only inserted; a record
  entered in error is voided (who, when, why) and stays, so the history shows what was believed when.
- ``estate_status_changes``: an estate set out of use (停租停用, the four-colour policy's grey) or back in use
  by the office, with who and why; the latest row per estate is its state.

Both announce their writes to other gateways on the same store (``Database.announce_change``), and
``changed_since`` tells ``StoreSync`` (gateway/casework/sync.py) what they wrote.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    insert,
    or_,
    select,
    update,
)

from gateway.store.database import Database, NotFound, new_id
from gateway.store.tables import UtcDateTime, metadata
from rules.lifecycle import TransitionError

assessments = Table(
    "assessments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("estate_id", String(64), nullable=False),
    #: assessment / patrol / drill / maintenance_report / duty_roster (``rules.policy.EVIDENCE_KINDS``).
    Column("kind", String(32), nullable=False),
    #: When the inspection, drill or test took place; validity runs from here.
    Column("at", UtcDateTime, nullable=False),
    Column("recorded_by", String(128), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("met", JSON, nullable=False),
    Column("not_met", JSON, nullable=False),
    Column("note", Text, nullable=False, default=""),
    #: ``[{"name": ..., "url": ... | "path": ..., "sha256": ...}]``
    Column("attachments", JSON, nullable=False),
    Column("voided_at", UtcDateTime),
    Column("voided_by", String(128)),
    Column("void_reason", Text),
    Index("assessments_by_estate", "estate_id", "at"),
    #: ``changed_since``: what other gateways wrote (the rule engine's store sync).
    Index("assessments_by_record", "recorded_at"),
    Index("assessments_by_void", "voided_at"),
)

estate_status_changes = Table(
    "estate_status_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("estate_id", String(64), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("out_of_use", Boolean, nullable=False),
    Column("by", String(128), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Index("estate_status_by_estate", "estate_id", "id"),
    Index("estate_status_by_time", "at"),
)


@dataclass(frozen=True, slots=True)
class AssessmentRecord:
    id: int
    estate_id: str
    kind: str
    at: datetime
    recorded_by: str
    recorded_at: datetime
    met: list[str]
    not_met: list[str]
    note: str
    attachments: list[dict[str, str]]
    voided_at: datetime | None = None
    voided_by: str | None = None
    void_reason: str | None = None

    @property
    def voided(self) -> bool:
        return self.voided_at is not None


@dataclass(frozen=True, slots=True)
class EstateStatusRecord:
    id: int
    estate_id: str
    at: datetime
    out_of_use: bool
    by: str
    reason: str


def _assessment(row: Mapping[Any, Any]) -> AssessmentRecord:
    data = dict(row)
    data["met"] = list(data["met"] or [])
    data["not_met"] = list(data["not_met"] or [])
    data["attachments"] = [dict(a) for a in data["attachments"] or []]
    return AssessmentRecord(**data)


class AssessmentRepository:
    """Assessments and evidence records: inserted, voided, never changed otherwise or deleted."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        *,
        estate_id: str,
        kind: str,
        at: datetime,
        recorded_by: str,
        met: Sequence[str],
        not_met: Sequence[str] = (),
        note: str = "",
        attachments: Sequence[Mapping[str, str]] = (),
        now: datetime,
    ) -> AssessmentRecord:
        record = AssessmentRecord(
            id=0,
            estate_id=estate_id,
            kind=kind,
            at=at,
            recorded_by=recorded_by,
            recorded_at=now,
            met=list(met),
            not_met=list(not_met),
            note=note,
            attachments=[dict(a) for a in attachments],
        )
        values = {k: getattr(record, k) for k in record.__slots__ if k != "id"}
        with self._db.tx() as conn:
            result = conn.execute(insert(assessments).values(**values))
            self._db.announce_change(conn)
            return dataclasses.replace(record, id=new_id(result))

    def get(self, record_id: int) -> AssessmentRecord:
        with self._db.tx() as conn:
            row = conn.execute(select(assessments).where(assessments.c.id == record_id)).mappings().first()
        if row is None:
            raise NotFound(f"no assessment {record_id}")
        return _assessment(row)

    def find(
        self,
        estate_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        *,
        include_voided: bool = True,
    ) -> list[AssessmentRecord]:
        """Records that took place at or after ``since``, newest first."""
        query = select(assessments)
        if estate_ids is not None:
            query = query.where(assessments.c.estate_id.in_(list(estate_ids)))
        if since is not None:
            query = query.where(assessments.c.at >= since)
        if not include_voided:
            query = query.where(assessments.c.voided_at.is_(None))
        query = query.order_by(assessments.c.at.desc(), assessments.c.id.desc())
        with self._db.tx() as conn:
            return [_assessment(r) for r in conn.execute(query).mappings()]

    def all_current(self, since: datetime | None = None) -> list[AssessmentRecord]:
        """What grading starts from: every record not voided (that took place at or after ``since``: older
        ones have expired), oldest first."""
        return self.find(since=since, include_voided=False)[::-1]

    def changed_since(self, since: datetime) -> list[AssessmentRecord]:
        """Records recorded or voided at or after ``since`` (by any gateway on this store), oldest first."""
        query = (
            select(assessments)
            .where(or_(assessments.c.recorded_at >= since, assessments.c.voided_at >= since))
            .order_by(assessments.c.id)
        )
        with self._db.tx() as conn:
            return [_assessment(r) for r in conn.execute(query).mappings()]

    def void(self, record_id: int, *, by: str, reason: str, now: datetime) -> AssessmentRecord:
        """Mark a record entered in error as void (it stays, with who, when and why); ``NotFound`` for no such
        record, ``TransitionError`` for one already voided."""
        with self._db.tx() as conn:
            row = (
                conn.execute(
                    update(assessments)
                    .where(assessments.c.id == record_id, assessments.c.voided_at.is_(None))
                    .values(voided_at=now, voided_by=by, void_reason=reason)
                    .returning(*assessments.c)
                )
                .mappings()
                .first()
            )
            if row is None:
                current = (
                    conn.execute(select(assessments).where(assessments.c.id == record_id)).mappings().first()
                )
                if current is None:
                    raise NotFound(f"no assessment {record_id}")
                raise TransitionError(
                    f"assessment {record_id} was voided already, on "
                    f"{current['voided_at']:%Y-%m-%d %H:%M} UTC by {current['voided_by']} "
                    f"({current['void_reason']})"
                )
            self._db.announce_change(conn)
            return _assessment(row)


class EstateStatusRepository:
    """Estates set out of use (停租停用) or back in use by the office: every change kept."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def set(
        self, *, estate_id: str, out_of_use: bool, by: str, reason: str, now: datetime
    ) -> EstateStatusRecord:
        record = EstateStatusRecord(
            id=0, estate_id=estate_id, at=now, out_of_use=out_of_use, by=by, reason=reason
        )
        values = {k: getattr(record, k) for k in record.__slots__ if k != "id"}
        with self._db.tx() as conn:
            result = conn.execute(insert(estate_status_changes).values(**values))
            self._db.announce_change(conn)
            return dataclasses.replace(record, id=new_id(result))

    def latest(self) -> dict[str, bool]:
        """Each estate that ever had its state set: whether it is out of use now."""
        return {r.estate_id: r.out_of_use for r in self._latest_records()}

    def current(self, estate_id: str) -> EstateStatusRecord | None:
        """The estate's last change, or None if its state was never set (it is in use)."""
        history = self.history(estate_id)
        return history[-1] if history else None

    def history(self, estate_id: str) -> list[EstateStatusRecord]:
        """The estate's changes, oldest first."""
        query = (
            select(estate_status_changes)
            .where(estate_status_changes.c.estate_id == estate_id)
            .order_by(estate_status_changes.c.id)
        )
        with self._db.tx() as conn:
            return [EstateStatusRecord(**dict(r)) for r in conn.execute(query).mappings()]

    def changed_since(self, since: datetime) -> dict[str, EstateStatusRecord]:
        """The last change of each estate whose state was set at or after ``since``."""
        return {r.estate_id: r for r in self._latest_records(since)}

    def _latest_records(self, since: datetime | None = None) -> list[EstateStatusRecord]:
        table = estate_status_changes
        last = select(func.max(table.c.id)).group_by(table.c.estate_id)
        if since is not None:
            changed = select(table.c.estate_id).where(table.c.at >= since).distinct()
            last = last.where(table.c.estate_id.in_(changed.scalar_subquery()))
        query = select(table).where(table.c.id.in_(last.scalar_subquery()))
        with self._db.tx() as conn:
            return [EstateStatusRecord(**dict(r)) for r in conn.execute(query).mappings()]
