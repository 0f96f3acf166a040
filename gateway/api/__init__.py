"""The HTTP API: one router per resource, errors as JSON that say what is wrong.

Start here: ``create_app`` lists the routers; each router is a short file in ``routers/``; the services they
use (registry, pipeline, rule engine, dead letters, clock) come in through ``deps.Services`` as an
``Annotated`` dependency. The API runs on the gateway's own event loop (no threads), so a request sees the
same state the rules see, and its writes are ordered with the rules' writes.

Errors: 401 without a valid session or token, 403 for a permission the caller's role lacks, 404 for anything
unknown *or outside the caller's scope* (estate, hazard, alarm, device), 409 for a transition the state
machine forbids, 422 for input that cannot be right (unknown criterion, deadline in the past, malformed
body); each as ``{"error": "<kind>", "detail": "<what is wrong, and what would be right>"}``. A refused
request changes nothing.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gateway.api.deps import ApiServices, authenticate_api
from gateway.api.limits import install_limits
from gateway.api.openapi_errors import install_error_docs
from gateway.api.routers import (
    alarms,
    assessments,
    auth,
    complaints,
    devices,
    estates,
    handovers,
    hazards,
    meta,
    metrics,
    notifications,
    overview,
    parties,
    photos,
    placards,
    reports,
    todo,
    windows,
)
from gateway.api.security import SecurityHeaders
from gateway.auth.principal import Forbidden, Unauthenticated
from gateway.auth.throttle import Throttled
from gateway.casework.model import EngineError
from gateway.store.database import NotFound
from gateway.uploads import UploadRefused
from rules.lifecycle import ClosingError, TransitionError

__all__ = ["ApiServices", "create_app"]


def create_app(services: ApiServices) -> FastAPI:
    app = FastAPI(
        title="firegw",
        summary="Fire-safety telemetry gateway: estate grades, hazards, alarms and devices",
        version="0.1.0",
        description=(
            "Estates are graded red/yellow/green from their open hazards by the configured policy "
            "(default: annex 3 of the municipal standard). Hazards follow the closed loop reported → "
            "dispatched → rectifying → rectified → closed; alarms open → acknowledged → dispatched → "
            "on_scene → closed."
        ),
        # Every /api/ route but the sign-in needs a session or a token (gateway/api/deps.py).
        dependencies=[Depends(authenticate_api)],
    )
    app.state.services = services
    install_error_docs(app)  # every operation's refusals, with the error body, in /openapi.json
    install_limits(app, services)  # 413 past the body size (gateway/api/limits.py), inside the headers
    # CSP, frame-ancestors, nosniff, Referrer-Policy on every response (gateway/api/security.py).
    app.add_middleware(SecurityHeaders)
    for module in (auth, estates, hazards, complaints, assessments, alarms, devices, meta, metrics, reports):
        app.include_router(module.router)
    app.include_router(windows.router)
    app.include_router(placards.router)  # placard postings, and the public check page /p/{serial}
    app.include_router(photos.router)  # photos of hazard steps, uploads (gateway/uploads.py)
    app.include_router(parties.router)
    app.include_router(todo.router)
    app.include_router(notifications.router)  # messages pushed to people (gateway/notify)
    app.include_router(handovers.router)  # the shift handover log (交接班) of each control room
    app.include_router(overview.router)  # the duty overview (值班总览) and the map's outline

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(_: Request, exc: Unauthenticated) -> JSONResponse:
        return JSONResponse(
            {"error": "unauthenticated", "detail": str(exc)},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="firegw"'},
        )

    @app.exception_handler(Throttled)
    async def throttled(_: Request, exc: Throttled) -> JSONResponse:
        return JSONResponse(
            {"error": "too_many_attempts", "detail": str(exc)},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(Forbidden)
    async def forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse({"error": "forbidden", "detail": str(exc)}, status_code=403)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        detail = str(exc.args[0]) if exc.args else "not found"
        return JSONResponse({"error": "not_found", "detail": detail}, status_code=404)

    @app.exception_handler(TransitionError)
    async def forbidden_transition(_: Request, exc: TransitionError) -> JSONResponse:
        return JSONResponse({"error": "transition_refused", "detail": str(exc)}, status_code=409)

    @app.exception_handler(ClosingError)
    async def incomplete_close(_: Request, exc: ClosingError) -> JSONResponse:
        return JSONResponse({"error": "invalid", "detail": str(exc)}, status_code=422)

    @app.exception_handler(EngineError)
    async def refused(_: Request, exc: EngineError) -> JSONResponse:
        return JSONResponse({"error": "invalid", "detail": str(exc)}, status_code=422)

    @app.exception_handler(UploadRefused)
    async def upload_refused(_: Request, exc: UploadRefused) -> JSONResponse:
        body = {"error": exc.error, "detail": str(exc)}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"error": "invalid", "detail": "; ".join(problems)}, status_code=422)

    from gateway.web import mount_web  # the UI's own routes and static files

    mount_web(app)
    return app
