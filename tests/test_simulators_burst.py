"""Benchmark bursts (``simulators/burst.py``): a realistic mix, delivered in full by both engines."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any, Literal

import pytest
from services import free_port
from simulator_helpers import amqtt_broker, subscribed

from simulators.burst import burst, make_burst
from simulators.fleet import generate_fleet


def test_make_burst_is_realistic_and_deterministic() -> None:
    reg = generate_fleet(2, 20, 4, 2, 0.5, seed=3)
    msgs = make_burst(reg, 6, seed=9)
    assert msgs == make_burst(reg, 6, seed=9)
    mqtt_devices = [d for d in reg.devices if d.modbus is None]
    assert len(msgs) == 6 * len(mqtt_devices)
    per_device: dict[str, list[dict[str, Any]]] = {}
    for _topic, body in msgs:
        data = json.loads(body)
        key = data.get("id") or data.get("serial") or data.get("IMEI")
        per_device.setdefault(key, []).append(data)
    assert len(per_device) == len(mqtt_devices)
    for rows in per_device.values():
        times = [r.get("ts") or r.get("timestamp") or r.get("datetime") for r in rows]
        if "seq" in rows[0]:
            seqs = [r["seq"] for r in rows]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert len(set(times)) == len(times), "distinct timestamps per device (GB/T: seconds)"
    events = Counter(r.get("event") for rows in per_device.values() for r in rows)
    assert events["heartbeat"] > 0
    assert set(events) - {"heartbeat", None}, "some events in the mix"
    cams = [json.loads(b) for t, b in msgs if t.startswith("fire/camera/")]
    assert Counter(c["state"] for c in cams) == {"start": len(cams) // 2, "end": len(cams) // 2}


@pytest.mark.parametrize("engine", ["raw", "paho"])
async def test_burst_delivers_everything(engine: Literal["raw", "paho"]) -> None:
    reg = generate_fleet(1, 30, 4, 2, 0.0, seed=1)
    msgs = make_burst(reg, 5, seed=1)
    async with amqtt_broker() as port:
        async with subscribed(port) as sub:
            stats = await asyncio.to_thread(burst, "127.0.0.1", port, msgs, 1, engine=engine)
            await sub.wait_for(len(msgs))
        assert stats.sent == stats.acked == len(msgs)
        assert stats.failed == 0
        assert stats.rate > 0
        assert sub.payloads == [(t, p) for t, p in msgs], "all delivered, in order"
        qos0 = await asyncio.to_thread(burst, "127.0.0.1", port, msgs[:50], 0, engine=engine)
    assert qos0.acked == 50


def test_burst_reports_an_unreachable_broker() -> None:
    with pytest.raises(ConnectionError):
        burst("127.0.0.1", free_port(), [("t", b"x")], 1)
