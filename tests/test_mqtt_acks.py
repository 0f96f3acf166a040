"""Nothing is acknowledged to the broker before it is stored (issue 15, item 1), against a real Mosquitto.

The broker is the one place a message exists until the gateway has it on disk: it keeps a QoS 1 message for
a persistent session until the PUBACK, and sends it again on the session's next connection. So the proof is
what the broker does: a message whose commit is held back is sent again to the next connection, one whose
commit completed is not. The pipeline side is ``FakeIngest`` (the tests' own recorder); its ``committed``
futures play the durable buffer, so the test can hold them back the way a slow or full disk would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fake_ingest import FakeIngest
from test_mqtt_transport import collector_for, heartbeat
from waiting import wait_until

from collectors.mqtt import MqttCollector
from simulators.burst import burst

pytestmark = pytest.mark.services

#: tests/services.py configures Mosquitto with ``max_inflight_messages 100``.
BROKER_WINDOW = 100


@contextlib.asynccontextmanager
async def crashing(collector: MqttCollector) -> AsyncIterator[asyncio.Task[None]]:
    """Run the collector, then cancel it as a crash would: no clean stop, nothing more acknowledged."""
    task = asyncio.create_task(collector.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def publish(mosquitto: Any, first: int, count: int) -> None:
    messages = [heartbeat(i) for i in range(first, first + count)]
    stats = await asyncio.to_thread(burst, mosquitto.host, mosquitto.port, messages, 1)
    assert stats.sent == count


async def test_a_message_whose_commit_is_held_is_sent_again_to_the_next_connection(mosquitto: Any) -> None:
    held = FakeIngest("mqtt", with_topics=True)
    held.hold_commits = True
    first = collector_for(mosquitto, held, "t-acks-held")
    async with crashing(first):
        await asyncio.wait_for(first.wait_connected(), 10)
        await publish(mosquitto, 0, 300)
        await wait_until(lambda: len(held.records) >= BROKER_WINDOW, 10, "the broker's window")
        await asyncio.sleep(0.5)
        # Not one PUBACK went out, so the broker's in-flight window is full and it sends nothing more.
        assert len(held.records) == BROKER_WINDOW
        assert first.unacknowledged == BROKER_WINDOW
    # The gateway "crashed" with 100 messages read and none stored: the next connection gets all 300.
    after = FakeIngest("mqtt", with_topics=True)
    second = collector_for(mosquitto, after, "t-acks-held")
    async with crashing(second):
        await wait_until(lambda: len(after.records) >= 300, 20, "every message again")
        await asyncio.sleep(0.3)
    assert sorted(r.seq for r in after.records) == list(range(300)), "nothing lost, nothing extra"


async def test_a_committed_message_is_not_sent_again(mosquitto: Any) -> None:
    ingest = FakeIngest("mqtt", with_topics=True)
    first = collector_for(mosquitto, ingest, "t-acks-done")
    async with crashing(first):
        await asyncio.wait_for(first.wait_connected(), 10)
        await publish(mosquitto, 0, 1000)
        await wait_until(lambda: len(ingest.records) == 1000, 20, "1000 records")
        await wait_until(lambda: first.unacknowledged == 0, 5, "every message acknowledged")
    assert ingest.commit_calls >= 1
    again = FakeIngest("mqtt", with_topics=True)
    second = collector_for(mosquitto, again, "t-acks-done")
    async with crashing(second):
        await asyncio.wait_for(second.wait_connected(), 10)
        await publish(mosquitto, 1000, 10)
        await wait_until(lambda: len(again.records) >= 10, 10, "the new messages")
        await asyncio.sleep(0.3)
    assert [r.seq for r in again.records] == list(range(1000, 1010)), "only what came after the commit"


async def test_a_clean_stop_waits_for_the_commit_then_acknowledges_and_disconnects(mosquitto: Any) -> None:
    ingest = FakeIngest("mqtt", with_topics=True)
    ingest.hold_commits = True
    collector = collector_for(mosquitto, ingest, "t-acks-stop")
    run = asyncio.create_task(collector.run())
    await asyncio.wait_for(collector.wait_connected(), 10)
    await publish(mosquitto, 0, 50)
    await wait_until(lambda: len(ingest.records) == 50, 10, "50 records")
    stop = asyncio.create_task(collector.stop(timeout_s=10))
    await asyncio.sleep(0.3)
    assert not stop.done(), "a stop waits until what was read is stored"
    ingest.release_commits()
    assert await stop is True
    await asyncio.wait_for(run, 5)  # run returns by itself after a stop
    again = FakeIngest("mqtt", with_topics=True)
    second = collector_for(mosquitto, again, "t-acks-stop")
    async with crashing(second):
        await asyncio.wait_for(second.wait_connected(), 10)
        await asyncio.sleep(0.5)
    assert again.records == [], "everything read before the stop was acknowledged"


async def test_a_stop_that_cannot_store_says_so_and_leaves_the_messages_with_the_broker(
    mosquitto: Any,
) -> None:
    ingest = FakeIngest("mqtt", with_topics=True)
    ingest.hold_commits = True  # a disk that refuses every append
    collector = collector_for(mosquitto, ingest, "t-acks-full-disk")
    run = asyncio.create_task(collector.run())
    await asyncio.wait_for(collector.wait_connected(), 10)
    await publish(mosquitto, 0, 20)
    await wait_until(lambda: len(ingest.records) == 20, 10, "20 records")
    assert await collector.stop(timeout_s=0.5) is False
    run.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await run
    again = FakeIngest("mqtt", with_topics=True)
    second = collector_for(mosquitto, again, "t-acks-full-disk")
    async with crashing(second):
        await wait_until(lambda: len(again.records) >= 20, 10, "the 20 messages again")
    assert sorted(r.seq for r in again.records) == list(range(20))
