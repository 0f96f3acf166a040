"""aiomqtt with a fast receive path: the same client and session, without paho's per-message overhead.

Why: on the 2-core test machine paho-mqtt's receive path costs about 20 µs of event-loop CPU per message
(three ``recv`` calls per packet, an ``MQTTMessage``, topic matching against callbacks, an aiomqtt
``Message`` with topic validation, one PUBACK packet queued and written per message, and an event-loop turn
per message). At the 25,000 messages/s the gateway is meant to store, that alone would be half of the CPU
a Python process has. So this module keeps aiomqtt (and paho under it) for everything that is protocol
*state* (connect, subscribe, keepalive, publishing, reconnect) and takes over only the hot path:

1. **Reading.** The socket is read in large chunks here, and the byte stream is split into MQTT packets by
   ``split_packets``. PUBLISH packets (MQTT 3.1.1 has no properties to parse) become ``Delivery`` tuples
   at once; every other packet (CONNACK, SUBACK, PINGRESP, ...) is handed whole to paho's own packet
   handler, exactly as if paho had read it.
2. **Acknowledging.** With ``manual_acks`` (what the collector uses) a message is acknowledged only when
   the caller says it is stored: PUBACK (QoS 1) and PUBREC (QoS 2) wait, in stream order, until
   ``ack_through(n)`` says the first ``n`` messages of this connection are durable (MQTT 3.1.1 §4.6: in
   the order the PUBLISH packets came). A connection that drops leaves them unacknowledged, and the
   broker sends them again on the next connection of the persistent session: nothing it handed over can
   be lost in a crash, at the cost of a message stored twice after one. PUBCOMP (the answer to the
   broker's PUBREL) goes out at once. Without ``manual_acks`` every acknowledgement of a chunk goes out as
   one write as soon as the chunk's messages are in the inbox.
3. **QoS 2** is received as MQTT 3.1.1 §4.3.3 allows ("method A"): the message is delivered when its
   PUBLISH arrives and its packet id is kept until the broker's PUBREL, so a resent PUBLISH with that id
   is acknowledged but not delivered twice. The ids are kept by the collector across reconnects of a
   persistent session (``qos2_received``), so exactly once holds within a gateway run; across a gateway
   restart a message whose PUBREC the broker never got is delivered again (at least once, never lost).
   Why not paho's QoS 2: paho delivers at PUBREL and keeps its state in the paho client, which aiomqtt
   makes anew for every connection; a connection lost between PUBREC and PUBREL left the broker to resend
   only the PUBREL, which the new client answered without ever delivering the message. It also cost
   paho's per-message overhead and an event-loop turn per answer.
4. **Delivery.** ``queue_type`` (a public aiomqtt parameter) is an inbox that collects messages into a list
   and wakes one consumer per batch instead of once per message.
5. **Back-pressure.** Reading pauses while the inbox holds more than a high watermark; paused (or with
   ``manual_acks``, while acknowledgements wait for the disk), the broker's in-flight window fills and the
   broker holds the rest (Mosquitto: ``max_queued_messages``). The window (Mosquitto:
   ``max_inflight_messages``) bounds how many messages can wait for their acknowledgement, and so the
   throughput: deploy/mosquitto/mosquitto.conf sets it to 10,000.

MQTT 5 sessions (PUBLISH carries properties) are left to paho entirely (and acknowledged by paho on read). The
overrides touch aiomqtt 2.5 and paho-mqtt 2.1 internals (``_on_socket_open`` and its reader callback,
``_on_socket_close``, ``_on_disconnect``, ``_on_message``; paho's ``_in_packet``, ``_packet_read``,
``_packet_queue``, ``_loop_rc_handle``); both versions are pinned in pyproject.toml,
tests/test_mqtt_transport.py runs this path against a real Mosquitto (QoS 0, 1 and 2, a broker restart, a
persistent session's backlog), and the framing is unit-tested byte by byte.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

log = logging.getLogger(__name__)

#: Bytes asked of the socket per read: about 1,500 typical device messages.
CHUNK = 256 * 1024

_PUBLISH = 0x30
_PUBACK = 0x40
_PUBREL = 0x62  # type 6 with its mandatory flags 0010
_PUBCOMP = 0x70


class Delivery(NamedTuple):
    """One received application message (what the collector decodes)."""

    topic: str
    payload: bytes
    qos: int
    retain: bool


class Packet(NamedTuple):
    """A whole MQTT packet that is not a fast-path PUBLISH: paho handles it."""

    first_byte: int
    remaining_length_bytes: list[int]
    body: bytes


def split_packets(
    buf: bytes,
    deliveries: list[Delivery],
    acks: list[bytes],
    others: list[tuple[int, Packet]],
    qos2_received: set[int] | None = None,
) -> int:
    """Split ``buf`` into MQTT packets; returns how many bytes were consumed (whole packets only).

    PUBLISH packets are appended to ``deliveries``, and the acknowledgements they need to ``acks``, as
    packets in stream order: PUBACK for QoS 1; for QoS 2 (only when ``qos2_received`` is given) PUBREC, with
    the packet id added to ``qos2_received`` and the message not delivered again while its id is there;
    a PUBREL removes the id and is answered with PUBCOMP. Any other packet (and QoS 2 without
    ``qos2_received``) goes to ``others`` with its position in ``deliveries``, so that the caller can hand
    it to paho in stream order. The tail of an incomplete packet is left for the next read. A stream that is
    not MQTT (a remaining length of more than 4 bytes, a PUBLISH whose topic does not fit in it) raises
    ``ValueError``, whatever the bytes (tests/test_decoders_fuzz.py).
    """
    n = len(buf)
    pos = 0
    append = deliveries.append
    fast_qos2 = qos2_received is not None
    received: set[int] = qos2_received if qos2_received is not None else set()
    while pos + 2 <= n:
        first = buf[pos]
        # Remaining length: 1 to 4 bytes, 7 bits each, least significant first (MQTT 3.1.1 §2.2.3).
        length = 0
        shift = 0
        i = pos + 1
        while True:
            if i >= n:
                return pos  # the length itself is incomplete
            byte = buf[i]
            length |= (byte & 0x7F) << shift
            i += 1
            if byte < 0x80:
                break
            shift += 7
            if shift > 21:
                raise ValueError("malformed MQTT remaining length (more than 4 bytes)")
        end = i + length
        if end > n:
            return pos
        qos = (first >> 1) & 3
        if first & 0xF0 == _PUBLISH and (qos < 2 or fast_qos2):
            # The topic's length (and the packet id, QoS 1 and 2) must fit in the packet: a stream that says
            # otherwise is not MQTT (QoS 3 neither), and its connection is dropped by the caller.
            topic_end = i + 2 + ((buf[i] << 8) | buf[i + 1]) if length >= 2 else end + 1
            if topic_end + (qos and 2) > end or qos == 3:
                raise ValueError("malformed MQTT PUBLISH (topic or packet id past the packet, or QoS 3)")
            topic = buf[i + 2 : topic_end].decode("utf-8", "replace")
            if qos == 1:
                acks.append(b"\x40\x02" + buf[topic_end : topic_end + 2])
                topic_end += 2
            elif qos:  # QoS 2: PUBREC now; delivered unless this id was delivered and not yet released
                acks.append(b"\x50\x02" + buf[topic_end : topic_end + 2])
                packet_id = (buf[topic_end] << 8) | buf[topic_end + 1]
                topic_end += 2
                if packet_id in received:
                    pos = end
                    continue
                received.add(packet_id)
            append(Delivery(topic, buf[topic_end:end], qos, bool(first & 1)))
        elif first == _PUBREL and length == 2 and fast_qos2:
            received.discard((buf[i] << 8) | buf[i + 1])
            acks.append(b"\x70\x02" + buf[i:end])  # PUBCOMP
        else:
            others.append((len(deliveries), Packet(first, list(buf[pos + 1 : i]), buf[i:end])))
        pos = end
    return pos


class BatchInbox(asyncio.Queue[Delivery]):
    """An ``asyncio.Queue`` look-alike that the consumer drains a whole batch at a time.

    The client appends to it; ``take`` returns everything received so far, waiting for at least one message
    or for the connection to drop (then it raises the disconnect error, but only once nothing is left:
    messages already acknowledged to the broker are never thrown away).
    """

    def __init__(self, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self._items: list[Delivery] = []
        self._ready = asyncio.Event()
        self._error: BaseException | None = None
        self._closed = False
        #: Called after every ``take``: lets the client resume reading once the backlog is small again.
        self.on_taken: Callable[[], None] | None = None
        #: Messages taken out so far: with ``FastClient.ack_through`` it says which ones to acknowledge.
        self.taken = 0

    def put_nowait(self, item: Delivery) -> None:
        self._items.append(item)
        if len(self._items) == 1:
            self._ready.set()

    def extend(self, items: list[Delivery]) -> None:
        if items:
            self._items.extend(items)
            self._ready.set()

    def qsize(self) -> int:
        return len(self._items)

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._ready.set()

    def close(self) -> None:
        """Nothing more will be added: ``take`` returns what is left, then an empty list."""
        self._closed = True
        self._ready.set()

    async def take(self, limit: int | None = None) -> list[Delivery]:
        """Everything received so far, or the oldest ``limit`` messages: a bounded batch keeps one hand-over
        from holding the event loop for seconds when the gateway is behind, so an alarm in the next batch
        does not wait for thousands of heartbeats to be decoded first."""
        while not self._items:
            if self._error is not None:
                raise self._error
            if self._closed:
                return []
            self._ready.clear()
            await self._ready.wait()
        if limit is not None and len(self._items) > limit:
            items = self._items[:limit]
            del self._items[:limit]
            self.taken += limit
        else:
            items = self.take_nowait()
        if self.on_taken is not None:
            self.on_taken()
        return items

    def take_nowait(self) -> list[Delivery]:
        items, self._items = self._items, []
        self.taken += len(items)
        return items


class FastClient(aiomqtt.Client):
    """aiomqtt.Client with the fast receive path and batched delivery (see the module docstring).

    Messages arrive in ``inbox`` as ``Delivery`` tuples, not aiomqtt ``Message`` objects. Reading pauses
    while more than ``high_watermark`` messages wait in the inbox and resumes below ``low_watermark``.
    """

    def __init__(
        self,
        *args: Any,
        high_watermark: int = 20_000,
        low_watermark: int = 5_000,
        qos2_received: set[int] | None = None,
        manual_acks: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, queue_type=BatchInbox, **kwargs)  # type: ignore[arg-type]
        inbox = self._queue
        assert isinstance(inbox, BatchInbox)
        self.inbox: BatchInbox = inbox
        inbox.on_taken = self._maybe_resume
        self.high_watermark: int = high_watermark
        self.low_watermark: int = low_watermark
        self.paused: bool = False
        self.pauses: int = 0
        #: ``stop_reading`` was called: reading never resumes on this connection.
        self.halted: bool = False
        self._reader_fd: int | None = None
        self._tail: bytes = b""  # the start of a packet whose rest has not arrived yet
        # MQTT 5 PUBLISH packets carry properties: leave those sessions to paho's reader.
        self.fast_path: bool = self._client._protocol != paho.MQTTv5
        #: Ids of QoS 2 messages delivered and not yet released by the broker (see the module docstring);
        #: pass the same set to the next connection of a persistent session.
        self.qos2_received: set[int] = qos2_received if qos2_received is not None else set()
        #: Acknowledge only through ``ack_through`` (see the module docstring).
        self.manual_acks: bool = manual_acks
        #: Messages put in the inbox on this connection, and how many of them are acknowledged.
        self.delivered: int = 0
        self.acked_through: int = 0
        #: Acknowledgements waiting, in stream order: (messages delivered when they were read, packets).
        self._waiting_acks: deque[tuple[int, bytes]] = deque()

    # -- reading ----------------------------------------------------------------------------------------

    def _read_ready(self) -> None:
        """The socket is readable: read what is there in large chunks and deliver it."""
        client = self._client
        try:
            if not self.fast_path:
                self._paho_read_ready()
                return
            while client._sock is not None:
                try:
                    chunk = client._sock_recv(CHUNK)  # paho's recv: maps SSL want-read to BlockingIOError
                except BlockingIOError:
                    return
                except OSError:
                    client._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)
                    return
                if not chunk:  # the broker closed the connection
                    client._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)
                    return
                if not self._deliver(self._tail + chunk if self._tail else chunk):
                    return
                if self.inbox.qsize() >= self.high_watermark:
                    self._pause()
                    return
                pending = getattr(client._sock, "pending", None)  # an SSL socket may hold decrypted bytes
                if len(chunk) < CHUNK and not (pending is not None and pending() > 0):
                    return  # drained; the next read would only say "would block"
        except ValueError as exc:  # the byte stream is not MQTT: drop the connection, a reconnect follows
            log.error("MQTT protocol error from the broker (%s); reconnecting", exc)
            client._loop_rc_handle(MQTTErrorCode.MQTT_ERR_PROTOCOL)
        except Exception as exc:  # the connection broke: let aiomqtt report the disconnection
            if not self._disconnected.done():
                self._disconnected.set_exception(exc)
            self.inbox.fail(aiomqtt.MqttError(f"reading from the broker failed: {exc}"))

    def _deliver(self, buf: bytes) -> bool:
        """Split ``buf`` into packets, deliver the messages, acknowledge them; False if the session ended."""
        client = self._client
        deliveries: list[Delivery] = []
        acks: list[bytes] = []
        others: list[tuple[int, Packet]] = []
        used = split_packets(buf, deliveries, acks, others, self.qos2_received)
        self._tail = buf[used:]
        client._last_bytes_received = time.monotonic()  # paho's keepalive bookkeeping
        self.delivered += len(deliveries)
        if not others:
            self.inbox.extend(deliveries)
        else:  # keep stream order: messages before a paho-handled packet are delivered before it
            start = 0
            for index, packet in others:
                self.inbox.extend(deliveries[start:index])
                start = index
                if not self._paho_handle(packet):
                    self.inbox.extend(deliveries[start:])
                    return False
            self.inbox.extend(deliveries[start:])
        if acks:
            if self.manual_acks:
                acks = self._hold_acks(acks)
            if acks:
                self._send_acks(b"".join(acks))
        return True

    def _hold_acks(self, acks: list[bytes]) -> list[bytes]:
        """Keep PUBACK and PUBREC packets until ``ack_through`` covers the messages read with them; return
        what goes out now (PUBCOMP). A chunk that delivered nothing new (a resent QoS 2 message) waits
        behind the messages before it, or goes out now if they are all acknowledged."""
        blob = b"".join(acks)
        # Every acknowledgement is 4 bytes; a PUBCOMP (first byte 0x70) only follows a QoS 2 PUBREL. The
        # usual chunk has none, and is held whole without a Python loop over its packets.
        if _PUBCOMP in blob[::4]:
            now = [packet for packet in acks if packet[0] == _PUBCOMP]
            blob = b"".join(packet for packet in acks if packet[0] != _PUBCOMP)
        else:
            now = []
        if blob:
            if not self._waiting_acks and self.acked_through >= self.delivered:
                now.append(blob)
            else:
                self._waiting_acks.append((self.delivered, blob))
        return now

    def ack_through(self, count: int) -> None:
        """The first ``count`` messages delivered on this connection are stored: acknowledge them (and any
        resent message read among them), in stream order. Does nothing once the connection is gone."""
        if count <= self.acked_through:
            return
        self.acked_through = count
        waiting = self._waiting_acks
        packets: list[bytes] = []
        while waiting and waiting[0][0] <= count:
            packets.append(waiting.popleft()[1])
        if packets and self._client._sock is not None:
            self._send_acks(b"".join(packets))

    @property
    def unacknowledged(self) -> int:
        """Messages delivered on this connection and not yet acknowledged."""
        return self.delivered - self.acked_through

    def _send_acks(self, blob: bytes) -> None:
        """Write acknowledgements now, not on a later loop turn: the broker sends at most its in-flight window
        (Mosquitto: ``max_inflight_messages``) ahead of our PUBACKs, and a loop turn can wait behind a whole
        batch being decoded and stored, so the window would run dry and the broker idle.

        Straight to the socket when paho has nothing queued (aiomqtt makes paho write only from its writer
        callback, so an empty queue means no packet is half-written); whatever the socket does not take now
        goes to paho's queue, behind anything already there, so the byte stream stays in order.
        """
        client = self._client
        if not client._out_packet and client._sock is not None:
            try:
                sent = client._sock.send(blob)
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                sent = 0
            if sent == len(blob):
                return
            blob = blob[sent:]
        client._packet_queue(_PUBACK, blob, 0, 0)

    def _paho_handle(self, packet: Packet) -> bool:
        """Let paho handle one whole packet, as if its own reader had just read it."""
        client = self._client
        client._in_packet = {
            "command": packet.first_byte,
            "have_remaining": 1,
            "remaining_count": packet.remaining_length_bytes,
            "remaining_mult": 1,
            "remaining_length": len(packet.body),
            "packet": bytearray(packet.body),
            "to_process": 0,
            "pos": 0,
        }
        rc = client._packet_read()  # nothing left to read: it handles the packet and resets its state
        if rc > 0:
            client._loop_rc_handle(rc)
            return False
        return True

    def _paho_read_ready(self) -> None:
        """aiomqtt's own reader callback (MQTT 5), plus the pause check."""
        client = self._client
        while True:
            client.loop_read()
            if self.inbox.qsize() >= self.high_watermark:
                self._pause()
                return
            pending = getattr(client._sock, "pending", None)
            if pending is not None and pending() > 0:
                continue
            return

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        """Messages paho delivers itself (MQTT 5 sessions) take the same shape as the fast path's."""
        self.inbox.put_nowait(
            Delivery(message.topic, bytes(message.payload), message.qos, bool(message.retain))
        )

    # -- back-pressure ----------------------------------------------------------------------------------

    def stop_reading(self) -> None:
        """Read nothing more from the broker (a clean stop): the inbox is closed behind what was read."""
        self._pause()
        self.halted = True
        self.inbox.close()

    def _pause(self) -> None:
        if self._reader_fd is not None and not self.paused:
            self._loop.remove_reader(self._reader_fd)
            self.paused = True
            self.pauses += 1

    def _maybe_resume(self) -> None:
        if self.paused and not self.halted and self.inbox.qsize() <= self.low_watermark:
            self.paused = False
            sock = self._client._sock
            if sock is None or self._reader_fd is None or sock.fileno() != self._reader_fd:
                return  # the socket closed meanwhile; a reconnect registers a new reader
            self._loop.add_reader(self._reader_fd, self._read_ready)
            # An SSL socket may hold decrypted bytes that would not make the fd readable again.
            self._loop.call_soon(self._read_ready)

    # -- socket life cycle ------------------------------------------------------------------------------

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        # paho writes a byte to this socket pair on every queued packet only to wake its own network
        # thread, which aiomqtt does not use: one wasted syscall per packet.
        client._sockpairW = None
        fd = sock.fileno()

        def register() -> None:  # paho calls this from aiomqtt's connect executor thread
            self._reader_fd = fd
            self._tail = b""
            self.paused = False
            self._loop.add_reader(fd, self._read_ready)
            self._misc_task = self._loop.create_task(self._misc_loop())

        self._loop.call_soon_threadsafe(register)

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if self.paused:  # the reader is already removed; aiomqtt's remove_reader is harmless either way
            self.paused = False
        self._reader_fd = None
        self._tail = b""
        super()._on_socket_close(client, userdata, sock)

    def _on_disconnect(self, *args: Any, **kwargs: Any) -> None:
        super()._on_disconnect(*args, **kwargs)
        self.inbox.fail(aiomqtt.MqttError("disconnected from the broker"))
