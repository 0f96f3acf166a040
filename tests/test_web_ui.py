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
import re
import struct
import zlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from gateway.app import Gateway
from gateway.config import parse_config
from gateway.models import DeviceEvent, EventType
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
    await expect(card).to_have_class(re.compile(r"\bunacked\b"))
    text = await card.inner_text()
    device = ui.gateway.registry.device("SD-E002-0003")
    assert ui.gateway.registry.estate("E002").name in text  # the estate by its name
    assert device.location in text, text  # building, floor and room as the registry names them
    assert "烟感" in text
    await ui.shot(page, "01-alarm-bar")

    await card.locator('[data-action="acknowledge"]').click()
    await expect(card).to_have_attribute("data-state", "acknowledged", timeout=5_000)
    await expect(card).not_to_have_class(re.compile(r"\bunacked\b"))
    await card.locator('[data-action="dispatch"]').click()
    await expect(card).to_have_attribute("data-state", "dispatched", timeout=5_000)
    await card.locator('[data-action="on_scene"]').click()
    await expect(card).to_have_attribute("data-state", "on_scene", timeout=5_000)
    await card.locator('[data-action="close"]').click()
    # 误报 asks for the cause: without one the API's sentence is shown and the alarm stays open.
    dialog = page.locator("dialog.alarm-close")
    await expect(dialog).to_be_visible(timeout=5_000)
    await dialog.locator('input[name="outcome"][value="false_alarm"]').check()
    await dialog.locator("[data-close-submit]").click()
    await expect(dialog.locator("[data-close-error]")).to_contain_text("cause", timeout=5_000)
    await expect(card).to_have_count(1)
    await dialog.locator('input[name="cause"][value="cooking_smoke"]').check()
    await dialog.locator("[data-close-submit]").click()
    await expect(card).to_have_count(0, timeout=5_000)
    await expect(dialog).to_have_count(0)

    async with ui.http() as http:
        alarms = (await http.get("/api/alarms", params={"device_id": "SD-E002-0003"})).json()
    assert alarms[0]["state"] == "closed"
    assert alarms[0]["outcome"] == "false_alarm"
    assert alarms[0]["cause"] == "cooking_smoke"
    assert alarms[0]["ack_s"] is not None
    assert alarms[0]["close_s"] >= alarms[0]["on_scene_s"] >= alarms[0]["dispatch_s"] >= alarms[0]["ack_s"]
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_failed_hydrant_turns_its_tile_yellow(ui: Ui) -> None:
    page = await ui.page()
    tile = page.locator('[data-testid="tile-E001"]')
    await expect(tile).to_be_visible(timeout=10_000)
    # The sudden drop is a hazard at once; the board re-renders from the live feed, no reload.
    await expect(tile).to_have_attribute("data-grade", "yellow", timeout=20_000)
    # The tile names the problem that decided its colour, and where it is.
    assert ui.gateway.registry.device("HY-E001-02").location in await tile.inner_text()
    await ui.shot(page, "02-estate-board")
    await tile.click()
    await expect(page.locator('[data-testid="estate-grade"]')).to_have_attribute("data-grade", "yellow")
    await expect(page.locator("#chart-pressure svg")).to_be_visible(timeout=10_000)
    await ui.shot(page, "03-estate-page")
    await page.goto(ui.base + "/#/device/HY-E001-02")
    await expect(page.get_by_text("水压不足").first).to_be_visible(timeout=15_000)  # its signal, in words
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

    # The dispatch form picks one of the estate's parties (its property company from the registry).
    options = page.locator("#a-party option")
    await expect(options.first).to_be_attached()
    party_id = await options.first.get_attribute("value")
    await expect(page.locator('[data-testid="todo-badge"]')).to_contain_text("待办")
    assert await act("dispatch") == "dispatched"
    assert await act("start", **{"#a-reason": "清理地下室"}) == "rectifying"
    # Rectified needs an after-photo (整改后照片) taken since rectification started: the photo section's form.
    await expect(page.locator('[data-testid="rectify-hint"]')).to_be_visible()
    await page.locator("#photo-step").select_option("after")
    await page.locator("#photo-file").set_input_files(str(photo))
    await page.locator("#photo-form button[type=submit]").click()
    await expect(page.locator('[data-photo-side="after"] img')).to_be_visible(timeout=10_000)
    assert await act("rectified", **{"#a-evidence": "地下室已清空"}) == "rectified"
    await ui.shot(page, "06-hazard-detail")
    assert await act("verify", **{"#a-reason": "现场核查通过"}) == "closed"
    assert ui.gateway.engine.grader.grades["E003"].colour != "red"

    async with ui.http() as http:
        body = (await http.get(f"/api/hazards/{hazard_id}")).json()
    # A red item goes up to the street office the moment it is reported (the gateway's own step).
    steps = ["report", "escalate", "dispatch", "start", "rectified", "verify"]
    assert [h["action"] for h in body["history"]] == steps
    people = {h["actor"] for h in body["history"] if h["action"] != "escalate"}
    assert people == {"值班员 王"}, "the account is recorded, not a typed name"
    assert body["photo"].startswith("uploads/")
    assert str(body["party_id"]) == party_id
    # The to-do page lists what waits, with links.
    await page.goto(ui.base + "/#/todo")
    await expect(page.locator('[data-todo-list="to_dispatch"]')).to_be_visible()
    await page.goto(ui.base + "/#/")
    await expect(page.locator('[data-testid="tile-E003"]')).not_to_have_attribute("data-grade", "red")
    assert page.errors == []  # type: ignore[attr-defined]


