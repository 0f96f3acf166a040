"""The policy in force (criteria catalogue for forms and placards) and a health check."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from gateway.api.deps import Engine, Scope, Services
from gateway.api.schemas import CriterionOut, HealthOut, IngestOut, PolicyOut, Text

router = APIRouter(prefix="/api", tags=["meta"])


@router.get("/policy", summary="The grading policy in force: colours, criteria (zh/en), signal mapping")
async def policy(engine: Engine) -> PolicyOut:
    p = engine.policy
    return PolicyOut(
        id=p.id,
        version=p.version,
        name=Text(zh=p.name.zh, en=p.name.en),
        colours=[c.model_dump() for c in p.colours],
        criteria=[
            CriterionOut(code=code, category=p.category(code), zh=c.zh, en=c.en)
            for code, c in p.criteria.items()
        ],
        signals={k.value: {s.value: codes for s, codes in t.items()} for k, t in p.signals.items()},
        monitoring={k.value: [s.value for s in signals] for k, signals in p.monitoring.items()},
        contradicts=p.contradicts,
        conditions={
            code: {
                "valid_for_s": c.valid_for.total_seconds(),
                "evidence": list(c.evidence),
                "source": c.source.model_dump(),
            }
            for code, c in p.conditions.items()
        },
        assessment_valid_s=p.assessment.valid_for.total_seconds(),
        max_window_s=p.maintenance.max_window.total_seconds(),
        deadlines={k: v.total_seconds() for k, v in p.deadlines.model_dump().items()},
    )


@router.get("/health", summary="Liveness, ingest state (broker, backlog, losses) and headline counters")
async def health(services: Services, scope: Scope) -> HealthOut:
    """Counts are of the caller's estates; the rule layer's counters, which add up every estate, are shown
    only to callers who see them all."""
    engine = services.engine
    registry = services.registry
    whole_city = scope.estate_ids is None
    devices = len(registry.devices)
    estates = len(registry.estates)
    if not whole_city:
        devices = sum(scope.allows(d.estate_id) for d in registry.devices)
        estates = sum(scope.allows(e.id) for e in registry.estates)
    ingest = services.health() if services.health is not None else None
    return HealthOut(
        status=ingest.status if ingest is not None else "ok",
        now=services.clock(),
        devices=devices,
        estates=estates,
        records_in=services.pipeline.stats.records_in,
        rules=asdict(engine.counters) if engine is not None and whole_city else None,
        ingest=IngestOut.model_validate(
            {k: v for k, v in asdict(ingest).items() if k in IngestOut.model_fields}
        )
        if ingest is not None
        else None,
    )
