"""Scenario tests for the rule layer: simulators on an accelerated clock, through a real Mosquitto and the
real gateway pipeline into a real InfluxDB, with the gateway on the same simulated clock.

One scenario run (about 12 real seconds for an hour of simulated time at 300x) covers:

- Both estates are assessed by the street office as the gateway starts (without it they are 未评定).
- E001: a hydrant drops from its normal ~0.35 to 0.02 MPa: a sudden drop that stays down a minute is one
  urgent hazard (yellow), and the low pressure after it continues that same hazard (one physical problem, one
  hazard), naming the hydrant, the pressure and the time; the supply comes back: after the recovery hold the
  hazard closes itself (the record says so) and the estate is green again.
- E002: a hydrant goes low, then flaps around its minimum inside the hysteresis band: the grade does not
  flap (one change to yellow, one back to green) and there is exactly one hazard.
- E002: a smoke alarm: it is on the live feed at once, becomes an alarm record, and is stepped through
  acknowledge → dispatch → on scene → closed as a false alarm over the HTTP API, with each step's time kept.

Grades are checked where users see them: the store's grade history, the retained MQTT message per estate,
the ``estate_grade`` points in InfluxDB and the HTTP API. The API is called with an API token of a
fire-brigade account made through the gateway's account store, as ``firegw tokens create`` would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from datetime import datetime
from typing import Any

import aiomqtt
import httpx
import pytest
import pytest_asyncio
from assessed import assess

from gateway.app import Gateway
from gateway.config import parse_config
from gateway.models import EventType
from gateway.store.records import GradeChangeRecord
from simulators.clock import SimClock
from simulators.scenarios.loading import parse_scenario
from simulators.scenarios.simulate import run_scenario_against_broker

pytestmark = pytest.mark.asyncio(loop_scope="module")

SPEED = 300.0

SCENARIO = """
name = "rules"
seed = 11
speed = 300
duration = "62m"

[fleet]
estates = 2
smoke_per_estate = 6
hydrants_per_estate = 3
cameras_per_estate = 0
modbus_share = 0.0

[intervals]
smoke_heartbeat = "10m"
hydrant_report = "1m"
camera_event = "0"
stagger = "30s"

# E001: a clean failure and recovery.
[[incidents]]
at = "+5m"
device = "HY-E001-02"
action = "pressure"
value = 0.02

[[incidents]]
at = "+25m"
device = "HY-E001-02"
action = "pressure"
value = 0.35

# E002: low, then flapping inside the hysteresis band (min 0.07, resolves only at >= 0.09), then healthy.
[[incidents]]
at = "+5m"
device = "HY-E002-02"
action = "pressure"
value = 0.03

[[incidents]]
at = "+16m"
device = "HY-E002-02"
action = "pressure"
value = 0.08

[[incidents]]
at = "+19m"
device = "HY-E002-02"
action = "pressure"
value = 0.06

[[incidents]]
at = "+22m"
device = "HY-E002-02"
action = "pressure"
value = 0.08

[[incidents]]
at = "+25m"
device = "HY-E002-02"
action = "pressure"
value = 0.065

[[incidents]]
at = "+28m"
device = "HY-E002-02"
action = "pressure"
value = 0.36

