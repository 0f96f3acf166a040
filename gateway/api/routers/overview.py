"""The duty overview (值班总览 / 大屏) and the map it and the board draw.

- ``GET /api/overview``: devices per kind, open alarms by age, hazards, estates per colour, for the caller's
  estates (``gateway/casework/overview.py`` says what each figure counts). Computed from the engine's memory
  and one small query: a wall screen may ask every few seconds.
- ``GET /api/overview/trends?hours=24``: per hour, alarms, hazards opened and closed, devices offline
  (``gateway/store/trends.py``).
- ``GET /api/map``: the city, which district outline the map draws, and AMap's key where the map draws on
  AMap's streets (``[ui] amap_key``; by default nothing is loaded from outside the gateway,
  docs/control-room-ui.md).
- ``GET /api/map/districts``: a deployment's own outline (``[ui] map``); the bundled one is a static file.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from pydantic import Field

from gateway.api.deps import Engine, Scope
from gateway.api.schemas import Out
from gateway.casework.overview import Overview, device_figures, overview
from gateway.config import UiSection
from gateway.store.database import NotFound
from gateway.store.trends import TrendQueries, hour_starts

router = APIRouter(tags=["duty overview"])

#: The outline shipped with the UI (gateway/web/static/maps/SOURCE.md).
BUNDLED_MAP = "/static/maps/zhengzhou.json"


class TrendsOut(Out):
    hours: int
    starts: list[str] = Field(description="start of each hour, oldest first (the last is the current hour)")
    alarms: list[int] = Field(description="alarms that arrived (test alarms left out)")
    hazards_opened: list[int] = Field(description="hazards opened (maintenance tasks left out)")
    hazards_closed: list[int]
    devices_offline: list[int] = Field(
        description="devices offline at the end of the hour (now for the last)"
    )


class AmapOut(Out):
    """What a browser needs to load AMap's Web JS API 2.0 (``[ui] amap_key``)."""

    key: str
    security_code: str = Field(description="AMap's 安全密钥 for the key; empty where the key has none")
    timeout_s: float = Field(description="how long to wait for AMap before drawing the outline instead")


class MapOut(Out):
    city: str
    districts_url: str = Field(description="the district outline: GeoJSON, GCJ-02 longitude/latitude")
    amap: AmapOut | None = Field(
        default=None, description="AMap's online streets under the estates, where configured; else null"
    )


def _ui(request: Request) -> UiSection:
    ui = getattr(request.app.state, "ui", None)
    return ui if isinstance(ui, UiSection) else UiSection()


def _scoped(engine: Engine, scope: Scope) -> list[str]:
    return [e.id for e in engine.registry.estates if scope.allows(e.id)]


@router.get(
    "/api/overview", summary="The duty overview: devices, open alarms by age, hazards, estate colours"
)
async def get_overview(engine: Engine, scope: Scope) -> Overview:
    return overview(engine, _scoped(engine, scope), engine.clock(), whole_city=scope.estate_ids is None)


@router.get("/api/overview/trends", summary="The last hours, per hour: alarms, hazards, devices offline")
async def get_trends(
    engine: Engine, scope: Scope, hours: Annotated[int, Query(ge=1, le=24 * 7)] = 24
) -> TrendsOut:
    now = engine.clock()
    estate_ids = _scoped(engine, scope)
    store_ids = None if scope.estate_ids is None else estate_ids
    queries = TrendQueries(engine.store.db)
    starts = hour_starts(now, hours)
    offline_now = sum(k.offline for k in device_figures(engine, estate_ids, now))
    opened, closed = queries.hazards(starts, store_ids)
    return TrendsOut(
        hours=hours,
        starts=[s.isoformat() for s in starts],
        alarms=queries.alarms(starts, store_ids),
        hazards_opened=opened,
        hazards_closed=closed,
        devices_offline=queries.offline(starts, offline_now, store_ids),
    )


@router.get("/api/map", summary="The map: the city and the district outline to draw")
async def get_map(request: Request) -> MapOut:
    ui = _ui(request)
    return MapOut(
        city=ui.city,
        districts_url="/api/map/districts" if ui.map is not None else BUNDLED_MAP,
        amap=AmapOut(key=ui.amap_key, security_code=ui.amap_security_code, timeout_s=ui.amap_timeout_s)
        if ui.amap_key
        else None,
    )


@router.get(
    "/api/map/districts",
    summary="The district outline of [ui] map (GeoJSON)",
    response_class=FileResponse,
    responses={
        200: {
            "content": {
                "application/geo+json": {
                    "schema": {
                        "type": "object",
                        "description": "a GeoJSON FeatureCollection, one feature per district",
                    }
                }
            }
        }
    },
)
async def get_districts(request: Request) -> FileResponse:
    path = _ui(request).map
    if path is None:
        raise NotFound(f"no [ui] map configured: the bundled outline is {BUNDLED_MAP}")
    if not path.is_file():
        raise NotFound(f"[ui] map: {path} does not exist")
    return FileResponse(path, media_type="application/geo+json")
