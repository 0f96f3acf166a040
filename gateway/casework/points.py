"""The casework's InfluxDB points: signal changes, hazard and alarm transitions, grades, device summaries.

Pure builders (the schema's names come from ``gateway.ingest.schema``): the callers add the points to the
``Outbox``. Tags are the estate's (or device's) tags computed once at start-up.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from gateway.ingest.registry import Registry
from gateway.ingest.schema import (
    ALARM_MEASUREMENT,
    ESTATE_DEVICES_MEASUREMENT,
    GRADE_MEASUREMENT,
    HAZARD_MEASUREMENT,
    SIGNAL_MEASUREMENT,
    rule_point,
)
from gateway.ingest.sinks.base import Point
from gateway.models import DeviceKind
from gateway.store.records import AlarmRecord, HazardRecord
from rules.device_rules import DeviceRules
from rules.grading import Grade
from rules.lifecycle import is_overdue
from rules.model import SignalChange, SignalKind

Tags = dict[str, str]


def signal_point(device_tags: Tags, change: SignalChange, now: datetime) -> Point:
    return rule_point(
        SIGNAL_MEASUREMENT,
        {**device_tags, "signal": change.signal.value},
        {
            "active": 1.0 if change.active else 0.0,
            "since_s": change.since.timestamp(),
            "value": change.value,
            "detail": change.detail,
        },
        now,
    )


def hazard_point(estate_tags: Tags, hazard: HazardRecord, now: datetime, at: datetime) -> Point:
    """One hazard transition at ``at`` (``Outbox.event_time``); ``now`` decides whether it is overdue."""
    tags = {
        **estate_tags,
        "criterion": hazard.criterion,
        "source": hazard.source,
        "state": hazard.state.value,
    }
    tags.pop("street", None)
    return rule_point(
        HAZARD_MEASUREMENT,
        tags,
        {
            "count": 1.0,
            "hazard_id": str(hazard.id),
            "device": hazard.device_id or "",
            "overdue": is_overdue(hazard.state, hazard.deadline, now),
            "detail": hazard.description,
        },
        at,
    )


def alarm_point(estate_tags: Tags, alarm: AlarmRecord, at: datetime) -> Point:
    tags = {**estate_tags, "device": alarm.device_id}
    tags.pop("street", None)
    tags["outcome"] = alarm.outcome.value if alarm.outcome else "open"
    if alarm.cause is not None:  # closed as a false alarm (or a fault): why
        tags["cause"] = alarm.cause.value
    return rule_point(
        ALARM_MEASUREMENT,
        tags,
        {
            "count": 1.0,
            "alarm_id": str(alarm.id),
            "ack_s": alarm.seconds_to(alarm.acknowledged_at),
            "dispatch_s": alarm.seconds_to(alarm.dispatched_at),
            "on_scene_s": alarm.seconds_to(alarm.on_scene_at),
            "close_s": alarm.seconds_to(alarm.closed_at),
        },
        at,
    )


def grade_point(registry: Registry, estate_tags: Tags, grade: Grade, now: datetime) -> Point:
    # The estate's coordinates ride along (fields, left out when the registry has none), so that a map
    # of grades needs nothing but this measurement (the city overview's geomap).
    place: dict[str, float | None] = {}
    with contextlib.suppress(KeyError):
        estate = registry.estate(grade.estate_id)
        place = {"latitude": estate.latitude, "longitude": estate.longitude}
    return rule_point(
        GRADE_MEASUREMENT,
        estate_tags,
        {
            "grade": grade.colour,
            "grade_level": float(grade.level),
            "red_items": len(grade.red_items),
            "yellow_items": len(grade.yellow_items),
            "missing_green": len(grade.missing_green),
            "open_hazards": grade.open_hazards,
            "reasons": "; ".join(str(r) for r in grade.reasons),
            # Beside the grade: the share of monitored devices without a monitoring fault (left out when
            # nothing is monitored), whether a current assessment (排查登记) holds, and how many green
            # conditions have no current evidence (never evidenced, or expired).
            "coverage": grade.coverage,
            "monitoring_faults": grade.monitoring_faults,
            "assessed": grade.assessment_valid_until is not None and grade.assessment_valid_until > now,
            "conditions_due": sum(1 for c in grade.conditions if c.state in ("due", "missing")),
            **place,
        },
        now,
    )


def device_summary_points(estate_tags: Tags, rules: Iterable[DeviceRules], now: datetime) -> list[Point]:
    """Per device kind of one estate, in one pass: total, online, offline, faulty (a signal other than
    offline), and the share of healthy devices."""
    by_kind: dict[DeviceKind, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for device_rules in rules:
        active = device_rules.active_signals()
        row = by_kind[device_rules.device.kind]
        row[0] += 1
        row[2 if SignalKind.OFFLINE in active else 1] += 1
        row[3] += any(s is not SignalKind.OFFLINE for s in active)
        row[4] += not active
    points = []
    for kind, (total, online, offline, faulty, healthy) in by_kind.items():
        points.append(
            rule_point(
                ESTATE_DEVICES_MEASUREMENT,
                {**estate_tags, "kind": kind.value},
                {
                    "total": total,
                    "online": online,
                    "offline": offline,
                    "faulty": faulty,
                    "healthy_share": healthy / total if total else 1.0,
                },
                now,
                priority=False,
            )
        )
    return points
