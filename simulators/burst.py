"""Pushing a pre-built burst of simulated messages at a broker as fast as it takes them (benchmarks).

``burst`` pushes a pre-built list of messages as fast as the broker takes them and waits for every PUBACK, so
the rate it reports is messages the broker has *accepted*, not messages queued in a socket buffer. Two
engines: paho-mqtt 2.x with its network thread (``loop_start``), and a minimal MQTT 3.1.1 publisher on a
plain socket (the default), because paho's per-message Python overhead caps it far below the 50k msg/s a
gateway benchmark needs. ``make_burst`` builds a realistic mixed burst for a registry.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from gateway.ingest.registry import Registry
from simulators.clock import to_ms
from simulators.devices.base import DeviceSim, Message
from simulators.devices.camera import CameraSim
from simulators.devices.factory import make_sim
from simulators.devices.hydrant import HydrantModbusSim
from simulators.devices.smoke import SmokeDetectorSim

log = logging.getLogger(__name__)


@dataclass
class BurstStats:
    """Result of ``burst``: ``acked`` messages in ``seconds`` (first publish call to last PUBACK)."""

    sent: int = 0
    acked: int = 0
    failed: int = 0
    bytes: int = 0
    seconds: float = 0.0
    qos: int = 1

    @property
    def rate(self) -> float:
        """Acknowledged messages per second."""
        return self.acked / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        return (
            f"{self.acked}/{self.sent} msgs acked (QoS {self.qos}) in {self.seconds:.3f} s = "
            f"{self.rate:,.0f} msg/s, {self.bytes / max(self.seconds, 1e-9) / 1e6:.1f} MB/s, "
            f"failed {self.failed}"
        )


def burst(
    host: str,
    port: int,
    messages: Iterable[tuple[str, bytes]],
    qos: int = 1,
    *,
    engine: Literal["paho", "raw"] = "raw",
    client_id: str | None = None,
    window: int = 20_000,
    connect_timeout_s: float = 10.0,
    ack_timeout_s: float = 120.0,
) -> BurstStats:
    """Publish ``messages`` as fast as possible and wait until the broker has taken every one (blocking).

    At most ``window`` messages are unacknowledged at a time: MQTT packet ids are 16 bit, so an unbounded
    window would reuse ids still in flight. Pass a list (pre-built with ``make_burst``) to measure the broker
    path, not JSON encoding. Raises ``ConnectionError`` if the broker cannot be reached or drops the
    connection.

    Engines (``"raw"`` is the default because a benchmark must measure the gateway, not the client):

    * ``"paho"``: paho-mqtt 2.x with its network thread (``loop_start``). A well-known client, but paho
      spends ~50-150 µs of Python per QoS 1 message (a message object with a ``threading.Condition``, a
      ``Properties`` object decoded per PUBACK, ...), so it tops out around 7-15k msg/s per process.
    * ``"raw"``: a minimal MQTT 3.1.1 publisher on a plain socket (CONNECT/CONNACK, PUBLISH with packet ids,
      PUBACKs counted by a reader thread, DISCONNECT): frames are encoded up front and written in 64 KiB
      batches. It measures the broker and gateway rather than the client: >= 50k msg/s where paho cannot.
      QoS 0 completion is confirmed with a final PINGREQ/PINGRESP (a broker handles one connection's
      packets in order). QoS 2 is paho-only.
    """
    if qos not in (0, 1, 2):
        raise ValueError(f"qos must be 0, 1 or 2, got {qos}")
    cid = client_id or f"firegw-burst-{uuid.uuid4().hex[:12]}"
    if engine == "raw":
        if qos == 2:
            raise ValueError("the raw engine speaks QoS 0 and 1; use engine='paho' for QoS 2")
        return _burst_raw(host, port, messages, qos, cid, window, connect_timeout_s, ack_timeout_s)
    if engine != "paho":
        raise ValueError(f"engine must be 'paho' or 'raw', got {engine!r}")
    return _burst_paho(host, port, messages, qos, cid, window, connect_timeout_s, ack_timeout_s)


def _burst_paho(
    host: str,
    port: int,
    messages: Iterable[tuple[str, bytes]],
    qos: int,
    client_id: str,
    window: int,
    connect_timeout_s: float,
    ack_timeout_s: float,
) -> BurstStats:
    window = max(1, min(window, 60_000))
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv311,
    )
    # paho's own in-flight limit is switched off (0): with a limit, every PUBACK makes paho scan all
    # outstanding messages for queued ones (O(window) per ack, ~400 msg/s at a 20k window). The semaphore
    # below is the window instead.
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)  # 0 = unlimited queue; the semaphore below bounds it
    connected = threading.Event()
    done = threading.Event()
    slots = threading.BoundedSemaphore(window)
    state = {"acked": 0, "sent": 0, "rc": 0, "disconnected": False}
    lock = threading.Lock()

    def on_connect(_c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        state["rc"] = 0 if not reason.is_failure else int(reason.value)
        connected.set()

    def on_publish(_c: paho.Client, _u: Any, _mid: int, _reason: Any, _p: Any) -> None:
        with lock:
            state["acked"] += 1
            finished = state["acked"] >= state["sent"] and state["sent"] > 0 and sending_done.is_set()
        slots.release()
        if finished:
            done.set()

    def on_disconnect(_c: paho.Client, _u: Any, _f: Any, _reason: Any, _p: Any) -> None:
        state["disconnected"] = True
        done.set()

    sending_done = threading.Event()
    client.on_connect = on_connect
    client.on_publish = on_publish
    client.on_disconnect = on_disconnect
    try:
        client.connect(host, port, keepalive=60)
    except OSError as exc:
        raise ConnectionError(f"cannot connect to MQTT broker {host}:{port}: {exc}") from exc
    client.loop_start()
    stats = BurstStats(qos=qos)
    try:
        if not connected.wait(connect_timeout_s) or state["rc"]:
            raise ConnectionError(
                f"MQTT broker {host}:{port} did not accept the connection (rc={state['rc']})"
            )
        publish = client.publish
        acquire = slots.acquire
        sent = 0
        nbytes = 0
        t0 = time.perf_counter()
        for topic, payload in messages:
            acquire()
            info = publish(topic, payload, qos)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                stats.failed += 1
                slots.release()
                if state["disconnected"]:
                    break
                continue
            sent += 1
            nbytes += len(payload)
            if sent & 0x3FF == 0:
                with lock:
                    state["sent"] = sent
        with lock:
            state["sent"] = sent
            sending_done.set()
            if state["acked"] >= sent:
                done.set()
        if sent and not done.wait(ack_timeout_s):
            log.warning("burst: only %s of %s acknowledged after %s s", state["acked"], sent, ack_timeout_s)
        stats.seconds = time.perf_counter() - t0
        stats.sent = sent
        stats.acked = min(int(state["acked"]), sent)
        stats.bytes = nbytes
        if state["disconnected"] and stats.acked < sent:
            raise ConnectionError(
                f"broker dropped the connection after {stats.acked}/{sent} acknowledgements"
            )
    finally:
        client.disconnect()
        client.loop_stop()
    return stats


# ---- raw engine: the few MQTT 3.1.1 packets a publisher needs (spec sections 3.1-3.4, 3.12-3.14)

_PUBACK = 0x40
_PINGRESP = 0xD0


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _connect_packet(client_id: str, keepalive: int) -> bytes:
    cid = client_id.encode("utf-8")
    # protocol name "MQTT", level 4 (3.1.1), flags: clean session
    variable = b"\x00\x04MQTT\x04\x02" + struct.pack("!H", keepalive)
    body = variable + struct.pack("!H", len(cid)) + cid
    return b"\x10" + _remaining_length(len(body)) + body


class _AckReader(threading.Thread):
    """Counts PUBACKs (and PINGRESPs) from the broker; parses frames, so nothing else is miscounted."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(name="burst-ack-reader", daemon=True)
        self.sock = sock
        self.acked = 0
        self.pingresp = 0
        self.closed = False
        self.error = ""
        self.cond = threading.Condition()

    def run(self) -> None:
        buf = b""
        try:
            while True:
                data = self.sock.recv(1 << 18)
                if not data:
                    break
                buf = buf + data if buf else data
                pos, acks, pings = 0, 0, 0
                end = len(buf)
                while pos + 2 <= end:
                    kind = buf[pos] & 0xF0
                    length, mult, i = 0, 1, pos + 1
                    while i < end:
                        byte = buf[i]
                        length += (byte & 0x7F) * mult
                        mult *= 128
                        i += 1
                        if not byte & 0x80:
                            break
                    else:
                        break  # remaining length not complete yet
                    if i + length > end:
                        break
                    if kind == _PUBACK:
                        acks += 1
                    elif kind == _PINGRESP:
                        pings += 1
                    pos = i + length
                buf = buf[pos:]
                if acks or pings:
                    with self.cond:
                        self.acked += acks
                        self.pingresp += pings
                        self.cond.notify_all()
        except OSError as exc:
            self.error = str(exc)
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()


