"""The control-room web UI: static pages served by the gateway, and the routes only the UI needs.

- ``/`` and ``/static/*``: a single page (plain HTML, CSS and JavaScript in ``gateway/web/static``, no build
  step, nothing fetched from the internet: control rooms often sit on closed networks). Chinese by default,
  English on a toggle.
- ``GET /api/live``: Server-Sent Events. Alarms, grade changes, hazard changes and priority device events
  (faults, tamper, communication faults) are pushed the moment the gateway has them, filtered to the
  caller's estates. SSE rather than WebSocket: the feed is one-way, browsers reconnect by themselves, and
  every action goes through the ordinary POST routes (and their permission checks).
- ``GET /api/devices/{id}/series`` and ``/recent``: stored telemetry for charts and the device page.

Photo uploads (``/api/uploads``) are in ``gateway/api/routers/photos.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from gateway.api.deps import ApiServices, Principal, Scope, Services
from gateway.auth.service import SessionWatch
from gateway.casework.model import RuleUpdate
from gateway.ingest.pipeline import CARRIED_METRICS, LiveEvent
from gateway.ingest.schema import EVENT_MEASUREMENT
from gateway.models import DeviceKind
from gateway.store.database import NotFound

router = APIRouter(tags=["web UI"])

STATIC_DIR = Path(str(resources.files("gateway.web") / "static"))

#: Which stored measurement and fields a device kind's charts show. A field that events carry as well
#: (``CARRIED_METRICS``: a GB/T 45839 detector in fault reports its battery only in status-3 events) is read
#: from ``device_event`` too, so the chart ends where the device's latest message is.
CHART_FIELDS: dict[DeviceKind, tuple[str, tuple[str, ...]]] = {
    DeviceKind.HYDRANT: ("hydrant", ("pressure_mpa", "battery_pct")),
    DeviceKind.SMOKE_DETECTOR: ("smoke_detector", ("battery_pct", "signal_dbm")),
    DeviceKind.CAMERA: ("camera", ()),
}


class SeriesOut(BaseModel):
    device_id: str
    measurement: str
    field: str
    points: list[tuple[datetime, float]]


class RecentPoint(BaseModel):
    measurement: str
    time: datetime
    fields: dict[str, Any]
    event: str = Field(default="", description="a device_event point's event type")
    signal: str = Field(default="", description="a device_signal point's signal")


def live_event_json(item: LiveEvent) -> dict[str, Any]:
    event = item.event
    return {
        "device": item.device.id,
        "estate": item.device.estate_id,
        "kind": item.device.kind.value,
        "building": item.device.building_id,
        "floor": item.device.floor,
        "location": item.device.location,
        "event": event.type.value,
        "time": event.time.isoformat(),
        "received_at": item.received_at.isoformat(),
        "attributes": dict(event.attributes),
    }


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    body = json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))
    return f"event: {kind}\ndata: {body}\n\n".encode()


LIVE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "a stream of `event: alarm|grade|hazard|device_event` with a JSON `data:` line each",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/api/live",
    summary="Server-Sent Events: alarms, grades, hazards, device faults as they happen",
    response_class=StreamingResponse,
    responses=LIVE_RESPONSE,
)
async def live(request: Request, services: Services, scope: Scope, principal: Principal) -> StreamingResponse:
    # The session is asked again every 2 s: a sign-out, a revoked token, an expiry, a disabled account or a
    # changed role closes the stream with a last ``event: ended`` (gateway/auth/service.py, SessionWatch).
    watch = SessionWatch(services.auth, principal)

    async def stream() -> AsyncIterator[bytes]:
        feeds: list[Any] = [services.pipeline.live]
        if services.engine is not None:
            feeds.append(services.engine.outbox.updates)
        queues = [feed.subscribe() for feed in feeds]
        getters: dict[asyncio.Task[Any], int] = {}
        try:
            yield b"retry: 2000\n\n"
            yield _sse("hello", {"at": services.clock().isoformat()})
            for index, queue in enumerate(queues):
                getters[asyncio.ensure_future(queue.get())] = index
            keep_alive_at = time.monotonic() + 15
            while True:
                done, _ = await asyncio.wait(
                    getters, timeout=watch.every, return_when=asyncio.FIRST_COMPLETED
                )
                if (ending := watch.ended()) is not None:
                    yield _sse("ended", {"code": ending[0], "reason": ending[1]})
                    return
                if not done:
                    if time.monotonic() >= keep_alive_at:
                        keep_alive_at = time.monotonic() + 15
                        yield b": keep-alive\n\n"
                        if await request.is_disconnected():
                            return
                    continue
                for task in done:
                    index = getters.pop(task)
                    getters[asyncio.ensure_future(queues[index].get())] = index
                    item = task.result()
                    if isinstance(item, LiveEvent):
                        if scope.allows(item.device.estate_id):
                            yield _sse("device_event", live_event_json(item))
                    elif isinstance(item, RuleUpdate) and scope.allows(item.estate_id):
                        yield _sse(item.kind, item.data)
        finally:
            for task in getters:
                task.cancel()
            for feed, queue in zip(feeds, queues, strict=True):
                feed.unsubscribe(queue)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


def _device_in_scope(services: ApiServices, scope: Any, device_id: str) -> Any:
    device = services.registry.resolve(device_id)
    if device is None or not scope.allows(device.estate_id):
        raise NotFound(f"no device {device_id!r}")
    return device


@router.get("/api/devices/{device_id}/series", summary="A stored field of a device over time, downsampled")
async def series(
    device_id: str,
    services: Services,
    scope: Scope,
    field: str = "pressure_mpa",
    hours: Annotated[float, Query(gt=0, le=24 * 400)] = 24.0,
    buckets: Annotated[int, Query(ge=2, le=2000)] = 200,
) -> SeriesOut:
    device = _device_in_scope(services, scope, device_id)
    measurement, fields = CHART_FIELDS[device.kind]
    if field not in fields:
        raise NotFound(f"no chart field {field!r} for a {device.kind.value}; available: {', '.join(fields)}")
    points: list[tuple[datetime, float]] = []
    if services.telemetry is not None:
        end = services.clock()
        start = end - timedelta(hours=hours)
        sources = (measurement, EVENT_MEASUREMENT) if field in CARRIED_METRICS else measurement
        points = await services.telemetry.series(device.id, sources, field, start, end, buckets)
    return SeriesOut(device_id=device.id, measurement=measurement, field=field, points=points)


@router.get("/api/devices/{device_id}/recent", summary="The device's latest stored messages")
async def recent(
    device_id: str, services: Services, scope: Scope, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[RecentPoint]:
    device = _device_in_scope(services, scope, device_id)
    if services.telemetry is None:
        return []
    return [
        RecentPoint(measurement=p.measurement, time=p.time, fields=p.fields, event=p.event, signal=p.signal)
        for p in await services.telemetry.recent(device.id, limit)
    ]


def mount_web(app: FastAPI) -> None:
    """Add the UI routes and the static files to the API app."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    index = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(index, headers={"Cache-Control": "no-cache"})

    with contextlib.suppress(Exception):
        app.openapi_schema = None  # regenerate with the UI routes included
