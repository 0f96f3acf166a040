"""The real API and UI of an engine on a free local port, for the browser tests that need a page but not a
whole gateway (no broker, no simulators): the page talks to the same app the gateway serves, and is signed
in through the login form as a person would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from playwright.async_api import Browser, Page, ViewportSize, expect

from gateway.api import ApiServices, create_app
from gateway.auth.service import AuthService
from gateway.casework.engine import RuleEngine
from gateway.config import UiSection
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.sinks.sqlite import SqliteSink
from gateway.ingest.telemetry_query import TelemetryReader


@contextlib.asynccontextmanager
async def served(
    engine: RuleEngine,
    auth: AuthService,
    tmp_path: Path,
    *,
    control_room_phone: str = "",
    pipeline: Pipeline | None = None,
    telemetry: TelemetryReader | None = None,
    ui: UiSection | None = None,
) -> AsyncIterator[str]:
    """The app's base URL while it is served by uvicorn (telemetry and dead letters in ``tmp_path``);
    ``control_room_phone``: the number the alarm bar names (``[notify] control_room_phone``); ``pipeline``
    and ``telemetry``: a test's own, that stored what the device pages show (its dead letters are closed);
    ``ui``: the ``[ui]`` section (the map), as gateway/app.py sets it."""
    deadletters = pipeline.deadletters if pipeline else DeadLetterStore(tmp_path / "dl-ui.sqlite")
    pipeline = pipeline or Pipeline(
        engine.registry, SqliteSink(tmp_path / "t-ui.sqlite"), deadletters, clock=engine.clock
    )
    services = ApiServices(
        engine.registry,
        pipeline,
        engine,
        deadletters,
        engine.clock,
        auth=auth,
        control_room_phone=control_room_phone,
        telemetry=telemetry,
    )
    app = create_app(services)
    if ui is not None:
        app.state.ui = ui
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():  # it could not listen: say why
                await serving
                raise RuntimeError("uvicorn stopped before it served")
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = server.force_exit = True
        await serving
        deadletters.close()


async def signed_in(
    browser: Browser,
    base: str,
    username: str,
    password: str,
    errors: list[str],
    viewport: ViewportSize | None = None,
    timezone_id: str | None = None,
) -> Page:
    """A new page (own cookies, zh-CN) signed in through the login form; script errors go to ``errors``."""
    context = await browser.new_context(locale="zh-CN", viewport=viewport, timezone_id=timezone_id)
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(base + "/")
    await page.locator("#l-user").fill(username)
    await page.locator("#l-pass").fill(password)
    await page.locator("#login-form button[type=submit]").click()
    await expect(page.locator("#whoami")).not_to_be_empty()
    return page