[[incidents]]
at = "+3m"
device = "SD-E002-0003"
action = "alarm"
smoke = 0.4
duration = "4m"
"""


class Run:
    def __init__(self, gateway: Gateway, start: datetime, grade_messages: list[dict[str, Any]]) -> None:
        self.gateway = gateway
        self.start = start
        self.grade_messages = grade_messages
        self.headers: dict[str, str] = {}

    @property
    def engine(self) -> Any:
        assert self.gateway.engine is not None
        return self.gateway.engine

    def history(self, estate: str) -> list[GradeChangeRecord]:
        return list(reversed(self.engine.store.grades.history(estate)))

    def minutes(self, at: datetime) -> float:
        return (at - self.start).total_seconds() / 60


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def run(tmp_path_factory: pytest.TempPathFactory, mosquitto: Any, influxdb: Any) -> Any:
    tmp = tmp_path_factory.mktemp("rules-scenario")
    db = "rules_scenario"
    influxdb.create_database(db)
    scenario = parse_scenario(SCENARIO)
    registry = scenario.registry()
    # Fleet hydrants under a 100 m building get the 0.07 MPa default minimum: make it explicit for the test.
    for device_id in ("HY-E001-02", "HY-E002-02"):
        assert registry.device(device_id).thresholds.get("pressure_min_mpa", 0.07) == 0.07
    config = parse_config(
        {
            "gateway": {"id": "rules-test", "data_dir": str(tmp / "data"), "stats_interval_s": 3600},
            "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "client_id": "rules-test"},
            "storage": {"kind": "influx_v1", "url": influxdb.url, "database": db},
            "buffer": {"flush_interval_s": 0.1},
            "modbus": {"enabled": False},
            "rules": {"tick_interval_s": 0.05},
            "api": {"port": 0},
        }
    )
    clock = SimClock(scenario.start, SPEED)
    gateway = Gateway(config, registry, clock=clock.now)
    grade_messages: list[dict[str, Any]] = []

    async def watch_grades() -> None:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="grade-watcher") as client:
            await client.subscribe("firegw/estates/+/grade", qos=1)
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                grade_messages.append(json.loads(message.payload))

    task = asyncio.create_task(gateway.run())
    watcher = asyncio.create_task(watch_grades())
    await asyncio.wait_for(gateway.ready.wait(), 15)
    await asyncio.wait_for(gateway.api_ready.wait(), 15)
    assert gateway.engine is not None
    assess(gateway.engine)  # the street office inspected and registered both estates
    result = Run(gateway, scenario.start, grade_messages)
    # The account the alarm is handled under (its display name is what the history records).
    assert gateway.auth is not None, "accounts are on by default"
    gateway.auth.store.create_user(
        username="operator", role="brigade", password=None, now=clock.now(), display_name="operator 王"
    )
    result.headers = {"Authorization": f"Bearer {gateway.auth.create_token('operator')[1]}"}
    try:
        stats = await run_scenario_against_broker(scenario, mosquitto.host, mosquitto.port, clock=clock)
        assert stats.incidents_failed == 0
        # Incidents are timed from when the runner started (the gateway's start-up took some sim minutes).
        assert stats.sim_start is not None
        result.start = stats.sim_start
        await asyncio.sleep(1.0)  # the last messages through the pipeline, the publisher and the sink
        yield result
    finally:
        watcher.cancel()
        task.cancel()
        for t in (watcher, task):
            with contextlib.suppress(asyncio.CancelledError):
                await t


def colour_runs(history: list[GradeChangeRecord]) -> list[str]:
    """Colours with repeats merged: a change of reasons at the same colour is kept in the history too."""
    out: list[str] = []
    for change in history:
        if not out or out[-1] != change.colour:
            out.append(change.colour)
    return out


async def test_failed_hydrant_turns_its_estate_yellow_and_green_again_after_recovery(run: Run) -> None:
    history = run.history("E001")
    timeline = [(h.colour, round(run.minutes(h.at), 1), [r["text"] for r in h.reasons]) for h in history]
    assert colour_runs(history) == ["not_assessed", "green", "yellow", "green"], timeline
    yellow = [h for h in history if h.colour == "yellow"]
    # The sudden drop (0.35 -> 0.02 at the DTU's report at +5m) is a hazard once it has stayed down a minute.
    first = yellow[0]
    assert 6 <= run.minutes(first.at) <= 6.5, timeline
    assert first.yellow_items == ["Y10"]
    assert first.missing_green == ["G4", "G6"]
    assert first.reasons[0]["codes"] == ["Y10", "G4", "G6"]
    assert first.reasons[0]["decisive"] is True
    # Hazard texts are in the policy's language (Chinese by default): "消火栓 HY-E001-02（…）：水压骤降至 …".
    text = first.reasons[0]["text"]
    assert "HY-E001-02" in text
    assert re.search(r"水压骤降至 0\.0\d MPa 且未恢复（紧急）", text), first.reasons
    assert "低于下限 0.07 MPa" in text
    assert "（自 " in text
    assert len(yellow) == 1, "the low pressure after the drop is the same hazard: no second grade change"
    # Healthy from +25m, recovery hold 10 min.
    green = history[-1]
    assert green.colour == "green"
    assert 35 <= run.minutes(green.at) <= 36.5, timeline

    hazards = run.engine.store.hazards.find(device_id="HY-E001-02")
    assert [h.signal for h in hazards] == ["hydrant_low_pressure"]
    for hazard in hazards:
        assert hazard.close_kind == "auto"
        assert hazard.state.value == "closed"
        last = run.engine.store.hazards.history(hazard.id)[-1]
        assert last.action == "auto_close"
        assert last.actor == "system"
        assert "recovered" in last.reason
        assert "closed automatically" in last.reason


async def test_flapping_pressure_around_the_minimum_does_not_flap_the_grade(run: Run) -> None:
    history = run.history("E002")
    timeline = [(h.colour, round(run.minutes(h.at), 1)) for h in history]
    assert colour_runs(history) == ["not_assessed", "green", "yellow", "green"], timeline
    hazards = [
        h for h in run.engine.store.hazards.find(device_id="HY-E002-02") if h.signal == "hydrant_low_pressure"
    ]
    assert len(hazards) == 1, "one hazard per device and rule: flapping cannot flood the list"
    signals = [
        s for s in run.engine.store.signals.history("HY-E002-02") if s.signal == "hydrant_low_pressure"
    ]
    assert [s.active for s in reversed(signals)] == [True, False]
    # It resolved only once the pressure was healthy (0.36 at +28m) plus the recovery hold.
    assert run.minutes(history[-1].at) >= 38, timeline


async def test_grades_are_published_retained_and_written_to_influxdb(
    run: Run, mosquitto: Any, influxdb: Any
) -> None:
    seen = [(m["estate"], m["grade"]) for m in run.grade_messages]
    assert ("E001", "yellow") in seen
    assert ("E002", "yellow") in seen
    yellow = next(m for m in run.grade_messages if m["estate"] == "E001" and m["grade"] == "yellow")
    assert yellow["label"] == {"zh": "黄色", "en": "yellow"}
    assert "HY-E001-02" in yellow["summary"]

    # A client connecting now gets the current grade of each estate at once (retained).
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="late-subscriber") as client:
        await client.subscribe("firegw/estates/+/grade", qos=1)
        retained: dict[str, dict[str, Any]] = {}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(3):
                async for message in client.messages:
                    assert message.retain
                    assert isinstance(message.payload, bytes)
                    body = json.loads(message.payload)
                    retained[body["estate"]] = body
                    if len(retained) == 2:
                        break
    assert {e: b["grade"] for e, b in retained.items()} == {"E001": "green", "E002": "green"}

    rows = influxdb.rows(
        "SELECT grade, grade_level, yellow_items, reasons FROM estate_grade WHERE estate = 'E001'",
        "rules_scenario",
    )
    grades = [r["grade"] for r in rows]
    assert grades[0] == "not_assessed", grades
    assert grades[grades.index("green") - 1] == "not_assessed", grades
    assert "yellow" in [r["grade"] for r in rows]
    assert [r["grade"] for r in rows][-1] == "green"
    assert any("HY-E001-02" in r["reasons"] for r in rows if r["grade"] == "yellow")
    hazard_rows = influxdb.rows("SELECT * FROM hazard WHERE estate = 'E001'", "rules_scenario")
    assert {r["state"] for r in hazard_rows} == {"reported", "closed"}
    assert all(r["criterion"] == "Y10" for r in hazard_rows)


async def test_alarm_reaches_the_live_feed_and_is_handled_through_the_api(run: Run) -> None:
    gateway = run.gateway
    live = [e for e in gateway.live.recent if e.event.type is EventType.ALARM]
    assert [e.device.id for e in live] == ["SD-E002-0003"]
    updates = [
        u for u in run.engine.outbox.updates.recent if u.kind == "alarm" and u.data["action"] == "raise"
    ]
    assert len(updates) == 1
    assert updates[0].data["device"] == "SD-E002-0003"

    base = f"http://127.0.0.1:{gateway.api_port}"
    async with httpx.AsyncClient(base_url=base, headers=run.headers) as http:
        alarms = (await http.get("/api/alarms", params={"open": "true"})).json()
        assert len(alarms) == 1
        alarm = alarms[0]
        assert alarm["estate"] == "E002"
        assert alarm["state"] == "open"
        assert alarm["device_cleared"] is True, "the detector's alarm_clear is recorded on the alarm"
        # Not acknowledged yet: it cannot be closed unseen.
        refused = await http.post(
            f"/api/alarms/{alarm['id']}/transitions",
            json={"action": "close", "actor": "operator", "outcome": "false_alarm"},
        )
        assert refused.status_code == 409
        assert "acknowledge" in refused.json()["detail"]
        for step in ("acknowledge", "dispatch", "on_scene"):
            response = await http.post(
                f"/api/alarms/{alarm['id']}/transitions", json={"action": step, "actor": "operator 王"}
            )
            assert response.status_code == 200, response.text
            await asyncio.sleep(0.05)
        closed = await http.post(
            f"/api/alarms/{alarm['id']}/transitions",
            json={
                "action": "close",
                "actor": "operator 王",
                "outcome": "false_alarm",
                "cause": "cooking_smoke",
                "note": "cooking smoke",
            },
        )
        assert closed.status_code == 200, closed.text
        body = closed.json()
    assert body["state"] == "closed"
    assert body["outcome"] == "false_alarm"
    times = [body["ack_s"], body["dispatch_s"], body["on_scene_s"], body["close_s"]]
    assert all(t is not None for t in times), times
    assert times == sorted(times), times
    assert [h["action"] for h in body["history"]] == ["raise", "acknowledge", "dispatch", "on_scene", "close"]
    assert body["history"][1]["actor"] == "operator 王"
    # A false alarm is not a fire: nothing counted toward Y15.
    assert run.engine.store.fires.find() == []


async def test_api_shows_estates_with_grades_and_grade_history(run: Run) -> None:
    base = f"http://127.0.0.1:{run.gateway.api_port}"
    async with httpx.AsyncClient(base_url=base, headers=run.headers) as http:
        estates = (await http.get("/api/estates")).json()
        assert {e["id"]: e["grade"]["grade"] for e in estates} == {"E001": "green", "E002": "green"}
        e1 = next(e for e in estates if e["id"] == "E001")
        assert e1["devices"]["total"] == 9
        assert e1["devices"]["online"] == 9
        history = (await http.get("/api/estates/E001/grade-history")).json()
        assert history[0]["grade"] == "green"  # newest first
        assert history[0]["previous"] == "yellow"
        assert [h["grade"] for h in history[-2:]] == ["green", "not_assessed"]  # assessed at start-up
        assert history[1]["reasons"][0]["codes"] == ["Y10", "G4", "G6"]
        assert e1["grade"]["assessed_at"] is not None
        assert {c["state"] for c in e1["grade"]["conditions"]} == {"holds"}
        device = (await http.get("/api/devices/HY-E001-02")).json()
        assert device["online"] is True
        assert device["active_signals"] == []
        # One rule for the drop and the low pressure after it: active once, resolved once (newest first).
        assert [s["active"] for s in device["signal_history"]] == [False, True]
        missing = await http.get("/api/estates/E999")
        assert missing.status_code == 404
        assert missing.json()["error"] == "not_found"
