"""The JSON shapes of a grade, a hazard and an alarm, shared by MQTT, the live updates and the API."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from gateway.ingest.registry import Registry
from gateway.models import Building, Device, Estate
from gateway.store.parties import PartyKind, PartyRecord
from gateway.store.records import AlarmRecord, HazardRecord
from rules.grading import Grade
from rules.lifecycle import is_overdue
from rules.policy import Policy

#: Labels of the two colours the engine adds to every policy.
ENGINE_COLOURS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "unknown": ({"zh": "未知", "en": "unknown"}, {"zh": "设备全部失联", "en": "every device silent"}),
    "not_assessed": (
        {"zh": "未评定", "en": "not assessed"},
        {"zh": "尚未排查登记或证明到期", "en": "not yet assessed, or evidence expired"},
    ),
}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def grade_payload(grade: Grade, policy: Policy) -> dict[str, Any]:
    colour = policy.colour(grade.colour)
    if colour is not None:
        label, meaning = {"zh": colour.zh, "en": colour.en}, colour.meaning.model_dump()
    else:
        label, meaning = ENGINE_COLOURS.get(grade.colour, ENGINE_COLOURS["unknown"])
    return {
        "estate": grade.estate_id,
        "grade": grade.colour,
        "level": grade.level,
        "label": label,
        "meaning": meaning,
        "reasons": [
            {
                "codes": list(r.codes),
                "text": r.text,
                "hazards": list(r.hazard_ids),
                "decisive": r.decisive,
                "device": r.device,
                "device_kind": r.device_kind.value if r.device_kind else None,
                "signal": r.signal,
                "detail": r.detail,
                "place": r.place,
                "text_en": r.text_en,
            }
            for r in grade.reasons
        ],
        "summary": grade.summary,
        "red_items": list(grade.red_items),
        "yellow_items": list(grade.yellow_items),
        "missing_green": list(grade.missing_green),
        "open_hazards": grade.open_hazards,
        "tolerated": list(grade.tolerated),
        "tolerated_en": list(grade.tolerated_en),
        "stale": grade.stale,
        "rule": grade.rule,
        "rule_en": grade.rule_en,
        "decided_at": grade.decided_at.isoformat(),
        "last_heard": _iso(grade.last_heard),
        "policy": grade.policy,
        "policy_name": policy.name.model_dump(),
        "assessed_at": _iso(grade.assessed_at),
        "assessment_valid_until": _iso(grade.assessment_valid_until),
        "conditions": [
            {
                "code": c.code,
                "state": c.state,
                "evidence_kind": c.evidence_kind,
                "record_id": c.record_id,
                "at": _iso(c.at),
                "by": c.by,
                "valid_until": _iso(c.valid_until),
                "contradicted_by": list(c.contradicted_by),
            }
            for c in grade.conditions
        ],
        "coverage": grade.coverage,
        "monitoring_faults": grade.monitoring_faults,
        "out_of_use": grade.out_of_use,
    }


def hazard_summary(hazard: HazardRecord, now: datetime) -> dict[str, Any]:
    return {
        "id": hazard.id,
        "estate": hazard.estate_id,
        "criterion": hazard.criterion,
        "criteria": hazard.criteria,
        "source": hazard.source,
        "device": hazard.device_id,
        "signal": hazard.signal,
        "state": hazard.state.value,
        "description": hazard.description,
        "deadline": hazard.deadline.isoformat() if hazard.deadline else None,
        "overdue": is_overdue(hazard.state, hazard.deadline, now),
        "opened_at": hazard.opened_at.isoformat(),
        "closed_at": hazard.closed_at.isoformat() if hazard.closed_at else None,
        "close_kind": hazard.close_kind,
        "party_id": hazard.party_id,
        "escalations": hazard.escalations,
        "reopened_from": hazard.reopened_from,
    }


def _registry_entries(
    registry: Registry | None, alarm: AlarmRecord
) -> tuple[Estate | None, Building | None, Device | None]:
    if registry is None:
        return None, None, None
    try:
        estate: Estate | None = registry.estate(alarm.estate_id)
    except KeyError:  # an estate the registry no longer has: its id only
        estate = None
    return estate, registry.building(alarm.building_id), registry.resolve(alarm.device_id)


def property_party(parties: Iterable[PartyRecord], estate_id: str) -> PartyRecord | None:
    """The active property company serving ``estate_id`` (one with a phone first), or None."""
    serving = [
        p for p in parties if p.kind is PartyKind.PROPERTY_COMPANY and p.active and p.serves(estate_id)
    ]
    return min(serving, key=lambda p: (not p.phone, p.id), default=None)


def alarm_summary(
    alarm: AlarmRecord, now: datetime, registry: Registry | None = None, party: PartyRecord | None = None
) -> dict[str, Any]:
    """An alarm, with what the control room reads beside the ids (GB/T 45839: estate, building, device, a
    phone) when ``registry`` (in memory) and the estate's property company ``party`` are given."""
    estate, building, device = _registry_entries(registry, alarm)
    return {
        "id": alarm.id,
        "estate": alarm.estate_id,
        "estate_name": estate.name if estate is not None else "",
        "building_name": building.name if building is not None else "",
        "device_kind": device.kind.value if device is not None else None,
        "property_company": party.name if party else (estate.property_company if estate is not None else ""),
        "property_phone": party.phone if party else "",
        "device": alarm.device_id,
        "building": alarm.building_id,
        "floor": alarm.floor,
        "location": alarm.location,
        "state": alarm.state.value,
        "outcome": alarm.outcome.value if alarm.outcome else None,
        "raised_at": alarm.raised_at.isoformat(),
        "received_at": alarm.received_at.isoformat(),
        "ack_s": alarm.seconds_to(alarm.acknowledged_at),
        "dispatch_s": alarm.seconds_to(alarm.dispatched_at),
        "on_scene_s": alarm.seconds_to(alarm.on_scene_at),
        "close_s": alarm.seconds_to(alarm.closed_at),
        "elapsed_s": (now - alarm.received_at).total_seconds(),
        "device_cleared": alarm.device_cleared_at is not None,
        "repeats": alarm.repeats,
        #: Raised inside a maintenance window: shown, pre-marked as a test (测试/维护中).
        "window_id": alarm.window_id,
        "test": alarm.window_id is not None,
        "cause": alarm.cause.value if alarm.cause else None,
        "cause_text": alarm.cause_text,
        "fatal": alarm.fatal,
        "high_impact": alarm.high_impact,
    }
