"""Rule-engine benchmark: what the device events that open or close hazards and alarms cost the event loop.

    python bench/engine_events_bench.py                    # this checkout, 5 repeats, medians
    python bench/engine_events_bench.py --profile          # and a cProfile top-15 of one pass
    python bench/engine_events_bench.py --compare HEAD     # HEAD's code against this checkout's, interleaved

A fleet of 50 estates x 100 devices (80 smoke detectors, 15 hydrants, 5 cameras, no Modbus), a
``make_burst`` of ``--per-device`` messages per device (100,000 messages by default), decoded with the
gateway's own decoders (the default MQTT subscriptions) and paired with their devices as the pipeline pairs
them (by id or IMEI). Then a ``RuleEngine`` on a fresh SQLite hazard store in a temporary folder, built as
``gateway.app.build_engine`` builds it, is fed the records in batches of 500 through ``on_records`` on a fake
clock (one second per batch); only the ``on_records`` calls are timed.

Each repeat runs two passes, each on a fresh engine and store:

- **full**: every record;
- **quiet**: the same records without the events that open or close hazards and alarms (``alarm``,
  ``alarm_clear``, ``fault``, ``fault_clear``, ``tamper``, ``tamper_clear``).

Their difference is what those events cost; it is given per event and per hazard or alarm change that the
engine announced (a repeated ``fault`` of a faulty detector changes nothing). ``per message`` is the full
pass over all messages. Timings are medians over ``--repeat`` runs: the machine is shared.

``--compare REV`` extracts REV's tree (``git archive``) into a temporary folder and runs this same script on
it and on this checkout, one run each in turn, each in its own process; it prints both and the ratio.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from revisions import FakeClock, code_tree, interleaved

# ``--tree DIR`` (used by ``--compare``) benchmarks the code in DIR instead of this checkout's.
TREE = code_tree()

if TYPE_CHECKING:
    from gateway.casework.engine import RuleEngine
    from gateway.ingest.registry import Registry
    from gateway.models import Device, Record

BATCH = 500
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
HAZARD_EVENTS = ("alarm", "alarm_clear", "fault", "fault_clear", "tamper", "tamper_clear")


def fleet() -> Registry:
    from simulators.fleet import generate_fleet

    return generate_fleet(
        estates=50,
        smoke_per_estate=80,
        hydrants_per_estate=15,
        cameras_per_estate=5,
        modbus_share=0.0,
        seed=42,
    )


def decode(registry: Registry, per_device: int) -> tuple[int, list[tuple[Device, Record]]]:
    """The burst as the pipeline hands it to the rule hook: (device, record) pairs, in arrival order."""
    import paho.mqtt.client as paho

    from collectors.base import Decoder
    from collectors.decoders import make_decoder
    from collectors.mqtt.config import DEFAULT_SUBSCRIPTIONS
    from simulators.burst import make_burst

    routes = [(sub.topic, make_decoder(sub.decoder, sub.options)) for sub in DEFAULT_SUBSCRIPTIONS]
    by_topic: dict[str, Decoder | None] = {}
    by_wire_id = {d.imei: d for d in registry.devices if d.imei}
    by_wire_id.update({d.id: d for d in registry.devices})
    messages = make_burst(registry, messages_per_device=per_device, seed=42)
    items: list[tuple[Device, Record]] = []
    for topic, payload in messages:
        if topic not in by_topic:
            by_topic[topic] = next((dec for flt, dec in routes if paho.topic_matches_sub(flt, topic)), None)
        decoder = by_topic[topic]
        if decoder is None:
            raise SystemExit(f"no decoder for {topic}")
        raw = payload if isinstance(payload, bytes) else payload.encode()
        for record in decoder.decode(topic, raw):
            device = by_wire_id.get(record.device_id)
            if device is not None:
                items.append((device, record))
    return len(messages), items


def is_hazard_event(record: Record) -> bool:
    from gateway.models import DeviceEvent

    return isinstance(record, DeviceEvent) and record.type.value in HAZARD_EVENTS


def run_pass(
    registry: Registry, items: Sequence[tuple[Device, Record]], profile: cProfile.Profile | None = None
) -> tuple[float, int, RuleEngine]:
    """Feed ``items`` to a fresh engine on a fresh store. Returns the seconds spent in ``on_records``, the
    hazard and alarm changes the engine announced, and the engine."""
    from gateway.casework.engine import RuleEngine
    from gateway.store import HazardStore
    from rules.policy import load_policy

    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(T0)
        store = HazardStore(f"sqlite:///{Path(tmp) / 'hazards.sqlite'}")
        engine = RuleEngine(registry, load_policy(None), store, clock=clock)
        updates = engine.outbox.updates.subscribe()
        spent = 0.0
        changes = 0
        for start in range(0, len(items), BATCH):
            clock.now += timedelta(seconds=1)
            batch = items[start : start + BATCH]
            if profile is not None:
                profile.enable()
            t = time.perf_counter()
            engine.on_records(batch, clock.now)
            spent += time.perf_counter() - t
            if profile is not None:
                profile.disable()
            while not updates.empty():
                changes += updates.get_nowait().kind in ("hazard", "alarm")
        store.close()
        return spent, changes, engine


def measure(per_device: int, repeat: int) -> dict[str, Any]:
    """``repeat`` full and quiet passes: every timing, and the counts (the same in every run)."""
    registry = fleet()
    messages, items = decode(registry, per_device)
    quiet = [item for item in items if not is_hazard_event(item[1])]
    result: dict[str, Any] = {"messages": messages, "records": len(items), "events": len(items) - len(quiet)}
    result["full"], result["quiet"] = [], []
    for _ in range(repeat):
        full_s, changes, engine = run_pass(registry, items)
        quiet_s, _, _ = run_pass(registry, quiet)
        result["full"].append(full_s)
        result["quiet"].append(quiet_s)
    c = engine.counters
    result["changes"] = changes
    result["counters"] = {
        "hazards opened": c.hazards_opened,
        "auto-closed": c.hazards_auto_closed,
        "alarms raised": c.alarms_raised,
        "signals": c.signals,
        "grade changes": c.grade_changes,
        "store errors": c.store_errors,
    }
    return result


def summary(result: dict[str, Any]) -> dict[str, float]:
    full = statistics.median(result["full"])
    events_s = statistics.median(f - q for f, q in zip(result["full"], result["quiet"], strict=True))
    return {
        "full_s": full,
        "quiet_s": statistics.median(result["quiet"]),
        "us_per_message": full / result["messages"] * 1e6,
        "ms_per_event": events_s / result["events"] * 1e3,
        "ms_per_change": events_s / result["changes"] * 1e3,
    }


def report(result: dict[str, Any], label: str = "") -> None:
    s = summary(result)
    runs = ", ".join(f"{x:.3f}" for x in result["full"])
    counters = ", ".join(f"{k} {v}" for k, v in result["counters"].items())
    print(f"-- {label or TREE}")
    print(f"messages             {result['messages']:,} ({result['records']:,} records, batches of {BATCH})")
    print(f"hazard/alarm events  {result['events']:,} (alarm, fault, tamper and their clears)")
    print(f"changes announced    {result['changes']:,} ({counters})")
    print(f"full pass            {s['full_s']:.3f} s in on_records (median of {len(result['full'])}: {runs})")
    print(f"quiet pass           {s['quiet_s']:.3f} s (without those events)")
    print(f"per message          {s['us_per_message']:.1f} µs")
    print(f"per event            {s['ms_per_event']:.3f} ms (full - quiet)")
    print(f"per change           {s['ms_per_change']:.3f} ms (full - quiet)")


def compare(rev: str, per_device: int, repeat: int) -> None:
    def merge(into: dict[str, Any], run: dict[str, Any]) -> None:
        into["full"] += run["full"]
        into["quiet"] += run["quiet"]

    results = interleaved(__file__, rev, ["--per-device", str(per_device)], repeat, merge)
    for label, result in results.items():
        report(result, label)
    before, after = (summary(result) for result in results.values())
    print(
        f"-- {rev} / this checkout: per event {before['ms_per_event'] / after['ms_per_event']:.1f}x, "
        f"per change {before['ms_per_change'] / after['ms_per_change']:.1f}x, "
        f"per message {before['us_per_message'] / after['us_per_message']:.1f}x"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-device", type=int, default=20, help="messages per device (default 20)")
    parser.add_argument("--repeat", type=int, default=5, help="runs; medians are printed (default 5)")
    parser.add_argument("--profile", action="store_true", help="cProfile top-15 of one full pass")
    parser.add_argument("--compare", metavar="REV", help="also run REV's code (git archive), interleaved")
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.compare:
        compare(args.compare, args.per_device, args.repeat)
        return
    result = measure(args.per_device, args.repeat)
    if args.json:
        print(json.dumps(result))
        return
    report(result)
    if args.profile:
        registry = fleet()
        _, items = decode(registry, args.per_device)
        profile = cProfile.Profile()
        run_pass(registry, items, profile)
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats(order).print_stats(15)
            print(out.getvalue())


if __name__ == "__main__":
    main()
