"""What a scenario is: the fleet, the clock speed, the reporting intervals and the timed incidents.

The file names the fleet by its generator parameters (or a registry file), so the gateway and the simulator
agree on the devices without shipping a 10,000-device registry. ``loading`` builds these from TOML;
``runner`` plays them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.ingest.registry import Registry, load_registry
from simulators.devices.factory import ReportIntervals
from simulators.fleet import generate_fleet


class ScenarioError(ValueError):
    """The scenario is invalid; ``problems`` lists every problem with its location."""

    def __init__(self, source: str, problems: list[str]) -> None:
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{source}: {len(problems)} problem(s) in the scenario:\n  {shown}{more}")
        self.source = source
        self.problems = problems


@dataclass(frozen=True)
class FleetSpec:
    """Parameters of ``simulators.fleet.generate_fleet`` (``seed`` None = the scenario's seed)."""

    estates: int = 4
    smoke_per_estate: int = 20
    hydrants_per_estate: int = 6
    cameras_per_estate: int = 4
    modbus_share: float = 0.5
    modbus_host: str = "127.0.0.1"
    modbus_port: int = 5020
    modbus_hosts: tuple[str, ...] = ()
    units_per_gateway: int = 247
    modbus_poll_s: float = 60.0
    gbt_share: float = 0.12
    ctwing_share: float = 0.13
    seed: int | None = None

    def generate(self, default_seed: int) -> Registry:
        return generate_fleet(
            self.estates,
            self.smoke_per_estate,
            self.hydrants_per_estate,
            self.cameras_per_estate,
            self.modbus_share,
            self.seed if self.seed is not None else default_seed,
            self.modbus_host,
            self.modbus_port,
            modbus_hosts=self.modbus_hosts or None,
            units_per_gateway=self.units_per_gateway,
            modbus_poll_s=self.modbus_poll_s,
            gbt_share=self.gbt_share,
            ctwing_share=self.ctwing_share,
        )


@dataclass(frozen=True)
class Incident:
    """One timed action on one or more devices, ``at_s`` simulated seconds after the start."""

    at_s: float
    devices: tuple[str, ...]
    action: str
    params: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    where: str = ""  # "file:line" for log messages


@dataclass(frozen=True)
class Scenario:
    """A complete, validated scenario. Build one with ``load_scenario`` / ``parse_scenario`` or by hand."""

    name: str = "scenario"
    description: str = ""
    seed: int = 1
    start: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    speed: float = 1.0
    duration_s: float | None = None  # None: until stopped
    fleet: FleetSpec | None = field(default_factory=FleetSpec)
    registry_path: Path | None = None
    intervals: ReportIntervals = field(default_factory=ReportIntervals)
    stagger_s: float | None = None  # None: each device's first report falls within its own interval
    incidents: tuple[Incident, ...] = ()
    source: str = "<scenario>"
    _registry: list[Registry] = field(default_factory=list, repr=False, compare=False)

    def registry(self) -> Registry:
        """The scenario's devices (generated once, then cached)."""
        if not self._registry:
            if self.registry_path is not None:
                self._registry.append(load_registry(self.registry_path))
            else:
                self._registry.append((self.fleet or FleetSpec()).generate(self.seed))
        return self._registry[0]

    def with_overrides(self, *, speed: float | None = None, modbus_port: int | None = None) -> Scenario:
        """A copy with another speed and/or the first Modbus gateway moved to ``modbus_port``."""
        new = self
        if speed is not None:
            if speed < 0 or math.isnan(speed):
                raise ValueError(f"speed must be >= 0, got {speed}")
            new = replace(new, speed=speed, _registry=list(new._registry))
        if modbus_port is not None:
            if new.registry_path is None:
                new = replace(
                    new, fleet=replace(new.fleet or FleetSpec(), modbus_port=modbus_port), _registry=[]
                )
            else:
                new = replace(new, _registry=[_shift_modbus_ports(new.registry(), modbus_port)])
        return new


def _shift_modbus_ports(registry: Registry, first_port: int) -> Registry:
    ports = sorted({d.modbus.port for d in registry.devices if d.modbus is not None})
    if not ports:
        return registry
    offset = first_port - ports[0]
    devices = tuple(
        d.model_copy(update={"modbus": d.modbus.model_copy(update={"port": d.modbus.port + offset})})
        if d.modbus is not None
        else d
        for d in registry.devices
    )
    return Registry.model_validate(
        {"estates": registry.estates, "buildings": registry.buildings, "devices": devices}
    )
