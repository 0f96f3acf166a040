"""Every read of the hazard store the monthly report makes, and the only module of it that knows the tables.

Each function selects one month's rows for a set of estates (``ids``; None: every estate, with no filter)
and returns them as plain row mappings or counts; ``gateway.reports.monthly.figures`` does the arithmetic.
Hazard states are replayed from the append-only transition history, so they are "as at" a moment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, func, select, true
from sqlalchemy.engine import RowMapping

from gateway.store import HazardStore, tables
from gateway.store.assessments import assessments
from gateway.store.incidents import complaint_changes
from rules.lifecycle import HazardState
from rules.model import SignalKind


def _in(column: Any, ids: Sequence[str] | None) -> ColumnElement[bool]:
    return true() if ids is None else column.in_(list(ids))


def _rows(store: HazardStore, query: Any) -> list[RowMapping]:
    with store.engine.connect() as conn:
        return list(conn.execute(query).mappings())


def hazards_open_in(
    store: HazardStore, ids: Sequence[str] | None, start: datetime, end: datetime
) -> list[RowMapping]:
    """Hazards open at some moment of the month: opened before its end, not closed before its start."""
    h = tables.hazards.c
    query = select(h.id, h.estate_id, h.criterion, h.source, h.opened_at, h.closed_at, h.close_kind).where(
        _in(h.estate_id, ids), h.opened_at < end, (h.closed_at.is_(None)) | (h.closed_at >= start)
    )
    return _rows(store, query)


def states_at(
    store: HazardStore, hazard_ids: Iterable[int], moment: datetime
) -> dict[int, tuple[str, datetime | None]]:
    """Each hazard's state and deadline at ``moment``, replayed from its transitions."""
    wanted = list(hazard_ids)
    out: dict[int, tuple[str, datetime | None]] = {}
    t = tables.hazard_transitions.c
    for chunk in range(0, len(wanted), 500):
        query = (
            select(t.hazard_id, t.at, t.to_state, t.data)
            .where(t.hazard_id.in_(wanted[chunk : chunk + 500]), t.at < moment)
            .order_by(t.id)
        )
        for row in _rows(store, query):
            _, deadline = out.get(row["hazard_id"], ("", None))
            text = (row["data"] or {}).get("deadline")
            if text:
                deadline = datetime.fromisoformat(text)
            out[row["hazard_id"]] = (row["to_state"], deadline)
    for hazard_id in wanted:
        out.setdefault(hazard_id, (HazardState.REPORTED.value, None))
    return out


def alarms_received(
    store: HazardStore, ids: Sequence[str] | None, start: datetime, end: datetime
) -> list[RowMapping]:
    """The alarms received in the month, every column."""
    return _rows(
        store,
        select(tables.alarms).where(
            _in(tables.alarms.c.estate_id, ids),
            tables.alarms.c.received_at >= start,
            tables.alarms.c.received_at < end,
        ),
    )


def _per_estate(
    store: HazardStore, table: Table, at: str, ids: Sequence[str] | None, start: datetime, end: datetime
) -> Counter[str]:
    return Counter(
        r["estate_id"]
        for r in _rows(
            store,
            select(table.c.estate_id).where(
                _in(table.c.estate_id, ids), table.c[at] >= start, table.c[at] < end
            ),
        )
    )


def complaint_states(
    store: HazardStore, ids: Sequence[str] | None, start: datetime, end: datetime
) -> Counter[tuple[str, str]]:
    """Complaints received in the month, counted by (estate, state) as they stood at ``end``: ``counted``
    (a distinct incident, as grading counts it: ``ComplaintRepository.counted``), ``voided`` (filed in
    error) or ``merged`` (a duplicate of another); a void or merge recorded at or after ``end`` is not yet."""
    c, x = tables.complaints.c, complaint_changes.c
    query = (
        select(c.estate_id, x.action)
        .select_from(tables.complaints.outerjoin(complaint_changes, (x.complaint_id == c.id) & (x.at < end)))
        .where(_in(c.estate_id, ids), c.received_at >= start, c.received_at < end)
    )
    states = {None: "counted", "void": "voided", "merge": "merged"}
    return Counter((r["estate_id"], states[r["action"]]) for r in _rows(store, query))


def fires_per_estate(
    store: HazardStore, ids: Sequence[str] | None, start: datetime, end: datetime
) -> Counter[str]:
    """Fires that occurred in the month, counted by estate."""
    return _per_estate(store, tables.fires, "occurred_at", ids, start, end)


def signal_history(
    store: HazardStore,
    ids: Sequence[str] | None,
    signals: Iterable[SignalKind],
    start: datetime,
    end: datetime,
) -> tuple[list[RowMapping], list[RowMapping]]:
    """Of the ``signals``: those active when the month began (``device_id, signal, active``), and every change
    in the month in the order recorded (``device_id, signal, active, at``)."""
    s = tables.signal_changes.c
    names = sorted(k.value for k in signals)
    before = (
        select(func.max(s.id))
        .where(_in(s.estate_id, ids), s.signal.in_(names), s.at < start)
        .group_by(s.device_id, s.signal)
        .scalar_subquery()
    )
    initial = _rows(store, select(s.device_id, s.signal, s.active).where(s.id.in_(before), s.active))
    changes = _rows(
        store,
        select(s.device_id, s.signal, s.active, s.at)
        .where(_in(s.estate_id, ids), s.signal.in_(names), s.at >= start, s.at < end)
        .order_by(s.at, s.id),
    )
    return initial, changes


def grade_history(
    store: HazardStore, ids: Sequence[str] | None, start: datetime, end: datetime
) -> tuple[dict[str, str], list[RowMapping]]:
    """Each estate's colour when the month began, and the grade changes recorded in it, in order
    (``estate_id, at, colour, previous, reasons``)."""
    g = tables.grade_changes.c
    before = (
        select(func.max(g.id))
        .where(_in(g.estate_id, ids), g.at < start)
        .group_by(g.estate_id)
        .scalar_subquery()
    )
    at_start = {
        r["estate_id"]: r["colour"]
        for r in _rows(store, select(g.estate_id, g.colour).where(g.id.in_(before)))
    }
    rows = _rows(
        store,
        select(g.estate_id, g.at, g.colour, g.previous, g.reasons)
        .where(_in(g.estate_id, ids), g.at >= start, g.at < end)
        .order_by(g.id),
    )
    return at_start, rows


def evidence_until(store: HazardStore, ids: Sequence[str] | None, moment: datetime) -> list[RowMapping]:
    """Assessments and evidence records as they stood at ``moment``: taken place before it and not voided
    by then (``estate_id, kind, at, met, not_met``), oldest first."""
    a = assessments.c
    query = (
        select(a.estate_id, a.kind, a.at, a.met, a.not_met)
        .where(_in(a.estate_id, ids), a.at < moment, a.voided_at.is_(None) | (a.voided_at >= moment))
        .order_by(a.at, a.id)
    )
    return _rows(store, query)
