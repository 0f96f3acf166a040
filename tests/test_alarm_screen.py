"""The alarm screen and the board's tiles (issue 18), in Chromium on the real API of an engine with a fake
clock (tests/served_app.py).

Time is driven twice, as it runs in a control room: the gateway's clock (``FakeClock``: what the API says an
alarm has waited) and the page's own clock (Playwright's ``page.clock``: the page's timers that escalate an
alarm between two fetches). Both are moved by the same amount.

- an unacknowledged alarm steps up at the targets the API gives (``data-ack-s``, ``data-on-scene-s``): larger
  and faster past the first, a full-width flashing banner past the second; acknowledging calms it; timers
  read h:mm:ss past an hour; the buttons and states are alarm words (确认 / 出警 / 到场 / 处置完毕);
- the bar names the estate, building, floor, room, device kind and both phones, most urgent first;
- sound is on after the sign-in click, held back (with a call to click) after a reload without one; a mute
  counts down and ends by itself, or with a new alarm;
- a tile leads with the problem that decided its colour, one line per problem, then "另有 N 项"; a green
  tile names no problem; an estate with a fire alarm is first, flashing, "火警 N", also when it comes live.

Screenshots: 40-alarm-escalated.png (1920×1080), 41-board-tiles.png (1920×1080), 42-board-tiles-phone.png.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from assessed import assess
from clock import FakeClock
from laid_out import laid_out_registry
from playwright.async_api import Browser, Locator, Page, async_playwright, expect
from readings import healthy_readings
from served_app import served

from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.casework.engine import RuleEngine
from gateway.models import DeviceEvent, DeviceKind, EventType, Reading
from gateway.store import HazardStore
from gateway.store.parties import PartyKind
from rules.lifecycle import AlarmAction
from rules.policy import load_policy

pytestmark = pytest.mark.usefixtures("cheap_hashes")

CHROMIUM = os.environ.get("FIREGW_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(
    os.environ.get(
        "FIREGW_SCREENSHOTS", Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
    )
)
#: The browser's own rule, stated: sound only after the person has clicked or typed on the page.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--autoplay-policy=document-user-activation-required"]
LAYOUT = {"E001": ("东城区", "锦绣物业"), "E002": ("东城区", "锦绣物业"), "E003": ("西城区", "绿城物业")}
PASSWORD = "correct horse battery staple"
CONTROL_ROOM_PHONE = "0571-8765 0119"
PROPERTY_PHONE = "0571-8888 6666"


@dataclass
class World:
    engine: RuleEngine
    clock: FakeClock
    auth: AuthService

    def smoke(self, estate: str, n: int) -> str:
        return f"SD-{estate}-{n:04d}"

    def alarm(self, estate: str, n: int) -> int:
        """A smoke alarm from detector ``n`` of ``estate``, now; its id."""
        device = self.engine.registry.device(self.smoke(estate, n))
        now = self.clock()
        event = DeviceEvent(device_id=device.id, time=now, type=EventType.ALARM)
        self.engine.on_records([(device, event)], now)
        return self.engine.store.alarms.find(open_only=True, device_id=device.id)[0].id


@pytest.fixture
def world(tmp_path: Path) -> World:
    registry = laid_out_registry(LAYOUT, smoke_per_estate=6, seed=5)
    clock = FakeClock()
    engine = RuleEngine(
        registry, load_policy(), HazardStore(f"sqlite:///{tmp_path / 'hazards.sqlite'}"), clock=clock
    )
    assess(engine)
    # E001's property company (seeded from the registry) has a phone on record.
    (company,) = [p for p in engine.store.parties.serving("E001") if p.kind is PartyKind.PROPERTY_COMPANY]
    engine.store.parties.update(
        company.id, {"phone": PROPERTY_PHONE}, actor="test", now=clock(), reason="phone on record"
    )
    auth = AuthService(AuthStore(engine.store.engine))
    auth.store.create_user(
        username="duty", role="brigade", password=PASSWORD, now=clock(), display_name="值班员 王"
    )
    return World(engine, clock, auth)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - once, before anything runs
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (scripts/ensure-services.sh does)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, a local folder
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def signed_in(browser: Browser, base: str, *, width: int = 1920, height: int = 1080) -> Page:
    """A page with its clock under the test's hand, signed in through the form (a click: the gesture the
    browser needs before it plays sound); script errors go to ``page.errors``."""
    context = await browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.clock.install()
    await page.goto(base + "/#/login")
    await page.locator("#l-user").fill("duty")
    await page.locator("#l-pass").fill(PASSWORD)
    await page.locator("#login-form button[type=submit]").click()
    await expect(page.locator("#whoami")).not_to_be_empty()
    return page


async def wait(world: World, page: Page, seconds: float) -> None:
    """``seconds`` pass for the gateway and for the page (its timers fire once, as after a sleep)."""
    world.clock.advance(seconds=seconds)
    await page.clock.fast_forward(int(seconds * 1000))


async def beeped(toggle: Locator, *, more_than: int) -> None:
    """The page has played more than ``more_than`` alarm sounds (within 10 s)."""
    for _ in range(100):
        if int(await toggle.get_attribute("data-beeps") or 0) > more_than:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no alarm sound after {more_than}")


async def style(page: Page, selector: str, prop: str) -> str:
    """A computed style of what ``selector`` finds (asked again if it was replaced while being read)."""
    for _ in range(20):
        value = str(await page.locator(selector).evaluate(f"el => getComputedStyle(el)[{prop!r}]"))
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {prop} for {selector}")


async def test_an_unacknowledged_alarm_grows_more_urgent_and_names_the_place(
    world: World, browser: Browser, tmp_path: Path
) -> None:
    registry = world.engine.registry
    first = world.alarm("E001", 1)
    async with served(world.engine, world.auth, tmp_path, control_room_phone=CONTROL_ROOM_PHONE) as base:
        page = await signed_in(browser, base)
        bar = page.locator("#alarm-bar")
        card = page.locator(f'[data-testid="alarm-{first}"]')
        await expect(card).to_have_attribute("data-level", "1")
        ack_s = float(await bar.get_attribute("data-ack-s") or 0)
        on_scene_s = float(await bar.get_attribute("data-on-scene-s") or 0)
        assert (ack_s, on_scene_s) == (60, 180), "the targets the API gives (seed 001)"

        # The place in words, the device's kind and the phones to call; the estate by its name.
        device = registry.device(world.smoke("E001", 1))
        building = registry.building(device.building_id)
        assert building is not None
        assert device.floor is not None
        text = await card.inner_text()
        for part in (building.name, f"{device.floor}层", device.location, "烟感", device.id):
            assert part in text, (part, text)
        await expect(card.locator("[data-alarm-estate]")).to_have_text(registry.estate("E001").name)
        await expect(card.locator('[data-phone="control-room"]')).to_have_text(CONTROL_ROOM_PHONE)
        await expect(card.locator('[data-phone="property"]')).to_have_text(PROPERTY_PHONE)
        await expect(card.locator("[data-alarm-state]")).to_have_text("未确认")
        await expect(card.locator("[data-action]")).to_have_text(["确认"])
        # Legible: white on red, large type.
        assert await style(page, f'[data-testid="alarm-{first}"] .a-place', "color") == "rgb(255, 255, 255)"
        size = {"1": float((await style(page, f'[data-testid="alarm-{first}"] .a-estate', "fontSize"))[:-2])}
        assert size["1"] >= 24
        pulse = {"1": float((await style(page, f'[data-testid="alarm-{first}"]', "animationDuration"))[:-1])}

        # Past the acknowledgement target: larger and faster.
        await wait(world, page, ack_s + 5)
        await expect(card).to_have_attribute("data-level", "2")
        size["2"] = float((await style(page, f'[data-testid="alarm-{first}"] .a-estate', "fontSize"))[:-2])
        pulse["2"] = float((await style(page, f'[data-testid="alarm-{first}"]', "animationDuration"))[:-1])
        assert size["2"] > size["1"], size
        assert pulse["2"] < pulse["1"], pulse
        await expect(card.locator("[data-alarm-due]")).to_contain_text("超过确认时限")
        second = world.alarm("E002", 1)

        # Past the on-scene target, still unacknowledged: a full-width flashing banner, a frame round the
        # screen.
        await wait(world, page, on_scene_s - ack_s)
        await expect(card).to_have_attribute("data-level", "3")
        await expect(page.locator("body")).to_have_class(re.compile(r"\balarm-lvl-3\b"))
        size["3"] = float((await style(page, f'[data-testid="alarm-{first}"] .a-estate', "fontSize"))[:-2])
        assert size["3"] > size["2"]
        assert await style(page, f'[data-testid="alarm-{first}"]', "animationName") == "alarm-flash"
        box, bar_box = await card.bounding_box(), await bar.bounding_box()
        assert box is not None
        assert bar_box is not None
        assert box["width"] >= bar_box["width"] - 40
        await expect(page.locator(f'[data-testid="alarm-{second}"]')).to_have_attribute("data-level", "2")

        # A new alarm (level 1) and an acknowledged one (calm, its clock against the next target).
        fresh = world.alarm("E003", 1)
        calm = world.alarm("E002", 2)
        world.engine.alarms.step(calm, AlarmAction.ACKNOWLEDGE, actor="值班员 李")
        await expect(page.locator(f'[data-testid="alarm-{fresh}"]')).to_have_attribute("data-level", "1")
        calm_card = page.locator(f'[data-testid="alarm-{calm}"]')
        await expect(calm_card).to_have_attribute("data-level", "calm")
        await expect(calm_card.locator("[data-alarm-due]")).to_contain_text("到场")
        # Most urgent first: the longest unacknowledged on top, the acknowledged last.
        order = [
            int(x)
            for x in await page.locator("[data-alarm-card]").evaluate_all(
                "els => els.map(e => e.dataset.alarmCard)"
            )
        ]
        assert order == [first, second, fresh, calm]
        await page.screenshot(path=str(SCREENSHOTS / "40-alarm-escalated.png"))

        # Acknowledged: calm, but the clock keeps running; past an hour it reads h:mm:ss.
        await card.locator('[data-action="acknowledge"]').click()
        await expect(card).to_have_attribute("data-level", "calm")
        await expect(card.locator("[data-alarm-state]")).to_have_text("已确认")
        await expect(card.locator("[data-action]")).to_have_text(["出警", "处置完毕"])
        await wait(world, page, 2 * 3600)
        await expect(card.locator("[data-alarm-elapsed]")).to_have_text(re.compile(r"^2:0\d:\d\d$"))
        await expect(card.locator("[data-alarm-due]")).to_have_text(re.compile(r"超过到场时限 2:0\d:\d\d"))

        await card.locator('[data-action="dispatch"]').click()
        await expect(card.locator("[data-alarm-state]")).to_have_text("已出警")
        await card.locator('[data-action="on_scene"]').click()
        await expect(card.locator("[data-alarm-state]")).to_have_text("已到场")
        await card.locator('[data-action="close"]').click()
        dialog = page.locator("dialog.alarm-close")
        await dialog.locator("[data-close-submit]").click()
        await expect(dialog.locator("[data-close-error]")).to_have_text("请选择处置结果")
        await dialog.locator('input[name="outcome"][value="false_alarm"]').check()
        await dialog.locator('input[name="cause"][value="cooking_smoke"]').check()
        await dialog.locator("[data-close-submit]").click()
        await expect(card).to_have_count(0)

        await page.goto(base + "/#/alarms")
        row = page.locator("table tr", has_text=f"{registry.estate('E001').name}")
        await expect(row).to_contain_text("处置完毕 · 误报")
        assert page.errors == []  # type: ignore[attr-defined]


async def test_sound_is_on_after_signing_in_and_a_mute_lasts_minutes(
    world: World, browser: Browser, tmp_path: Path
) -> None:
    world.alarm("E001", 1)
    async with served(world.engine, world.auth, tmp_path) as base:
        page = await signed_in(browser, base)
        toggle = page.locator("#sound-toggle")
        await expect(toggle).to_have_attribute("data-sound", "on")  # the sign-in click allowed it
        await beeped(toggle, more_than=0)  # repeating while the alarm waits

        await toggle.click()
        await expect(toggle).to_have_attribute("data-sound", "muted")
        await expect(toggle).to_have_text(re.compile(r"^静音 (5:00|4:5\d)$"))
        before = int(await toggle.get_attribute("data-beeps") or 0)
        await wait(world, page, 60)
        await expect(toggle).to_have_text(re.compile(r"^静音 (4:00|3:5\d)$"))
        assert int(await toggle.get_attribute("data-beeps") or 0) == before, "no sound while muted"
        await wait(world, page, 4 * 60 + 2)
        await expect(toggle).to_have_attribute("data-sound", "on")  # back by itself
        await beeped(toggle, more_than=before)

        # A new alarm ends a mute at once.
        await toggle.click()
        await expect(toggle).to_have_attribute("data-sound", "muted")
        world.alarm("E002", 1)
        await expect(toggle).to_have_attribute("data-sound", "on")

        # A reload is not a click: the browser holds sound back, and the page asks for one.
        await page.reload()
        await expect(page.locator("[data-alarm-card]")).to_have_count(2)
        await expect(toggle).to_have_attribute("data-sound", "locked")
        await expect(toggle).to_have_text("点击启用报警声音")
        unlock = page.locator("#alarm-bar [data-sound-unlock]")
        await expect(unlock).to_be_visible()
        await unlock.click()
        await expect(toggle).to_have_attribute("data-sound", "on")
        await expect(unlock).to_be_hidden()
        assert page.errors == []  # type: ignore[attr-defined]


def low_pressure(world: World, estate: str) -> str:
    """The estate's hydrant loses its pressure and stays down until its hazard opens; the hydrant's id."""
    engine = world.engine
    (hydrant,) = [
        d for d in engine.registry.devices if d.estate_id == estate and d.kind is DeviceKind.HYDRANT
    ]
    engine.on_records(healthy_readings(engine.registry, world.clock()), world.clock())
    for _ in range(60):
        now = world.clock.advance(seconds=10)
        reading = Reading(device_id=hydrant.id, time=now, metrics={"pressure_mpa": 0.02})
        engine.on_records([(hydrant, reading)], now)
        engine.tick(now)
        if engine.store.hazards.find(device_id=hydrant.id):
            return hydrant.id
    raise AssertionError("no low-pressure hazard")


async def test_a_tile_leads_with_what_decided_its_colour_and_a_fire_alarm_comes_first(
    world: World, browser: Browser, tmp_path: Path
) -> None:
    engine = world.engine
    # E001: an e-bike charged on a flying lead (one yellow item: not enough for yellow), then a hydrant
    # without pressure (it contradicts green conditions G4/G6: that decides yellow).
    for estate in ("E001", "E002"):
        engine.hazards.file(
            estate_id=estate,
            criterion="Y9",
            location="3号楼 楼道",
            description="电动自行车飞线充电",
            reporter="巡查",
        )
    hydrant = low_pressure(world, "E001")
    place = engine.registry.device(hydrant).location
    world.alarm("E003", 1)
    async with served(world.engine, world.auth, tmp_path) as base:
        page = await signed_in(browser, base)
        yellow = page.locator('[data-testid="tile-E001"]')
        await expect(yellow).to_have_attribute("data-grade", "yellow")
        await expect(yellow.locator("[data-problem]")).to_have_text([f"消火栓 水压不足 · {place}"])
        await expect(yellow.locator("[data-more]")).to_have_text("另有 1 项")
        assert "Y10" not in await yellow.inner_text()

        green = page.locator('[data-testid="tile-E002"]')
        await expect(green).to_have_attribute("data-grade", "green")
        await expect(green.locator("[data-problem]")).to_have_count(0)
        await expect(green.locator("[data-more]")).to_have_text("另有 1 项")
        assert "电动自行车" not in await green.inner_text()

        # A fire alarm: first on the board, flashing, "火警 N" in large type.
        fire = page.locator('[data-testid="tile-E003"]')
        await expect(fire.locator("[data-tile-fire]")).to_have_text("火警 1")
        await expect(page.locator(".tile").first).to_have_attribute("data-testid", "tile-E003")
        assert float((await style(page, '[data-testid="tile-E003"] [data-tile-fire]', "fontSize"))[:-2]) >= 24
        assert await style(page, '[data-testid="tile-E003"]', "animationName") == "tile-fire"
        await page.screenshot(path=str(SCREENSHOTS / "41-board-tiles.png"))

        # One comes live: the green estate's tile is patched in place and moves to the front.
        world.alarm("E002", 3)
        await expect(green.locator("[data-tile-fire]")).to_have_text("火警 1")
        await expect(page.locator(".tile").first).to_have_attribute("data-testid", "tile-E002")
        await expect(page.locator('[data-count="fire"]')).to_contain_text("2")
        assert page.errors == []  # type: ignore[attr-defined]

        phone = await signed_in(browser, base, width=375, height=812)
        await expect(phone.locator('[data-testid="tile-E001"] [data-problem]')).to_have_count(1)
        await phone.screenshot(path=str(SCREENSHOTS / "42-board-tiles-phone.png"))
        assert phone.errors == []  # type: ignore[attr-defined]
