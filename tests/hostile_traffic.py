"""Hostile MQTT traffic for a gateway process: valid heartbeats mixed with malformed payloads of every kind,
each with the reason the gateway must dead-letter it for; and what the gateway made of it.

Shared by ``tests/test_hostile_input.py`` (10,000 malformed payloads in the suite) and
``bench/hostile_ingest_bench.py`` (100,000). The gateway is ``firegw run`` in its own process
(``tests/gateway_process.py``) on the test Mosquitto and InfluxDB. Every valid heartbeat has its own device
time, so it is exactly one point (``stored_count``); every malformed payload must be one row of the
dead-letter store with its reason (``dead_letters``). The burst is sent in ``phases``; the gateway's RSS is
read before, after each phase (once all of it is stored or dead-lettered) and sampled during it, so a
leak shows as growth from one phase to the next.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway_process import GatewayProcess, stored_count
from seq_publisher import payload as heartbeat

from simulators.burst import burst

#: Bigger than ``[mqtt] max_payload_bytes`` (16 KiB), smaller than the broker's packet bound.
TOO_LARGE = 20 * 1024

Maker = Callable[[str, int], tuple[str, bytes]]


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def _makers(ts_ms: int) -> list[tuple[str, Maker]]:
    """(reason, make(device, i) -> (topic level kind, payload)): one kind of bad input each."""
    smoke = "smoke"
    return [
        ("malformed", lambda d, i: (smoke, b'{"id": "' + d.encode() + b'", "ts": ')),  # cut short
        ("malformed", lambda d, i: (smoke, bytes(random.Random(i).randrange(128, 256) for _ in range(64)))),
        ("malformed", lambda d, i: (smoke, b'{"id": "' + d.encode() + b'", "battery": NaN}')),
        ("malformed", lambda d, i: (smoke, b'{"id": ' + b"[" * 3000 + b"}")),
        ("malformed", lambda d, i: (smoke, '{"id": "烟感", "ts": 1}'.encode("gbk"))),
        ("schema", lambda d, i: (smoke, b"[1, 2, 3]")),
        ("schema", lambda d, i: (smoke, _json({"ts": ts_ms + i, "event": "heartbeat"}))),
        ("schema", lambda d, i: (smoke, _json({"id": d, "ts": "yesterday", "event": "heartbeat"}))),
        ("schema", lambda d, i: ("hydrant", _json({"id": d, "ts": ts_ms + i}))),  # no pressure
        (
            "out_of_range",
            lambda d, i: (smoke, _json({"id": d, "ts": ts_ms + i, "event": "heartbeat", "battery": 250})),
        ),
        ("out_of_range", lambda d, i: ("hydrant", _json({"id": d, "ts": ts_ms + i, "pressure": -7.5}))),
        ("unknown_event", lambda d, i: (smoke, _json({"id": d, "ts": ts_ms + i, "event": "explode"}))),
        (
            "unknown_device",
            lambda d, i: (smoke, _json({"id": f"NOPE-{i}", "ts": ts_ms + i, "event": "heartbeat"})),
        ),
        ("too_large", lambda d, i: (smoke, _json({"id": d, "ts": ts_ms + i, "pad": "x" * TOO_LARGE}))),
    ]


@dataclass
class Burst:
    """The messages in publishing order, cut into phases, and what each must become."""

    phases: list[list[tuple[str, bytes]]]
    #: Valid heartbeats in each phase (the rest of a phase is malformed).
    valid_in_phase: list[int]
    expected: Counter[str]  # reason -> how many malformed payloads must be dead-lettered for it

    @property
    def valid(self) -> int:
        return sum(self.valid_in_phase)


def build_burst(
    devices: list[str],
    *,
    malformed: int,
    valid: int,
    prefix: str,
    ts_base_ms: int,
    phases: int = 2,
    seed: int = 1,
) -> Burst:
    """``valid`` heartbeats (``seq_publisher.payload``: one point each) and ``malformed`` bad payloads (the
    kinds of ``_makers`` in turn, too_large one in a hundred), shuffled together."""
    rng = random.Random(seed)
    makers = _makers(ts_base_ms)
    small = [m for m in makers if m[0] != "too_large"]
    large = next(m for m in makers if m[0] == "too_large")
    expected: Counter[str] = Counter()
    messages: list[tuple[str, bytes, bool]] = []
    for i in range(malformed):
        device = devices[i % len(devices)]
        reason, make = large if i % 100 == 99 else small[i % len(small)]
        kind, body = make(device, i)
        topic_device = device if reason != "unknown_device" else f"NOPE-{i}"
        messages.append((f"{prefix}fire/{kind}/{topic_device}/up", body, False))
        expected[reason] += 1
    for n in range(valid):
        device, seq = devices[n % len(devices)], n // len(devices)
        messages.append((f"{prefix}fire/smoke/{device}/up", heartbeat(device, seq, ts_base_ms), True))
    rng.shuffle(messages)
    size = -(-len(messages) // phases)
    cut = [messages[i : i + size] for i in range(0, len(messages), size)]
    return Burst(
        [[(topic, body) for topic, body, _ in phase] for phase in cut],
        [sum(ok for *_, ok in phase) for phase in cut],
        expected,
    )


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def dead_letters(data_dir: Path) -> Counter[str]:
    """Rows of the gateway's dead-letter store by reason (read while the gateway runs: SQLite WAL)."""
    path = data_dir / "dead_letters.sqlite"
    if not path.exists():
        return Counter()
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
        return Counter(
            dict(db.execute("SELECT reason, COUNT(*) FROM dead_letters GROUP BY reason").fetchall())
        )


