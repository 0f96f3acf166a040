"""What the routers depend on, as ``Annotated`` aliases (FastAPI resolves them per request)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from gateway.deadletter import DeadLetterStore
from gateway.pipeline import Pipeline
from gateway.registry import Registry
from gateway.rules_engine import RuleEngine
from gateway.store import NotFound
from gateway.telemetry_query import TelemetryReader


@dataclass(slots=True)
class ApiServices:
    registry: Registry
    pipeline: Pipeline
    engine: RuleEngine | None
    deadletters: DeadLetterStore | None
    clock: Callable[[], datetime]
    #: Reads stored telemetry back for charts and device pages (None: no charts).
    telemetry: TelemetryReader | None = None
    #: Where uploaded hazard photos are kept (None: uploads refused).
    uploads_dir: Path | None = None

    def require_engine(self) -> RuleEngine:
        if self.engine is None:
            raise NotFound(
                "the rule layer is disabled in this gateway's configuration ([rules] enabled = false)"
            )
        return self.engine


@dataclass(frozen=True, slots=True)
class EstateScope:
    """Which estates a request may see. ``None`` means all. Anything outside is "not found" (404), never
    "forbidden": a property company must not even learn that another company's estate exists."""

    estate_ids: frozenset[str] | None = None

    def allows(self, estate_id: str) -> bool:
        return self.estate_ids is None or estate_id in self.estate_ids

    def check(self, estate_id: str, what: str = "estate") -> None:
        if not self.allows(estate_id):
            raise NotFound(f"no {what} {estate_id!r}")

    def filter(self, estate_ids: list[str] | None) -> list[str] | None:
        """Estate ids for a store query: the requested ones within scope, or the scope itself."""
        if estate_ids is None:
            return None if self.estate_ids is None else sorted(self.estate_ids)
        return [e for e in estate_ids if self.allows(e)]


def _scope(request: Request) -> EstateScope:
    """Every estate until accounts and roles exist (issue 5 replaces this with the caller's scope)."""
    return EstateScope()


def _services(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


def _engine(request: Request) -> RuleEngine:
    return _services(request).require_engine()


Services = Annotated[ApiServices, Depends(_services)]
Engine = Annotated[RuleEngine, Depends(_engine)]
Scope = Annotated[EstateScope, Depends(_scope)]
