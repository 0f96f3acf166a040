"""Hazards (隐患): opened by device rules or filed by people, stepped through the closed loop, never deleted.

One open hazard per device and signal is the schema's rule (``tables``); ``open_for_device`` returns the one
already open, also when another gateway on the same store opened it a moment before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Required, TypedDict, Unpack

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.store.database import Database, NotFound, new_id
from gateway.store.records import (
    HazardRecord,
    HazardVersion,
    TransitionRecord,
    as_read,
    hazard_from_row,
    transitions,
)
from gateway.store.tables import hazard_transitions, hazards
from rules.lifecycle import HazardAction, HazardState, RecheckOutcome, step_hazard

# The statements that device events run are built once, with bind parameters for what varies: SQLAlchemy
# derives a statement's cache key by walking it, and for a statement built afresh on every call that walk
# cost several times the SQL itself. Nothing is read back after a write: an insert's record is built from
# the values it wrote (``as_read``), an update returns the row (RETURNING: SQLite >= 3.35, PostgreSQL),
# which also holds what another gateway changed. Bind parameters in WHERE clauses are named ``match_*``: a
# column's own name is reserved for its new value.

#: The open hazard of one device and signal (at most one: a partial unique index says so).
_OPEN_HAZARD = select(hazards).where(
    hazards.c.device_id == bindparam("match_device_id"),
    hazards.c.signal == bindparam("match_signal"),
    hazards.c.closed_at.is_(None),
)
_HAZARD_BY_ID = select(hazards).where(hazards.c.id == bindparam("match_id"))
_INSERT_HAZARD = insert(hazards)
#: The columns set are the keys of the parameters other than ``match_id``.
_UPDATE_HAZARD = update(hazards).where(hazards.c.id == bindparam("match_id")).returning(*hazards.c)
_INSERT_HAZARD_TRANSITION = insert(hazard_transitions)


#: The ``criterion`` of a device hazard that is no item of any criterion: a monitoring fault (a sensor
#: offline, a low battery), a maintenance task for whoever maintains the devices, not a hazard of the grade.
MAINTENANCE_TASK = "maint"


class StepArgs(TypedDict, total=False):
    """What a closed-loop step carries besides the hazard and the action: ``HazardRepository.transition``
    passes it on as it is to ``_transition`` (the one place that reads it), so the list is written once."""

    actor: Required[str]
    now: Required[datetime]
    reason: str
    deadline: datetime | None
    default_deadline_s: float | None
    responsible: str | None
    evidence: str
    recheck_after_s: float | None
    party_id: int | None
    data: dict[str, Any] | None


class HazardRepository:
    """Hazards and their append-only transitions."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def open_for_device(
        self,
        *,
        estate_id: str,
        device_id: str,
        signal: str,
        criteria: Sequence[str],
        description: str,
        location: str,
        since: datetime,
        value: float | None,
        now: datetime,
    ) -> tuple[HazardRecord, bool]:
        """Open the hazard for ``(device, signal)``, or return the one already open (``created=False``)."""
        params = {"match_device_id": device_id, "match_signal": signal}
        with self._db.tx() as conn:
            existing = conn.execute(_OPEN_HAZARD, params).mappings().first()
            if existing is not None:
                return hazard_from_row(existing), False
            try:
                with self._db.may_violate(conn):
                    hazard = self._insert(
                        conn,
                        estate_id=estate_id,
                        criteria=list(criteria),
                        source="device",
                        device_id=device_id,
                        signal=signal,
                        location=location,
                        description=description,
                        reporter="system",
                        value=value,
                        since=since,
                        now=now,
                        reason=f"device rule {signal} became active",
                    )
            except IntegrityError:  # another gateway on the same store opened it first
                return hazard_from_row(conn.execute(_OPEN_HAZARD, params).mappings().one()), False
            return hazard, True

    def file(
        self,
        *,
        estate_id: str,
        criterion: str,
        location: str,
        description: str,
        photo: str,
        reporter: str,
        now: datetime,
        source: str = "manual",
        since: datetime | None = None,
        escalation: tuple[str, dict[str, Any]] | None = None,
    ) -> HazardRecord:
        """File a hazard found by people; ``escalation`` (reason, data): escalate it at once, in the same
        transaction (a red item)."""
        with self._db.tx() as conn:
            hazard = self._insert(
                conn,
                estate_id=estate_id,
                criteria=[criterion],
                source=source,
                device_id=None,
                signal=None,
                location=location,
                description=description,
                photo=photo,
                reporter=reporter,
                value=None,
                since=since or now,
                now=now,
                reason="filed",
            )
            if escalation is None:
                return hazard
            reason, data = escalation
            return self._transition(
                conn, hazard.id, HazardAction.ESCALATE, actor="system", now=now, reason=reason, data=data
            )

    def _insert(
        self,
        conn: Connection,
        *,
        estate_id: str,
        criteria: list[str],
        source: str,
        device_id: str | None,
        signal: str | None,
        location: str,
        description: str,
        reporter: str,
        value: float | None,
        since: datetime,
        now: datetime,
        reason: str,
        photo: str = "",
        reopened_from: int | None = None,
    ) -> HazardRecord:
        # Every column but the id, so that the record is built from what was written (``_as_read``).
        values = {
            "estate_id": estate_id,
            "criterion": criteria[0] if criteria else MAINTENANCE_TASK,
            "criteria": criteria,
            "source": source,
            "device_id": device_id,
            "signal": signal,
            "state": HazardState.REPORTED.value,
            "location": location,
            "description": description,
            "photo": photo,
            "reporter": reporter,
            "responsible": "",
            "value": value,
            "since": since,
            "opened_at": now,
            "updated_at": now,
            "deadline": None,
            "closed_at": None,
            "close_kind": None,
            "escalations": 0,
            "last_escalated_at": None,
            "recheck_due": None,
            "party_id": None,
            "reopened_from": reopened_from,
            "recheck_announced_at": None,
        }
        hazard_id = new_id(conn.execute(_INSERT_HAZARD, values))
        self._db.announce_change(conn)
        self._db.write_history(
            conn,
            _INSERT_HAZARD_TRANSITION,
            {
                "hazard_id": hazard_id,
                "at": now,
                "action": "report",
                "from_state": None,
                "to_state": HazardState.REPORTED.value,
                "actor": reporter,
                "reason": reason,
                "data": {"photo": photo} if photo else {},
            },
        )
        return hazard_from_row({"id": hazard_id, **as_read(values)})

    def transition(self, hazard_id: int, action: HazardAction, **step: Unpack[StepArgs]) -> HazardRecord:
        """Apply one closed-loop step, or raise ``TransitionError``/``NotFound`` and change nothing.

        ``party_id``: the party a dispatch goes to (checked by the caller: it exists, is active and serves
        the hazard's estate); ``responsible`` then names it in words. ``data``: more to record with the
        transition (an escalation's level). A re-check goes through ``recheck``."""
        with self._db.tx() as conn:
            return self._transition(conn, hazard_id, action, **step)

    def recheck(
        self, hazard_id: int, outcome: RecheckOutcome, *, actor: str, now: datetime, reason: str
    ) -> tuple[HazardRecord, HazardRecord | None]:
        """The re-check (复查) of a closed hazard, from its due date on: recorded on it with its outcome, and
        when it failed, in the same transaction, a new hazard about the same problem linked both ways
        (``reopened_from`` on the new one, ``reopened_as`` in the re-check's record), dispatched straight back
        to the party that fixed it when it had one. Returns the re-checked hazard and the new one (or None).
        Refused (``TransitionError``) before anything is written: not due yet, not scheduled, no outcome."""
        with self._db.tx() as conn:
            current = self._get(conn, hazard_id)
            step_hazard(  # refuse before the new hazard is written
                current.state,
                HazardAction.RECHECK,
                now=now,
                deadline=current.deadline,
                reason=reason,
                recheck_due=current.recheck_due,
                outcome=outcome,
            )
            reopened = None
            if outcome is RecheckOutcome.FAILED:
                reopened = self._insert(
                    conn,
                    estate_id=current.estate_id,
                    criteria=list(current.criteria),
                    source="manual",
                    device_id=None,
                    signal=None,
                    location=current.location,
                    description=current.description,
                    reporter=actor,
                    value=None,
                    since=now,
                    now=now,
                    reason=f"re-check of hazard #{hazard_id} failed: {reason}",
                    reopened_from=hazard_id,
                )
                if current.party_id is not None:
                    reopened = self._transition(
                        conn,
                        reopened.id,
                        HazardAction.DISPATCH,
                        actor=actor,
                        now=now,
                        reason=f"back to the party that rectified hazard #{hazard_id}",
                        responsible=current.responsible,
                        party_id=current.party_id,
                    )
            checked = self._transition(
                conn,
                hazard_id,
                HazardAction.RECHECK,
                actor=actor,
                now=now,
                reason=reason,
                outcome=outcome,
                data={"reopened_as": reopened.id} if reopened else None,
            )
            return checked, reopened

    def _transition(
        self,
        conn: Connection,
        hazard_id: int,
        action: HazardAction,
        *,
        actor: str,
        now: datetime,
        reason: str = "",
        deadline: datetime | None = None,
        default_deadline_s: float | None = None,
        responsible: str | None = None,
        evidence: str = "",
        recheck_after_s: float | None = None,
        party_id: int | None = None,
        data: dict[str, Any] | None = None,
        outcome: RecheckOutcome | None = None,
    ) -> HazardRecord:
        current = self._get(conn, hazard_id)
        step = step_hazard(
            current.state,
            action,
            now=now,
            deadline=current.deadline,
            new_deadline=deadline,
            default_deadline=timedelta(seconds=default_deadline_s) if default_deadline_s else None,
            responsible=responsible,
            reason=reason,
            party_id=party_id,
            recheck_due=current.recheck_due,
            outcome=outcome,
        )
        values: dict[str, Any] = {"state": step.state.value, "updated_at": now, "deadline": step.deadline}
        if responsible:
            values["responsible"] = responsible
        if party_id is not None:
            values["party_id"] = party_id
        if step.state is HazardState.CLOSED and current.is_open:
            values["closed_at"] = now
            values["close_kind"] = {
                HazardAction.VERIFY: "verified",
                HazardAction.AUTO_CLOSE: "auto",
            }.get(action, "closed")
            if recheck_after_s and action is HazardAction.VERIFY:
                values["recheck_due"] = now + timedelta(seconds=recheck_after_s)
        if action is HazardAction.ESCALATE:
            values["escalations"] = current.escalations + 1
            values["last_escalated_at"] = now
        if action is HazardAction.RECHECK:
            values["recheck_due"] = None
        row = conn.execute(_UPDATE_HAZARD, {"match_id": hazard_id, **values}).mappings().one()
        self._db.announce_change(conn)
        data = dict(data or {})
        if outcome is not None:
            data["outcome"] = outcome.value
        if evidence:
            data["evidence"] = evidence
        if responsible:
            data["responsible"] = responsible
        if party_id is not None:
            data["party_id"] = party_id
        if step.deadline != current.deadline and step.deadline is not None:
            data["deadline"] = step.deadline.isoformat()
        self._db.write_history(
            conn,
            _INSERT_HAZARD_TRANSITION,
            {
                "hazard_id": hazard_id,
                "at": now,
                "action": action.value,
                "from_state": current.state.value,
                "to_state": step.state.value,
                "actor": actor,
                "reason": reason,
                "data": data,
            },
        )
        return hazard_from_row(row)

    def _get(self, conn: Connection, hazard_id: int) -> HazardRecord:
        row = conn.execute(_HAZARD_BY_ID, {"match_id": hazard_id}).mappings().first()
        if row is None:
            raise NotFound(f"no hazard {hazard_id}")
        return hazard_from_row(row)

    def get(self, hazard_id: int) -> HazardRecord:
        with self._db.tx() as conn:
            return self._get(conn, hazard_id)

    def history(self, hazard_id: int) -> list[TransitionRecord]:
        with self._db.tx() as conn:
            self._get(conn, hazard_id)
            self._db.flush_history()
            return transitions(conn, hazard_transitions, hazard_transitions.c.hazard_id, hazard_id, "reason")

    def find(
        self,
        *,
        estate_ids: Sequence[str] | None = None,
        open_only: bool = False,
        state: HazardState | None = None,
        criterion: str | None = None,
        device_id: str | None = None,
        overdue_at: datetime | None = None,
        limit: int = 500,
        offset: int = 0,
    ) -> list[HazardRecord]:
        query = select(hazards)
        if estate_ids is not None:
            query = query.where(hazards.c.estate_id.in_(list(estate_ids)))
        if open_only:
            query = query.where(hazards.c.closed_at.is_(None))
        if state is not None:
            query = query.where(hazards.c.state == state.value)
        if criterion is not None:
            query = query.where(hazards.c.criterion == criterion)
        if device_id is not None:
            query = query.where(hazards.c.device_id == device_id)
        if overdue_at is not None:
            query = query.where(
                hazards.c.deadline < overdue_at,
                hazards.c.state.in_(["reported", "dispatched", "rectifying"]),
            )
        query = query.order_by(hazards.c.id.desc()).limit(limit).offset(offset)
        with self._db.tx() as conn:
            return [hazard_from_row(r) for r in conn.execute(query).mappings()]

    def updated_since(self, since: datetime) -> list[HazardVersion]:
        """(id, estate, updated_at, open) of every hazard opened, stepped or closed at or after ``since``, by
        any gateway on this store: a few columns, so that finding what another gateway changed among what
        this one wrote itself stays cheap (``by_ids`` fetches the whole records)."""
        query = (
            select(hazards.c.id, hazards.c.estate_id, hazards.c.updated_at, hazards.c.closed_at)
            .where(hazards.c.updated_at >= since)
            .order_by(hazards.c.id)
        )
        with self._db.tx() as conn:
            return [
                HazardVersion(row.id, row.estate_id, row.updated_at, row.closed_at is None)
                for row in conn.execute(query)
            ]

    def by_ids(self, ids: Sequence[int]) -> list[HazardRecord]:
        if not ids:
            return []
        query = select(hazards).where(hazards.c.id.in_(list(ids))).order_by(hazards.c.id)
        with self._db.tx() as conn:
            return [hazard_from_row(r) for r in conn.execute(query).mappings()]

    def all_open(self) -> list[HazardRecord]:
        """Every open hazard (for the engine's in-memory index at start-up)."""
        with self._db.tx() as conn:
            rows = conn.execute(select(hazards).where(hazards.c.closed_at.is_(None))).mappings()
            return [hazard_from_row(r) for r in rows]

    def to_escalate(self, now: datetime, red_criteria: Sequence[str] = ()) -> list[HazardRecord]:
        """Open hazards not yet fixed that may be due for an escalation: past their deadline, or of a red
        criterion (which escalate from the moment they are reported, deadline or not)."""
        query = select(hazards).where(
            hazards.c.closed_at.is_(None),
            hazards.c.state.in_(["reported", "dispatched", "rectifying"]),
            (hazards.c.deadline.is_not(None) & (hazards.c.deadline < now))
            | hazards.c.criterion.in_(list(red_criteria)),
        )
        with self._db.tx() as conn:
            return [hazard_from_row(r) for r in conn.execute(query).mappings()]

    def rechecks_due(self, now: datetime) -> list[HazardRecord]:
        query = select(hazards).where(hazards.c.recheck_due.is_not(None), hazards.c.recheck_due <= now)
        with self._db.tx() as conn:
            return [hazard_from_row(r) for r in conn.execute(query).mappings()]

    def announce_rechecks(self, now: datetime) -> list[HazardRecord]:
        """Mark the re-checks that came due and were not announced yet as announced, and return them: each is
        announced once (a to-do entry, a message to its party), by whichever gateway gets there first."""
        due = hazards.c.recheck_due
        query = select(hazards.c.id).where(
            due.is_not(None), due <= now, hazards.c.recheck_announced_at.is_(None)
        )
        with self._db.tx() as conn:
            ids = list(conn.execute(query).scalars())
            if not ids:
                return []
            rows = conn.execute(
                update(hazards)
                .where(hazards.c.id.in_(ids), hazards.c.recheck_announced_at.is_(None))
                .values(recheck_announced_at=now)
                .returning(*hazards.c)
            ).mappings()
            return [hazard_from_row(r) for r in rows]

    # -- complaints and fires --------------------------------------------------------------------------
