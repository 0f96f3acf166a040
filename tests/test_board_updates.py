"""The board's first paint and its live updates (issue 18, "keep the page fast"), in Chromium on the real API
of an engine (tests/served_app.py). bench/ui_bench.py measures the times; this checks what they rest on:

- the first paint waits for nothing it does not need: who is signed in is asked by a preload in the page's
  head and asked once; the estates are asked while the scripts load (before DOMContentLoaded), once; the
  map's 1 MB of ECharts is fetched only after every tile is painted;
- a live grade change or alarm redraws its own tile, not the board: every other tile stays the same element;
- the minute's refresh (device counts have no live event) redraws only the tiles whose estate changed.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from assessed import assess
from clock import FakeClock
from playwright.async_api import Browser, Page, Route, async_playwright, expect
from served_app import served, signed_in

from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.casework.engine import RuleEngine
from gateway.models import DeviceEvent, EventType
from gateway.store import HazardStore
from rules.policy import load_policy
from simulators.fleet import generate_fleet

pytestmark = pytest.mark.usefixtures("cheap_hashes")

CHROMIUM = os.environ.get("FIREGW_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery staple"

#: Tiles taken out of the grid and not put back (a tile moved to the front is put back), by data-testid.
WATCH_TILES = """() => {
  window.replaced = [];
  window.kept = [...document.querySelectorAll(".tile")];
  const removed = [];
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.removedNodes) if (n.nodeType === 1) removed.push(n);
    queueMicrotask(() => {
      window.replaced.push(...removed.filter((n) => !n.isConnected).map((n) => n.dataset.testid));
      removed.length = 0;
    });
  }).observe(document.getElementById("tiles"), { childList: true });
}"""
#: Resolves once the browser has drawn ten frames.
TEN_FRAMES = """() => new Promise((ok) => {
  let n = 10;
  const f = () => (--n ? requestAnimationFrame(f) : ok());
  f();
})"""
#: The tiles of the first look still in the page, by data-testid.
STILL_THERE = "() => window.kept.filter((n) => n.isConnected).map((n) => n.dataset.testid)"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[RuleEngine, str, Browser]]:
    registry = generate_fleet(12, 4, 1, 1, 0.0, seed=3)
    clock = FakeClock()
    engine = RuleEngine(
        registry, load_policy(), HazardStore(f"sqlite:///{tmp_path / 'h.sqlite'}"), clock=clock
    )
    assess(engine)
    auth = AuthService(AuthStore(engine.store.engine))
    auth.store.create_user(
        username="duty", role="brigade", password=PASSWORD, now=clock(), display_name="值班员"
    )
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - once, before anything runs
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (scripts/ensure-services.sh does)")
    async with served(engine, auth, tmp_path) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield engine, base, browser
        finally:
            await browser.close()


async def board(browser: Browser, base: str) -> Page:
    """The board opened by a signed-in duty officer (a sign-in, then the page loaded anew, cold)."""
    errors: list[str] = []
    signing_in = await signed_in(browser, base, "duty", PASSWORD, errors, {"width": 1920, "height": 1080})
    page = await signing_in.context.new_page()
    await signing_in.close()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(base + "/")
    await expect(page.locator('#board-map [data-testid="estate-map"]')).to_have_attribute(
        "data-state", "ready"
    )
    await expect(page.locator("#live-status")).to_have_class("live-on")
    return page


async def test_the_first_paint_waits_for_nothing_it_does_not_need(world: Any) -> None:
    _, base, browser = world
    page = await board(browser, base)
    load = await page.evaluate(
        """() => ({
          requests: performance.getEntriesByType("resource").map((e) =>
            [new URL(e.name).pathname, e.initiatorType, e.startTime]),
          dom: performance.getEntriesByType("navigation")[0].domContentLoadedEventStart,
          painted: performance.getEntriesByName("board-painted")[0].startTime,
        })"""
    )
    asked = {
        path: [(kind, at) for p, kind, at in load["requests"] if p == path] for path, _, _ in load["requests"]
    }
    assert [kind for kind, _ in asked["/api/auth/me"]] == ["link"], asked["/api/auth/me"]
    (estates,) = asked["/api/estates"]  # asked once: the early ask is the board's
    assert estates[1] < load["dom"], (estates, load["dom"])
    (echarts,) = asked["/static/vendor/echarts/echarts.min.js"]
    assert echarts[1] >= load["painted"], (echarts, load["painted"])
    assert page.errors == []  # type: ignore[attr-defined]


async def test_live_events_and_the_minute_refresh_redraw_only_their_tiles(world: Any) -> None:
    engine, base, browser = world
    page = await board(browser, base)
    await page.evaluate(WATCH_TILES)
    ids = [e.id for e in engine.registry.estates]

    engine.hazards.file(
        estate_id="E004", criterion="R4", location="地下室", description="纸箱", reporter="网格员"
    )
    await expect(page.locator('[data-testid="tile-E004"]')).to_have_attribute("data-grade", "red")
    device = engine.registry.device("SD-E006-0001")
    now = engine.clock()
    engine.on_records([(device, DeviceEvent(device_id=device.id, time=now, type=EventType.ALARM))], now)
    await expect(page.locator('[data-testid="tile-E006"] [data-tile-fire]')).to_have_text("火警 1")
    await expect(page.locator(".tile").first).to_have_attribute("data-testid", "tile-E006")
    replaced = await page.evaluate("() => window.replaced")
    assert set(replaced) == {"tile-E004", "tile-E006"}, replaced
    assert sorted(await page.evaluate(STILL_THERE)) == [f"tile-{i}" for i in ids if i not in ("E004", "E006")]

    # The minute's refresh: the page's copy of E007 says 99 devices offline, the API says 0.
    await page.evaluate("() => { boardEstates.find((e) => e.id === 'E007').devices.offline = 99; }")
    await page.evaluate("() => refreshBoard()")
    await expect(page.locator('[data-testid="tile-E007"]')).to_contain_text("离线设备 0")
    replaced = await page.evaluate("() => window.replaced")
    assert set(replaced) == {"tile-E004", "tile-E006", "tile-E007"}, replaced
    assert len(await page.evaluate(STILL_THERE)) == len(ids) - 3
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_page_left_before_its_answers_came_does_not_draw_over_the_next(world: Any) -> None:
    """The router's guard (core.js api, app.js route): the estate page's reads are held back in the browser
    until the operator has moved on to the alarm list; answered then, they must not replace it."""
    _, base, browser = world
    page = await board(browser, base)
    held: list[Route] = []
    arrived = asyncio.Event()

    async def hold(route: Route) -> None:
        held.append(route)
        arrived.set()

    await page.route("**/api/estates/E003", hold)
    await page.evaluate("() => { location.hash = '#/estate/E003'; }")
    await asyncio.wait_for(arrived.wait(), 10)
    await page.evaluate("() => { location.hash = '#/alarms'; }")
    await expect(page.locator("#view h1")).to_have_text("报警")
    async with page.expect_response("**/api/estates/E003") as answered:
        await held[0].continue_()
    assert (await answered.value).ok
    # Whatever the estate page would draw comes within a frame or two of its last answer: give it ten.
    await page.evaluate(TEN_FRAMES)
    await page.wait_for_load_state("networkidle")
    await expect(page.locator("#view h1")).to_have_text("报警")
    assert await page.locator('#view [data-testid="grade-rule"]').count() == 0
    assert page.errors == []  # type: ignore[attr-defined]
