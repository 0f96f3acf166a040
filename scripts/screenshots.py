"""``make screenshots``: the control room in a telling state, photographed for the README (docs/screenshots/).

    python scripts/screenshots.py [--out docs/screenshots] [--keep-full-colour]

A city of 24 estates in Zhengzhou (the demo's fleet generator) with a day behind it, on a clock this script
steps (the gateway takes its clock as an argument), served by the real app (tests/served_app.py: the same
API and pages a gateway serves, with SQLite telemetry) and signed into through the login form, in Debian's
Chromium, by three people:

- the duty officer (值班员, brigade) at 1920x1080: the duty overview, the board under its alarm bar, the
  estate whose hydrant failed, and the overdue hazard;
- a grid worker (网格员) of 二七区 淮河路街道 on a phone (375x812): the board, and filing a hazard;
- the property company 恒安物业 on a phone: its to-do.

What the city shows at the end: 绿洲花园 yellow because its hydrant HY-E009-02 has had no pressure (0.02 MPa)
for 40 minutes; 银杏名邸 red (R4, cartons in the basement); a fire alarm at 丽景嘉园 unacknowledged for 3 min
40 s (past the on-scene target: the flashing banner) and one at 花溪新村 acknowledged and dispatched; a
blocked escape route at 花溪雅苑 past its deadline (overdue); a hazard at 滨江嘉园 waiting for 恒安物业; a
detector in fault, a camera silent, and the day's alarms and hazards in the 24-hour trends.

Every PNG is optimised with Pillow (a palette of 256 colours, which keeps text sharp, unless
``--keep-full-colour``), and kept under MAX_BYTES.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect  # noqa: E402

from gateway.auth.service import AuthService  # noqa: E402
from gateway.auth.store import AuthStore  # noqa: E402
from gateway.casework.engine import RuleEngine  # noqa: E402
from gateway.demo import DEMO_CONTROL_ROOM_PHONE  # noqa: E402
from gateway.ingest.deadletter import DeadLetterStore  # noqa: E402
from gateway.ingest.pipeline import Pipeline  # noqa: E402
from gateway.ingest.sinks.sqlite import SqliteSink  # noqa: E402
from gateway.ingest.telemetry_query import SqliteReader  # noqa: E402
from gateway.models import Device, DeviceEvent, DeviceKind, EventType, Reading  # noqa: E402
from gateway.store import HazardStore  # noqa: E402
from rules.lifecycle import AlarmAction, AlarmOutcome, FalseAlarmCause, HazardAction  # noqa: E402
from rules.policy import load_policy  # noqa: E402
from simulators.fleet import generate_fleet  # noqa: E402
from tests.served_app import served, signed_in  # noqa: E402

CHROMIUM = os.environ.get("FIREGW_CHROMIUM", "/usr/bin/chromium")
MAX_BYTES = 300_000
PASSWORD = "screenshots only 2026"
DESKTOP: ViewportSize = {"width": 1920, "height": 1080}
PHONE: ViewportSize = {"width": 375, "height": 812}
FAILING_HYDRANT = "HY-E009-02"
SILENT_CAMERA = "CAM-E016-01"
FAULTY_DETECTOR = "SD-E002-0004"
#: username: (role, display name, district, street, company)
ACCOUNTS = {
    "duty": ("brigade", "值班员 王", None, None, None),
    "grid": ("grid", "网格员 李", "二七区", "淮河路街道", None),
    "property": ("property", "恒安物业 刘", None, None, "恒安物业管理有限公司"),
}


def spread(device_id: str, n: int) -> int:
    """0 .. n-1, the same for a device at every run (unlike ``hash``)."""
    return zlib.crc32(device_id.encode()) % n


#: How the day's alarms went: acknowledged, dispatched, on scene, closed as a false alarm (cooking smoke).
HANDLED: list[tuple[AlarmAction, dict[str, Any]]] = [
    (AlarmAction.ACKNOWLEDGE, {}),
    (AlarmAction.DISPATCH, {}),
    (AlarmAction.ON_SCENE, {}),
    (AlarmAction.CLOSE, {"outcome": AlarmOutcome.FALSE_ALARM, "cause": FalseAlarmCause.COOKING_SMOKE}),
]


class Clock:
    """The gateway's clock, stepped by this script."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class City:
    engine: RuleEngine
    clock: Clock
    pipeline: Pipeline
    hazards: dict[str, int] = field(default_factory=dict)

    @property
    def devices(self) -> tuple[Device, ...]:
        return self.engine.registry.devices

    async def report(self, devices: Iterable[Device], *, failing_mpa: float = 0.35) -> None:
        """Every device given reports once, at the clock's time, as a healthy one would (but the failing
        hydrant, at ``failing_mpa``)."""
        now = self.clock()
        records: list[Reading | DeviceEvent] = []
        for d in devices:
            if d.kind is DeviceKind.HYDRANT:
                mpa = failing_mpa if d.id == FAILING_HYDRANT else 0.33 + spread(d.id, 5) / 100
                records.append(
                    Reading(device_id=d.id, time=now, metrics={"pressure_mpa": mpa, "battery_pct": 86})
                )
            elif d.kind is DeviceKind.CAMERA:
                records.append(Reading(device_id=d.id, time=now, metrics={"alive": True}))
            else:
                metrics: dict[str, float | int | bool | str] = {
                    "battery_pct": 80 + spread(d.id, 15),
                    "signal_dbm": -80 - spread(d.id, 20),
                }
                records.append(Reading(device_id=d.id, time=now, metrics=metrics))
        await self.pipeline.submit(records, source="screenshots")

    async def event(self, device_id: str, kind: EventType) -> None:
        event = DeviceEvent(device_id=device_id, time=self.clock(), type=kind)
        await self.pipeline.submit([event], source="screenshots")

    async def alarm(self, device_id: str) -> int:
        await self.event(device_id, EventType.ALARM)
        return self.engine.store.alarms.find(open_only=True, device_id=device_id)[0].id

    def file(self, name: str, estate: str, criterion: str, location: str, description: str) -> int:
        hazard = self.engine.hazards.file(
            estate_id=estate,
            criterion=criterion,
            location=location,
            description=description,
            reporter="网格员 李",
        )
        self.hazards[name] = hazard.id
        return hazard.id

    def dispatch(self, hazard_id: int) -> None:
        estate = self.engine.store.hazards.get(hazard_id).estate_id
        party = self.engine.store.parties.serving(estate)[0].id
        self.engine.hazards.step(hazard_id, HazardAction.DISPATCH, actor="值班员 王", party_id=party)

    def later(self, **delta: float) -> None:
        self.clock.now += timedelta(**delta)
        self.engine.tick(self.clock())


