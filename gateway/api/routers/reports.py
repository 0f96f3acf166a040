"""Printables: an estate's placard (公示牌) as PDF or PNG, the monthly report as PDF, XLSX or CSV, and the
quarterly assessment of property companies as JSON (for the UI), PDF or XLSX.

All are scope-checked like every other route: an estate outside the caller's scope is "not found", and a
report only ever contains estates in scope. Reading the store and rendering run in a worker thread,
so a large report does not hold up the live alarm feed on the gateway's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from gateway.api.deps import Engine, EstateScope, Scope, Services
from gateway.config import ReportsSection
from gateway.reports.fonts import FontMissing
from gateway.reports.monthly.figures import build_monthly_report
from gateway.reports.monthly.model import MEDIA_TYPES, NothingToReport, ReportError
from gateway.reports.quarterly import model as quarterly_model
from gateway.reports.quarterly.build import build_quarterly_report
from gateway.store.database import NotFound

router = APIRouter(tags=["reports"])

_PLACARD_MEDIA = {"pdf": "application/pdf", "png": "image/png"}
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_NOT_FOUND = {"description": "no such estate, or not in the caller's scope"}
_NO_FONT = {"description": "no CJK font installed on the gateway (the message says what to install)"}


def _settings(request: Request) -> ReportsSection:
    settings = getattr(request.app.state, "reports", None)
    return settings if isinstance(settings, ReportsSection) else ReportsSection()


def public_base_url(request: Request) -> str:
    """Where residents reach the gateway, for the placard's QR code: ``[api] public_url``, or the address
    this request came in at (the API's own address)."""
    configured = getattr(request.app.state, "public_url", "")
    return configured if isinstance(configured, str) and configured else str(request.base_url)


def _disposition(kind: str, filename: str, ascii_name: str) -> str:
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def _unavailable(exc: FontMissing) -> JSONResponse:
    return JSONResponse({"error": "unavailable", "detail": str(exc)}, status_code=503)


async def _placard(
    fmt: Literal["pdf", "png"],
    estate_id: str,
    request: Request,
    services: Services,
    engine: Engine,
    scope: Scope,
) -> Response:
    scope.check(estate_id)
    try:
        estate = services.registry.estate(estate_id)
    except KeyError:
        raise NotFound(f"no estate {estate_id!r}") from None
    settings = _settings(request)
    now = services.clock()
    public_url = public_base_url(request)

    def make() -> bytes:
        from gateway.reports.placard import placard_for, render_placard  # reportlab, Pillow: on first use

        data = placard_for(
            engine.store, estate, engine.policy, hotline=settings.hotline, now=now, public_url=public_url
        )
        return render_placard(data, fmt, settings.font or None)

    try:
        content = await asyncio.to_thread(make)
    except FontMissing as exc:
        return _unavailable(exc)
    name = f"placard-{estate.id}.{fmt}"
    return Response(
        content,
        media_type=_PLACARD_MEDIA[fmt],
        headers={"Content-Disposition": _disposition("inline", f"{estate.name}-{name}", name)},
    )


_PLACARD_DOC = "The estate's grade placard for the main entrance (公示牌): colour, meaning, date, reasons"


@router.get(
    "/api/estates/{estate_id}/placard.pdf",
    summary=_PLACARD_DOC + " (A4 PDF)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": _BINARY}}, 404: _NOT_FOUND, 503: _NO_FONT},
)
async def placard_pdf(
    estate_id: str, request: Request, services: Services, engine: Engine, scope: Scope
) -> Response:
    return await _placard("pdf", estate_id, request, services, engine, scope)


@router.get(
    "/api/estates/{estate_id}/placard.png",
    summary=_PLACARD_DOC + " (PNG, A4 at 150 dpi)",
    response_class=Response,
    responses={200: {"content": {"image/png": _BINARY}}, 404: _NOT_FOUND, 503: _NO_FONT},
)
async def placard_png(
    estate_id: str, request: Request, services: Services, engine: Engine, scope: Scope
) -> Response:
    return await _placard("png", estate_id, request, services, engine, scope)


