"""Bounds on what the HTTP API takes in: a request body's size, and an account's daily share of the store.

- **Body size** (``BodyLimit``, an ASGI middleware): a body larger than ``[limits] body_bytes`` is refused
  with 413 and a sentence, from its ``Content-Length`` before a byte of it is read, or as soon as a body sent
  without one passes the bound. Routes that take a photo (their request body is declared as a file or a form
  in the OpenAPI document: ``POST /api/uploads``, a hazard's photos, a placard posting) may carry a photo
  as large as ``[photos] max_bytes`` and a form around it; ``gateway/uploads.py`` holds them to their own,
  tighter, limits. Text fields have their own bounds (gateway/api/schemas.py, ``In``).
- **Daily share** (``daily_share``, a route dependency): an account may record at most
  ``[limits] hazards_per_day`` hazards, ``complaints_per_day`` complaints and ``evidence_per_day`` evidence
  records in any 24 hours, counted from the store (so the count holds across restarts and gateways). One
  over is 429 with ``Retry-After``: when the oldest of them leaves the 24 hours.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import fastapi.routing
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import Column, Table, func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.deps import ApiServices, Principal
from gateway.api.routers.placards import MAX_PLACARD_PHOTO_BYTES
from gateway.config import PhotosSection
from gateway.store import tables
from gateway.store.assessments import assessments
from gateway.uploads import FORM_OVERHEAD, size_text

DAY = timedelta(hours=24)


class OverLimit(HTTPException):
    """A request past one of the bounds: 413 ``too_large`` (its body) or 429 ``daily_share`` (with
    ``Retry-After``). An ``HTTPException``, so that FastAPI lets it through from a body being read."""

    def __init__(self, status_code: int, error: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(status_code, detail, headers)
        self.error = error


def install_limits(app: FastAPI, services: ApiServices) -> None:
    """Add the body limit and the refusals' answer to ``app`` (before any middleware that should see its
    answers, such as the security headers)."""
    photos = services.engine.hazards.photo_rules if services.engine is not None else PhotosSection()
    uploads = max(photos.max_bytes, MAX_PLACARD_PHOTO_BYTES) + FORM_OVERHEAD
    app.add_middleware(BodyLimit, max_bytes=services.limits.body_bytes, upload_bytes=uploads, api=app)

    @app.exception_handler(OverLimit)
    async def over_limit(_: Request, exc: OverLimit) -> JSONResponse:
        return _answer(exc)


def _answer(exc: OverLimit) -> JSONResponse:
    return JSONResponse(
        {"error": exc.error, "detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
    )


def upload_paths(app: FastAPI) -> list[re.Pattern[str]]:
    """The routes whose request body the OpenAPI document declares as a file or a form: they take photos.
    (Recent FastAPI keeps included routers as nodes of ``app.routes``; ``iter_route_contexts`` walks them.)"""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    contexts: list[Any] = (
        [(r, r) for r in app.routes]
        if iterate is None
        else [(c, c.original_route) for c in iterate(app.routes)]
    )
    found = []
    for effective, route in contexts:
        body = (getattr(route, "openapi_extra", None) or {}).get("requestBody", {})
        content = body.get("content", {})
        files = "multipart/form-data" in content or any(
            (media.get("schema") or {}).get("format") == "binary" for media in content.values()
        )
        if isinstance(route, APIRoute) and files:
            found.append(effective.path_regex)
    return found


class BodyLimit:
    """ASGI middleware: 413 for a request body past its route's bound (see the module)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, upload_bytes: int, api: FastAPI) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes
        self.api = api
        self._upload_paths: list[re.Pattern[str]] | None = None

    def limit(self, path: str) -> tuple[int, str]:
        """The bound of a path, and what it is called in the refusal."""
        if self._upload_paths is None:  # the routes are all there by the first request
            self._upload_paths = upload_paths(self.api)
        if any(p.match(path) for p in self._upload_paths):
            return self.upload_bytes, "a photo upload may carry ([photos] max_bytes and its form)"
        return self.max_bytes, "a request may carry ([limits] body_bytes); photos go to POST /api/uploads"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, what = self.limit(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer(_too_large(limit, what, declared))(scope, receive, send)
            return
        received = 0
        started = False

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(limit, what, None)
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, tracking)
        except OverLimit as exc:  # read outside FastAPI's body parsing (which answers it itself)
            if started:
                raise
            await _answer(exc)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _too_large(limit: int, what: str, size: int | None) -> OverLimit:
    given = f"{size_text(size)} is" if size is not None else "the body is"
    return OverLimit(413, "too_large", f"body: {given} larger than the {size_text(limit)} {what}")


# -- each account's daily share of the store ---------------------------------------------------------------


class Share(StrEnum):
    HAZARDS = "hazards"
    COMPLAINTS = "complaints"
    EVIDENCE = "evidence"


#: What counts for each share: the table, who recorded a row, when, and which rows count.
_COUNTED: dict[Share, tuple[Table, Column[Any], Column[Any], list[Any]]] = {
    Share.HAZARDS: (
        tables.hazards,
        tables.hazards.c.reporter,
        tables.hazards.c.opened_at,
        [tables.hazards.c.source == "manual"],
    ),
    Share.COMPLAINTS: (tables.complaints, tables.complaints.c.reporter, tables.complaints.c.recorded_at, []),
    Share.EVIDENCE: (assessments, assessments.c.recorded_by, assessments.c.recorded_at, []),
}
_WORDS = {
    Share.HAZARDS: ("hazards filed", "hazards_per_day"),
    Share.COMPLAINTS: ("complaints recorded", "complaints_per_day"),
    Share.EVIDENCE: ("evidence records (assessments, patrols, drills...)", "evidence_per_day"),
}


#: The refusal ``daily_share`` adds to a route's documented answers.
SHARE_REFUSAL: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "the account recorded its share of these in the last 24 hours ([limits]); Retry-After"
    }
}


def daily_share(share: Share) -> Any:
    """A route dependency: 429 when the signed-in account has recorded its day's share of ``share``.
    (With accounts disabled there is no account to count: the API is then for a closed network.)"""

    def check(request: Request, principal: Principal) -> None:
        services: ApiServices = request.app.state.services
        if principal.authenticated and services.engine is not None:
            engine = services.engine
            limit = getattr(services.limits, _WORDS[share][1])
            check_share(
                engine.store.engine, share, principal.actor, limit, engine.clock(), engine.policy.timezone
            )

    return Depends(check)


def check_share(db: Any, share: Share, actor: str, limit: int, now: datetime, tz: str) -> None:
    """``OverLimit`` (429) when ``actor`` recorded ``limit`` rows of ``share`` in the 24 hours before
    ``now``; it says when the next one is allowed (the oldest of them leaves the 24 hours)."""
    table, who, when, also = _COUNTED[share]
    recent = (who == actor, when > now - DAY, *also)
    with db.connect() as conn:
        count = int(conn.execute(select(func.count()).select_from(table).where(*recent)).scalar_one())
        if count < limit:
            return
        oldest = select(when).where(*recent).order_by(when).offset(count - limit).limit(1)
        frees_at: datetime = conn.execute(oldest).scalar_one() + DAY
    wait = max(1, math.ceil((frees_at - now).total_seconds()))
    words, key = _WORDS[share]
    local = frees_at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    raise OverLimit(
        429,
        "daily_share",
        f"{actor}: {count} {words} in the last 24 hours, the most one account may ([limits] {key} = "
        f"{limit}); the next is taken from {local} ({tz})",
        headers={"Retry-After": str(wait)},
    )
