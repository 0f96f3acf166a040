"""Estate, hazard and device pages a person can act on, and the phone layout (issue 18), in a real browser.

The gateway is the real API and UI on an engine with a fake clock and stored telemetry (tests/served_app.py's
way, with a SQLite sink and reader so that charts and last messages are what was stored). Estate E001 has
three hydrants; the second (not the first) loses its pressure, and a detector at fault keeps reporting its
battery in its fault messages (a GB/T 45839 status 3), 11 % after 66 % in its last heartbeat.

- the estate page's pressure chart opens on the failing hydrant, the battery chart on the lowest battery, with
  points; the grade history leaves out rows that repeat the colour and the deciding reasons;
- the device page's battery is its latest message's (the fault message's 11 %, not the heartbeat's 66 %);
- the hazard list names estates; every input has a label; destructive steps are red and ask first;
- at 375 x 812 the board, the estate page, filing a hazard (camera) and the to-do list do not scroll
  sideways, the header is a compact menu and controls are at least 44 px high.

Screenshots (test-artifacts/screenshots/): 50-estate-1080, 51-hazard-1080, 52-board-375,
53-file-hazard-375, 54-todo-375.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from assessed import assess
from clock import FakeClock
from playwright.async_api import Browser, Dialog, Page, async_playwright, expect
from served_app import served

from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.casework.engine import RuleEngine
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.registry import Registry
from gateway.ingest.sinks.sqlite import SqliteSink
from gateway.ingest.telemetry_query import SqliteReader
from gateway.models import DeviceEvent, DeviceKind, EventType, Reading
from gateway.store import HazardStore
from rules.lifecycle import HazardAction
from rules.policy import load_policy
from simulators.fleet import generate_fleet

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.usefixtures("cheap_hashes")]

CHROMIUM = os.environ.get("FIREGW_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(
    os.environ.get(
        "FIREGW_SCREENSHOTS", Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
    )
)
PASSWORD = "correct horse battery staple"
FAILING_HYDRANT = "HY-E001-02"
LOW_DETECTOR = "SD-E001-0005"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1920, "height": 1080}


@dataclass
class World:
    engine: RuleEngine
    clock: FakeClock
    registry: Registry
    pipeline: Pipeline
    base: str = ""
    ids: dict[str, Any] = field(default_factory=dict)

    async def send(self, *records: Reading | DeviceEvent) -> None:
        await self.pipeline.submit(list(records), source="test")

    async def report(self, *, hydrant_mpa: float = 0.35, detector_fault: bool = False) -> None:
        """Every device of the fleet reports once, at the clock's time."""
        now = self.clock()
        records: list[Reading | DeviceEvent] = []
        for d in self.registry.devices:
            if d.kind is DeviceKind.HYDRANT:
                mpa = hydrant_mpa if d.id == FAILING_HYDRANT else 0.35
                records.append(
                    Reading(device_id=d.id, time=now, metrics={"pressure_mpa": mpa, "battery_pct": 84})
                )
            elif d.kind is DeviceKind.CAMERA:
                records.append(Reading(device_id=d.id, time=now, metrics={"alive": True}))
            elif d.id == LOW_DETECTOR and detector_fault:
                # A GB/T 45839 detector at fault reports status 3 with its battery and signal, not heartbeats.
                attributes = {"battery_pct": 11, "signal_dbm": -106, "company": "JXFS"}
                records.append(
                    DeviceEvent(device_id=d.id, time=now, type=EventType.FAULT, attributes=attributes)
                )
            else:
                battery = 66 if d.id == LOW_DETECTOR else 82
                records.append(
                    Reading(device_id=d.id, time=now, metrics={"battery_pct": battery, "signal_dbm": -85})
                )
        await self.send(*records)

    def file(self, estate: str, criterion: str, location: str, description: str) -> int:
        """A hazard a grid worker reports."""
        hazard = self.engine.hazards.file(
            estate_id=estate,
            criterion=criterion,
            location=location,
            description=description,
            reporter="网格员 李",
        )
        return hazard.id

    async def later(self, minutes: float, **kw: Any) -> None:
        self.clock.advance(minutes=minutes)
        await self.report(**kw)
        self.engine.tick(self.clock())


