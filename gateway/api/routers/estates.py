"""Estates with their grade and reasons, and the grade history: when and why the grade changed."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field

from gateway.api.convert import estate_out
from gateway.api.deps import Scope, Services
from gateway.api.schemas import EstateOut, GradeChangeOut, ReasonOut
from gateway.models import Estate
from gateway.store.database import NotFound
from gateway.store.records import GradeChangeRecord

router = APIRouter(prefix="/api/estates", tags=["estates"])


def _active_alarms(services: Services) -> Counter[str]:
    if services.engine is None:
        return Counter()
    return Counter(a.estate_id for a in services.engine.store.alarms.find(open_only=True, limit=100_000))


@router.get(
    "",
    summary="Every estate in scope with its grade, reasons and counts",
    response_model=list[EstateOut],
)
async def list_estates(
    request: Request,
    services: Services,
    scope: Scope,
    district: str | None = None,
    street: str | None = None,
    grade: Annotated[str | None, Query(description="only estates with this grade")] = None,
) -> Response:
    """The estate board. Each estate's entry is cached as JSON until something it shows changes (the
    engine's per-estate version, its alarm and overdue counts), so a city of 2,000 estates is a join of
    cached fragments, not 2,000 model builds."""
    now = services.clock()
    alarms = _active_alarms(services)
    engine = services.engine
    cache: dict[str, tuple[tuple[int, int, int], bytes, str | None]] | None = getattr(
        request.app.state, "estate_board_cache", None
    )
    if cache is None:
        cache = request.app.state.estate_board_cache = {}
    parts: list[bytes] = []
    for estate in services.registry.estates:
        if not scope.allows(estate.id):
            continue
        if district is not None and estate.district != district:
            continue
        if street is not None and estate.street != street:
            continue
        if engine is not None:
            key = (
                engine.estate_version[estate.id],
                alarms[estate.id],
                engine.index.overdue_count(estate.id, now),
            )
            hit = cache.get(estate.id)
            if hit is None or hit[0] != key:
                item = estate_out(estate, services, now, alarms[estate.id])
                hit = (key, item.model_dump_json().encode(), item.grade.grade if item.grade else None)
                cache[estate.id] = hit
            body, colour = hit[1], hit[2]
        else:
            item = estate_out(estate, services, now, alarms[estate.id])
            body, colour = item.model_dump_json().encode(), None
        if grade is not None and colour != grade:
            continue
        parts.append(body)
    return Response(b"[" + b",".join(parts) + b"]", media_type="application/json")


@router.get("/{estate_id}", summary="One estate with its grade and reasons")
async def get_estate(estate_id: str, services: Services, scope: Scope) -> EstateOut:
    scope.check(estate_id)
    estate = _estate(services, estate_id)
    return estate_out(estate, services, services.clock(), _active_alarms(services)[estate_id])


class GradeStepOut(GradeChangeOut):
    """A grade row and what changed since the row before it."""

    colour_changed: bool = Field(description="the colour differs from the row before (or this is the first)")
    added: list[ReasonOut] = Field(description="decisive reasons this row has and the row before had not")
    removed: list[ReasonOut] = Field(description="decisive reasons of the row before that this row has not")


#: Rows read at most to find ``limit`` changes of colour or decisive reason (most rows may only change
#: other reasons): four times ``limit`` first, then further back.
_CHANGES_SCAN = 10_000


def _reason_key(reason: dict[str, Any]) -> str:
    """One physical problem: its criteria and hazards (a hazard's text changes with its readings)."""
    codes = ",".join(reason.get("codes") or [])
    hazards = reason.get("hazards") or []
    return f"{codes}#{','.join(hazards)}" if hazards else f"{codes}#{reason.get('text', '')}"


def _decisive(row: GradeChangeRecord | None) -> dict[str, dict[str, Any]]:
    if row is None:
        return {}
    return {_reason_key(r): r for r in row.reasons if r.get("decisive")}


def grade_steps(rows: list[GradeChangeRecord], complete: bool) -> list[GradeStepOut]:
    """Newest-first grade rows with what changed. ``complete``: ``rows`` reach back to the first row ever
    (otherwise the oldest row only serves as the one before the others)."""
    steps = []
    for index, row in enumerate(rows if complete else rows[:-1]):
        before = rows[index + 1] if index + 1 < len(rows) else None
        now, then = _decisive(row), _decisive(before)
        steps.append(
            GradeStepOut.model_validate(
                {
                    **asdict(row),
                    "colour_changed": before is None or before.colour != row.colour,
                    "added": [r for key, r in now.items() if key not in then],
                    "removed": [r for key, r in then.items() if key not in now],
                }
            )
        )
    return steps


@router.get(
    "/{estate_id}/grade-history", summary="Every grade change of the estate, newest first, with reasons"
)
async def grade_history(
    estate_id: str,
    services: Services,
    scope: Scope,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
    changes: Annotated[
        bool,
        Query(
            description="only rows where the colour or the decisive reasons changed (not a yellow -> yellow "
            "row that repeats them while another reason comes or goes); without it, every row"
        ),
    ] = False,
) -> list[GradeStepOut]:
    """Each row says what changed since the one before it: the colour, and the decisive reasons that
    appeared (``added``) or went (``removed``). With ``since``, the oldest row returned counts as a first."""
    scope.check(estate_id)
    _estate(services, estate_id)
    engine = services.require_engine()
    wanted = min(_CHANGES_SCAN, limit * 4) if changes else limit
    while True:
        rows = engine.store.grades.history(estate_id, since=since, limit=wanted + 1)
        complete = len(rows) <= wanted
        steps = grade_steps(rows, complete)
        if not changes:
            return steps
        steps = [s for s in steps if s.colour_changed or s.added or s.removed]
        if len(steps) >= limit or complete or wanted >= _CHANGES_SCAN:
            return steps[:limit]
        wanted = min(_CHANGES_SCAN, wanted * 4)  # mostly repeats so far: read further back


def _estate(services: Services, estate_id: str) -> Estate:
    try:
        return services.registry.estate(estate_id)
    except KeyError:
        raise NotFound(f"no estate {estate_id!r}") from None
