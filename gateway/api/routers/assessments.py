"""Assessments (排查登记) and later evidence, and the estate's out-of-use state (停租停用).

- ``GET/POST /api/estates/{estate_id}/assessments``: the estate's records, newest first; record one. An
  assessment needs ``record_assessment`` (office, brigade); a patrol log, drill, maintenance/testing report
  or duty roster needs ``record_evidence`` (also the property company).
- ``POST /api/assessments/{assessment_id}/void``: a record entered in error is voided, with a reason; it
  stays, marked (``record_assessment``).
- ``GET/POST /api/estates/{estate_id}/status``: out of use or in use, with its history (``set_estate_status``
  to change it; office, brigade).

Refusals name each bad field and what is allowed (422); nothing is written then.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import Field

from gateway.api.deps import Engine, Principal, Scope, actor_of
from gateway.api.limits import SHARE_REFUSAL, Share, daily_share
from gateway.api.schemas import SIGNED_IN_NAME, In, Out, RowId
from gateway.auth.principal import Permission
from gateway.store.assessments import AssessmentRecord, EstateStatusRecord
from gateway.store.database import NotFound
from rules.policy import EVIDENCE_KINDS, Policy

router = APIRouter(prefix="/api", tags=["assessments and evidence"])


class AttachmentIn(In):
    name: str = Field(description="what the file is, e.g. 排查登记表.pdf")
    url: str | None = Field(default=None, description="a link to it")
    path: str | None = Field(default=None, description="where the gateway stored it (POST /api/uploads)")
    sha256: str | None = Field(default=None, description="its SHA-256, 64 hex digits")


class AssessmentIn(In):
    kind: str = Field(description=f"one of {', '.join(EVIDENCE_KINDS)}")
    at: datetime | None = Field(
        default=None, description="when the inspection, drill or test took place, with its time zone (now)"
    )
    met: list[str] = Field(default_factory=list, description="green conditions found to hold, e.g. G1")
    not_met: list[str] = Field(
        default_factory=list, description="green conditions found not to hold (an assessment only)"
    )
    note: str = ""
    attachments: list[AttachmentIn] = Field(default_factory=list)
    by: str | None = Field(default=None, description=SIGNED_IN_NAME)


class AssessmentOut(Out):
    id: int
    estate_id: str
    kind: str
    at: datetime
    recorded_by: str
    recorded_at: datetime
    met: list[str]
    not_met: list[str]
    note: str
    attachments: list[dict[str, str]]
    voided: bool
    voided_at: datetime | None
    voided_by: str | None
    void_reason: str | None
    valid_until: dict[str, datetime] = Field(
        description="until when each met condition holds on this record (the policy's validity)"
    )


class VoidIn(In):
    reason: str = Field(min_length=1, description="why the record is void (entered for the wrong estate...)")
    by: str | None = Field(default=None, description=SIGNED_IN_NAME)


class StatusIn(In):
    out_of_use: bool = Field(description="true: out of use (停租停用); false: in use again")
    reason: str = Field(min_length=1)
    by: str | None = Field(default=None, description=SIGNED_IN_NAME)


class StatusChangeOut(Out):
    at: datetime
    out_of_use: bool
    by: str
    reason: str


class StatusOut(Out):
    estate_id: str
    out_of_use: bool
    since: datetime | None = Field(description="when it was last set (null: never set, in use)")
    #: The colour an estate out of use gets under the policy (grey in the four-colour policy), or null.
    out_of_use_colour: str | None = Field(
        description="the policy's colour for an estate out of use; null: recorded, but not graded"
    )
    history: list[StatusChangeOut] = Field(description="every change, oldest first")


def _assessment_out(record: AssessmentRecord, policy: Policy) -> AssessmentOut:
    valid: dict[str, datetime] = {}
    if not record.voided:
        for code in record.met:
            condition = policy.conditions.get(code)
            if condition is not None:
                valid[code] = record.at + condition.valid_for
    return AssessmentOut(
        id=record.id,
        estate_id=record.estate_id,
        kind=record.kind,
        at=record.at,
        recorded_by=record.recorded_by,
        recorded_at=record.recorded_at,
        met=record.met,
        not_met=record.not_met,
        note=record.note,
        attachments=record.attachments,
        voided=record.voided,
        voided_at=record.voided_at,
        voided_by=record.voided_by,
        void_reason=record.void_reason,
        valid_until=valid,
    )


def _status_out(estate_id: str, history: list[EstateStatusRecord], policy: Policy) -> StatusOut:
    last = history[-1] if history else None
    return StatusOut(
        estate_id=estate_id,
        out_of_use=last.out_of_use if last else False,
        since=last.at if last else None,
        out_of_use_colour=policy.out_of_use_colour,
        history=[StatusChangeOut.model_validate(h) for h in history],
    )


def _check_estate(engine: Engine, scope: Scope, estate_id: str) -> None:
    """An estate outside the scope and one that does not exist get the same 404."""
    scope.check(estate_id)
    try:
        engine.registry.estate(estate_id)
    except KeyError:
        raise NotFound(f"no estate {estate_id!r}") from None


@router.get("/estates/{estate_id}/assessments", summary="The estate's assessments and evidence, newest first")
async def list_assessments(estate_id: str, engine: Engine, scope: Scope) -> list[AssessmentOut]:
    _check_estate(engine, scope, estate_id)
    return [_assessment_out(r, engine.policy) for r in engine.store.assessments.find([estate_id])]


@router.post(
    "/estates/{estate_id}/assessments",
    status_code=status.HTTP_201_CREATED,
    summary="Record an assessment (排查登记) or evidence: patrol, drill, maintenance report, duty roster",
    dependencies=[daily_share(Share.EVIDENCE)],  # [limits] evidence_per_day (gateway/api/limits.py)
    responses=SHARE_REFUSAL,
)
async def record_assessment(
    estate_id: str, body: AssessmentIn, engine: Engine, scope: Scope, principal: Principal
) -> AssessmentOut:
    _check_estate(engine, scope, estate_id)
    if body.kind == "assessment":
        principal.check(Permission.RECORD_ASSESSMENT, "record assessments")
    else:
        principal.check(Permission.RECORD_EVIDENCE, "record evidence")
    record = engine.assessments.record(
        estate_id=estate_id,
        kind=body.kind,
        at=body.at or engine.clock(),
        by=actor_of(principal, body.by, "by"),
        met=body.met,
        not_met=body.not_met,
        note=body.note,
        attachments=[a.model_dump(exclude_none=True) for a in body.attachments],
    )
    return _assessment_out(record, engine.policy)


@router.post("/assessments/{assessment_id}/void", summary="Void a record entered in error (it stays, marked)")
async def void_assessment(
    assessment_id: RowId, body: VoidIn, engine: Engine, scope: Scope, principal: Principal
) -> AssessmentOut:
    record = engine.store.assessments.get(assessment_id)
    if not scope.allows(record.estate_id):
        raise NotFound(f"no assessment {assessment_id}")
    principal.check(Permission.RECORD_ASSESSMENT, "void assessments or evidence")
    voided = engine.assessments.void(assessment_id, by=actor_of(principal, body.by, "by"), reason=body.reason)
    return _assessment_out(voided, engine.policy)


@router.get(
    "/estates/{estate_id}/status", summary="Whether the estate is out of use (停租停用), with history"
)
async def get_status(estate_id: str, engine: Engine, scope: Scope) -> StatusOut:
    _check_estate(engine, scope, estate_id)
    return _status_out(estate_id, engine.store.estate_status.history(estate_id), engine.policy)


@router.post("/estates/{estate_id}/status", summary="Set the estate out of use, or back in use")
async def set_status(
    estate_id: str, body: StatusIn, engine: Engine, scope: Scope, principal: Principal
) -> StatusOut:
    _check_estate(engine, scope, estate_id)
    principal.check(Permission.SET_ESTATE_STATUS, "set an estate out of use")
    engine.assessments.set_out_of_use(
        estate_id=estate_id,
        out_of_use=body.out_of_use,
        by=actor_of(principal, body.by, "by"),
        reason=body.reason,
    )
    return _status_out(estate_id, engine.store.estate_status.history(estate_id), engine.policy)
