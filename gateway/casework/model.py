"""What the casework hands the rest of the gateway: live updates, its counters, and its refusals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.ingest.registry import Registry
from gateway.store.database import NotFound

#: The injected clock: the scenario clock in tests and demos, UTC wall time in production.
Clock = Callable[[], datetime]


class EngineError(ValueError):
    """A request the engine refuses before touching the store (unknown estate, unknown criterion...)."""


@dataclass(frozen=True, slots=True)
class RuleUpdate:
    """What the control room's live view is told: a grade, hazard or alarm changed."""

    kind: str  # grade / hazard / alarm
    estate_id: str
    at: datetime
    data: dict[str, Any]


@dataclass(slots=True)
class EngineCounters:
    signals: int = 0
    hazards_opened: int = 0
    hazards_auto_closed: int = 0
    grade_changes: int = 0
    alarms_raised: int = 0
    escalations: int = 0
    store_errors: int = 0
    regrades: int = 0
    #: ``StoreSync.sync`` runs that found another gateway's changes.
    store_syncs: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)


def check_estate(registry: Registry, estate_id: str) -> None:
    """Refuse a request for an estate the registry does not know (``NotFound``: the API answers 404)."""
    try:
        registry.estate(estate_id)
    except Exception:
        raise NotFound(f"no estate {estate_id!r} in the registry") from None
