"""Records from the store and the engine's state, turned into response bodies."""

from __future__ import annotations

from collections.abc import Sequence
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
    SignalChangeOut,
    SignalOut,
    Text,
    TransitionOut,
)
from gateway.casework.engine import RuleEngine
from gateway.casework.payloads import alarm_summary, grade_payload, property_party
from gateway.ingest.registry import Registry
from gateway.models import Device, DeviceKind, Estate
from gateway.store.hazards import MAINTENANCE_TASK
from gateway.store.records import AlarmRecord, HazardRecord, TransitionRecord
from rules.history_texts import actor_text, transition_text
from rules.lifecycle import ESCALATION_LEVELS, escalation_level, is_overdue
from rules.model import SignalChange, SignalKind
from rules.policy import Policy
from rules.texts import signal_name, signal_text, stored_description_en
from rules.thresholds import Thresholds


def estate_name(registry: Registry | None, estate_id: str) -> str:
    """The estate's name, or "" for one the registry no longer has."""
    try:
        return registry.estate(estate_id).name if registry is not None else ""
    except KeyError:
        return ""


def hazard_out(
    hazard: HazardRecord, policy: Policy | None, now: datetime, registry: Registry | None = None
) -> HazardOut:
    """``registry``: where the estate's name comes from (pages show names, not codes)."""
    criterion: Any = policy.criteria.get(hazard.criterion) if policy else None
    if policy is not None and hazard.criterion == MAINTENANCE_TASK:
        criterion = policy.texts.maintenance_task  # a monitoring fault: not an item of the standard
    data = asdict(hazard)
    data.pop("last_escalated_at")
    levels = policy.escalation.levels if policy else ESCALATION_LEVELS
    return HazardOut(
        **data,
        estate_name=estate_name(registry, hazard.estate_id),
        description_text=description_text(hazard, registry),
        criterion_text=Text(zh=criterion.zh, en=criterion.en) if criterion else None,
        overdue=is_overdue(hazard.state, hazard.deadline, now),
        escalation_level=escalation_level(hazard.escalations, levels) if hazard.escalations else None,
    )


def alarms_out(alarms: Sequence[AlarmRecord], engine: RuleEngine, now: datetime) -> list[AlarmOut]:
    """Alarms with their places named (the registry, in memory) and each estate's property company and phone
    (one read of the parties for them all)."""
    parties = engine.store.parties.all() if alarms else []
    return [
        AlarmOut.model_validate(alarm_summary(a, now, engine.registry, property_party(parties, a.estate_id)))
        for a in alarms
    ]


def description_text(hazard: HazardRecord, registry: Registry | None) -> Text | None:
    """A device hazard's description in both languages (the stored one is in the policy's language);
    None for people's own words."""
    if hazard.source != "device" or not hazard.signal or not hazard.device_id or registry is None:
        return None
    device = registry.resolve(hazard.device_id)
    if device is None:
        return None
    return Text(zh=hazard.description, en=stored_description_en(device, hazard.signal, hazard.value))


def transition_out(
    record: TransitionRecord, signal: str = "", timezone: str = "Asia/Shanghai"
) -> TransitionOut:
    """One history line: as recorded, and as people read it in either language (rules/history_texts.py)."""
    text = transition_text(record.action, record.reason, record.data, signal=signal, timezone=timezone)
    return TransitionOut(**asdict(record), text=Text(**text), actor_text=Text(**actor_text(record.actor)))


def signal_change_out(record: Any, device: Device, services: ApiServices) -> SignalChangeOut:
    """A device's signal change, with the sentence people read (the rule's ``detail`` is for engineers)."""
    out = SignalChangeOut.model_validate(record)
    engine = services.engine
    rules = engine.fleet.rules.get(device.id) if engine is not None else None
    if rules is None or out.signal not in SignalKind.__members__.values():
        return out
    change = SignalChange(
        device_id=device.id,
        estate_id=device.estate_id,
        signal=SignalKind(out.signal),
        active=out.active,
        at=out.at,
        since=out.since,
        detail=out.detail,
        value=out.value,
    )
    return out.model_copy(update={"detail_text": _signal_text(change, rules.t, device.reading)})


def _signal_text(change: SignalChange, t: Thresholds, reading: str) -> Text | None:
    """What a signal found in words, or None when its name (the UI's ``signal.*``) says it all."""
    text = signal_text(change, t, reading)
    return None if text["zh"] == signal_name(change.signal, "zh") else Text(**text)


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
            since = rule.since or services.clock()
            change = SignalChange(
                device_id=device.id,
                estate_id=device.estate_id,
                signal=kind,
                active=True,
                at=since,
                since=since,
                detail=rule.detail,
                value=rule.value,
            )
            signals.append(
                SignalOut(
                    signal=kind.value,
                    since=rule.since,
                    detail=rule.detail,
                    value=rule.value,
                    detail_text=_signal_text(change, rules.t, device.reading),
                )
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
