"""The rule engine and the HTTP API on a fake clock: manual hazards and the closed loop, counted records over
a rolling year, grading by count, red items, escalation, restart, offline and unknown, and refused requests
that leave the store unchanged.

The API is driven in-process (httpx's ASGI transport) against the real engine and a real SQLite store; the
scenario tests (test_rules_scenarios.py) cover the same API over real HTTP with the broker and simulators.
Requests carry API tokens of fire-brigade accounts (every estate, every permission): the one a step is
recorded under is the account whose display name the step's actor names, created on first use; roles and
scopes themselves are tested in test_auth_scope.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from assessed import assess
from clock import FakeClock
from readings import healthy_readings

from gateway.api import ApiServices, create_app
from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.casework.engine import RuleEngine
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.registry import Registry
from gateway.ingest.sinks.sqlite import SqliteSink
from gateway.models import DeviceEvent, EventType, Reading
from gateway.store import HazardStore
from rules.model import SignalKind
from rules.policy import Policy, builtin_policy, load_policy
from simulators.fleet import generate_fleet


@dataclass
class Env:
    engine: RuleEngine
    clock: FakeClock
    http: httpx.AsyncClient
    registry: Registry
    store_path: Path
    auth: AuthService
    tokens: dict[str, str]

    def as_(self, name: str) -> dict[str, str]:
        """Headers of a fire-brigade account whose display name is ``name``: the server records the
        signed-in account as the actor, so this is how a step is done "by" someone."""
        if name not in self.tokens:
            username = f"u{len(self.tokens) + 1}"
            self.auth.store.create_user(
                username=username, role="brigade", password=None, now=self.clock(), display_name=name
            )
            self.tokens[name] = self.auth.create_token(username)[1]
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def grade(self, estate: str) -> str:
        return self.engine.grader.grades[estate].colour

    def heartbeat_all(self) -> None:
        """Every device reports (keeps the offline rule quiet while the clock jumps)."""
        now = self.clock()
        self.engine.on_records(healthy_readings(self.registry, now), now)


def make_registry() -> Registry:
    return generate_fleet(
        estates=3, smoke_per_estate=10, hydrants_per_estate=2, cameras_per_estate=1, modbus_share=0.0, seed=5
    )


@pytest.fixture
def registry() -> Registry:
    return make_registry()


def build_engine(
    registry: Registry, store_path: Path, clock: FakeClock, policy: Policy | None = None
) -> RuleEngine:
    return RuleEngine(registry, policy or load_policy(), HazardStore(f"sqlite:///{store_path}"), clock=clock)


@pytest.fixture
async def env(tmp_path: Path, registry: Registry) -> AsyncIterator[Env]:
    clock = FakeClock()
    store_path = tmp_path / "hazards.sqlite"
    engine = build_engine(registry, store_path, clock)
    deadletters = DeadLetterStore(tmp_path / "dl.sqlite")
    pipeline = Pipeline(registry, SqliteSink(tmp_path / "t.sqlite"), deadletters, clock=clock)
    auth = AuthService(AuthStore(engine.store.engine))
    app = create_app(ApiServices(registry, pipeline, engine, deadletters, clock, auth=auth))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        e = Env(engine, clock, http, registry, store_path, auth, {})
        http.headers.update(e.as_("fire brigade"))
        e.heartbeat_all()
        assess(engine)  # inspected and registered by the street office: graded from here on
        yield e
    deadletters.close()


async def file(env: Env, estate: str, criterion: str, **extra: Any) -> httpx.Response:
    body = {
        "estate_id": estate,
        "criterion": criterion,
        "location": "2号楼 1单元",
        "description": f"{criterion} found on patrol",
        "reporter": "grid worker 李",
        **extra,
    }
    return await env.http.post("/api/hazards", json=body, headers=env.as_(body["reporter"]))


async def step(env: Env, hazard_id: int, action: str, **extra: Any) -> httpx.Response:
    headers = env.as_(extra["actor"]) if "actor" in extra else None
    return await env.http.post(
        f"/api/hazards/{hazard_id}/transitions", json={"action": action, **extra}, headers=headers
    )


# -- grading by count ----------------------------------------------------------------------------------------


async def test_two_yellow_items_do_not_make_an_estate_yellow_three_do(env: Env) -> None:
    assert env.grade("E001") == "green"
    for criterion in ("Y3", "Y11"):
        assert (await file(env, "E001", criterion)).status_code == 201
    assert env.grade("E001") == "green", "two distinct yellow items are not three"
    # The same criterion twice is still one item.
    await file(env, "E001", "Y11")
    assert env.grade("E001") == "green"
    await file(env, "E001", "Y8")
    assert env.grade("E001") == "yellow"
    estate = (await env.http.get("/api/estates/E001")).json()
    assert sorted(estate["grade"]["yellow_items"]) == ["Y11", "Y3", "Y8"]
    assert estate["grade"]["rule_en"].startswith("three or more yellow items")
    assert estate["grade"]["rule"].startswith("存在黄色判定标准中三项及以上")
    assert estate["open_hazards"] == 4


async def test_one_red_item_makes_an_estate_red_and_a_missing_green_condition_yellow(env: Env) -> None:
    await file(env, "E002", "G7")
    assert env.grade("E002") == "yellow"
    assert env.engine.grader.grades["E002"].missing_green == ("G7",)
    response = await file(env, "E003", "R4", description="电动车和杂物堆满地下室")
    assert response.status_code == 201
    assert env.grade("E003") == "red"
    history = (await env.http.get("/api/estates/E003/grade-history")).json()
    assert history[0]["grade"] == "red"
    assert history[0]["previous"] == "green"
    assert "R4" in history[0]["reasons"][0]["codes"]
    assert "电动车和杂物堆满地下室" in history[0]["reasons"][0]["text"]


# -- the closed loop -----------------------------------------------------------------------------------------


async def test_a_hazard_goes_through_the_closed_loop_and_every_step_is_kept(env: Env) -> None:
    hazard = (await file(env, "E001", "R4")).json()
    hid = hazard["id"]
    assert hazard["state"] == "reported"
    assert env.grade("E001") == "red"
    env.clock.advance(hours=1)
    # Dispatched to a party of the estate (its property company, from the registry).
    party = (await env.http.get("/api/parties", params={"estate_id": "E001"})).json()[0]
    r = await step(env, hid, "dispatch", actor="community office 张", party_id=party["id"])
    assert r.json()["state"] == "dispatched"
    assert (r.json()["party_id"], r.json()["responsible"]) == (party["id"], party["name"])
    r = await step(env, hid, "start", actor="锦绣物业 王", reason="clearing the basement")
    body = r.json()
    assert body["state"] == "rectifying"
    # Red items demand immediate measures: the policy's red deadline is 24 h.
    assert datetime.fromisoformat(body["deadline"]) == env.clock() + timedelta(hours=24)
    env.clock.advance(hours=5)
    r = await step(env, hid, "rectified", actor="锦绣物业 王", evidence="photo/after-1.jpg")
    assert r.json()["state"] == "rectified"
    assert env.grade("E001") == "red", "not closed until verified"
    r = await step(env, hid, "reject", actor="inspector 赵", reason="bikes still in the stairwell")
    assert r.json()["state"] == "rectifying"
    await step(env, hid, "rectified", actor="锦绣物业 王", evidence="photo/after-2.jpg")
    r = await step(env, hid, "verify", actor="inspector 赵", reason="checked on site")
    body = r.json()
    assert body["state"] == "closed"
    assert body["close_kind"] == "verified"
    assert body["recheck_due"] is not None, "a re-check (回头看) is scheduled"
    assert env.grade("E001") == "green"
    actions = [(h["action"], h["actor"]) for h in body["history"]]
    assert actions == [
        ("report", "grid worker 李"),
        ("escalate", "system"),  # a red item goes up to the street at once (policy [escalation])
        ("dispatch", "community office 张"),
        ("start", "锦绣物业 王"),
        ("rectified", "锦绣物业 王"),
        ("reject", "inspector 赵"),
        ("rectified", "锦绣物业 王"),
        ("verify", "inspector 赵"),
    ]
    assert body["history"][4]["data"]["evidence"] == "photo/after-1.jpg"
    assert body["history"][5]["reason"] == "bikes still in the stairwell"


async def test_overdue_items_escalate_and_are_listed(env: Env) -> None:
    hid = (await file(env, "E002", "Y7")).json()["id"]
    deadline = env.clock() + timedelta(days=2)
    r = await step(env, hid, "start", actor="物业", deadline=deadline.isoformat())
    assert r.status_code == 200, r.text
    env.clock.advance(days=3)
    env.heartbeat_all()
    env.engine.tick(env.clock())
    overdue = (await env.http.get("/api/hazards", params={"overdue": "true"})).json()
    assert [h["id"] for h in overdue] == [hid]
    assert overdue[0]["overdue"] is True
    assert overdue[0]["escalations"] == 1
    history = (await env.http.get(f"/api/hazards/{hid}")).json()["history"]
    assert history[-1]["action"] == "escalate"
    assert history[-1]["actor"] == "system"
    assert "overdue by 1 d" in history[-1]["reason"]
    # Not again until the policy's escalation interval (7 d) has passed.
    env.clock.advance(days=1)
    env.heartbeat_all()
    env.engine.tick(env.clock())
    assert (await env.http.get(f"/api/hazards/{hid}")).json()["escalations"] == 1
    assert (await env.http.get("/api/estates/E002")).json()["overdue_hazards"] == 1


# -- refused requests change nothing -------------------------------------------------------------------------


async def test_bad_requests_get_a_clear_4xx_and_leave_the_store_unchanged(env: Env) -> None:
    hid = (await file(env, "E001", "Y3")).json()["id"]
    before = env.engine.store.counts()
    grade_before = env.engine.grader.grades["E001"]

    r = await file(env, "E001", "Y16")
    assert r.status_code == 422
    assert "unknown criterion 'Y16'" in r.json()["detail"]
    assert "Y15" in r.json()["detail"], "the message lists what exists"

    r = await file(env, "E999", "Y3")
    assert r.status_code == 404
    assert r.json() == {"error": "not_found", "detail": "no estate 'E999' in the registry"}

    r = await step(env, hid, "verify", actor="inspector")
    assert r.status_code == 409
    assert "cannot 'verify' a hazard that is 'reported'" in r.json()["detail"]
    assert "dispatch" in r.json()["detail"]

    past = env.clock() - timedelta(days=1)
    r = await step(env, hid, "start", actor="物业", deadline=past.isoformat())
    assert r.status_code == 409
    assert "in the past" in r.json()["detail"]

    r = await step(env, hid, "dispatch", actor="office")
    assert r.status_code == 422
    assert r.json()["detail"].startswith("party_id: dispatch needs the responsible party")

    r = await step(env, hid, "auto_close", actor="someone")
    assert r.status_code == 422
    assert "done by the gateway itself" in r.json()["detail"]

    r = await env.http.post(
        "/api/hazards", json={"estate_id": "E001", "criterion": "Y3", "descripton": "typo"}
    )
    assert r.status_code == 422
    assert "descripton" in r.json()["detail"]

    r = await env.http.post(
        "/api/complaints",
        json={"estate_id": "E001", "received_at": "2026-11-01T10:00:00", "reporter": "12345"},
    )
    assert r.status_code == 422, "a naive time is ambiguous"

    assert (await env.http.get("/api/hazards/99999")).status_code == 404
    assert env.engine.store.counts() == before
    assert env.engine.grader.grades["E001"] is grade_before


# -- complaints and fires over a rolling year ----------------------------------------------------------------


async def complain(env: Env, estate: str, days_ago: float) -> httpx.Response:
    when = env.clock() - timedelta(days=days_ago)
    body = {
        "estate_id": estate,
        "received_at": when.isoformat(),
        "description": "楼道堆物",
        "reporter": "12345",
    }
    return await env.http.post("/api/complaints", json=body)


async def test_complaints_count_over_a_rolling_year(env: Env) -> None:
    assert (await complain(env, "E001", 400)).status_code == 201
    assert "Y14" not in env.engine.grader.grades["E001"].yellow_items, "400 days ago is outside the year"
    await complain(env, "E001", 100)
    assert env.engine.grader.grades["E001"].yellow_items == ("Y14",)
    assert env.grade("E001") == "green", "one yellow item alone is not yellow"
    await complain(env, "E001", 50)
    await complain(env, "E001", 10)
    grade = env.engine.grader.grades["E001"]
    assert grade.colour == "red"
    assert grade.red_items == ("R6",)
    assert any(r.text == "一年内火灾隐患投诉 3 起（不同事件）" and r.decisive for r in grade.reasons)
    # 300 days later the two oldest in-window complaints have aged out: the daily regrade notices.
    env.clock.advance(days=300)
    env.heartbeat_all()
    env.engine.grader.regrade_all(env.clock())
    assert env.engine.grader.grades["E001"].red_items == ()
    assert env.engine.grader.grades["E001"].yellow_items == ("Y14",)
    listed = (await env.http.get("/api/complaints", params={"estate_id": "E001"})).json()
    assert len(listed) == 4


async def test_confirmed_fires_count_toward_y15_and_a_fatal_fire_makes_the_estate_red(env: Env) -> None:
    detector = next(
        d for d in env.registry.devices if d.estate_id == "E003" and d.kind.value == "smoke_detector"
    )
    now = env.clock()
    env.engine.on_records(
        [(detector, DeviceEvent(device_id=detector.id, time=now, type=EventType.ALARM))], now
    )
    alarm = (await env.http.get("/api/alarms", params={"open": "true"})).json()[0]
    assert alarm["device"] == detector.id
    env.clock.advance(seconds=40)
    await env.http.post(
        f"/api/alarms/{alarm['id']}/transitions", json={"action": "acknowledge", "actor": "值班员"}
    )
    env.clock.advance(seconds=60)
    r = await env.http.post(
        f"/api/alarms/{alarm['id']}/transitions",
        json={
            "action": "close",
            "actor": "值班员",
            "outcome": "real_fire",
            "confirm": True,
            "fatal": True,
            "high_impact": False,
            "note": "厨房起火",
        },
    )
    body = r.json()
    assert body["ack_s"] == 40.0
    assert body["close_s"] == 100.0
    fires = (await env.http.get("/api/fires")).json()
    assert len(fires) == 1
    assert fires[0]["fatal"] is True
    assert fires[0]["alarm_id"] == alarm["id"]
    assert env.engine.grader.grades["E003"].red_items == ("R7",)
    # Two more (not fatal) fires recorded by hand: three in a year is Y15 as well.
    for days in (20, 40):
        r = await env.http.post(
            "/api/fires",
            json={
                "estate_id": "E003",
                "occurred_at": (env.clock() - timedelta(days=days)).isoformat(),
                "recorded_by": "fire brigade",
            },
        )
        assert r.status_code == 201
    assert "Y15" in env.engine.grader.grades["E003"].yellow_items


# -- device hazards: restart, offline, unknown ---------------------------------------------------------------


def hydrant_of(registry: Registry, estate: str) -> Any:
    return next(d for d in registry.devices if d.estate_id == estate and d.kind.value == "hydrant")


async def test_an_open_device_hazard_survives_a_restart_and_closes_when_the_device_recovers(
    env: Env, registry: Registry
) -> None:
    hydrant = hydrant_of(registry, "E001")

    def report(pressure: float) -> None:
        now = env.clock()
        reading = Reading(device_id=hydrant.id, time=now, metrics={"pressure_mpa": pressure})
        env.engine.on_records([(hydrant, reading)], now)

    report(0.30)
    for _ in range(7):  # 0.03 MPa for 7 minutes: past the 5-minute hold
        env.clock.advance(minutes=1)
        report(0.03)
        env.engine.tick(env.clock())
    assert env.grade("E001") == "yellow"
    open_before = env.engine.store.hazards.find(open_only=True, device_id=hydrant.id)
    # One physical problem, one hazard: the sudden drop was its first signal, the low pressure continued it.
    assert [h.signal for h in open_before] == ["hydrant_low_pressure"]

    # The gateway restarts: a new engine on the same store.
    restarted = build_engine(registry, env.store_path, env.clock)
    assert restarted.grader.grades["E001"].colour == "yellow"
    assert restarted.fleet.rules[hydrant.id].rules[SignalKind.HYDRANT_LOW_PRESSURE].active
    for _ in range(12):
        env.clock.advance(minutes=1)
        now = env.clock()
        reading = Reading(device_id=hydrant.id, time=now, metrics={"pressure_mpa": 0.36})
        restarted.on_records([(hydrant, reading)], now)
        restarted.tick(now)
    assert restarted.grader.grades["E001"].colour == "green"
    closed = restarted.store.hazards.find(device_id=hydrant.id)
    assert {h.close_kind for h in closed} == {"auto"}
    assert len(closed) == 1, "the restart did not open duplicates"


async def test_silent_devices_go_offline_and_an_estate_with_nothing_heard_is_unknown(env: Env) -> None:
    # E002's devices go silent; the others keep reporting.
    others = [d for d in env.registry.devices if d.estate_id != "E002"]
    for _ in range(27):
        env.clock.advance(hours=1)
        now = env.clock()
        env.engine.on_records(
            [(d, Reading(device_id=d.id, time=now, metrics={"battery_pct": 90.0})) for d in others], now
        )
        env.engine.tick(now)
    grade = env.engine.grader.grades["E002"]
    assert grade.colour == "unknown", grade
    assert grade.stale
    assert env.engine.grader.grades["E001"].colour == "green"
    offline = env.engine.store.hazards.find(open_only=True, estate_ids=["E002"])
    assert {h.signal for h in offline} == {"offline"}
    devices = (await env.http.get("/api/devices", params={"estate_id": "E002", "failing": "true"})).json()
    # Cameras too: they send keep-alives now, and one silent past its window is offline.
    assert len(devices) == len([d for d in env.registry.devices if d.estate_id == "E002"])
    assert all(d["online"] is False for d in devices)
    # One device speaks again: the estate is no longer unknown. Its silent smoke detectors are facility
    # faults beyond the tolerance (Y10); its silent hydrant and camera only monitoring faults.
    back = next(d for d in env.registry.devices if d.estate_id == "E002" and d.kind.value == "hydrant")
    now = env.clock()
    env.engine.on_records([(back, Reading(device_id=back.id, time=now, metrics={"pressure_mpa": 0.3}))], now)
    assert env.engine.grader.grades["E002"].colour == "yellow"


# -- policy and API surface ----------------------------------------------------------------------------------


def test_a_second_policy_grades_the_same_estate_differently(tmp_path: Path, registry: Registry) -> None:
    clock = FakeClock()
    default = build_engine(registry, tmp_path / "a.sqlite", clock)
    four = build_engine(registry, tmp_path / "b.sqlite", clock, builtin_policy("four_colour"))
    for engine in (default, four):
        assess(engine)
        engine.hazards.file(
            estate_id="E001", criterion="Y9", location="", description="飞线充电", reporter="x"
        )
    # Grey is not a count of items: one yellow item leaves both green.
    assert default.grader.grades["E001"].colour == "green"
    assert four.grader.grades["E001"].colour == "green"
    # The office sets the estate out of use (停租停用): grey under the four-colour policy only.
    for engine in (default, four):
        engine.assessments.set_out_of_use(
            estate_id="E001", out_of_use=True, by="街道办", reason="整体停租装修"
        )
    assert default.grader.grades["E001"].colour == "green"
    assert four.grader.grades["E001"].colour == "grey"
    assert four.grader.grades["E001"].level == 1


async def test_openapi_describes_every_route(env: Env) -> None:
    spec = (await env.http.get("/openapi.json")).json()
    paths = set(spec["paths"])
    assert {
        "/api/estates",
        "/api/estates/{estate_id}",
        "/api/estates/{estate_id}/grade-history",
        "/api/hazards",
        "/api/hazards/{hazard_id}",
        "/api/hazards/{hazard_id}/transitions",
        "/api/complaints",
        "/api/fires",
        "/api/alarms",
        "/api/alarms/{alarm_id}",
        "/api/alarms/{alarm_id}/transitions",
        "/api/devices",
        "/api/devices/{device_id}",
        "/api/policy",
        "/api/health",
    } <= paths
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if "204" in operation["responses"]:
                continue  # no content by definition (POST /api/auth/logout)
            ok = operation["responses"].get("200") or operation["responses"].get("201")
            assert ok, f"{method} {path} has no success response"
            schemas = [c.get("schema") for c in ok.get("content", {}).values()]
            assert schemas, f"{method} {path} has no response content"
            assert all(schemas), f"{method} {path} has no response schema"
    policy = (await env.http.get("/api/policy")).json()
    codes = [c["code"] for c in policy["criteria"]]
    assert len(codes) == 30
    assert policy["criteria"][0] == {
        "code": "R1",
        "category": "red",
        "zh": "违规使用易燃可燃夹芯彩钢板或易燃材料搭建临时房屋",
        "en": "flammable sandwich colour-steel panels or flammable temporary buildings",
    }
