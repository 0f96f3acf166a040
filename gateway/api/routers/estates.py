"""Estates with their grade and reasons, and the grade history: when and why the grade changed."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from gateway.api.convert import estate_out
from gateway.api.deps import Scope, Services
from gateway.api.schemas import EstateOut, GradeChangeOut
from gateway.models import Estate
from gateway.store.database import NotFound

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


@router.get(
    "/{estate_id}/grade-history", summary="Every grade change of the estate, newest first, with reasons"
)
async def grade_history(
    estate_id: str,
    services: Services,
    scope: Scope,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
) -> list[GradeChangeOut]:
    scope.check(estate_id)
    _estate(services, estate_id)
    engine = services.require_engine()
    return [
        GradeChangeOut.model_validate(r)
        for r in engine.store.grades.history(estate_id, since=since, limit=limit)
    ]


def _estate(services: Services, estate_id: str) -> Estate:
    try:
        return services.registry.estate(estate_id)
    except KeyError:
        raise NotFound(f"no estate {estate_id!r}") from None
