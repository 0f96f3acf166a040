"""A small generated fleet whose estates sit where a test needs them: a district and a property company each.

Scope tests (an office sees its district, a property account its company) need estates placed on purpose; the
generator places them at random. ``laid_out_registry({"E001": ("东城区", "锦绣物业"), ...})`` keeps the
generated buildings and devices and moves each estate.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.ingest.registry import Registry
from simulators.fleet import generate_fleet


def laid_out_registry(
    layout: Mapping[str, tuple[str, str]], *, smoke_per_estate: int = 2, seed: int = 5
) -> Registry:
    """``layout``: estate id → (district, property company), for estates E001, E002, … in order."""
    fleet = generate_fleet(
        estates=len(layout),
        smoke_per_estate=smoke_per_estate,
        hydrants_per_estate=1,
        cameras_per_estate=0,
        modbus_share=0.0,
        seed=seed,
    )
    estates = [
        e.model_copy(update={"district": layout[e.id][0], "property_company": layout[e.id][1]})
        for e in fleet.estates
    ]
    return Registry(estates=tuple(estates), buildings=fleet.buildings, devices=fleet.devices)
