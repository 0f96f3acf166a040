"""The MQTT transport against a real Mosquitto: batched delivery, broker power-cycle, topic routing.

The collector feeds a recording Ingest (``tests/fake_ingest.py``, the test's own collaborator, not a
stand-in for an external system); the broker is real.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from fake_ingest import FakeIngest
from waiting import wait_until

from collectors.base import RejectReason
from collectors.mqtt import MqttCollector, MqttConfig, MqttSubscription
from collectors.mqtt.fastclient import Delivery, Packet, split_packets
from gateway.models import Record
from simulators.burst import burst

pytestmark = pytest.mark.services


def mqtt_ingest() -> FakeIngest:
    return FakeIngest("mqtt", with_topics=True)


def heartbeat(i: int) -> tuple[str, bytes]:
    device = f"SD-{i % 50:04d}"
    body = {"id": device, "seq": i, "ts": 1763856000000 + i, "event": "heartbeat", "battery": 90, "rsrp": -90}
    return f"fire/smoke/{device}/up", json.dumps(body).encode()


@contextlib.asynccontextmanager
async def running(collector: MqttCollector) -> AsyncIterator[None]:
    """Run the collector for the block, then cancel it (a cancelled run hands over what it had received)."""
    task = asyncio.create_task(collector.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def collector_for(mosquitto: Any, ingest: FakeIngest, client_id: str) -> MqttCollector:
    config = MqttConfig(
        host=mosquitto.host,
        port=mosquitto.port,
        client_id=client_id,
        backoff_initial_s=0.1,
        backoff_max_s=0.5,
        subscriptions=(MqttSubscription(topic="fire/smoke/+/up", decoder="smoke_json"),),
    )
    return MqttCollector(config, ingest)


async def test_messages_arrive_in_batches_and_unrouted_topics_are_rejected(mosquitto: Any) -> None:
    ingest = mqtt_ingest()
    collector = collector_for(mosquitto, ingest, "t-batches")
    async with running(collector):
        await asyncio.wait_for(collector.wait_connected(), 10)
        messages = [heartbeat(i) for i in range(5000)]
        await asyncio.to_thread(burst, mosquitto.host, mosquitto.port, messages, 1)
        await wait_until(lambda: len(ingest.records) == 5000, 20, "5000 records")
        assert [r.seq for r in ingest.records] == list(range(5000)), "order per connection is kept"
        assert ingest.batches < 5000, "a delivery batch is handed over with one submit"
        assert ingest.rejects == []
    # A topic no subscription routes (a persistent session keeps a subscription the config no longer has)
    # is rejected with its topic, not dropped.
    collector.decode_batch([Delivery("fire/other/SD-1/up", heartbeat(1)[1], 1, False)])
    assert [(r.reason, r.topic) for r in ingest.rejects] == [(RejectReason.NO_DECODER, "fire/other/SD-1/up")]


async def test_collector_reconnects_after_broker_power_cycle(mosquitto: Any) -> None:
    ingest = mqtt_ingest()
    collector = collector_for(mosquitto, ingest, "t-reconnect")
    async with running(collector):
        await asyncio.wait_for(collector.wait_connected(), 10)
        await asyncio.to_thread(burst, mosquitto.host, mosquitto.port, [heartbeat(i) for i in range(100)], 1)
        await wait_until(lambda: len(ingest.records) == 100, 10, "first 100")
        mosquitto.stop()
        try:
            await wait_until(lambda: not collector.stats.connected, 10, "disconnect noticed")
            await asyncio.sleep(1.0)  # a few failed reconnect attempts
        finally:
            mosquitto.start()
        await wait_until(
            lambda: collector.stats.connected and collector.stats.connects == 2, 15, "reconnected"
        )
        await asyncio.to_thread(
            burst, mosquitto.host, mosquitto.port, [heartbeat(i) for i in range(100, 200)], 1
        )
        await wait_until(lambda: len(ingest.records) == 200, 10, "second 100 after reconnect")
        assert collector.stats.disconnects == 1


async def test_persistent_session_backlog_is_consumed_while_subscribing_with_bounded_inbox(
    mosquitto: Any,
) -> None:
    """The broker streams a persistent session's backlog before it answers SUBSCRIBE. All of it must be
    processed, in order, and a slow pipeline must make reading pause (bounded memory) rather than lose or
    pile up messages that paho has already acknowledged."""

    class SlowIngest(FakeIngest):
        async def submit(
            self, records: list[Record], *, source: str, origins: Sequence[tuple[str, bytes]] | None = None
        ) -> None:
            await asyncio.sleep(0.002)
            await super().submit(records, source=source, origins=origins)

    ingest = SlowIngest("mqtt", with_topics=True)
    config = MqttConfig(
        host=mosquitto.host,
        port=mosquitto.port,
        client_id="t-backlog",
        inbox_high_watermark=200,
        inbox_low_watermark=50,
        subscriptions=(MqttSubscription(topic="fire/smoke/+/up", decoder="smoke_json"),),
    )
    first = MqttCollector(config, mqtt_ingest())
    async with running(first):
        await asyncio.wait_for(first.wait_connected(), 10)
    # The gateway is away; the broker queues for its session.
    await asyncio.to_thread(burst, mosquitto.host, mosquitto.port, [heartbeat(i) for i in range(20000)], 1)
    collector = MqttCollector(config, ingest)
    async with running(collector):
        await wait_until(lambda: len(ingest.records) == 20000, 60, "the whole backlog")
    assert [r.seq for r in ingest.records] == list(range(20000))
    assert collector.stats.pauses > 0, "reading paused while the pipeline was behind"


async def test_gbt45839_status_is_acknowledged_after_it_was_accepted(mosquitto: Any) -> None:
    """GB/T 45839 appendix D: the platform answers a status message with {"success":1}."""
    import paho.mqtt.client as paho

    ingest = mqtt_ingest()
    config = MqttConfig(
        host=mosquitto.host,
        port=mosquitto.port,
        client_id="t-gbt-ack",
        subscriptions=(
            MqttSubscription(
                topic="fire/gbt45839/+/status", decoder="gbt45839_status", options={"gbt45839_ack": True}
            ),
        ),
    )
    acks: list[tuple[str, bytes]] = []
    listener = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="t-gbt-listener")
    listener.on_message = lambda _c, _u, m: acks.append((m.topic, m.payload))
    listener.connect(mosquitto.host, mosquitto.port)
    listener.subscribe("fire/gbt45839/+/status/ack", qos=1)
    listener.loop_start()
    collector = MqttCollector(config, ingest)
    try:
        async with running(collector):
            await asyncio.wait_for(collector.wait_connected(), 10)
            status = {
                "company": "ACME",
                "serial": "86451204412345",
                "status": 1,
                "signalStrength": -87,
                "batteryPercentage": 92,
                "datetime": "2026-11-23 08:00:00",
            }
            topic = "fire/gbt45839/ACME/status"
            await asyncio.to_thread(
                burst, mosquitto.host, mosquitto.port, [(topic, json.dumps(status).encode())], 1
            )
            await wait_until(lambda: len(acks) == 1, 10, "the acknowledgement")
    finally:
        listener.loop_stop()
        listener.disconnect()
    assert acks == [(f"{topic}/ack", b'{"success":1}')]
    assert len(ingest.records) == 1


def test_split_packets_frames_publishes_and_hands_everything_else_on_in_stream_order() -> None:
    """Pure framing test, byte by byte (MQTT 3.1.1 §2.2.3, §3.3, §3.4)."""
    qos1 = b"\x32\x0c\x00\x03a/b\x12\x34hello"  # PUBLISH QoS 1, packet id 0x1234
    qos0_retain = b"\x31\x05\x00\x01xyz"
    suback = b"\x90\x03\x00\x01\x01"
    qos2 = b"\x34\x07\x00\x01q\x00\x07!!"  # QoS 2: to paho unless a QoS 2 state is passed
    big_payload = bytes(200)  # remaining length 205: two length bytes (0xCD 0x01)
    big = b"\x30\xcd\x01\x00\x03big" + big_payload
    stream = qos1 + suback + qos0_retain + qos2 + big
    deliveries: list[Delivery] = []
    acks: list[bytes] = []
    others: list[tuple[int, Packet]] = []
    assert split_packets(stream, deliveries, acks, others) == len(stream)
    assert deliveries == [
        Delivery("a/b", b"hello", 1, False),
        Delivery("x", b"yz", 0, True),
        Delivery("big", big_payload, 0, False),
    ]
    assert acks == [b"\x40\x02\x12\x34"]  # PUBACK for packet id 0x1234
    assert others == [(1, Packet(0x90, [0x03], b"\x00\x01\x01")), (2, Packet(0x34, [0x07], qos2[2:]))]


def test_split_packets_receives_qos2_once_and_answers_in_stream_order() -> None:
    """QoS 2, MQTT 3.1.1 §4.3.3 method A: deliver on PUBLISH and answer PUBREC; keep the packet id until
    PUBREL (answered PUBCOMP), so that a resent PUBLISH (DUP) with that id is acknowledged, not delivered."""
    qos2 = b"\x34\x07\x00\x01q\x00\x07!!"  # PUBLISH QoS 2, packet id 7
    qos2_dup = b"\x3c\x07\x00\x01q\x00\x07!!"  # the same, resent with DUP set
    qos1 = b"\x32\x06\x00\x01r\x00\x08."  # PUBLISH QoS 1, packet id 8
    pubrel = b"\x62\x02\x00\x07"
    received: set[int] = set()
    deliveries: list[Delivery] = []
    acks: list[bytes] = []
    others: list[tuple[int, Packet]] = []
    stream = qos2 + qos1 + qos2_dup
    assert split_packets(stream, deliveries, acks, others, received) == len(stream)
    assert deliveries == [Delivery("q", b"!!", 2, False), Delivery("r", b".", 1, False)]
    # PUBREC, PUBACK, PUBREC again for the resent one
    assert acks == [b"\x50\x02\x00\x07", b"\x40\x02\x00\x08", b"\x50\x02\x00\x07"]
    assert received == {7}
    assert others == []
    # The broker releases it; afterwards the same id is a new message.
    deliveries, acks = [], []
    assert split_packets(pubrel + qos2, deliveries, acks, others, received) == len(pubrel + qos2)
    assert acks == [b"\x70\x02\x00\x07", b"\x50\x02\x00\x07"]  # PUBCOMP, then PUBREC of the new one
    assert deliveries == [Delivery("q", b"!!", 2, False)]
    assert received == {7}
    assert others == []


@pytest.mark.parametrize("cut", [1, 2, 3, 10, 207])
def test_split_packets_leaves_an_incomplete_packet_for_the_next_read(cut: int) -> None:
    first = b"\x30\x05\x00\x01xyz"
    second = b"\x30\xcd\x01\x00\x03big" + bytes(200)
    stream = first + second
    deliveries: list[Delivery] = []
    used = split_packets(stream[: len(first) + cut], deliveries, [], [])
    assert used == len(first), "only whole packets are consumed"
    assert [d.topic for d in deliveries] == ["x"]
    rest: list[Delivery] = []
    assert split_packets(stream[used:], rest, [], []) == len(second)
    assert rest[0].payload == bytes(200)


def test_split_packets_refuses_a_remaining_length_longer_than_four_bytes() -> None:
    with pytest.raises(ValueError, match="remaining length"):
        split_packets(b"\x30\xff\xff\xff\xff\x01", [], [], [])


@pytest.mark.parametrize("qos", [0, 1, 2])
async def test_every_qos_arrives_through_the_fast_path_or_paho(mosquitto: Any, qos: int) -> None:
    """Every QoS arrives through the fast path, in order, and the broker gets its acknowledgements (a QoS 1
    or 2 message it did not get acknowledged would be sent again after a reconnect, and counted twice).

    3,000 messages is thirty times the broker's in-flight window (100 here). The QoS 2 publisher keeps at
    most 50 of its own messages unconfirmed: Mosquitto 2.0.11 (this machine's, and Debian 12's) stops
    delivering to every subscriber, a bare paho one too, once a single publisher has more QoS 2 messages in
    flight than that window (measured: 3,000 of 3,000 arrive at 20 or 100, 1,952 at 200, 100 unlimited)."""
    ingest = mqtt_ingest()
    config = MqttConfig(
        host=mosquitto.host,
        port=mosquitto.port,
        client_id=f"t-qos{qos}",
        subscriptions=(MqttSubscription(topic="fire/smoke/+/up", decoder="smoke_json", qos=qos),),
    )
    collector = MqttCollector(config, ingest)
    async with running(collector):
        await asyncio.wait_for(collector.wait_connected(), 10)
        count = 3000
        engine = "paho" if qos == 2 else "raw"  # the raw publisher speaks QoS 0 and 1 only
        window = 50 if qos == 2 else 20_000
        messages = [heartbeat(i) for i in range(count)]
        await asyncio.to_thread(
            burst, mosquitto.host, mosquitto.port, messages, qos, engine=engine, window=window
        )
        await wait_until(lambda: len(ingest.records) == count, 20, f"{count} records")
        assert [r.seq for r in ingest.records] == list(range(count))


class ScriptedBroker:
    """A TCP server that speaks just enough MQTT 3.1.1 to cut a QoS 2 handshake where a test wants.

    A fake, and said so: a real Mosquitto cannot be told to drop a connection between a PUBREC and its
    PUBREL, which is exactly the moment these tests need. Each connection runs ``script(reader, writer)``
    after CONNACK (session present) and SUBACK.
    """

    def __init__(self, scripts: list[Any]) -> None:
        self.scripts = scripts
        self.received: list[bytes] = []  # every packet the client sent after SUBSCRIBE, in order
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    @staticmethod
    async def idle(
        broker: ScriptedBroker, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.read()  # a connection after the scripted ones: nothing happens on it

    @staticmethod
    async def read_packet(reader: asyncio.StreamReader) -> bytes:
        first = await reader.readexactly(1)
        length, shift, header = 0, 0, b""
        while True:
            byte = await reader.readexactly(1)
            header += byte
            length |= (byte[0] & 0x7F) << shift
            shift += 7
            if byte[0] < 0x80:
                break
        return first + header + await reader.readexactly(length)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        script = self.scripts.pop(0) if self.scripts else self.idle
        try:
            await self.read_packet(reader)  # CONNECT
            writer.write(b"\x20\x02\x01\x00")  # CONNACK, session present
            subscribe = await self.read_packet(reader)
            writer.write(b"\x90\x03" + subscribe[2:4] + b"\x02")  # SUBACK, QoS 2 granted
            await script(self, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def qos2_publish(packet_id: int, *, dup: bool = False) -> bytes:
    """A QoS 2 PUBLISH of ``heartbeat(7)`` (MQTT 3.1.1 §3.3), DUP set when it is a resend."""
    topic, payload = heartbeat(7)
    body = len(topic).to_bytes(2, "big") + topic.encode() + packet_id.to_bytes(2, "big") + payload
    assert len(body) < 128, "one remaining-length byte"
    return (b"\x3c" if dup else b"\x34") + bytes([len(body)]) + body


async def test_qos2_message_is_not_lost_when_the_connection_drops_between_pubrec_and_pubrel() -> None:
    """The broker got our PUBREC, then the connection dropped: after the reconnect it sends only the PUBREL.
    The message must have been delivered (it is nowhere else now), and only once."""

    async def first(
        broker: ScriptedBroker, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(qos2_publish(1))
        broker.received.append(await broker.read_packet(reader))  # PUBREC
        # the connection drops here

    async def second(
        broker: ScriptedBroker, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(b"\x62\x02\x00\x01")  # PUBREL, resent on the new connection (MQTT 3.1.1 §4.4)
        broker.received.append(await broker.read_packet(reader))  # PUBCOMP
        await asyncio.sleep(30)

    await run_scripted(first, second, expected_packets=[b"\x50\x02\x00\x01", b"\x70\x02\x00\x01"])


async def test_qos2_message_resent_after_a_reconnect_is_delivered_once() -> None:
    """The connection dropped before the broker got our PUBREC: it resends the PUBLISH (DUP) on the next
    connection of the persistent session. Delivered once, acknowledged twice, released once."""

    async def first(
        broker: ScriptedBroker, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(qos2_publish(1))
        await broker.read_packet(reader)  # our PUBREC, lost with the connection

    async def second(
        broker: ScriptedBroker, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(qos2_publish(1, dup=True))
        broker.received.append(await broker.read_packet(reader))  # PUBREC
        writer.write(b"\x62\x02\x00\x01")  # PUBREL
        broker.received.append(await broker.read_packet(reader))  # PUBCOMP
        await asyncio.sleep(30)

    await run_scripted(first, second, expected_packets=[b"\x50\x02\x00\x01", b"\x70\x02\x00\x01"])


async def run_scripted(first: Any, second: Any, expected_packets: list[bytes]) -> None:
    broker = ScriptedBroker([first, second])
    await broker.start()
    ingest = mqtt_ingest()
    config = MqttConfig(
        host="127.0.0.1",
        port=broker.port,
        client_id="t-qos2-session",
        clean_session=False,
        backoff_initial_s=0.05,
        backoff_max_s=0.1,
        subscriptions=(MqttSubscription(topic="fire/smoke/+/up", decoder="smoke_json", qos=2),),
    )
    collector = MqttCollector(config, ingest)
    try:
        async with running(collector):
            await wait_until(lambda: len(broker.received) == len(expected_packets), 10, "the handshake")
            await asyncio.sleep(0.2)  # a second delivery, if there were one, would arrive by now
    finally:
        await broker.stop()
    assert broker.received == expected_packets
    assert [r.seq for r in ingest.records] == [7], "delivered exactly once"
    assert collector.stats.disconnects == 1
