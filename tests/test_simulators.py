"""The simulators: fleet generation, payload shapes against the documented wire formats, the simulated clock,
scenario validation, and a scenario run against a real (in-process amqtt) broker.

The expected payload shapes below are written from ``docs/wire-formats.md`` by hand, not from the encoders,
so a test failure means the simulator and the spec disagree. One test then feeds every simulated message to
the collectors' decoders: the two sides are written independently, so agreement there is evidence that both
follow the spec (the simulators themselves never import ``collectors/``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import sys
import time
import tomllib
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import pytest

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from gateway.models import Device, DeviceKind, ModbusAddress  # noqa: E402
from gateway.registry import registry_from_mapping, registry_to_toml  # noqa: E402
from simulators.clock import SimClock, parse_duration, to_ms  # noqa: E402
from simulators.devices import (  # noqa: E402
    CTWING_ALARM_CODES,
    SMOKE_EVENTS,
    ActionError,
    CameraSim,
    HydrantDtuSim,
    HydrantModbusSim,
    SmokeDetectorSim,
    make_sim,
)
from simulators.fleet import generate_fleet, modbus_gateways  # noqa: E402
from simulators.publisher import MqttPublisher, burst, make_burst  # noqa: E402
from simulators.scenario import (  # noqa: E402
    Scenario,
    ScenarioError,
    ScenarioRunner,
    ScenarioStats,
    load_scenario,
    parse_scenario,
    run_scenario_against_broker,
    start_modbus_servers,
    stop_modbus_servers,
)

CST = timezone(timedelta(hours=8))
TS = 1763856000123  # 2025-11-23 00:00:00.123 UTC = 08:00:00 CST
SCENARIOS = _ROOT / "simulators" / "scenarios"


def payload(message: tuple[str, bytes]) -> dict[str, Any]:
    data = json.loads(message[1])
    assert isinstance(data, dict)
    return data


def compact(message: tuple[str, bytes]) -> None:
    """Compact JSON, UTF-8, exactly as json.dumps(separators=(",", ":"), ensure_ascii=False) writes it."""
    text = message[1].decode("utf-8")
    assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)


def smoke_device(fmt: str = "smoke_json", **extra: Any) -> Device:
    imei = "869975030012349" if fmt == "ctwing" else None
    return Device(
        id="SD-E001-0001",
        kind=DeviceKind.SMOKE_DETECTOR,
        estate_id="E001",
        wire_format=fmt,
        imei=extra.pop("imei", imei),
        vendor=extra.pop("vendor", "ACME" if fmt != "ctwing" else "generic"),
        **extra,
    )


# ------------------------------------------------------------------------------------------------ fleet


def test_fleet_is_deterministic_for_a_seed_and_round_trips_through_toml() -> None:
    a = generate_fleet(5, 30, 6, 4, 0.5, seed=7)
    b = generate_fleet(5, 30, 6, 4, 0.5, seed=7)
    c = generate_fleet(5, 30, 6, 4, 0.5, seed=8)
    assert registry_to_toml(a) == registry_to_toml(b)
    assert registry_to_toml(a) != registry_to_toml(c)
    back = registry_from_mapping(tomllib.loads(registry_to_toml(a)))
    assert back == a


def test_fleet_looks_like_a_city() -> None:
    reg = generate_fleet(3, 40, 6, 4, 0.5, seed=1)
    assert len(reg.estates) == 3
    for estate in reg.estates:
        assert re.fullmatch(r"E\d{3}", estate.id)
        assert re.search(r"[\u4e00-\u9fff]", estate.name), estate.name
        assert estate.district.endswith("区")
        assert estate.street.endswith("街道")
        assert "物业" in estate.property_company
        assert estate.latitude is not None
        assert estate.longitude is not None
    kinds = Counter(d.kind for d in reg.devices)
    assert kinds == {DeviceKind.SMOKE_DETECTOR: 120, DeviceKind.HYDRANT: 18, DeviceKind.CAMERA: 12}
    for d in reg.devices:
        if d.kind is DeviceKind.SMOKE_DETECTOR:
            assert re.fullmatch(r"SD-E\d{3}-\d{4}", d.id)
            m = re.fullmatch(r"(\d+)号楼 (\d+)层 (\d+)室", d.location)
            assert m, d.location
            assert int(m.group(2)) == d.floor
            assert m.group(3).startswith(m.group(2))
            assert reg.building(d.building_id) is not None
            assert d.wire_format in ("smoke_json", "gbt45839_status", "ctwing")
            assert (d.imei is not None) == (d.wire_format == "ctwing")
        elif d.kind is DeviceKind.HYDRANT:
            assert re.fullmatch(r"HY-E\d{3}-\d{2}", d.id)
            assert (d.modbus is not None) == (d.wire_format == "modbus")
            if d.modbus is None:
                assert d.wire_format == "hydrant_json"
        else:
            assert re.fullmatch(r"CAM-E\d{3}-\d{2}", d.id)
            assert d.wire_format == "camera_event"
    assert sum(d.modbus is not None for d in reg.devices) == 9  # exactly half of 18


def test_fleet_of_10k_devices_in_under_a_second_with_valid_modbus_addressing() -> None:
    generate_fleet(1, 5, 2, 1, 0.5, seed=0)  # warm-up (first pydantic validation of each model)
    t0 = time.perf_counter()
    reg = generate_fleet(125, 64, 8, 8, 0.6, seed=42)
    elapsed = time.perf_counter() - t0
    assert len(reg.devices) == 10_000
    assert elapsed < 1.0, f"10k devices took {elapsed:.2f} s"
    assert len({d.id for d in reg.devices}) == 10_000
    modbus = [d.modbus for d in reg.devices if d.modbus is not None]
    assert len(modbus) == 600  # 60 % of 1000 hydrants, spread exactly
    addresses = {(m.host, m.port, m.unit) for m in modbus}
    assert len(addresses) == len(modbus), "one RS-485 address per sensor"
    assert all(1 <= m.unit <= 247 for m in modbus)
    assert modbus_gateways(reg) == [("127.0.0.1", 5020), ("127.0.0.1", 5021), ("127.0.0.1", 5022)]
    imeis = [d.imei for d in reg.devices if d.imei]
    assert len(set(imeis)) == len(imeis)
    assert all(_luhn_ok(i) for i in imeis)
    shares = Counter(d.wire_format for d in reg.devices if d.kind is DeviceKind.SMOKE_DETECTOR)
    assert 0.65 < shares["smoke_json"] / 8000 < 0.85


def test_fleet_spreads_gateways_over_hosts() -> None:
    reg = generate_fleet(
        4, 1, 10, 0, 1.0, seed=1, modbus_hosts=["10.0.0.1", "10.0.0.2"], units_per_gateway=15
    )
    assert modbus_gateways(reg) == [("10.0.0.1", 5020), ("10.0.0.1", 5021), ("10.0.0.2", 5020)]


def _luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return len(number) == 15 and total % 10 == 0


# ------------------------------------------------------------------------------------- payload shapes


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


def test_hydrant_json_shape_noise_and_status_bits() -> None:
    dev = Device(id="HY-E001-03", kind=DeviceKind.HYDRANT, estate_id="E001", wire_format="hydrant_json")
    sim = HydrantDtuSim(dev, seed=1)
    readings = [payload(sim.report(TS + i * 60_000)[0]) for i in range(50)]
    first = readings[0]
    assert list(first) == ["id", "seq", "ts", "pressure", "battery", "temperature", "status"]
    assert first["id"] == "HY-E001-03"
    assert first["status"] == 0
    assert isinstance(first["pressure"], float)
    assert isinstance(first["battery"], int)
    pressures = [r["pressure"] for r in readings]
    assert all(abs(p - sim.setpoint) < 0.05 for p in pressures)
    assert len(set(pressures)) > 5, "pressure has noise"
    assert [r["seq"] for r in readings] == list(range(first["seq"], first["seq"] + 50))
    (msg,) = sim.act("pressure", TS, {"value": 0.02})  # reported at once (change-triggered upload)
    assert msg.topic == "fire/hydrant/HY-E001-03/up"
    assert abs(payload(msg)["pressure"] - 0.02) < 0.01
    assert payload(sim.act("leak", TS)[0])["status"] == 0b0010
    assert payload(sim.act("cover_open", TS)[0])["status"] == 0b0110
    assert payload(sim.act("sensor_fault", TS)[0])["status"] == 0b0111
    assert payload(sim.act("leak", TS, {"value": False})[0])["status"] == 0b0101
    assert payload(sim.act("battery", TS, {"value": 10})[0])["status"] == 0b1101  # bit 3: low battery
    with pytest.raises(ActionError, match="value"):
        sim.act("pressure", TS, {})


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
    assert payload(lift.report(TS)[0])["type"] == "ebike_in_lift"
    assert payload(lift.report(TS)[0])["object"] == "ebike"
    assert payload(stairs.report(TS)[0])["type"] == "evacuation_blocked"
    with pytest.raises(ActionError, match="type"):
        sim.act("occupy", TS, {"type": "parking"})


class FakeUnits:
    """Records what a Modbus hydrant asks of the Modbus simulator (the real one is used further down)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def add_unit(
        self, unit: int, pressure_mpa: float = 0.35, battery_pct: int = 100, status: int = 0,
        temperature_c: float = 20.0,
    ) -> None:  # fmt: skip
        self.calls.append(("add", unit, pressure_mpa, battery_pct, status, temperature_c))

    def set_unit(self, unit: int, /, **values: Any) -> None:
        self.calls.append(("set", unit, values))

    def set_unit_silent(self, unit: int, silent: bool, /) -> None:
        self.calls.append(("silent", unit, silent))

    def set_unit_exception(self, unit: int, code: int | None, /) -> None:
        self.calls.append(("exception", unit, code))


