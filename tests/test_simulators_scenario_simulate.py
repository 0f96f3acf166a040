"""A scenario against a real broker (``simulators/scenarios/simulate.py``): an in-process amqtt, with the
scenario's Modbus gateways served.
"""

from __future__ import annotations

from services import free_port
from simulator_helpers import amqtt_broker, payload, subscribed

from simulators.clock import SimClock, to_ms
from simulators.publisher import MqttPublisher
from simulators.scenarios.loading import parse_scenario
from simulators.scenarios.runner import ScenarioRunner
from simulators.scenarios.simulate import (
    run_scenario_against_broker,
    start_modbus_servers,
    stop_modbus_servers,
)

RUN = """
name = "broker-run"
start = 2026-11-23T08:00:00+08:00
speed = 0
duration = "2h"
seed = 11
[fleet]
estates = 2
smoke_per_estate = 12
hydrants_per_estate = 4
cameras_per_estate = 2
modbus_share = 0.5
[intervals]
smoke_heartbeat = "20m"
hydrant_report = "10m"
modbus_update = "5m"
camera_event = "30m"
[[incidents]]
at = "+10m"
device = "SD-E002-0005"
action = "alarm"
duration = "3m"
[[incidents]]
at = "+20m"
device = "HY-E001-02"
action = "pressure"
value = 0.02
[[incidents]]
at = "+25m"
device = "HY-E001-04"
action = "pressure"
value = 0.02
[[incidents]]
at = "+30m"
device = "HY-E002-04"
action = "silent"
[[incidents]]
at = "+40m"
device = "CAM-E001-01"
action = "occupy"
duration = "20m"
[[incidents]]
at = "+50m"
device = "SD-E001-0002"
action = "offline"
"""


async def test_scenario_run_against_amqtt_broker_counts_match() -> None:
    from simulators.modbus_server import HydrantModbusSimulator

    sc = parse_scenario(RUN)
    ((host, first_port),) = {(d.modbus.host, d.modbus.port) for d in sc.registry().devices if d.modbus}
    modbus = HydrantModbusSimulator(host, 0)
    async with amqtt_broker() as port, subscribed(port) as sub:
        async with MqttPublisher("127.0.0.1", port) as pub:
            runner = ScenarioRunner(sc, pub.publish, {(host, first_port): modbus}, SimClock(sc.start, 0))
            stats = await runner.run()
        await sub.wait_for(stats.messages)
    assert stats.publish_errors == 0
    assert stats.incidents_applied == 6
    assert stats.messages > 150
    assert sub.counts == stats.by_topic
    assert sum(stats.by_format.values()) == sum(stats.by_kind.values()) == stats.messages
    assert stats.modbus_unattached == 0
    assert stats.modbus_updates > 0
    unit = sc.registry().device("HY-E001-04").modbus
    assert unit is not None
    assert abs(modbus.unit(unit.unit).pressure_mpa - 0.02) < 0.01, "the incident reached the Modbus registers"
    silent = sc.registry().device("HY-E002-04").modbus
    assert silent is not None
    assert modbus.unit(silent.unit).silent
    # Nothing from the detector after it went offline at +50 min.
    offline_after = to_ms(sc.start) + 50 * 60_000
    late = [
        p
        for t, p in sub.payloads
        if t == "fire/smoke/SD-E001-0002/up" and payload((t, p))["ts"] > offline_after
    ]
    assert late == []


async def test_run_scenario_against_broker_entry_serves_modbus() -> None:
    seen: list[str] = []
    async with amqtt_broker() as port:
        stats = await run_scenario_against_broker(
            parse_scenario(RUN), "127.0.0.1", port, speed=0, modbus_port=free_port(),
            progress=lambda s: seen.append(str(s)),
        )  # fmt: skip
    assert stats.finished
    assert stats.incidents_applied == 6
    assert stats.publish_errors == 0
    assert stats.modbus_unattached == 0
    assert stats.modbus_updates > 0
    assert seen
    assert seen[-1].startswith("[broker-run]")


async def test_run_scenario_against_broker_with_servers_started_first() -> None:
    sc = parse_scenario(RUN).with_overrides(modbus_port=free_port())
    servers = await start_modbus_servers(sc.registry())
    try:
        async with amqtt_broker() as port:
            stats = await run_scenario_against_broker(sc, "127.0.0.1", port, modbus_servers=servers)
        (server,) = servers.values()
        assert server.running, "servers handed in are left running"
        assert stats.modbus_unattached == 0
        assert len(server.units) == 4
    finally:
        await stop_modbus_servers(servers)