@router.get(
    "/api/reports/monthly",
    summary="Monthly report of a district or property company (estates in the caller's scope only)",
    description=(
        "Hazards by criterion, estate and hour of day; rectification rate (隐患整改率); facility intact rate "
        "(设施完好率); alarm response times against the 1/3/5-minute targets; grade changes. The "
        "definitions are printed in the report and in docs/reports.md."
    ),
    response_class=Response,
    responses={
        200: {"content": dict.fromkeys(MEDIA_TYPES.values(), _BINARY)},
        404: {"description": "no estate in the caller's scope matches the district or company"},
        422: {"description": "not a month (YYYY-MM), or a month that has not started"},
        503: _NO_FONT,
    },
)
async def monthly_report(
    request: Request,
    services: Services,
    engine: Engine,
    scope: Scope,
    month: Annotated[
        str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM", examples=["2026-11"])
    ],
    district: str | None = None,
    company: str | None = None,
    fmt: Annotated[Literal["pdf", "xlsx", "csv"], Query(alias="format")] = "pdf",
) -> Response:
    settings = _settings(request)
    now = services.clock()

    def make() -> tuple[bytes, str]:
        from gateway.reports.monthly.render import render_report  # reportlab, openpyxl: on first use

        chosen = _chosen(district, company, scope)
        report = build_monthly_report(
            engine.store, services.registry, engine.policy, month=month, now=now, **chosen
        )
        return render_report(report, fmt, settings.font or None), report.scope_zh

    return await _report_file(make, MEDIA_TYPES[fmt], f"report-{month}", fmt)


@router.get(
    "/api/reports/quarterly",
    summary="Quarterly assessment of property companies (季度考核), estates in the caller's scope only",
    description=(
        "Per property company: rectification rate (隐患整改率: hazards rectified and verified by their "
        "deadline ÷ hazards due; device hazards that closed themselves counted apart), facility intact rate "
        "(设施完好率), overdue and escalated hazards, alarm response times; ranked within each street and "
        "district, against the previous quarter. JSON by default (``in_progress`` while the quarter runs); "
        "``format=pdf`` or ``xlsx`` to download. Definitions in docs/reports.md."
    ),
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "description": "the report's figures per company and its rankings (docs/reports.md)",
                    }
                }
            }
            | dict.fromkeys(("application/pdf", MEDIA_TYPES["xlsx"]), _BINARY)
        },
        404: {"description": "no estate in the caller's scope matches the district or company"},
        422: {"description": "not a quarter (YYYYQn, e.g. 2026Q4), or a quarter that has not started"},
        503: _NO_FONT,
    },
)
async def quarterly_report(
    request: Request,
    services: Services,
    engine: Engine,
    scope: Scope,
    quarter: Annotated[str, Query(description="YYYYQn, in the policy's time zone", examples=["2026Q4"])],
    district: str | None = None,
    company: str | None = None,
    fmt: Annotated[Literal["json", "pdf", "xlsx"], Query(alias="format")] = "json",
) -> Response:
    settings = _settings(request)
    now = services.clock()

    def make() -> tuple[bytes, str]:
        from gateway.reports.quarterly.render import render_report  # reportlab, openpyxl: on first use

        chosen = _chosen(district, company, scope)
        report = build_quarterly_report(
            engine.store, services.registry, engine.policy, quarter=quarter, now=now, **chosen
        )
        return render_report(report, fmt, settings.font or None), report.scope_zh

    return await _report_file(make, quarterly_model.MEDIA_TYPES[fmt], f"quarterly-{quarter}", fmt)


def _chosen(district: str | None, company: str | None, scope: EstateScope) -> dict[str, Any]:
    """What a report covers: the district and company asked for, within the caller's scope."""
    return {"district": district or None, "company": company or None, "allowed": scope.allows}


async def _report_file(
    make: Callable[[], tuple[bytes, str]], media_type: str, stem: str, fmt: str
) -> Response:
    """Run ``make`` (store reads and rendering, which return the content and the scope's name) in a worker
    thread and answer the report: JSON as is, a file as an attachment named after the scope; or the
    refusal (nothing in scope 404, a bad period 422, no font 503)."""
    try:
        content, scope_name = await asyncio.to_thread(make)
    except NothingToReport as exc:
        raise NotFound(str(exc)) from None
    except ReportError as exc:
        return JSONResponse({"error": "invalid", "detail": str(exc)}, status_code=422)
    except FontMissing as exc:
        return _unavailable(exc)
    if fmt == "json":
        return Response(content, media_type=media_type)
    disposition = _disposition("attachment", f"{stem}-{scope_name}.{fmt}", f"{stem}.{fmt}")
    return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})
