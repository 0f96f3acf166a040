"""The JSON shapes of a grade, a hazard and an alarm, shared by MQTT, the live updates and the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.store.records import AlarmRecord, HazardRecord
from rules.grading import Grade
from rules.lifecycle import is_overdue
from rules.policy import Policy


def grade_payload(grade: Grade, policy: Policy) -> dict[str, Any]:
    colour = policy.colour(grade.colour)
    return {
        "estate": grade.estate_id,
        "grade": grade.colour,
        "level": grade.level,
        "label": {"zh": colour.zh, "en": colour.en} if colour else {"zh": "未知", "en": "unknown"},
        "meaning": colour.meaning.model_dump()
        if colour
        else {"zh": "数据不足", "en": "inputs too old to grade"},
        "reasons": [
            {"codes": list(r.codes), "text": r.text, "hazards": list(r.hazard_ids)} for r in grade.reasons
        ],
        "summary": grade.summary,
        "red_items": list(grade.red_items),
        "yellow_items": list(grade.yellow_items),
        "missing_green": list(grade.missing_green),
        "open_hazards": grade.open_hazards,
        "tolerated": list(grade.tolerated),
        "stale": grade.stale,
        "rule": grade.rule,
        "decided_at": grade.decided_at.isoformat(),
        "last_heard": grade.last_heard.isoformat() if grade.last_heard else None,
        "policy": grade.policy,
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
    }


def alarm_summary(alarm: AlarmRecord, now: datetime) -> dict[str, Any]:
    return {
        "id": alarm.id,
        "estate": alarm.estate_id,
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
    }
