"""Notifications (gateway/notify) delivered to a real local webhook receiver through Apprise's ``json://``:
an alarm through the rule engine reaches the people on duty within 15 s with its Chinese text; an alarm
nobody acknowledges escalates and an acknowledged one does not; a receiver that fails twice gets the
message on the third try; a dead receiver is recorded failed with the reason while the engine goes on;
stored channels carry no secrets; a full queue drops hazard messages, never alarms.

Durable (tests/test_notify_crash.py kills a real gateway): each message is in the store ``queued`` before it
is delivered; a stop leaves what was not sent queued and the next start sends it; a start takes up what is
owed (queued rows still relevant, alarms never pushed, escalations due) and records the rest abandoned with
why. Hazard messages reach the dispatched party's own channels, escalations their level. A rate-limited
channel takes alarms first, combined, and holds hazard messages back without dropping them.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from clock import T0, FakeClock
from webhook_receiver import Receiver

from gateway.casework.engine import RuleEngine
from gateway.casework.model import RuleUpdate
from gateway.config import NotifySection
from gateway.ingest.registry import Registry
from gateway.models import DeviceEvent, DeviceKind, EventType
from gateway.notify import Notifier
from gateway.notify.channels import scrub
from gateway.notify.queue import ChannelQueues, Message
from gateway.store import HazardStore
from gateway.store.notifications import NotificationRecord
from gateway.store.parties import PartyKind
from rules.lifecycle import AlarmAction, HazardAction
from rules.policy import load_policy
from simulators.fleet import generate_fleet


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
    """An engine on a SQLite store with a notifier attached and started (``notify=None``: none yet)."""

    def __init__(
        self, tmp_path: Path, registry: Registry, config: NotifySection | None, store_url: str = ""
    ) -> None:
        self.clock = FakeClock()
        self.registry = registry
        store = HazardStore(store_url or f"sqlite:///{tmp_path / 'h.sqlite'}")
        self.engine = RuleEngine(registry, load_policy(), store, clock=self.clock)
        self.notifier = Notifier(config or NotifySection(), registry, self.clock)
        if config is not None:
            self.start_notifier(config)

    def start_notifier(self, config: NotifySection) -> Notifier:
        """A new notifier, as a start of the gateway makes one: attached to the engine, then started."""
        self.notifier = Notifier(config, self.registry, self.clock)
        self.notifier.attach(self.engine)
        self.notifier.start()
        return self.notifier

    @property
    def rows(self) -> list[NotificationRecord]:
        return self.engine.store.notifications.recent(limit=1000)

    def ended(self, subject_id: int) -> list[NotificationRecord]:
        """The rows about ``subject_id`` whose delivery ended (no longer ``queued``)."""
        return [
            r for r in self.engine.store.notifications.recent(subject_id=subject_id) if r.state != "queued"
        ]

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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The hazard store on SQLite (one gateway) and on PostgreSQL (the store ``[ha]`` gateways share)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'h.sqlite'}"
    postgres = request.getfixturevalue("postgres")
    postgres.ensure_running()
    return str(postgres.create_database(f"n_{uuid.uuid4().hex[:10]}"))


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
        wait_for(lambda: s.ended(alarm_id))
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
        wait_for(lambda: s.ended(alarm_id))
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
        wait_for(lambda: len(s.ended(alarm_id)) == 2)
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
        wait_for(lambda: s.ended(alarm_id))
        (row,) = s.engine.store.notifications.recent(subject_id=alarm_id)
        assert row.state == "sent"
        assert "s3cretpass" not in row.channel
        assert "tok123" not in row.channel
    finally:
        s.close()


def message(subject: str, subject_id: int, url: str = "json://127.0.0.1:9/x", body: str = "b") -> Message:
    kind = "alarm" if subject == "alarm" else "hazard_overdue"
    return Message(kind, subject, subject_id, "E", "duty", url, "t", body, T0, [])


def test_full_queue_drops_hazard_messages_never_alarms() -> None:
    """Hazard messages beyond the bound drop the oldest hazard one; alarms are taken even beyond it."""
    queues = ChannelQueues(lambda url: None, size=10, alarm_reserve=0.25)
    dropped = [queues.put(message("hazard", i), 0.0) for i in range(8)]
    dropped += [queues.put(message("alarm", 100 + i, url="json://127.0.0.1:9/a"), 0.0) for i in range(5)]
    dropped += [queues.put(message("hazard", 50 + i), 0.0) for i in range(3)]
    assert sorted(m.subject_id for m in dropped if m is not None) == [0, 1, 2, 3, 4, 5]
    assert len(queues) == 10
    deliveries = queues.take(0.0, capacity=100)
    assert [g[0].subject_id for g in deliveries] == [100, 101, 102, 103, 104, 6, 7, 50, 51, 52]


def test_a_limited_channel_takes_alarms_first_combined_paced_and_hazards_wait() -> None:
    """4 a minute, a quarter kept for alarms: hazard messages take 3 slots, then wait; the alarms waiting
    leave together in the last slot; once the minute is spent nothing starts until its first start is 60 s
    old; nothing is dropped."""
    url = "wecombot://key"
    queues = ChannelQueues(lambda u: 4 if u == url else None, size=100, alarm_reserve=0.25)
    for i in range(5):
        queues.put(message("hazard", i, url), 0.0)
    first = queues.take(0.0, capacity=10)
    assert [g[0].subject_id for g in first] == [0, 1]  # the second half of the minute is paced
    assert queues.take(1.0, capacity=10) == []  # 15 s apart (60 / 4)
    assert [g[0].subject_id for g in queues.take(15.0, capacity=10)] == [2]
    assert queues.take(30.0, capacity=10) == []  # one slot left: the alarms' reserve
    for i in range(3):
        queues.put(message("alarm", 100 + i, url, body=f"火警 {i}"), 31.0)
    (combined,) = queues.take(31.0, capacity=10)
    assert [m.subject_id for m in combined] == [100, 101, 102]
    queues.put(message("alarm", 103, url), 32.0)
    assert queues.take(59.0, capacity=10) == []  # four started in the last 60 s
    assert queues.next_free_in(59.0) == pytest.approx(1.0)
    assert [[m.subject_id for m in g] for g in queues.take(60.0, capacity=10)] == [[103]]
    assert queues.counters.combined == 3
    assert queues.counters.rate_limited_alarms == 1  # 103 waited; 100-102 left as soon as they came
    assert queues.counters.rate_limited == 2 + 1  # hazards 2 and 3 were held when next in line; alarm 103
    assert [m.subject_id for m in queues] == [3, 4]  # still waiting, not dropped


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


# -- durable: queued before delivery, stops and starts ----------------------------------------------------


def test_each_message_is_queued_in_the_store_before_it_is_delivered(
    tmp_path: Path, registry: Registry, receiver: Receiver
) -> None:
    s = make(tmp_path, registry, duty=[receiver.url("duty")])
    try:
        receiver.answer.clear()  # the receiver has it, and has not answered yet
        alarm_id, _ = s.alarm()
        wait_for(lambda: receiver.on("duty"))
        (row,) = s.engine.store.notifications.recent(subject_id=alarm_id)
        assert (row.state, row.sent_at, row.route) == ("queued", None, "duty")
        receiver.answer.set()
        wait_for(lambda: s.ended(alarm_id))
        (row,) = s.engine.store.notifications.recent(subject_id=alarm_id)
        assert (row.state, row.attempts) == ("sent", 1)
    finally:
        s.close()


def test_a_stop_leaves_what_was_not_sent_queued_and_the_next_start_sends_it(
    tmp_path: Path, registry: Registry, receiver: Receiver, store_url: str
) -> None:
    config = NotifySection(duty=[receiver.url("duty")], workers=1)
    s = Setup(tmp_path, registry, config, store_url)
    try:
        receiver.answer.clear()
        alarms = [s.alarm(i)[0] for i in range(3)]
        wait_for(lambda: receiver.on("duty"))  # the first is being delivered, two wait behind it
        stopping = threading.Thread(target=s.notifier.stop)
        stopping.start()
        time.sleep(0.3)
        receiver.answer.set()  # the delivery under way ends; the stop waits for it
        stopping.join(15)
        states = {r.subject_id: r.state for r in s.rows}
        assert sorted(states.values()) == ["queued", "queued", "sent"]
        assert len(receiver.on("duty")) == 1

        notifier = s.start_notifier(config)
        wait_for(lambda: all(s.ended(a) for a in alarms))
        assert {r.subject_id: r.state for r in s.rows} == dict.fromkeys(alarms, "sent")
        assert len(s.rows) == 3  # the same rows, finished: nothing recorded twice
        assert len(receiver.on("duty")) == 3  # each alarm once
        assert (notifier.counters.resumed, notifier.counters.late) == (2, 0)
    finally:
        s.close()


def queued_row(s: Setup, kind: str, subject: str, subject_id: int, route: str, url: str) -> int:
    """A row as a gateway that died before delivering it left it."""
    estate = s.registry.estates[0].id
    if subject == "alarm":
        estate = s.engine.store.alarms.get(subject_id).estate_id
    (row_id,) = s.engine.store.notifications.queue(
        [
            {
                "kind": kind,
                "subject": subject,
                "subject_id": subject_id,
                "estate_id": estate,
                "channel": scrub(url),
                "route": route,
                "title": "t",
                "body": f"{kind} #{subject_id} (from before the start)",
                "queued_at": s.clock(),
            }
        ]
    )
    return row_id


def test_a_start_takes_up_what_is_owed_and_records_why_it_drops_the_rest(
    tmp_path: Path, registry: Registry, receiver: Receiver, store_url: str
) -> None:
    """Before the notifier starts: an alarm that arrived 2 h ago (older than resume_within_s), an open alarm
    never pushed and by now past its escalation, an alarm acknowledged whose escalation was queued, a
    hazard message queued, a message queued to an address since removed."""
    duty, boss, hazards = receiver.url("duty"), receiver.url("boss"), receiver.url("hazards")
    config = NotifySection(
        duty=[duty], escalate=[boss], hazards=[hazards], escalate_after_s=60, resume_within_s=3600
    )
    s = Setup(tmp_path, registry, None, store_url)
    try:
        too_old, _ = s.alarm(0)
        s.clock.advance(hours=2)
        never_pushed, device = s.alarm(1)
        handled, _ = s.alarm(2)
        s.engine.alarms.step(handled, AlarmAction.ACKNOWLEDGE, actor="值班员")
        s.engine.store.notifications.record(
            kind="alarm", subject="alarm", subject_id=handled, estate_id=registry.estates[0].id,
            channel=scrub(duty), title="t", body="b", queued_at=s.clock(), sent_at=s.clock(), attempts=1,
            state="sent", route="duty",
        )  # fmt: skip
        stale_escalation = queued_row(s, "alarm_escalation", "alarm", handled, "escalate", boss)
        removed = queued_row(s, "alarm", "alarm", never_pushed, "duty", "json://127.0.0.1:1/removed")
        hazard = s.engine.hazards.file(
            estate_id=registry.estates[0].id, criterion="Y9", location="1号楼", description="飞线充电",
            reporter="网格员",
        )  # fmt: skip
        resumed = queued_row(s, "hazard_dispatched", "hazard", hazard.id, "hazards", hazards)
        s.clock.advance(minutes=2)

        notifier = s.start_notifier(config)
        wait_for(lambda: receiver.on("duty") and receiver.on("boss") and receiver.on("hazards"))
        time.sleep(0.5)
        (late,) = receiver.messages("duty")
        assert device in late
        assert "（补发：报警于 2 分钟前）" in late
        (escalated,) = receiver.messages("boss")
        assert escalated.startswith("【火警无人确认】")
        assert device in escalated
        assert receiver.messages("hazards") == [f"hazard_dispatched #{hazard.id} (from before the start)"]
        rows = {r.id: r for r in s.rows}
        assert rows[resumed].state == "sent"
        why = {r.id: r.error for r in rows.values() if r.state == "abandoned"}
        assert "the alarm was acknowledged before its escalation was sent" in why.pop(stale_escalation)
        assert "no longer among the addresses of duty" in why.pop(removed)
        ((old_row, old_why),) = why.items()
        assert rows[old_row].subject_id == too_old
        assert "arrived 2.0 h before" in old_why
        assert "resume_within_s" in old_why
        counters = notifier.counters
        assert (counters.resumed, counters.late, counters.abandoned, counters.escalations) == (1, 1, 3, 1)

        # A second start owes nothing more: every alarm has its duty row, sent or abandoned.
        notifier.stop()
        before = len(s.rows)
        notifier = s.start_notifier(config)
        time.sleep(1.0)
        assert len(s.rows) == before
        assert (notifier.counters.late, notifier.counters.abandoned) == (0, 0)
    finally:
        s.close()


def test_a_takeover_takes_up_the_alarms_the_previous_gateway_raised(
    tmp_path: Path, registry: Registry, receiver: Receiver
) -> None:
    """``[ha]``: the notifier runs while its gateway stands by and is attached to the engine built at the
    takeover; alarms the previous active gateway raised and never pushed get their duty message then, and
    escalate at once when nobody acknowledged them in time."""
    config = NotifySection(duty=[receiver.url("duty")], escalate=[receiver.url("boss")], escalate_after_s=60)
    s = Setup(tmp_path, registry, None)  # the previous active gateway: raised, died before pushing
    try:
        _, device = s.alarm()
        s.clock.advance(seconds=90)
        standby = Notifier(config, registry, s.clock)
        standby.start()
        time.sleep(0.3)
        assert receiver.requests == []  # standing by: attached to no engine, owes nothing
        taken_over = RuleEngine(registry, load_policy(), s.engine.store, clock=s.clock)
        standby.attach(taken_over)
        wait_for(lambda: receiver.on("duty") and receiver.on("boss"))
        assert device in receiver.messages("duty")[0]
        assert device in receiver.messages("boss")[0]
        assert (standby.counters.late, standby.counters.escalations) == (1, 1)
        standby.stop()
    finally:
        s.close()


# -- who gets hazard messages -----------------------------------------------------------------------------


def test_hazard_messages_reach_the_dispatched_partys_own_channels(
    tmp_path: Path, registry: Registry, receiver: Receiver
) -> None:
    s = make(tmp_path, registry, hazards=[receiver.url("hazards")])
    try:
        estate = registry.estates[0].id
        store = s.engine.store
        with_channel = store.parties.create(
            kind=PartyKind.PROPERTY_COMPANY, name="锦绣物业", actor="t", now=s.clock(),
            channels=[receiver.url("jinxiu")], estate_ids=[estate],
        )  # fmt: skip
        without = store.parties.create(
            kind=PartyKind.MAINTENANCE_COMPANY, name="安达维保", actor="t", now=s.clock(), estate_ids=[estate]
        )
        for party in (with_channel, without):
            hazard = s.engine.hazards.file(
                estate_id=estate, criterion="Y9", location="1号楼", description=f"飞线充电 {party.name}",
                reporter="网格员",
            )  # fmt: skip
            s.engine.hazards.step(hazard.id, HazardAction.DISPATCH, actor="街道", party_id=party.id)
        wait_for(lambda: receiver.on("jinxiu") and receiver.on("hazards"))
        (to_party,) = receiver.messages("jinxiu")
        assert to_party.startswith("【隐患派单】")
        assert "锦绣物业" in to_party
        (fallback,) = receiver.messages("hazards")
        assert "安达维保" in fallback  # a party without channels: [notify] hazards
        wait_for(lambda: all(r.state == "sent" for r in s.rows))
        assert {r.route for r in s.rows} == {f"party:{with_channel.id}", "hazards"}
    finally:
        s.close()


def test_an_escalated_hazard_reaches_its_level_and_an_overdue_one_its_party_too(
    tmp_path: Path, registry: Registry, receiver: Receiver
) -> None:
    """The engine announces ``escalate`` with the level it went to: that level's addresses and the parties
    of that kind serving the estate get it; the party it was dispatched to hears it is overdue, unless it
    is a red item escalated at once (not overdue)."""
    s = make(
        tmp_path,
        registry,
        hazards=[receiver.url("hazards")],
        escalation_levels={"street": [receiver.url("street")], "brigade": [receiver.url("brigade")]},
    )
    try:
        estate = registry.estates[0].id
        store = s.engine.store
        street = store.parties.create(
            kind=PartyKind.STREET, name="东街道", actor="t", now=s.clock(), channels=[receiver.url("east")],
            estate_ids=[estate],
        )  # fmt: skip
        company = store.parties.create(
            kind=PartyKind.PROPERTY_COMPANY, name="锦绣物业", actor="t", now=s.clock(),
            channels=[receiver.url("jinxiu")], estate_ids=[estate],
        )  # fmt: skip

        def escalate(hazard_id: int, level: str, why: str, party_id: int | None) -> None:
            data = {"id": hazard_id, "estate": estate, "action": "escalate", "level": level, "why": why,
                    "description": "楼道堆物", "party_id": party_id}  # fmt: skip
            s.notifier.on_update(RuleUpdate("hazard", estate, s.clock(), data))

        escalate(1, "street", "red", None)
        escalate(2, "brigade", "overdue", company.id)
        wait_for(lambda: len(receiver.requests) == 4)
        time.sleep(0.3)
        (to_street,) = receiver.messages("street")
        assert to_street.startswith("【隐患升级督办】")
        assert "红色隐患须立即采取措施，已升级至街道督办" in to_street
        assert receiver.messages("east") == [to_street]  # the street party of the estate too
        (to_brigade,) = receiver.messages("brigade")
        assert "逾期未整改，已升级至消防救援大队督办" in to_brigade
        (to_company,) = receiver.messages("jinxiu")
        assert to_company.startswith("【隐患逾期】")
        assert receiver.on("hazards") == []
        routes = {r.route for r in s.rows}
        assert routes == {"level:street", f"party:{street.id}", "level:brigade", f"party:{company.id}"}
    finally:
        s.close()


# -- rate limits ------------------------------------------------------------------------------------------


def test_a_rate_limited_channel_gets_a_burst_of_alarms_combined_and_holds_hazards_back(
    tmp_path: Path, registry: Registry, receiver: Receiver
) -> None:
    """6 a minute on ``json://``: six alarms at once arrive within seconds in at most three messages;
    hazard messages to the same channel then wait for the limit, counted, and stay queued through a stop."""
    url = receiver.url("group")
    s = make(tmp_path, registry, duty=[url], hazards=[url], rate_per_minute={"json": 6})
    try:
        detectors = registry.devices_of_kind(DeviceKind.SMOKE_DETECTOR)[:6]
        now = s.clock()
        s.engine.on_records(
            [(d, DeviceEvent(device_id=d.id, time=now, type=EventType.ALARM)) for d in detectors], now
        )
        took = wait_for(lambda: all(any(d.id in m for m in receiver.messages("group")) for d in detectors))
        assert took < 15
        posts = len(receiver.on("group"))
        assert posts <= 3
        estate = registry.estates[0].id
        for i in range(6):
            data = {"id": 1000 + i, "estate": estate, "action": "dispatch", "description": f"隐患 {i}"}
            s.notifier.on_update(RuleUpdate("hazard", estate, s.clock(), data))
        time.sleep(1.5)
        fields = s.notifier.counters.fields()
        hazards_sent = len(receiver.on("group")) - posts
        assert hazards_sent + fields["notify_waiting"] == 6
        assert fields["notify_waiting"] >= 1
        assert fields["notify_rate_limited"] >= 1
        assert fields["notify_dropped"] == 0
        waiting = int(fields["notify_waiting"])
        s.notifier.stop()
        assert len([r for r in s.rows if r.subject == "hazard" and r.state == "queued"]) == waiting
    finally:
        s.close()
