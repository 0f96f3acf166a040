"""Active/standby gateways (``[ha]``, issue 15 item 4) as an operator runs them: real processes throughout.

Two ``firegw run`` processes (tests/ha_gateway.py) on one real PostgreSQL hazard store, one real Mosquitto and
one InfluxDB 1.x database form one partition: same MQTT client id (a persistent session) and topics, each its
own data folder. One holds the lease and is active; the other stands by.

- ``test_kill_9_of_the_active_gateway_loses_nothing``: a publisher process streams sequence-numbered QoS 1
  heartbeats (``smoke_json``) from 20 detectors at 1,000 msg/s while the test process raises a smoke alarm
  from another detector every 0.4 s. The active gateway is killed with SIGKILL 4 s in. The standby must be
  active (lease taken, MQTT session resumed, subscribed) within 10 s; the killed one is started again (it
  stands by, and sends what its durable buffer held). Then every heartbeat the broker acknowledged must be a
  point in InfluxDB (distinct device and time: zero lost), and every alarm the broker acknowledged, those
  raised after the takeover included, must be an alarm in the hazard store.
- ``test_a_postgresql_outage_leaves_exactly_one_active_gateway``: PostgreSQL stops (fast shutdown) under
  traffic. The active gateway cannot renew its lease and stops being active before the lease can expire;
  neither gateway is active while PostgreSQL is down (the broker queues for the session). When PostgreSQL
  is back, exactly one gateway takes the lease and stays the only active one, and nothing acknowledged is
  lost.
- ``test_sigterm_of_the_active_gateway_hands_over_at_once``: a clean stop closes the MQTT session, then
  releases the lease; the standby is active within a heartbeat or two, and nothing acknowledged is lost.

Lease timing for both: ``ttl_s`` 5, ``heartbeat_s`` 1 (the defaults). Run with ``pytest -s`` for the figures.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from gateway_process import stored_seqs
from ha_gateway import (
    HaGatewayProcess,
    fast_stop_postgres,
    lost,
    wait_for_one_active,
    wait_stored,
)
from seq_publisher import PublisherProcess, PublishResult

from gateway.store import HazardStore

pytestmark = pytest.mark.services

DEVICES = [f"HA-T001-{i:04d}" for i in range(1, 21)]
ALARM_DEVICES = [f"HA-ALM-{i:03d}" for i in range(1, 61)]
TAKEOVER_BOUND_S = 10.0


@dataclass
class Partition:
    """Two gateways of one partition, and what they share."""

    a: HaGatewayProcess
    b: HaGatewayProcess
    store_url: str
    topic_prefix: str
    db: str

    @property
    def both(self) -> list[HaGatewayProcess]:
        return [self.a, self.b]

    def start_a_active_b_standby(self) -> None:
        self.a.start()
        self.a.wait_state("active", 20)
        self.b.start()

    def stream(self, mosquitto: Any, *, rate: int, duration: float) -> tuple[PublisherProcess, int]:
        """Numbered heartbeats from ``DEVICES`` in a process of their own; (publisher, ts_base_ms)."""
        ts_base_ms = int(time.time() * 1000)
        publisher = PublisherProcess(
            mosquitto.host,
            mosquitto.port,
            DEVICES,
            rate=rate,
            duration=duration,
            ts_base_ms=ts_base_ms,
            topic_prefix=self.topic_prefix,
        ).start()
        return publisher, ts_base_ms

    def stored_and_lost(
        self, influxdb: Any, result: PublishResult, ts_base_ms: int
    ) -> tuple[int, dict[str, set[int]]]:
        """Once every acknowledged heartbeat is stored (or 45 s passed): how many are, and which are lost."""
        stored_total = wait_stored(influxdb, self.db, result.published, timeout_s=45)
        return stored_total, lost(result, stored_seqs(influxdb, self.db, ts_base_ms))


@pytest.fixture
def partition(
    tmp_path: Path, mosquitto: Any, influxdb: Any, influx_db_name: str, postgres: Any
) -> Iterator[Partition]:
    mosquitto.ensure_running()
    postgres.ensure_running()
    store_url = str(postgres.create_database(f"ha_{uuid.uuid4().hex[:10]}"))
    prefix = f"t/{uuid.uuid4().hex[:8]}/"
    client_id = f"ha-test-{uuid.uuid4().hex[:8]}"

    def gateway(name: str) -> HaGatewayProcess:
        return HaGatewayProcess(
            tmp_path / name,
            mosquitto,
            influxdb,
            influx_db_name,
            DEVICES + ALARM_DEVICES,
            gateway_id=f"gw-{name}",
            store_url=store_url,
            client_id=client_id,
            topic_prefix=prefix,
        )

    found = Partition(gateway("a"), gateway("b"), store_url, prefix, influx_db_name)
    try:
        yield found
    finally:
        for g in found.both:
            g.kill()
        found.a.forget_session()
        postgres.ensure_running()  # a failed outage test must not leave it down for the next tests


@dataclass
class Alarms:
    """Smoke alarms at QoS 1 from the test process, one per detector, every ``every_s``; ``acked`` are the
    detectors whose alarm the broker acknowledged, with when (time.monotonic())."""

    host: str
    port: int
    topic_prefix: str
    every_s: float = 0.4
    acked: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Alarms:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        client = paho.Client(CallbackAPIVersion.VERSION2, client_id="", clean_session=True)
        client.connect(self.host, self.port)
        client.loop_start()
        try:
            for seq, device in enumerate(ALARM_DEVICES):
                if self._stop.wait(self.every_s):
                    break
                ts = int(time.time() * 1000)
                body = f'{{"id":"{device}","seq":{seq},"ts":{ts},"event":"alarm","smoke":0.31}}'
                info = client.publish(f"{self.topic_prefix}fire/smoke/{device}/up", body, qos=1)
                info.wait_for_publish(10)  # PUBACK from the broker
                if info.is_published():
                    self.acked[device] = time.monotonic()
        finally:
            client.disconnect()
            client.loop_stop()


def alarms_in_store(store_url: str) -> set[str]:
    store = HazardStore(store_url)
    try:
        return {a.device_id for a in store.alarms.find(limit=10_000)}
    finally:
        store.close()


def test_kill_9_of_the_active_gateway_loses_nothing(
    partition: Partition, mosquitto: Any, influxdb: Any
) -> None:
    a, b = partition.a, partition.b
    partition.start_a_active_b_standby()
    assert b.state() == "standby"
    assert b.count(r"standby: gateway gw-a holds partition 'all'") == 1

    publisher, ts_base_ms = partition.stream(mosquitto, rate=1000, duration=16.0)
    alarms = Alarms(mosquitto.host, mosquitto.port, partition.topic_prefix).start()
    try:
        time.sleep(4.0)
        assert a.state() == "active"
        assert b.state() == "standby"
        a.kill()  # SIGKILL: no clean stop, no lease release, nothing more acknowledged
        killed_at = time.monotonic()
        takeover_s = b.wait_state("active", TAKEOVER_BOUND_S + 5)
        took_over_at = time.monotonic()
        a.start()  # as systemd would: it comes back as the standby and sends what its buffer held
        assert a.state() == "standby"
        result = publisher.result(timeout_s=60)
    finally:
        publisher.kill()
        alarms.stop()

    stored_total, missing = partition.stored_and_lost(influxdb, result, ts_base_ms)
    in_store = alarms_in_store(partition.store_url)
    after_takeover = {d for d, at in alarms.acked.items() if at > took_over_at}
    alarms_missing = sorted(set(alarms.acked) - in_store)
    lost_count = sum(map(len, missing.values()))
    print(f"\nkill -9 of the active gateway: the standby was active {takeover_s:.2f} s after the kill")
    print(f"  heartbeats acknowledged {result.published:,}, stored {stored_total:,}, lost {lost_count}")
    print(
        f"  alarms acknowledged {len(alarms.acked)} ({len(after_takeover)} after the takeover), "
        f"in the hazard store {len(in_store)}, missing {alarms_missing}"
    )
    assert took_over_at - killed_at <= TAKEOVER_BOUND_S, f"takeover took {takeover_s:.1f} s"
    assert result.published >= 0.9 * 16_000, f"the broker acknowledged only {result.published} heartbeats"
    assert not missing, f"acknowledged heartbeats lost: { {d: len(s) for d, s in missing.items()} }"
    assert after_takeover, "no alarm was raised after the takeover"
    assert not alarms_missing, f"acknowledged alarms missing from the hazard store: {alarms_missing}"
    assert b.state() == "active"
    assert a.state() == "standby"
    assert a.count(r"standby: gateway gw-b holds partition 'all'") == 1


def test_a_postgresql_outage_leaves_exactly_one_active_gateway(
    partition: Partition, mosquitto: Any, influxdb: Any, postgres: Any
) -> None:
    a = partition.a
    partition.start_a_active_b_standby()
    publisher, ts_base_ms = partition.stream(mosquitto, rate=300, duration=22.0)
    try:
        time.sleep(2.0)
        fast_stop_postgres(postgres)
        stopped_at = time.monotonic()
        # The active gateway cannot renew: it stands down before its lease could expire (ttl 5 s).
        a.wait_state("standby", 5.5)
        stood_down_s = time.monotonic() - stopped_at
        time.sleep(2.0)
        assert [g.state() for g in partition.both] == ["standby", "standby"], "nobody is active without PG"
        postgres.start()
        active, took_s = wait_for_one_active(partition.both, 15.0)
        # ... and it stays the only one (no second takeover, no MQTT session ping-pong).
        time.sleep(4.0)
        states = {g.gateway_id: g.state() for g in partition.both}
        result = publisher.result(timeout_s=60)
    finally:
        publisher.kill()
        postgres.ensure_running()

    stored_total, missing = partition.stored_and_lost(influxdb, result, ts_base_ms)
    takeovers = {g.gateway_id: g.count(r"active: gateway") for g in partition.both}
    lost_count = sum(map(len, missing.values()))
    print(f"\nPostgreSQL outage: the active gateway stood down {stood_down_s:.2f} s after PostgreSQL stopped")
    print(
        f"  {active.gateway_id} active {took_s:.2f} s after it returned; then {states}, takeovers {takeovers}"
    )
    print(f"  heartbeats acknowledged {result.published:,}, stored {stored_total:,}, lost {lost_count}")
    assert sorted(states.values()) == ["active", "standby"], states
    assert states[active.gateway_id] == "active"
    assert sum(takeovers.values()) == 2, f"one takeover after the outage, not more: {takeovers}"
    for g in partition.both:
        assert g.count(r"MQTT connection lost") == 0, f"{g.gateway_id}: the session changed hands twice"
    assert not missing, f"acknowledged heartbeats lost: { {d: len(s) for d, s in missing.items()} }"


def test_sigterm_of_the_active_gateway_hands_over_at_once(
    partition: Partition, mosquitto: Any, influxdb: Any
) -> None:
    """A clean stop (systemctl stop, docker stop) releases the lease after closing the MQTT session: the
    standby takes over within a heartbeat or two, not a TTL, and nothing acknowledged is lost."""
    a, b = partition.a, partition.b
    partition.start_a_active_b_standby()
    publisher, ts_base_ms = partition.stream(mosquitto, rate=500, duration=8.0)
    try:
        time.sleep(3.0)
        stopped = a.stop(signal.SIGTERM)
        takeover_s = b.wait_state("active", 5.0)
        result = publisher.result(timeout_s=60)
    finally:
        publisher.kill()
    stored_total, missing = partition.stored_and_lost(influxdb, result, ts_base_ms)
    print(
        f"\nSIGTERM of the active gateway: {stopped.describe()}; the standby active {takeover_s:.2f} s later"
    )
    print(f"  heartbeats acknowledged {result.published:,}, stored {stored_total:,}")
    assert stopped.clean, stopped.describe() + "\n" + "\n".join(stopped.lines[-20:])
    assert any("released the lease of partition 'all'" in line for line in stopped.lines), stopped.lines
    assert takeover_s < 3.0
    assert not missing, f"acknowledged heartbeats lost: { {d: len(s) for d, s in missing.items()} }"
