"""Records from the store and the engine's state, turned into response bodies."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from gateway.api.deps import ApiServices
from gateway.api.schemas import (
    AlarmOut,
    DeviceCounts,
    DeviceOut,
    EstateOut,
    GradeOut,
    HazardOut,
    SignalOut,
    Text,
)
from gateway.casework.payloads import alarm_summary, grade_payload
from gateway.models import Device, DeviceKind, Estate
from gateway.store.hazards import MAINTENANCE_TASK
from gateway.store.records import AlarmRecord, HazardRecord
from rules.lifecycle import ESCALATION_LEVELS, escalation_level, is_overdue
from rules.policy import Policy


def hazard_out(hazard: HazardRecord, policy: Policy | None, now: datetime) -> HazardOut:
    criterion: Any = policy.criteria.get(hazard.criterion) if policy else None
    if policy is not None and hazard.criterion == MAINTENANCE_TASK:
        criterion = policy.texts.maintenance_task  # a monitoring fault: not an item of the standard
    data = asdict(hazard)
    data.pop("last_escalated_at")
    levels = policy.escalation.levels if policy else ESCALATION_LEVELS
    return HazardOut(
        **data,
        criterion_text=Text(zh=criterion.zh, en=criterion.en) if criterion else None,
        overdue=is_overdue(hazard.state, hazard.deadline, now),
        escalation_level=escalation_level(hazard.escalations, levels) if hazard.escalations else None,
    )


def alarm_out(alarm: AlarmRecord, now: datetime) -> AlarmOut:
    return AlarmOut.model_validate(alarm_summary(alarm, now))


def device_out(device: Device, services: ApiServices) -> DeviceOut:
    state = services.pipeline.devices.get(device.id)
    engine = services.engine
    online: bool | None = None
    signals: list[SignalOut] = []
    limits: dict[str, float] = {}
    if engine is not None and device.id in engine.fleet.rules:
        rules = engine.fleet.rules[device.id]
        # A device registered and never heard from is not online: null until it speaks (issue 14).
        online = rules.online if device.id in engine.fleet.heard else (False if not rules.online else None)
        if device.kind is DeviceKind.HYDRANT:
            limits = {
                "pressure_min_mpa": rules.t.pressure_min_mpa,
                "pressure_max_mpa": rules.t.pressure_max_mpa,
            }
        for kind in rules.active_signals():
            rule = rules.rules[kind]
            signals.append(
                SignalOut(signal=kind.value, since=rule.since, detail=rule.detail, value=rule.value)
            )
    return DeviceOut(
        id=device.id,
        kind=device.kind,
        estate_id=device.estate_id,
        building_id=device.building_id,
        location=device.location,
        floor=device.floor,
        wire_format=device.wire_format,
        online=online,
        active_signals=signals,
        last_seen=state.last_seen if state else None,
        last_time=state.last_time if state else None,
        last_event=state.last_event if state else "",
        metrics=dict(state.metrics) if state else {},
        messages=state.messages if state else 0,
        seq_gaps=state.seq_gaps if state else 0,
        clock_offset_s=state.clock_offset_s if state else None,
        limits=limits,
    )


def estate_out(estate: Estate, services: ApiServices, now: datetime, active_alarms: int) -> EstateOut:
    """One board tile's worth of facts. O(1) per estate: the engine keeps the device counts current."""
    engine = services.engine
    grade = None
    offline = failing = open_hazards = overdue = 0
    if engine is not None:
        current = engine.grader.grades.get(estate.id)
        if current is not None:
            grade = GradeOut.model_validate(grade_payload(current, engine.policy))
        total, offline, failing = engine.fleet.device_counts(estate.id)
        online = engine.fleet.online_count(estate.id)
        open_hazards = len(engine.index.open.get(estate.id, {}))
        overdue = engine.index.overdue_count(estate.id, now)
    else:
        total = sum(1 for d in services.registry.devices if d.estate_id == estate.id)
        online = total
    return EstateOut(
        id=estate.id,
        name=estate.name,
        district=estate.district,
        street=estate.street,
        property_company=estate.property_company,
        latitude=estate.latitude,
        longitude=estate.longitude,
        grade=grade,
        devices=DeviceCounts(
            total=total, online=online, offline=offline, failing=failing, not_heard=total - online - offline
        ),
        open_hazards=open_hazards,
        overdue_hazards=overdue,
        active_alarms=active_alarms,
    )
