"""The Modbus poller against a real Modbus TCP server (the hydrant simulator) on a free local port.

What is checked is what field users of other gateways suffer from: a dead unit stalling the line, last values
re-sent after a failure, a connection that never comes back, a crashed poll task that silently ends polling.
Intervals and timeouts are a few hundred milliseconds so the whole file runs in seconds; timing assertions
leave generous slack but would still fail if a dead unit cost more than its own slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from waiting import wait_until

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from fake_ingest import FakeIngest  # noqa: E402

from collectors.base import RejectReason  # noqa: E402
from collectors.modbus import ConnectionState, ModbusPoller  # noqa: E402
from gateway.models import Device, DeviceKind, EventType, ModbusAddress, Reading  # noqa: E402
from simulators.modbus_server import HydrantModbusSimulator  # noqa: E402

NOW = datetime(2025, 11, 23, 8, 0, tzinfo=UTC)


def modbus_ingest() -> FakeIngest:
    return FakeIngest("modbus", with_topics=False)


def hydrant(device_id: str, port: int, unit: int, interval: float = 0.1) -> Device:
    return Device(
        id=device_id,
        kind=DeviceKind.HYDRANT,
        estate_id="E01",
        modbus=ModbusAddress(host="127.0.0.1", port=port, unit=unit, poll_interval_s=interval),
    )


def fast_poller(
    devices: list[Device],
    ingest: FakeIngest,
    *,
    request_timeout_s: float = 1.0,
    clock: Callable[[], datetime] = lambda: NOW,
) -> ModbusPoller:
    """A poller with test-sized back-off (reconnects within tenths of a second)."""
    return ModbusPoller(
        devices,
        ingest,
        clock=clock,
        request_timeout_s=request_timeout_s,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
        connect_timeout_s=0.5,
    )


@contextlib.asynccontextmanager
async def running(poller: ModbusPoller) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(poller.run())
    try:
        yield task
        assert not task.done(), "run() must not end on its own"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def sim() -> AsyncIterator[HydrantModbusSimulator]:
    server = HydrantModbusSimulator("127.0.0.1", 0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# ------------------------------------------------------------------------------------------------ readings


async def test_readings_arrive_with_the_sensor_values(sim: HydrantModbusSimulator) -> None:
    sim.add_unit(1, pressure_mpa=0.352, battery_pct=95, status=0b1010, temperature_c=-10.5)
    sim.set_unit(1, uptime_s=3600)
    ingest = modbus_ingest()
    poller = fast_poller([hydrant("HY-1", sim.port, 1)], ingest)
    async with running(poller):
        await wait_until(lambda: len(ingest.readings("HY-1")) >= 1, what="a reading")
        first = ingest.readings("HY-1")[0]
        assert first.time == NOW
        uptime = first.metrics.pop("uptime_s")
        assert isinstance(uptime, int)
        assert 3600 <= uptime <= 3605
        assert first.metrics == {
            "pressure_mpa": 0.352,
            "battery_pct": 95,
            "sensor_fault": False,
            "leak": True,
            "cover_open": False,
            "low_battery": True,
            "temperature_c": -10.5,
        }
        sim.set_unit(1, pressure_mpa=0.12, status=0)
        await wait_until(
            lambda: ingest.readings("HY-1")[-1].metrics["pressure_mpa"] == 0.12, what="new pressure"
        )
        assert ingest.readings("HY-1")[-1].metrics["leak"] is False
    assert ingest.events("HY-1") == []
    assert ingest.rejects == []
    stats = poller.unit_stats["HY-1"]
    assert (stats.polls_ok >= 2, stats.polls_failed, stats.comm_ok) == (True, 0, True)
    assert poller.gateway_stats[f"127.0.0.1:{sim.port}"].connects == 1


async def test_out_of_range_values_are_rejected_not_stored(sim: HydrantModbusSimulator) -> None:
    sim.add_unit(1, pressure_mpa=65.535)  # 0xFFFF: the classic "no value" marker
    ingest = modbus_ingest()
    poller = fast_poller([hydrant("HY-1", sim.port, 1)], ingest)
    async with running(poller):
        await wait_until(lambda: len(ingest.rejects) >= 2, what="rejects")
    assert ingest.readings("HY-1") == []
    assert ingest.events("HY-1") == []  # the unit answers: no comm fault
    assert {r.reason for r in ingest.rejects} == {RejectReason.OUT_OF_RANGE}
    assert (ingest.rejects[0].raw or b"")[:2] == b"\xff\xff"
    assert poller.unit_stats["HY-1"].readings_rejected >= 2


# ------------------------------------------------------------------------------------------- dead units


async def test_silent_unit_faults_once_and_costs_only_its_own_slot(sim: HydrantModbusSimulator) -> None:
    interval, timeout = 0.2, 0.3
    sim.add_unit(1)
    sim.add_unit(2)
    sim.set_unit_silent(2, True)
    ingest = modbus_ingest()
    devices = [hydrant("HY-OK", sim.port, 1, interval), hydrant("HY-DEAD", sim.port, 2, interval)]
    poller = fast_poller(devices, ingest, request_timeout_s=timeout)
    async with running(poller):
        await asyncio.sleep(2.0)
        faults = ingest.events("HY-DEAD", EventType.COMM_FAULT)
        assert [e.attributes for e in faults] == [{"reason": "timeout"}]  # edge-triggered: once
        dead_rejects = ingest.rejects_for("HY-DEAD")
        assert len(dead_rejects) >= 4  # but every failed poll is counted
        assert {r.reason for r in dead_rejects} == {RejectReason.MODBUS_TIMEOUT}
        assert len(dead_rejects) == poller.unit_stats["HY-DEAD"].polls_failed
        assert ingest.readings("HY-DEAD") == []  # never its last values

        # The live unit on the same line keeps its rhythm: between two of its readings there is at most its
        # own interval plus one timeout slot of the dead unit (plus scheduling slack).
        times = ingest.reading_times("HY-OK")
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert len(times) >= 4
        assert max(gaps) < interval + timeout + 0.25, gaps
        assert ingest.events("HY-OK") == []
        assert ingest.rejects_for("HY-OK") == []
        # Timeouts of one unit are not a connection problem: one connection throughout.
        assert poller.gateway_stats[f"127.0.0.1:{sim.port}"].connects == 1

        sim.set_unit_silent(2, False)
        await wait_until(lambda: len(ingest.readings("HY-DEAD")) >= 1, what="the unit answering again")
    restored = ingest.events("HY-DEAD", EventType.COMM_RESTORED)
    assert len(restored) == 1
    # comm_restored comes before the first reading after the outage.
    mine = ingest.of("HY-DEAD")
    first_reading = next(i for i, r in enumerate(mine) if isinstance(r, Reading))
    assert mine[first_reading - 1] == restored[0]
    assert poller.unit_stats["HY-DEAD"].comm_ok is True


async def test_exception_response_faults_with_its_code(sim: HydrantModbusSimulator) -> None:
    sim.add_unit(3)
    sim.set_unit_exception(3, 11)  # gateway: target device failed to respond
    ingest = modbus_ingest()
    poller = fast_poller([hydrant("HY-3", sim.port, 3)], ingest)
    async with running(poller):
        await wait_until(lambda: len(ingest.rejects) >= 3, what="three failed polls")
        assert [e.attributes for e in ingest.events("HY-3", EventType.COMM_FAULT)] == [
            {"reason": "exception_11"}
        ]
        assert {r.reason for r in ingest.rejects} == {RejectReason.MODBUS_EXCEPTION}
        assert "exception code 11" in ingest.rejects[0].detail
        assert ingest.readings("HY-3") == []
        sim.set_unit_exception(3, None)
        await wait_until(
            lambda: len(ingest.readings("HY-3")) >= 1, what="a reading after the exception clears"
        )
    assert len(ingest.events("HY-3", EventType.COMM_RESTORED)) == 1
    assert poller.unit_stats["HY-3"].fault_reason is None


async def test_dead_gateway_does_not_delay_another_gateway(sim: HydrantModbusSimulator) -> None:
    other = HydrantModbusSimulator("127.0.0.1", 0)
    other.add_unit(1)
    other.set_unit_silent(1, True)
    await other.start()
    try:
        sim.add_unit(1)
        ingest = modbus_ingest()
        devices = [hydrant("HY-SLOW", other.port, 1, 0.1), hydrant("HY-FAST", sim.port, 1, 0.1)]
        poller = fast_poller(devices, ingest, request_timeout_s=0.8)
        async with running(poller):
            await asyncio.sleep(1.5)
        times = ingest.reading_times("HY-FAST")
        assert len(times) >= 8  # polled every 0.1 s while the other line waits 0.8 s per request
        assert max(b - a for a, b in itertools.pairwise(times)) < 0.4
        assert ingest.readings("HY-SLOW") == []
    finally:
        await other.stop()


# ----------------------------------------------------------------------------------------- connection


async def test_power_cycled_gateway_faults_then_recovers(sim: HydrantModbusSimulator) -> None:
    sim.add_unit(1, pressure_mpa=0.3)
    sim.add_unit(2, pressure_mpa=0.4)
    port = sim.port
    gateway = f"127.0.0.1:{port}"
    ingest = modbus_ingest()
    devices = [hydrant("HY-A", port, 1), hydrant("HY-B", port, 2)]
    poller = fast_poller(devices, ingest, request_timeout_s=0.3)
    async with running(poller):
        await wait_until(lambda: all(ingest.readings(d) for d in ("HY-A", "HY-B")), what="first readings")

        await sim.stop()
        await wait_until(
            lambda: all(ingest.events(d, EventType.COMM_FAULT) for d in ("HY-A", "HY-B")),
            what="comm_fault for both units",
        )
        for device_id in ("HY-A", "HY-B"):
            assert [e.attributes for e in ingest.events(device_id, EventType.COMM_FAULT)] == [
                {"reason": "disconnected"}
            ]
        assert poller.gateway_stats[gateway].state is not ConnectionState.CONNECTED
        readings_at_outage = len(ingest.readings("HY-A")) + len(ingest.readings("HY-B"))
        await asyncio.sleep(0.7)  # gateway powered off: reconnect attempts fail, polls keep failing
        assert len(ingest.readings("HY-A")) + len(ingest.readings("HY-B")) == readings_at_outage
        outage_rejects = [r for r in ingest.rejects if r.device_id == "HY-A"]
        assert len(outage_rejects) >= 3
        assert {r.reason for r in outage_rejects} == {RejectReason.MODBUS_DISCONNECTED}
        assert poller.gateway_stats[gateway].connect_failures >= 2

        sim.set_unit(1, pressure_mpa=0.31)
        await sim.start()  # same port: the simulator keeps the port it bound first
        assert sim.port == port
        await wait_until(
            lambda: all(ingest.events(d, EventType.COMM_RESTORED) for d in ("HY-A", "HY-B")),
            what="comm_restored for both units",
        )
        await wait_until(
            lambda: ingest.readings("HY-A")[-1].metrics["pressure_mpa"] == 0.31, what="fresh values"
        )
    stats = poller.gateway_stats[gateway]
    assert (stats.connects, stats.disconnects >= 1, stats.task_restarts) == (2, True, 0)
    for device_id in ("HY-A", "HY-B"):
        assert len(ingest.events(device_id, EventType.COMM_FAULT)) == 1
        assert len(ingest.events(device_id, EventType.COMM_RESTORED)) == 1


async def test_gateway_down_at_start_then_comes_up() -> None:
    sim = HydrantModbusSimulator("127.0.0.1", 0)
    await sim.start()  # learn a free port, then take the gateway away before the poller starts
    port = sim.port
    await sim.stop()
    sim.add_unit(5)
    ingest = modbus_ingest()
    poller = fast_poller([hydrant("HY-5", port, 5)], ingest)
    async with running(poller):
        await wait_until(lambda: bool(ingest.events("HY-5", EventType.COMM_FAULT)), what="comm_fault")
        assert ingest.events("HY-5")[0].attributes == {"reason": "disconnected"}
        await sim.start()
        try:
            await wait_until(lambda: bool(ingest.readings("HY-5")), what="a reading once the gateway is up")
        finally:
            await sim.stop()
    assert len(ingest.events("HY-5", EventType.COMM_RESTORED)) == 1


async def test_crashed_poll_task_is_restarted_and_counted(sim: HydrantModbusSimulator) -> None:
    sim.add_unit(1)
    ingest = FakeIngest("modbus", with_topics=False, fail_next_submits=1)
    poller = fast_poller([hydrant("HY-1", sim.port, 1)], ingest)
    async with running(poller):
        await wait_until(lambda: bool(ingest.readings("HY-1")), what="readings after the restart")
    stats = poller.gateway_stats[f"127.0.0.1:{sim.port}"]
    assert stats.task_restarts == 1
    assert "pipeline hiccup" in stats.last_error


async def test_all_units_silent_reopens_the_connection(sim: HydrantModbusSimulator) -> None:
    sim.add_unit(1)
    sim.set_unit_silent(1, True)
    ingest = modbus_ingest()
    poller = fast_poller([hydrant("HY-1", sim.port, 1, 0.05)], ingest, request_timeout_s=0.1)
    async with running(poller):
        await wait_until(
            lambda: poller.gateway_stats[f"127.0.0.1:{sim.port}"].connects >= 2, what="a reconnect"
        )
    stats = poller.gateway_stats[f"127.0.0.1:{sim.port}"]
    assert stats.silent_reconnects >= 1
    # Still a timeout, reported once: reopening the connection is not a new fault.
    assert [e.attributes for e in ingest.events("HY-1")] == [{"reason": "timeout"}]


# ------------------------------------------------------------------------------------------ configuration


def test_configuration_errors_fail_at_construction() -> None:
    ingest = modbus_ingest()
    with pytest.raises(ValueError, match="both claim unit 1"):
        ModbusPoller([hydrant("A", 1502, 1), hydrant("B", 1502, 1)], ingest)
    bad_map = hydrant("C", 1502, 2).model_copy(
        update={"modbus": ModbusAddress(host="127.0.0.1", port=1502, unit=2, register_map="nope")}
    )
    with pytest.raises(ValueError, match=r"device 'C'.*unknown register map 'nope'"):
        ModbusPoller([bad_map], ingest)
    smoke = Device(id="S1", kind=DeviceKind.SMOKE_DETECTOR, estate_id="E01")
    poller = ModbusPoller([smoke, hydrant("H1", 1502, 3), hydrant("H2", 1503, 3)], ingest)
    assert set(poller.unit_stats) == {"H1", "H2"}
    assert set(poller.gateway_stats) == {"127.0.0.1:1502", "127.0.0.1:1503"}
    snapshot = poller.stats()
    assert snapshot["units"]["H1"]["polls_ok"] == 0
    assert snapshot["gateways"]["127.0.0.1:1502"]["state"] == "connecting"
    assert poller.totals()["modbus_units"] == 2.0
