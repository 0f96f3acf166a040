"""Cameras send keep-alives; one silent past its window is offline (a monitoring fault: its fire lane is
unmonitored).

The window is 5 min plus 5 min of grace (rules/thresholds.py, from the vendors' keep-alive periods: Hikvision
every 10-30 s, Dahua at the period asked for). Checked on the rules alone, through the ``camera_event``
decoder, and end to end from the simulated camera (``simulators/devices/camera.py``) through the decoder into
the rules, on a fake clock.
"""

from __future__ import annotations

import json
from datetime import timedelta

from simulator_helpers import TS
from test_rules_device import MINUTE, T0, Sim, only

from collectors.decoders import make_decoder
from gateway.models import Device, DeviceKind, EventType, Reading
from rules.device_rules import DeviceRules
from rules.model import SignalKind
from rules.policy import builtin_policy
from rules.texts import describe
from simulators.clock import to_ms
from simulators.devices.camera import HEARTBEAT_S, CameraSim
from simulators.devices.factory import make_sim

OFFLINE = SignalKind.OFFLINE
CAMERA = DeviceKind.CAMERA


def test_a_silent_camera_goes_offline_after_its_window_and_a_keep_alive_brings_it_back() -> None:
    sim = Sim(CAMERA, device_id="CAM-1", keepalive=False)
    sim.reading(alive=True)
    heard = sim.now
    assert sim.ticks(10 * MINUTE) == [], "5 min window + 5 min grace: not yet (strictly longer)"
    assert sim.rules.online
    change = only(sim.ticks(MINUTE), OFFLINE)
    assert change.active
    assert change.since == heard
    assert change.at == heard + 11 * MINUTE
    assert change.detail == "nothing heard for 11 min"
    assert sim.ticks(2 * timedelta(hours=1)) == [], "one change per outage"
    back = only(sim.reading(alive=True), OFFLINE)
    assert back.active is False
    assert sim.rules.online


def test_keep_alives_inside_the_window_keep_a_camera_online() -> None:
    sim = Sim(CAMERA, keepalive=False)
    for _ in range(24 * 12):  # a day of keep-alives five minutes apart (a few lost in a row is fine)
        sim.ticks(5 * MINUTE)
        sim.reading(alive=True)
    assert sim.changes == []


def test_a_detection_is_a_sign_of_life_too() -> None:
    sim = Sim(CAMERA, keepalive=False)
    sim.ticks(11 * MINUTE)
    assert sim.edges(OFFLINE) == [True]
    sim.event(EventType.FIRE_LANE_OCCUPIED, state="start", event_id="e1")
    assert sim.edges(OFFLINE) == [True, False]


def test_a_camera_offline_text_says_minutes() -> None:
    sim = Sim(CAMERA, device_id="CAM-E001-02", keepalive=False)
    (change,) = sim.ticks(11 * MINUTE)
    device = Device(id="CAM-E001-02", kind=CAMERA, estate_id="E001", location="2号楼 消防车道")
    text = describe(device, change, sim.rules.t, "zh")
    assert text == "摄像头 CAM-E001-02（2号楼 消防车道）：离线，超过 10 分钟未上报"


def test_a_decoded_keep_alive_marks_the_camera_seen() -> None:
    decoder = make_decoder("camera_event")
    device = Device(id="CAM-E01-02", kind=CAMERA, estate_id="E001", wire_format="camera_event")
    policy = builtin_policy("default")
    rules = DeviceRules(device, policy.thresholds_for(CAMERA, {}, "device CAM-E01-02"), started=T0)
    (offline,) = rules.tick(T0 + 11 * MINUTE)
    assert offline.signal is OFFLINE
    now = T0 + 12 * MINUTE
    body = json.dumps({"id": "CAM-E01-02", "ts": to_ms(now), "type": "heartbeat"}).encode()
    (record,) = decoder.decode("fire/camera/CAM-E01-02/event", body)
    assert isinstance(record, Reading)
    assert record.metrics == {"alive": True}
    (back,) = rules.observe(record, now)
    assert (back.signal, back.active) == (OFFLINE, False)


