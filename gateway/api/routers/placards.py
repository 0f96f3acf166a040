"""Placard postings (公示牌张贴) and the public check page a placard's QR code leads to.

- ``POST /api/estates/{estate_id}/placard-postings``: record that the estate's placard was posted at the
  entrance: when, by whom (the signed-in account), which placard (its serial; by default the one of the
  estate's current grade) and a photo of it on the wall. ``multipart/form-data`` with a ``photo`` file and
  the other fields as form fields, or JSON without a photo. Needs ``post_placard`` (property company, street
  office, brigade). The photo must be a JPEG, PNG or WebP image, read by its content, at most 5 MiB, and
  counts against the account's daily upload quota (``gateway/uploads.py``, the same check as every photo);
  it is kept with the gateway's other uploads (``data_dir/uploads``) and served by
  ``GET /api/uploads/{name}``.
- ``GET /api/estates/{estate_id}/placard-postings``: the postings, newest first, each saying whether the
  posted placard still shows the estate's current grade.
- ``GET /p/{serial}``: public, no account. A small HTML page with the estate's name, its current colour
  (the policy's Chinese label), the date that grade was decided, and whether the placard with this serial
  is still current. Nothing else: no hazards, reasons, devices or people. An unknown serial is a 404 page.

Refusals name the field: an estate unknown or outside the caller's scope (404), a photo that is not an
image (422) or too large (413), a serial of another estate (422), an estate with no grade yet (409).
Nothing is written then.
"""

from __future__ import annotations

import asyncio
import html
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import Field, ValidationError

from gateway.api.deps import ApiServices, Engine, Principal, Scope, Services, actor_of
from gateway.api.schemas import SIGNED_IN_NAME, In, Out
from gateway.auth.principal import Permission
from gateway.casework.engine import RuleEngine
from gateway.casework.model import EngineError
from gateway.store.database import NotFound
from gateway.store.placards import PlacardPosting, PlacardSerial
from gateway.store.records import GradeChangeRecord
from gateway.uploads import check_image, keep_upload, read_photo_form
from rules.policy import NOT_ASSESSED, Policy

router = APIRouter(tags=["placards"])

#: The largest photo of a posted placard (a phone photo is 2–4 MiB).
MAX_PLACARD_PHOTO_BYTES = 5 << 20
#: The form fields of a posting with a photo.
POSTING_FIELDS = frozenset({"posted_at", "serial", "note", "posted_by"})