def test_modbus_hydrant_drives_its_unit() -> None:
    dev = Device(
        id="HY-E001-05", kind=DeviceKind.HYDRANT, estate_id="E001", wire_format="modbus",
        modbus=ModbusAddress(host="127.0.0.1", port=5020, unit=9),
    )  # fmt: skip
    units = FakeUnits()
    sim = make_sim(dev, seed=1)
    assert isinstance(sim, HydrantModbusSim)
    sim.attach(units)
    assert sim.report(TS) == [], "a polled sensor publishes nothing"
    sim.act("pressure", TS, {"value": 0.02})
    sim.act("silent", TS, {"duration": "5m"})
    sim.act("exception", TS, {"code": 4})
    sim.act("exception_clear", TS)
    kinds = [c[0] for c in units.calls]
    assert kinds == ["add", "set", "set", "silent", "exception", "exception"]
    assert units.calls[0][1] == 9
    assert abs(units.calls[2][2]["pressure_mpa"] - 0.02) < 0.01
    assert set(units.calls[1][2]) == {"pressure_mpa", "battery_pct", "status", "temperature_c"}
    assert units.calls[3] == ("silent", 9, True)
    assert units.calls[-1] == ("exception", 9, None)
    (follow,) = sim.take_followups()
    assert (follow.delay_s, follow.action, follow.params) == (300, "silent", {"value": False})