async def drive(w: World) -> None:
    engine = w.engine
    for _ in range(6):  # an hour of healthy reports: the charts have a history
        await w.later(10)
    await w.later(10, detector_fault=True)  # one detector of twenty at fault: tolerated, the colour stays
    for _ in range(4):  # the second hydrant loses its pressure and stays without: yellow
        await w.later(6, hydrant_mpa=0.02, detector_fault=True)
    for _ in range(3):
        await w.later(10, hydrant_mpa=0.03, detector_fault=True)
    # A person's hazard at E001, dispatched to its property company and rectified: waiting for verification
    # (reject and close are on its page), and one waiting for the property company to start (its to-do).
    hazards = engine.hazards
    party = engine.store.parties.serving("E001")[0].id
    rectified = w.file("E001", "Y7", "2号楼 楼梯间", "楼梯间堆放杂物")
    hazards.step(rectified, HazardAction.DISPATCH, actor="duty", party_id=party)
    hazards.step(rectified, HazardAction.START, actor="property")
    hazards.step(rectified, HazardAction.RECTIFIED, actor="property", evidence="已清理")
    waiting = w.file("E001", "Y9", "1号楼 门厅", "电动自行车停放在门厅")
    hazards.step(waiting, HazardAction.DISPATCH, actor="duty", party_id=party)
    w.ids.update(rectified=rectified, waiting=waiting)
    # E002's history: red, then a yellow item that changes nothing of what decided (red -> red, the same red
    # item), then the red item closed.
    red = w.file("E002", "R4", "地下室", "地下室堆放大量纸箱")
    w.clock.advance(minutes=5)
    w.file("E002", "Y9", "2号楼 门厅", "电动自行车停放在门厅")
    w.clock.advance(minutes=5)
    hazards.step(red, HazardAction.CLOSE, actor="duty", reason="已清理，误报")
    engine.tick(w.clock())


@contextlib.asynccontextmanager
async def served_world(tmp_path: Path) -> AsyncIterator[World]:
    registry = generate_fleet(
        estates=3, smoke_per_estate=20, hydrants_per_estate=3, cameras_per_estate=1, modbus_share=0.0, seed=7
    )
    clock = FakeClock()
    store = HazardStore(f"sqlite:///{tmp_path / 'hazards.sqlite'}")
    engine = RuleEngine(registry, load_policy(), store, clock=clock)
    assess(engine)
    auth = AuthService(AuthStore(engine.store.engine))
    e001 = registry.estate("E001")
    accounts: dict[str, tuple[str, dict[str, Any]]] = {
        "duty": ("brigade", {}),
        "grid": ("grid", {"district": e001.district}),
        "property": ("property", {"company": e001.property_company}),
    }
    for username, (role, scope) in accounts.items():
        auth.store.create_user(
            username=username,
            role=role,
            password=PASSWORD,
            now=clock(),
            display_name=f"{username} 名",
            **scope,
        )
    telemetry = tmp_path / "t.sqlite"
    deadletters = DeadLetterStore(tmp_path / "dl.sqlite")
    pipeline = Pipeline(registry, SqliteSink(telemetry), deadletters, rules=engine, clock=clock)
    world = World(engine, clock, registry, pipeline)
    await drive(world)
    async with served(engine, auth, tmp_path, pipeline=pipeline, telemetry=SqliteReader(telemetry)) as base:
        world.base = base
        yield world


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with served_world(tmp_path_factory.mktemp("pages")) as w:
        yield w


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        await b.close()


async def page_as(browser: Browser, world: World, username: str, viewport: dict[str, int]) -> Page:
    """A new page signed in through the login form; a script error fails the test at the end."""
    context = await browser.new_context(viewport=viewport, locale="zh-CN")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(world.base + "/#/login")
    await page.locator("#l-user").fill(username)
    await page.locator("#l-pass").fill(PASSWORD)
    await page.locator("#login-form button[type=submit]").click()
    await expect(page.locator("#whoami")).not_to_be_empty()
    return page


async def shot(page: Page, name: str, *, full: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (a directory, once)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full)


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out waiting")


def no_script_errors(page: Page) -> None:
    assert page.errors == [], page.errors  # type: ignore[attr-defined]


