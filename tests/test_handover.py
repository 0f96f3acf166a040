"""Shift handover (交接班记录, issue 16): the real API on SQLite and a fake clock, and once in a browser.

Three estates; a control room is the scope of the accounts that work it::

    E001 东城区 锦绣物业 ┐ room company:锦绣物业 (accounts property = day shift, property_night)
    E002 东城区 锦绣物业 ┘
    E003 西城区 绿城物业   room company:绿城物业 (account lvcheng)

The outgoing account hands over with a note and the gateway's snapshot of what is open in the room's
estates; another account of the same room signs it. What the snapshot holds is compared with what the test
opened (and with the store), not with fixed counts.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from assessed import assess
from clock import FakeClock
from laid_out import laid_out_registry
from playwright.async_api import async_playwright, expect
from role_clients import role_clients
from served_app import served

from gateway.api import ApiServices, create_app
from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.casework.engine import RuleEngine
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.registry import Registry
from gateway.ingest.sinks.sqlite import SqliteSink
from gateway.models import DeviceEvent, EventType
from gateway.store import HazardStore
from rules.lifecycle import AlarmAction, HazardAction
from rules.policy import load_policy

LAYOUT = {"E001": ("东城区", "锦绣物业"), "E002": ("东城区", "锦绣物业"), "E003": ("西城区", "绿城物业")}
ROLES: dict[str, dict[str, Any]] = {
    "brigade": {},
    "office": {"district": "东城区"},
    "property": {"company": "锦绣物业"},
    "grid": {"district": "东城区"},
    "viewer": {"company": "锦绣物业"},
}
#: Accounts beside the one per role: the night shift of the same room, and another company's operator.
MORE: dict[str, tuple[str, dict[str, Any]]] = {
    "property_night": ("property", {"company": "锦绣物业"}),
    "lvcheng": ("property", {"company": "绿城物业"}),
}
ROOM = "company:锦绣物业"

pytestmark = pytest.mark.usefixtures("cheap_hashes")


def make_registry() -> Registry:
    return laid_out_registry(LAYOUT, smoke_per_estate=4, seed=5)


@dataclass
class World:
    engine: RuleEngine
    clock: FakeClock
    registry: Registry
    http: httpx.AsyncClient = field(init=False)
    tokens: dict[str, str] = field(default_factory=dict)

    def as_(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def smoke(self, estate: str, n: int) -> str:
        return f"SD-{estate}-{n:04d}"

    def event(self, device_id: str, kind: EventType) -> None:
        now = self.clock()
        device = self.registry.device(device_id)
        self.engine.on_records([(device, DeviceEvent(device_id=device_id, time=now, type=kind))], now)

    def alarm(self, estate: str, n: int) -> int:
        detector = self.smoke(estate, n)
        self.event(detector, EventType.ALARM)
        return self.engine.store.alarms.find(open_only=True, device_id=detector)[0].id

    def file(self, estate: str, criterion: str = "Y9") -> int:
        return self.engine.hazards.file(
            estate_id=estate, criterion=criterion, location="2号楼", description="楼道堆物", reporter="巡查"
        ).id

    async def hand_over(self, username: str, note: str = "") -> httpx.Response:
        return await self.http.post("/api/handovers", json={"note": note}, headers=self.as_(username))

    async def sign(self, handover_id: int, username: str, note: str = "") -> httpx.Response:
        return await self.http.post(
            f"/api/handovers/{handover_id}/sign", json={"note": note}, headers=self.as_(username)
        )


def make_engine(tmp_path: Path) -> tuple[RuleEngine, FakeClock, Registry]:
    registry = make_registry()
    clock = FakeClock()
    store = HazardStore(f"sqlite:///{tmp_path / 'hazards.sqlite'}")
    engine = RuleEngine(registry, load_policy(), store, clock=clock)
    assess(engine)
    return engine, clock, registry


def add_accounts(
    engine: RuleEngine, accounts: dict[str, tuple[str, dict[str, Any]]], password: str | None
) -> AuthService:
    auth = AuthService(AuthStore(engine.store.engine))
    for username, (role, scope) in accounts.items():
        auth.store.create_user(
            username=username,
            role=role,
            password=password,
            now=engine.clock(),
            display_name=f"{username} 名",
            **scope,
        )
    return auth


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    engine, clock, registry = make_engine(tmp_path)
    w = World(engine, clock, registry)
    async with role_clients(engine, clock, tmp_path, ROLES) as (http, tokens):
        auth = add_accounts(engine, MORE, None)
        w.http, w.tokens = http, {**tokens, **{u: auth.create_token(u)[1] for u in MORE}}
        yield w


# -- the snapshot --------------------------------------------------------------------------------------------


async def test_the_snapshot_lists_exactly_what_is_open_in_the_room(world: World) -> None:
    engine, clock = world.engine, world.clock
    acknowledged = world.alarm("E002", 1)
    engine.alarms.step(acknowledged, AlarmAction.ACKNOWLEDGE, actor="day")
    world.alarm("E003", 1)  # another company's estate: not in the room
    clock.advance(minutes=5)
    unacknowledged = world.alarm("E001", 1)

    overdue = world.file("E001")
    engine.hazards.step(overdue, HazardAction.START, actor="day", deadline=clock() + timedelta(minutes=10))
    red = world.file("E002", "R4")
    closed = world.file("E001")
    engine.hazards.step(closed, HazardAction.CLOSE, actor="office", reason="filed twice")
    world.file("E003")
    world.event(world.smoke("E001", 3), EventType.OFFLINE)
    world.event(world.smoke("E002", 2), EventType.FAULT)
    world.event(world.smoke("E003", 2), EventType.FAULT)
    window = engine.windows.declare(
        estate_id="E002", device_id="HY-E002-01", starts_at=clock(), ends_at=clock() + timedelta(hours=2),
        reason="消火栓放水试验", declared_by="维保 周",
    )  # fmt: skip
    clock.advance(minutes=15)  # the started hazard is now past its deadline
    engine.tick(clock())

    r = await world.hand_over("property", "2号楼堆物已通知业主")
    assert r.status_code == 201, r.text
    handover = r.json()
    snap = handover["snapshot"]
    assert (handover["room"], handover["estate_ids"], handover["state"]) == (
        ROOM,
        ["E001", "E002"],
        "pending",
    )
    assert (handover["outgoing_account"], handover["outgoing_name"]) == ("property", "property 某某")
    assert handover["outgoing_note"] == "2号楼堆物已通知业主"
    assert handover["room_zh"] == "锦绣物业 消防控制室"

    # Alarms: the room's open ones only, the unacknowledged first although it is the newer, with its age.
    assert [(a["id"], a["acknowledged"]) for a in snap["alarms"]] == [
        (unacknowledged, False),
        (acknowledged, True),
    ]
    assert snap["alarms"][0]["age_s"] == pytest.approx(15 * 60)
    assert (snap["counts"]["alarms"], snap["counts"]["unacknowledged"]) == (2, 1)

    # Hazards: every open one of E001/E002 (the device hazards the offline and faulty detectors opened too),
    # none closed, none of E003; the overdue one first and marked.
    in_store = {h.id for h in engine.store.hazards.find(estate_ids=["E001", "E002"], open_only=True)}
    assert {overdue, red} < in_store
    assert closed not in in_store
    listed = [(h["id"], h["overdue"]) for h in snap["hazards"]]
    assert {i for i, _ in listed} == in_store
    assert listed[0] == (overdue, True)
    assert [i for i, late in listed if late] == [overdue]
    assert (snap["counts"]["hazards"], snap["counts"]["overdue"]) == (len(in_store), 1)

    # Devices: the offline detector and the faulty one; the E003 fault is another room's.
    devices = {d["id"]: d for d in snap["devices"]}
    assert set(devices) == {world.smoke("E001", 3), world.smoke("E002", 2)}
    assert devices[world.smoke("E001", 3)]["offline"] is True
    assert devices[world.smoke("E002", 2)]["offline"] is False
    assert [s["signal"] for s in devices[world.smoke("E002", 2)]["signals"]] == ["device_fault"]
    assert [w["id"] for w in snap["windows"]] == [window.id]

    # Estates: those graded red or yellow now, worst first; E002 has a red item.
    grades = {e: engine.grader.grades[e].colour for e in ("E001", "E002")}
    flagged = [(e["id"], e["grade"]) for e in snap["estates"]]
    assert flagged[0] == ("E002", "red")
    assert set(flagged) == {(e, g) for e, g in grades.items() if g in ("red", "yellow")}

    # The page's "open now" is the same as what was recorded, and shows the pending handover.
    current = (await world.http.get("/api/handovers/current", headers=world.as_("property_night"))).json()
    assert current["pending"]["id"] == handover["id"]
    assert current["room"] == {
        "key": ROOM, "zh": "锦绣物业 消防控制室", "en": "锦绣物业 fire control room",
        "own": True, "works": True, "estate_ids": ["E001", "E002"], "pending_id": handover["id"],
    }  # fmt: skip
    assert {k: v for k, v in current["snapshot"].items() if k != "alarms"} == {
        k: v for k, v in snap.items() if k != "alarms"
    }
    assert [a["id"] for a in current["snapshot"]["alarms"]] == [a["id"] for a in snap["alarms"]]


# -- signatures ----------------------------------------------------------------------------------------------


async def test_only_another_account_of_the_room_signs_and_a_pending_handover_blocks_the_next(
    world: World,
) -> None:
    r = await world.hand_over("property", "交班")
    assert r.status_code == 201, r.text
    hid = r.json()["id"]
    before = world.engine.store.counts()

    r = await world.sign(hid, "property")
    assert r.status_code == 409
    assert "cannot also sign for taking it over" in r.json()["detail"]
    r = await world.sign(hid, "lvcheng")
    assert (r.status_code, r.json()["detail"]) == (404, f"no handover {hid}")
    r = await world.sign(hid, "office")  # sees both estates, works another room
    assert r.status_code == 403
    assert "works the 东城区 duty room, not the 锦绣物业 fire control room" in r.json()["detail"]
    for username in ("grid", "viewer"):
        r = await world.sign(hid, username)
        assert r.status_code == 403, username
        assert "needs hand_over_shift" in r.json()["detail"]
    r = await world.hand_over("property_night", "想再交一次")
    assert r.status_code == 409
    assert f"handover {hid} of this control room" in r.json()["detail"]
    assert "still waiting for the incoming operator's signature" in r.json()["detail"]
    r = await world.hand_over("viewer")
    assert r.status_code == 403
    assert world.engine.store.counts() == before, "a refused request changes nothing"

    world.clock.advance(minutes=3)
    r = await world.sign(hid, "property_night", "已接班，2号楼继续跟进")
    assert r.status_code == 200, r.text
    signed = r.json()
    assert (signed["state"], signed["incoming_account"], signed["incoming_name"]) == (
        "signed", "property_night", "property_night 名"
    )  # fmt: skip
    assert signed["signed_at"] == world.clock().isoformat().replace("+00:00", "Z")
    r = await world.sign(hid, "property_night")
    assert r.status_code == 409
    assert "cannot be signed again" in r.json()["detail"]

    # Signed: the next shift hands over again, and the log lists both, newest first.
    r = await world.hand_over("property_night", "夜班交班")
    assert r.status_code == 201, r.text
    log = (await world.http.get("/api/handovers", headers=world.as_("property"))).json()
    assert [(h["id"], h["state"], h["snapshot"]) for h in log] == [
        (r.json()["id"], "pending", None),
        (hid, "signed", None),
    ]


async def test_a_handover_record_never_changes(world: World) -> None:
    alarm = world.alarm("E001", 2)
    hazard = world.file("E001")
    r = await world.hand_over("property", "一条未确认报警")
    hid, recorded = r.json()["id"], r.json()
    assert (await world.sign(hid, "property_night", "收到")).status_code == 200

    # What happens afterwards changes what is open now, not what was handed over.
    world.engine.alarms.step(alarm, AlarmAction.ACKNOWLEDGE, actor="night")
    world.engine.hazards.step(hazard, HazardAction.CLOSE, actor="office", reason="duplicate")
    world.clock.advance(hours=1)
    got = (await world.http.get(f"/api/handovers/{hid}", headers=world.as_("property"))).json()
    assert got["snapshot"] == recorded["snapshot"]
    assert [a["acknowledged"] for a in got["snapshot"]["alarms"]] == [False]
    assert hazard in [h["id"] for h in got["snapshot"]["hazards"]]
    assert (got["outgoing_note"], got["incoming_note"]) == ("一条未确认报警", "收到")
    now = (await world.http.get("/api/handovers/current", headers=world.as_("property"))).json()["snapshot"]
    assert hazard not in [h["id"] for h in now["hazards"]]

    # There is no way to change or delete one.
    for method in ("PATCH", "PUT", "DELETE"):
        r = await world.http.request(
            method, f"/api/handovers/{hid}", json={"note": "x"}, headers=world.as_("brigade")
        )
        assert r.status_code == 405, method
    counts = world.engine.store.counts()
    assert (counts["handovers"], counts["handover_signatures"]) == (1, 1)


async def test_rooms_are_read_within_the_scope(world: World) -> None:
    assert (await world.hand_over("property")).status_code == 201
    assert (await world.hand_over("lvcheng")).status_code == 201
    assert (await world.hand_over("brigade")).status_code == 201
    query = {"room": ROOM}
    for username, status in (("brigade", 200), ("office", 200), ("viewer", 200), ("lvcheng", 404)):
        r = await world.http.get("/api/handovers", params=query, headers=world.as_(username))
        assert r.status_code == status, (username, r.text)
    r = await world.http.get("/api/handovers", params={"room": "all"}, headers=world.as_("office"))
    assert (r.status_code, r.json()["detail"]) == (404, "no control room 'all'")
    r = await world.http.get("/api/handovers", params={"room": "estate:E001"}, headers=world.as_("brigade"))
    assert r.status_code == 422
    assert r.json()["detail"].startswith("room: 'estate:E001' is not a control room: give 'company:")

    rooms = (await world.http.get("/api/handovers/rooms", headers=world.as_("brigade"))).json()
    assert [(r["key"], r["own"]) for r in rooms] == [
        ("all", True), ("company:绿城物业", False), ("company:锦绣物业", False)
    ]  # fmt: skip
    rooms = (await world.http.get("/api/handovers/rooms", headers=world.as_("office"))).json()
    assert [r["key"] for r in rooms] == ["area:东城区", ROOM], "the other company's estates are not in 东城区"
    rooms = (await world.http.get("/api/handovers/rooms", headers=world.as_("viewer"))).json()
    assert [(r["key"], r["own"], r["works"]) for r in rooms] == [(ROOM, True, False)], "a viewer reads only"
    # The city-wide room's snapshot covers every estate.
    r = await world.http.get("/api/handovers/current", headers=world.as_("brigade"))
    assert r.json()["room"]["estate_ids"] is None


# -- accounts disabled, and in a browser ------------------------------------------------------------------

CHROMIUM = os.environ.get("FIREGW_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(
    os.environ.get(
        "FIREGW_SCREENSHOTS", Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
    )
)
PASSWORD = "correct horse battery staple"


async def test_with_accounts_disabled_the_names_given_sign(tmp_path: Path) -> None:
    engine, clock, registry = make_engine(tmp_path)
    deadletters = DeadLetterStore(tmp_path / "dl.sqlite")
    pipeline = Pipeline(registry, SqliteSink(tmp_path / "t.sqlite"), deadletters, clock=clock)
    app = create_app(ApiServices(registry, pipeline, engine, deadletters, clock, auth=None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        r = await http.post("/api/handovers", json={"note": "x"})
        assert r.status_code == 422
        assert r.json()["detail"] == "by: required when accounts are disabled ([auth] enabled = false)"
        r = await http.post("/api/handovers", json={"by": "白班 张"})
        assert (r.status_code, r.json()["room"]) == (201, "all")
        hid = r.json()["id"]
        r = await http.post(f"/api/handovers/{hid}/sign", json={"by": "白班 张"})
        assert r.status_code == 409
        r = await http.post(f"/api/handovers/{hid}/sign", json={"by": "夜班 李"})
        assert (r.status_code, r.json()["incoming_name"]) == (200, "夜班 李")
    deadletters.close()


async def test_a_shift_is_handed_over_and_signed_in_the_browser(tmp_path: Path) -> None:
    engine, clock, _ = make_engine(tmp_path)
    shifts = {"day": ("property", {"company": "锦绣物业"}), "night": ("property", {"company": "锦绣物业"})}
    auth = add_accounts(engine, shifts, PASSWORD)
    alarm = World(engine, clock, engine.registry).alarm("E001", 1)
    async with served(engine, auth, tmp_path) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        errors: list[str] = []
        try:

            async def signed_in(username: str) -> Any:
                page = await (await browser.new_context(locale="zh-CN")).new_page()
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                await page.goto(
                    base + "/#/login"
                )  # straight to the form: nothing re-draws it under the typing
                await expect(page.locator("#login-form")).to_be_visible()
                await page.locator("#l-user").fill(username)
                await page.locator("#l-pass").fill(PASSWORD)
                await page.locator("#login-form button[type=submit]").click()
                await expect(page.locator("#whoami")).not_to_be_empty()
                await page.locator('#top nav a[href="#/handover"]').click()
                return page

            day = await signed_in("day")
            await expect(day.locator('#top nav a[href="#/handover"]')).to_have_text("交接班")
            await expect(day.locator('[data-testid="handover-room"]')).to_have_text("锦绣物业 消防控制室")
            await expect(
                day.locator(f'[data-testid="handover-current"] [data-alarm-row="{alarm}"]')
            ).to_be_visible()
            await day.locator("#handover-form-note").fill("1号楼烟感报警未确认，请接班后立即处理")
            await day.locator('#handover-form button[type="submit"]').click()
            await expect(day.locator('[data-testid="handover-waiting"]')).to_be_visible()
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, a local folder
            await day.screenshot(path=str(SCREENSHOTS / "20-handover.png"), full_page=True)
            assert await day.locator("#sign-form").count() == 0, "the outgoing account does not sign"

            night = await signed_in("night")
            pending = night.locator('[data-testid="handover-pending"]')
            await expect(pending.locator('[data-testid="sig-outgoing"]')).to_contain_text("day 名")
            await expect(pending).to_contain_text("1号楼烟感报警未确认")
            await night.locator("#sign-form-note").fill("已接班")
            await night.locator('#sign-form button[type="submit"]').click()
            row = night.locator('[data-testid="handover-log"] [data-handover-row]').first
            await expect(row).to_have_attribute("data-state", "signed")
            await row.locator("a").click()
            record = night.locator('[data-testid="handover-record"]')
            await expect(record.locator('[data-testid="sig-incoming"]')).to_contain_text("night 名")
            await expect(record.locator(f'[data-alarm-row="{alarm}"]')).to_be_visible()
            await night.screenshot(path=str(SCREENSHOTS / "21-handover-record.png"), full_page=True)
            await night.emulate_media(media="print")
            await expect(night.locator("header#top")).to_be_hidden()
            assert errors == []
        finally:
            await browser.close()