async def test_english_is_a_click_away(ui: Ui) -> None:
    page = await ui.page()
    board = page.locator('header nav a[href="#/"]')
    await expect(board).to_have_text("小区看板")
    await page.locator("#lang-toggle").click()
    await expect(board).to_have_text("Estates")
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


async def test_a_not_assessed_estate_is_never_green_and_is_assessed_through_the_form(ui: Ui) -> None:
    """Registered, reporting, never inspected: 未评定 on the board and the estate page, never a green tile.
    The office's assessment (排查登记) is recorded through the form on the estate page; a refusal shows the
    API's own sentence; then the estate is green, with each condition's evidence and expiry in the table."""
    page = await ui.page()
    tile = page.locator('[data-testid="tile-E002"]')
    await expect(tile).to_be_visible(timeout=10_000)
    await expect(tile).to_have_attribute("data-grade", "not_assessed")
    assert "未评定" in await tile.inner_text()
    green = await page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--green')")
    background = await tile.evaluate("el => getComputedStyle(el).backgroundColor")
    assert background not in ("rgb(46, 125, 50)", green.strip()), background
    # Nobody has assessed any estate yet: not one green tile on the board, whatever the devices say.
    await expect(page.locator(".tile.g-green")).to_have_count(0)
    await expect(page.locator('[data-count="not_assessed"]')).to_contain_text("未评定")

    await tile.click()
    box = page.locator('[data-testid="estate-grade"]')
    await expect(box).to_have_attribute("data-grade", "not_assessed", timeout=10_000)
    await expect(box).to_contain_text("未评定")
    await expect(page.locator('[data-testid="assessment"]')).to_contain_text("尚未排查登记")
    await expect(page.locator('[data-testid="coverage"]')).to_contain_text("监测覆盖")
    await expect(page.locator('[data-testid="reasons"] li.decisive').first).to_contain_text(
        "未经街道排查登记"
    )
    conditions = page.locator('[data-testid="conditions"] tr[data-condition]')
    await expect(conditions).to_have_count(8)
    assert {await row.get_attribute("data-state") for row in await conditions.all()} == {"missing"}
    await expect(conditions.first).to_contain_text("无证明")
    await ui.shot(page, "09-estate-not-assessed")

    # The form: every condition with the policy's Chinese name; nothing ticked is refused in the API's words.
    form = page.locator("#assessment-form")
    await expect(form).to_be_visible()
    await expect(form.locator("#as-kind option")).to_have_count(5)
    rows = form.locator('[data-testid="assessment-conditions"] tr[data-code]')
    await expect(rows).to_have_count(8)
    await expect(rows.first).to_contain_text("G1")
    await form.locator("button[type=submit]").click()
    await expect(page.locator('[data-testid="assessment-result"] .error')).to_contain_text(
        "met, not_met: name at least one green condition", timeout=5_000
    )
    assert ui.gateway.engine is not None
    assert ui.gateway.engine.grader.grades["E002"].colour == "not_assessed", "nothing half-written"

    for checkbox in await form.locator('input[name="met"]').all():
        await checkbox.check()
    await form.locator("#as-note").fill("现场排查：消防通道畅通，设施完好，有值班记录")
    await form.locator("button[type=submit]").click()
    await expect(box).to_have_attribute("data-grade", "green", timeout=10_000)
    await expect(page.locator('[data-testid="assessment"]')).to_contain_text("有效至")
    conditions = page.locator('[data-testid="conditions"] tr[data-condition]')
    assert {await row.get_attribute("data-state") for row in await conditions.all()} == {"holds"}
    g2 = page.locator('[data-testid="conditions"] tr[data-condition="G2"]')
    for expected in ("满足", "排查登记", "值班员 王"):
        await expect(g2).to_contain_text(expected)
    await expect(g2).to_contain_text(re.compile(r"剩 3[01] 天"))  # G2: a monthly inspection, 31 days
    await expect(page.locator('[data-testid="records"]')).to_contain_text("现场排查")
    await ui.shot(page, "10-estate-assessed")
    async with ui.http() as http:
        (record,) = (await http.get("/api/estates/E002/assessments")).json()
    assert (record["kind"], record["recorded_by"], len(record["met"])) == ("assessment", "值班员 王", 8)

    await page.goto(ui.base + "/#/")
    await expect(page.locator('[data-testid="tile-E002"]')).to_have_attribute(
        "data-grade", "green", timeout=10_000
    )
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_property_company_records_evidence_but_not_an_assessment(ui: Ui) -> None:
    page = await ui.page("company")
    await page.goto(ui.base + "/#/estate/E002")
    form = page.locator("#assessment-form")
    await page.locator("#assessment-box summary").click()
    await expect(form).to_be_visible(timeout=10_000)
    kinds = await form.locator("#as-kind option").evaluate_all("els => els.map(e => e.value)")
    assert kinds == ["patrol", "drill", "maintenance_report", "duty_roster"]
    # A patrol may evidence G2 and G5 only; "not met" is an assessment's finding.
    await form.locator("#as-kind").select_option("patrol")
    enabled = await form.locator('input[name="met"]:not([disabled])').evaluate_all(
        "els => els.map(e => e.value)"
    )
    assert enabled == ["G2", "G5"]
    await expect(form.locator('input[name="not_met"]:not([disabled])')).to_have_count(0)
    await page.locator('input[name="met"][value="G2"]').check()
    await form.locator("button[type=submit]").click()
    await expect(page.locator('[data-testid="records"] tr[data-record]')).to_have_count(2, timeout=10_000)
    await expect(page.locator('[data-testid="records"]')).to_contain_text("巡查记录")
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_maintenance_window_is_declared_shown_and_ended(ui: Ui) -> None:
    page = await ui.page()
    await page.goto(ui.base + "/#/estate/E003")
    await page.locator("#window-box summary").click()
    form = page.locator("#window-form")
    await expect(form).to_be_visible(timeout=10_000)
    # Refused with the API's sentence: a window needs a reason.
    await form.locator("#w-scope").select_option("device")
    await form.locator("#w-device").select_option("HY-E003-01")
    await form.locator("button[type=submit]").click()
    await expect(page.locator('[data-testid="window-result"] .error')).to_contain_text(
        "reason", timeout=5_000
    )
    await form.locator("#w-scope").select_option("device")
    await form.locator("#w-device").select_option("HY-E003-01")
    await form.locator("#w-reason").fill("消火栓放水试验")
    await form.locator("button[type=submit]").click()
    row = page.locator('[data-testid="windows"] tr[data-window-row]')
    await expect(row).to_have_count(1, timeout=10_000)
    await expect(row).to_contain_text("消火栓放水试验")
    await expect(row).to_contain_text("测试/维护中")
    device = page.locator('[data-device-row="HY-E003-01"]')
    await expect(device).to_contain_text("测试/维护中")
    await expect(page.locator('[data-device-row="HY-E003-02"]')).not_to_contain_text("测试/维护中")
    await ui.shot(page, "11-maintenance-window")

    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept("试验完成")))
    await row.locator("[data-end-window]").click()
    await expect(page.locator('[data-testid="windows"] tr[data-window-row]')).to_have_count(0, timeout=10_000)
    await expect(page.locator('[data-device-row="HY-E003-01"]')).not_to_contain_text("测试/维护中")
    async with ui.http() as http:
        (window,) = (await http.get("/api/windows", params={"estate_id": "E003"})).json()
    assert (window["state"], window["end_reason"], window["ended_by"]) == ("ended", "试验完成", "值班员 王")

    # A monthly test alarm inside a window is still shown at once, pre-marked as a test, and closed as one.
    engine = ui.gateway.engine
    assert engine is not None
    async with ui.http() as http:
        now = datetime.fromisoformat((await http.get("/api/health")).json()["now"])
        body = {
            "estate_id": "E003",
            "device_id": "SD-E003-0005",
            "ends_at": (now + timedelta(hours=1)).isoformat(),
            "reason": "月度测试报警",
        }
        assert (await http.post("/api/windows", json=body)).status_code == 201
    detector = ui.gateway.registry.device("SD-E003-0005")
    moment = engine.clock()
    engine.on_records(
        [(detector, DeviceEvent(device_id=detector.id, time=moment, type=EventType.ALARM))], moment
    )
    card = page.locator('[data-device="SD-E003-0005"]')
    await expect(card).to_be_visible(timeout=10_000)
    await expect(card.locator("[data-alarm-test]")).to_have_text("测试/维护中")
    await expect(card.locator("[data-action]").first).to_have_attribute("data-action", "acknowledge")
    await card.locator('[data-action="acknowledge"]').click()
    await expect(card.locator("[data-action^=close]").first).to_have_attribute("data-action", "close:test")
    await ui.shot(page, "13-test-alarm-in-window")
    await card.locator('[data-action="close:test"]').click()
    await expect(card).to_have_count(0, timeout=5_000)
    assert page.errors == []  # type: ignore[attr-defined]