#: Inputs, selects and text areas a person sees, without a label they can read (an associated <label> or an
#: aria-label): "tag#id" each.
UNLABELLED = """() => [...document.querySelectorAll("#view input, #view select, #view textarea")]
  .filter((el) => el.type !== "hidden" && !(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
  .map((el) => `${el.tagName.toLowerCase()}#${el.id || el.name || "?"}`)"""


async def test_the_estate_page_opens_its_charts_on_what_fails(world: World, browser: Browser) -> None:
    page = await page_as(browser, world, "duty", DESKTOP)
    await page.goto(world.base + "/#/estate/E001")
    # The pressure chart is the failing hydrant's (the second of three), with its stored points.
    await expect(page.locator("#chart-device")).to_have_value(FAILING_HYDRANT)
    pressure = page.locator('[data-testid="chart-pressure"]')
    await expect(pressure).to_have_attribute("data-device", FAILING_HYDRANT)
    assert int(await pressure.get_attribute("data-points") or 0) > 1
    await expect(pressure.locator("svg.chart path")).to_have_count(1)
    # The battery chart opens on the lowest battery, and has points.
    await expect(page.locator("#battery-device")).to_have_value(LOW_DETECTOR)
    battery = page.locator('[data-testid="chart-battery"]')
    await expect(battery).to_have_attribute("data-device", LOW_DETECTOR)
    assert int(await battery.get_attribute("data-points") or 0) > 1
    # It ends where the detector's last (fault) messages are: 11 %, not the heartbeats' 66 %.
    last = await battery.locator("circle[data-last]").get_attribute("data-last")
    assert last is not None
    assert float(last) < 30, last
    await shot(page, "50-estate-1080")
    await page.locator("#battery-device").select_option("HY-E001-01")
    await expect(battery).to_have_attribute("data-device", "HY-E001-01")
    no_script_errors(page)


async def test_grade_history_shows_changes_not_repeats(world: World, browser: Browser) -> None:
    async with httpx.AsyncClient(base_url=world.base) as http:
        await http.post("/api/auth/login", json={"username": "duty", "password": PASSWORD})
        every = (await http.get("/api/estates/E002/grade-history")).json()
        changes = (await http.get("/api/estates/E002/grade-history?changes=true")).json()

    def repeats(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rows if r["previous"] == r["grade"] and not r["added"] and not r["removed"]]

    # The full history has a red -> red row that only repeats what decided (a yellow item came beside it).
    assert repeats(every), [(r["previous"], r["grade"]) for r in every]
    assert repeats(changes) == []
    assert len(changes) == len(every) - len(repeats(every))
    latest = changes[0]  # the red item closed: what decided is gone (the yellow item alone does not decide)
    assert (latest["previous"], latest["grade"]) == ("red", "green")
    assert [r["codes"] for r in latest["removed"]] == [["R4"]]
    assert latest["added"] == []

    page = await page_as(browser, world, "duty", DESKTOP)
    await page.goto(world.base + "/#/estate/E002")
    rows = page.locator('[data-testid="grade-history"] tr[data-history-row]')
    await expect(rows).to_have_count(len(changes))
    for i in range(len(changes)):
        row = rows.nth(i)
        if await row.get_attribute("data-previous") == await row.get_attribute("data-grade"):
            assert await row.locator(".hist-added, .hist-removed").count() > 0
    await expect(rows.first.locator(".hist-removed")).to_contain_text("地下室堆放大量纸箱")
    await page.locator("#history-all").check()
    await expect(rows).to_have_count(len(every))
    no_script_errors(page)


async def test_the_device_battery_is_its_latest_message(world: World, browser: Browser) -> None:
    page = await page_as(browser, world, "duty", DESKTOP)
    await page.goto(world.base + f"/#/device/{LOW_DETECTOR}")
    metrics = page.locator('[data-testid="device-metrics"]')
    latest = page.locator('[data-testid="recent"] tr[data-recent]').first
    await expect(latest).to_have_attribute("data-battery", "11")
    await expect(metrics).to_have_attribute("data-battery", "11")
    await expect(metrics).to_contain_text("电量 11%")
    # No raw JSON anywhere on the page, and the device's estate by its name.
    text = await page.locator("#view").inner_text()
    assert "{" not in text, text[:400]
    assert '":' not in text, text[:400]
    await expect(page.locator("#view .estate-name").first).to_have_text(world.registry.estate("E001").name)
    # More than one point, once the chart's own read has been answered (it comes after the page's).
    await expect(page.locator('[data-testid="chart-battery_pct"]')).to_have_attribute(
        "data-points", re.compile(r"^(?:[2-9]|[1-9]\d+)$")
    )
    no_script_errors(page)


