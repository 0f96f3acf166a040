"""``/api/health`` and ``/metrics`` tell an operator what is wrong while InfluxDB is down (issue 15, item 3).

A real gateway in-process, a real Mosquitto, and an InfluxDB address where nothing listens (InfluxDB down,
as the gateway sees it: connection refused). The messages go to the durable buffer, and both endpoints,
which read memory only, say so over real HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from services import free_port
from waiting import wait_until

from gateway.app import Gateway
from gateway.config import parse_config
from simulators.burst import burst, make_burst
from simulators.fleet import generate_fleet

pytestmark = pytest.mark.services


async def test_health_and_metrics_say_what_waits_while_influxdb_is_down(
    tmp_path: Path, mosquitto: Any
) -> None:
    registry = generate_fleet(
        estates=2, smoke_per_estate=10, hydrants_per_estate=2, cameras_per_estate=0, modbus_share=0.0, seed=5
    )
    config = parse_config(
        {
            "gateway": {"id": "t-health", "data_dir": str(tmp_path / "data"), "stats_interval_s": 3600},
            "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "client_id": "t-health"},
            "storage": {"kind": "influx_v1", "url": f"http://127.0.0.1:{free_port()}", "database": "x"},
            "buffer": {"flush_interval_s": 0.1, "backoff_max_s": 1.0},
            "modbus": {"enabled": False},
            "rules": {"enabled": False},
            "auth": {"enabled": False},
            "api": {"port": 0},
        },
        base=tmp_path,
    )
    gateway = Gateway(config, registry)
    task = asyncio.create_task(gateway.run())
    try:
        await asyncio.wait_for(gateway.ready.wait(), 15)
        await asyncio.wait_for(gateway.api_ready.wait(), 15)
        messages = make_burst(registry, messages_per_device=5, seed=1)
        await asyncio.to_thread(burst, mosquitto.host, mosquitto.port, messages, 1)
        await wait_until(lambda: gateway.stats.records_in == len(messages), 20, "every message read")
        await wait_until(lambda: gateway.health().telemetry_failing_for_s is not None, 10, "InfluxDB failing")
        # On disk in the durable buffer, so acknowledged although InfluxDB is down.
        await wait_until(lambda: gateway.mqtt.unacknowledged == 0, 10, "every message acknowledged")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.api_port}") as http:
            health = (await http.get("/api/health")).json()
            response = await http.get("/metrics")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    assert health["status"] == "degraded"
    ingest = health["ingest"]
    assert ingest["broker_connected"] is True
    assert ingest["backlog_points"] >= len(messages), "every point waits in the durable buffer"
    assert ingest["telemetry_failing_for_s"] >= 0
    assert "127.0.0.1" in ingest["telemetry_last_error"]
    assert ingest["mqtt_unacknowledged"] == 0, "durable on disk, so acknowledged although InfluxDB is down"

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    assert samples["firegw_records_in_total"] == len(messages)
    assert samples["firegw_sink_buffered_points"] >= len(messages)
    assert samples["firegw_telemetry_store_up"] == 0
    assert samples["firegw_mqtt_connected"] == 1
