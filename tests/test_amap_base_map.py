"""The online base map (``[ui] amap_key``, docs/control-room-ui.md): off by default; where a key is set, the
API hands it to the page and the pages' security policy lets AMap's hosts in; where AMap cannot be reached (a
closed control-room network, which is what this machine is), the map falls back to the shipped outline within
``amap_timeout_s`` and says so.

AMap itself cannot run here (no internet): two browser tests make its address fail or hang on purpose, which
is what a closed network does, and one serves a stand-in (tests/fake_amap.js: AMap's API as the vendored
ECharts extension and map.js call it, on a plain Web Mercator projection, drawing no tiles) to check what the
page does with a map that loads. AMap's real streets are not drawn by this project's tests.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from assessed import assess
from clock import FakeClock
from playwright.async_api import Browser, Route, async_playwright, expect
from served_app import served, signed_in

from gateway.api import ApiServices, create_app
from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.casework.engine import RuleEngine
from gateway.config import ConfigError, UiSection, load_config
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.sinks.sqlite import SqliteSink
from gateway.models import DeviceEvent, DeviceKind, EventType
from gateway.store import HazardStore
from rules.policy import load_policy
from simulators.fleet import generate_fleet

pytestmark = pytest.mark.usefixtures("cheap_hashes")

CHROMIUM = os.environ.get("FIREGW_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery staple"
AMAP_HOSTS = "https://*.amap.com https://*.autonavi.com"


@pytest.fixture
def engine(tmp_path: Path) -> RuleEngine:
    registry = generate_fleet(6, 3, 1, 1, 0.0, seed=5)
    engine = RuleEngine(
        registry, load_policy(), HazardStore(f"sqlite:///{tmp_path / 'h.sqlite'}"), clock=FakeClock()
    )
    assess(engine)
    return engine


async def test_the_key_reaches_the_page_and_opens_the_policy_only_where_set(
    engine: RuleEngine, tmp_path: Path
) -> None:
    deadletters = DeadLetterStore(tmp_path / "dl.sqlite")
    pipeline = Pipeline(engine.registry, SqliteSink(tmp_path / "t.sqlite"), deadletters, clock=engine.clock)
    app = create_app(ApiServices(engine.registry, pipeline, engine, deadletters, engine.clock))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.get("/api/map")).json()["amap"] is None
        for path in ("/", "/static/app.css", "/api/map"):
            policy = (await client.get(path)).headers["content-security-policy"]
            assert "amap" not in policy, (path, policy)
            assert "script-src 'self';" in policy, (path, policy)

        app.state.ui = UiSection(amap_key="0123abcdef", amap_security_code="c0de", amap_timeout_s=3)
        assert (await client.get("/api/map")).json()["amap"] == {
            "key": "0123abcdef",
            "security_code": "c0de",
            "timeout_s": 3.0,
        }
        for path in ("/", "/static/app.css", "/api/map"):
            policy = (await client.get(path)).headers["content-security-policy"]
            assert f"script-src 'self' {AMAP_HOSTS};" in policy, (path, policy)
            assert f"connect-src 'self' {AMAP_HOSTS};" in policy
            assert "worker-src blob:" in policy
            assert "frame-ancestors 'none'" in policy
            assert "unsafe-eval" not in policy
        # FastAPI's own API pages keep their own policy.
        assert "amap" not in (await client.get("/docs")).headers["content-security-policy"]
    deadletters.close()


def test_a_key_is_read_from_the_environment_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file = tmp_path / "gateway.toml"
    config_file.write_text('[ui]\namap_key = "env:FIREGW_TEST_AMAP"\n', encoding="utf-8")
    monkeypatch.setenv("FIREGW_TEST_AMAP", "feedbeef42")
    assert load_config(config_file).ui.amap_key == "feedbeef42"
    monkeypatch.setenv("FIREGW_TEST_AMAP", 'x"; alert(1)')
    with pytest.raises(ConfigError, match="amap_key"):
        load_config(config_file)


@pytest.fixture
async def browser_on(engine: RuleEngine, tmp_path: Path) -> AsyncIterator[tuple[str, Browser]]:
    auth = AuthService(AuthStore(engine.store.engine))
    auth.store.create_user(
        username="duty", role="brigade", password=PASSWORD, now=engine.clock(), display_name="值班员"
    )
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - once, before anything runs
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (scripts/ensure-services.sh does)")
    ui = UiSection(amap_key="0123abcdef", amap_timeout_s=1.5)
    async with served(engine, auth, tmp_path, ui=ui) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield base, browser
        finally:
            await browser.close()


@pytest.mark.parametrize("amap_answers", ["refused", "never"])
async def test_an_unreachable_amap_leaves_the_outline_and_says_so(
    browser_on: tuple[str, Browser], amap_answers: str
) -> None:
    base, browser = browser_on
    errors: list[str] = []
    page = await signed_in(browser, base, "duty", PASSWORD, errors, {"width": 1280, "height": 900})
    outside: list[str] = []
    held: list[Route] = []

    async def closed_network(route: Route) -> None:
        outside.append(route.request.url)
        if amap_answers == "refused":
            await route.abort("addressunreachable")
        else:
            held.append(route)  # no answer, as a firewall that drops the packets

    await page.context.route(lambda url: not url.startswith(base), closed_network)
    started = asyncio.get_running_loop().time()
    await page.goto(base + "/")
    box = page.locator('#board-map [data-testid="estate-map"]')
    await expect(box).to_have_attribute("data-state", "ready", timeout=15_000)
    waited = asyncio.get_running_loop().time() - started
    await expect(box).to_have_attribute("data-base", "outline")
    await expect(page.locator('#board-map [data-testid="map-note"]')).to_contain_text("高德在线地图未能加载")
    geo = await page.evaluate(
        """() => echarts.getInstanceByDom(document.querySelector('[data-testid="estate-map"]'))
                 .getOption().geo[0].map"""
    )
    assert geo == "firegw-city"
    assert [u.split("?")[0] for u in outside] == ["https://webapi.amap.com/maps"], outside
    assert "key=0123abcdef" in outside[0]
    if amap_answers == "never":
        assert waited >= 1.5, waited  # it waited amap_timeout_s, no more than the test allowed
    # A second map on the same page does not wait for AMap again.
    await page.evaluate("() => { location.hash = '#/overview'; }")
    await expect(page.locator('#ov-map [data-testid="estate-map"]')).to_have_attribute("data-base", "outline")
    assert len(outside) == 1, outside
    assert errors == []
    for route in held:
        await route.abort()


FAKE_AMAP = Path(__file__).with_name("fake_amap.js")

#: What the map drew, and what it asked the stand-in AMap.
DRAWN = """() => {
  const box = document.querySelector('#board-map [data-testid="estate-map"]');
  const chart = echarts.getInstanceByDom(box);
  const option = chart.getOption();
  const map = window.fakeAmap.maps[0];
  return {
    base: box.dataset.base,
    coords: option.series.map((s) => s.coordinateSystem),
    alarms: option.series.find((s) => s.id === 'alarms').data.map((d) => d.id),
    asked: map.asked.map((a) => a[0]),
    style: map.style,
    securityCode: (window._AMapSecurityConfig || {}).securityJsCode,
    layer: Boolean(box.querySelector('.amap-maps canvas')),
  };
}"""

#: The stand-in map's size, and where on it each estate is (AMap's own projection of its coordinates).
PLACES = """() => {
  const map = window.fakeAmap.maps[0];
  const at = (e) => { const p = map.lngLatToContainer([e.longitude, e.latitude]); return [p.x, p.y]; };
  return [map.size(), Object.fromEntries(boardEstates.map((e) => [e.id, at(e)]))];
}"""


async def test_with_amap_the_estates_are_drawn_on_its_map(engine: RuleEngine, tmp_path: Path) -> None:
    """AMap replaced by tests/fake_amap.js (AMap's servers cannot be reached here): what map.js and the
    vendored extension do with it — the estates on the ``amap`` coordinate system, the view fitted to them,
    live alarms, a click through to the estate — with no script error."""
    auth = AuthService(AuthStore(engine.store.engine))
    auth.store.create_user(
        username="duty", role="brigade", password=PASSWORD, now=engine.clock(), display_name="值班员"
    )
    ui = UiSection(amap_key="0123abcdef", amap_security_code="c0de42")
    async with served(engine, auth, tmp_path, ui=ui) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            errors: list[str] = []
            page = await signed_in(browser, base, "duty", PASSWORD, errors, {"width": 1280, "height": 900})
            asked: list[str] = []

            async def stand_in(route: Route) -> None:
                asked.append(route.request.url)
                await route.fulfill(path=FAKE_AMAP, content_type="application/javascript")

            await page.context.route("https://webapi.amap.com/**", stand_in)
            await page.goto(base + "/")
            box = page.locator('#board-map [data-testid="estate-map"]')
            await expect(box).to_have_attribute("data-state", "ready", timeout=15_000)
            drawn = await page.evaluate(DRAWN)
            assert asked == ["https://webapi.amap.com/maps?v=2.0&key=0123abcdef"]
            assert drawn["base"] == "amap"
            assert drawn["coords"] == ["amap", "amap"]
            assert drawn["style"] == "amap://styles/normal"
            assert drawn["securityCode"] == "c0de42"
            assert drawn["layer"], "the estates' layer sits in AMap's map"
            # The view is the estates' box: every estate inside the map, and they fill it.
            (width, height), places = await page.evaluate(PLACES)
            xs, ys = [x for x, _ in places.values()], [y for _, y in places.values()]
            assert all(0 < x < width for x in xs), places
            assert all(0 < y < height for y in ys), places
            assert max(xs) - min(xs) > width / 3 or max(ys) - min(ys) > height / 3, places
            assert await page.locator('#board-map [data-testid="map-note"]').count() == 0

            # A live fire alarm pulses on it; the view is not reset by the update.
            device = next(
                d
                for d in engine.registry.devices
                if d.estate_id == "E002" and d.kind is DeviceKind.SMOKE_DETECTOR
            )
            now = engine.clock()
            alarm = DeviceEvent(device_id=device.id, time=now, type=EventType.ALARM)
            engine.on_records([(device, alarm)], now)
            await page.wait_for_function(f"() => ({DRAWN})().alarms.includes('E002')")
            after = await page.evaluate(DRAWN)
            assert after["alarms"] == ["E002"]
            assert after["asked"].count("setZoomAndCenter") == drawn["asked"].count("setZoomAndCenter")

            # A click on an estate opens it.
            await box.scroll_into_view_if_needed()
            point = await page.evaluate(
                """(id) => {
                  const box = document.querySelector('#board-map [data-testid="estate-map"]');
                  const chart = echarts.getInstanceByDom(box);
                  const e = boardEstates.find((x) => x.id === id);
                  const [x, y] = chart.convertToPixel({ seriesId: 'estates' }, [e.longitude, e.latitude]);
                  const r = box.getBoundingClientRect();
                  return [r.left + x, r.top + y];
                }""",
                "E001",
            )
            await page.mouse.click(point[0], point[1])
            await expect(page).to_have_url(re.compile(r"#/estate/E001$"))
            assert errors == []
        finally:
            await browser.close()
