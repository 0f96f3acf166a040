"""Notifications (gateway/notify) delivered to a real local webhook receiver through Apprise's ``json://``:
an alarm through the rule engine reaches the people on duty within 15 s with its Chinese text; an alarm
nobody acknowledges escalates and an acknowledged one does not; a receiver that fails twice gets the
message on the third try; a dead receiver is recorded failed with the reason while the engine goes on;
stored channels carry no secrets; a full queue drops hazard messages, never alarms.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from clock import FakeClock

from gateway.casework.engine import RuleEngine
from gateway.casework.model import RuleUpdate
from gateway.config import NotifySection
from gateway.ingest.registry import Registry
from gateway.models import DeviceEvent, DeviceKind, EventType
from gateway.notify import Notifier
from gateway.notify.channels import scrub
from gateway.store import HazardStore
from rules.lifecycle import AlarmAction
from rules.policy import load_policy
from simulators.fleet import generate_fleet


class Receiver:
    """A webhook on a free local port: records every POST; answers with ``statuses`` in turn, then 200."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[tuple[float, str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append((time.monotonic(), self.path, json.loads(body or b"{}")))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "duty") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def on(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for _, p, body in self.requests if p == f"/{path}"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def wait_for(predicate: Any, timeout: float = 15.0) -> float:
    """Seconds until ``predicate()`` is true; fails after ``timeout``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - start


@pytest.fixture
def registry() -> Registry:
    return generate_fleet(
        estates=2, smoke_per_estate=5, hydrants_per_estate=1, cameras_per_estate=0, modbus_share=0.0, seed=5
    )


class Setup:
    def __init__(self, tmp_path: Path, registry: Registry, config: NotifySection) -> None:
        self.clock = FakeClock()
        self.registry = registry
        self.engine = RuleEngine(
            registry, load_policy(), HazardStore(f"sqlite:///{tmp_path / 'h.sqlite'}"), clock=self.clock
        )
        self.notifier = Notifier(config, registry, self.clock)
        self.notifier.attach(self.engine)
        self.notifier.start()

    def alarm(self, index: int = 0) -> tuple[int, str]:
        detector = self.registry.devices_of_kind(DeviceKind.SMOKE_DETECTOR)[index]
        now = self.clock()
        self.engine.on_records(
            [(detector, DeviceEvent(device_id=detector.id, time=now, type=EventType.ALARM))], now
        )
        records = [a for a in self.engine.store.alarms.find() if a.device_id == detector.id]
        return records[-1].id, detector.id

    def close(self) -> None:
        self.notifier.stop()
        self.engine.store.close()


def make(tmp_path: Path, registry: Registry, **notify: Any) -> Setup:
    return Setup(tmp_path, registry, NotifySection(**notify))


def test_alarm_reaches_the_people_on_duty_with_its_chinese_text(
    tmp_path: Path, registry: Registry, receiver: Receiver
) -> None:
    s = make(tmp_path, registry, duty=[receiver.url("duty")], control_room_phone="021-5555 0119")
    try:
        alarm_id, device_id = s.alarm()
        took = wait_for(lambda: receiver.on("duty"))
        assert took < 15
        message = receiver.on("duty")[0]["message"]
        estate = registry.estate(registry.device(device_id).estate_id).name
        assert message.startswith("【火警】")
        assert estate in message
        assert device_id in message
        assert "烟感" in message
        assert "层" in message
        assert "室" in message
        assert "请立即处置" in message
        assert "021-5555 0119" in message
        wait_for(lambda: s.engine.store.notifications.recent(subject_id=alarm_id))
        (row,) = s.engine.store.notifications.recent(subject="alarm", subject_id=alarm_id)
        assert (row.kind, row.state, row.attempts, row.error) == ("alarm", "sent", 1, "")
        assert row.sent_at is not None
    finally:
        s.close()


def test_unacknowledged_alarm_escalates_and_an_acknowledged_one_does_not(
    tmp_path: Path, registry: Registry, receiver: Receiver
) -> None:
    s = make(
        tmp_path, registry, duty=[receiver.url("duty")], escalate=[receiver.url("boss")], escalate_after_s=5
    )
    try:
        ignored, _ = s.alarm(0)
        handled, _ = s.alarm(1)
        wait_for(lambda: len(receiver.on("duty")) == 2)
        s.clock.advance(seconds=3)
        s.engine.alarms.step(handled, AlarmAction.ACKNOWLEDGE, actor="值班员")
        time.sleep(0.5)
        assert receiver.on("boss") == []  # not yet due
        s.clock.advance(seconds=3)  # 6 s after both arrived
        wait_for(lambda: receiver.on("boss"))
        time.sleep(0.5)
        (escalated,) = receiver.on("boss")
        assert escalated["message"].startswith("【火警无人确认】")
        assert "5 秒无人确认" in escalated["message"]
        rows = s.engine.store.notifications.recent(subject="alarm")
        assert {(r.kind, r.subject_id) for r in rows if r.kind == "alarm_escalation"} == {
            ("alarm_escalation", ignored)
        }
        assert s.notifier.counters.escalations == 1
    finally:
        s.close()


def test_acknowledged_elsewhere_is_not_escalated(
    tmp_path: Path, registry: Registry, receiver: Receiver
) -> None:
    """Acknowledged in the store without the outbox hearing it (through another gateway's API): still no
    escalation."""
    s = make(
        tmp_path, registry, duty=[receiver.url("duty")], escalate=[receiver.url("boss")], escalate_after_s=5
    )
    try:
        alarm_id, _ = s.alarm()
        s.engine.store.alarms.transition(alarm_id, AlarmAction.ACKNOWLEDGE, actor="另一台网关", now=s.clock())
        s.clock.advance(seconds=10)
        time.sleep(1.0)
        assert receiver.on("boss") == []
        assert s.notifier.counters.escalations == 0
    finally:
        s.close()


def test_failing_receiver_gets_it_on_the_third_try(tmp_path: Path, registry: Registry) -> None:
    flaky = Receiver(statuses=[500, 500])
    s = make(tmp_path, registry, duty=[flaky.url("duty")], alarm_retry_s=[0.2, 0.5])
    try:
        alarm_id, _ = s.alarm()
        wait_for(lambda: s.engine.store.notifications.recent(subject_id=alarm_id))
        (row,) = s.engine.store.notifications.recent(subject_id=alarm_id)
        assert (row.state, row.attempts) == ("sent", 3)
        assert len(flaky.on("duty")) == 3
        assert s.notifier.counters.retries == 2
    finally:
        s.close()
        flaky.close()


def test_dead_receiver_is_recorded_failed_with_the_reason_and_the_engine_goes_on(
    tmp_path: Path, registry: Registry, receiver: Receiver
) -> None:
    dead = Receiver()
    dead_url = dead.url("duty")
    dead.close()  # nobody listens on that port any more
    s = make(tmp_path, registry, duty=[dead_url, receiver.url("duty")], alarm_retry_s=[0.1, 0.1])
    try:
        started = time.monotonic()
        alarm_id, _ = s.alarm(0)
        assert time.monotonic() - started < 1.0  # the engine never waits for a delivery
        wait_for(lambda: len(s.engine.store.notifications.recent(subject_id=alarm_id)) == 2)
        rows = {r.state: r for r in s.engine.store.notifications.recent(subject_id=alarm_id)}
        assert rows["failed"].attempts == 3
        assert "Connection error" in rows["failed"].error
        assert rows["sent"].attempts == 1
        second, _ = s.alarm(1)  # the engine still takes alarms
        wait_for(lambda: len(receiver.on("duty")) == 2)
        assert second != alarm_id
    finally:
        s.close()


def test_secrets_are_scrubbed_from_stored_channels(
    tmp_path: Path, registry: Registry, receiver: Receiver
) -> None:
    secret_url = f"json://duty:s3cretpass@127.0.0.1:{receiver.port}/duty?token=tok123"
    assert scrub(secret_url) == f"json://duty:****@127.0.0.1:{receiver.port}/duty"
    assert "tok123" not in scrub("dingtalk://tok1234567890abcdef/")
    s = make(tmp_path, registry, duty=[secret_url])
    try:
        alarm_id, _ = s.alarm()
        wait_for(lambda: s.engine.store.notifications.recent(subject_id=alarm_id))
        (row,) = s.engine.store.notifications.recent(subject_id=alarm_id)
        assert row.state == "sent"
        assert "s3cretpass" not in row.channel
        assert "tok123" not in row.channel
    finally:
        s.close()


def test_full_queue_drops_hazard_messages_never_alarms(tmp_path: Path, registry: Registry) -> None:
    """Not started: nothing leaves the queue. Hazard messages beyond the bound drop the oldest hazard one;
    alarms are taken even beyond it."""
    clock = FakeClock()
    config = NotifySection(duty=["json://127.0.0.1:9/duty"], hazards=["json://127.0.0.1:9/hz"], queue_size=10)
    notifier = Notifier(config, registry, clock)
    estate = registry.estates[0].id
    now = clock()

    def update(kind: str, i: int, **data: Any) -> RuleUpdate:
        return RuleUpdate(kind, estate, now, {"id": i, "estate": estate, **data})

    for i in range(8):
        notifier._queue("hazard", "hazard_overdue", {"id": i, "estate": estate}, config.hazards, "t", "b")
    for i in range(5):
        notifier.on_update(
            update(
                "alarm",
                100 + i,
                action="raise",
                state="open",
                device="",
                location="1号楼",
                received_at=now.isoformat(),
            )
        )
    for i in range(3):
        notifier._queue(
            "hazard", "hazard_overdue", {"id": 50 + i, "estate": estate}, config.hazards, "t", "b"
        )
    assert [m.subject_id for _, m in notifier._alarms] == [100, 101, 102, 103, 104]  # every alarm kept
    assert [m.subject_id for _, m in notifier._others] == [6, 7, 50, 51, 52]  # the oldest hazards went
    assert notifier.counters.dropped == 6
    assert notifier.counters.queued == 5 + 11
    assert {m.subject_id for m in notifier._to_record} == {0, 1, 2, 3, 4, 5}
    assert all(m.error.startswith("dropped") for m in notifier._to_record)


def test_hazard_dispatch_goes_to_the_configured_channels(
    tmp_path: Path, registry: Registry, receiver: Receiver
) -> None:
    s = make(tmp_path, registry, hazards=[receiver.url("hazards")])
    try:
        estate = registry.device(registry.devices_of_kind(DeviceKind.SMOKE_DETECTOR)[0].id).estate_id
        s.notifier.on_update(
            RuleUpdate(
                "hazard",
                estate,
                s.clock(),
                {
                    "id": 7,
                    "estate": estate,
                    "action": "dispatch",
                    "description": "消防通道堵塞",
                    "deadline": datetime(2026, 12, 1).isoformat(),
                    "criterion": "A2",
                },
            )
        )
        wait_for(lambda: receiver.on("hazards"))
        message = receiver.on("hazards")[0]["message"]
        assert message.startswith("【隐患派单】")
        assert "消防通道堵塞" in message
        assert "2026-12-01" in message
    finally:
        s.close()
