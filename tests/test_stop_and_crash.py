"""Nothing the broker handed to the gateway is lost when the gateway stops: kill -9, SIGTERM, SIGINT.

Real processes throughout (issue 15): the gateway runs as ``python -m gateway.cli run``
(tests/gateway_process.py) on a persistent MQTT session against the test Mosquitto and InfluxDB 1.x; a
publisher in its own process (tests/seq_publisher.py) streams sequence-numbered QoS 1 heartbeats from 30
devices at 3,000 msg/s for 10 s. About 4 s in the gateway is stopped:

- kill -9, and started again 2 s later (the broker keeps queueing for the session meanwhile);
- SIGTERM (systemctl stop, docker stop) or SIGINT (Ctrl-C): it must exit with code 0 within 15 s and log
  one line saying what it flushed; then it is started again.

When the stream has ended and the restarted gateway has caught up, every message the broker acknowledged to
the publisher must be a point in InfluxDB: each message has its own device time, so a stored point names the
message it came from, and the test lists the missing sequence numbers per device. The figures (published,
stored, lost, extra points, stop time, the restarted gateway's sequence-gap counters) are printed; run with
``pytest -s`` to see them.

``test_a_sequence_gap_across_a_kill_is_counted`` checks that a gap the devices really left while the gateway
was down is counted by the restarted gateway (per-device sequence state kept across a kill -9).
"""

from __future__ import annotations

import re
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from gateway_process import Exit, GatewayProcess, stored_count, stored_seqs
from seq_publisher import PublisherProcess, PublishResult, publish

pytestmark = pytest.mark.services

DEVICES = [f"SQ-T001-{i:04d}" for i in range(1, 31)]
RATE = 3000  # messages/s over all devices (100/s per device)
STREAM_S = 10.0
STOP_AT_S = 4.0  # after the stream starts
DOWN_AFTER_KILL_S = 2.0
STOP_BOUND_S = 15.0  # a clean stop must end within this
SETTLE_S = 4.0  # catch-up is done when the stored count has not moved for this long (or all are in)


@pytest.fixture
def gateway(tmp_path: Path, mosquitto: Any, influxdb: Any, influx_db_name: str) -> Iterator[GatewayProcess]:
    mosquitto.ensure_running()
    process = GatewayProcess(
        tmp_path / "gw",
        mosquitto,
        influxdb,
        influx_db_name,
        DEVICES,
        # Own topics: persistent sessions that other tests leave on the shared broker never see this traffic.
        topic_prefix=f"t/{uuid.uuid4().hex[:8]}/",
    )
    try:
        yield process
    finally:
        process.close()


# -- counting -------------------------------------------------------------------------------------------


def wait_caught_up(influxdb: Any, db: str, expected: int, timeout_s: float = 60.0) -> int:
    """Poll until ``expected`` points are stored, or the count stops moving for SETTLE_S; the count."""
    deadline = time.monotonic() + timeout_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = stored_count(influxdb, db)
        if count >= expected:
            time.sleep(0.5)  # anything beyond (a point that should not exist) shows up now
            return stored_count(influxdb, db)
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since > SETTLE_S:
            return count
        time.sleep(0.25)
    return stored_count(influxdb, db)


def gap_counters(influxdb: Any, db: str, gateway_id: str, since_ns: int) -> tuple[int, int] | None:
    """The latest ``seq_gaps`` / ``seq_missing`` the gateway wrote to ``gateway_stats`` after ``since_ns``
    (the restarted process's counters), or None if it wrote none."""
    rows = influxdb.rows(
        'SELECT last("seq_gaps") AS gaps, last("seq_missing") AS missing FROM "gateway_stats"'
        f" WHERE \"gateway\" = '{gateway_id}' AND time >= {since_ns}",
        db,
    )
    if not rows or rows[0]["gaps"] is None:
        return None
    return int(rows[0]["gaps"]), int(rows[0]["missing"])