async def test_hazard_lists_name_estates_and_every_input_has_a_label(world: World, browser: Browser) -> None:
    page = await page_as(browser, world, "duty", DESKTOP)
    names = {e.id: e.name for e in world.registry.estates}
    await page.goto(world.base + "/#/hazards")
    cells = page.locator('[data-testid="hazard-estate"]')
    await expect(cells.first).to_be_visible()
    for i in range(await cells.count()):
        hazard_row = page.locator("tr[data-hazard]").nth(i)
        cell = (await cells.nth(i).inner_text()).strip()
        assert any(cell.startswith(name) for name in names.values()), cell
        assert await hazard_row.locator("td").nth(1).inner_text() == cell
    assert await page.evaluate(UNLABELLED) == []
    for where in (
        "#/estate/E001",
        f"#/hazard/{world.ids['rectified']}",
        "#/todo",
        f"#/device/{FAILING_HYDRANT}",
    ):
        await page.goto(world.base + "/" + where)
        await expect(page.locator("#view h1")).to_be_visible()
        await page.wait_for_load_state("networkidle")
        # Forms folded in <details> count too: open them.
        await page.evaluate(
            "() => document.querySelectorAll('#view details').forEach((d) => { d.open = true; })"
        )
        assert await page.evaluate(UNLABELLED) == [], where
    # The hazard page names its estate, with the code small beside it. (A fresh load: after a hash change
    # alone, the device page's slower fetches could finish after the hazard page was drawn, and draw over it.)
    await page.goto("about:blank")
    await page.goto(world.base + f"/#/hazard/{world.ids['rectified']}")
    head = page.locator('[data-testid="hazard-estate"]')
    await expect(head.locator(".estate-name")).to_have_text(names["E001"])
    await expect(head.locator("small.code")).to_have_text("E001")
    no_script_errors(page)


async def test_destructive_steps_look_destructive_and_ask_first(world: World, browser: Browser) -> None:
    page = await page_as(browser, world, "duty", DESKTOP)
    hazard = world.ids["rectified"]
    await page.goto(world.base + f"/#/hazard/{hazard}")
    # The step that moves it on is the primary one; reject and close are red, apart, and marked.
    await expect(page.locator("button.primary[data-hazard-action]")).to_have_attribute(
        "data-hazard-action", "verify"
    )
    for action in ("reject", "close"):
        button = page.locator(f'[data-hazard-action="{action}"]')
        await expect(button).to_have_attribute("data-destructive", "")
        await expect(button).to_have_class("danger")
        assert await button.evaluate("(el) => !!el.closest('.danger-zone')")
        colour = await button.evaluate("(el) => getComputedStyle(el).borderTopColor")
        assert colour == "rgb(198, 40, 40)", colour
    await shot(page, "51-hazard-1080")

    dialogs: list[str] = []

    async def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    close = page.locator('[data-hazard-action="close"]')
    await close.click()  # no reason yet: it says so, and asks nothing
    await expect(page.locator("#a-result .error")).to_be_visible()
    assert dialogs == []
    await page.locator("#a-reason").fill("重复上报")
    await close.click()
    await until(lambda: len(dialogs) == 1)
    for said in ("关闭", f"#{hazard}", "重复上报"):
        assert said in dialogs[0], dialogs[0]
    await expect(page.locator("#hazard-state")).to_have_text("已整改")  # cancelled: nothing happened
    assert world.engine.store.hazards.get(hazard).state.value == "rectified"
    await page.locator('[data-hazard-action="reject"]').click()
    await until(lambda: len(dialogs) == 2)
    assert "退回" in dialogs[1], dialogs[1]

    # Voiding a record on the estate page is red too, and says what it does before asking why.
    await page.goto(world.base + "/#/estate/E001")
    void = page.locator("[data-void-record]").first
    await expect(void).to_have_attribute("data-destructive", "")
    await void.click()
    await until(lambda: len(dialogs) == 3)
    for said in ("作废", "重新判定"):
        assert said in dialogs[2], dialogs[2]
    assert all(not r.voided for r in world.engine.store.assessments.find(["E001"]))
    no_script_errors(page)


