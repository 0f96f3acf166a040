"""Simulated cameras (``simulators/devices/camera.py``): start/end pairs, detection type by location,
keep-alives (more in tests/test_camera_keepalive.py).

The expected shape is written from ``docs/wire-formats.md`` §6 by hand, not from the encoder.
"""

from __future__ import annotations

import re

import pytest
from simulator_helpers import TS, compact, payload

from gateway.models import Device, DeviceKind
from simulators.devices.base import ActionError
from simulators.devices.camera import CameraSim


def test_camera_start_end_pair_and_type_by_location() -> None:
    dev = Device(
        id="CAM-E001-02", kind=DeviceKind.CAMERA, estate_id="E001", location="2号楼 消防车道",
        wire_format="camera_event",
    )  # fmt: skip
    sim = CameraSim(dev, seed=1)
    (start,) = sim.act("occupy", TS, {"object": "vehicle", "confidence": 0.93, "duration": "20m"})
    assert start.topic == "fire/camera/CAM-E001-02/event"
    compact(start)
    s = payload(start)
    assert list(s) == ["id", "ts", "event_id", "type", "state", "object", "confidence", "snapshot"]
    assert s["type"] == "fire_lane_occupied"
    assert s["state"] == "start"
    assert s["object"] == "vehicle"
    assert s["confidence"] == 0.93
    assert re.fullmatch(r"e-20251123-\d{6}", s["event_id"])
    assert s["snapshot"] == f"snap/CAM-E001-02/{s['event_id']}.jpg"
    (follow,) = sim.take_followups()
    assert follow.delay_s == 1200
    assert follow.action == "clear"
    (end,) = sim.act(follow.action, TS + 1_200_000, follow.params)
    e = payload(end)
    assert e["state"] == "end"
    assert e["event_id"] == s["event_id"]
    assert e["ts"] == TS + 1_200_000
    assert sim.act("clear", TS) == [], "nothing open any more"
    lift = CameraSim(dev.model_copy(update={"location": "3号楼 1层 电梯厅"}), seed=1)
    stairs = CameraSim(dev.model_copy(update={"location": "1号楼 疏散楼梯"}), seed=1)
    assert payload(lift.start(TS)[1][0])["type"] == "ebike_in_lift"
    assert payload(lift.start(TS)[1][0])["object"] == "ebike"
    assert payload(stairs.start(TS)[1][0])["type"] == "evacuation_blocked"
    with pytest.raises(ActionError, match="type"):
        sim.act("occupy", TS, {"type": "parking"})


def test_camera_keep_alive_shape() -> None:
    """docs/wire-formats.md §6: ``{"id", "ts", "type": "heartbeat"}`` on the event topic, every minute."""
    dev = Device(id="CAM-E001-01", kind=DeviceKind.CAMERA, estate_id="E001", wire_format="camera_event")
    sim = CameraSim(dev, seed=1, interval_s=0)
    (beat,) = sim.report(TS)
    assert beat.topic == "fire/camera/CAM-E001-01/event"
    compact(beat)
    assert payload(beat) == {"id": "CAM-E001-01", "ts": TS, "type": "heartbeat"}
    assert sim.next_interval_s() == 60.0
