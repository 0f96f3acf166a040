"""End to end, one test per point of issue 14: device messages in their wire formats over a real Mosquitto,
the real gateway (in-process, on a simulated clock) with a real InfluxDB behind it, and every outcome read
where users read it, through the HTTP API with a fire-brigade account's token.

Each point has an estate of its own (tests/grading_e2e_helpers.py has the registry), so the tests do not
depend on each other's order; they share one gateway run and one clock, which each test moves forward. The
reference is ../shared/domain.md, "How a grade is earned" to "The closed loop":

1. An estate registered and never heard from, never assessed, is not assessed (未评定), its devices are not
   shown online; the office's assessment over the API grades it.
2. A static 0.80 MPa at a least-favourable-point hydrant is legal (the 1.0 MPa static ceiling); the same
   0.80 read by a sensor of flowing outlet pressure is over the 0.50 MPa flowing limit: a Y10 hazard.
3. A fire lane blocked, seen by a camera and held past the hold time, and the same Y1 filed by a grid worker
   give the same colour (yellow: Y1 contradicts G5).
4. A hydrant that drops and stays low is one hazard; a dip of one second is none.
5. A hydrant flow test inside a declared window files no hazard and does not move the colour; a smoke alarm
   inside a window is shown, marked as a test.
6. Three complaints about one incident, merged, are one incident: Y14 (not R6), which makes yellow only with
   other items; a complaint voided no longer counts, and nothing is deleted.
7. A pressure sensor gone silent and a camera that stopped its keep-alives are maintenance tasks and lower
   the coverage beside the grade; the colour does not move.
8. An e-bike taken into a lift grades nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiomqtt
import httpx
import pytest
import pytest_asyncio
from grading_e2e_helpers import ALL_GREEN, DISTRICT, STREET, T0, Field, grading_registry, in_minutes

from gateway.app import Gateway
from gateway.config import parse_config
from simulators.clock import SimClock

pytestmark = [pytest.mark.services, pytest.mark.asyncio(loop_scope="module")]

ASSESSED = ("E2", "E3A", "E3B", "E4", "E5", "E6", "E7", "E8")
#: The gateway's outbound topics (retained grades) under a prefix of this module's own, cleared at the end, so
#: that other modules' subscribers on the same Mosquitto never see these estates.
TOPIC_PREFIX = "grading-e2e"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def field(
    tmp_path_factory: pytest.TempPathFactory, mosquitto: Any, influxdb: Any
) -> AsyncIterator[Field]:
    tmp = tmp_path_factory.mktemp("grading-e2e")
    db = "grading_e2e"
    influxdb.create_database(db)
    config = parse_config(
        {
            "gateway": {"id": "grading-e2e", "data_dir": str(tmp / "data"), "stats_interval_s": 3600},
            # A clean session: nothing is kept at the broker for this gateway once the module is done.
            "mqtt": {
                "host": mosquitto.host,
                "port": mosquitto.port,
                "client_id": "grading-e2e",
                "clean_session": True,
            },
            "storage": {"kind": "influx_v1", "url": influxdb.url, "database": db},
            "buffer": {"flush_interval_s": 0.1},
            "modbus": {"enabled": False},
            "rules": {"tick_interval_s": 0.05, "topic_prefix": TOPIC_PREFIX},
            "api": {"port": 0},
        }
    )
    clock = SimClock(T0, 0)  # virtual: time moves only when the test moves it
    gateway = Gateway(config, grading_registry(), clock=clock.now)
    task = asyncio.create_task(gateway.run())
    try:
        await asyncio.wait_for(gateway.ready.wait(), 15)
        await asyncio.wait_for(gateway.api_ready.wait(), 15)
        auth = gateway.auth
        assert auth is not None, "accounts are on by default"
        auth.store.create_user(
            username="officer",
            role="brigade",
            password=None,
            now=clock.now(),
            display_name="消防救援大队 李警官",
        )
        auth.store.create_user(
            username="grid",
            role="grid",
            password=None,
            now=clock.now(),
            display_name="网格员 张敏",
            district=DISTRICT,
            street=STREET,
        )
        brigade = {"Authorization": f"Bearer {auth.create_token('officer')[1]}"}
        grid = {"Authorization": f"Bearer {auth.create_token('grid')[1]}"}
        base = f"http://127.0.0.1:{gateway.api_port}"
        async with (
            aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="grading-e2e-devices") as mqtt,
            httpx.AsyncClient(base_url=base, headers=brigade, timeout=10) as http,
        ):
            f = Field(gateway, clock, mqtt, http)
            f.headers["grid"] = grid
            # Every estate but the first was inspected and registered by the street office this morning.
            for estate_id in ASSESSED:
                assert (await f.grade(estate_id))["grade"] == "not_assessed"
                await f.assess(estate_id)
            # The devices that report on their own, from the start: hydrant DTUs every minute (healthy static
            # pressure; the flowing-outlet sensor its healthy flowing pressure), camera keep-alives every
            # minute, and each smoke detector's daily heartbeat once.
            for device_id, pressure in (
                ("HY-E2-LF", 0.30),
                ("HY-E2-FL", 0.40),
                ("HY-E4-01", 0.35),
                ("HY-E4-02", 0.35),
                ("HY-E5-01", 0.35),
                ("HY-E7-01", 0.35),
            ):
                await f.keep_reporting(f.hydrant_message(device_id, pressure))
            for camera in ("CAM-E3A-01", "CAM-E7-01", "CAM-E8-01"):
                await f.keep_reporting(f.keep_alive_message(camera))
            for detector in ("SD-E5-01", "SD-E7-01"):
                await f.smoke(detector, "heartbeat")
            await f.advance(minutes=2)
            for estate_id in ASSESSED:
                grade = await f.grade(estate_id)
                assert grade["grade"] == "green", (estate_id, grade["summary"])
            yield f
            # Nothing crashed on the way: no rule hook error, no restarted task.
            assert dict(gateway.stats.task_restarts) == {}
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(aiomqtt.MqttError, OSError):
            async with aiomqtt.Client(
                mosquitto.host, mosquitto.port, identifier="grading-e2e-cleanup"
            ) as mqtt:
                for estate in gateway.registry.estates:
                    await mqtt.publish(f"{TOPIC_PREFIX}/estates/{estate.id}/grade", b"", qos=1, retain=True)


async def test_an_estate_never_heard_from_is_not_assessed_until_the_office_assesses_it(field: Field) -> None:
    estate = await field.get("/api/estates/E1")
    assert estate["grade"]["grade"] == "not_assessed", estate["grade"]["summary"]
    assert estate["grade"]["label"]["zh"] == "未评定"
    assert estate["grade"]["assessed_at"] is None
    assert estate["devices"]["total"] == 3
    assert estate["devices"]["online"] == 0, "a device never heard from is not online"
    devices = await field.get("/api/devices", estate_id="E1")
    assert {d["id"] for d in devices} == {"SD-E1-01", "HY-E1-01", "CAM-E1-01"}
    for device in devices:
        assert device["last_seen"] is None, device
        assert device["messages"] == 0, device
        assert device["online"] is not True, f"{device['id']} was never heard from but is shown online"

    record = await field.assess("E1")
    assert record["recorded_by"] == "消防救援大队 李警官"
    assert set(record["valid_until"]) == set(ALL_GREEN)
    grade = await field.grade("E1")
    assert grade["grade"] == "green", grade["summary"]
    assert grade["assessed_at"] is not None
    assert {c["code"]: c["state"] for c in grade["conditions"]} == dict.fromkeys(ALL_GREEN, "holds")
    # Still nothing heard: the assessment graded the estate, the devices did not come online by it.
    devices = await field.get("/api/devices", estate_id="E1")
    assert all(d["last_seen"] is None and d["online"] is not True for d in devices), devices


async def test_a_static_080_mpa_is_legal_but_080_mpa_flowing_at_an_outlet_is_a_high_pressure_hazard(
    field: Field,
) -> None:
    since = field.now()
    await field.keep_reporting(field.hydrant_message("HY-E2-LF", 0.80))
    await field.advance(minutes=8)  # longer than the 5 min pressure hold
    device = await field.get("/api/devices/HY-E2-LF")
    assert device["metrics"]["pressure_mpa"] == 0.80
    assert device["limits"]["pressure_max_mpa"] == 1.0, "the static ceiling at a hydrant (GB 50974 §6.2.1)"
    assert device["active_signals"] == []
    assert await field.hazards(estate_id="E2") == []
    grade = await field.grade("E2")
    assert grade["grade"] == "green", grade["summary"]
    assert await field.colours_since("E2", since) == [], "the grade did not change"

    await field.keep_reporting(field.hydrant_message("HY-E2-FL", 0.80))
    await field.advance(minutes=6)
    flowing = await field.get("/api/devices/HY-E2-FL")
    assert flowing["limits"]["pressure_max_mpa"] == 0.50, "the flowing outlet limit (GB 50974 §7.4.12)"
    hazards = await field.hazards(estate_id="E2")
    assert [(h["device_id"], h["signal"], h["criterion"]) for h in hazards] == [
        ("HY-E2-FL", "hydrant_high_pressure", "Y10")
    ]
    grade = await field.grade("E2")
    assert grade["grade"] == "yellow", grade["summary"]
    assert grade["yellow_items"] == ["Y10"]
    assert grade["missing_green"] == ["G4", "G6"]
    decisive = [r for r in grade["reasons"] if r["decisive"]]
    assert [r["hazards"] for r in decisive] == [[str(hazards[0]["id"])]]


async def test_a_fire_lane_blocked_seen_by_a_camera_and_filed_by_a_grid_worker_grade_alike(
    field: Field,
) -> None:
    await field.camera("CAM-E3A-01", "fire_lane_occupied", "start", "lane-0001", "vehicle")
    await field.advance(minutes=5)
    assert await field.hazards(estate_id="E3A") == [], "not yet past the 10 min hold: a van unloading"
    assert (await field.grade("E3A"))["grade"] == "green"
    await field.advance(minutes=6)
    seen = await field.hazards(estate_id="E3A")
    assert [(h["source"], h["signal"], h["criterion"]) for h in seen] == [
        ("device", "fire_lane_occupied", "Y1")
    ]

    filed = await field.post(
        "/api/hazards",
        {
            "estate_id": "E3B",
            "criterion": "Y1",
            "location": "3号楼北侧消防车通道",
            "description": "私家车停放占用消防车通道",
        },
        role="grid",
        status=201,
    )
    assert (filed["source"], filed["criterion"], filed["reporter"]) == ("manual", "Y1", "网格员 张敏")

    camera, grid = await field.grade("E3A"), await field.grade("E3B")
    for grade in (camera, grid):
        assert grade["grade"] == "yellow", grade["summary"]
        assert grade["yellow_items"] == ["Y1"]
        assert grade["missing_green"] == ["G5"]
        assert [r["codes"] for r in grade["reasons"] if r["decisive"]] == [["Y1", "G5"]]
    assert camera["rule"] == grid["rule"]


async def test_a_hydrant_that_drops_and_stays_low_is_one_hazard_and_a_one_second_dip_is_none(
    field: Field,
) -> None:
    since = field.now()
    await field.hydrant_reads("HY-E4-02", 0.02)
    await field.advance(1, step_s=1)
    await field.hydrant_reads("HY-E4-02", 0.35)
    await field.advance(minutes=3)
    assert await field.hazards(device_id="HY-E4-02") == [], (
        "a dip of one second is a pump start, not a hazard"
    )
    assert await field.colours_since("E4", since) == []

    await field.keep_reporting(field.hydrant_message("HY-E4-01", 0.02))  # 0.35 -> 0.02: a sudden drop
    await field.advance(30)
    assert await field.hazards(device_id="HY-E4-01") == [], "not yet down a whole minute"
    await field.advance(60)
    hazards = await field.hazards(device_id="HY-E4-01")
    assert [(h["signal"], h["criterion"], h["state"]) for h in hazards] == [
        ("hydrant_low_pressure", "Y10", "reported")
    ], "the sudden drop that stayed down a minute opens the hazard"
    assert (await field.grade("E4"))["grade"] == "yellow"
    await field.advance(minutes=8)  # past the 5 min hold of a sustained low pressure too
    again = await field.hazards(device_id="HY-E4-01")
    assert [h["id"] for h in again] == [hazards[0]["id"]], "one physical problem, one hazard"
    assert await field.hazards(device_id="HY-E4-02") == []
    grade = await field.grade("E4")
    assert grade["grade"] == "yellow", grade["summary"]
    assert grade["yellow_items"] == ["Y10"]
    assert [r["hazards"] for r in grade["reasons"] if "Y10" in r["codes"]] == [[str(hazards[0]["id"])]]
    assert await field.colours_since("E4", since) == ["yellow"]


async def test_a_flow_test_and_a_test_alarm_inside_maintenance_windows_file_nothing_and_are_marked(
    field: Field,
) -> None:
    since = field.now()
    window = await field.post(
        "/api/windows",
        {
            "estate_id": "E5",
            "device_id": "HY-E5-01",
            "ends_at": in_minutes(field, 30),
            "reason": "消火栓放水试验（季度）",
        },
        status=201,
    )
    assert window["state"] == "active"
    assert window["mark"]["zh"] == "测试/维护中"
    await field.keep_reporting(field.hydrant_message("HY-E5-01", 0.05))  # the hydrant is opened
    await field.advance(minutes=8)
    await field.keep_reporting(field.hydrant_message("HY-E5-01", 0.35))  # and closed again
    await field.advance(minutes=2)
    assert await field.hazards(estate_id="E5") == []
    device = await field.get("/api/devices/HY-E5-01")
    marked = [s for s in device["signal_history"] if s["signal"] == "hydrant_low_pressure" and s["active"]]
    assert marked, device["signal_history"]
    assert all(s["window_id"] == window["id"] for s in marked), "recorded, marked with the window"

    test_window = await field.post(
        "/api/windows",
        {
            "estate_id": "E5",
            "device_id": "SD-E5-01",
            "ends_at": in_minutes(field, 10),
            "reason": "月度测试报警",
        },
        status=201,
    )
    await field.smoke("SD-E5-01", "alarm", smoke=1.5)
    await field.advance(20, step_s=10)
    await field.smoke("SD-E5-01", "alarm_clear")
    alarms = await field.get("/api/alarms", estate_id="E5")
    assert len(alarms) == 1, "a smoke alarm inside a window is still shown, never dropped"
    assert alarms[0]["device"] == "SD-E5-01"
    assert alarms[0]["test"] is True
    assert alarms[0]["window_id"] == test_window["id"]

    await field.advance(minutes=21)  # both windows run out
    windows = await field.get("/api/windows", estate_id="E5")
    assert {w["id"]: w["state"] for w in windows} == {window["id"]: "expired", test_window["id"]: "expired"}
    flow_test = next(w for w in windows if w["id"] == window["id"])
    assert flow_test["settled_at"] is not None
    assert flow_test["settlement"]["opened"] == [], "the hydrant recovered inside its window"
    assert await field.hazards(estate_id="E5") == []
    grade = await field.grade("E5")
    assert grade["grade"] == "green", grade["summary"]
    assert await field.colours_since("E5", since) == [], "the colour did not move"


async def test_three_complaints_about_one_incident_merged_are_one_incident_and_a_voided_one_stays(
    field: Field,
) -> None:
    ids = []
    for hours in (50, 49, 48):
        complaint = await field.post(
            "/api/complaints",
            {
                "estate_id": "E6",
                "received_at": (field.now() - timedelta(hours=hours)).isoformat(),
                "channel": "12345",
                "description": "5号楼楼道堆放大量纸箱",
            },
            status=201,
        )
        ids.append(complaint["id"])
    before = await field.grade("E6")
    assert before["grade"] == "red", "three complaints counted as three incidents: R6"
    assert before["red_items"] == ["R6"]

    merged = await field.post(
        "/api/complaints/merge",
        {"complaint_ids": ids[1:], "into": ids[0], "reason": "同一事件（5号楼楼道堆物）的三次来电"},
    )
    assert merged["into"]["id"] == ids[0]
    assert {c["id"]: (c["state"], c["merged_into"]) for c in merged["merged"]} == {
        ids[1]: ("merged", ids[0]),
        ids[2]: ("merged", ids[0]),
    }
    grade = await field.grade("E6")
    assert grade["red_items"] == []
    assert grade["yellow_items"] == ["Y14"]
    assert grade["grade"] == "green", "one yellow item alone does not make yellow: " + grade["summary"]

    for criterion, description in (("Y8", "外墙保温层破损未修复"), ("Y11", "常闭式防火门长期开启")):
        await field.post(
            "/api/hazards",
            {"estate_id": "E6", "criterion": criterion, "description": description},
            role="grid",
            status=201,
        )
    grade = await field.grade("E6")
    assert grade["grade"] == "yellow", grade["summary"]
    assert grade["yellow_items"] == ["Y8", "Y11", "Y14"]

    in_error = await field.post(
        "/api/complaints",
        {"estate_id": "E6", "received_at": field.now().isoformat(), "description": "误登记"},
        status=201,
    )
    y14 = [r["text"] for r in (await field.grade("E6"))["reasons"] if "Y14" in r["codes"]]
    assert len(y14) == 1, y14
    assert "2 起" in y14[0], "two distinct incidents now"
    voided = await field.post(f"/api/complaints/{in_error['id']}/void", {"reason": "登记错误：非本小区来电"})
    assert voided["state"] == "voided"
    assert [c["action"] for c in voided["changes"]] == ["void"]
    grade = await field.grade("E6")
    y14 = [r["text"] for r in grade["reasons"] if "Y14" in r["codes"]]
    assert len(y14) == 1, y14
    assert "1 起" in y14[0], "the voided complaint no longer counts"
    assert grade["yellow_items"] == ["Y8", "Y11", "Y14"]

    kept = await field.get("/api/complaints", estate_id="E6")
    assert {c["id"]: c["state"] for c in kept} == {
        ids[0]: "counted",
        ids[1]: "merged",
        ids[2]: "merged",
        in_error["id"]: "voided",
    }, "nothing is deleted"


async def test_a_silent_pressure_sensor_and_a_camera_without_keep_alives_are_maintenance_tasks(
    field: Field,
) -> None:
    since = field.now()
    grade = await field.grade("E7")
    assert grade["coverage"] == 1.0
    field.stop_reporting("CAM-E7-01")
    field.stop_reporting("HY-E7-01")
    await field.advance(minutes=11, step_s=60)  # cameras: offline after 5 min + 5 min of grace
    tasks = await field.hazards(estate_id="E7", open="true")
    assert [(h["device_id"], h["signal"], h["criterion"]) for h in tasks] == [
        ("CAM-E7-01", "offline", "maint")
    ]
    grade = await field.grade("E7")
    assert grade["grade"] == "green", grade["summary"]
    assert grade["monitoring_faults"] == 1
    assert grade["coverage"] == pytest.approx(2 / 3)
    camera = await field.get("/api/devices/CAM-E7-01")
    assert camera["online"] is False

    await field.advance(minutes=61, step_s=60)  # hydrant DTUs: offline after 1 h + 10 min of grace
    tasks = await field.hazards(estate_id="E7", open="true")
    assert sorted((h["device_id"], h["signal"], h["criterion"]) for h in tasks) == [
        ("CAM-E7-01", "offline", "maint"),
        ("HY-E7-01", "offline", "maint"),
    ]
    grade = await field.grade("E7")
    assert grade["grade"] == "green", grade["summary"]
    assert grade["yellow_items"] == [], "a monitoring fault is no Y10"
    assert grade["missing_green"] == []
    assert grade["monitoring_faults"] == 2
    assert grade["coverage"] == pytest.approx(1 / 3)
    assert await field.colours_since("E7", since) == [], "the colour did not move"


async def test_an_ebike_taken_into_a_lift_grades_nothing(field: Field) -> None:
    since = field.now()
    await field.camera("CAM-E8-01", "ebike_in_lift", "start", "lift-0001", "ebike")
    await field.advance(40, step_s=10)
    await field.camera("CAM-E8-01", "ebike_in_lift", "end", "lift-0001")
    await field.advance(minutes=2)
    camera = await field.get("/api/devices/CAM-E8-01")
    seen = [s for s in camera["signal_history"] if s["signal"] == "ebike_in_lift"]
    assert any(s["active"] for s in seen), "the event is recorded and shown"
    assert await field.hazards(estate_id="E8") == []
    grade = await field.grade("E8")
    assert grade["grade"] == "green", grade["summary"]
    assert grade["yellow_items"] == [], "not Y9"
    assert grade["red_items"] == []
    assert not any("Y9" in r["codes"] for r in grade["reasons"])
    assert await field.colours_since("E8", since) == []
