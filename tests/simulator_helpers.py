"""What the simulator tests share: reading a simulated message, a sample detector, an in-process broker.

The expected payload shapes in the device tests are written from ``docs/wire-formats.md`` by hand, not from
the encoders, so a test failure means the simulator and the spec disagree; the helpers here only read
messages, they never encode one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta, timezone
from typing import Any

from services import free_port

from gateway.models import Device, DeviceKind

CST = timezone(timedelta(hours=8))
TS = 1763856000123  # 2025-11-23 00:00:00.123 UTC = 08:00:00 CST


def payload(message: tuple[str, bytes]) -> dict[str, Any]:
    data = json.loads(message[1])
    assert isinstance(data, dict)
    return data


def compact(message: tuple[str, bytes]) -> None:
    """Compact JSON, UTF-8, exactly as json.dumps(separators=(",", ":"), ensure_ascii=False) writes it."""
    text = message[1].decode("utf-8")
    assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)


def smoke_device(fmt: str = "smoke_json", **extra: Any) -> Device:
    imei = "869975030012349" if fmt == "ctwing" else None
    return Device(
        id="SD-E001-0001",
        kind=DeviceKind.SMOKE_DETECTOR,
        estate_id="E001",
        wire_format=fmt,
        imei=extra.pop("imei", imei),
        vendor=extra.pop("vendor", "ACME" if fmt != "ctwing" else "generic"),
        **extra,
    )


def amqtt_config(port: int) -> dict[str, Any]:
    """An anonymous amqtt broker listening on 127.0.0.1:``port``."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


@contextlib.asynccontextmanager
async def amqtt_broker() -> AsyncIterator[int]:
    """An in-process amqtt broker on a free port (the embedded default broker); yields the port."""
    from amqtt.broker import Broker

    port = free_port()
    broker = Broker(amqtt_config(port))
    await broker.start()
    try:
        yield port
    finally:
        await broker.shutdown()


class Subscriber:
    """Counts what arrives per topic on ``#``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.counts: Counter[str] = Counter()
        self.payloads: list[tuple[str, bytes]] = []
        self.changed = asyncio.Event()

    def add(self, topic: str, body: bytes) -> None:
        self.counts[topic] += 1
        self.payloads.append((topic, body))
        self.changed.set()

    async def wait_for(self, total: int, timeout_s: float = 10.0) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while len(self.payloads) < total:
                    self.changed.clear()
                    await self.changed.wait()
        await asyncio.sleep(0.2)  # nothing extra may arrive either


@contextlib.asynccontextmanager
async def subscribed(port: int) -> AsyncIterator[Subscriber]:
    import aiomqtt

    sub = Subscriber(port)
    async with aiomqtt.Client("127.0.0.1", port, identifier="test-sub") as client:
        await client.subscribe("#", qos=1)

        async def consume() -> None:
            async for message in client.messages:
                body = message.payload
                assert isinstance(body, bytes)
                sub.add(str(message.topic), body)

        task = asyncio.create_task(consume())
        try:
            yield sub
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def discard(topic: str, body: bytes) -> None:
    """A publish function that drops everything."""
    return None
