"""Photos: of each step of a hazard (before, after rectification, re-check, other), uploads, and serving them.

- ``POST /api/hazards/{hazard_id}/photos``: ``multipart/form-data`` with the file ``photo``, ``step`` and an
  optional ``note``. Who may add which step: ``PHOTO_STEP_PERMISSIONS`` (before: those who file hazards;
  after: those who rectify; recheck: those who re-check; other: those who add notes).
- ``GET /api/hazards/{hazard_id}/photos``: oldest first, the photo given at filing first (a ``before``).
- ``POST /api/uploads``: a photo for a hazard about to be filed (the image itself as the body); the answer's
  ``photo`` goes into ``POST /api/hazards``.
- ``GET /api/uploads/{name}``: a stored photo, to an account that sees an estate whose hazard or placard
  posting shows it (an upload not yet used: only to the account that sent it).

Every photo goes through ``gateway.uploads.check_image`` (an image by its content, size, pixels, location
taken out) and counts against the sending account's daily quota. Refusals: 404 a hazard or photo outside the
caller's scope, 403 a step the role may not add, 413 too large, 422 not an image (or a bad field), 429 over
the daily quota (with ``Retry-After``), 409 the hazard has all the photos it takes. Nothing is kept then.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import FileResponse
from pydantic import BaseModel

from gateway.api.deps import Engine, Principal, Scope, Services, actor_of
from gateway.api.schemas import HazardPhotoOut, RowId
from gateway.auth.principal import PHOTO_STEP_PERMISSIONS, Permission
from gateway.casework.engine import RuleEngine
from gateway.casework.model import EngineError
from gateway.store.database import NotFound
from gateway.store.photos import PhotoStep
from gateway.store.records import HazardRecord
from gateway.uploads import (
    after_photo_missing,
    check_image,
    keep,
    keep_upload,
    new_upload,
    read_photo_form,
    read_raw_photo,
)

router = APIRouter(tags=["photos"])

FORM_FIELDS = frozenset({"step", "note", "actor"})
_STORED_NAME = re.compile(r"[0-9a-f]{32}\.(jpg|png|webp)")
_MEDIA_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


class UploadOut(BaseModel):
    photo: str


def _hazard_in_scope(engine: RuleEngine, scope: Scope, hazard_id: int) -> HazardRecord:
    hazard = engine.store.hazards.get(hazard_id)
    if not scope.allows(hazard.estate_id):
        raise NotFound(f"no hazard {hazard_id}")
    return hazard


def photo_fields(engine: RuleEngine, hazard: HazardRecord) -> dict[str, Any]:
    """What the hazard detail carries about photos: the photos, and what ``rectified`` would lack."""
    return {
        "photos": [HazardPhotoOut.model_validate(p) for p in engine.store.photos.for_hazard(hazard)],
        "after_photo_missing": after_photo_missing(engine.store, hazard, engine.hazards.photo_rules),
    }


def _step(value: str | None) -> PhotoStep:
    try:
        return PhotoStep(value or "")
    except ValueError:
        steps = ", ".join(s.value for s in PhotoStep)
        raise EngineError(f"step: {value or 'missing'}; one of {steps}") from None


_PHOTO_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["photo", "step"],
                    "properties": {
                        "photo": {"type": "string", "format": "binary", "description": "JPEG, PNG or WebP"},
                        "step": {"type": "string", "enum": [s.value for s in PhotoStep]},
                        "note": {"type": "string", "maxLength": 2000},
                        "actor": {"type": "string", "description": "only with accounts disabled"},
                    },
                }
            }
        },
    }
}
_RAW_PHOTO: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in _MEDIA_TYPES.values()},
    }
}
_REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such hazard, or not in the caller's scope"},
    409: {"description": "the hazard has all the photos one hazard takes ([photos] per_hazard)"},
    413: {"description": "larger than [photos] max_bytes"},
    422: {"description": "not one whole still JPEG, PNG or WebP image, too many pixels, or a bad field"},
    429: {"description": "the account's daily upload quota is used up; Retry-After says for how long"},
}


@router.post(
    "/api/hazards/{hazard_id}/photos",
    status_code=status.HTTP_201_CREATED,
    summary="Add a photo of a step of the hazard: before (found), after (rectified), recheck, other",
    openapi_extra=_PHOTO_FORM,
    responses=_REFUSALS,
)
async def add_photo(
    hazard_id: RowId, request: Request, services: Services, engine: Engine, scope: Scope, principal: Principal
) -> HazardPhotoOut:
    hazard = _hazard_in_scope(engine, scope, hazard_id)
    if not any(principal.can(p) for p in PHOTO_STEP_PERMISSIONS.values()):
        principal.check(PHOTO_STEP_PERMISSIONS[PhotoStep.BEFORE], "add photos to hazards")
    rules = engine.hazards.photo_rules
    fields, data = await read_photo_form(request, rules.max_bytes, FORM_FIELDS)
    step = _step(fields.get("step"))
    principal.check(PHOTO_STEP_PERMISSIONS[step], f"add {step.value!r} photos to hazards")
    note = fields.get("note", "")
    if len(note) > 2000:
        raise EngineError("note: at most 2000 characters")
    if data is None:
        raise EngineError("photo: missing; send the image as the multipart file 'photo'")
    added_by = actor_of(principal, fields.get("actor"))
    image = await asyncio.to_thread(check_image, data, max_bytes=rules.max_bytes, max_pixels=rules.max_pixels)
    now = engine.clock()
    photo = await keep(
        services.uploads_dir,
        image,
        lambda name: engine.store.photos.add_to_hazard(
            new_upload(image, name, account=principal.username, purpose="hazard", now=now),
            hazard,
            step=step,
            added_by=added_by,
            note=note,
            daily_bytes=rules.daily_bytes,
            per_hazard=rules.per_hazard,
        ),
        now,
        engine.policy.timezone,
    )
    return HazardPhotoOut.model_validate(photo)


@router.get("/api/hazards/{hazard_id}/photos", summary="The hazard's photos, oldest first")
async def list_photos(hazard_id: RowId, engine: Engine, scope: Scope) -> list[HazardPhotoOut]:
    hazard = _hazard_in_scope(engine, scope, hazard_id)
    return [HazardPhotoOut.model_validate(p) for p in engine.store.photos.for_hazard(hazard)]


@router.post(
    "/api/uploads",
    status_code=status.HTTP_201_CREATED,
    summary="Upload a photo for a hazard about to be filed (the image itself as the body)",
    openapi_extra=_RAW_PHOTO,
    responses={k: v for k, v in _REFUSALS.items() if k in (413, 422, 429)},
)
async def upload(request: Request, services: Services, engine: Engine, principal: Principal) -> UploadOut:
    # A photo is evidence for a hazard: only roles that may file or annotate hazards upload them.
    if not (principal.can(Permission.FILE_HAZARD) or principal.can(Permission.NOTE_HAZARD)):
        principal.check(Permission.FILE_HAZARD, "upload hazard photos")
    rules = engine.hazards.photo_rules
    data = await read_raw_photo(request, rules.max_bytes)
    image = await asyncio.to_thread(check_image, data, max_bytes=rules.max_bytes, max_pixels=rules.max_pixels)
    kept = await keep_upload(
        services.uploads_dir, engine, image, account=principal.username, purpose="hazard"
    )
    return UploadOut(photo=kept.ref)


@router.get(
    "/api/uploads/{name}",
    summary="A stored photo",
    response_class=FileResponse,
    responses={
        200: {
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in _MEDIA_TYPES.values()}
        }
    },
)
async def uploaded(name: str, services: Services, scope: Scope, principal: Principal) -> FileResponse:
    if services.uploads_dir is None or not _STORED_NAME.fullmatch(name):
        raise NotFound(f"no upload {name!r}")
    if services.engine is not None:
        estates, stored = services.engine.store.photos.owners(name)
        if estates:
            visible = any(scope.allows(estate) for estate in estates)
        else:  # not used yet: its sender's; stored before uploads were recorded: any account's, as then
            visible = stored is None or stored.account == principal.username
        if not visible:
            raise NotFound(f"no upload {name!r}")
    path = services.uploads_dir / name
    if not path.exists():
        raise NotFound(f"no upload {name!r}")
    headers = {"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"}
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers=headers)