# -- the simulated camera ---------------------------------------------------------------------------------


def camera(location: str = "2号楼 消防车道", **kwargs: float) -> CameraSim:
    dev = Device(
        id="CAM-E001-02", kind=CAMERA, estate_id="E001", location=location, wire_format="camera_event"
    )
    return CameraSim(dev, seed=3, **kwargs)


def test_the_simulated_camera_sends_a_keep_alive_every_minute() -> None:
    sim = camera(interval_s=0)
    assert sim.next_interval_s() == HEARTBEAT_S == 60.0
    (message,) = sim.report(TS)
    assert message.topic == "fire/camera/CAM-E001-02/event"
    assert json.loads(message.payload) == {"id": "CAM-E001-02", "ts": TS, "type": "heartbeat"}
    sim.act("offline", TS + 1)
    assert sim.report(TS + 60_000) == [], "an offline camera sends nothing, keep-alives included"
    (again,) = sim.act("online", TS + 120_000)
    assert json.loads(again.payload)["type"] == "heartbeat", "back online, it reports at once"


def test_background_detections_still_come_between_keep_alives() -> None:
    sim = camera(interval_s=600)
    types = []
    for i in range(6 * 60):  # six hours of keep-alives; each stop ends (its follow-up) before the next minute
        messages = sim.report(TS + i * 60_000)
        for follow in sim.take_followups():
            messages += sim.act(follow.action, TS + i * 60_000 + round(follow.delay_s * 1000), follow.params)
        types += [json.loads(m.payload).get("state", "heartbeat") for m in messages]
    assert types.count("heartbeat") == 360
    assert 15 <= types.count("start") == types.count("end") <= 60, "about one every 10 minutes (Poisson)"


def test_no_background_stop_is_reported_while_the_lane_is_already_occupied() -> None:
    sim = camera(interval_s=60)  # a detection due at nearly every keep-alive
    sim.act("occupy", TS, {"duration": "1h"})
    sim.take_followups()
    for i in range(1, 60):
        (message,) = sim.report(TS + i * 60_000)
        assert json.loads(message.payload)["type"] == "heartbeat"


def test_without_keep_alives_the_periodic_report_is_the_detection_alone() -> None:
    sim = camera(interval_s=600, heartbeat_s=0)
    assert sim.next_interval_s() != 60.0
    (message,) = sim.report(TS)
    assert json.loads(message.payload)["state"] == "start"


def test_simulated_camera_through_decoder_and_rules_stays_online_until_taken_offline() -> None:
    """Two hours of a simulated camera (keep-alives and background detections) through the real decoder into
    the rules: never offline. Then the camera goes offline: after 10 minutes the rules say so; back online,
    its first keep-alive clears it."""
    device = Device(id="CAM-E001-01", kind=CAMERA, estate_id="E001", wire_format="camera_event")
    sim = make_sim(device, seed=7)
    decoder = make_decoder("camera_event")
    rules = DeviceRules(device, builtin_policy("default").thresholds_for(CAMERA, {}, "d"), started=T0)
    changes = []
    now = T0
    silent_from = T0 + timedelta(hours=2)
    while now < T0 + timedelta(hours=3):
        now += timedelta(seconds=sim.next_interval_s())
        if now >= silent_from and sim.online:
            sim.act("offline", to_ms(now))
        for message in sim.report(to_ms(now)):
            for record in decoder.decode(message.topic, message.payload):
                changes += rules.observe(record, now)
        sim.take_followups()
        changes += rules.tick(now)
    offline = [c for c in changes if c.signal is OFFLINE]
    assert [c.active for c in offline] == [True]
    heard = offline[0].since
    assert silent_from - MINUTE <= heard < silent_from, "the last keep-alive before it went silent"
    assert heard + 10 * MINUTE < offline[0].at <= heard + 11 * MINUTE
    now += MINUTE
    for message in sim.act("online", to_ms(now)):
        for record in decoder.decode(message.topic, message.payload):
            changes += rules.observe(record, now)
    assert [c.active for c in changes if c.signal is OFFLINE] == [True, False]