class Refused(Exception):
    """A posting refused with a status of its own (409 no grade yet)."""

    def __init__(self, status_code: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.error = error


class PostingIn(In):
    posted_at: datetime | None = Field(
        default=None, description="when it was posted, with its time zone (now); not in the future"
    )
    serial: str | None = Field(
        default=None, description="the serial printed on the posted placard (the current grade's placard)"
    )
    note: str = Field(default="", max_length=2000)
    posted_by: str | None = Field(default=None, description=SIGNED_IN_NAME)


class PostingOut(Out):
    id: int
    estate_id: str
    serial: str
    colour: str = Field(description="the colour printed on the posted placard (a policy colour id)")
    colour_zh: str
    graded_at: datetime = Field(description="when the grade printed on it was decided")
    posted_at: datetime
    posted_by: str
    photo: str | None = Field(description="uploads/<name>: GET /api/<photo>; null: no photo")
    note: str
    recorded_at: datetime
    current: bool = Field(description="the posted placard still shows the estate's current grade")
    check_url: str = Field(description="the public check page the placard's QR code leads to")


def colour_label(policy: Policy, colour: str) -> str:
    """The policy's Chinese label of a colour; 未评定 / 未知 for what is not a colour of the policy."""
    found = policy.colour(colour)
    if found is not None:
        return found.zh
    return "未评定" if colour == NOT_ASSESSED else "未知"


def _latest(engine: RuleEngine, estate_id: str) -> GradeChangeRecord | None:
    latest = engine.store.grades.history(estate_id, limit=1)
    return latest[0] if latest else None


def _out(posting: PlacardPosting, policy: Policy, latest: GradeChangeRecord | None, base: str) -> PostingOut:
    from gateway.reports.placard_qr import check_url

    return PostingOut(
        id=posting.id,
        estate_id=posting.estate_id,
        serial=posting.serial,
        colour=posting.colour,
        colour_zh=colour_label(policy, posting.colour),
        graded_at=posting.graded_at,
        posted_at=posting.posted_at,
        posted_by=posting.posted_by,
        photo=posting.photo,
        note=posting.note,
        recorded_at=posting.recorded_at,
        current=latest is not None and posting.graded_at == latest.at and posting.colour == latest.colour,
        check_url=check_url(base, posting.serial),
    )


def _check_estate(engine: RuleEngine, scope: Scope, estate_id: str) -> None:
    """An estate outside the scope and one that does not exist get the same 404."""
    scope.check(estate_id)
    try:
        engine.registry.estate(estate_id)
    except KeyError:
        raise NotFound(f"no estate {estate_id!r}") from None


async def _read_body(request: Request) -> tuple[dict[str, Any], bytes | None]:
    """The fields and the photo (or None), from a multipart form or a JSON body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            raise EngineError("body: not JSON (send JSON, or multipart/form-data with a photo)") from None
        if not isinstance(body, dict):
            raise EngineError("body: a JSON object expected")
        return body, None
    return await read_photo_form(request, MAX_PLACARD_PHOTO_BYTES, POSTING_FIELDS)


def _refused(exc: Refused) -> JSONResponse:
    return JSONResponse({"error": exc.error, "detail": str(exc)}, status_code=exc.status_code)


_POSTING_BODY: dict[str, Any] = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "photo": {
                            "type": "string",
                            "format": "binary",
                            "description": "JPEG/PNG/WebP ≤ 5 MiB",
                        },
                        **{k: {"type": "string"} for k in ("posted_at", "serial", "note", "posted_by")},
                    },
                }
            },
            "application/json": {"schema": PostingIn.model_json_schema()},
        }
    }
}


@router.post(
    "/api/estates/{estate_id}/placard-postings",
    status_code=status.HTTP_201_CREATED,
    summary="Record that the estate's placard (公示牌) was posted: when, by whom, its serial, a photo",
    response_model=PostingOut,
    openapi_extra=_POSTING_BODY,
    responses={
        404: {"description": "no such estate, or not in the caller's scope"},
        409: {"description": "the estate has no grade yet, so no placard to post"},
        413: {"description": "photo larger than 5 MiB"},
        422: {"description": "photo not an image, serial of another estate, posted_at in the future"},
    },
)
async def post_placard(
    estate_id: str,
    request: Request,
    services: Services,
    engine: Engine,
    scope: Scope,
    principal: Principal,
) -> Any:
    _check_estate(engine, scope, estate_id)
    principal.check(Permission.POST_PLACARD, "record placard postings")
    try:
        fields, photo = await _read_body(request)
        try:
            body = PostingIn.model_validate(fields)
        except ValidationError as exc:
            problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
            raise EngineError("; ".join(problems)) from None
        now = engine.clock()
        posted_at = body.posted_at or now
        if posted_at.tzinfo is None:
            raise EngineError("posted_at: give a time zone (e.g. +08:00)")
        if posted_at > now:
            raise EngineError(f"posted_at: {posted_at.isoformat()} is in the future")
        image = None
        if photo is not None:
            max_pixels = engine.hazards.photo_rules.max_pixels
            image = await asyncio.to_thread(
                check_image, photo, max_bytes=MAX_PLACARD_PHOTO_BYTES, max_pixels=max_pixels
            )
        latest = _latest(engine, estate_id)
        serial: PlacardSerial
        if body.serial:
            try:
                serial = engine.store.placards.serial(body.serial)
            except NotFound:
                raise EngineError(f"serial: no placard {body.serial!r} was printed by this gateway") from None
            if serial.estate_id != estate_id:
                raise EngineError(f"serial: placard {body.serial!r} is not one of estate {estate_id}")
        elif latest is None:
            raise Refused(
                409, "conflict", f"estate {estate_id} has no grade yet: there is no placard to post"
            )
        else:
            serial = engine.store.placards.serial_for(latest, now)
    except Refused as exc:
        return _refused(exc)
    stored = None
    if image is not None:
        kept = await keep_upload(
            services.uploads_dir, engine, image, account=principal.username, purpose="placard"
        )
        stored = kept.ref
    posting = engine.store.placards.post(
        serial=serial,
        posted_at=posted_at,
        posted_by=actor_of(principal, body.posted_by, "posted_by"),
        photo=stored,
        note=body.note,
        now=now,
    )
    from gateway.api.routers.reports import public_base_url

    return _out(posting, engine.policy, latest, public_base_url(request))


@router.get(
    "/api/estates/{estate_id}/placard-postings",
    summary="The estate's placard postings, newest first, each with whether it is still current",
)
async def list_postings(estate_id: str, request: Request, engine: Engine, scope: Scope) -> list[PostingOut]:
    from gateway.api.routers.reports import public_base_url

    _check_estate(engine, scope, estate_id)
    latest = _latest(engine, estate_id)
    base = public_base_url(request)
    return [_out(p, engine.policy, latest, base) for p in engine.store.placards.postings(estate_id)]


# -- the public check page -------------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>
body{{font-family:system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:0;padding:24px;
color:#111827;background:#f3f4f6}}
main{{max-width:28rem;margin:0 auto;background:#fff;border-radius:12px;padding:24px}}
h1{{font-size:1.4rem;margin:0 0 16px}}
.colour{{font-size:2.4rem;font-weight:700;padding:16px;border-radius:8px;text-align:center;
background:{fill};color:{ink}}}
p{{font-size:1.05rem;line-height:1.5}}
.state{{font-weight:700}} .small{{color:#5a626e;font-size:.85rem}}
</style></head>
<body><main>{body}</main></body></html>
"""


def _page(
    title: str, body: str, fill: str = "#e5e7eb", ink: str = "#111827", code: int = 200
) -> HTMLResponse:
    headers = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}
    return HTMLResponse(
        _PAGE.format(title=html.escape(title), body=body, fill=fill, ink=ink),
        status_code=code,
        headers=headers,
    )


