"""The gateway as an operator runs it: ``python -m gateway.cli run --config FILE --quiet`` in a process of
its own, stopped with real signals and started again on the same configuration and data directory.

``GatewayProcess`` writes a gateway configuration into a temporary directory (the test Mosquitto with a
persistent session: fixed ``client_id``, ``clean_session = false``, QoS 1 subscriptions; the test InfluxDB
1.x database; ``data_dir`` and the registry in the same directory; rules, API and Modbus off, so that only
the ingest path runs), starts the gateway in its own process group with its output in a log file per start
(``gateway-1.log``, ``gateway-2.log``, ...), and waits for the line that says it is subscribed.

``send_signal(sig)`` + ``wait_exit()`` (or ``stop(sig)``) give the exit code, how long the stop took and
what the process logged after the signal; ``start()`` again restarts it with the same files.
``forget_session()`` removes the persistent session from the broker at the end of a test, so that the broker
does not keep queueing later tests' messages for it.

``FIREGW_TEST_GATEWAY_ROOT`` runs the gateway from another checkout (e.g. an ``git archive`` of HEAD, to
measure the code before a change with the same tests).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services import _die_with_parent

ROOT = Path(__file__).resolve().parent.parent
#: The line the gateway logs once every subscription has its SUBACK (collectors/mqtt/transport.py).
SUBSCRIBED = re.compile(r"MQTT connected to \S+, \d+ subscription")


def gateway_root() -> Path:
    """The checkout the gateway runs from: this one, unless ``FIREGW_TEST_GATEWAY_ROOT`` names another."""
    return Path(os.environ.get("FIREGW_TEST_GATEWAY_ROOT") or ROOT).resolve()


def toml_str(value: object) -> str:
    """A TOML basic string (paths and ids only: backslashes and quotes escaped)."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class Exit:
    """How a stop went: the exit code (negative: killed by that signal, as ``Popen`` reports it), the
    seconds from the signal to the exit (None: it did not exit within the bound and was killed), and the
    log lines written after the signal."""

    code: int | None
    seconds: float | None
    signal_name: str
    lines: list[str]

    @property
    def clean(self) -> bool:
        return self.code == 0

    def describe(self) -> str:
        if self.seconds is None:
            return f"{self.signal_name}: did not exit in time (killed), code {self.code}"
        how = f"code {self.code}"
        if self.code is not None and self.code < 0:
            how += f" (killed by {signal.Signals(-self.code).name}; a shell shows {128 - self.code})"
        return f"{self.signal_name}: exited in {self.seconds:.2f} s, {how}"


