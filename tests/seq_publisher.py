"""Sequence-numbered smoke-detector traffic whose every message can be found again in InfluxDB.

Each of N devices sends heartbeats in the ``smoke_json`` wire format (docs/wire-formats.md section 1) at
QoS 1, round robin, at a set total rate: message ``seq`` of a device carries ``"seq": seq`` and the device
time ``"ts": ts_base_ms + seq`` (one millisecond apart), so every message becomes exactly one distinct
point (series = device, time = ts) and a stored point names the message it came from.

A message counts as *published* only when the broker has acknowledged it (PUBACK): that is the broker's
promise to deliver it to every QoS 1 subscriber, the gateway's persistent session included. The result lists
the acknowledged sequence numbers per device.

Run it in its own process (``PublisherProcess``), so that its pace does not depend on the test's process;
``python tests/seq_publisher.py --host H --port P --devices D1,D2 --rate 3000 --duration 10`` prints the
result as one JSON line. ``publish(...)`` runs it in the calling thread.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@dataclass
class PublishResult:
    """What the broker acknowledged: ``acked[device]`` is the sorted list of acknowledged sequence numbers."""

    sent: int
    published: int
    seconds: float
    ts_base_ms: int
    acked: dict[str, list[int]] = field(default_factory=dict)
    #: Wall-clock time (s since the epoch) of the first and last publish call.
    started_at: float = 0.0
    ended_at: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> PublishResult:
        return cls(**json.loads(text))


def payload(device: str, seq: int, ts_base_ms: int) -> bytes:
    """One heartbeat, byte for byte as a native detector sends it."""
    return (
        f'{{"id":"{device}","seq":{seq},"ts":{ts_base_ms + seq},"event":"heartbeat",'
        f'"battery":{50 + seq % 50},"rsrp":-{70 + seq % 40}}}'
    ).encode()


def publish(
    host: str,
    port: int,
    devices: Sequence[str],
    *,
    ts_base_ms: int,
    rate: float,
    duration_s: float | None = None,
    per_device: int | None = None,
    first_seq: int = 0,
    topic_prefix: str = "",
    ack_timeout_s: float = 60.0,
) -> PublishResult:
    """Publish at ``rate`` messages/s in total, for ``duration_s`` seconds or ``per_device`` messages per
    device (sequence numbers from ``first_seq``), then wait for every PUBACK (up to ``ack_timeout_s``)."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    if (duration_s is None) == (per_device is None):
        raise ValueError("give exactly one of duration_s and per_device")
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="", clean_session=True)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    lock = threading.Lock()
    pending: dict[int, tuple[str, int]] = {}
    early: set[int] = set()  # PUBACKs that arrived before publish() returned their mid
    acked: dict[str, list[int]] = {device: [] for device in devices}
    connected = threading.Event()

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        connected.set()

    def on_publish(client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with lock:
            origin = pending.pop(mid, None)
            if origin is None:
                early.add(mid)
            else:
                acked[origin[0]].append(origin[1])

    client.on_connect = on_connect
    client.on_publish = on_publish
    client.connect(host, port, keepalive=30)
    client.loop_start()
    if not connected.wait(10):
        raise RuntimeError(f"publisher could not connect to {host}:{port}")
    topics = {device: f"{topic_prefix}fire/smoke/{device}/up" for device in devices}
    total = len(devices) * per_device if per_device is not None else None
    sent = 0
    started_at = time.time()
    t0 = time.perf_counter()
    try:
        while True:
            elapsed = time.perf_counter() - t0
            if total is not None and sent >= total:
                break
            if duration_s is not None and elapsed >= duration_s:
                break
            due = int(elapsed * rate) + 1
            if total is not None:
                due = min(due, total)
            while sent < due:
                device = devices[sent % len(devices)]
                seq = first_seq + sent // len(devices)
                info = client.publish(topics[device], payload(device, seq, ts_base_ms), qos=1)
                with lock:
                    if info.mid in early:
                        early.discard(info.mid)
                        acked[device].append(seq)
                    else:
                        pending[info.mid] = (device, seq)
                sent += 1
            time.sleep(0.001)
        ended_at = time.time()
        seconds = time.perf_counter() - t0
        deadline = time.monotonic() + ack_timeout_s
        while time.monotonic() < deadline:
            with lock:
                if not pending:
                    break
            time.sleep(0.01)
    finally:
        client.disconnect()
        client.loop_stop()
    with lock:
        result = {device: sorted(seqs) for device, seqs in acked.items()}
    return PublishResult(
        sent=sent,
        published=sum(len(s) for s in result.values()),
        seconds=seconds,
        ts_base_ms=ts_base_ms,
        acked=result,
        started_at=started_at,
        ended_at=ended_at,
    )


class PublisherProcess:
    """``publish`` in a child process: ``start`` returns at once, ``result`` waits for it."""

    def __init__(self, host: str, port: int, devices: Sequence[str], **options: Any) -> None:
        command = [
            sys.executable,
            str(HERE / "seq_publisher.py"),
            "--host",
            host,
            "--port",
            str(port),
            "--devices",
            ",".join(devices),
        ]
        for key, value in options.items():
            if value is not None:
                command += [f"--{key.replace('_', '-')}", str(value)]
        self.command = command
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> PublisherProcess:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        return self

    def result(self, timeout_s: float = 120.0) -> PublishResult:
        assert self.process is not None, "start() first"
        try:
            out, err = self.process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
            raise RuntimeError(f"publisher did not finish in {timeout_s:g} s:\n{err[-2000:]}") from None
        if self.process.returncode != 0 or not out.strip():
            raise RuntimeError(f"publisher failed (code {self.process.returncode}):\n{err[-2000:]}")
        return PublishResult.from_json(out.strip().splitlines()[-1])

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--devices", required=True, help="comma-separated device ids")
    parser.add_argument("--rate", type=float, default=3000.0, help="messages per second, all devices")
    parser.add_argument("--duration", type=float, help="seconds to publish")
    parser.add_argument("--per-device", type=int, help="messages per device (instead of --duration)")
    parser.add_argument("--first-seq", type=int, default=0)
    parser.add_argument("--ts-base-ms", type=int, help="device time of seq 0 (default: now)")
    parser.add_argument("--topic-prefix", default="")
    parser.add_argument("--ack-timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    result = publish(
        args.host,
        args.port,
        args.devices.split(","),
        ts_base_ms=args.ts_base_ms if args.ts_base_ms is not None else int(time.time() * 1000),
        rate=args.rate,
        duration_s=args.duration,
        per_device=args.per_device,
        first_seq=args.first_seq,
        topic_prefix=args.topic_prefix,
        ack_timeout_s=args.ack_timeout,
    )
    print(result.to_json(), flush=True)


if __name__ == "__main__":
    main()
