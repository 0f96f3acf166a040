"""Devices with their state (online, active signals, last values), history and rejected payloads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gateway.api.convert import device_out, hazard_out, signal_change_out
from gateway.api.deps import Scope, Services
from gateway.api.schemas import DeviceDetail, DeviceOut, RejectedOut, SignalChangeOut
from gateway.models import DeviceKind
from gateway.store.database import NotFound

router = APIRouter(prefix="/api/devices", tags=["devices"])


@router.get("", summary="Devices in scope with their state")
async def list_devices(
    services: Services,
    scope: Scope,
    estate_id: str | None = None,
    kind: DeviceKind | None = None,
    failing: Annotated[
        bool, Query(description="only offline devices or those with an active signal")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> list[DeviceOut]:
    out: list[DeviceOut] = []
    for device in services.registry.devices:
        if not scope.allows(device.estate_id):
            continue
        if estate_id is not None and device.estate_id != estate_id:
            continue
        if kind is not None and device.kind is not kind:
            continue
        item = device_out(device, services)
        if failing and item.online is not False and not item.active_signals:
            continue
        out.append(item)
        if len(out) >= limit:
            break
    return out


@router.get("/{device_id}", summary="One device: state, signal history, hazards, rejected payloads")
async def get_device(device_id: str, services: Services, scope: Scope) -> DeviceDetail:
    device = services.registry.resolve(device_id)
    if device is None or not scope.allows(device.estate_id):
        raise NotFound(f"no device {device_id!r}")
    base = device_out(device, services)
    history: list[SignalChangeOut] = []
    hazards = []
    engine = services.engine
    if engine is not None:
        history = [signal_change_out(s, device, services) for s in engine.store.signals.history(device.id)]
        now = services.clock()
        hazards = [
            hazard_out(h, engine.policy, now, engine.registry)
            for h in engine.store.hazards.find(device_id=device.id, limit=100)
        ]
    rejected: list[RejectedOut] = []
    if services.deadletters is not None:
        for letter in services.deadletters.recent(limit=50, device_id=device.id):
            payload = letter.payload.decode("utf-8", "replace") if letter.payload is not None else None
            rejected.append(
                RejectedOut(
                    received_at=letter.received_at,
                    reason=letter.reason,
                    detail=letter.detail,
                    topic=letter.topic,
                    payload=payload,
                )
            )
    return DeviceDetail(**base.model_dump(), signal_history=history, hazards=hazards, rejected=rejected)
