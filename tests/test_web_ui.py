"""The control-room UI in a real browser: Debian's headless Chromium driven by Playwright (system executable),
against a running gateway fed by simulators through a real Mosquitto.

- a smoke alarm from a simulated detector appears on the live bar, blinking, with estate, building, floor
  and room, and is acknowledged, dispatched, marked on scene and closed through the buttons;
- a hydrant losing pressure turns its estate's tile yellow without a reload (SSE);
- a hazard is filed through the form (with a photo), turns its estate red, and is dispatched, rectified,
  verified and closed through the buttons, after which the estate is no longer red;
- a property company's duty operator signs in through the form and sees only its own company's estates;
- screenshots of the main pages are written to ``test-artifacts/screenshots/`` for review.

Every page is used signed in, through the login form, as a control room would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from gateway.app import Gateway
from gateway.config import parse_config
from simulators.clock import SimClock
from simulators.scenarios.loading import parse_scenario
from simulators.scenarios.simulate import run_scenario_against_broker

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHROMIUM = os.environ.get("FIREGW_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(
    os.environ.get(
        "FIREGW_SCREENSHOTS", Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
    )
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]

SCENARIO = """
name = "ui"
seed = 21
speed = 30
duration = "3h"

[fleet]
estates = 3
smoke_per_estate = 8
hydrants_per_estate = 3
cameras_per_estate = 0
modbus_share = 0.0

[intervals]
smoke_heartbeat = "10m"
hydrant_report = "1m"
camera_event = "0"
stagger = "20s"

[[incidents]]
at = "+30s"
device = "SD-E002-0003"
action = "alarm"
smoke = 0.45

[[incidents]]
at = "+40s"
device = "HY-E001-02"
action = "pressure"
value = 0.02
"""


def tiny_png() -> bytes:
    """A valid 2x2 red PNG, for the photo upload."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xc6\x28\x28" * 2 for _ in range(2))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


PASSWORD = "correct horse battery staple"


class Ui:
    def __init__(self, gateway: Gateway, browser: Browser) -> None:
        self.gateway = gateway
        self.browser = browser
        self.base = f"http://127.0.0.1:{gateway.api_port}"
        self.token = ""

    async def page(self, username: str = "duty") -> Page:
        """A fresh browser context (no cookies), signed in through the login form as ``username``."""
        context = await self.browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.errors = errors  # type: ignore[attr-defined]
        await page.goto(self.base + "/")
        await expect(page.locator("#login-form")).to_be_visible(timeout=10_000)
        await page.locator("#l-user").fill(username)
        await page.locator("#l-pass").fill(PASSWORD)
        await page.locator("#login-form button[type=submit]").click()
        await expect(page.locator("#whoami")).not_to_be_empty(timeout=10_000)
        return page

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, headers={"Authorization": f"Bearer {self.token}"})

    async def shot(self, page: Page, name: str) -> None:
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ui(tmp_path_factory: pytest.TempPathFactory, mosquitto: Any) -> AsyncIterator[Ui]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - once, before anything runs
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (scripts/ensure-services.sh does)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    tmp = tmp_path_factory.mktemp("ui")
    scenario = parse_scenario(SCENARIO)
    registry = scenario.registry()
    config = parse_config(
        {
            "gateway": {"id": "ui-test", "data_dir": str(tmp / "data"), "stats_interval_s": 3600},
            "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "client_id": "ui-test"},
            "storage": {"kind": "sqlite"},
            "modbus": {"enabled": False},
            "rules": {"tick_interval_s": 0.2},
            "api": {"port": 0},
        },
        base=tmp,
    )
    clock = SimClock(scenario.start, scenario.speed)
    gateway = Gateway(config, registry, clock=clock.now)
    task = asyncio.create_task(gateway.run())
    stop = asyncio.Event()
    await asyncio.wait_for(gateway.ready.wait(), 15)
    await asyncio.wait_for(gateway.api_ready.wait(), 15)
    assert gateway.auth is not None
    now = clock.now()
    # The fire brigade's duty officer (every estate, every action) and a property company's operator.
    gateway.auth.store.create_user(
        username="duty", role="brigade", password=PASSWORD, now=now, display_name="值班员 王"
    )
    company = registry.estate("E002").property_company
    gateway.auth.store.create_user(
        username="company",
        role="property",
        password=PASSWORD,
        now=now,
        display_name="物业 刘",
        company=company,
    )
    simulation = asyncio.create_task(
        run_scenario_against_broker(scenario, mosquitto.host, mosquitto.port, clock=clock, stop=stop)
    )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ui = Ui(gateway, browser)
            ui.token = gateway.auth.create_token("duty")[1]
            yield ui
        finally:
            await browser.close()
            stop.set()
            for t in (simulation, task):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t