async def build_city(work: Path) -> tuple[City, AuthService]:
    """The city of the module docstring, its clock at the present minute."""
    registry = generate_fleet(24, 10, 3, 2, 0.0, seed=18)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    clock = Clock(end - timedelta(hours=24))
    engine = RuleEngine(
        registry, load_policy(), HazardStore(f"sqlite:///{work / 'hazards.sqlite'}"), clock=clock
    )
    for estate in registry.estates:  # the street office's inspection (排查登记): graded from the start
        engine.assessments.record(
            estate_id=estate.id,
            kind="assessment",
            at=clock(),
            by="街道办 张科员",
            met=list(engine.policy.conditions),
        )
    auth = AuthService(AuthStore(engine.store.engine))
    for username, (role, name, district, street, company) in ACCOUNTS.items():
        auth.store.create_user(
            username=username,
            role=role,
            password=PASSWORD,
            now=clock(),
            display_name=name,
            district=district,
            street=street,
            company=company,
        )
    deadletters = DeadLetterStore(work / "dead_letters.sqlite")
    pipeline = Pipeline(
        registry, SqliteSink(work / "telemetry.sqlite"), deadletters, rules=engine, clock=clock
    )
    city = City(engine, clock, pipeline)
    await live_a_day(city, end)
    return city, auth


async def live_a_day(city: City, end: datetime) -> None:
    engine, devices = city.engine, city.devices
    smoke = [d for d in devices if d.kind is DeviceKind.SMOKE_DETECTOR]
    for hour in range(23):
        await city.report(d for d in devices if d.id != SILENT_CAMERA or hour < 15)
        if hour % 3 == 1:  # a kitchen's smoke, handled within minutes
            alarm = await city.alarm(smoke[hour * 9].id)
            city.later(minutes=1)
            for action, closing in HANDLED:
                engine.alarms.step(alarm, action, actor="值班员 王", **closing)
        if hour % 4 == 2:  # a grid worker's round: something found, and fixed the same day
            hazard = city.file(
                f"h{hour}", f"E{hour + 1:03d}", ("Y9", "Y11", "Y9")[hour % 3], "1号楼 门厅", "巡查发现"
            )
            if hour < 16:
                engine.hazards.step(hazard, HazardAction.CLOSE, actor="街道办 张科员", reason="现场已整改")
        if hour == 20:  # the escape route at 花溪雅苑: the property company had until an hour ago
            late = city.file(
                "overdue", "E003", "Y7", "2号楼 一层楼梯间", "疏散楼梯被电动车和杂物堵塞，无法通行"
            )
            city.dispatch(late)
            engine.hazards.step(
                late, HazardAction.START, actor="宏泰物业 赵", deadline=end - timedelta(hours=1)
            )
        city.later(minutes=60 - (1 if hour % 3 == 1 else 0))
    # The last hour, in 10-minute steps: the hydrant at 绿洲花园 loses its pressure and stays without.
    alive = [d for d in devices if d.id != SILENT_CAMERA]
    for step in range(6):
        if step:
            city.later(minutes=10)
        await city.report(alive, failing_mpa=0.35 if step < 2 else 0.02)
    await city.event(FAULTY_DETECTOR, EventType.FAULT)
    city.file("red", "E013", "R4", "地下室", "地下室堆放大量纸箱和旧家具，占用防火分区")
    todo = city.file("todo", "E020", "Y9", "3号楼 门厅", "电动自行车停放在门厅充电")
    city.dispatch(todo)
    city.clock.now = end - timedelta(minutes=3, seconds=40)
    await city.alarm("SD-E007-0003")  # nobody has acknowledged it: past the 3-minute target
    city.clock.now = end - timedelta(minutes=2)
    handled = await city.alarm("SD-E010-0006")
    engine.alarms.step(handled, AlarmAction.ACKNOWLEDGE, actor="值班员 王")
    engine.alarms.step(handled, AlarmAction.DISPATCH, actor="值班员 王")
    city.clock.now = end
    engine.tick(end)