def test_simulated_messages_decode_with_the_independent_collectors() -> None:
    """Cross-check: the collectors (written separately from the same spec) accept every simulated message."""
    from collectors.base import make_decoder

    reg = generate_fleet(3, 30, 5, 4, 0.0, seed=5)
    decoders = {
        name: make_decoder(name)
        for name in ("smoke_json", "gbt45839_status", "ctwing", "hydrant_json", "camera_event")
    }
    records = 0
    for device in reg.devices:
        sim = make_sim(device, seed=5)
        fmt = device.wire_format
        msgs = sim.report(TS)
        if isinstance(sim, SmokeDetectorSim):
            for event in SMOKE_EVENTS[1:]:
                msgs += sim.act(event, TS + 1)
        elif isinstance(sim, CameraSim):
            msgs += sim.act("clear", TS + 1)
        for message in msgs:
            decoded = decoders[fmt].decode(message.topic, message.payload)
            assert decoded, (fmt, message)
            for record in decoded:
                assert reg.resolve(record.device_id) is not None, record.device_id
            records += len(decoded)
    assert records > 500


# ------------------------------------------------------------------------------------------------ clock


async def test_virtual_clock_jumps_and_never_goes_back() -> None:
    start = datetime(2026, 11, 23, 8, 0, tzinfo=CST)
    clock = SimClock(start, speed=0)
    assert clock.virtual
    assert clock.now() == start
    assert clock.now_ms() == to_ms(start)
    t0 = time.perf_counter()
    await clock.sleep_until(start + timedelta(days=30))
    assert clock.now() == start + timedelta(days=30)
    await clock.sleep_until(start)  # the past: returns at once, time stays
    assert clock.now() == start + timedelta(days=30)
    await clock.sleep(3600)
    assert clock.elapsed_s() == 30 * 86400 + 3600
    assert time.perf_counter() - t0 < 0.1
    clock.advance(1.5)
    assert clock.now_ms() == to_ms(start) + (30 * 86400 + 3601.5) * 1000
    clock.advance_to(start)  # never backwards
    assert clock.elapsed_s() == 30 * 86400 + 3601.5
    clock.advance_to(start + timedelta(days=31))
    assert clock.elapsed_s() == 31 * 86400


