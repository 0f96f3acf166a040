"""Parts 2 and 3 of bench/ui_bench.py: the control room's pages on a large city, signed in, in Chromium.

Part 2, first paint. The API in-process (its own thread and event loop, as in the gateway) with accounts on,
on a registry of ``--estates`` estates of 100 devices each (80 detectors, 15 hydrants, 5 cameras; every
estate inspected, a seventh with a hazard), and a signed-in duty officer (the session cookie of a sign-in
through the API) opening the page in a fresh browser context (nothing cached), ``--repeat`` times per page:

- the board (``#/``): navigation start -> the first tile painted; -> every tile added and the frame after it
  (tiles below the fold have no paint time of their own: the page's ``board-painted`` mark); -> the map drawn;
- the duty overview (``#/overview``): navigation start -> its figures painted; -> its map drawn.

"Painted" is the browser's own paint time of the element (Element Timing: a probe run before the page's
scripts names the tiles and the overview's figures with ``elementtiming`` as they enter the document, so any
revision of the page is measured alike), not a script's guess. Baseline in the same run: a tenth of the
estates. ``--compare REV`` serves REV's pages (a git revision, or a folder) from the same API on a second
port and loads them in turn with these. ``--trace``: where the time of the largest board goes.

Part 3, live update cost. The board open on ``--estates`` estates (and its map), then ``--events`` grade
changes (a hazard filed at a green estate: it turns yellow; the next one red; each also sends a hazard event)
and ``--events`` fire alarms (a detector's alarm through the pipeline), spaced out, all through the real live
feed (``/api/live``). Per event: the main-thread time of the page's handlers (timed around every listener of
the feed), the time to the end of the next frame painted after it (style, layout, paint included), long
tasks, and how many tiles were replaced (a MutationObserver on the tile grid): one tile per event is a patch,
every tile would be a re-render.
"""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any
from unittest.mock import patch

from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from gateway.ingest.registry import Registry
from gateway.models import Device
from simulators.fleet import generate_fleet