class GatewayProcess:
    """One gateway configuration, started and stopped as a process as often as a test needs.

    ``devices`` are written to a registry of their own (one estate, smoke detectors speaking smoke_json);
    ``topic_prefix`` (e.g. ``"t/ab12/"``) is put in front of the standard topic filters so that the test's
    traffic and the persistent sessions other tests leave on the shared broker never meet.
    """

    def __init__(
        self,
        workdir: Path,
        mosquitto: Any,
        influxdb: Any,
        database: str,
        devices: list[str],
        *,
        client_id: str | None = None,
        topic_prefix: str = "",
        stats_interval_s: float = 0.5,
        log_level: str = "INFO",
        extra_toml: str = "",
    ) -> None:
        self.workdir = workdir
        self.mosquitto = mosquitto
        self.influxdb = influxdb
        self.database = database
        self.devices = list(devices)
        self.client_id = client_id or f"stop-test-{uuid.uuid4().hex[:8]}"
        self.topic_prefix = topic_prefix
        self.data_dir = workdir / "data"
        self.config_path = workdir / "gateway.toml"
        self.registry_path = workdir / "registry.toml"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log_path: Path | None = None
        self.started_at_ns = 0
        self._signalled_at: float | None = None
        self._signal_name = ""
        self._log_offset = 0
        workdir.mkdir(parents=True, exist_ok=True)
        self.registry_path.write_text(registry_toml(self.devices), encoding="utf-8")
        self.config_path.write_text(self.config_toml(stats_interval_s, log_level) + extra_toml)

    # -- configuration ------------------------------------------------------------------------------------

    def config_toml(self, stats_interval_s: float, log_level: str) -> str:
        mq, p = self.mosquitto, self.topic_prefix
        return f"""\
[gateway]
id = {toml_str(self.client_id)}
registry = {toml_str(self.registry_path)}
data_dir = {toml_str(self.data_dir)}
log_level = "{log_level}"
stats_interval_s = {stats_interval_s}

[mqtt]
host = {toml_str(mq.host)}
port = {mq.port}
client_id = {toml_str(self.client_id)}
clean_session = false

[[mqtt.subscriptions]]
topic = {toml_str(p + "fire/smoke/+/up")}
decoder = "smoke_json"
qos = 1

[[mqtt.subscriptions]]
topic = {toml_str(p + "fire/hydrant/+/up")}
decoder = "hydrant_json"
qos = 1

[storage]
kind = "influx_v1"
url = {toml_str(self.influxdb.url)}
database = {toml_str(self.database)}

[buffer]
flush_interval_s = 0.1
backoff_max_s = 1.0

[modbus]
enabled = false

[api]
enabled = false

[rules]
enabled = false
"""

    # -- lifecycle ----------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None, "the gateway is not started"
        return self.process.pid

    def start(self, timeout_s: float = 60.0) -> float:
        """Start the gateway (same config, same data_dir) and wait until it is subscribed; returns the
        seconds that took. Raises with the log when it exits or does not subscribe in time."""
        return self.launch(lambda: bool(SUBSCRIBED.search(self.log_text())), "subscribed", timeout_s)

    def launch(self, ready: Callable[[], bool], what: str, timeout_s: float) -> float:
        """Start ``firegw run`` on this config and wait until ``ready()``; the seconds that took."""
        assert not self.running, "the gateway is already running"
        self.starts += 1
        self.log_path = self.workdir / f"gateway-{self.starts}.log"
        root = gateway_root()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        command = [sys.executable, "-m", "gateway.cli", "run", "--config", str(self.config_path), "--quiet"]
        t0 = time.monotonic()
        self.started_at_ns = time.time_ns()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own process group, like a service under systemd
                preexec_fn=_die_with_parent,  # dies with the test run if that is killed
            )
        self._signalled_at = None
        while not ready():
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(f"gateway exited with code {code} while starting:\n{self.log_tail()}")
            if time.monotonic() - t0 > timeout_s:
                self.kill()
                raise RuntimeError(f"gateway not {what} after {timeout_s:g} s:\n{self.log_tail()}")
            time.sleep(0.05)
        return time.monotonic() - t0

    def send_signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the gateway's process group (what systemd, docker and a terminal do)."""
        assert self.process is not None, "the gateway is not started"
        self._log_offset = len(self.log_text())
        self._signal_name = sig.name
        self._signalled_at = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def wait_exit(self, timeout_s: float = 15.0) -> Exit:
        """Wait for the exit after ``send_signal``; past ``timeout_s`` the process is killed (SIGKILL) and the
        returned ``seconds`` is None."""
        assert self.process is not None, "start() first"
        assert self._signalled_at is not None, "send_signal() first"
        seconds: float | None
        try:
            code: int | None = self.process.wait(timeout_s)
            seconds = time.monotonic() - self._signalled_at
        except subprocess.TimeoutExpired:
            self.kill()
            code, seconds = self.process.returncode, None
        lines = self.log_text()[self._log_offset :].splitlines()
        return Exit(code, seconds, self._signal_name, lines)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 15.0) -> Exit:
        self.send_signal(sig)
        return self.wait_exit(timeout_s)

    def kill(self) -> None:
        """SIGKILL to the process group (no-op when not running) and reap it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def close(self) -> None:
        """End of a test: kill a gateway that still runs and remove its persistent session."""
        self.kill()
        with contextlib.suppress(Exception):
            self.forget_session()

    def forget_session(self) -> None:
        """Connect with the gateway's client id and a clean session: the broker drops the persistent
        session (its subscriptions and queued messages)."""
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=True)
        client.connect(self.mosquitto.host, self.mosquitto.port)
        client.loop_start()
        try:
            deadline = time.monotonic() + 5
            while not client.is_connected() and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            client.disconnect()
            client.loop_stop()

    # -- logs ---------------------------------------------------------------------------------------------

    def log_text(self) -> str:
        """Everything the current (or last) start logged."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def log_tail(self, max_chars: int = 4000) -> str:
        return f"--- {self.log_path} ---\n{self.log_text()[-max_chars:]}"


def registry_toml(devices: list[str]) -> str:
    """A registry with one estate and one building holding ``devices`` as smoke_json smoke detectors."""
    lines = [
        "[[estates]]",
        'id = "T001"',
        'name = "test estate"',
        'district = "test district"',
        'street = "test street"',
        'property_company = "test company"',
        "",
        "[[buildings]]",
        'id = "T001-B01"',
        'estate_id = "T001"',
        'name = "1"',
        "floors = 10",
        "height_m = 30.0",
        "",
    ]
    for device in devices:
        lines += [
            "[[devices]]",
            f"id = {toml_str(device)}",
            'kind = "smoke_detector"',
            'estate_id = "T001"',
            'building_id = "T001-B01"',
            'wire_format = "smoke_json"',
            "",
        ]
    return "\n".join(lines)


# -- counting what reached InfluxDB -----------------------------------------------------------------------

#: The measurement every published heartbeat becomes (smoke detectors' readings).
MEASUREMENT = "smoke_detector"


def stored_count(influxdb: Any, db: str) -> int:
    rows = influxdb.rows(f'SELECT COUNT("battery_pct") AS n FROM "{MEASUREMENT}"', db)
    return int(rows[0]["n"]) if rows else 0


def stored_seqs(influxdb: Any, db: str, ts_base_ms: int) -> dict[str, set[int]]:
    """Per device, the sequence numbers whose point is stored (device time = ts_base_ms + seq)."""
    out: dict[str, set[int]] = {}
    for row in influxdb.rows(f'SELECT "battery_pct" FROM "{MEASUREMENT}" GROUP BY "device"', db):
        out.setdefault(row["device"], set()).add(int(row["time"]) // 1_000_000 - ts_base_ms)
    return out
