"""Rule-layer benchmark (issue 3): event -> alarm / grade latency under load, and re-grading a city.

    python bench/rules_bench.py                       # or: make bench-rules
    python bench/rules_bench.py --rate 5500 --events 1000 --event-rate 20 --estates 2000

Part 1, latency. A private Mosquitto (tests/services.py, with the production in-flight window of
deploy/mosquitto), and the gateway *in this process* (``gateway.app.Gateway``: MQTT collector, pipeline,
SQLite telemetry store in a temporary folder, rules on with their SQLite hazard store and outbound MQTT
publisher, API off), on a fleet of ``--live-estates`` estates x 50 devices. Two other processes, so that
neither shares the gateway's event loop or GIL:

- the background publisher: ordinary telemetry (smoke-detector heartbeats, hydrant readings at a steady
  healthy pressure) at ``--rate`` messages/s, QoS 1, paced every 2 ms on a plain socket with the frame
  helpers of the raw burst engine (simulators/burst.py);
- the probe: publishes the measured events with paho-mqtt (QoS 1), recording ``time.time()`` just before
  each ``publish`` call; it also runs a plain paho subscriber on the events' own topics (the raw broker round
  trip: the floor any MQTT consumer pays) and a subscriber on ``firegw/estates/+/grade`` and
  ``firegw/estates/+/alarms``.

Events, ``--event-rate`` per second of each kind, interleaved:

- hydrant toggles: one hydrant per estate has per-device thresholds ``pressure_hold_s = 0``,
  ``pressure_drop_hold_s = 0`` and ``pressure_recovery_s = 0`` and alternates between 0.02 MPa (a sudden
  drop after a healthy reading: one device hazard, estate green -> yellow) and 0.35 MPa (it closes itself:
  yellow -> green). Every estate is assessed first (``assess_all``: without it an estate is not assessed and
  never green). Toggles of one estate are ``--live-estates`` / ``--event-rate`` s apart, so each is a distinct
  grade change. Measured: publish -> the retained grade message at the MQTT subscriber (**b**); publish ->
  the grade update on ``engine.outbox.updates`` in-process (the gateway's own share of (b)).
- smoke alarms, each from its own detector (an open alarm counts once per detector until it is closed):
  publish -> the alarm on the live feed (**a**), measured in-process on both feeds that the control room's
  SSE stream ``/api/live`` merges, as an SSE client would see them (the time a subscriber task gets the
  item): ``engine.outbox.updates`` kind ``alarm`` (the alarm record opened in the hazard store; the target)
  and ``gateway.live`` (the device event). Also publish -> the alarm event on MQTT.

Phases: baseline (the same events, no background load), then loaded (background at ``--rate``, after
``--warmup`` s). Times are ``time.time()`` in the probe and in this process: one clock, one machine. Also
printed: the background rate the gateway actually took in, how long it needed after the load stopped to work
off a backlog, its records and stored points, event-loop stalls (a 5 ms sleep late by more than 10 ms), and
the CPU of every process, of other processes on the machine and the hypervisor's steal.
``--dump PATH`` writes every event's times as JSON.

Part 2, a city. In a fresh process (so that memory deltas are its own): a registry of ``--estates`` estates
with 100 devices each (80 smoke detectors, 15 hydrants, 5 cameras: 200,000 devices by default) with its
build time and RSS growth, then the RuleEngine on it (construction includes restoring and recording every
estate's first grade), open hazards in a share of the estates (smoke-detector faults within and beyond the
tolerance, failed hydrants, manual hazards, complaints), then the time of ``regrade_all`` (median of 5), of
the periodic ``regrade_all(repeat=True)`` (every ``grade_repeat_s``, with device summaries), of the offline
sweep ``tick`` (every 30 s), and what one hydrant toggle and one smoke alarm cost ``engine.on_records``:
all of these run on the gateway's event loop, so for event latency they are stalls.
``--tracemalloc`` also reports traced allocations of the registry and the engine (their build times are then
several times slower; the later timings are taken untraced).

Targets (issue 3): p99 <= 100 ms for (a) and (b) under >= 5,000 msg/s. A miss is printed as a miss, with why.
"""

# A script, not a service: polling with sleep and small blocking file calls inside coroutines are fine.
# ruff: noqa: ASYNC110, ASYNC240

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.ingest.registry import Registry  # noqa: E402
from gateway.models import Device, DeviceEvent, DeviceKind, EventType, Reading, Record  # noqa: E402
from simulators.fleet import generate_fleet  # noqa: E402

TARGET_MS = 100.0
#: The event hydrants' overrides: every reading is judged at once, in both directions.
EVENT_THRESHOLDS = {"pressure_hold_s": 0.0, "pressure_recovery_s": 0.0, "pressure_drop_hold_s": 0.0}
LOW_MPA, HEALTHY_MPA = 0.02, 0.35
PREFIX = "firegw"


def assess_all(engine: Any) -> None:
    """Every estate inspected and registered an hour ago, every green condition met (without one an estate
    is not assessed and no event could make it green again: the toggles would not be grade changes)."""
    from gateway.models import utc_now

    now = utc_now()
    for estate in engine.registry.estates:
        engine.assessments.record(
            estate_id=estate.id, kind="assessment", at=now - timedelta(hours=1), by="bench",
            met=[f"G{i}" for i in range(1, 9)], now=now,
        )  # fmt: skip


