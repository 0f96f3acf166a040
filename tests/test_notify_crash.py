"""Every alarm raised reaches the people on duty or is recorded with why not, across a kill -9 mid-burst.

A real gateway process (tests/gateway_process.py: ``python -m gateway.cli run``, persistent MQTT session,
rules on with their SQLite store, ``[notify] duty`` a webhook in this process) gets a burst of smoke alarms,
one per detector, published QoS 1. The webhook answers slowly (a service under load), so messages pile up
in the notifier's queue; once some have arrived, the gateway is killed with SIGKILL and started again on
the same files, with the webhook answering at once.

Then every alarm is counted: each detector's alarm must be in the store (the broker hands the unacknowledged
ones to the restarted gateway), and each must have reached the webhook or carry a notification row saying
why not (``abandoned``, ``failed`` or ``dropped``, with its reason). The restarted gateway must say what it
took up (``notifications owed from before this start``). Messages delivered twice (delivered just before the
kill, their end not yet written) are counted and printed, not failed: delivery is at least once.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_process import GatewayProcess, toml_str
from webhook_receiver import Receiver

pytestmark = pytest.mark.services

DEVICES = [f"NC-T001-{i:04d}" for i in range(1, 41)]
#: Each answer of the slow webhook; with two workers the burst needs about 5 s to drain.
SLOW_ANSWER_S = 0.25
#: Killed once this many messages reached the webhook.
KILL_AFTER = 8


class NotifyingGateway(GatewayProcess):
    """The ingest-only gateway of gateway_process.py with the rules on and ``[notify] duty`` set."""

    def __init__(self, *args: Any, duty_url: str, **kwargs: Any) -> None:
        self.duty_url = duty_url
        super().__init__(*args, **kwargs)

    def config_toml(self, stats_interval_s: float, log_level: str) -> str:
        base = super().config_toml(stats_interval_s, log_level)
        assert "[rules]\nenabled = false\n" in base
        return base.replace("[rules]\nenabled = false\n", "[rules]\nenabled = true\npublish = false\n") + (
            f"\n[notify]\nduty = [{toml_str(self.duty_url)}]\nworkers = 2\n"
        )

    @property
    def store_path(self) -> Path:
        return self.data_dir / "hazards.sqlite"


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def gateway(
    tmp_path: Path, mosquitto: Any, influxdb: Any, influx_db_name: str, webhook: Receiver
) -> Iterator[NotifyingGateway]:
    mosquitto.ensure_running()
    process = NotifyingGateway(
        tmp_path / "gw",
        mosquitto,
        influxdb,
        influx_db_name,
        DEVICES,
        topic_prefix=f"t/{uuid.uuid4().hex[:8]}/",
        duty_url=webhook.url("duty"),
    )
    try:
        yield process
    finally:
        process.close()


def publish_alarms(gateway: NotifyingGateway) -> None:
    """One smoke alarm per detector, QoS 1, each acknowledged by the broker before this returns."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"notify-crash-{uuid.uuid4().hex[:6]}")
    client.connect(gateway.mosquitto.host, gateway.mosquitto.port)
    client.loop_start()
    try:
        infos = []
        for device in DEVICES:
            payload = {"id": device, "seq": 1, "ts": int(time.time() * 1000), "event": "alarm", "battery": 90}
            topic = f"{gateway.topic_prefix}fire/smoke/{device}/up"
            infos.append(client.publish(topic, json.dumps(payload), qos=1))
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def store_rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(query).fetchall()


def devices_reached(webhook: Receiver) -> dict[str, int]:
    """Per detector, how many messages naming it the webhook received."""
    counts: dict[str, int] = {}
    for message in webhook.messages("duty"):
        for device in re.findall(r"NC-T001-\d{4}", message):
            counts[device] = counts.get(device, 0) + 1
    return counts


def unaccounted(gateway: NotifyingGateway, webhook: Receiver) -> list[str]:
    """Detectors whose alarm is not in the store, or reached nobody and has no row saying why."""
    alarms = dict(store_rows(gateway.store_path, "SELECT device_id, id FROM alarms"))
    why_not = {
        subject_id
        for subject_id, error in store_rows(
            gateway.store_path,
            "SELECT subject_id, error FROM notifications WHERE subject = 'alarm' AND kind = 'alarm' "
            "AND state IN ('abandoned', 'failed', 'dropped')",
        )
        if error
    }
    reached = devices_reached(webhook)
    return [d for d in DEVICES if d not in alarms or (d not in reached and alarms[d] not in why_not)]


def test_every_alarm_is_delivered_or_recorded_across_a_kill_mid_burst(
    gateway: NotifyingGateway, webhook: Receiver
) -> None:
    gateway.start()
    webhook.delay_s = SLOW_ANSWER_S
    publish_alarms(gateway)
    deadline = time.monotonic() + 30
    while len(webhook.on("duty")) < KILL_AFTER and time.monotonic() < deadline:
        time.sleep(0.01)
    gateway.send_signal(signal.SIGKILL)
    killed = gateway.wait_exit(10)
    assert killed.code == -signal.SIGKILL, killed.describe()
    before_kill = len(devices_reached(webhook))
    assert KILL_AFTER <= before_kill < len(DEVICES), "the kill must come in the middle of the burst"
    queued_at_kill = store_rows(
        gateway.store_path, "SELECT COUNT(*) FROM notifications WHERE state = 'queued'"
    )

    webhook.delay_s = 0.0
    gateway.start()
    deadline = time.monotonic() + 60
    while unaccounted(gateway, webhook) and time.monotonic() < deadline:
        time.sleep(0.2)
    missing = unaccounted(gateway, webhook)
    took_up = re.search(r"notifications owed from before this start: .*", gateway.log_text())
    stopped = gateway.stop(signal.SIGTERM)

    reached = devices_reached(webhook)
    twice = sorted(d for d, n in reached.items() if n > 1)
    states = dict(store_rows(gateway.store_path, "SELECT state, COUNT(*) FROM notifications GROUP BY state"))
    print(
        f"\n{len(DEVICES)} alarms; {before_kill} reached the webhook before the kill, "
        f"{queued_at_kill[0][0]} rows queued at the kill; after the restart {len(reached)} reached it "
        f"({len(twice)} twice: {twice}); rows by state {states}; {took_up.group(0) if took_up else '-'}"
    )
    assert missing == [], f"alarms neither delivered nor recorded with why not: {missing}"
    assert took_up is not None, "the restarted gateway must take up what was owed:\n" + gateway.log_tail()
    assert states.get("queued", 0) == 0, "nothing owed is left queued after a clean stop with all sent"
    assert stopped.clean, stopped.describe()
