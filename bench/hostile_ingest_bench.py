"""Hostile ingest: 100,000 malformed MQTT payloads mixed with valid heartbeats, through a real Mosquitto into
a real gateway process, and what became of each (issue 17).

    .venv/bin/python bench/hostile_ingest_bench.py                         # 100,000 malformed + 50,000 valid
    .venv/bin/python bench/hostile_ingest_bench.py --malformed 20000 --valid 10000 --phases 4

The gateway is ``firegw run`` on a private Mosquitto and InfluxDB 1.x (tests/services.py), as
``tests/gateway_process.py`` runs it. The burst (tests/hostile_traffic.py: bad JSON, bad UTF-8, cut short,
NaN, nested 3,000 deep, wrong types, out of range, unknown events and devices, 20 KiB payloads) is shuffled
with the valid heartbeats and published at QoS 1 as fast as the broker takes it, in phases; after each phase
the run waits until every valid one is stored and every malformed one dead-lettered, and reads the gateway's
RSS. It prints the figures and fails (exit status 1) unless every valid message was stored, every malformed
one dead-lettered with its reason, the process stayed alive, and the RSS after the last phase is within
``--rss-growth`` MiB of the first phase's (a leak grows with the messages; a working set does not).
The suite runs the same with 10,000 malformed payloads (tests/test_hostile_input.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from gateway_process import GatewayProcess  # noqa: E402
from hostile_traffic import build_burst, run_burst  # noqa: E402
from services import InfluxService, MosquittoService  # noqa: E402

DEAD_LETTER_ROWS = "\n[dead_letters]\nmax_rows = 1000000\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--malformed", type=int, default=100_000)
    parser.add_argument("--valid", type=int, default=50_000)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--phases", type=int, default=2)
    parser.add_argument("--rss-growth", type=float, default=16.0, help="MiB allowed from first to last phase")
    args = parser.parse_args()
    devices = [f"HX-T001-{i:05d}" for i in range(args.devices)]
    prefix = f"b/{uuid.uuid4().hex[:8]}/"
    burst_ = build_burst(
        devices,
        malformed=args.malformed,
        valid=args.valid,
        prefix=prefix,
        ts_base_ms=int(time.time() * 1000) - 3_600_000,
        phases=args.phases,
    )
    mosquitto, influx = MosquittoService(), InfluxService()
    mosquitto.start()
    influx.start()
    gateway = None
    try:
        database = f"hostile_{uuid.uuid4().hex[:6]}"
        influx.create_database(database)
        with tempfile.TemporaryDirectory(prefix="firegw-hostile-") as tmp:
            gateway = GatewayProcess(
                Path(tmp),
                mosquitto,
                influx,
                database,
                devices,
                topic_prefix=prefix,
                extra_toml=DEAD_LETTER_ROWS,
            )
            gateway.start()
            figures = run_burst(gateway, influx, database, burst_, timeout_s=600)
            print(figures.describe())
            stop = gateway.stop()
            print(f"  then {stop.describe()}")
            growth = figures.rss_after_phase[-1] - figures.rss_after_phase[0]
            ok = (
                figures.stored == figures.valid
                and figures.dead_lettered == figures.expected
                and figures.alive
                and stop.clean
                and growth <= args.rss_growth
            )
            verdict = "OK" if ok else "FAILED"
            print(
                f"  RSS growth first -> last phase: {growth:+.1f} MiB (bound {args.rss_growth:g}); {verdict}"
            )
            return 0 if ok else 1
    finally:
        if gateway is not None:
            gateway.close()
        influx.close()
        mosquitto.close()


if __name__ == "__main__":
    sys.exit(main())