def log_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_jiffies() -> tuple[int, int]:
    """(busy, steal) clock ticks of the whole machine so far (/proc/stat): other work on it shows here."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return user + nice + system + irq + softirq, steal


def rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class CpuMeter:
    """Cores busy per process over a window, plus the rest of the machine and the hypervisor's steal."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.t0 = time.perf_counter()
        self.cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.machine0 = machine_jiffies()

    def stop(self) -> dict[str, float]:
        window = time.perf_counter() - self.t0
        cpu = {name: (cpu_seconds(pid) - self.cpu0[name]) / window for name, pid in self.pids.items()}
        busy, steal = machine_jiffies()
        tick = os.sysconf("SC_CLK_TCK")
        cpu["other processes"] = max(0.0, (busy - self.machine0[0]) / tick / window - sum(cpu.values()))
        cpu["steal"] = (steal - self.machine0[1]) / tick / window
        return cpu


# ================================================================================ the background publisher


def run_background(host: str, port: int, rate: float, plan_path: str) -> None:
    """Telemetry at ``rate`` msg/s, QoS 1, paced every 2 ms; prints ``sent acked time`` every 0.25 s."""
    from simulators.burst import _AckReader, _connect_packet, _remaining_length

    plan = json.loads(Path(plan_path).read_text())
    devices: list[tuple[bytes, str, bool]] = [(f"fire/smoke/{d}/up".encode(), d, True) for d in plan["smoke"]]
    devices += [(f"fire/hydrant/{d}/up".encode(), d, False) for d in plan["hydrants"]]
    random.Random(3).shuffle(devices)
    n = len(devices)
    seqs = [0] * n
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(_connect_packet(f"rules-bench-background-{os.getpid()}", keepalive=300))
    connack = sock.recv(4)
    if len(connack) < 4 or connack[3] != 0:
        raise SystemExit(f"background: CONNACK {connack.hex()}")
    sock.settimeout(None)
    reader = _AckReader(sock)
    reader.start()
    sent, i, mid = 0, 0, 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    t0 = last_report = time.perf_counter()
    while not reader.closed and not stop.is_set():
        now = time.perf_counter()
        due = int((now - t0) * rate)
        if due > sent:
            ms = int(time.time() * 1000)
            buf = bytearray()
            for _ in range(due - sent):
                idx = i % n
                i += 1
                topic, dev, smoke = devices[idx]
                seqs[idx] += 1
                if smoke:
                    body = (
                        f'{{"id":"{dev}","seq":{seqs[idx]},"ts":{ms},"event":"heartbeat",'
                        f'"battery":{80 + idx % 20},"rsrp":{-80 - idx % 30}}}'
                    )
                else:  # steady healthy pressure per hydrant: no threshold, no sudden drop
                    body = (
                        f'{{"id":"{dev}","seq":{seqs[idx]},"ts":{ms},'
                        f'"pressure":{0.30 + (idx % 8) / 100:.2f},"battery":95,"status":0}}'
                    )
                payload = body.encode()
                mid = mid + 1 if mid < 65535 else 1
                buf += (
                    b"\x32"
                    + _remaining_length(2 + len(topic) + 2 + len(payload))
                    + len(topic).to_bytes(2, "big")
                    + topic
                    + mid.to_bytes(2, "big")
                    + payload
                )
            sock.sendall(buf)
            sent = due
        if now - last_report >= 0.25:
            last_report = now
            print(sent, reader.acked, time.time(), flush=True)
        time.sleep(0.002)
    print(sent, reader.acked, time.time(), flush=True)  # the final count
    with contextlib.suppress(OSError):
        sock.sendall(b"\xe0\x00")  # DISCONNECT


# ================================================================================ the probe


