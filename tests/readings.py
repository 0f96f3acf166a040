"""Readings the rule-layer tests send on behalf of a whole fleet."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.ingest.registry import Registry
from gateway.models import Device, Reading


def healthy_readings(registry: Registry, now: datetime) -> list[tuple[Device, Reading]]:
    """Every device reports, all well (a full battery; hydrants at 0.35 MPa): keeps the offline rule quiet
    while a test's clock jumps ahead."""
    items = []
    for device in registry.devices:
        metrics: dict[str, Any] = {"battery_pct": 90.0}
        if device.kind.value == "hydrant":
            metrics["pressure_mpa"] = 0.35
        items.append((device, Reading(device_id=device.id, time=now, metrics=metrics)))
    return items