def wait_gap_counters(
    influxdb: Any, db: str, gateway_id: str, since_ns: int, at_least: int, timeout_s: float = 5.0
) -> tuple[int, int] | None:
    """``gap_counters`` once they show ``at_least`` gaps, or the latest after ``timeout_s`` (the stats
    point is written every stats_interval_s)."""
    deadline = time.monotonic() + timeout_s
    found = gap_counters(influxdb, db, gateway_id, since_ns)
    while time.monotonic() < deadline and (found is None or found[0] < at_least):
        time.sleep(0.25)
        found = gap_counters(influxdb, db, gateway_id, since_ns)
    return found


def ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"`` (at most eight runs)."""
    runs: list[tuple[int, int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    text = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in runs[:8])
    return text + (f", ... ({len(runs)} runs)" if len(runs) > 8 else "")


@dataclass
class Count:
    published: int
    stored: int
    lost: int
    extra: int
    lost_by_device: dict[str, list[int]]

    @classmethod
    def of(cls, result: PublishResult, stored: dict[str, set[int]]) -> Count:
        lost_by_device: dict[str, list[int]] = {}
        extra = 0
        for device, seqs in result.acked.items():
            have = stored.get(device, set())
            missing = sorted(set(seqs) - have)
            if missing:
                lost_by_device[device] = missing
            extra += len(have - set(seqs))
        extra += sum(len(s) for d, s in stored.items() if d not in result.acked)
        return cls(
            published=result.published,
            stored=sum(len(s) for s in stored.values()),
            lost=sum(len(m) for m in lost_by_device.values()),
            extra=extra,
            lost_by_device=lost_by_device,
        )

    def lines(self) -> list[str]:
        out = [
            f"published (PUBACKed) {self.published:,}",
            f"stored points        {self.stored:,}",
            f"lost                 {self.lost:,}"
            + (f" on {len(self.lost_by_device)} of {len(DEVICES)} devices" if self.lost else ""),
            f"extra points         {self.extra:,} (stored but never published; a re-delivered message"
            " rewrites its own point, so duplicates cannot show here)",
        ]
        for device, missing in list(self.lost_by_device.items())[:3]:
            out.append(f"  {device}: seq {ranges(missing)}")
        return out


# -- the tests ------------------------------------------------------------------------------------------

FLUSH_LINE = re.compile(r"flush", re.IGNORECASE)


@pytest.mark.parametrize("how", ["kill -9", "SIGTERM", "SIGINT"])
def test_no_acknowledged_message_is_lost_when_the_gateway_stops(
    how: str, gateway: GatewayProcess, mosquitto: Any, influxdb: Any, influx_db_name: str
) -> None:
    sig = {"kill -9": signal.SIGKILL, "SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}[how]
    gateway.start()
    publisher = PublisherProcess(
        mosquitto.host,
        mosquitto.port,
        DEVICES,
        rate=RATE,
        duration=STREAM_S,
        ts_base_ms=int(time.time() * 1000),
        topic_prefix=gateway.topic_prefix,
    ).start()
    try:
        time.sleep(STOP_AT_S)
        stored_before = stored_count(influxdb, influx_db_name)
        gateway.send_signal(sig)
        stop: Exit = gateway.wait_exit(5.0 if sig is signal.SIGKILL else STOP_BOUND_S)
        if sig is signal.SIGKILL:
            time.sleep(DOWN_AFTER_KILL_S)
        restarted_at_ns = time.time_ns()
        start_s = gateway.start()
        result = publisher.result()
    finally:
        publisher.kill()
    caught_up = wait_caught_up(influxdb, influx_db_name, result.published)
    count = Count.of(result, stored_seqs(influxdb, influx_db_name, result.ts_base_ms))
    gaps = wait_gap_counters(
        influxdb, influx_db_name, gateway.client_id, restarted_at_ns, at_least=1 if count.lost else 0
    )
    flush_lines = [line for line in stop.lines if FLUSH_LINE.search(line)]

    figures = [
        f"--- {how} at {STOP_AT_S:g} s into a {STREAM_S:g} s stream, {len(DEVICES)} devices ---",
        f"publisher            {result.sent:,} sent in {result.seconds:.1f} s ({result.rate:,.0f} msg/s)",
        *count.lines(),
        f"stored at the stop   {stored_before:,}; after catch-up {caught_up:,}",
        f"stop                 {stop.describe()}",
        f"restart              subscribed {start_s:.1f} s after start",
        "restarted gateway    seq_gaps/seq_missing "
        + (f"{gaps[0]}/{gaps[1]}" if gaps is not None else "(no gateway_stats point)"),
    ]
    if sig is not signal.SIGKILL:
        figures.append(f"logged after {how}:")
        figures += [f"  | {line}" for line in stop.lines[-8:]] or ["  | (nothing)"]
    print("\n" + "\n".join(figures))

    problems = []
    if count.lost:
        problems.append(f"{count.lost} of {count.published} acknowledged messages lost")
    if count.extra:
        problems.append(f"{count.extra} points stored that were never published")
    if count.published < result.sent:
        problems.append(f"the broker acknowledged only {count.published} of {result.sent} messages")
    if count.lost and (gaps is None or gaps[1] == 0):
        problems.append(
            f"{count.lost} messages never reached the store, yet the restarted gateway counts no sequence gap"
        )
    if sig is not signal.SIGKILL:
        if stop.code != 0:
            problems.append(f"{how}: exit code {stop.code}, expected 0")
        if stop.seconds is None:
            problems.append(f"{how}: still running {STOP_BOUND_S:g} s after the signal")
        if not flush_lines:
            problems.append(f"{how}: no log line says what was flushed")
    assert not problems, "\n".join([*problems, "", *figures, gateway.log_tail(2000)])


def test_a_sequence_gap_across_a_kill_is_counted(
    gateway: GatewayProcess, mosquitto: Any, influxdb: Any, influx_db_name: str
) -> None:
    """Devices skip seq 50-54 while the gateway is down after a kill -9: the restarted gateway must count
    one gap of 5 per device. It can only know the last sequence number each device sent before the crash
    if that state outlived the process (today it starts empty and counts 0)."""
    devices = DEVICES[:10]
    skipped = 5
    base = int(time.time() * 1000)

    def send(first_seq: int) -> PublishResult:
        return publish(
            mosquitto.host,
            mosquitto.port,
            devices,
            ts_base_ms=base,
            rate=2000.0,
            per_device=50,
            first_seq=first_seq,
            topic_prefix=gateway.topic_prefix,
        )

    gateway.start()
    first = send(0)
    assert wait_caught_up(influxdb, influx_db_name, first.published) == first.published == 500
    time.sleep(2.0)  # processed and stored a while ago: any state checkpoint has had time to happen
    gateway.send_signal(signal.SIGKILL)
    gateway.wait_exit(5.0)
    # The devices go on while the gateway is down; seq 50-54 of each is never sent (lost on the radio).
    second = send(50 + skipped)
    restarted_at_ns = time.time_ns()
    gateway.start()
    total = first.published + second.published
    assert wait_caught_up(influxdb, influx_db_name, total) == total == 1000
    gaps = wait_gap_counters(
        influxdb, influx_db_name, gateway.client_id, restarted_at_ns, at_least=len(devices)
    )
    gap_lines = [
        line for line in gateway.log_text().splitlines() if re.search(r"\bgap|missing|\bseq", line, re.I)
    ]
    print(
        f"\n--- sequence gap across kill -9: {len(devices)} devices each skipped seq 50-54 ---"
        f"\nrestarted gateway    seq_gaps/seq_missing "
        + (f"{gaps[0]}/{gaps[1]}" if gaps else "(no gateway_stats point)")
        + f" (expected {len(devices)}/{len(devices) * skipped})"
        + "".join(f"\n  | {line}" for line in gap_lines[:5])
    )
    assert gaps == (len(devices), len(devices) * skipped), (
        f"restarted gateway counts seq_gaps/seq_missing {gaps}, expected "
        f"{len(devices)}/{len(devices) * skipped}: the per-device sequence state did not survive the kill"
    )