NO_SIDEWAYS = "() => document.documentElement.scrollWidth"
#: Visible controls of the page lower than 44 px (touch targets), "tag#id height" each.
SMALL_TARGETS = """() => [...document.querySelectorAll([
    "#view button", "#view select", "#view input:not([type=checkbox]):not([type=radio])", "#view textarea",
    "#view a.button", "header#top button"].join(", "))]
  .filter((el) => el.getClientRects().length && el.offsetParent !== null)
  .map((el) => [el, el.getBoundingClientRect().height])
  .filter(([el, h]) => h < 44 && getComputedStyle(el).opacity !== "0")
  .map(([el, h]) => `${el.tagName.toLowerCase()}#${el.id} ${Math.round(h)}`)"""


async def phone_checks(page: Page, where: str) -> None:
    width = await page.evaluate(NO_SIDEWAYS)
    assert width <= 375, f"{where}: {width} px wide"
    header = await page.locator("header#top").bounding_box()
    assert header is not None
    assert header["width"] <= 375, (where, header)
    assert header["height"] <= 64, (where, header)
    assert await page.evaluate(SMALL_TARGETS) == [], where


async def test_the_phone_layout(world: World, browser: Browser) -> None:
    grid = await page_as(browser, world, "grid", PHONE)
    # The board: one tile per row, the filters folded, the header a compact menu.
    await grid.goto(world.base + "/#/")
    tiles = grid.locator("#tiles > .tile")
    await expect(tiles.first).to_be_visible()
    await expect(grid.locator(".filters-box")).not_to_have_attribute("open", "")
    await expect(grid.locator("#f-district")).to_be_hidden()
    boxes = [await tiles.nth(i).bounding_box() for i in range(min(2, await tiles.count()))]
    if len(boxes) == 2:
        first, second = boxes
        assert first is not None
        assert second is not None
        assert second["y"] > first["y"], boxes
        assert first["width"] > 300, boxes
    await expect(grid.locator("header#top nav")).to_be_hidden()
    await phone_checks(grid, "board")
    await shot(grid, "52-board-375")
    await grid.locator("#menu-toggle").click()
    await expect(grid.locator('header#top nav a[href="#/hazards"]')).to_be_visible()
    await grid.locator('header#top nav a[href="#/hazards"]').click()
    await expect(grid.locator("header#top nav")).to_be_hidden()

    # The estate page, then filing a hazard from it: the camera opens from the form.
    await grid.goto(world.base + "/#/estate/E001")
    await expect(grid.locator('[data-testid="estate-grade"]')).to_be_visible()
    await grid.wait_for_load_state("networkidle")
    await phone_checks(grid, "estate")
    await grid.locator('[data-testid="file-hazard-here"]').click()
    await expect(grid.locator("#h-estate")).to_have_value("E001")
    photo = grid.locator("#h-photo")
    await expect(photo).to_have_attribute("capture", "environment")
    await expect(photo).to_have_attribute("accept", "image/*")
    await phone_checks(grid, "file a hazard")
    await grid.locator("#h-location").fill("3号楼 楼梯间")
    await grid.locator("#h-description").fill("楼梯间堆放纸箱")
    await shot(grid, "53-file-hazard-375")
    no_script_errors(grid)

    # The property company's to-do: a card per hazard, its button opens the hazard, whose steps fit too.
    prop = await page_as(browser, world, "property", PHONE)
    await prop.goto(world.base + "/#/todo")
    card = prop.locator(f'[data-todo-hazard="{world.ids["waiting"]}"]')
    await expect(card).to_be_visible()
    await expect(card).to_contain_text(world.registry.estate("E001").name)
    await phone_checks(prop, "to-do")
    await shot(prop, "54-todo-375")
    await card.locator("a.button").click()
    await expect(prop.locator('[data-hazard-action="start"]')).to_be_visible()
    await phone_checks(prop, "hazard")
    no_script_errors(prop)
