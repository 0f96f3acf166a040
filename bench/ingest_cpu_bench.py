"""Ingest CPU benchmark: what one message costs the gateway's process, stage by stage, without the network.

    python bench/ingest_cpu_bench.py                   # this checkout, 3 repeats, medians
    python bench/ingest_cpu_bench.py --profile         # and a cProfile top-25 of one pass
    python bench/ingest_cpu_bench.py --compare HEAD    # HEAD's code against this checkout's, interleaved

Why: ``bench/ingest_bench.py`` is the end-to-end figure (real Mosquitto and InfluxDB), but on this 2-core
machine its runs spread by about 8 %, more than most single changes gain. The gateway is CPU-bound on one
event loop there (about 35-40 µs of CPU per message), so what decides its throughput is the CPU each
message costs in-process. This script measures exactly that, on the same burst (``make_burst``: 10,000
devices in 100 estates, 20 messages each, 3 % smoke events), through the same code:

- **decode**: ``MqttCollector.decode_batch`` on hand-overs of ``MAX_BATCH`` deliveries (topic routing,
  JSON, validation into ``Reading``/``DeviceEvent``);
- **pipeline**: ``Pipeline.submit``: device lookup and state, telemetry points, and the rule hook
  (``RuleEngine.on_records`` on a real SQLite hazard store in a temporary folder: hazards and alarms are
  written as in production);
- **ticks**: ``RuleEngine.tick`` once per second of simulated time, as ``RuleEngine.run`` does;
- **encode**: the line protocol the buffered sink's spool encodes (``encode_counted`` per 10,000 points).
  In the gateway it runs on a worker thread but holds the GIL, so it counts against the same core.

Not included: the MQTT socket reads (about 2 µs per message, see ``collectors/mqtt/fastclient.py``), the
durable buffer's disk writes and the HTTP to InfluxDB (mostly outside the GIL).

The simulated clock moves 40 ms per hand-over of 1,000 messages (25,000 msg/s), so hold timers and
ticks run as they would at that rate. Timings are medians over ``--repeat`` passes, each on a fresh
pipeline, engine and store. ``gc`` is the cyclic garbage collector's share of the pass (also in the
stages' figures).

``--compare REV`` extracts REV's tree (``git archive``) into a temporary folder and runs this same script on
it and on this checkout, one pass each in turn, each in its own process; it prints both and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import pstats
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from revisions import FakeClock, code_tree, interleaved

# ``--tree DIR`` (used by ``--compare``) benchmarks the code in DIR instead of this checkout's.
TREE = code_tree()

if TYPE_CHECKING:
    from gateway.ingest.registry import Registry

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
STAGES = ("decode", "pipeline", "ticks", "encode")
SPOOL_POINTS = 10_000  # the buffered sink's default batch_max_points


class EncodingSink:
    """Stands in for the buffered sink: keeps the points and encodes them in spool-sized batches, timed."""

    name = "encoding"

    def __init__(self) -> None:
        self.pending: list[Any] = []
        self.encode_s = 0.0
        self.points = 0
        self.bytes = 0

    async def write(self, points: Any) -> None:
        self.pending.extend(points)
        if len(self.pending) >= SPOOL_POINTS:
            self.encode()

    def encode(self) -> None:
        from gateway.ingest.sinks.lineprotocol import encode_counted

        t = time.perf_counter()
        body, count = encode_counted(self.pending)
        self.encode_s += time.perf_counter() - t
        self.points += count
        self.bytes += len(body)
        self.pending = []

    async def flush(self) -> None:
        if self.pending:
            self.encode()

    async def close(self) -> None:
        await self.flush()


def fleet(devices: int) -> Registry:
    from simulators.fleet import generate_fleet

    return generate_fleet(
        estates=max(1, devices // 100),
        smoke_per_estate=80,
        hydrants_per_estate=15,
        cameras_per_estate=5,
        modbus_share=0.0,
        seed=42,
    )


def run_pass(registry: Registry, messages: list[Any], profile: cProfile.Profile | None) -> dict[str, Any]:
    """Feed ``messages`` through a fresh collector, pipeline and engine. Returns seconds per stage."""
    from collectors.mqtt.config import MqttConfig
    from collectors.mqtt.transport import MAX_BATCH, MqttCollector
    from gateway.casework.engine import RuleEngine
    from gateway.ingest.deadletter import DeadLetterStore
    from gateway.ingest.pipeline import Pipeline
    from gateway.store import HazardStore
    from rules.policy import load_policy

    try:
        from gateway.cli import settle_heap
    except ImportError:  # a tree from before it was public (--compare)
        from gateway.cli import _settle_heap as settle_heap  # type: ignore[attr-defined,no-redef]

    gc_threshold = gc.get_threshold()
    spent = dict.fromkeys(STAGES, 0.0)
    gc_time = [0.0, 0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_time[1] = time.perf_counter()
        else:
            gc_time[0] += time.perf_counter() - gc_time[1]

    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(T0)
        store = HazardStore(f"sqlite:///{Path(tmp) / 'hazards.sqlite'}")
        engine = RuleEngine(registry, load_policy(None), store, clock=clock)
        sink = EncodingSink()
        deadletters = DeadLetterStore(Path(tmp) / "dead_letters.sqlite")
        pipeline = Pipeline(registry, sink, deadletters, rules=engine, clock=clock)  # type: ignore[arg-type]
        collector = MqttCollector(MqttConfig(), pipeline)
        loop = asyncio.new_event_loop()
        next_tick = clock.now + timedelta(seconds=1)
        # As ``firegw run`` does after start-up (``settle_heap``): what exists now (registry, engine, and here
        # the burst, which is not on the gateway's heap in production) leaves the collector's view, and
        # young objects are collected less often. Otherwise the figures carry a gc cost the gateway lacks.
        settle_heap()
        gc.callbacks.append(on_gc)
        try:
            for start in range(0, len(messages), MAX_BATCH):
                batch = messages[start : start + MAX_BATCH]
                clock.now += timedelta(seconds=len(batch) / 25_000)
                if profile is not None:
                    profile.enable()
                encoded_before = sink.encode_s  # the sink encodes inside submit: counted apart
                t0 = time.perf_counter()
                records, origins = collector.decode_batch(batch)
                t1 = time.perf_counter()
                loop.run_until_complete(pipeline.submit(records, source="mqtt", origins=origins))
                t2 = time.perf_counter()
                if clock.now >= next_tick:
                    engine.tick(clock.now)
                    next_tick = clock.now + timedelta(seconds=1)
                t3 = time.perf_counter()
                if profile is not None:
                    profile.disable()
                spent["decode"] += t1 - t0
                spent["pipeline"] += t2 - t1 - (sink.encode_s - encoded_before)
                spent["ticks"] += t3 - t2
            loop.run_until_complete(sink.flush())
        finally:
            gc.callbacks.remove(on_gc)
            gc.unfreeze()
            gc.set_threshold(*gc_threshold)
            loop.close()
            deadletters.close()
            store.close()
        spent["encode"] = sink.encode_s
        return {
            "seconds": spent,
            "gc_s": gc_time[0],
            "points": sink.points,
            "rejects": pipeline.stats.rejects_total,
            "hazards_opened": engine.counters.hazards_opened,
            "alarms_raised": engine.counters.alarms_raised,
        }


def measure(devices: int, per_device: int, repeat: int, profile: bool) -> dict[str, Any]:
    from collectors.mqtt.fastclient import Delivery
    from simulators.burst import make_burst

    registry = fleet(devices)
    burst = make_burst(registry, messages_per_device=per_device, seed=42)
    messages = [Delivery(topic, payload, 1, False) for topic, payload in burst]
    runs = [run_pass(registry, messages, None) for _ in range(repeat)]
    result: dict[str, Any] = {"messages": len(messages), "devices": len(registry.devices), "runs": runs}
    if profile:
        prof = cProfile.Profile()
        run_pass(registry, messages, prof)
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(25)
        result["profile"] = out.getvalue()
    return result


def summary(result: dict[str, Any]) -> dict[str, float]:
    """Median µs per message for each stage, their total, and gc."""
    n = result["messages"]
    runs = result["runs"]
    out = {stage: statistics.median(r["seconds"][stage] for r in runs) / n * 1e6 for stage in STAGES}
    out["total"] = statistics.median(sum(r["seconds"].values()) for r in runs) / n * 1e6
    out["gc"] = statistics.median(r["gc_s"] for r in runs) / n * 1e6
    return out


def report(result: dict[str, Any], label: str = "") -> None:
    s = summary(result)
    last = result["runs"][-1]
    totals = ", ".join(f"{sum(r['seconds'].values()):.2f}" for r in result["runs"])
    print(f"-- {label or TREE}")
    print(
        f"messages        {result['messages']:,} from {result['devices']:,} devices;"
        f" {last['points']:,} points, {last['rejects']} rejects, {last['hazards_opened']} hazards opened,"
        f" {last['alarms_raised']} alarms"
    )
    for stage in STAGES:
        print(f"{stage:<15} {s[stage]:6.2f} µs/msg")
    print(f"{'total':<15} {s['total']:6.2f} µs/msg  (passes: {totals} s; median of {len(result['runs'])})")
    print(f"{'of which gc':<15} {s['gc']:6.2f} µs/msg")
    print(f"{'ceiling':<15} {1e6 / s['total']:,.0f} msg/s on one core, these stages only")


def compare(rev: str, args: argparse.Namespace) -> None:
    def merge(into: dict[str, Any], run: dict[str, Any]) -> None:
        into["runs"] += run["runs"]

    passes = ["--devices", str(args.devices), "--per-device", str(args.per_device)]
    results = interleaved(__file__, rev, passes, args.repeat, merge)
    for label, result in results.items():
        report(result, label)
    before, after = (summary(result) for result in results.values())
    ratios = ", ".join(
        f"{stage} {before[stage] / after[stage]:.2f}x" for stage in (*STAGES, "total") if after[stage] > 0
    )
    print(f"-- {rev} / this checkout (above 1: this checkout is faster): {ratios}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=10_000, help="devices (default 10,000)")
    parser.add_argument("--per-device", type=int, default=20, help="messages per device (default 20)")
    parser.add_argument("--repeat", type=int, default=3, help="passes; medians are printed (default 3)")
    parser.add_argument("--profile", action="store_true", help="cProfile top-25 of one more pass")
    parser.add_argument("--compare", metavar="REV", help="also run REV's code (git archive), interleaved")
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.compare:
        compare(args.compare, args)
        return
    result = measure(args.devices, args.per_device, args.repeat, args.profile)
    if args.json:
        print(json.dumps(result))
        return
    report(result)
    if "profile" in result:
        print(result["profile"])


if __name__ == "__main__":
    main()