def run_probe(host: str, port: int, plan_path: str) -> None:
    """Publishes the measured events on command and records when they (and their outcomes) arrive."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    plan = json.loads(Path(plan_path).read_text())
    hydrants: list[list[str]] = plan["event_hydrants"]  # [device, estate]
    events: int = plan["events"]
    rate: float = plan["event_rate"]
    raw_seen: dict[str, float] = {}
    grades: dict[str, list[tuple[float, str]]] = defaultdict(list)
    alarm_mqtt: dict[str, float] = {}

    def on_raw(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        t = time.time()
        body = json.loads(msg.payload)
        raw_seen[f"{body['id']}/{body['seq']}"] = t

    def on_out(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        t = time.time()
        if msg.retain:  # the retained state sent when we subscribed: not a change
            return
        body = json.loads(msg.payload)
        if msg.topic.endswith("/grade"):
            grades[body["estate"]].append((t, body["grade"]))
        elif body.get("action") == "raise":
            alarm_mqtt[body["device"]] = t

    def client(name: str) -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"rules-bench-{name}-{os.getpid()}")
        c.max_queued_messages_set(0)
        c.connect(host, port, keepalive=60)
        c.loop_start()
        return c

    pub = client("events")
    raw = client("raw")
    raw.on_message = on_raw
    out = client("outcomes")
    out.on_message = on_out
    topics = [f"fire/hydrant/{d}/up" for d, _ in hydrants]
    for devices in plan["alarm_sets"].values():
        topics += [f"fire/smoke/{d}/up" for d, _ in devices]
    acks = threading.Semaphore(0)
    expected = 0

    def on_subscribe(*_: Any) -> None:
        acks.release()

    raw.on_subscribe = on_subscribe
    out.on_subscribe = on_subscribe
    for start in range(0, len(topics), 200):
        raw.subscribe([(t, 1) for t in topics[start : start + 200]])
        expected += 1
    out.subscribe([(f"{PREFIX}/estates/+/grade", 1), (f"{PREFIX}/estates/+/alarms", 1)])
    expected += 1
    for _ in range(expected):
        if not acks.acquire(timeout=30):
            raise SystemExit("probe: SUBACK missing")
    time.sleep(0.5)  # retained grades arrive now
    print("ready", flush=True)

    low = dict.fromkeys((d for d, _ in hydrants), False)
    seqs: dict[str, int] = defaultdict(int)
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        name = command[1]
        alarms: list[list[str]] = plan["alarm_sets"][name]
        toggles: list[dict[str, Any]] = []
        alarm_events: list[dict[str, Any]] = []
        t0 = time.perf_counter() + 0.05
        last_report = t0
        for k in range(events):
            for half in (0, 1):
                delay = t0 + (k + half / 2) / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                if half == 0:
                    device, estate = hydrants[k % len(hydrants)]
                    low[device] = not low[device]
                    pressure = LOW_MPA if low[device] else HEALTHY_MPA
                    body: dict[str, Any] = {"pressure": pressure, "battery": 95, "status": 0}
                    topic = f"fire/hydrant/{device}/up"
                else:
                    device, estate = alarms[k]
                    body = {"event": "alarm", "battery": 90, "smoke": 0.4}
                    topic = f"fire/smoke/{device}/up"
                seqs[device] += 1
                payload = json.dumps(
                    {"id": device, "seq": seqs[device], "ts": int(time.time() * 1000), **body}
                )
                t_pub = time.time()
                pub.publish(topic, payload, qos=1)
                row: dict[str, Any] = {
                    "device": device,
                    "estate": estate,
                    "seq": seqs[device],
                    "t_pub": t_pub,
                }
                if half == 0:
                    row["colour"] = "yellow" if low[device] else "green"
                    toggles.append(row)
                else:
                    alarm_events.append(row)
            if time.perf_counter() - last_report > 5:
                last_report = time.perf_counter()
                log_progress(f"    ... {k + 1:,} of {events:,} toggles and alarms published")

        deadline = time.time() + 15  # stragglers: a gateway that fell behind shows as late, then missing
        while time.time() < deadline and not _complete(toggles, alarm_events, raw_seen, grades, alarm_mqtt):
            time.sleep(0.1)
        time.sleep(0.3)
        pointer: dict[str, int] = defaultdict(int)
        for row in toggles:
            row["t_raw"] = raw_seen.get(f"{row['device']}/{row['seq']}")
            row["t_out"] = None
            received = grades[row["estate"]]
            for j in range(pointer[row["estate"]], len(received)):
                t, colour = received[j]
                if t >= row["t_pub"] and colour == row["colour"]:
                    row["t_out"] = t
                    pointer[row["estate"]] = j + 1
                    break
        for row in alarm_events:
            row["t_raw"] = raw_seen.get(f"{row['device']}/{row['seq']}")
            row["t_out"] = alarm_mqtt.get(row["device"])
        print(json.dumps({"toggles": toggles, "alarms": alarm_events}), flush=True)
    for c in (pub, raw, out):
        c.disconnect()
        c.loop_stop()


def _complete(
    toggles: list[dict[str, Any]],
    alarms: list[dict[str, Any]],
    raw_seen: dict[str, float],
    grades: dict[str, list[tuple[float, str]]],
    alarm_mqtt: dict[str, float],
) -> bool:
    """True once the probe has seen everything a phase should produce."""
    if any(f"{r['device']}/{r['seq']}" not in raw_seen for r in toggles + alarms):
        return False
    if any(r["device"] not in alarm_mqtt for r in alarms):
        return False
    start = toggles[0]["t_pub"] if toggles else 0.0
    return sum(1 for received in grades.values() for t, _ in received if t >= start) >= len(toggles)


# ================================================================================ part 1: latency


def live_fleet(args: argparse.Namespace) -> tuple[Registry, dict[str, Any]]:
    """The fleet, with one event hydrant per estate, and the plan the helper processes read."""
    base = generate_fleet(
        estates=args.live_estates,
        smoke_per_estate=40,
        hydrants_per_estate=8,
        cameras_per_estate=2,
        modbus_share=0.0,
        seed=7,
        gbt_share=0.0,
        ctwing_share=0.0,
    )
    by_estate: dict[str, list[Device]] = defaultdict(list)
    for d in base.devices:
        by_estate[d.estate_id].append(d)
    event_hydrants = {
        next(d for d in devices if d.kind is DeviceKind.HYDRANT).id: estate
        for estate, devices in by_estate.items()
    }
    devices = tuple(
        d.model_copy(update={"thresholds": {**d.thresholds, **EVENT_THRESHOLDS}})
        if d.id in event_hydrants
        else d
        for d in base.devices
    )
    registry = Registry.model_validate(
        {"estates": base.estates, "buildings": base.buildings, "devices": devices}
    )
    # Alarm detectors round-robin over the estates, a fresh set per phase.
    smoke_lists = [[d for d in by_estate[e.id] if d.kind is DeviceKind.SMOKE_DETECTOR] for e in base.estates]
    detectors = [lst[i] for i in range(max(map(len, smoke_lists))) for lst in smoke_lists if i < len(lst)]
    if len(detectors) < 2 * args.events:
        raise SystemExit(
            f"--events {args.events}: the fleet has only {len(detectors)} detectors for two phases"
        )
    alarm_sets = {
        "baseline": [[d.id, d.estate_id] for d in detectors[: args.events]],
        "loaded": [[d.id, d.estate_id] for d in detectors[args.events : 2 * args.events]],
    }
    used = {d for ds in alarm_sets.values() for d, _ in ds} | set(event_hydrants)
    plan = {
        "events": args.events,
        "event_rate": args.event_rate,
        "event_hydrants": [[d, e] for d, e in event_hydrants.items()],
        "alarm_sets": alarm_sets,
        "smoke": [d.id for d in registry.devices if d.kind is DeviceKind.SMOKE_DETECTOR and d.id not in used],
        "hydrants": [d.id for d in registry.devices if d.kind is DeviceKind.HYDRANT and d.id not in used],
    }
    return registry, plan


class Watch:
    """In-process subscribers: the live feed and the engine's updates, with the time each item arrived; and
    the event loop's stalls (a 5 ms sleep that overshoots), with when they ended."""

    def __init__(self) -> None:
        self.live_alarm: dict[str, float] = {}
        self.update_alarm: dict[str, float] = {}
        self.grades: dict[str, list[tuple[float, str]]] = defaultdict(list)
        self.stalls: list[tuple[float, float]] = []

    async def lag(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            late = time.perf_counter() - t - 0.005
            if late > 0.01:
                self.stalls.append((time.time(), late * 1000))

    async def live(self, queue: asyncio.Queue[Any]) -> None:
        while True:
            item = await queue.get()
            if item.event.type is EventType.ALARM:
                self.live_alarm.setdefault(item.device.id, time.time())

    async def updates(self, queue: asyncio.Queue[Any]) -> None:
        while True:
            item = await queue.get()
            t = time.time()
            if item.kind == "alarm" and item.data.get("action") == "raise":
                self.update_alarm.setdefault(item.data["device"], t)
            elif item.kind == "grade":
                self.grades[item.estate_id].append((t, item.data["grade"]))


def phase_latencies(result: dict[str, Any], watch: Watch) -> dict[str, Any]:
    """Latencies in ms per measured path, and how many events each path never saw."""
    out: dict[str, list[float]] = defaultdict(list)
    missing: dict[str, int] = defaultdict(int)

    def add(name: str, t_pub: float, t: float | None) -> None:
        if t is None:
            missing[name] += 1
        else:
            out[name].append((t - t_pub) * 1000)

    pointer: dict[str, int] = defaultdict(int)
    for row in result["toggles"]:
        add("raw", row["t_pub"], row["t_raw"])
        add("grade_mqtt", row["t_pub"], row["t_out"])
        received, t_in = watch.grades[row["estate"]], None
        for j in range(pointer[row["estate"]], len(received)):
            t, colour = received[j]
            if t >= row["t_pub"] and colour == row["colour"]:
                t_in, pointer[row["estate"]] = t, j + 1
                break
        add("grade_inproc", row["t_pub"], t_in)
    for row in result["alarms"]:
        add("raw", row["t_pub"], row["t_raw"])
        add("alarm_live", row["t_pub"], watch.live_alarm.get(row["device"]))
        add("alarm_updates", row["t_pub"], watch.update_alarm.get(row["device"]))
        add("alarm_mqtt", row["t_pub"], row["t_out"])
    result_out: dict[str, Any] = dict(out)
    result_out["missing"] = dict(missing)
    return result_out


async def run_phase(probe: asyncio.subprocess.Process, name: str) -> dict[str, Any]:
    assert probe.stdin is not None
    assert probe.stdout is not None
    probe.stdin.write(f"phase {name}\n".encode())
    await probe.stdin.drain()
    line = await probe.stdout.readline()
    if not line:
        raise SystemExit("the probe process ended early")
    result: dict[str, Any] = json.loads(line)
    return result


async def part_live(args: argparse.Namespace) -> dict[str, Any]:
    from gateway.app import Gateway
    from gateway.config import parse_config
    from gateway.ingest.sinks.sqlite import SqliteSink
    from tests.services import MosquittoService

    t_build = time.perf_counter()
    registry, plan = live_fleet(args)
    log_progress(
        f"part 1: {len(registry.estates)} estates, {len(registry.devices):,} devices; "
        f"{len(plan['event_hydrants'])} event hydrants, {2 * args.events:,} alarm detectors, "
        f"{len(plan['smoke']) + len(plan['hydrants']):,} background devices "
        f"(fleet built in {time.perf_counter() - t_build:.1f} s)"
    )
    mq = MosquittoService()
    # the production window (deploy/mosquitto/mosquitto.conf), not the test fixture's small one
    mq.config_path.write_text(
        mq.config_path.read_text().replace("max_inflight_messages 100", "max_inflight_messages 1000")
    )
    mq.start()
    results: dict[str, Any] = {"devices": len(registry.devices), "estates": len(registry.estates)}
    tasks: list[asyncio.Task[Any]] = []
    procs: list[asyncio.subprocess.Process] = []
    with tempfile.TemporaryDirectory(prefix="firegw-rules-bench-") as tmp:
        work = Path(tmp)
        plan_path = work / "plan.json"
        plan_path.write_text(json.dumps(plan))
        # The gateway logs INFO (one line per grade change) as in production, to a file; warnings here.
        file_log = logging.FileHandler(work / "gateway.log")
        file_log.setLevel(logging.INFO)
        console = logging.StreamHandler()
        console.setLevel(logging.WARNING)
        logging.basicConfig(level=logging.INFO, handlers=[file_log, console], force=True)
        config = parse_config(
            {
                "gateway": {"id": "rules-bench", "data_dir": "data", "stats_interval_s": 5.0},
                "mqtt": {"host": mq.host, "port": mq.port, "client_id": "rules-bench-gateway"},
                "storage": {"kind": "sqlite"},
                "modbus": {"enabled": False},
                "api": {"enabled": False},
                "auth": {"enabled": False},
                "rules": {"tick_interval_s": 1.0},
            },
            source="rules-bench",
            base=work,
        )
        gateway = Gateway(config, registry)
        assert gateway.engine is not None
        assert gateway.publisher is not None
        engine, publisher = gateway.engine, gateway.publisher
        running = asyncio.create_task(gateway.run(), name="gateway")
        try:
            await asyncio.wait_for(gateway.ready.wait(), 30)
            assess_all(engine)
            while not publisher.connected or publisher.pending:
                await asyncio.sleep(0.05)
            watch = Watch()
            tasks.append(asyncio.create_task(watch.live(gateway.live.subscribe())))
            tasks.append(asyncio.create_task(watch.updates(engine.outbox.updates.subscribe())))
            tasks.append(asyncio.create_task(watch.lag()))
            here = os.path.abspath(__file__)
            probe = await asyncio.create_subprocess_exec(
                sys.executable,
                here,
                "--role",
                "probe",
                mq.host,
                str(mq.port),
                str(plan_path),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=64 << 20,  # a phase's result is one JSON line
            )
            procs.append(probe)
            assert probe.stdout is not None
            if (await asyncio.wait_for(probe.stdout.readline(), 60)).strip() != b"ready":
                raise SystemExit("the probe did not start")
            seconds = args.events / args.event_rate

            log_progress(
                f"  baseline: no background load; {args.events:,} toggles + {args.events:,} alarms "
                f"at {args.event_rate:g}/s each ({seconds:.0f} s) ..."
            )
            assert mq.process is not None
            pids = {"gateway (this process)": os.getpid(), "mosquitto": mq.process.pid, "probe": probe.pid}
            meter = CpuMeter(pids)
            baseline = await run_phase(probe, "baseline")
            results["baseline_cpu"] = meter.stop()
            results["baseline"] = phase_latencies(baseline, watch)
            results["baseline"]["stalls"] = list(watch.stalls)
            watch.stalls.clear()

            log_progress(f"  loaded: background publisher at {args.rate:,} msg/s ...")
            background = await asyncio.create_subprocess_exec(
                sys.executable,
                here,
                "--role",
                "background",
                mq.host,
                str(mq.port),
                str(args.rate),
                str(plan_path),
                stdout=asyncio.subprocess.PIPE,
            )
            procs.append(background)
            progress: list[tuple[float, int]] = []  # (time, messages sent so far)

            async def follow() -> None:
                assert background.stdout is not None
                async for line in background.stdout:
                    n, _acked, at = line.split()
                    progress.append((float(at), int(n)))

            following = asyncio.create_task(follow())
            tasks.append(following)
            await asyncio.sleep(args.warmup)
            records0, wall0 = gateway.stats.records_in, time.time()
            meter = CpuMeter({**pids, "background publisher": background.pid})
            t0 = time.perf_counter()
            log_progress(f"  loaded: {args.events:,} toggles + {args.events:,} alarms ({seconds:.0f} s) ...")
            loaded = await run_phase(probe, "loaded")
            window = time.perf_counter() - t0
            records = gateway.stats.records_in - records0
            results["loaded"] = phase_latencies(loaded, watch)
            results["loaded"]["stalls"] = list(watch.stalls)
            if args.dump:
                Path(args.dump).write_text(
                    json.dumps(
                        {
                            "baseline": baseline,
                            "loaded": loaded,
                            "live_alarm": watch.live_alarm,
                            "update_alarm": watch.update_alarm,
                            "grades": watch.grades,
                            "stalls": {"baseline": results["baseline"]["stalls"], "loaded": watch.stalls},
                        }
                    )
                )
            results["window_s"] = window
            results["background_in"] = (records - 2 * args.events) / window
            inside = [(t, n) for t, n in progress if t >= wall0]
            results["background_sent"] = (
                (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0]) if len(inside) > 1 else 0.0
            )
            results["loaded_cpu"] = meter.stop()
            background.terminate()
            await background.wait()
            await asyncio.wait_for(following, 10)  # its final count
            # Wait until the gateway has taken in everything it was sent (a backlog shows here), so that
            # the totals are complete and nothing is in flight when it stops.
            expected = progress[-1][1] + 4 * args.events if progress else 0
            t_stop = time.perf_counter()
            while gateway.stats.records_in < expected and time.perf_counter() - t_stop < 20:
                await asyncio.sleep(0.05)
            results["drain_s"] = time.perf_counter() - t_stop
            results["expected_in"] = expected
            await asyncio.sleep(1.0)
            assert isinstance(gateway.sink, SqliteSink)
            results["records_in"] = gateway.stats.records_in
            results["rejects"] = gateway.stats.rejects_total
            results["points_written"] = gateway.sink.points_written
            results["engine"] = {
                "hazards_opened": engine.counters.hazards_opened,
                "hazards_auto_closed": engine.counters.hazards_auto_closed,
                "grade_changes": engine.counters.grade_changes,
                "alarms_raised": engine.counters.alarms_raised,
                "store_errors": engine.counters.store_errors,
                "feed_dropped": gateway.live.dropped + engine.outbox.updates.dropped,
                "publisher_dropped": publisher.dropped,
            }
            probe.stdin.write(b"quit\n")  # type: ignore[union-attr]
            await probe.wait()
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            for task in tasks:
                task.cancel()
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            if isinstance(gateway.sink, SqliteSink):
                with contextlib.suppress(Exception):
                    results["points_stored"] = SqliteSink(gateway.sink.path).count()
            mq.close()
            logging.getLogger().handlers.clear()
    return results