async def test_a_smoke_alarm_appears_live_and_is_handled_with_the_buttons(ui: Ui) -> None:
    page = await ui.page()
    card = page.locator('[data-device="SD-E002-0003"]')
    await expect(card).to_be_visible(timeout=20_000)
    await expect(card).to_have_class("alarm unacked")
    text = await card.inner_text()
    device = ui.gateway.registry.device("SD-E002-0003")
    assert "E002" in text
    assert device.location in text, text  # building, floor and room as the registry names them
    assert f"{device.floor}F" in text
    await ui.shot(page, "01-alarm-bar")

    await card.locator('[data-action="acknowledge"]').click()
    await expect(card).to_have_attribute("data-state", "acknowledged", timeout=5_000)
    await expect(card).not_to_have_class("alarm unacked")
    await card.locator('[data-action="dispatch"]').click()
    await expect(card).to_have_attribute("data-state", "dispatched", timeout=5_000)
    await card.locator('[data-action="on_scene"]').click()
    await expect(card).to_have_attribute("data-state", "on_scene", timeout=5_000)
    await card.locator('[data-action="close:false_alarm"]').click()
    await expect(card).to_have_count(0, timeout=5_000)

    async with ui.http() as http:
        alarms = (await http.get("/api/alarms", params={"device_id": "SD-E002-0003"})).json()
    assert alarms[0]["state"] == "closed"
    assert alarms[0]["outcome"] == "false_alarm"
    assert alarms[0]["ack_s"] is not None
    assert alarms[0]["close_s"] >= alarms[0]["on_scene_s"] >= alarms[0]["dispatch_s"] >= alarms[0]["ack_s"]
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_failed_hydrant_turns_its_tile_yellow(ui: Ui) -> None:
    page = await ui.page()
    tile = page.locator('[data-testid="tile-E001"]')
    await expect(tile).to_be_visible(timeout=10_000)
    # The sudden drop is a hazard at once; the board re-renders from the live feed, no reload.
    await expect(tile).to_have_attribute("data-grade", "yellow", timeout=20_000)
    assert "HY-E001-02" in await tile.inner_text()
    await ui.shot(page, "02-estate-board")
    await tile.click()
    await expect(page.locator('[data-testid="estate-grade"]')).to_have_attribute("data-grade", "yellow")
    await expect(page.locator("#chart-pressure svg")).to_be_visible(timeout=10_000)
    await ui.shot(page, "03-estate-page")
    await page.goto(ui.base + "/#/device/HY-E001-02")
    await expect(page.get_by_text("hydrant_low_pressure").first).to_be_visible(timeout=15_000)
    await expect(page.locator("#clock-wrong")).to_have_count(0)  # its clock is right: no warning shown
    await ui.shot(page, "04-device-page")
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_hazard_is_filed_and_closed_through_the_forms(ui: Ui, tmp_path: Path) -> None:
    page = await ui.page()
    await page.goto(ui.base + "/#/hazards")
    form = page.locator("#hazard-form")
    await expect(form).to_be_visible(timeout=10_000)
    await form.locator("#h-estate").select_option("E003")
    await form.locator("#h-criterion").select_option("R4")
    await form.locator("#h-location").fill("2号楼 地下室")
    await form.locator("#h-description").fill("地下室堆放大量纸箱和废旧家具")
    photo = tmp_path / "photo.png"
    photo.write_bytes(tiny_png())
    await form.locator("#h-photo").set_input_files(str(photo))
    if await form.locator("#h-reporter").count():
        await form.locator("#h-reporter").fill("网格员 李")
    await ui.shot(page, "05-hazard-form")
    await form.locator("button[type=submit]").click()

    detail = page.locator('[data-testid="hazard-detail"]')
    await expect(detail).to_have_attribute("data-state", "reported", timeout=10_000)
    await expect(detail.locator("img")).to_be_visible()
    hazard_id = page.url.rsplit("/", 1)[-1]
    assert ui.gateway.engine is not None
    assert ui.gateway.engine.grader.grades["E003"].colour == "red"

    async def act(action: str, **fields: str) -> str:
        for selector, value in fields.items():
            await page.locator(selector).fill(value)
        await page.locator(f'[data-hazard-action="{action}"]').click()
        await page.wait_for_timeout(300)
        return await page.locator('[data-testid="hazard-detail"]').get_attribute("data-state") or ""

    assert await act("dispatch", **{"#a-responsible": "安居物业"}) == "dispatched"
    assert await act("start", **{"#a-reason": "清理地下室"}) == "rectifying"
    assert await act("rectified", **{"#a-evidence": "photo/after.jpg"}) == "rectified"
    await ui.shot(page, "06-hazard-detail")
    assert await act("verify", **{"#a-reason": "现场核查通过"}) == "closed"
    assert ui.gateway.engine.grader.grades["E003"].colour != "red"

    async with ui.http() as http:
        body = (await http.get(f"/api/hazards/{hazard_id}")).json()
    assert [h["action"] for h in body["history"]] == ["report", "dispatch", "start", "rectified", "verify"]
    assert {h["actor"] for h in body["history"]} == {"值班员 王"}, "the account is recorded, not a typed name"
    assert body["photo"].startswith("uploads/")
    await page.goto(ui.base + "/#/")
    await expect(page.locator('[data-testid="tile-E003"]')).not_to_have_attribute("data-grade", "red")
    assert page.errors == []  # type: ignore[attr-defined]