@dataclass
class Figures:
    """What a run measured: counts, times and the gateway's memory."""

    published: int = 0
    valid: int = 0
    stored: int = 0
    expected: Counter[str] = field(default_factory=Counter)
    dead_lettered: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    rss_before: float = 0.0
    rss_after_phase: list[float] = field(default_factory=list)
    rss_peak: float = 0.0
    alive: bool = False

    @property
    def rate(self) -> float:
        return self.published / self.seconds if self.seconds else 0.0

    def describe(self) -> str:
        reasons = ", ".join(f"{r} {n:,}/{self.expected[r]:,}" for r, n in sorted(self.dead_lettered.items()))
        phases = " -> ".join(f"{r:.0f}" for r in self.rss_after_phase)
        malformed = sum(self.expected.values())
        return (
            f"{self.published:,} messages ({self.valid:,} valid, {malformed:,} malformed) in "
            f"{self.seconds:.1f} s = {self.rate:,.0f} msg/s end to end\n"
            f"  valid stored: {self.stored:,}/{self.valid:,}\n"
            f"  dead-lettered by reason: {reasons}\n"
            f"  gateway RSS MiB: {self.rss_before:.0f} before, {phases} after each phase, "
            f"peak {self.rss_peak:.0f}; alive: {self.alive}"
        )


def run_burst(
    gateway: GatewayProcess, influxdb: Any, database: str, burst_: Burst, timeout_s: float = 120.0
) -> Figures:
    """Publish each phase (QoS 1, waiting for the broker's PUBACKs), wait until the gateway has stored or
    dead-lettered all of it, and read its memory; the figures."""
    figures = Figures(valid=burst_.valid, expected=burst_.expected)
    figures.rss_before = figures.rss_peak = rss_mib(gateway.pid)
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(0.2):
            if gateway.running:
                figures.rss_peak = max(figures.rss_peak, rss_mib(gateway.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.monotonic()
    valid = malformed = 0
    try:
        for phase, valid_in_phase in zip(burst_.phases, burst_.valid_in_phase, strict=True):
            stats = burst(gateway.mosquitto.host, gateway.mosquitto.port, phase, 1)
            figures.published += stats.acked
            valid += valid_in_phase
            malformed += len(phase) - valid_in_phase
            _wait(gateway, influxdb, database, valid, malformed, timeout_s)
            figures.rss_after_phase.append(rss_mib(gateway.pid))
    finally:
        sampling.set()
        sampler.join()
    figures.seconds = time.monotonic() - t0
    figures.stored = stored_count(influxdb, database)
    figures.dead_lettered = dead_letters(gateway.data_dir)
    figures.alive = gateway.running
    return figures


def _wait(
    gateway: GatewayProcess, influxdb: Any, database: str, valid: int, malformed: int, timeout_s: float
) -> None:
    """Until ``valid`` points are stored and ``malformed`` payloads dead-lettered (the gateway alive)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if not gateway.running:
            raise RuntimeError(f"the gateway died:\n{gateway.log_tail()}")
        stored, dead = stored_count(influxdb, database), sum(dead_letters(gateway.data_dir).values())
        if stored >= valid and dead >= malformed:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"after {timeout_s:g} s: {stored:,} of {valid:,} valid stored, {dead:,} of {malformed:,} "
                f"malformed dead-lettered\n{gateway.log_tail()}"
            )
        time.sleep(0.25)
