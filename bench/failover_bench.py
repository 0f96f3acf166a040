"""Failover benchmark: active/standby gateways (``[ha]``) killed again and again under load, on real servers.

    make bench-failover                               # 5 kills at 1,000 msg/s; ingest rate HA off vs on
    make bench-failover ARGS="--kills 10 --rate 2000 --burst 60000"

Everything runs as real processes: a private Mosquitto, InfluxDB 1.x and PostgreSQL (tests/services.py), and
``firegw run`` gateways (tests/ha_gateway.py) with the rule layer on the PostgreSQL hazard store.

1. **Ingest rate, HA off vs on, in the same run.** One gateway drains a backlog of ``--burst``
   sequence-numbered QoS 1 heartbeats that the broker queued for its persistent session while it was stopped,
   once without ``[ha]`` and once with it (a lease to take first, a heartbeat during the drain). The rate is
   the burst over the time from CONNACK (the log line that says the session is open) to the moment InfluxDB
   holds every point; the time from the process start to CONNACK is printed beside it. ``--repeat`` drains
   per mode, alternating off and on; the best of each counts.
2. **Failover.** Two gateways of one partition (same client id, ``ttl_s`` 5, ``heartbeat_s`` 1), a publisher
   streaming heartbeats at ``--rate`` across 20 devices. ``--kills`` times: wait, kill -9 the active gateway,
   time until the other is active (lease taken, MQTT session resumed, subscribed), start the killed one again
   (it stands by, and sends what its durable buffer held). At the end every message the broker acknowledged
   must be a point in InfluxDB.

It prints the takeover time (p50 and max over the kills), the messages lost (must be 0), and both rates.
Exit code 1 when a message was lost or a takeover took longer than 10 s.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the helpers import each other as top-level modules

from gateway_process import stored_seqs  # noqa: E402
from ha_gateway import HaGatewayProcess, lost, wait_for_one_active, wait_stored  # noqa: E402
from seq_publisher import PublisherProcess, publish  # noqa: E402
from services import InfluxService, MosquittoService, PostgresService  # noqa: E402

DEVICES = [f"FB-T001-{i:04d}" for i in range(1, 21)]
TAKEOVER_BOUND_S = 10.0


class Bench:
    def __init__(
        self, mosquitto: MosquittoService, influxdb: InfluxService, postgres: PostgresService
    ) -> None:
        self.mosquitto = mosquitto
        self.influxdb = influxdb
        self.postgres = postgres
        self.workdir = Path(tempfile.mkdtemp(prefix="firegw-failover-bench-"))

    def gateway(
        self, name: str, db: str, store_url: str, client_id: str, prefix: str, *, ha: bool
    ) -> HaGatewayProcess:
        return HaGatewayProcess(
            self.workdir / name,
            self.mosquitto,
            self.influxdb,
            db,
            DEVICES,
            gateway_id=f"gw-{name}",
            store_url=store_url,
            client_id=client_id,
            topic_prefix=prefix,
            ha=ha,
        )

    def fresh(self, name: str) -> tuple[str, str, str, str]:
        """A new InfluxDB database, hazard store, client id and topic prefix."""
        tag = uuid.uuid4().hex[:8]
        db = f"fb_{name}_{tag}"
        self.influxdb.create_database(db)
        store_url = self.postgres.create_database(f"fb_{name}_{tag}")
        return db, store_url, f"fb-{name}-{tag}", f"fb/{tag}/"

    # -- 1. ingest rate ----------------------------------------------------------------------------------

    def ingest_rate(self, *, ha: bool, burst: int) -> tuple[float, float]:
        """Drain a queued burst: (messages/s from CONNACK to all stored, seconds from start to CONNACK)."""
        db, store_url, client_id, prefix = self.fresh("ha" if ha else "plain")
        gw = self.gateway("rate-ha" if ha else "rate-plain", db, store_url, client_id, prefix, ha=ha)
        try:
            gw.start()
            gw.wait_state("active", 30)
            gw.stop(signal.SIGTERM)  # the persistent session stays, and queues the burst
            per_device = burst // len(DEVICES)
            ts_base_ms = int(time.time() * 1000)
            result = publish(
                self.mosquitto.host,
                self.mosquitto.port,
                DEVICES,
                ts_base_ms=ts_base_ms,
                rate=1e9,
                per_device=per_device,
                topic_prefix=prefix,
            )
            started = time.monotonic()
            gw.start()
            while "CONNACK received" not in gw.log_text():
                time.sleep(0.01)
            connack = time.monotonic()
            stored = wait_stored(self.influxdb, db, result.published, timeout_s=300, settle_s=10)
            done = time.monotonic()
            if stored < result.published:
                raise SystemExit(
                    f"only {stored} of {result.published} points stored (HA {'on' if ha else 'off'})"
                )
            return result.published / (done - connack), connack - started
        finally:
            gw.close()

    # -- 2. failover ---------------------------------------------------------------------------------------

    def failover(self, *, kills: int, rate: float) -> tuple[list[float], int, int, int]:
        """Kill the active gateway ``kills`` times: (takeover seconds per kill, acknowledged, lost, sequence
        gaps the gateways counted: the devices skip nothing, so any is a false alarm)."""
        db, store_url, client_id, prefix = self.fresh("failover")
        a = self.gateway("a", db, store_url, client_id, prefix, ha=True)
        b = self.gateway("b", db, store_url, client_id, prefix, ha=True)
        takeovers: list[float] = []
        try:
            a.start()
            a.wait_state("active", 30)
            b.start()
            ts_base_ms = int(time.time() * 1000)
            publisher = PublisherProcess(
                self.mosquitto.host,
                self.mosquitto.port,
                DEVICES,
                rate=rate,
                duration=5.0 + kills * 12.0,
                ts_base_ms=ts_base_ms,
                topic_prefix=prefix,
            ).start()
            try:
                for kill in range(kills):
                    time.sleep(3.0)
                    active, _ = wait_for_one_active([a, b], 10.0)
                    other = b if active is a else a
                    active.kill()
                    took = other.wait_state("active", 30.0)
                    takeovers.append(took)
                    who = f"{active.gateway_id} killed, {other.gateway_id} active"
                    print(f"  kill {kill + 1}: {who} in {took:.2f} s")
                    active.start()  # back as the standby; sends what its durable buffer held
                result = publisher.result(timeout_s=120)
            finally:
                publisher.kill()
            wait_stored(self.influxdb, db, result.published, timeout_s=120, settle_s=10)
            missing = lost(result, stored_seqs(self.influxdb, db, ts_base_ms))
            rows = self.influxdb.rows(
                'SELECT max("seq_gaps") AS gaps FROM "gateway_stats" GROUP BY "gateway"', db
            )
            gaps = sum(int(row["gaps"] or 0) for row in rows)
            return takeovers, result.published, sum(len(m) for m in missing.values()), gaps
        finally:
            a.close()
            b.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=5, help="kill -9 of the active gateway, this many times")
    parser.add_argument("--rate", type=float, default=1000.0, help="messages/s streamed during the kills")
    parser.add_argument("--burst", type=int, default=40_000, help="messages drained for the ingest rate")
    parser.add_argument("--repeat", type=int, default=2, help="drains per mode, alternating; the best counts")
    parser.add_argument("--skip-rate", action="store_true", help="only the failover part")
    args = parser.parse_args(argv)

    services: list[Any] = [MosquittoService(), InfluxService(), PostgresService()]
    for service in services:
        service.start()
    try:
        bench = Bench(*services)
        rates: dict[str, tuple[float, float]] = {}
        if not args.skip_rate:
            print(f"ingest rate: a queued burst of {args.burst:,} messages, one gateway, rules on PostgreSQL")
            for _ in range(args.repeat):
                for ha in (False, True):
                    mode = "on" if ha else "off"
                    rate, start_s = bench.ingest_rate(ha=ha, burst=args.burst)
                    print(f"  HA {mode:<3}: {rate:,.0f} msg/s ({start_s:.2f} s from start to CONNACK)")
                    if rate > rates.get(mode, (0.0, 0.0))[0]:
                        rates[mode] = (rate, start_s)
        print(f"failover: {args.kills} x kill -9 of the active gateway, {args.rate:,.0f} msg/s streaming")
        takeovers, published, lost_count, gaps = bench.failover(kills=args.kills, rate=args.rate)
    finally:
        for service in reversed(services):
            service.close()

    print()
    print(f"takeover after kill -9     p50 {statistics.median(takeovers):.2f} s, max {max(takeovers):.2f} s"
          f" over {len(takeovers)} kills (bound {TAKEOVER_BOUND_S:.0f} s)")  # fmt: skip
    print(f"messages lost              {lost_count} of {published:,} acknowledged (must be 0)")
    print(f"sequence gaps counted      {gaps} (the devices skipped none)")
    if rates:
        off, on = rates["off"][0], rates["on"][0]
        ratio = f"on/off {on / off:.2f}; best of {args.repeat}"
        print(f"ingest rate HA off / on    {off:,.0f} / {on:,.0f} msg/s ({ratio})")
    return 1 if lost_count or max(takeovers) > TAKEOVER_BOUND_S else 0


if __name__ == "__main__":
    sys.exit(main())
