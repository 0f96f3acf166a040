"""Ingest benchmark: a bare paho-mqtt subscriber vs the gateway end to end, on a real Mosquitto + InfluxDB.

    make bench                                  # 200,000 messages across 10,000 devices
    make bench ARGS="--devices 2000 --per-device 10"

Method (the same for both contenders, in the same run):
1. The consumer's persistent session (clean_session=false, QoS 1) is created on a private Mosquitto.
2. A separate publisher process publishes the whole burst at QoS 1 while the consumer is away; Mosquitto
   queues it for the session. This takes the publisher's own speed (a Python publisher manages far less
   than a consumer here) out of what is measured.
3. The consumer connects and drains the queue. Baseline: a bare paho-mqtt subscriber that only counts
   (the practical ceiling of a Python MQTT client). Gateway: ``firegw run`` in its own process, decoding,
   validating, buffering durably and writing to InfluxDB 1.x; its time ends when InfluxDB holds every point:
   when the point of the burst's last reading is stored (telemetry is stored in arrival order), checked by
   counting every point at that moment ("stored when timed" must equal the burst).

It prints both rates, their ratio, the points lost, and the gateway's peak memory (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collectors.mqtt.transport import MAX_BATCH  # noqa: E402
from gateway.ingest.registry import Registry, registry_to_toml  # noqa: E402
from simulators.burst import make_burst  # noqa: E402
from simulators.fleet import generate_fleet  # noqa: E402
from tests.services import InfluxService, MosquittoService  # noqa: E402

MEASUREMENTS = ("smoke_detector", "hydrant", "camera", "device_event")

BASELINE = textwrap.dedent(
    """
    import sys, time, json
    import paho.mqtt.client as mqtt
    host, port, n, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-baseline", clean_session=False)
    if mode == "prepare":
        c.connect(host, port); c.loop_start(); c.subscribe("fire/#", qos=1); c.subscribe("ctwing/#", qos=1)
        time.sleep(0.5); c.disconnect(); c.loop_stop(); sys.exit(0)
    count = 0; first = None
    def on_message(client, userdata, message):
        global count, first
        if first is None: first = time.perf_counter()
        count += 1
    c.on_message = on_message
    c.connect(host, port); c.loop_start()
    deadline = time.time() + 600
    while count < n and time.time() < deadline: time.sleep(0.005)
    last = time.perf_counter()
    print(json.dumps({"count": count, "seconds": last - first}))
    """
)

PUBLISHER = textwrap.dedent(
    """
    import sys, json, time
    sys.path.insert(0, sys.argv[3])
    from simulators.burst import burst
    with open(sys.argv[4], "rb") as fh:
        messages = [(t, p.encode("latin-1")) for t, p in json.load(fh)]
    t0 = time.perf_counter()
    stats = burst(sys.argv[1], int(sys.argv[2]), messages, 1)
    print(json.dumps({"sent": stats.sent, "seconds": time.perf_counter() - t0}))
    """
)


def publish(mq: MosquittoService, burst_file: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", PUBLISHER, mq.host, str(mq.port), str(ROOT), str(burst_file)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def stored(influx: InfluxService, db: str) -> int:
    return sum(influx.count_points(db, m) for m in MEASUREMENTS)


def mqtt_batch_size(influx: InfluxService, db: str) -> float:
    """Messages per hand-over to the pipeline, from the gateway's own counters."""
    query = 'SELECT last("mqtt_messages") AS m, last("mqtt_batches") AS b FROM "gateway_stats"'
    rows = influx.rows(query, db)
    return float(rows[0]["m"]) / float(rows[0]["b"]) if rows and rows[0]["b"] else float("nan")


def points_written(influx: InfluxService, db: str) -> int:
    rows = influx.rows('SELECT last("sink_points_written") AS n FROM "gateway_stats"', db)
    return int(rows[0]["n"]) if rows else 0


def run_baseline(mq: MosquittoService, burst_file: Path, n: int) -> float:
    subprocess.run([sys.executable, "-c", BASELINE, mq.host, str(mq.port), "0", "prepare"], check=True)
    pub = publish(mq, burst_file)
    print(f"  publisher: {pub['sent']:,.0f} messages queued in {pub['seconds']:.1f} s")
    out = subprocess.run(
        [sys.executable, "-c", BASELINE, mq.host, str(mq.port), str(n), "drain"],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout)
    if result["count"] != n:
        raise SystemExit(f"baseline received {result['count']} of {n} messages")
    return float(n / result["seconds"])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return float("nan")