# ================================================================================ part 2: a city


def run_registry(estates: int, trace: bool) -> None:
    """Builds the city, times the engine's whole-city operations; prints one JSON line."""
    import tracemalloc

    from gateway.casework.engine import RuleEngine
    from gateway.models import utc_now
    from gateway.store import HazardStore
    from rules.policy import load_policy

    out: dict[str, Any] = {"estates": estates}

    def mark() -> tuple[float, float]:
        gc.collect()
        return rss_mib(), (tracemalloc.get_traced_memory()[0] / 2**20 if trace else float("nan"))

    if trace:
        tracemalloc.start()
    m0 = mark()
    t = time.perf_counter()
    registry = generate_fleet(
        estates=estates, smoke_per_estate=80, hydrants_per_estate=15, cameras_per_estate=5,
        modbus_share=0.0, seed=4,
    )  # fmt: skip
    out["registry_s"] = time.perf_counter() - t
    m1 = mark()
    out["devices"] = len(registry.devices)
    log_progress(f"  registry: {out['devices']:,} devices built in {out['registry_s']:.1f} s")
    # One hydrant in each of 200 estates judges every reading at once, for the per-event costs below.
    step = max(1, estates // 200)
    probes = {f"HY-{e.id}-01" for e in registry.estates[::step]}
    registry = Registry.model_validate(
        {
            "estates": registry.estates,
            "buildings": registry.buildings,
            "devices": tuple(
                d.model_copy(update={"thresholds": {**d.thresholds, **EVENT_THRESHOLDS}})
                if d.id in probes
                else d
                for d in registry.devices
            ),
        }
    )
    with tempfile.TemporaryDirectory(prefix="firegw-rules-city-") as tmp:
        store = HazardStore(f"sqlite:///{Path(tmp) / 'hazards.sqlite'}")
        policy = load_policy()
        m1b = mark()
        t = time.perf_counter()
        engine = RuleEngine(registry, policy, store, clock=utc_now)
        out["engine_s"] = time.perf_counter() - t
        t = time.perf_counter()
        assess_all(engine)
        out["assess_s"] = time.perf_counter() - t
        m2 = mark()
        if trace:
            tracemalloc.stop()  # it slows everything several times; the timings below are untraced
        log_progress(f"  RuleEngine built in {out['engine_s']:.1f} s; opening hazards ...")

        # Open hazards in a share of the estates, through the same paths as in production.
        t = time.perf_counter()
        now = utc_now()
        early: list[tuple[Device, Record]] = []
        items: list[tuple[Device, Record]] = []
        for i, estate in enumerate(registry.estates):
            devices = [engine.fleet.devices[d] for d in engine.fleet.estate_devices[estate.id]]
            smoke = [d for d in devices if d.kind is DeviceKind.SMOKE_DETECTOR]
            hydrants = [d for d in devices if d.kind is DeviceKind.HYDRANT]
            if i % 4 == 0:  # 1..6 faulty detectors of 80: up to 4 within the 95 % tolerance, more beyond it
                for d in smoke[: 1 + (i // 4) % 6]:
                    items.append((d, DeviceEvent(device_id=d.id, time=now, type=EventType.FAULT)))
            if i % 10 == 3:  # a failed hydrant: 0.02 MPa for longer than its hold time
                h = hydrants[-1]
                early.append((h, Reading(device_id=h.id, time=now, metrics={"pressure_mpa": 0.02})))
                items.append((h, Reading(device_id=h.id, time=now, metrics={"pressure_mpa": 0.02})))
            if i % 7 == 5:
                engine.hazards.file(
                    estate_id=estate.id, criterion=("Y3", "R4", "G7")[i % 3], location="",
                    description="bench", reporter="bench", now=now,
                )  # fmt: skip
            if i % 13 == 0:
                for _ in range(1 + i % 3):
                    engine.incidents.add_complaint(
                        estate_id=estate.id, received_at=now - timedelta(days=30), channel="12345",
                        description="bench", reporter="bench", now=now,
                    )  # fmt: skip
        engine.on_records(early, now - timedelta(seconds=400))
        engine.on_records(items, now)
        out["setup_s"] = time.perf_counter() - t
        m3 = mark()
        out["open_hazards"] = sum(len(v) for v in engine.index.open.values())
        colours: dict[str, int] = defaultdict(int)
        for grade in engine.grader.grades.values():
            colours[grade.colour] += 1
        out["colours"] = dict(colours)
        log_progress(
            f"  {out['open_hazards']:,} open hazards in {out['setup_s']:.1f} s; grades "
            + ", ".join(f"{k} {v}" for k, v in sorted(colours.items()))
            + "; timing regrade_all ..."
        )
        times = []
        for _ in range(5):
            t = time.perf_counter()
            engine.grader.regrade_all(now)
            times.append(time.perf_counter() - t)
        out["regrade_s"] = times
        if os.environ.get("FIREGW_BENCH_PROFILE"):  # where the re-grade's time goes (stderr)
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.runcall(engine.grader.regrade_all, now)
            pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(15)
        t = time.perf_counter()
        engine.grader.regrade_all(now, repeat=True)
        out["regrade_repeat_s"] = time.perf_counter() - t
        out["repeat_points"] = len(engine.outbox.points)
        engine.outbox.points.clear()
        t = time.perf_counter()
        engine.tick(now + timedelta(seconds=engine.offline_sweep_s + 1))
        out["sweep_s"] = time.perf_counter() - t

        # What one event costs the event loop (on_records for a batch holding just that record): a hydrant
        # toggle (0.35 -> 0.02 MPa: a sudden drop, one hazard, a grade change; and back), and
        # a smoke alarm (an alarm record).
        log_progress("  per-event engine cost ...")
        hydrants = [engine.fleet.devices[d] for d in sorted(probes)]
        detectors = [engine.fleet.devices[f"SD-{h.estate_id}-0010"] for h in hydrants]
        toggle_ms: list[float] = []
        alarm_ms: list[float] = []
        changes0 = engine.counters.grade_changes
        for rnd, pressure in enumerate((HEALTHY_MPA, LOW_MPA, HEALTHY_MPA, LOW_MPA, HEALTHY_MPA)):
            at = now + timedelta(seconds=60 + rnd)
            for h in hydrants:
                reading = Reading(device_id=h.id, time=at, metrics={"pressure_mpa": pressure})
                t = time.perf_counter()
                engine.on_records([(h, reading)], at)
                if rnd:
                    toggle_ms.append((time.perf_counter() - t) * 1000)
        out["toggle_grade_changes"] = engine.counters.grade_changes - changes0
        at = now + timedelta(seconds=70)
        for d in detectors:
            event = DeviceEvent(
                device_id=d.id, time=at, type=EventType.ALARM, attributes={"smoke_obscuration": 0.4}
            )
            t = time.perf_counter()
            engine.on_records([(d, event)], at)
            alarm_ms.append((time.perf_counter() - t) * 1000)
        out["toggle_ms"] = toggle_ms
        out["alarm_ms"] = alarm_ms
        store.close()
    out["registry_rss_mib"] = m1[0] - m0[0]
    out["engine_rss_mib"] = m2[0] - m1b[0]
    out["hazards_rss_mib"] = m3[0] - m2[0]
    out["registry_traced_mib"] = m1[1] - m0[1]
    out["engine_traced_mib"] = m2[1] - m1b[1]
    print(json.dumps(out), flush=True)


def part_city(args: argparse.Namespace) -> dict[str, Any]:
    log_progress(f"part 2: a city of {args.estates:,} estates x 100 devices (fresh process) ...")
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--role",
        "registry",
        "--estates",
        str(args.estates),
    ]
    if args.tracemalloc:
        command.append("--tracemalloc")
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ================================================================================ the summary


ROWS = (
    ("raw", "raw broker round trip (plain paho subscriber)"),
    ("alarm_live", "(a) alarm on the live feed: gateway.live device event"),
    ("alarm_updates", "(a) alarm on the live feed: engine.outbox.updates 'alarm'"),
    ("alarm_mqtt", "    alarm event on MQTT firegw/estates/+/alarms"),
    ("grade_inproc", "    grade change on engine.outbox.updates (in-process)"),
    ("grade_mqtt", "(b) grade retained on MQTT firegw/estates/+/grade"),
)


def summary_live(args: argparse.Namespace, live: dict[str, Any]) -> list[str]:
    """Prints part 1; returns the targets missed."""
    print(
        f"part 1: {live['estates']} estates, {live['devices']:,} devices; per phase {args.events:,} "
        f"hydrant toggles (each a grade change) + {args.events:,} smoke alarms, {args.event_rate:g}/s each"
    )
    print(f"  {'latency from publish, ms':<58} {'n':>5} {'p50':>7} {'p99':>7} {'max':>7}  missing")
    for phase in ("baseline", "loaded"):
        load = (
            "no background load" if phase == "baseline" else f"background {live['background_in']:,.0f} msg/s"
        )
        print(f"  {phase} ({load})")
        data = live[phase]
        for key, label in ROWS:
            v = data.get(key, [])
            lost = data["missing"].get(key, 0)
            figures = (
                f"{pct(v, 50):7.1f} {pct(v, 99):7.1f} {max(v):7.1f}" if v else f"{'-':>7} {'-':>7} {'-':>7}"
            )
            print(f"    {label:<56} {len(v):>5} {figures}  {lost}")
    print(
        f"  background: asked {args.rate:,} msg/s; the publisher sent {live['background_sent']:,.0f} msg/s, "
        f"the gateway took in {live['background_in']:,.0f} msg/s ({live['window_s']:.1f} s loaded phase)"
    )
    behind = live["expected_in"] - live["records_in"]
    drained = f"{live['drain_s']:.1f} s" if behind <= 0 else f"more than {live['drain_s']:.0f} s (gave up)"
    print(
        f"  backlog: after the load stopped the gateway needed {drained} to take in what it had been sent; "
        f"records in {live['records_in']:,} of {live['expected_in']:,}, rejected {live['rejects']}"
    )
    print(
        f"  stored: {live['points_written']:,} points written to the SQLite telemetry store, "
        f"{live.get('points_stored', 0):,} rows there at the end (telemetry + rule points)"
    )
    e = live["engine"]
    print(
        f"  engine: {e['hazards_opened']:,} hazards opened, {e['hazards_auto_closed']:,} auto-closed, "
        f"{e['grade_changes']:,} grade changes, {e['alarms_raised']:,} alarms; store errors "
        f"{e['store_errors']}, feed items dropped {e['feed_dropped']}, MQTT events dropped "
        f"{e['publisher_dropped']}"
    )
    for phase in ("baseline", "loaded"):
        stalls = [ms for _, ms in live[phase]["stalls"]]
        print(
            f"  event-loop stalls > 10 ms, {phase}: {len(stalls)}, {sum(stalls) / 1000:.1f} s in all, "
            f"longest {max(stalls, default=0):.0f} ms"
        )
    for phase in ("baseline", "loaded"):
        cpu = live[f"{phase}_cpu"]
        print(f"  CPU, {phase} (cores busy): " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
        if cpu["other processes"] + cpu["steal"] > 0.25:
            print(f"  !! other work on the machine (or the hypervisor) took CPU in the {phase}: run it again")
    missed = []
    for key, label in (("alarm_updates", "(a) alarm on the live feed"), ("grade_mqtt", "(b) grade on MQTT")):
        v = live["loaded"].get(key, [])
        lost = live["loaded"]["missing"].get(key, 0)
        p99 = pct(v, 99) if v else float("inf")
        why = []
        if p99 > TARGET_MS:
            why.append(f"p99 {p99:.1f} ms")
        if lost:
            why.append(f"{lost} never arrived")
        if live["background_in"] < 5000:
            why.append(f"the gateway took in only {live['background_in']:,.0f} msg/s")
        verdict = "MISSED: " + ", ".join(why) if why else f"met (p99 {p99:.1f} ms)"
        print(f"  target {label}, p99 <= {TARGET_MS:.0f} ms at >= 5,000 msg/s: {verdict}")
        if why:
            missed.append(label)
    return missed


def summary_city(args: argparse.Namespace, city: dict[str, Any]) -> None:
    traced = " (time under tracemalloc)" if args.tracemalloc else ""
    print(f"part 2: {city['devices']:,} devices across {city['estates']:,} estates")
    print(
        f"  registry built (generate_fleet)  {city['registry_s']:6.1f} s  "
        f"+{city['registry_rss_mib']:.0f} MiB RSS"
        + (f", {city['registry_traced_mib']:.0f} MiB traced{traced}" if args.tracemalloc else "")
    )
    print(
        f"  RuleEngine on it (with restore)  {city['engine_s']:6.1f} s  +{city['engine_rss_mib']:.0f} MiB RSS"
        + (f", {city['engine_traced_mib']:.0f} MiB traced{traced}" if args.tracemalloc else "")
    )
    if "assess_s" in city:
        print(f"  every estate assessed (one record each, graded)  {city['assess_s']:6.1f} s")
    colours = ", ".join(f"{k} {v}" for k, v in sorted(city["colours"].items()))
    print(
        f"  open hazards: {city['open_hazards']:,} (opened in {city['setup_s']:.1f} s, "
        f"+{city['hazards_rss_mib']:.0f} MiB RSS); grades: {colours}"
    )
    r = [x * 1000 for x in city["regrade_s"]]
    print(f"  regrade_all: median {statistics.median(r):.0f} ms (min {min(r):.0f}, max {max(r):.0f}, 5 runs)")
    print(
        f"  regrade_all(repeat=True), every grade_repeat_s: {city['regrade_repeat_s'] * 1000:.0f} ms "
        f"({city['repeat_points']:,} points)"
    )
    print(f"  offline sweep (tick every offline_sweep_s = 30 s): {city['sweep_s'] * 1000:.0f} ms")
    toggles, alarms = city["toggle_ms"], city["alarm_ms"]
    print(
        f"  engine.on_records for one hydrant toggle (a grade change): median "
        f"{statistics.median(toggles):.1f} ms, p99 {pct(toggles, 99):.1f} ms "
        f"({len(toggles)} toggles, {city['toggle_grade_changes']} grade changes)"
    )
    print(
        f"  engine.on_records for one smoke alarm: median {statistics.median(alarms):.1f} ms, "
        f"p99 {pct(alarms, 99):.1f} ms ({len(alarms)} alarms)"
    )
    print("  (all of these run synchronously on the gateway's event loop)")


def summary(args: argparse.Namespace, live: dict[str, Any], city: dict[str, Any]) -> None:
    print(f"\n== firegw rules benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]} ==")
    missed = summary_live(args, live) if live else []
    if city:
        summary_city(args, city)
    if missed:
        print("TARGET MISSED: " + "; ".join(missed))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    # 10 % above the target's 5,000 msg/s: what the gateway takes in is measured over the loaded window and
    # can come out a few messages short of what was asked, and the target is "at least 5,000".
    parser.add_argument("--rate", type=int, default=5500, help="background messages/s (default 5500)")
    parser.add_argument("--events", type=int, default=1000, help="events of each kind per phase")
    parser.add_argument("--event-rate", type=float, default=20.0, help="events of each kind per second")
    parser.add_argument("--live-estates", type=int, default=200, help="estates in part 1 (50 devices each)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of background load before events")
    parser.add_argument("--estates", type=int, default=2000, help="estates in part 2 (100 devices each)")
    parser.add_argument("--tracemalloc", action="store_true", help="part 2: also trace Python allocations")
    parser.add_argument("--dump", metavar="PATH", help="part 1: write every event's times as JSON to PATH")
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--skip-city", action="store_true")
    parser.add_argument("--role", choices=("probe", "background", "registry"), help=argparse.SUPPRESS)
    parser.add_argument("role_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "probe":
        run_probe(args.role_args[0], int(args.role_args[1]), args.role_args[2])
        return
    if args.role == "background":
        run_background(args.role_args[0], int(args.role_args[1]), float(args.role_args[2]), args.role_args[3])
        return
    if args.role == "registry":
        run_registry(args.estates, args.tracemalloc)
        return
    started = time.perf_counter()
    live = {} if args.skip_live else asyncio.run(part_live(args))
    city = {} if args.skip_city else part_city(args)
    summary(args, live, city)
    print(f"(whole run {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