async def test_scaled_clock_runs_speed_times_real_time() -> None:
    clock = SimClock(datetime(2026, 1, 1, tzinfo=UTC), speed=200)
    t0 = time.perf_counter()
    await clock.sleep(10.0)  # 10 simulated seconds = 50 ms
    real = time.perf_counter() - t0
    assert 0.04 < real < 0.5
    assert clock.elapsed_s() >= 10.0
    with pytest.raises(RuntimeError):
        clock.advance(1)


def test_clock_and_duration_inputs() -> None:
    with pytest.raises(ValueError, match="timezone"):
        SimClock(datetime(2026, 1, 1), speed=1)  # naive
    with pytest.raises(ValueError, match="speed"):
        SimClock(datetime(2026, 1, 1, tzinfo=UTC), speed=-1)
    assert SimClock(speed=float("inf")).virtual
    assert parse_duration("+2h30m") == 9000
    assert parse_duration("90") == 90
    assert parse_duration(1.5) == 1.5
    assert parse_duration("1d") == 86400
    assert parse_duration("500ms") == 0.5
    for bad in ("2m2h", "1x", "", "-5", "h"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


# ------------------------------------------------------------------------------------- scenario files


def test_shipped_scenarios_are_valid() -> None:
    demo = load_scenario(SCENARIOS / "demo.toml")
    assert demo.speed == 60
    assert demo.duration_s == 4 * 3600
    reg = demo.registry()
    assert len(reg.estates) == 4
    assert 100 <= len(reg.devices) <= 140
    assert any(d.modbus for d in reg.devices)
    actions = {i.action for i in demo.incidents}
    assert {"pressure", "alarm", "occupy", "offline", "silent"} <= actions
    low = next(i for i in demo.incidents if i.action == "pressure")
    assert low.params["value"] == 0.02
    assert low.at_s <= 5 * 60
    failed = load_scenario(SCENARIOS / "failed_hydrant.toml")
    assert [i.at_s for i in failed.incidents] == sorted(i.at_s for i in failed.incidents)
    assert failed.intervals.camera_event_s == 0


BAD = """\
name = "bad"
speed = 0
duration = "1h"
colour = "red"

[fleet]
estates = 2
smoke_per_estate = 5
hydrants_per_estate = 4
cameras_per_estate = 2
modbus_share = 0.5
colour = 1

[intervals]
smoke_heartbeat = "ten minutes"

[[incidents]]
at = "+10m"
device = "SD-E002-0055"
action = "alarm"

[[incidents]]
at = "+20m"
device = "HY-E001-02"
action = "alarm"

[[incidents]]
at = "+2h"
device = "HY-E001-02"
action = "pressure"
value = 0.02

[[incidents]]
at = "+5m"
device = "HY-E001-02"
action = "pressure"
value = "low"

[[incidents]]
device = "CAM-E001-01"
action = "occupy"
durration = "5m"
"""


def test_scenario_validation_names_every_problem_with_its_line() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(BAD, source="bad.toml")
    problems = info.value.problems
    text = "\n".join(problems)
    assert "bad.toml:4: colour: unknown key" in text
    assert "bad.toml:12: fleet.colour: unknown key" in text
    assert "bad.toml:15: intervals.smoke_heartbeat: cannot read duration 'ten minutes'" in text
    # the fleet error stops the registry from being built, so fix it and look at the incidents
    fixed = BAD.replace('colour = "red"\n', "").replace("colour = 1\n", "").replace('"ten minutes"', '"10m"')
    with pytest.raises(ScenarioError) as info:
        parse_scenario(fixed, source="bad.toml")
    problems = info.value.problems
    assert len(problems) == 5, problems
    text = "\n".join(problems)
    assert re.search(
        r"bad\.toml:\d+: incidents\[0\]\.device: unknown device 'SD-E002-0055'; did you mean", text
    )
    assert re.search(r"incidents\[1\]\.action: HY-E001-02 \(hydrant\) has no action 'alarm'", text)
    assert re.search(r"incidents\[2\]\.at: '\+2h' is after the end of the scenario", text)
    assert re.search(r"incidents\[3\]\.value: .*'value' must be a number, got 'low'", text)
    assert re.search(r"incidents\[4\]\.at: missing", text)
    line_of = {p.split(": ")[1]: int(p.split(":")[1]) for p in problems}
    lines = fixed.splitlines()
    assert lines[line_of["incidents[0].device"] - 1] == 'device = "SD-E002-0055"'
    assert lines[line_of["incidents[3].value"] - 1] == 'value = "low"'


def test_scenario_requires_duration_in_fast_mode_and_accepts_globs() -> None:
    with pytest.raises(ScenarioError, match="duration: required"):
        parse_scenario("speed = 0\n")
    sc = parse_scenario(
        'speed = "max"\nduration = "1h"\n[fleet]\nestates = 2\n'
        '[[incidents]]\nat = 60\ndevices = ["SD-E002-*"]\naction = "offline"\n'
    )
    (inc,) = sc.incidents
    assert len(inc.devices) == 20
    assert all(d.startswith("SD-E002-") for d in inc.devices)
    absolute = parse_scenario(
        'start = 2026-11-23T08:00:00+08:00\nduration = "1h"\n[fleet]\nestates = 1\n'
        '[[incidents]]\nat = 2026-11-23T08:30:00+08:00\ndevice = "SD-E001-0001"\naction = "alarm"\n'
    )
    assert absolute.incidents[0].at_s == 1800


# ------------------------------------------------------------------------------------- runs


async def test_runner_in_virtual_time_staggers_reports_and_applies_incidents() -> None:
    sc = parse_scenario(
        """
        start = 2026-11-23T08:00:00+08:00
        speed = 0
        duration = "1h"
        [fleet]
        estates = 2
        smoke_per_estate = 10
        hydrants_per_estate = 2
        cameras_per_estate = 2
        modbus_share = 0.0
        [intervals]
        smoke_heartbeat = "10m"
        hydrant_report = "5m"
        camera_event = "0"
        [[incidents]]
        at = "+15m"
        device = "SD-E001-0003"
        action = "alarm"
        duration = "5m"
        [[incidents]]
        at = "+16m"
        device = "CAM-E002-01"
        action = "occupy"
        duration = "10m"
        """
    )
    sent: list[tuple[str, bytes]] = []

    async def publish(topic: str, body: bytes) -> None:
        sent.append((topic, body))

    seen: list[ScenarioStats] = []
    runner = ScenarioRunner(sc, publish, None, SimClock(sc.start, 0), progress=seen.append)
    stats = await runner.run()
    assert stats.finished
    assert seen
    assert seen[-1] is stats
    assert stats.incidents_applied == 2
    assert stats.followups_applied == 2
    # 20 detectors x 6 heartbeats + 4 hydrants x 12 reports + alarm/clear + start/end
    assert stats.messages == len(sent) == 20 * 6 + 4 * 12 + 2 + 2
    assert stats.by_kind == {"smoke_detector": 122, "hydrant": 48, "camera": 2}
    assert sum(stats.by_format.values()) == stats.messages
    start_ms = to_ms(sc.start)
    first_ts = {
        str(payload(m).get("ts") or payload(m).get("timestamp") or payload(m)["datetime"]) for m in sent[:20]
    }
    assert len(first_ts) > 10, "first reports are staggered, not all at t=0"
    alarm = next(payload(m) for m in sent if b'"alarm"' in m[1] or b'"alarm_code":1' in m[1])
    assert alarm.get("ts", alarm.get("timestamp")) == start_ms + 15 * 60_000
    cam = [payload(m) for m in sent if m[0].startswith("fire/camera/")]
    assert [c["state"] for c in cam] == ["start", "end"]
    assert cam[1]["ts"] - cam[0]["ts"] == 600_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def amqtt_broker() -> AsyncIterator[int]:
    """An in-process amqtt broker on a free port (the embedded default broker)."""
    from amqtt.broker import Broker

    port = _free_port()
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
    )
    await broker.start()
    try:
        yield port
    finally:
        await broker.shutdown()


