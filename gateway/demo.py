"""``firegw demo``: the whole chain on one machine with nothing to install.

In-process MQTT broker (amqtt) -> simulated estates (smoke detectors in three wire formats, hydrants over
Modbus TCP and over MQTT, fire-lane cameras) -> the gateway -> SQLite, with the live terminal summary.
``--broker`` and ``--influx-url`` point the same demo at real servers instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from gateway.app import Gateway
from gateway.config import parse_config
from gateway.console import live_summary, summary_line
from gateway.embedded_broker import EmbeddedBroker, free_port
from simulators.clock import SimClock
from simulators.scenario import (
    ScenarioStats,
    load_scenario,
    run_scenario_against_broker,
    start_modbus_servers,
    stop_modbus_servers,
)


@dataclass(frozen=True, slots=True)
class DemoOptions:
    scenario: str | None = None
    speed: float | None = None
    duration_s: float | None = None
    broker: tuple[str, int] | None = None
    influx_url: str | None = None
    influx_database: str = "firegw"
    data_dir: Path = Path("var/demo")
    quiet: bool = False
    api_port: int = 8080


def builtin_scenario() -> Path:
    return Path(str(resources.files("simulators") / "scenarios" / "demo.toml"))


async def run_demo(options: DemoOptions) -> int:
    scenario = load_scenario(options.scenario or builtin_scenario())
    scenario = scenario.with_overrides(speed=options.speed, modbus_port=free_port())
    registry = scenario.registry()
    storage: dict[str, Any] = {"kind": "sqlite"}
    if options.influx_url:
        storage = {"kind": "influx_v1", "url": options.influx_url, "database": options.influx_database}

    broker = EmbeddedBroker() if options.broker is None else None
    host, port = options.broker or (broker.host, broker.port)  # type: ignore[union-attr]
    config = parse_config(
        {
            "gateway": {"id": "demo", "data_dir": str(options.data_dir.resolve()), "stats_interval_s": 10},
            "mqtt": {"host": host, "port": port, "client_id": "firegw-demo", "backoff_max_s": 5},
            "storage": storage,
            "modbus": {"request_timeout_s": 0.5},
            "rules": {"tick_interval_s": 0.5},
            "api": {"port": options.api_port},
        }
    )
    # One simulated clock for the devices and the gateway: hold times and offline windows run at demo speed.
    clock = SimClock(scenario.start, scenario.speed)
    sim_stats = ScenarioStats()

    def on_progress(stats: ScenarioStats) -> None:
        nonlocal sim_stats
        sim_stats = stats

    stop = asyncio.Event()
    if broker is not None:
        await broker.start()
    # The simulated Modbus TCP gateways come up before the gateway polls them (no start-up comm faults).
    modbus_servers = await start_modbus_servers(registry)
    gateway = Gateway(config, registry, clock=clock.now)
    try:
        async with asyncio.TaskGroup() as group:
            gateway_task = group.create_task(gateway.run(), name="gateway")
            await asyncio.wait_for(gateway.ready.wait(), 30)
            sim_task = group.create_task(
                run_scenario_against_broker(
                    scenario,
                    host,
                    port,
                    progress=on_progress,
                    stop=stop,
                    modbus_servers=modbus_servers,
                    clock=clock,
                ),
                name="simulator",
            )
            ui_task = None
            if not options.quiet:
                ui_task = group.create_task(live_summary(gateway, lambda: sim_stats.summary()), name="ui")
            if options.duration_s is not None:
                await asyncio.sleep(options.duration_s)
                stop.set()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(sim_task), 10)
                await asyncio.sleep(1.0)  # let the last messages through the pipeline
                for task in (ui_task, gateway_task, sim_task):
                    if task is not None:
                        task.cancel()
    finally:
        await stop_modbus_servers(modbus_servers)
        if broker is not None:
            await broker.stop()
    print(summary_line(gateway))
    print(sim_stats.summary())
    if gateway.engine is not None:
        print(grades_line(gateway))
    print(f"data kept in {options.data_dir}/ (SQLite: telemetry.sqlite, hazards.sqlite, dead_letters.sqlite)")
    return 0


def grades_line(gateway: Gateway) -> str:
    """``grades: 3 green, 1 yellow (E002: Y10, G4, G6 ...); hazards opened 4, auto-closed 2; alarms 3``."""
    engine = gateway.engine
    if engine is None:
        return "grades: rule layer disabled"
    counts: dict[str, int] = {}
    flagged = []
    for estate_id, grade in sorted(engine.grades.items()):
        counts[grade.colour] = counts.get(grade.colour, 0) + 1
        if grade.reasons:
            flagged.append(f"{estate_id}: {grade.summary}")
    c = engine.counters
    text = ", ".join(f"{n} {colour}" for colour, n in sorted(counts.items()))
    lines = [
        f"grades: {text}; hazards opened {c.hazards_opened}, auto-closed {c.hazards_auto_closed}; "
        f"alarms {c.alarms_raised}; grade changes {c.grade_changes}"
    ]
    lines += [f"  {line}" for line in flagged[:10]]
    return "\n".join(lines)