async def test_duplicate_complaints_are_merged_and_one_filed_in_error_is_voided(ui: Ui) -> None:
    async with ui.http() as http:
        now = (await http.get("/api/health")).json()["now"]
        for what in ("楼道堆放杂物", "楼道堆物，同一处", "误登记：非本小区"):
            body = {"estate_id": "E001", "received_at": now, "channel": "12345", "description": what}
            assert (await http.post("/api/complaints", json=body)).status_code == 201
    page = await ui.page()
    await page.goto(ui.base + "/#/estate/E001")
    rows = page.locator('[data-testid="complaints"] tr[data-complaint]')
    await expect(rows).to_have_count(3, timeout=10_000)
    ids = [await r.get_attribute("data-complaint") for r in await rows.all()]
    await page.locator("#merge-complaints").click()
    await expect(page.locator('[data-testid="complaint-result"]')).to_contain_text("请至少勾选两条投诉")

    for complaint_id in ids[:2]:
        await page.locator(f'[data-merge="{complaint_id}"]').check()
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept("同一处堆物，重复来电")))
    await page.locator("#merge-complaints").click()
    merged = page.locator(f'[data-complaint="{ids[1]}"]')
    await expect(merged).to_have_attribute("data-state", "merged", timeout=10_000)
    await expect(merged).to_contain_text(f"已合并到 #{ids[0]}")

    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept("登记错误：非本小区来电")))
    await page.locator(f'[data-void-complaint="{ids[2]}"]').click()
    await expect(page.locator(f'[data-complaint="{ids[2]}"]')).to_have_attribute(
        "data-state", "voided", timeout=10_000
    )
    await ui.shot(page, "12-complaints")
    assert ui.gateway.engine is not None
    y14 = [r.text for r in ui.gateway.engine.grader.grades["E001"].reasons if "Y14" in r.codes]
    assert y14 == ["一年内火灾隐患投诉 1 起（不同事件）"], "one incident counted"
    assert page.errors == []  # type: ignore[attr-defined]