def _not_found() -> HTMLResponse:
    body = "<h1>未找到此公示牌</h1><p>二维码无效或已被更换。Placard not found.</p>"
    return _page("未找到公示牌", body, code=404)


def check_page(engine: RuleEngine, serial: PlacardSerial, now: datetime) -> HTMLResponse:
    """What a resident sees: the estate, its current colour and date, and whether this placard is current."""
    from gateway.reports.colours import NOT_A_GRADE, colour_rgb

    estate = engine.registry.estate(serial.estate_id)
    policy = engine.policy
    tz = ZoneInfo(policy.timezone)
    latest = _latest(engine, serial.estate_id)
    if latest is None:  # pragma: no cover - a serial is only issued for a grade on record
        return _not_found()
    label = colour_label(policy, latest.colour)
    decided = latest.at.astimezone(tz).date().isoformat()
    printed = serial.graded_at.astimezone(tz).date().isoformat()
    if serial.current(latest):
        state = "此公示牌为当前评定，颜色与日期均为最新。"
        state_en = "This placard shows the current grade."
    elif latest.colour == serial.colour:
        state = f"此公示牌颜色未变，但已于 {decided} 重新评定，公示牌待更新（此牌评定日期 {printed}）。"
        state_en = "Same colour, but re-graded since this placard was printed: it is due for replacement."
    else:
        state = f"此公示牌已过期：牌上为{colour_label(policy, serial.colour)}（{printed}），当前为{label}。"
        state_en = "This placard is out of date: the estate's grade has changed."
    if latest.colour in NOT_A_GRADE or policy.colour(latest.colour) is None:
        fill, ink = "#e5e7eb", "#111827"
    else:
        r, g, b = colour_rgb(latest.colour)
        fill = f"#{r:02x}{g:02x}{b:02x}"
        ink = "#111827" if 0.299 * r + 0.587 * g + 0.114 * b > 160 else "#ffffff"
    e = html.escape
    body = (
        f"<h1>{e(estate.name)}</h1>"
        f'<div class="colour">{e(label)}</div>'
        f"<p>当前评定日期：{e(decided)}</p>"
        f'<p class="state">{e(state)}</p>'
        f'<p class="small">{e(state_en)} Checked {e(now.astimezone(tz).strftime("%Y-%m-%d %H:%M"))}.</p>'
    )
    return _page(f"{estate.name} 消防安全公示牌核验", body, fill, ink)


@router.get("/p/{serial}", include_in_schema=False, response_class=HTMLResponse)
async def public_check(serial: str, request: Request) -> HTMLResponse:
    """Public: no account. Only the estate's name, current colour and date, and whether this placard is
    current."""
    services: ApiServices = request.app.state.services
    engine = services.engine
    if engine is None or len(serial) > 32:
        return _not_found()
    try:
        found = engine.store.placards.serial(serial)
        return check_page(engine, found, services.clock())
    except (NotFound, KeyError):
        return _not_found()