def last_point_query(registry: Registry, messages: Sequence[tuple[str, bytes | str]]) -> str:
    """InfluxQL that finds the point of the burst's last telemetry message (a reading, not an alarm or
    fault, which take the priority lane), decoded with the gateway's own decoders."""
    import paho.mqtt.client as paho

    from collectors.decoders import make_decoder
    from collectors.mqtt.config import DEFAULT_SUBSCRIPTIONS
    from gateway.ingest.schema import READING_MEASUREMENT, time_ns
    from gateway.models import Reading

    routes = [(sub.topic, make_decoder(sub.decoder, sub.options)) for sub in DEFAULT_SUBSCRIPTIONS]
    for topic, payload in reversed(messages):
        decoder = next(dec for flt, dec in routes if paho.topic_matches_sub(flt, topic))
        raw = payload if isinstance(payload, bytes) else payload.encode()
        for record in decoder.decode(topic, raw):
            device = registry.resolve(record.device_id)
            if isinstance(record, Reading) and device is not None:
                measurement = READING_MEASUREMENT[device.kind]
                return (
                    f'SELECT * FROM "{measurement}" WHERE "device" = \'{device.id}\''
                    f" AND time = {time_ns(record.time)}"
                )
    raise SystemExit("the burst has no reading to stop the clock on")


