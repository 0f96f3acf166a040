"""What ``firegw simulate`` runs: a scenario against an MQTT broker, with its Modbus gateways served.

Also the start and stop of the simulated Modbus TCP gateways a registry names, which ``firegw demo`` uses to
have them listening before the gateway starts polling.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.ingest.registry import Registry
from gateway.models import Device
from simulators.clock import SimClock
from simulators.devices.hydrant import ModbusUnits
from simulators.scenarios.loading import load_scenario
from simulators.scenarios.model import Scenario
from simulators.scenarios.runner import ProgressHook, ScenarioRunner
from simulators.scenarios.stats import ScenarioStats

if TYPE_CHECKING:  # pymodbus is imported only when Modbus is served
    from simulators.modbus_server import HydrantModbusSimulator


async def run_scenario_against_broker(
    scenario_path_or_obj: str | Path | Scenario,
    host: str,
    port: int,
    speed: float | None = None,
    modbus_port: int | None = None,
    progress: ProgressHook | None = None,
    *,
    serve_modbus: bool = True,
    modbus_servers: Mapping[tuple[str, int], ModbusUnits] | None = None,
    client_id: str | None = None,
    qos: int = 1,
    progress_every_s: float = 1.0,
    stop: asyncio.Event | None = None,
    clock: SimClock | None = None,
) -> ScenarioStats:
    """Run a scenario against an MQTT broker, serving its Modbus hydrants; the entry for ``firegw simulate``.

    ``speed`` overrides the file's speed (0 = as fast as possible). ``modbus_port`` moves the first Modbus
    gateway to that port (the others follow at +1, +2, ...); the gateway under test must poll the same
    addresses, so it should load ``scenario.registry()`` after the same override
    (``Scenario.with_overrides``).
    With ``serve_modbus`` a ``HydrantModbusSimulator`` is started for every (host, port) in the registry
    (and stopped at the end); or pass ``modbus_servers`` already started with ``start_modbus_servers`` (e.g.
    before the gateway starts polling, so it does not log "gateway not connected" first), left running.
    ``stop`` ends the run early when set (e.g. on Ctrl-C). ``clock`` shares a ``SimClock`` with the gateway
    under test (``Gateway(clock=clock.now)``), so its hold times and offline windows run at scenario speed.
    """
    from simulators.publisher import MqttPublisher  # late: importing simulators pulls in no MQTT client

    scenario = (
        scenario_path_or_obj
        if isinstance(scenario_path_or_obj, Scenario)
        else load_scenario(scenario_path_or_obj)
    )
    scenario = scenario.with_overrides(speed=speed, modbus_port=modbus_port)
    registry = scenario.registry()
    servers: dict[tuple[str, int], HydrantModbusSimulator] = {}
    try:
        if serve_modbus and modbus_servers is None:
            servers = await start_modbus_servers(registry)
        async with MqttPublisher(host, port, client_id=client_id, qos=qos) as publisher:
            runner = ScenarioRunner(
                scenario,
                publisher.publish,
                modbus_servers if modbus_servers is not None else (servers or None),
                progress=progress,
                progress_every_s=progress_every_s,
                clock=clock,
            )
            if stop is None:
                return await runner.run()
            watcher = asyncio.create_task(_stop_when(stop, runner))
            try:
                return await runner.run()
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
    finally:
        await stop_modbus_servers(servers)


async def _stop_when(event: asyncio.Event, runner: ScenarioRunner) -> None:
    await event.wait()
    runner.stop()


async def start_modbus_servers(registry: Registry) -> dict[tuple[str, int], HydrantModbusSimulator]:
    """Start one ``HydrantModbusSimulator`` per Modbus gateway address in the registry.

    Stop them with ``stop_modbus_servers``. Pass them to ``run_scenario_against_broker(modbus_servers=...)``
    or to a ``ScenarioRunner``, which adds the units.
    """
    from simulators.modbus_server import HydrantModbusSimulator

    gateways = sorted({(d.modbus.host, d.modbus.port) for d in registry.devices if d.modbus is not None})
    servers: dict[tuple[str, int], HydrantModbusSimulator] = {}
    try:
        for host, port in gateways:
            server = HydrantModbusSimulator(host=host, port=port)
            try:
                await server.start()
            except (OSError, RuntimeError) as exc:
                raise RuntimeError(
                    f"cannot serve the simulated Modbus gateway {host}:{port} ({exc}); the registry's "
                    "Modbus addresses must be free local ports (move them with modbus_port=..., or "
                    "serve_modbus=False)"
                ) from exc
            servers[(host, port)] = server
    except BaseException:
        await stop_modbus_servers(servers)
        raise
    return servers


async def stop_modbus_servers(servers: Mapping[tuple[str, int], HydrantModbusSimulator]) -> None:
    """Stop simulated Modbus gateways (errors on the way down are ignored: they are going away anyway)."""
    for server in servers.values():
        with contextlib.suppress(Exception):
            await server.stop()


def device_summary(registry: Registry) -> dict[str, int]:
    """Device counts by kind and wire format (for a start-up banner)."""
    counts: Counter[str] = Counter()
    for device in registry.devices:
        counts[f"{device.kind.value}/{_fmt(device)}"] += 1
    return dict(sorted(counts.items()))


def _fmt(device: Device) -> str:
    return device.wire_format or ("modbus" if device.modbus else "")
