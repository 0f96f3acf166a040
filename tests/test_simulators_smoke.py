"""Simulated smoke detectors (``simulators/devices/smoke.py``): every payload shape against the spec.

The expected shapes are written from ``docs/wire-formats.md`` §1-§3 by hand, not from the encoders.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from simulator_helpers import TS, compact, payload, smoke_device

from simulators.clock import to_ms
from simulators.devices.smoke import CTWING_ALARM_CODES, SMOKE_EVENTS, SmokeDetectorSim


def test_smoke_json_shape_for_every_event() -> None:
    sim = SmokeDetectorSim(smoke_device(), seed=1)
    (hb,) = sim.report(TS)
    assert hb.topic == "fire/smoke/SD-E001-0001/up"
    compact(hb)
    body = payload(hb)
    assert list(body) == ["id", "seq", "ts", "event", "battery", "rsrp"]
    assert body["id"] == "SD-E001-0001"
    assert body["ts"] == TS
    assert body["event"] == "heartbeat"
    assert isinstance(body["seq"], int)
    assert body["seq"] >= 0
    assert isinstance(body["battery"], int)
    assert 0 <= body["battery"] <= 100
    assert isinstance(body["rsrp"], int)
    assert -140 <= body["rsrp"] <= -44
    seq = body["seq"]
    for i, event in enumerate(e for e in SMOKE_EVENTS if e != "heartbeat"):
        (msg,) = sim.act(event, TS + 1000 * (i + 1))
        got = payload(msg)
        assert got["event"] == event
        assert got["seq"] == seq + i + 1
        assert got["ts"] == TS + 1000 * (i + 1)
        extra = set(got) - {"id", "seq", "ts", "event", "battery", "rsrp"}
        expected_extra = {"alarm": {"smoke"}, "fault": {"fault_code"}, "fault_clear": {"fault_code"}}
        assert extra == expected_extra.get(event, set()), event
    (fault,) = sim.act("fault", TS, {"code": "E07"})
    assert payload(fault)["fault_code"] == "E07"
    (alarm,) = sim.act("alarm", TS, {"smoke": 0.5})
    assert payload(alarm)["smoke"] == 0.5


def test_seq_wraps_at_2_pow_32() -> None:
    sim = SmokeDetectorSim(smoke_device(), seed=1)
    sim.seq = 2**32 - 1
    assert [payload(m)["seq"] for m in sim.report(TS) + sim.report(TS + 1)] == [2**32 - 1, 0]


def test_gbt45839_status_shape_and_status_codes() -> None:
    sim = SmokeDetectorSim(smoke_device("gbt45839_status"), seed=1)
    (hb,) = sim.report(TS)
    assert hb.topic == "fire/gbt45839/ACME/status"
    compact(hb)
    body = payload(hb)
    assert list(body) == ["company", "serial", "status", "signalStrength", "batteryPercentage", "datetime"]
    assert body["company"] == "ACME"
    assert body["serial"] == "SD-E001-0001"
    assert body["datetime"] == "2025-11-23 08:00:00"  # CST, seconds truncated
    assert -140 <= body["signalStrength"] <= -44
    assert 0 <= body["batteryPercentage"] <= 100

    def status(action: str, params: dict[str, Any] | None = None) -> int:
        (msg,) = sim.act(action, TS, params)
        value = payload(msg)["status"]
        assert isinstance(value, int)
        return value

    assert body["status"] == 1
    assert status("alarm") == 2
    assert status("alarm_clear") == 1
    assert status("fault") == 3
    assert status("heartbeat") == 3  # still faulty
    assert status("fault_clear") == 1
    assert status("tamper") == 3
    assert status("tamper_clear") == 1
    assert status("shield") == 4
    assert status("shield", {"value": False}) == 1
    # CST crosses midnight: 2025-11-23 23:59:59 CST is 15:59:59 UTC.
    late = to_ms(datetime(2025, 11, 23, 16, 0, 0, tzinfo=UTC)) - 1
    assert payload(sim.report(late)[0])["datetime"] == "2025-11-23 23:59:59"
    assert payload(sim.report(late + 1)[0])["datetime"] == "2025-11-24 00:00:00"


def test_ctwing_envelope_shape_and_vendor_codes() -> None:
    sim = SmokeDetectorSim(smoke_device("ctwing"), seed=3)
    (hb,) = sim.report(TS)
    compact(hb)
    env = payload(hb)
    assert hb.topic == f"ctwing/{env['productId']}/push"
    assert list(env) == [
        "messageType", "IMEI", "deviceId", "productId", "tenantId", "timestamp", "protocol", "payload",
    ]  # fmt: skip
    assert env["IMEI"] == "869975030012349"
    assert env["timestamp"] == TS
    assert env["messageType"] == "dataReport"
    service = env["payload"]
    assert service["serviceId"] in ("heartbeat", "smoke_alarm")
    if service["serviceId"] == "smoke_alarm":
        assert service["serviceData"]["alarm_code"] == 0
    assert {"battery", "rsrp"} <= set(service["serviceData"])
    # The generic table: 1 alarm, 2 alarm_clear, ..., 9 mute.
    table = {"alarm": 1, "alarm_clear": 2, "fault": 3, "fault_clear": 4, "low_battery": 5, "tamper": 6,
             "tamper_clear": 7, "self_test": 8, "mute": 9}  # fmt: skip
    assert {k: v for k, v in CTWING_ALARM_CODES.items() if k != "heartbeat"} == table
    for event, code in table.items():
        (msg,) = sim.act(event, TS)
        env = payload(msg)
        assert env["messageType"] in ("dataReport", "eventReport")
        assert env["payload"]["serviceId"] == "smoke_alarm"
        assert env["payload"]["serviceData"]["alarm_code"] == code
    (off,) = sim.act("offline", TS, {"announce": True})
    assert payload(off)["messageType"] == "deviceOnlineOfflineReport"
    assert payload(off)["eventType"] == 0
    assert "payload" not in payload(off)
    assert sim.report(TS) == [], "an offline device sends nothing"
    on, hb2 = sim.act("online", TS, {"announce": True})
    assert payload(on)["eventType"] == 1
    assert payload(hb2)["timestamp"] == TS


def test_ctwing_requires_an_imei() -> None:
    with pytest.raises(ValueError, match="imei"):
        SmokeDetectorSim(smoke_device("ctwing", imei=None), seed=1)
