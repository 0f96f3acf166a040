"""The MQTT collector: connect, subscribe, decode in batches, hand records to the pipeline; reconnect forever.

Per message it does only a dictionary lookup (topic -> decoder, cached) and the decoder call; records of a
whole delivery batch are handed over with one ``submit`` so that per-message overhead stays in the
microseconds (see ``fastclient``).

Nothing is acknowledged to the broker before it is stored: after each batch is submitted, the collector asks
the pipeline for ``committed()`` (done once everything submitted so far is in the durable buffer or the
store) and an acknowledging task sends the batch's PUBACKs when it completes, batch after batch in order.
Ingestion does not wait for the disk meanwhile; the broker's in-flight window bounds what can wait. A crash
or a dropped connection leaves the rest unacknowledged, and the broker sends it again to the persistent
session. ``stop()`` ends a session cleanly: reading stops, what was read is submitted and made durable,
acknowledged, and the connection is closed with DISCONNECT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiomqtt
import paho.mqtt.client as paho

from collectors.backoff import Backoff
from collectors.base import DecodeError, Decoder, Ingest, RejectReason
from collectors.decoders import make_decoder
from collectors.mqtt.config import MqttConfig
from collectors.mqtt.fastclient import Delivery, FastClient
from gateway.models import Record

log = logging.getLogger(__name__)

#: Messages handed to the pipeline at once (decoded, stored, ruled) before other tasks get the loop again.
#: Only a backlog fills a batch (at 5,000 msg/s a loop turn finds a few dozen). A batch costs the loop about
#: 40 ms at 1,000 messages; each hand-over has a fixed cost too (one hazard-store transaction, one sink
#: hand-over), measured with bench/ingest_bench.py on 200,000 messages: 250 -> 20,100 msg/s, 500 -> 21,500,
#: 1,000 -> 23,400. An alarm behind a full batch waits those 40 ms at most, well within its 100 ms target.
MAX_BATCH = 1000

SOURCE = "mqtt"


@dataclass(slots=True)
class MqttStats:
    connected: bool = False
    connects: int = 0
    disconnects: int = 0
    messages: int = 0
    batches: int = 0  # hand-overs to the pipeline: messages / batches is the average batch size
    records: int = 0
    rejects: int = 0
    pauses: int = 0  # times reading paused because the pipeline fell behind (back-pressure)
    last_error: str = ""
    by_decoder: dict[str, int] = field(default_factory=dict)


class MqttCollector:
    """Subscribes to ``config.subscriptions`` and feeds ``ingest``. Run it with ``await collector.run()``."""

    TOPIC_CACHE_MAX = 200_000

    def __init__(
        self,
        config: MqttConfig,
        ingest: Ingest,
        decoders: Mapping[str, Decoder] | None = None,
    ) -> None:
        self.config = config
        self.ingest = ingest
        self.stats = MqttStats()
        # One decoder instance per subscription (options may differ between subscriptions).
        self._routes: list[tuple[str, Decoder]] = [
            (
                sub.topic,
                decoders[sub.decoder]
                if decoders and sub.decoder in decoders
                else make_decoder(sub.decoder, sub.options),
            )
            for sub in config.subscriptions
        ]
        self._topic_cache: dict[str, Decoder | None] = {}
        #: QoS 2 packet ids delivered and not yet released, for the whole persistent session (FastClient).
        self._qos2_received: set[int] = set()
        #: Decoders whose format wants each message answered (GB/T 45839 appendix D), with the answer.
        self._acking: dict[Decoder, bytes] = {
            dec: ack for _, dec in self._routes if (ack := getattr(dec, "ack_payload", None)) is not None
        }
        self._acks: list[tuple[str, bytes]] = []
        self._connected = asyncio.Event()
        #: Set by ``stop``: the session winds down and ``run`` returns.
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        #: Messages read and not yet acknowledged on the current connection (``/metrics``, the stop line).
        self._client_now: FastClient | None = None

    async def wait_connected(self) -> None:
        """Wait until subscribed (tests and the demo use it to know when publishing is safe)."""
        await self._connected.wait()

    def _decoder_for(self, topic: str) -> Decoder | None:
        try:
            return self._topic_cache[topic]
        except KeyError:
            pass
        found = next((dec for flt, dec in self._routes if paho.topic_matches_sub(flt, topic)), None)
        if len(self._topic_cache) >= self.TOPIC_CACHE_MAX:
            self._topic_cache.clear()
        self._topic_cache[topic] = found
        return found

    def _client(self) -> FastClient:
        cfg = self.config
        return FastClient(
            cfg.host,
            port=cfg.port,
            username=cfg.username,
            password=cfg.password.get_secret_value() if cfg.password else None,
            identifier=cfg.client_id,
            clean_session=cfg.clean_session,
            keepalive=cfg.keepalive_s,
            tls_context=cfg.tls_context(),
            # paho keeps at most this many QoS>0 messages unacknowledged towards us; a larger window
            # lets the broker stream faster.
            max_inflight_messages=1000,
            high_watermark=cfg.inbox_high_watermark,
            low_watermark=min(cfg.inbox_low_watermark, cfg.inbox_high_watermark - 1),
            # A persistent session keeps its QoS 2 state on the broker across reconnects, and so do we: a
            # message delivered before the connection dropped is not delivered again when it is resent.
            qos2_received=None if cfg.clean_session else self._qos2_received,
            manual_acks=True,
        )

    @property
    def unacknowledged(self) -> int:
        """Messages read on the current connection and not yet acknowledged to the broker."""
        client = self._client_now
        return client.unacknowledged if client is not None else 0

    async def stop(self, timeout_s: float = 10.0) -> bool:
        """Stop taking messages, store and acknowledge what was read, close the session with DISCONNECT.
        Returns False if that did not finish within ``timeout_s`` (what was not acknowledged then is sent
        again by the broker to the next session)."""
        self._stopping.set()
        try:
            async with asyncio.timeout(timeout_s):
                await self._stopped.wait()
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        """Connect and consume until ``stop`` or cancellation; every failure leads to a jittered, capped
        reconnect. Whatever sits in the client's inbox when the connection drops (or the gateway stops) is
        decoded and submitted before the client is discarded: stored twice at worst, never dropped."""
        backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_max_s)
        try:
            while not self._stopping.is_set():
                await self._connection(backoff)
        finally:
            self._stopped.set()

    async def _connection(self, backoff: Backoff) -> None:
        """One connection, from connect to its end; failures are logged and waited out here."""
        client = self._client()
        self._client_now = client
        try:
            async with client:
                await self._session(client, backoff)
        except aiomqtt.MqttError as exc:
            self.stats.last_error = str(exc)
            delay = backoff.next_delay()
            if self.stats.connected:
                self.stats.disconnects += 1
                log.warning("MQTT connection lost (%s); reconnecting in %.1f s", exc, delay)
            else:
                log.warning(
                    "cannot connect to MQTT broker %s:%d (%s); retrying in %.1f s",
                    self.config.host,
                    self.config.port,
                    exc,
                    delay,
                )
            self.stats.connected = False
            self._connected.clear()
            await self._submit(client.inbox.take_nowait())
            with contextlib.suppress(TimeoutError):  # a stop does not wait out the back-off
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
        finally:
            # Shutdown (cancellation) included: what was received is handed over, not dropped.
            leftovers = client.inbox.take_nowait()
            if leftovers:
                await asyncio.shield(self._submit(leftovers))
            self.stats.pauses += client.pauses

    async def _session(self, client: FastClient, backoff: Backoff) -> None:
        # A persistent session's backlog arrives right after CONNACK, before the SUBACKs: consume it while
        # subscribing instead of letting it pile up.
        log.info("MQTT session open on %s:%d (CONNACK received)", self.config.host, self.config.port)
        committed: asyncio.Queue[tuple[int, asyncio.Future[None]] | None] = asyncio.Queue()
        consumer = asyncio.create_task(self._consume(client, committed), name="mqtt-consume")
        acker = asyncio.create_task(self._acknowledge(client, committed), name="mqtt-ack")
        stopping = asyncio.create_task(self._stopping.wait(), name="mqtt-stop")
        try:
            for sub in self.config.subscriptions:
                await client.subscribe(sub.topic, qos=sub.qos, timeout=self.config.subscribe_timeout_s)
            self.stats.connected = True
            self.stats.connects += 1
            backoff.reset()
            self._connected.set()
            log.info(
                "MQTT connected to %s:%d, %d subscription(s)",
                self.config.host,
                self.config.port,
                len(self.config.subscriptions),
            )
            await asyncio.wait({consumer, acker, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stopping.done() and not consumer.done():
                # A clean stop: read nothing more, store and acknowledge what was read, then DISCONNECT.
                client.stop_reading()
                await consumer
                committed.put_nowait(None)
                await acker
                log.info("MQTT session closed cleanly: every message read was stored and acknowledged")
            elif consumer.done():
                consumer.result()  # raises what ended the session
            else:
                acker.result()
        finally:
            for task in (consumer, acker, stopping):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def _consume(
        self, client: FastClient, committed: asyncio.Queue[tuple[int, asyncio.Future[None]] | None]
    ) -> None:
        inbox = client.inbox
        while True:
            messages = await inbox.take(limit=MAX_BATCH)
            if not messages:  # reading stopped and everything read was taken
                return
            # Shielded: once taken from the inbox a batch is submitted whole, even if we are cancelled.
            await asyncio.shield(self._submit(messages))
            committed.put_nowait((inbox.taken, self.ingest.committed()))
            await asyncio.sleep(
                0
            )  # let the API, the live feed and the rule engine's ticks run between batches
            if self._acks:
                # GB/T 45839 appendix D: the platform answers each status message with {"success":1}.
                # Sent only after the records were accepted by the pipeline.
                acks, self._acks = self._acks, []
                for topic, payload in acks:
                    await client.publish(f"{topic}/ack", payload, qos=0)

    async def _acknowledge(
        self, client: FastClient, committed: asyncio.Queue[tuple[int, asyncio.Future[None]] | None]
    ) -> None:
        """Acknowledge each submitted batch to the broker once it is durable, in order."""
        while True:
            item = await committed.get()
            if item is None:
                return
            taken, durable = item
            await durable
            client.ack_through(taken)

    async def _submit(self, messages: list[Delivery]) -> None:
        if not messages:
            return
        records, origins = self.decode_batch(messages)
        if records:
            await self.ingest.submit(records, source=SOURCE, origins=origins)

    def decode_batch(self, messages: list[Delivery]) -> tuple[list[Record], list[tuple[str, bytes]]]:
        """Decode a delivery batch. Returns the records and, parallel to them, the (topic, payload) each came
        from, so that a record the pipeline refuses (unknown device) is dead-lettered with its raw bytes."""
        records: list[Record] = []
        origins: list[tuple[str, bytes]] = []
        max_bytes = self.config.max_payload_bytes
        stats = self.stats
        stats.messages += len(messages)
        stats.batches += 1
        acking = self._acking
        per_decoder: Counter[Decoder] = Counter()
        for message in messages:
            topic, payload = message.topic, message.payload
            if len(payload) > max_bytes:
                stats.rejects += 1
                self.ingest.reject(
                    RejectReason.TOO_LARGE,
                    f"payload of {len(payload)} bytes exceeds max_payload_bytes={max_bytes}",
                    source=SOURCE,
                    raw=payload[:max_bytes],
                    topic=topic,
                )
                continue
            decoder = self._decoder_for(topic)
            if decoder is None:
                stats.rejects += 1
                self.ingest.reject(
                    RejectReason.NO_DECODER,
                    f"no subscription maps topic {topic!r} to a decoder",
                    source=SOURCE,
                    raw=payload,
                    topic=topic,
                )
                continue
            try:
                decoded = decoder.decode(topic, payload)
            except DecodeError as exc:
                stats.rejects += 1
                self.ingest.reject(
                    exc.reason,
                    f"{decoder.name}: {exc.detail}",
                    source=SOURCE,
                    device_id=exc.device_id,
                    raw=payload,
                    topic=topic,
                )
                continue
            except Exception as exc:  # a decoder bug must not end ingestion; it is counted and kept
                stats.rejects += 1
                log.exception("decoder %s crashed on topic %s", decoder.name, topic)
                self.ingest.reject(
                    RejectReason.MALFORMED,
                    f"{decoder.name} raised {type(exc).__name__}: {exc}",
                    source=SOURCE,
                    raw=payload,
                    topic=topic,
                )
                continue
            if len(decoded) == 1:  # the usual case: no list built for the origins
                records.append(decoded[0])
                origins.append((topic, payload))
            else:
                records.extend(decoded)
                origins.extend([(topic, payload)] * len(decoded))
            if decoder in acking:
                self._acks.append((topic, acking[decoder]))
            per_decoder[decoder] += 1
        for decoder, count in per_decoder.items():
            stats.by_decoder[decoder.name] = stats.by_decoder.get(decoder.name, 0) + count
        stats.records += len(records)
        return records, origins
