"""End to end: simulated devices -> real Mosquitto -> gateway -> real InfluxDB 1.x (v1 write mode).

Every test counts what InfluxDB actually stored against what was published. Real processes throughout: the
fixtures in conftest.py start private Mosquitto and InfluxDB instances on free ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_until

from gateway.app import Gateway
from gateway.config import GatewayConfig, parse_config
from gateway.ingest.registry import Registry
from simulators.burst import burst, make_burst
from simulators.fleet import generate_fleet

pytestmark = pytest.mark.services

DEVICE_MEASUREMENTS = ("smoke_detector", "hydrant", "camera", "device_event")


@pytest.fixture(scope="module")
def registry() -> Registry:
    # No Modbus devices here: the Modbus path has its own tests against a real Modbus TCP server.
    return generate_fleet(
        estates=4, smoke_per_estate=20, hydrants_per_estate=4, cameras_per_estate=2, modbus_share=0.0, seed=7
    )


def make_config(tmp_path: Path, mosquitto: Any, influxdb: Any, db: str, client_id: str) -> GatewayConfig:
    return parse_config(
        {
            "gateway": {"id": "test-gw", "data_dir": str(tmp_path / "data"), "stats_interval_s": 3600},
            "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "client_id": client_id},
            "storage": {"kind": "influx_v1", "url": influxdb.url, "database": db},
            "buffer": {"flush_interval_s": 0.1, "backoff_max_s": 1.0},
            "modbus": {"enabled": False},
            "api": {"port": 0},
        },
        base=tmp_path,
    )


@contextlib.asynccontextmanager
async def running(gateway: Gateway, *, clean_stop: bool = False) -> AsyncIterator[Gateway]:
    """Run the gateway for the block; at its end cancel it, or with ``clean_stop`` stop it as SIGTERM does
    (take no more, store and acknowledge what was read) and wait for that."""
    task = asyncio.create_task(gateway.run())
    try:
        await asyncio.wait_for(gateway.ready.wait(), 15)
        yield gateway
    finally:
        if clean_stop and not task.done():
            gateway.request_stop("test")
            await asyncio.wait_for(asyncio.shield(task), 30)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def stored(influxdb: Any, db: str) -> int:
    return sum(influxdb.count_points(db, m) for m in DEVICE_MEASUREMENTS)


async def publish(mosquitto: Any, messages: list[tuple[str, bytes]]) -> None:
    stats = await asyncio.to_thread(burst, mosquitto.host, mosquitto.port, messages, 1)
    assert stats.sent == len(messages)


async def test_every_published_message_is_stored_once(
    tmp_path: Path, mosquitto: Any, influxdb: Any, influx_db_name: str, registry: Registry
) -> None:
    messages = make_burst(registry, messages_per_device=5, seed=1)
    gateway = Gateway(make_config(tmp_path, mosquitto, influxdb, influx_db_name, "e2e-basic"), registry)
    async with running(gateway):
        await publish(mosquitto, messages)
        await wait_until(lambda: stored(influxdb, influx_db_name) >= len(messages), 30, "all points stored")
        await asyncio.sleep(0.5)  # anything extra (duplicates) would show up now
    assert stored(influxdb, influx_db_name) == len(messages)
    assert gateway.stats.rejects_total == 0
    assert gateway.stats.records_in == len(messages)


async def test_bad_input_is_rejected_counted_and_kept_without_losing_valid_neighbours(
    tmp_path: Path, mosquitto: Any, influxdb: Any, influx_db_name: str, registry: Registry
) -> None:
    valid = make_burst(registry, messages_per_device=2, seed=2)
    some_device = registry.devices[0].id
    bad: list[tuple[str, bytes]] = [
        ("fire/smoke/X/up", b"{not json"),
        ("fire/smoke/X/up", json.dumps({"id": "X", "ts": 1, "event": "heartbeat", "battery": 250}).encode()),
        (
            "fire/smoke/NOPE/up",
            json.dumps({"id": "NOPE", "ts": 1763856000000, "event": "heartbeat"}).encode(),
        ),
        ("fire/smoke/X/up", b"{" + b" " * 20000 + b"}"),
        (
            f"fire/smoke/{some_device}/up",
            json.dumps({"id": some_device, "ts": 1763856000000, "event": "explode"}).encode(),
        ),
    ]
    mixed = [m for pair in zip(valid[: len(bad)], bad, strict=True) for m in pair] + valid[len(bad) :]
    gateway = Gateway(make_config(tmp_path, mosquitto, influxdb, influx_db_name, "e2e-bad"), registry)
    async with running(gateway):
        await publish(mosquitto, mixed)
        await wait_until(lambda: stored(influxdb, influx_db_name) >= len(valid), 30, "valid points stored")
        await wait_until(lambda: gateway.stats.rejects_total >= len(bad), 10, "rejects counted")
    assert stored(influxdb, influx_db_name) == len(valid)
    assert dict(gateway.stats.rejects) == {
        "malformed": 1,
        "out_of_range": 1,
        "unknown_device": 1,
        "too_large": 1,
        "unknown_event": 1,
    }
    kept = gateway_deadletters(tmp_path)
    assert {row["reason"] for row in kept} == set(gateway.stats.rejects)
    unknown = next(row for row in kept if row["reason"] == "unknown_device")
    assert unknown["payload"] == bad[2][1], "the raw payload is kept byte for byte"
    assert unknown["topic"] == "fire/smoke/NOPE/up"


def gateway_deadletters(tmp_path: Path) -> list[dict[str, Any]]:
    from gateway.ingest.deadletter import DeadLetterStore

    store = DeadLetterStore(tmp_path / "data" / "dead_letters.sqlite")
    try:
        return [
            {"reason": r.reason, "payload": r.payload, "topic": r.topic, "detail": r.detail}
            for r in store.recent(limit=100)
        ]
    finally:
        store.close()


async def test_influxdb_outage_mid_run_loses_nothing(
    tmp_path: Path, mosquitto: Any, influxdb: Any, influx_db_name: str, registry: Registry
) -> None:
    messages = make_burst(registry, messages_per_device=6, seed=3)
    first, second = messages[: len(messages) // 2], messages[len(messages) // 2 :]
    gateway = Gateway(make_config(tmp_path, mosquitto, influxdb, influx_db_name, "e2e-outage"), registry)
    async with running(gateway):
        await publish(mosquitto, first)
        await wait_until(lambda: stored(influxdb, influx_db_name) >= len(first), 30, "first half stored")
        influxdb.stop()
        try:
            await publish(mosquitto, second)
            await wait_until(
                lambda: gateway.stats.records_in >= len(messages), 30, "second half received while down"
            )
            await asyncio.sleep(1.5)  # let the sink fail and back off a few times
            counters = gateway.sink.counters()  # type: ignore[attr-defined]
            assert counters["buffered_points"] > 0, "points wait in the durable buffer while InfluxDB is down"
            assert counters["write_errors"] > 0
        finally:
            influxdb.start()
        await wait_until(lambda: stored(influxdb, influx_db_name) >= len(messages), 60, "backlog drained")
        await asyncio.sleep(0.5)
    assert stored(influxdb, influx_db_name) == len(messages)


async def test_gateway_restart_loses_nothing(
    tmp_path: Path, mosquitto: Any, influxdb: Any, influx_db_name: str, registry: Registry
) -> None:
    """The broker keeps QoS 1 messages for the gateway's persistent session while it is down; the durable
    buffer keeps what was received but not yet written."""
    messages = make_burst(registry, messages_per_device=6, seed=4)
    first, second = messages[: len(messages) // 2], messages[len(messages) // 2 :]
    config = make_config(tmp_path, mosquitto, influxdb, influx_db_name, "e2e-restart")
    # A clean stop (SIGTERM): what was stored is acknowledged before the session goes, so the broker
    # redelivers none of the first half. (Cancelling the task instead is a crash: the PUBACKs of the last
    # durable chunk may not have left yet and the broker redelivers them, which the second gateway counts in
    # records_in; tests/test_stop_and_crash.py covers that case with real processes.)
    async with running(Gateway(config, registry), clean_stop=True):
        await publish(mosquitto, first)
        await wait_until(lambda: stored(influxdb, influx_db_name) >= len(first), 30, "first half stored")
    # Gateway is down now; devices keep publishing.
    await publish(mosquitto, second)
    async with running(Gateway(config, registry)) as gateway:
        await wait_until(lambda: stored(influxdb, influx_db_name) >= len(messages), 30, "second half stored")
        await asyncio.sleep(0.5)
    assert stored(influxdb, influx_db_name) == len(messages)
    assert gateway.stats.records_in == len(second)