def _burst_raw(
    host: str,
    port: int,
    messages: Iterable[tuple[str, bytes]],
    qos: int,
    client_id: str,
    window: int,
    connect_timeout_s: float,
    ack_timeout_s: float,
) -> BurstStats:
    window = max(1, min(window, 50_000))  # below 65535 ids, leaving room for one batch in flight
    try:
        sock = socket.create_connection((host, port), timeout=connect_timeout_s)
    except OSError as exc:
        raise ConnectionError(f"cannot connect to MQTT broker {host}:{port}: {exc}") from exc
    stats = BurstStats(qos=qos)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(_connect_packet(client_id, keepalive=300))
        connack = b""
        while len(connack) < 4:
            chunk = sock.recv(4 - len(connack))
            if not chunk:
                raise ConnectionError(f"MQTT broker {host}:{port} closed the connection before CONNACK")
            connack += chunk
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(
                f"MQTT broker {host}:{port} refused the connection (CONNACK {connack.hex()})"
            )
        sock.settimeout(None)
        reader = _AckReader(sock)
        reader.start()
        cond = reader.cond
        header = 0x32 if qos == 1 else 0x30
        pack_len = struct.Struct("!H").pack
        buf = bytearray()
        sent = 0
        nbytes = 0
        mid = 0
        t0 = time.perf_counter()
        for topic, payload in messages:
            tb = topic.encode("utf-8")
            if qos:
                mid = mid + 1 if mid < 65535 else 1
                body_len = 2 + len(tb) + 2 + len(payload)
                buf += bytes((header,)) + _remaining_length(body_len) + pack_len(len(tb)) + tb + pack_len(mid)
            else:
                body_len = 2 + len(tb) + len(payload)
                buf += bytes((header,)) + _remaining_length(body_len) + pack_len(len(tb)) + tb
            buf += payload
            sent += 1
            nbytes += len(payload)
            if len(buf) >= 65536:
                if qos:
                    with cond:
                        while sent - reader.acked > window and not reader.closed:
                            cond.wait(1.0)
                if reader.closed:
                    break
                sock.sendall(buf)
                buf.clear()
        if qos == 0:
            buf += b"\xc0\x00"  # PINGREQ: its PINGRESP proves every PUBLISH before it was processed
        if buf and not reader.closed:
            sock.sendall(buf)
        deadline = time.monotonic() + ack_timeout_s
        with cond:
            while not reader.closed and (reader.acked < sent if qos else reader.pingresp < 1):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.warning(
                        "burst: only %s of %s acknowledged after %s s", reader.acked, sent, ack_timeout_s
                    )
                    break
                cond.wait(remaining)
            confirmed = reader.acked if qos else (sent if reader.pingresp else 0)
        stats.seconds = time.perf_counter() - t0
        stats.sent = sent
        stats.acked = min(confirmed, sent)
        stats.bytes = nbytes
        if reader.closed and stats.acked < sent:
            raise ConnectionError(
                f"broker closed the connection after {stats.acked}/{sent} acknowledgements {reader.error}"
            )
        with contextlib.suppress(OSError):
            sock.sendall(b"\xe0\x00")  # DISCONNECT
    finally:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
    return stats