ROOT = Path(__file__).resolve().parents[1]
THIS_CHECKOUT = "this checkout"
CHROMIUM = os.environ.get("FIREGW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Background tabs are throttled by default; a control-room wall shows every screen at once.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
USER, PASSWORD = "bench", "bench password 1234"

#: Before any script of the page: the paint times of the first tiles' names and the overview's figures (the
#: probe gives them an ``elementtiming`` name as they enter the document, before they are painted, so any
#: revision of the page is measured alike), long tasks, and when a map first reports itself drawn.
PAINT_PROBE = """(() => {
  const b = window.__bench = { elements: {}, longtasks: [], mapReady: null };
  const names = [[".tile .name", "tile"], [".ov-kpi-value", "ov"]];
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === "attributes") {
        if (b.mapReady === null && r.target.dataset.state === "ready") b.mapReady = performance.now();
        continue;
      }
      for (const n of r.addedNodes) {
        if (n.nodeType !== 1) continue;
        for (const [selector, name] of names) {
          if (n.matches(selector)) n.setAttribute("elementtiming", name);
          n.querySelectorAll(selector).forEach((el) => el.setAttribute("elementtiming", name));
        }
      }
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"] });
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const at = e.renderTime || e.loadTime, seen = b.elements[e.identifier];
      b.elements[e.identifier] = seen ? [Math.min(seen[0], at), Math.max(seen[1], at)] : [at, at];
    }
  }).observe({ type: "element", buffered: true });
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) b.longtasks.push([Math.round(e.startTime), Math.round(e.duration)]);
  }).observe({ type: "longtask", buffered: true });
})();"""

#: Before any script of the page: every listener of the live feed timed (its synchronous main-thread work),
#: then the end of the next frame after it; tiles added and removed in the grid counted per event.
UPDATE_PROBE = """(() => {
  const u = window.__updates = { events: [], current: null, longtasks: [] };
  const settle = (entry, t0) => {
    entry.frame = performance.now() - t0;
    // A tile taken out and put back (a fire moves to the front) is moved, not replaced.
    entry.replaced = entry.removed.filter((tile) => !tile.isConnected).length;
    entry.removed = [];
  };
  u.run = async (type, fn) => { // the same figures for something the bench calls (the minute's refresh)
    const entry = u.current = { type, removed: [], nodes: 0 };
    const t0 = performance.now();
    await fn();
    entry.handler = performance.now() - t0;
    u.events.push(entry);
    await new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)));
    settle(entry, t0);
  };
  const add = EventSource.prototype.addEventListener;
  EventSource.prototype.addEventListener = function (type, fn, options) {
    const timed = ["alarm", "grade", "hazard", "device_event"];
    if (!timed.includes(type)) return add.call(this, type, fn, options);
    return add.call(this, type, function (ev) {
      const entry = { type, at: performance.now(), removed: [], nodes: 0 };
      u.current = entry;
      const t0 = performance.now();
      try { return fn.call(this, ev); } finally {
        entry.handler = performance.now() - t0;
        u.events.push(entry);
        requestAnimationFrame(() => setTimeout(() => settle(entry, t0), 0));
      }
    }, options);
  };
  const watched = new WeakSet();
  const count = (records) => {
    const entry = u.current;
    if (!entry) return;
    for (const r of records) {
      for (const n of r.removedNodes) {
        if (n.nodeType !== 1) continue;
        entry.nodes += 1 + n.querySelectorAll("*").length;
        entry.removed.push(...(n.classList.contains("tile") ? [n] : n.querySelectorAll(".tile")));
      }
    }
  };
  const grid = new MutationObserver(count);
  new MutationObserver(() => {
    const tiles = document.getElementById("tiles");
    if (tiles && !watched.has(tiles)) { watched.add(tiles); grid.observe(tiles, { childList: true }); }
    const view = document.getElementById("view");
    if (view && !watched.has(view)) { watched.add(view); grid.observe(view, { childList: true }); }
  }).observe(document, { childList: true, subtree: true });
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) u.longtasks.push([e.startTime, e.duration]);
  }).observe({ type: "longtask", buffered: true });
})();"""

#: Where the time of a page load went: the requests (path, start, end in ms from navigation) and the marks.
TRACE_JS = """() => ({
  nav: performance.getEntriesByType("navigation").map((e) => ({ response: Math.round(e.responseEnd),
    dom: Math.round(e.domContentLoadedEventEnd), load: Math.round(e.loadEventEnd) }))[0],
  marks: performance.getEntriesByType("mark").map((e) => [e.name, Math.round(e.startTime)]),
  paint: performance.getEntriesByType("paint").map((e) => [e.name, Math.round(e.startTime)]),
  res: performance.getEntriesByType("resource").map((e) => [e.name.split("/").slice(3).join("/"),
    Math.round(e.startTime), Math.round(e.responseEnd)]),
  bench: window.__bench,
})"""


def city(estates: int) -> Registry:
    return generate_fleet(
        estates=estates,
        smoke_per_estate=80,
        hydrants_per_estate=15,
        cameras_per_estate=5,
        modbus_share=0.0,
        seed=4,
    )


class ServedCity:
    """The real app (accounts on, one brigade account) on ``registry``, served by uvicorn on a free port in a
    thread with its own event loop; ``call`` runs a function on that loop (the engine's live feed is bound
    to it). With ``pages`` (label -> a folder of the UI's static files), the same API is served once per
    folder, each on its own port: two revisions of the page measured against one engine."""

    def __init__(self, registry: Registry, work: Path, pages: dict[str, Path] | None = None) -> None:
        import uvicorn

        import gateway.web
        from gateway.api import ApiServices, create_app
        from gateway.auth.service import AuthService
        from gateway.auth.store import AuthStore
        from gateway.casework.engine import RuleEngine
        from gateway.ingest.deadletter import DeadLetterStore
        from gateway.ingest.pipeline import Pipeline
        from gateway.ingest.sinks.sqlite import SqliteSink
        from gateway.models import utc_now
        from gateway.store import HazardStore
        from rules.policy import load_policy

        t0 = time.perf_counter()
        self.registry = registry
        self.engine = RuleEngine(
            registry, load_policy(), HazardStore(f"sqlite:///{work / 'h.sqlite'}"), clock=utc_now
        )
        now = utc_now()
        for estate in registry.estates:  # inspected (排查登记), so graded: green unless something is wrong
            conditions = list(self.engine.policy.conditions)
            self.engine.assessments.record(
                estate_id=estate.id, kind="assessment", at=now, by="bench", met=conditions
            )
        for i, estate in enumerate(registry.estates[::7]):  # some estates with hazards and reasons
            self.engine.hazards.file(
                estate_id=estate.id,
                criterion=("Y3", "R4", "G7")[i % 3],
                location="",
                description="bench",
                reporter="bench",
            )
        auth = AuthService(AuthStore(self.engine.store.engine))
        auth.store.create_user(
            username=USER, role="brigade", password=PASSWORD, now=utc_now(), display_name="值班员 测"
        )
        self.deadletters = DeadLetterStore(work / "dl.sqlite")
        self.pipeline = Pipeline(
            registry, SqliteSink(work / "t.sqlite"), self.deadletters, rules=self.engine, clock=utc_now
        )
        services = ApiServices(registry, self.pipeline, self.engine, self.deadletters, utc_now, auth=auth)
        self.build_s = time.perf_counter() - t0
        self.servers: dict[str, uvicorn.Server] = {}
        for label, static in (pages or {THIS_CHECKOUT: gateway.web.STATIC_DIR}).items():
            with patch.object(gateway.web, "STATIC_DIR", static):  # where mount_web serves the UI from
                app = create_app(services)
            config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
            self.servers[label] = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()

        async def serve() -> None:
            await asyncio.gather(*(server.serve() for server in self.servers.values()))

        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(serve(),))

    @contextmanager
    def running(self) -> Iterator[dict[str, str]]:
        """The base URL of each page's server, by label."""
        self.thread.start()
        deadline = time.monotonic() + 30
        while not all(server.started for server in self.servers.values()):
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the bench's API server did not start")
            time.sleep(0.02)
        try:
            yield {
                label: f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
                for label, server in self.servers.items()
            }
        finally:
            for server in self.servers.values():
                server.should_exit = server.force_exit = True
            self.thread.join(10)
            self.deadletters.close()

    def call(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` on the server's loop (awaited if it returns a coroutine); its result."""
        done: Future[Any] = Future()

        async def run() -> None:
            try:
                result: Any = fn()
                if asyncio.iscoroutine(result):
                    result = await result
                done.set_result(result)
            except Exception as exc:
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(lambda: self.loop.create_task(run()))
        return done.result(30)


async def signed_in_state(browser: Browser, base: str) -> Any:
    """The cookies of a sign-in through the API (each measured page gets them in a fresh context)."""
    context = await browser.new_context()
    response = await context.request.post(
        base + "/api/auth/login", data={"username": USER, "password": PASSWORD}
    )
    assert response.ok, await response.text()
    state = await context.storage_state()
    await context.close()
    return state


async def fresh_page(browser: Browser, state: Any, probe: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(
        viewport={"width": 1920, "height": 1080}, locale="zh-CN", storage_state=state
    )
    await context.add_init_script(probe)
    return context, await context.new_page()


@asynccontextmanager
async def chromium() -> Any:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


# -- part 2: first paint -------------------------------------------------------------------------------------


async def load_board(browser: Browser, state: Any, base: str, estates: int) -> dict[str, Any]:
    context, page = await fresh_page(browser, state, PAINT_PROBE)
    await page.goto(base + "/")
    # Tiles below the fold are not painted (no paint time of their own): "every tile" is the page's mark of
    # the frame after the last one was added.
    await page.wait_for_function(
        f"() => document.querySelectorAll('.tile').length >= {estates} && window.__bench.elements.tile"
        " && performance.getEntriesByName('board-painted').length && window.__bench.mapReady !== null",
        timeout=20_000,
    )
    trace = await page.evaluate(TRACE_JS)
    every = await page.evaluate("() => performance.getEntriesByName('board-painted')[0].startTime")
    await context.close()
    first, _ = trace["bench"]["elements"]["tile"]
    return {"first": first / 1000, "every": every / 1000, "map": trace["bench"]["mapReady"] / 1000, **trace}


async def load_overview(browser: Browser, state: Any, base: str) -> dict[str, Any]:
    context, page = await fresh_page(browser, state, PAINT_PROBE)
    await page.goto(base + "/#/overview")
    await page.wait_for_function(
        "() => window.__bench.elements.ov && window.__bench.mapReady !== null", timeout=60_000
    )
    trace = await page.evaluate(TRACE_JS)
    await context.close()
    first, _ = trace["bench"]["elements"]["ov"]
    return {"first": first / 1000, "map": trace["bench"]["mapReady"] / 1000, **trace}


def where_the_time_goes(trace: dict[str, Any]) -> str:
    """One line per step of the largest board's load, for --trace."""
    res = {path: (start, end) for path, start, end in trace["res"]}
    scripts = [
        (s, e)
        for p, (s, e) in res.items()
        if p.startswith("static/") and p.endswith(".js") and "vendor" not in p
    ]
    lines = [
        f"    document received {trace['nav']['response']} ms; DOMContentLoaded {trace['nav']['dom']} ms",
        f"    {len(scripts)} scripts of the page requested {min(s for s, _ in scripts)}-"
        f"{max(s for s, _ in scripts)} ms, all received by {max(e for _, e in scripts)} ms",
    ]
    for path in ("api/estates", "api/auth/me", "static/vendor/echarts/echarts.min.js", "api/live"):
        if path in res:
            lines.append(f"    {path}: {res[path][0]}-{res[path][1]} ms")
    lines.append("    marks: " + ", ".join(f"{n} {at}" for n, at in trace["marks"]))
    lines.append("    paint: " + ", ".join(f"{n} {at}" for n, at in trace["paint"]))
    long = trace["bench"]["longtasks"]
    lines.append(f"    long tasks (start, ms): {long}")
    return "\n".join(lines)


def static_of(rev: str, into: Path) -> Path:
    """REV's UI files (``git archive``), extracted into ``into``; or REV itself if it is a folder of them."""
    if Path(rev).is_dir():
        return Path(rev).resolve()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "gateway/web/static"], check=True, capture_output=True
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into / "gateway" / "web" / "static"


def medians(boards: list[dict[str, Any]], overviews: list[dict[str, Any]]) -> dict[str, Any]:
    def median(rows: list[dict[str, Any]], key: str) -> float:
        return float(statistics.median(r[key] for r in rows))

    return {
        "board_first": median(boards, "first"),
        "board_every": median(boards, "every"),
        "board_map": median(boards, "map"),
        "overview_first": median(overviews, "first"),
        "overview_map": median(overviews, "map"),
        "trace": sorted(boards, key=lambda r: r["first"])[len(boards) // 2],
    }


async def part_board(args: Any) -> dict[str, dict[int, dict[str, Any]]]:
    """By page (this checkout's, and ``args.compare``'s if given), by number of estates: the medians."""
    from gateway.web import STATIC_DIR

    out: dict[str, dict[int, dict[str, Any]]] = {}
    async with chromium() as browser:
        for estates in (max(1, args.estates // 10), args.estates):
            with tempfile.TemporaryDirectory(prefix="firegw-board-") as tmp:
                pages = {THIS_CHECKOUT: STATIC_DIR}
                if args.compare:
                    pages = {args.compare: static_of(args.compare, Path(tmp)), **pages}
                served = ServedCity(city(estates), Path(tmp), pages)
                loads: dict[str, dict[str, list[dict[str, Any]]]] = {}
                with served.running() as bases:
                    state = await signed_in_state(browser, bases[THIS_CHECKOUT])
                    for _ in range(args.repeat):  # in turn, so that a machine busy meanwhile slows both
                        for label, base in bases.items():
                            runs = loads.setdefault(label, {"board": [], "overview": []})
                            runs["board"].append(await load_board(browser, state, base, estates))
                            runs["overview"].append(await load_overview(browser, state, base))
            for label, runs in loads.items():
                figures = medians(runs["board"], runs["overview"])
                out.setdefault(label, {})[estates] = {"devices": len(served.registry.devices), **figures}
                print(
                    f"  {label}, {estates} estates: board first tile {figures['board_first'] * 1000:.0f} ms, "
                    f"overview {figures['overview_first'] * 1000:.0f} ms",
                    flush=True,
                )
    return out


# -- part 3: live update cost --------------------------------------------------------------------------------


async def part_updates(args: Any) -> dict[str, Any]:
    from gateway.models import DeviceEvent, DeviceKind, EventType, utc_now

    estates = args.estates
    registry = city(estates)
    detectors: dict[str, Device] = {}
    for d in registry.devices:
        if d.kind is DeviceKind.SMOKE_DETECTOR:
            detectors.setdefault(d.estate_id, d)
    async with chromium() as browser:
        with tempfile.TemporaryDirectory(prefix="firegw-updates-") as tmp:
            served = ServedCity(registry, Path(tmp))
            with served.running() as bases:
                base = bases[THIS_CHECKOUT]
                state = await signed_in_state(browser, base)
                context, page = await fresh_page(browser, state, UPDATE_PROBE)
                await page.goto(base + "/")
                await page.wait_for_function(
                    f"() => document.querySelectorAll('.tile').length >= {estates}"
                    " && document.querySelector('[data-testid=estate-map][data-state=ready]')"
                    " && document.querySelector('#live-status').className === 'live-on'",
                    timeout=60_000,
                )
                await asyncio.sleep(1)
                await page.evaluate(
                    "() => { window.__updates.events = []; window.__updates.longtasks = []; }"
                )
                grader = served.engine.grader
                greens = [e.id for e in registry.estates if grader.grades[e.id].colour == "green"]
                for i, estate_id in enumerate(greens[: args.events]):  # yellow, red, yellow, ...
                    file = served.engine.hazards.file
                    criterion = "R4" if i % 2 else "Y7"
                    served.call(partial(file, estate_id=estate_id, criterion=criterion, location="1号楼",
                                        description="bench", reporter="bench"))  # fmt: skip
                    await asyncio.sleep(args.spacing)
                for estate in registry.estates[: args.events]:
                    alarm = DeviceEvent(
                        device_id=detectors[estate.id].id, time=utc_now(), type=EventType.ALARM
                    )
                    served.call(partial(served.pipeline.submit, [alarm], source="bench"))
                    await asyncio.sleep(args.spacing)
                await asyncio.sleep(1)
                for _ in range(3):  # the minute's refresh (device counts have no live event)
                    await page.evaluate("() => window.__updates.run('minute refresh', refreshBoard)")
                report = await page.evaluate("() => window.__updates")
                tiles = await page.evaluate("() => document.querySelectorAll('.tile').length")
                await context.close()
    return {"events": report["events"], "longtasks": report["longtasks"], "tiles": tiles}