def run_gateway(
    mq: MosquittoService,
    influx: InfluxService,
    burst_file: Path,
    registry_file: Path,
    n: int,
    workdir: Path,
    last_query: str,
) -> dict[str, float]:
    db = "bench"
    influx.create_database(db)
    assert mq.process is not None
    assert influx.process is not None
    peers = {"mosquitto": mq.process.pid, "influxd": influx.process.pid}
    config = workdir / "gateway.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [gateway]
            id = "bench"
            registry = "{registry_file}"
            data_dir = "{workdir / "data"}"
            log_level = "INFO"
            stats_interval_s = 0.1
            [mqtt]
            host = "{mq.host}"
            port = {mq.port}
            client_id = "bench-gateway"
            inbox_high_watermark = {int(os.environ.get("FIREGW_BENCH_HIGH_WATERMARK", "20000"))}
            [storage]
            kind = "influx_v1"
            url = "{influx.url}"
            database = "{db}"
            [modbus]
            enabled = false
            """
        )
    )
    firegw = [sys.executable, "-m", "gateway.cli", "run", "--config", str(config), "--quiet"]
    profile = os.environ.get("FIREGW_BENCH_PROFILE")  # a path: profile the measured gateway run
    profiled = firegw
    if profile and profile.endswith(".txt"):  # sampling profile (py-spy, collapsed stacks): no distortion
        # ".idle.txt": also sample waiting threads; ".gil.txt": only the thread holding the GIL (Python CPU)
        suffix = "." + ".".join(profile.split(".")[-2:])
        extra = {".idle.txt": ["--idle"], ".gil.txt": ["--gil"]}.get(suffix, [])
        py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"  # the venv's first
        profiled = [py_spy, "record", "-r", "250", *extra, "-f", "raw", "-o", profile, "--", *firegw]
    elif profile:
        profiled = [sys.executable, "-m", "cProfile", "-o", profile, *firegw[1:]]
    # 1. create the persistent session, then stop the gateway
    proc = subprocess.Popen(firegw, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    wait_for_line(proc, "MQTT connected")
    proc.terminate()
    proc.wait(30)
    # 2. queue the burst for it
    pub = publish(mq, burst_file)
    print(f"  publisher: {pub['sent']:,.0f} messages queued in {pub['seconds']:.1f} s")
    # 3. start the gateway and time until InfluxDB holds every point
    proc = subprocess.Popen(profiled, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        # The clock starts at CONNACK: the broker starts streaming the queued burst right after it (the
        # baseline's clock starts at its first message, a little later: this favours the baseline).
        wait_for_line(proc, "MQTT session open")
        t0 = time.perf_counter()
        cpu0 = {name: cpu_seconds(pid) for name, pid in peers.items()}
        gw_cpu0 = cpu_seconds(proc.pid)
        drain_stderr(proc)
        # The clock stops when the point of the burst's last telemetry message is in InfluxDB (a cheap,
        # exact query). Telemetry reaches InfluxDB in arrival order (one FIFO lane in the durable buffer,
        # each batch acknowledged before the next is sent), and alarms and faults go ahead of it on the
        # priority lane, so by then every earlier point is stored too; the full count below checks that.
        # Progress comes from the gateway's own counter of acknowledged points (gateway_stats every 0.1 s;
        # it also counts the rule layer's and the gateway's own points, so it is not the stop signal).
        done, last_progress = False, t0
        while not done and time.perf_counter() - t0 < 600:
            time.sleep(0.05)
            done = bool(influx.rows(last_query, db))
            if time.perf_counter() - last_progress > 1:
                print(f"  ... {points_written(influx, db):,} of {n:,} written", flush=True)
                last_progress = time.perf_counter()
        seconds = time.perf_counter() - t0
        cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in peers.items()}
        cpu["gateway"] = cpu_seconds(proc.pid) - gw_cpu0
        at_stop = stored(influx, db)  # checks the FIFO argument: every point is in when the clock stops
        time.sleep(1.0)
        final = stored(influx, db)
        rss = peak_rss_mb(proc.pid)
        batch = mqtt_batch_size(influx, db)
    finally:
        proc.send_signal(signal.SIGINT)  # KeyboardInterrupt: a clean stop (and cProfile writes its file)
        proc.wait(30)
    return {
        "rate": n / seconds,
        "seconds": seconds,
        "stored": final,
        "stored_at_stop": at_stop,
        "peak_rss_mb": rss,
        "batch": batch,
        **{f"cpu_{name}": value for name, value in cpu.items()},
    }


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout_s: float = 30) -> None:
    assert proc.stderr is not None
    deadline = time.time() + timeout_s
    for line in proc.stderr:
        if needle in line:
            return
        if time.time() > deadline:
            break
    raise SystemExit(f"gateway did not log {needle!r}; exit code {proc.poll()}")


def drain_stderr(proc: subprocess.Popen[str]) -> None:
    """Keep reading the gateway's log so its pipe never fills (and echo warnings)."""

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "WARNING" in line or "ERROR" in line:
                print("  gateway:", line.rstrip())

    threading.Thread(target=pump, daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--per-device", type=int, default=20)
    args = parser.parse_args()

    estates = max(1, args.devices // 100)
    registry = generate_fleet(
        estates=estates,
        smoke_per_estate=80,
        hydrants_per_estate=15,
        cameras_per_estate=5,
        modbus_share=0.0,
        seed=42,
    )
    messages = make_burst(registry, messages_per_device=args.per_device, seed=42)
    n = len(messages)
    print(f"burst: {n:,} messages from {len(registry.devices):,} devices ({estates} estates)")
    with tempfile.TemporaryDirectory(prefix="firegw-bench-") as tmp:
        work = Path(tmp)
        registry_file = work / "registry.toml"
        registry_file.write_text(registry_to_toml(registry), encoding="utf-8")
        burst_file = work / "burst.json"
        burst_file.write_text(json.dumps([(t, p.decode("latin-1")) for t, p in messages]))
        mq = MosquittoService()
        # the production window (deploy/mosquitto/mosquitto.conf), not the test fixture's small one
        mq.config_path.write_text(
            mq.config_path.read_text().replace("max_inflight_messages 100", "max_inflight_messages 1000")
        )
        influx = InfluxService()
        mq.start()
        influx.start()
        try:
            print("(a) bare paho-mqtt subscriber, counting only")
            baseline = run_baseline(mq, burst_file, n)
            print(f"    {baseline:,.0f} msg/s")
            print("(b) gateway: decode + validate + durable buffer + InfluxDB 1.x write, until all stored")
            gw = run_gateway(
                mq, influx, burst_file, registry_file, n, work, last_point_query(registry, messages)
            )
        finally:
            mq.stop()
            influx.stop()
    lost = n - int(gw["stored"])
    print()
    print(f"machine: {os.cpu_count()} cores; Python {sys.version.split()[0]}")
    print(f"messages               {n:,}")
    print(f"(a) bare paho          {baseline:,.0f} msg/s")
    print(f"(b) gateway, stored    {gw['rate']:,.0f} msg/s  ({gw['seconds']:.1f} s)")
    print(f"ratio (b)/(a)          {gw['rate'] / baseline:.2f}")
    print(f"points lost            {lost}")
    print(f"stored when timed      {int(gw['stored_at_stop']):,} of {n:,} (counted as the clock stopped)")
    print(f"gateway peak RSS       {gw['peak_rss_mb']:.0f} MiB")
    print(
        f"CPU seconds during (b) gateway {gw['cpu_gateway']:.1f}, mosquitto {gw['cpu_mosquitto']:.1f},"
        f" influxd {gw['cpu_influxd']:.1f} (wall {gw['seconds']:.1f} s, 2 cores)"
    )
    print(f"gateway CPU per message {gw['cpu_gateway'] / n * 1e6:.0f} µs")
    print(f"messages per hand-over  {gw['batch']:.0f} (MQTT batches to the pipeline; at most {MAX_BATCH})")


if __name__ == "__main__":
    main()