class Subscriber:
    """Counts what arrives per topic on ``#``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.counts: Counter[str] = Counter()
        self.payloads: list[tuple[str, bytes]] = []
        self.changed = asyncio.Event()

    def add(self, topic: str, body: bytes) -> None:
        self.counts[topic] += 1
        self.payloads.append((topic, body))
        self.changed.set()

    async def wait_for(self, total: int, timeout_s: float = 10.0) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while len(self.payloads) < total:
                    self.changed.clear()
                    await self.changed.wait()
        await asyncio.sleep(0.2)  # nothing extra may arrive either


@contextlib.asynccontextmanager
async def subscribed(port: int) -> AsyncIterator[Subscriber]:
    import aiomqtt

    sub = Subscriber(port)
    async with aiomqtt.Client("127.0.0.1", port, identifier="test-sub") as client:
        await client.subscribe("#", qos=1)

        async def consume() -> None:
            async for message in client.messages:
                body = message.payload
                assert isinstance(body, bytes)
                sub.add(str(message.topic), body)

        task = asyncio.create_task(consume())
        try:
            yield sub
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


RUN = """
name = "broker-run"
start = 2026-11-23T08:00:00+08:00
speed = 0
duration = "2h"
seed = 11
[fleet]
estates = 2
smoke_per_estate = 12
hydrants_per_estate = 4
cameras_per_estate = 2
modbus_share = 0.5
[intervals]
smoke_heartbeat = "20m"
hydrant_report = "10m"
modbus_update = "5m"
camera_event = "30m"
[[incidents]]
at = "+10m"
device = "SD-E002-0005"
action = "alarm"
duration = "3m"
[[incidents]]
at = "+20m"
device = "HY-E001-02"
action = "pressure"
value = 0.02
[[incidents]]
at = "+25m"
device = "HY-E001-04"
action = "pressure"
value = 0.02
[[incidents]]
at = "+30m"
device = "HY-E002-04"
action = "silent"
[[incidents]]
at = "+40m"
device = "CAM-E001-01"
action = "occupy"
duration = "20m"
[[incidents]]
at = "+50m"
device = "SD-E001-0002"
action = "offline"
"""


async def test_scenario_run_against_amqtt_broker_counts_match(amqtt_broker: int) -> None:
    from simulators.modbus_server import HydrantModbusSimulator

    sc = parse_scenario(RUN)
    ((host, first_port),) = {(d.modbus.host, d.modbus.port) for d in sc.registry().devices if d.modbus}
    modbus = HydrantModbusSimulator(host, 0)
    async with subscribed(amqtt_broker) as sub:
        async with MqttPublisher("127.0.0.1", amqtt_broker) as pub:
            runner = ScenarioRunner(sc, pub.publish, {(host, first_port): modbus}, SimClock(sc.start, 0))
            stats = await runner.run()
        await sub.wait_for(stats.messages)
    assert stats.publish_errors == 0
    assert stats.incidents_applied == 6
    assert stats.messages > 150
    assert sub.counts == stats.by_topic
    assert sum(stats.by_format.values()) == sum(stats.by_kind.values()) == stats.messages
    assert stats.modbus_unattached == 0
    assert stats.modbus_updates > 0
    unit = sc.registry().device("HY-E001-04").modbus
    assert unit is not None
    assert abs(modbus.unit(unit.unit).pressure_mpa - 0.02) < 0.01, "the incident reached the Modbus registers"
    silent = sc.registry().device("HY-E002-04").modbus
    assert silent is not None
    assert modbus.unit(silent.unit).silent
    # Nothing from the detector after it went offline at +50 min.
    offline_after = to_ms(sc.start) + 50 * 60_000
    late = [
        p
        for t, p in sub.payloads
        if t == "fire/smoke/SD-E001-0002/up" and payload((t, p))["ts"] > offline_after
    ]
    assert late == []


async def test_run_scenario_against_broker_entry_serves_modbus(amqtt_broker: int) -> None:
    seen: list[str] = []
    stats = await run_scenario_against_broker(
        parse_scenario(RUN), "127.0.0.1", amqtt_broker, speed=0, modbus_port=_free_port(),
        progress=lambda s: seen.append(str(s)),
    )  # fmt: skip
    assert stats.finished
    assert stats.incidents_applied == 6
    assert stats.publish_errors == 0
    assert stats.modbus_unattached == 0
    assert stats.modbus_updates > 0
    assert seen
    assert seen[-1].startswith("[broker-run]")


async def test_run_scenario_against_broker_with_servers_started_first(amqtt_broker: int) -> None:
    sc = parse_scenario(RUN).with_overrides(modbus_port=_free_port())
    servers = await start_modbus_servers(sc.registry())
    try:
        stats = await run_scenario_against_broker(sc, "127.0.0.1", amqtt_broker, modbus_servers=servers)
        (server,) = servers.values()
        assert server.running, "servers handed in are left running"
        assert stats.modbus_unattached == 0
        assert len(server.units) == 4
    finally:
        await stop_modbus_servers(servers)


async def test_publisher_waits_out_a_broker_restart() -> None:
    from amqtt.broker import Broker

    port = _free_port()
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    pub = MqttPublisher("127.0.0.1", port, backoff_initial_s=0.05, backoff_max_s=0.2)
    await pub.start()
    try:
        await pub.publish("fire/test", b"1")
        await broker.shutdown()
        for _ in range(100):
            if not pub.connected:
                break
            await asyncio.sleep(0.02)
        pending = asyncio.create_task(pub.publish("fire/test", b"2"))
        await asyncio.sleep(0.3)
        assert not pending.done(), "publish waits for the connection"
        broker = Broker(config)
        await broker.start()
        await asyncio.wait_for(pending, 10)
        assert pub.connects == 2
        assert pub.published == 2
    finally:
        await pub.close()
        await broker.shutdown()


# ------------------------------------------------------------------------------------- bursts


def test_make_burst_is_realistic_and_deterministic() -> None:
    reg = generate_fleet(2, 20, 4, 2, 0.5, seed=3)
    msgs = make_burst(reg, 6, seed=9)
    assert msgs == make_burst(reg, 6, seed=9)
    mqtt_devices = [d for d in reg.devices if d.modbus is None]
    assert len(msgs) == 6 * len(mqtt_devices)
    per_device: dict[str, list[dict[str, Any]]] = {}
    for _topic, body in msgs:
        data = json.loads(body)
        key = data.get("id") or data.get("serial") or data.get("IMEI")
        per_device.setdefault(key, []).append(data)
    assert len(per_device) == len(mqtt_devices)
    for rows in per_device.values():
        times = [r.get("ts") or r.get("timestamp") or r.get("datetime") for r in rows]
        if "seq" in rows[0]:
            seqs = [r["seq"] for r in rows]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert len(set(times)) == len(times), "distinct timestamps per device (GB/T: seconds)"
    events = Counter(r.get("event") for rows in per_device.values() for r in rows)
    assert events["heartbeat"] > 0
    assert set(events) - {"heartbeat", None}, "some events in the mix"
    cams = [json.loads(b) for t, b in msgs if t.startswith("fire/camera/")]
    assert Counter(c["state"] for c in cams) == {"start": len(cams) // 2, "end": len(cams) // 2}


@pytest.mark.parametrize("engine", ["raw", "paho"])
async def test_burst_delivers_everything(amqtt_broker: int, engine: Literal["raw", "paho"]) -> None:
    reg = generate_fleet(1, 30, 4, 2, 0.0, seed=1)
    msgs = make_burst(reg, 5, seed=1)
    async with subscribed(amqtt_broker) as sub:
        stats = await asyncio.to_thread(burst, "127.0.0.1", amqtt_broker, msgs, 1, engine=engine)
        await sub.wait_for(len(msgs))
    assert stats.sent == stats.acked == len(msgs)
    assert stats.failed == 0
    assert stats.rate > 0
    assert sub.payloads == [(t, p) for t, p in msgs], "all delivered, in order"
    qos0 = await asyncio.to_thread(burst, "127.0.0.1", amqtt_broker, msgs[:50], 0, engine=engine)
    assert qos0.acked == 50


def test_burst_reports_an_unreachable_broker() -> None:
    with pytest.raises(ConnectionError):
        burst("127.0.0.1", _free_port(), [("t", b"x")], 1)


def test_scenario_object_can_be_built_in_code() -> None:
    sc = Scenario(name="code", speed=0, duration_s=60)
    assert sc.registry() is sc.registry()
    moved = sc.with_overrides(modbus_port=6000)
    assert {d.modbus.port for d in moved.registry().devices if d.modbus} == {6000}


async def test_runner_with_a_scaled_clock_takes_duration_over_speed() -> None:
    sc = parse_scenario(
        'start = 2026-11-23T08:00:00+08:00\nspeed = 3000\nduration = "10m"\n'
        "[fleet]\nestates = 1\nsmoke_per_estate = 5\nhydrants_per_estate = 2\ncameras_per_estate = 0\n"
        'modbus_share = 0.0\n[intervals]\nsmoke_heartbeat = "1m"\nhydrant_report = "1m"\n'
    )
    count = 0

    async def publish(topic: str, body: bytes) -> None:
        nonlocal count
        count += 1

    t0 = time.perf_counter()
    stats = await ScenarioRunner(sc, publish).run()
    real = time.perf_counter() - t0
    assert 0.18 < real < 1.5, real  # 600 simulated seconds at 3000x = 0.2 s
    assert stats.messages == count == 7 * 10
    assert stats.max_lag_s < 60  # simulated seconds behind schedule: 20 ms of real time


def test_scenario_validation_dry_runs_values() -> None:
    base = 'duration = "1h"\n[fleet]\nestates = 1\n[[incidents]]\nat = "1m"\n'
    with pytest.raises(ScenarioError, match=r"incidents\[0\]\.type: .*'parking' is not one of"):
        parse_scenario(base + 'device = "CAM-E001-01"\naction = "occupy"\ntype = "parking"\n')
    with pytest.raises(ScenarioError, match=r"incidents\[0\]\.code: .*must be 1\.\.255"):
        parse_scenario(base + 'device = "HY-E001-06"\naction = "exception"\ncode = 300\n')
    with pytest.raises(ValueError, match="needs a scenario duration"):
        asyncio.run(ScenarioRunner(Scenario(speed=0), _discard).run())


async def _discard(topic: str, body: bytes) -> None:
    return None


async def test_stop_ends_a_scaled_run_while_it_waits() -> None:
    sc = parse_scenario('speed = 1\nduration = "1d"\n[fleet]\nestates = 1\nsmoke_per_estate = 1\n')
    runner = ScenarioRunner(sc, _discard)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.1)
    t0 = time.perf_counter()
    runner.stop()
    stats = await asyncio.wait_for(task, 2)
    assert stats.finished
    assert time.perf_counter() - t0 < 0.5