async def test_english_is_a_click_away(ui: Ui) -> None:
    page = await ui.page()
    await expect(page.locator("header nav a").first).to_have_text("小区看板")
    await page.locator("#lang-toggle").click()
    await expect(page.locator("header nav a").first).to_have_text("Estates")
    await page.goto(ui.base + "/#/alarms")
    await expect(page.locator("h1")).to_have_text("Alarms")
    await ui.shot(page, "07-alarms-english")
    await page.locator("#lang-toggle").click()


async def test_a_property_company_sees_only_its_own_estates(ui: Ui) -> None:
    page = await ui.page("company")
    company = ui.gateway.registry.estate("E002").property_company
    own = {e.id for e in ui.gateway.registry.estates if e.property_company == company}
    await expect(page.locator('[data-testid^="tile-"]').first).to_be_visible(timeout=10_000)
    tiles = {await t.get_attribute("data-testid") for t in await page.locator('[data-testid^="tile-"]').all()}
    assert tiles == {f"tile-{e}" for e in own}
    assert "物业 刘" in await page.locator("#whoami").inner_text()
    # Another company's estate by URL: not found, not its data.
    other = next(e.id for e in ui.gateway.registry.estates if e.id not in own)
    await page.goto(f"{ui.base}/#/estate/{other}")
    await expect(page.locator("#view .error")).to_contain_text(f"no estate {other!r}")
    await ui.shot(page, "08-property-company-board")
