"""Duty overview benchmark (issue 18): what ``GET /api/overview`` and its trends cost for a city.

    python bench/overview_bench.py [--estates 200] [--devices-per-estate 100]

An engine on a SQLite store and a fake clock, with a generated fleet (70 % detectors, 20 % hydrants, 10 %
cameras). Every device but one in ten is heard from, one detector in a hundred reports a fault; two hours
later the hydrants and cameras nobody heard from since are offline (a city-wide outage of 6,000 devices at the
default size, each a signal edge and a maintenance task) and 30 detectors alarm. Then, timed: the overview's
figures for the whole city and for one property company, and the three trends of the last 24 hours.

Target (issue 18): the overview well under 100 ms with 200 estates and 20,000 devices.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from assessed import assess  # noqa: E402
from clock import FakeClock  # noqa: E402

from gateway.casework.engine import RuleEngine  # noqa: E402
from gateway.casework.overview import device_figures, overview  # noqa: E402
from gateway.models import DeviceEvent, DeviceKind, EventType  # noqa: E402
from gateway.store import HazardStore  # noqa: E402
from gateway.store.trends import TrendQueries, hour_starts  # noqa: E402
from rules.policy import load_policy  # noqa: E402
from simulators.fleet import generate_fleet  # noqa: E402


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    """(first call, median of the next ``runs``) in milliseconds."""
    start = time.perf_counter()
    fn()
    first = (time.perf_counter() - start) * 1000
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return first, statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--estates", type=int, default=200)
    parser.add_argument("--devices-per-estate", type=int, default=100)
    args = parser.parse_args()
    per = args.devices_per_estate
    registry = generate_fleet(args.estates, per * 7 // 10, per * 2 // 10, per // 10, 0.0, seed=1)
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        engine = RuleEngine(registry, load_policy(), HazardStore(f"sqlite:///{tmp}/h.sqlite"), clock=clock)
        assess(engine)
        now = clock()
        items = []
        for i, device in enumerate(registry.devices):
            if i % 10:
                items.append((device, DeviceEvent(device_id=device.id, time=now, type=EventType.HEARTBEAT)))
            if i % 97 == 0 and device.kind is DeviceKind.SMOKE_DETECTOR:
                items.append((device, DeviceEvent(device_id=device.id, time=now, type=EventType.FAULT)))
        for k in range(0, len(items), 500):
            engine.on_records(items[k : k + 500], now)
        clock.advance(hours=2)
        engine.tick(clock())
        for device in [d for d in registry.devices if d.kind is DeviceKind.SMOKE_DETECTOR][:30]:
            engine.on_records(
                [(device, DeviceEvent(device_id=device.id, time=clock(), type=EventType.ALARM))], clock()
            )

        every = [e.id for e in registry.estates]
        company = registry.estates[0].property_company
        theirs = [e.id for e in registry.estates if e.property_company == company]
        queries = TrendQueries(engine.store.db)
        starts = hour_starts(clock(), 24)
        offline = sum(k.offline for k in device_figures(engine, every, clock()))
        figures = overview(engine, every, clock(), whole_city=True)
        print(
            f"{len(registry.estates)} estates, {len(registry.devices)} devices: {offline} offline, "
            f"{figures.alarms.open} open alarms, {figures.hazards.open} hazards, "
            f"{figures.hazards.maintenance} maintenance tasks"
        )
        rows = [
            ("overview, whole city", lambda: overview(engine, every, clock(), whole_city=True)),
            (
                f"overview, one company ({len(theirs)} estates)",
                lambda: overview(engine, theirs, clock(), whole_city=False),
            ),
            ("trend: alarms", lambda: queries.alarms(starts, None)),
            ("trend: hazards opened/closed", lambda: queries.hazards(starts, None)),
            ("trend: devices offline", lambda: queries.offline(starts, offline, None)),
        ]
        for name, fn in rows:
            first, median = timed(fn, 20)
            print(f"  {name:<40} first {first:7.1f} ms   then median {median:6.1f} ms")
        whole = timed(rows[0][1], 20)[1]
        print(f"target: overview under 100 ms -> {'met' if whole < 100 else 'MISSED'} ({whole:.1f} ms)")
        engine.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
