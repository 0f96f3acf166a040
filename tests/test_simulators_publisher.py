"""The scenarios' MQTT publisher (``simulators/publisher.py``) rides out a broker restart."""

from __future__ import annotations

import asyncio

from services import free_port
from simulator_helpers import amqtt_config

from simulators.publisher import MqttPublisher


async def test_publisher_waits_out_a_broker_restart() -> None:
    from amqtt.broker import Broker

    port = free_port()
    config = amqtt_config(port)
    broker = Broker(config)
    await broker.start()
    pub = MqttPublisher("127.0.0.1", port, backoff_initial_s=0.05, backoff_max_s=0.2)
    await pub.start()
    try:
        await pub.publish("fire/test", b"1")
        await broker.shutdown()
        for _ in range(100):
            if not pub.connected:
                break
            await asyncio.sleep(0.02)
        pending = asyncio.create_task(pub.publish("fire/test", b"2"))
        await asyncio.sleep(0.3)
        assert not pending.done(), "publish waits for the connection"
        broker = Broker(config)
        await broker.start()
        await asyncio.wait_for(pending, 10)
        assert pub.connects == 2
        assert pub.published == 2
    finally:
        await pub.close()
        await broker.shutdown()