# -- the pages -----------------------------------------------------------------------------------------------


async def settled(page: Page) -> None:
    await page.wait_for_load_state("networkidle")
    await asyncio.sleep(1.5)  # ECharts' own first animation


async def photograph(browser: Browser, base: str, city: City, out: Path, palette: bool) -> list[Path]:
    shots: list[Path] = []
    errors: list[str] = []

    async def signed_in_as(username: str, viewport: ViewportSize) -> Page:
        return await signed_in(browser, base, username, PASSWORD, errors, viewport, "Asia/Shanghai")

    async def shot(page: Page, name: str) -> None:
        await settled(page)
        png = await page.screenshot(animations="disabled", caret="hide")
        shots.append(save(png, out / f"{name}.png", palette))

    duty = await signed_in_as("duty", DESKTOP)
    await duty.goto(base + "/#/overview")
    await expect(duty.locator('#ov-map [data-testid="estate-map"]')).to_have_attribute("data-state", "ready")
    await expect(duty.locator("#ov-trend-alarms canvas")).to_have_count(1)
    await shot(duty, "overview-1920")
    await duty.goto(base + "/#/")
    await expect(duty.locator('#board-map [data-testid="estate-map"]')).to_have_attribute(
        "data-state", "ready"
    )
    await expect(duty.locator('#alarm-bar [data-level="3"]')).to_be_visible()
    await shot(duty, "board-alarm-1920")
    await duty.goto(base + "/#/estate/E009")
    await expect(duty.locator('[data-testid="estate-grade"]')).to_be_visible()
    await shot(duty, "estate-1920")
    await duty.goto(base + f"/#/hazard/{city.hazards['overdue']}")
    await expect(duty.locator("#view")).to_contain_text("疏散楼梯")
    await shot(duty, "hazard-1920")

    grid = await signed_in_as("grid", PHONE)
    await grid.goto(base + "/#/")
    await expect(grid.locator("#tiles > .tile").first).to_be_visible()
    await shot(grid, "board-375")
    await grid.goto(base + "/#/estate/E009")
    await grid.locator('[data-testid="file-hazard-here"]').click()
    await grid.locator("#h-criterion").select_option("Y7")
    await grid.locator("#h-location").fill("2号楼 1单元 楼梯间")
    await grid.locator("#h-description").fill("楼梯间堆放纸箱，占用疏散通道")
    await shot(grid, "file-hazard-375")

    owner = await signed_in_as("property", PHONE)
    await owner.goto(base + "/#/todo")
    await expect(owner.locator(f'[data-todo-hazard="{city.hazards["todo"]}"]')).to_be_visible()
    await shot(owner, "todo-375")
    if errors:
        raise RuntimeError(f"the pages had script errors: {errors}")
    return shots


def save(png: bytes, path: Path, palette: bool) -> Path:
    """The screenshot as a smaller PNG: 256 colours (as pngquant would) unless told not to; zlib's best."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    if palette:
        image = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    image.save(path, format="PNG", optimize=True)
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"  {shown}: {path.stat().st_size:,} bytes", flush=True)
    return path


async def main(out: Path, palette: bool) -> list[Path]:
    with tempfile.TemporaryDirectory(prefix="firegw-screenshots-") as tmp:
        work = Path(tmp)
        print("a day in a city of 24 estates ...", flush=True)
        city, auth = await build_city(work)
        telemetry = SqliteReader(work / "telemetry.sqlite")
        async with (
            served(
                city.engine,
                auth,
                work,
                control_room_phone=DEMO_CONTROL_ROOM_PHONE,
                pipeline=city.pipeline,
                telemetry=telemetry,
            ) as base,
            async_playwright() as pw,
        ):
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                return await photograph(browser, base, city, out, palette)
            finally:
                await browser.close()


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="where the PNGs go")
    parser.add_argument(
        "--keep-full-colour", action="store_true", help="no 256-colour palette (larger files)"
    )
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} not found: install Debian's chromium (make services does), or set FIREGW_CHROMIUM",
              file=sys.stderr)  # fmt: skip
        return 2
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    shots = asyncio.run(main(out, not args.keep_full_colour))
    large = [f"{p.name} ({p.stat().st_size:,} bytes)" for p in shots if p.stat().st_size > MAX_BYTES]
    if large:
        print(
            f"larger than {MAX_BYTES:,} bytes, the most a README image may be: {', '.join(large)}",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(run())