def make_burst(
    registry: Registry,
    messages_per_device: int,
    seed: int,
    *,
    start: datetime | None = None,
    step_ms: int = 1,
    event_share: float = 0.03,
) -> list[Message]:
    """A realistic mixed burst: every MQTT-attached device sends ``messages_per_device`` messages.

    Devices take turns (round-robin, as concurrent devices would arrive); each device's messages have
    increasing ``seq`` and timestamps ``step_ms`` apart, distinct per device (GB/T 45839 devices, whose
    ``datetime`` has whole seconds, step by at least 1 s). Smoke detectors send mostly
    heartbeats with ``event_share`` events (alarm/fault/tamper each cleared in the device's next message,
    self-test, mute), hydrant DTUs readings, cameras start/end pairs. Modbus hydrants send nothing.
    """
    rng = random.Random(seed)
    base_ms = to_ms(start or datetime(2026, 11, 23, 0, 0, tzinfo=UTC))
    sims: list[DeviceSim] = [
        sim
        for sim in (make_sim(d, seed=seed) for d in registry.devices)
        if not isinstance(sim, HydrantModbusSim)
    ]
    pending: dict[int, str] = {}  # device index -> clearing action due in its next message
    open_events: dict[int, str] = {}  # camera index -> open event id
    out: list[Message] = []
    events = ("alarm", "fault", "tamper", "self_test", "mute", "low_battery")
    clears = {"alarm": "alarm_clear", "fault": "fault_clear", "tamper": "tamper_clear"}
    # GB/T 45839 carries whole seconds only: its devices step by at least 1 s, or two messages of one device
    # would land on the same timestamp (one InfluxDB point overwriting the other).
    steps = [max(step_ms, 1000) if sim.format_label == "gbt45839_status" else step_ms for sim in sims]
    for r in range(messages_per_device):
        for i, sim in enumerate(sims):
            ts = base_ms + r * steps[i]
            if isinstance(sim, SmokeDetectorSim):
                action = pending.pop(i, None)
                if action is None and rng.random() < event_share:
                    action = events[rng.randrange(len(events))]
                    if action in clears and r + 1 < messages_per_device:
                        pending[i] = clears[action]
                    elif action in clears:
                        action = "heartbeat"
                out += sim.act(action or "heartbeat", ts)
            elif isinstance(sim, CameraSim):
                event_id = open_events.pop(i, None)
                if event_id is not None:
                    out += sim.end(ts, event_id)
                elif r + 1 < messages_per_device:
                    event_id, msgs = sim.start(ts)
                    open_events[i] = event_id
                    out += msgs
                else:
                    # An odd count leaves the last occurrence open, like a camera cut off mid-event.
                    out += sim.start(ts)[1]
            else:
                out += sim.report(ts)
            sim.take_followups()
    return out
