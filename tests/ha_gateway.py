"""Gateways with ``[ha]`` on, as real processes: ``firegw run`` on one PostgreSQL store and one broker.

``HaGatewayProcess`` is ``GatewayProcess`` (tests/gateway_process.py) with the rule layer on a PostgreSQL
hazard store and ``[ha]`` enabled, so that several of them (same ``client_id``, same topics, own data folder
and ``[gateway] id``) form one partition: one active, the others standing by. ``start()`` waits until the
process is either active (subscribed) or standing by; ``state()`` reads which from its log, and
``wait_state`` waits for one. Used by tests/test_failover.py and bench/failover_bench.py.

Also here: counting what InfluxDB holds per device (``stored_seqs``, ``stored_count``), and what was lost
against what the broker acknowledged (``lost``).
"""

from __future__ import annotations

import contextlib
import re
import signal
import time
from pathlib import Path
from typing import Any

from gateway_process import SUBSCRIBED, GatewayProcess, stored_count, toml_str
from seq_publisher import PublishResult

#: Log lines that say what a gateway is (gateway/ha/standby.py); the last one found is its state.
STATE_LINE = re.compile(r"(standby: gateway|active: gateway|stopped being active)")


class HaGatewayProcess(GatewayProcess):
    """One gateway of an ``[ha]`` partition (see the module docstring)."""

    def __init__(
        self,
        workdir: Path,
        mosquitto: Any,
        influxdb: Any,
        database: str,
        devices: list[str],
        *,
        gateway_id: str,
        store_url: str,
        client_id: str,
        topic_prefix: str,
        ha: bool = True,
        ttl_s: float = 5.0,
        heartbeat_s: float = 1.0,
        partition: str = "all",
    ) -> None:
        self.gateway_id = gateway_id
        self.store_url = store_url
        self.ha = ha
        self.ttl_s = ttl_s
        self.heartbeat_s = heartbeat_s
        self.partition = partition
        super().__init__(
            workdir, mosquitto, influxdb, database, devices, client_id=client_id, topic_prefix=topic_prefix
        )

    def config_toml(self, stats_interval_s: float, log_level: str) -> str:
        base = super().config_toml(stats_interval_s, log_level)
        base = base.replace(f"id = {toml_str(self.client_id)}\n", f"id = {toml_str(self.gateway_id)}\n", 1)
        rules = f"""\
[rules]
enabled = true
store_url = {toml_str(self.store_url)}
publish = false
tick_interval_s = 0.5

[ha]
enabled = {"true" if self.ha else "false"}
partition = {toml_str(self.partition)}
ttl_s = {self.ttl_s}
heartbeat_s = {self.heartbeat_s}
"""
        assert "[rules]\nenabled = false\n" in base
        return base.replace("[rules]\nenabled = false\n", rules)

    def start(self, timeout_s: float = 60.0) -> float:
        """Start the gateway and wait until it is active (subscribed) or standing by; the seconds it took."""
        return self.launch(lambda: self.state() in ("active", "standby"), "active or standby", timeout_s)

    def state(self) -> str:
        """``active`` (holds the lease and is subscribed), ``taking over`` (holds it, not yet subscribed),
        ``standby``, ``starting`` or ``down``, from what the current start logged (HA off: ``active`` once
        subscribed)."""
        if not self.running:
            return "down"
        text = self.log_text()
        if not self.ha:  # HA off: active once subscribed
            return "active" if SUBSCRIBED.search(text) else "starting"
        found = STATE_LINE.findall(text)
        if not found:
            return "starting"
        if found[-1] != "active: gateway":
            return "standby"
        after = text[text.rfind("active: gateway") :]
        return "active" if SUBSCRIBED.search(after) else "taking over"

    def wait_state(self, state: str, timeout_s: float) -> float:
        """Wait until ``state()`` is ``state``; the seconds it took (fails after ``timeout_s``)."""
        t0 = time.monotonic()
        while self.state() != state:
            if time.monotonic() - t0 > timeout_s:
                now = self.state()
                raise AssertionError(
                    f"{self.gateway_id} is {now!r}, not {state!r}, after {timeout_s:g} s\n" + self.log_tail()
                )
            time.sleep(0.02)
        return time.monotonic() - t0

    def count(self, pattern: str) -> int:
        """How often the current start logged ``pattern`` (a regular expression)."""
        return len(re.findall(pattern, self.log_text()))


def wait_for_one_active(gateways: list[HaGatewayProcess], timeout_s: float) -> tuple[HaGatewayProcess, float]:
    """Wait until exactly one of ``gateways`` is active; it and the seconds it took."""
    t0 = time.monotonic()
    while True:
        active = [g for g in gateways if g.state() == "active"]
        if len(active) == 1:
            return active[0], time.monotonic() - t0
        if time.monotonic() - t0 > timeout_s:
            states = ", ".join(f"{g.gateway_id}: {g.state()}" for g in gateways)
            tails = "\n".join(g.log_tail(2000) for g in gateways)
            raise AssertionError(f"not exactly one active gateway after {timeout_s:g} s ({states})\n{tails}")
        time.sleep(0.02)


def fast_stop_postgres(postgres: Any, timeout_s: float = 15.0) -> None:
    """Stop the test PostgreSQL with a fast shutdown (SIGINT: connections are ended, as on a server crash or
    restart), not the smart one ``stop()`` asks for, which waits for every client to disconnect."""
    process = postgres.process
    if process is not None and process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        process.wait(timeout_s)
    postgres.stop()


# -- counting -------------------------------------------------------------------------------------------


def wait_stored(influxdb: Any, db: str, expected: int, timeout_s: float = 60.0, settle_s: float = 5.0) -> int:
    """Poll until ``expected`` points are stored, or the count has not moved for ``settle_s``; the count."""
    deadline = time.monotonic() + timeout_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = stored_count(influxdb, db)
        if count >= expected:
            return count
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since > settle_s:
            return count
        time.sleep(0.25)
    return stored_count(influxdb, db)


def lost(result: PublishResult, stored: dict[str, set[int]]) -> dict[str, list[int]]:
    """Per device, the acknowledged sequence numbers that are not stored."""
    out: dict[str, list[int]] = {}
    for device, seqs in result.acked.items():
        missing = sorted(set(seqs) - stored.get(device, set()))
        if missing:
            out[device] = missing
    return out
