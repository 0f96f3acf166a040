"""The reads of the hazard store the quarterly assessment makes besides the monthly report's
(``gateway.reports.monthly.queries``, which it reuses for hazards, states, alarms, fires and signals)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, true

from gateway.store import HazardStore, tables
from gateway.store.hazards import MAINTENANCE_TASK
from rules.lifecycle import HazardAction


def escalations_in(
    store: HazardStore, ids: Sequence[str] | None, start: datetime, end: datetime
) -> Counter[tuple[int, str]]:
    """Escalations (督办升级) recorded in ``[start, end)`` per (hazard, estate), of hazards only: maintenance
    tasks are not hazards (``ids``: the estates; None: every estate)."""
    h, t = tables.hazards.c, tables.hazard_transitions.c
    query = (
        select(t.hazard_id, h.estate_id)
        .select_from(tables.hazard_transitions.join(tables.hazards, h.id == t.hazard_id))
        .where(
            true() if ids is None else h.estate_id.in_(list(ids)),
            h.criterion != MAINTENANCE_TASK,
            t.action == HazardAction.ESCALATE.value,
            t.at >= start,
            t.at < end,
        )
    )
    with store.engine.connect() as conn:
        return Counter((row.hazard_id, row.estate_id) for row in conn.execute(query))
