"""Chinese throughout, English on the toggle (issue 18): every page walked in a real browser, in zh-CN and
then in English, fails listing the fragments that leak.

The gateway is the real API and UI on an engine driven through the states a control room sees (tests/
served_app.py's way, with stored telemetry so that device pages show messages): open, acknowledged and
closed alarms (a false alarm with its cause); device hazards of every kind (low pressure, device fault, a
blocked evacuation route, an e-bike in the lift, a sensor fault that is a maintenance task); a hydrant that
recovered (auto-closed); people's hazards dispatched, rectified, verified, re-checked (failed, reopened),
overdue and escalated, and a red item escalated at once; a complaint; a maintenance window; rejected
payloads; an estate never assessed and one whose smoke-detector failure is within tolerance.

In Chinese, a fragment leaks when it holds raw JSON, a snake_case identifier, a catalogue key returned by
``t()`` because it is missing, or any other Latin word: only what is legitimately Latin is allowed (device ids
such as SD-E001-0003, estate and building codes, criteria codes such as Y10 next to their meaning, units after
a number, file formats, protocol and standard names, the EN toggle, account names). In English, a fragment
leaks when Chinese is left in it, apart from the names of places, people and companies (the registry's, the
accounts', the parties') and what people typed.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from assessed import assess
from clock import FakeClock
from playwright.async_api import Page, async_playwright, expect
from served_app import served, signed_in

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
from rules.history_texts import transition_text
from rules.lifecycle import AlarmAction, AlarmOutcome, FalseAlarmCause, HazardAction, RecheckOutcome
from rules.policy import load_policy
from simulators.fleet import generate_fleet

pytestmark = pytest.mark.usefixtures("cheap_hashes")

CHROMIUM = os.environ.get("FIREGW_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(
    os.environ.get(
        "FIREGW_SCREENSHOTS", Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
    )
)
PASSWORD = "correct horse battery staple"
USERNAME, DUTY = "duty", "值班员 王"

# -- what leaks ----------------------------------------------------------------------------------------------

#: Latin that belongs on a Chinese page: ids and codes, units after a number, formats, names of protocols and
#: standards, the language toggle. Removed before looking for leaks.
ALLOWED_LATIN = re.compile(
    r"""
    (?<![A-Za-z0-9_.-])(?:
        (?:SD|HY|CAM)-E\d{3}-\d{2,4}            # device ids
      | E\d{3}(?:-B\d{2})?                      # estate and building codes
      | [RYG]\d{1,2}                             # criteria codes (shown next to their meaning)
      | \d+F                                     # a floor as signs write it (17F)
      | PDF|PNG|XLSX|CSV|JPE?G|QR                # file formats
      | Modbus|MQTT|NB-IoT|IoT|CTWing|LNG|GB(?:/T)?|AMap|ECharts|OpenStreetMap|Webhook|Apprise  # names
    )(?![A-Za-z0-9_])
    | (?<=\d)\s?(?:MPa|kPa|dBm|°C|mA|V|%)(?![A-Za-z])  # units after a number
    | \((?:MPa|kPa|dBm|°C|%)\)                    # a unit in a chart's title
    | §[\d.]+
    | https?://\S+
    | ^EN$                                      # the language toggle
    """,
    re.VERBOSE | re.MULTILINE,
)
RAW_JSON = re.compile(r'\{\s*"|"\s*:\s*[\[{"\d]|\[\s*\{')
SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
#: A catalogue key shown because the catalogue lacks it: ``ho.devices``, ``state.escalated``, ``kind.x``.
KEY = re.compile(r"\b[a-z]{1,12}\.[a-z][a-z_ ]*[a-z]\b")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}|\b\d+\s?[a-zA-Z]\b")
#: English the issue saw on Chinese pages, and words of the same kind: each one is a leak wherever it is.
KNOWN_ENGLISH = (
    "device", "system", "failing", "tolerance", "default", "became active", "overdue", "escalated",
    "closed automatically", "recovered", "street", "manual", "complaint", "fault", "offline", "live feed",
    "brigade", "min", "max", "street office", "re-check", "dispatch",
)  # fmt: skip
HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
#: Chinese the English page may keep: the way back to Chinese.
ALLOWED_HAN_EN = ("中文",)
#: Names of places an English page keeps as they are (a city, a district, a street office).
PLACE = re.compile(r"[\u4e00-\u9fff]{1,8}(?:市|区|县|镇|街道)")


@dataclass(frozen=True)
class Leak:
    page: str
    kind: str
    fragment: str

    def __str__(self) -> str:
        return f"{self.page}: [{self.kind}] {self.fragment}"


def _lines(text: str) -> Iterable[str]:
    for line in text.splitlines():
        line = " ".join(line.split())
        if line:
            yield line


def _scan(page: str, text: str, allowed: Iterable[str], leaks: Callable[[str], str | None]) -> list[Leak]:
    """One leak per line of ``text`` that holds raw JSON or for which ``leaks`` names a kind, looked for once
    the ``allowed`` names (longest first) are taken out of the line."""
    names = sorted((a for a in allowed if a), key=len, reverse=True)
    out: list[Leak] = []
    for line in _lines(text):
        scrubbed = line
        for name in names:
            scrubbed = scrubbed.replace(name, " ")
        kind = "raw JSON" if RAW_JSON.search(line) else leaks(scrubbed)
        if kind is not None:
            out.append(Leak(page, kind, line[:120]))
    return out


def _latin_leak(scrubbed: str) -> str | None:
    scrubbed = ALLOWED_LATIN.sub(" ", scrubbed)
    if SNAKE.search(scrubbed):
        return "identifier"
    if KEY.search(scrubbed):
        return "catalogue key"
    return "English" if LATIN_WORD.search(scrubbed) else None


def _han_leak(scrubbed: str) -> str | None:
    if HAN.search(PLACE.sub(" ", scrubbed)):
        return "Chinese"
    return "identifier" if SNAKE.search(ALLOWED_LATIN.sub(" ", scrubbed)) else None


def chinese_leaks(page: str, text: str, allowed: Iterable[str] = ()) -> list[Leak]:
    """The fragments (lines) of a Chinese page that show English or internal text, one per line."""
    return _scan(page, text, allowed, _latin_leak)


def english_leaks(page: str, text: str, allowed: Iterable[str]) -> list[Leak]:
    """The fragments of an English page that still hold Chinese, names and people's words apart."""
    return _scan(page, text, (*allowed, *ALLOWED_HAN_EN), _han_leak)


#: What a person sees of a page: its text, and the titles, placeholders and labels of what is visible.
VISIBLE_TEXT = """() => {
  const out = [document.title, document.body.innerText];
  for (const el of document.querySelectorAll("[title],[placeholder],[aria-label],img[alt]")) {
    if (!el.getClientRects().length) continue;
    for (const a of ["title", "placeholder", "aria-label", "alt"]) {
      const v = el.getAttribute(a);
      if (v) out.push(v);
    }
  }
  return out.join("\\n");
}"""


# -- the finder itself fails on what the issue saw -----------------------------------------------------------


@pytest.mark.parametrize(
    "fragment",
    [
        "判定依据: default",
        "1 of 20 smoke_detector failing, within tolerance",
        "来源 device",
        "hydrant_low_pressure",
        "device_fault (fault)",
        "ebike_in_lift",
        "device rule evacuation_blocked became active",
        "overdue by 3 d 4 h; escalated to the street (escalation #1)",
        "操作人 system",
        '{"battery_pct":82,"signal_dbm":-85}',
        "ho.devices",
        "逾期 3 d",
        *KNOWN_ENGLISH,
    ],
)
def test_the_finder_flags_what_the_issue_saw(fragment: str) -> None:
    assert chinese_leaks("p", fragment), fragment


@pytest.mark.parametrize(
    "fragment",
    [
        "烟感探测器 SD-E001-0014（E001-B02，2号楼 24层 2402室）：设备故障",
        "Y10, G4, G6: 消火栓 HY-E001-03：静压 0.02 MPa，低于下限 0.07 MPa",
        "公示牌 PDF",
        "信号 -85 dBm · 电量 82%",
        "通信中断（Modbus 无应答）",
        "GB 25506-2010 §4.2.2 消防控制室24小时值班",
        "EN",
        "E002 · 1号楼 · 17F",
    ],
)
def test_the_finder_lets_ids_codes_and_units_through(fragment: str) -> None:
    assert chinese_leaks("p", fragment) == []


def test_the_english_finder_keeps_names_and_flags_sentences() -> None:
    names = ["锦绣华庭", "2号楼 24层 2402室"]
    assert (
        english_leaks("p", "Smoke detector SD-E001-0014 (锦绣华庭, 2号楼 24层 2402室): device fault", names)
        == []
    )
    assert english_leaks("p", "Reported by 系统", names)
    assert english_leaks("p", "烟感探测器 1/20 台故障，在容许范围内", names)


def test_history_lines_are_rebuilt_from_the_record_in_both_languages() -> None:
    line = transition_text(
        "escalate",
        "overdue by 3 d 4 h; escalated to the street (escalation #1)",
        {"level": "street", "why": "overdue", "escalation": 1},
    )
    assert line == {
        "zh": "逾期 3 天 4 小时；升级至街道办督办（第 1 次）",
        "en": "overdue by 3 d 4 h; escalated to the street office (escalation #1)",
    }
    line = transition_text("report", "device rule evacuation_blocked became active", {})
    assert line["zh"] == "设备规则触发：疏散通道或楼梯被堵塞"
    line = transition_text(
        "auto_close",
        "device recovered (pressure back to 0.35 MPa) and stayed healthy for 600 s; closed automatically",
        {},
        signal="hydrant_low_pressure",
    )
    assert line["zh"] == "设备恢复正常（水压不足已消除），并持续正常 10 分钟，自动销号"
    line = transition_text("recheck", "楼道仍有堆物", {"outcome": "failed", "reopened_as": 12})
    assert line["zh"] == "楼道仍有堆物；回头看：未通过；已重新立案为隐患 #12"
    assert line["en"] == "楼道仍有堆物; re-check failed; reopened as hazard #12"  # a person's words stay
    assert (
        chinese_leaks("p", transition_text("report", "re-check of hazard #3 failed: 仍有堆物", {})["zh"])
        == []
    )


# -- a gateway in many states --------------------------------------------------------------------------------


@dataclass
class World:
    engine: RuleEngine
    clock: FakeClock
    registry: Registry
    pipeline: Pipeline
    deadletters: DeadLetterStore
    #: What people typed (descriptions, notes, reasons): Chinese that the English page keeps.
    typed: list[str] = field(default_factory=list)
    ids: dict[str, Any] = field(default_factory=dict)

    def device(self, kind: DeviceKind, estate: str, n: int = 0) -> str:
        return [d.id for d in self.registry.devices if d.kind is kind and d.estate_id == estate][n]

    async def send(self, *records: Reading | DeviceEvent) -> None:
        await self.pipeline.submit(list(records), source="test")

    def reading(self, device_id: str, **metrics: Any) -> Reading:
        return Reading(device_id=device_id, time=self.clock(), metrics=metrics)

    def event(self, device_id: str, kind: EventType, **attributes: Any) -> DeviceEvent:
        return DeviceEvent(device_id=device_id, time=self.clock(), type=kind, attributes=attributes)

    async def healthy(self) -> None:
        """Every device reports, all well."""
        await self.healthy_except(set())

    async def later(self, **delta: float) -> None:
        self.clock.advance(**delta)
        await self.healthy_except(self.ids.get("failing", set()))
        self.engine.tick(self.clock())

    async def healthy_except(self, failing: set[str]) -> None:
        records: list[Reading | DeviceEvent] = []
        for d in self.registry.devices:
            if d.id in failing:
                continue
            if d.kind is DeviceKind.HYDRANT:
                records.append(self.reading(d.id, pressure_mpa=0.35, battery_pct=84, temperature_c=22.5))
            elif d.kind is DeviceKind.CAMERA:
                records.append(self.reading(d.id, alive=True))
            else:
                records.append(self.reading(d.id, battery_pct=82, signal_dbm=-85))
        await self.send(*records)

    def person(self, text: str) -> str:
        self.typed.append(text)
        return text

    def names(self) -> list[str]:
        """Names of places, people and companies, and people's words: Chinese an English page keeps."""
        out: list[str] = list(self.typed)
        for e in self.registry.estates:
            out += [e.name, e.district, e.street, e.property_company]
        out += [b.name for b in self.registry.buildings]
        out += [d.location for d in self.registry.devices]
        for party in self.engine.store.parties.all():
            out += [party.name, party.contact, party.phone]
        return [n for n in out if n]


async def drive(world: World) -> None:
    """Through the states a control room sees, each by the engine's own path."""
    w, engine = world, world.engine
    failing: set[str] = set()
    w.ids["failing"] = failing
    await w.healthy()
    # E001: a hydrant without pressure (yellow), a detector at fault, a blocked stairway, a sensor fault.
    hydrant, bad_sensor = w.device(DeviceKind.HYDRANT, "E001", 0), w.device(DeviceKind.HYDRANT, "E001", 1)
    failing |= {hydrant, bad_sensor}
    await w.send(
        w.reading(hydrant, pressure_mpa=0.02, battery_pct=11, temperature_c=21.0),
        w.reading(bad_sensor, pressure_mpa=0.35, sensor_fault=True, battery_pct=70),
        w.event(w.device(DeviceKind.SMOKE_DETECTOR, "E001", 3), EventType.FAULT, code=3),
        w.event(w.device(DeviceKind.CAMERA, "E001", 1), EventType.EVACUATION_BLOCKED, state="start",
                event_id="e-1", object="debris", confidence=0.93),
        w.event(w.device(DeviceKind.CAMERA, "E002", 2), EventType.EBIKE_IN_LIFT, state="start",
                event_id="e-2", object="ebike", confidence=0.88),
    )  # fmt: skip
    await w.later(minutes=6)
    await w.send(
        w.reading(hydrant, pressure_mpa=0.02, battery_pct=11), w.reading(bad_sensor, sensor_fault=True)
    )
    await w.later(minutes=6)
    # E003's hydrant drops and recovers: its hazard closes itself.
    recovering = w.device(DeviceKind.HYDRANT, "E003", 0)
    failing.add(recovering)
    await w.send(w.reading(recovering, pressure_mpa=0.03, battery_pct=90))
    await w.later(minutes=6)
    await w.send(w.reading(recovering, pressure_mpa=0.03, battery_pct=90))
    failing.discard(recovering)
    await w.later(minutes=15)
    await w.later(minutes=15)
    # Alarms: one waiting, one acknowledged, one closed as a false alarm.
    for n in (0, 1, 2):
        await w.send(w.event(w.device(DeviceKind.SMOKE_DETECTOR, "E002", n), EventType.ALARM, smoke=0.45))
    alarms = sorted(engine.store.alarms.find(open_only=True), key=lambda a: a.id)
    engine.alarms.step(alarms[1].id, AlarmAction.ACKNOWLEDGE, actor=USERNAME)
    engine.alarms.step(alarms[2].id, AlarmAction.ACKNOWLEDGE, actor=USERNAME)
    engine.alarms.step(
        alarms[2].id,
        AlarmAction.CLOSE,
        actor=USERNAME,
        outcome=AlarmOutcome.FALSE_ALARM,
        cause=FalseAlarmCause.COOKING_SMOKE,
        note=w.person("住户做饭油烟"),
    )
    # People's hazards: one through the whole loop and re-checked (failed: reopened), one overdue and
    # escalated, a red item escalated at once.
    hazards = engine.hazards
    loop = hazards.file(
        estate_id="E003", criterion="Y9", location=w.person("2号楼 车棚"),
        description=w.person("电动自行车飞线充电"), reporter=w.person("网格员 李"),
    ).id  # fmt: skip
    party = engine.store.parties.serving("E003")[0].id
    hazards.step(loop, HazardAction.DISPATCH, actor=USERNAME, reason=w.person("请物业处理"), party_id=party)
    hazards.step(loop, HazardAction.START, actor=USERNAME, deadline=w.clock() + timedelta(days=3))
    hazards.step(loop, HazardAction.RECTIFIED, actor=USERNAME, evidence=w.person("已拆除飞线"))
    hazards.step(loop, HazardAction.VERIFY, actor=USERNAME)
    late = hazards.file(
        estate_id="E002", criterion="Y7", location=w.person("1号楼 楼梯间"),
        description=w.person("楼梯间堆放杂物"), reporter=w.person("巡查员 王"),
    ).id  # fmt: skip
    hazards.step(
        late, HazardAction.DISPATCH, actor=USERNAME, party_id=engine.store.parties.serving("E002")[0].id
    )
    hazards.step(late, HazardAction.START, actor=USERNAME, deadline=w.clock() + timedelta(hours=1))
    w.ids["red"] = hazards.file(
        estate_id="E004", criterion="R4", location=w.person("地下室"),
        description=w.person("地下室堆放大量纸箱"), reporter=w.person("巡查员 王"),
    ).id  # fmt: skip
    engine.incidents.add_complaint(
        estate_id="E002", received_at=w.clock(), channel="12345",
        description=w.person("楼道堆物无人管"), reporter=w.person("住户"),
    )  # fmt: skip
    engine.windows.declare(
        estate_id="E003", device_id=w.device(DeviceKind.SMOKE_DETECTOR, "E003", 0), starts_at=w.clock(),
        ends_at=w.clock() + timedelta(hours=4), reason=w.person("月度测试"), declared_by=USERNAME,
    )  # fmt: skip
    w.deadletters.add(
        source="modbus", reason="modbus_timeout", detail="unit 1 at 127.0.0.1:5020: no answer within 0.5 s",
        device_id=w.device(DeviceKind.HYDRANT, "E002", 1),
    )  # fmt: skip
    # Days pass: the deadline is missed (escalated), the re-check comes due and fails.
    for _ in range(31):
        await w.later(days=1)
    hazards.escalate(w.clock())
    hazards.recheck(loop, RecheckOutcome.FAILED, actor=USERNAME, reason=w.person("又发现飞线充电"))
    w.ids.update(loop=loop, late=late, recovering=recovering, tolerant="E001")  # 1 of 20 detectors at fault


@contextlib.asynccontextmanager
async def served_world(tmp_path: Path) -> AsyncIterator[tuple[World, str]]:
    registry = generate_fleet(
        estates=4, smoke_per_estate=20, hydrants_per_estate=2, cameras_per_estate=3, modbus_share=0.0, seed=7
    )
    clock = FakeClock()
    store = HazardStore(f"sqlite:///{tmp_path / 'hazards.sqlite'}")
    engine = RuleEngine(registry, load_policy(), store, clock=clock)
    assess(engine, ["E001", "E002", "E003"])  # E004: never assessed (未评定)
    auth = AuthService(AuthStore(engine.store.engine))
    auth.store.create_user(
        username=USERNAME,
        role="brigade",
        password=PASSWORD,
        now=clock(),
        display_name="值班员 王",
        admin=True,
    )
    telemetry = tmp_path / "t.sqlite"
    deadletters = DeadLetterStore(tmp_path / "dl.sqlite")
    pipeline = Pipeline(registry, SqliteSink(telemetry), deadletters, rules=engine, clock=clock)
    world = World(engine, clock, registry, pipeline, deadletters, typed=[DUTY, "街道办 王科员 (test)"])
    await drive(world)
    async with served(engine, auth, tmp_path, pipeline=pipeline, telemetry=SqliteReader(telemetry)) as base:
        yield world, base


async def pages_to_walk(base: str, world: World) -> list[str]:
    """Every page, and the device and hazard pages of each kind and state."""
    engine = world.engine
    pages = ["#/", "#/alarms", "#/hazards", "#/hazards?open=false", "#/todo", "#/reports", "#/quarterly",
             "#/handover", "#/parties", "#/lockouts"]  # fmt: skip
    async with httpx.AsyncClient(base_url=base) as http:
        if (await http.get("/static/overview.js")).status_code == 200:
            pages.append("#/overview")
    pages += [f"#/estate/{e.id}" for e in world.registry.estates]
    for kind in DeviceKind:
        pages += [f"#/device/{d}" for d in {world.device(kind, "E001", 0), world.device(kind, "E001", 1)}]
    pages.append(f"#/device/{world.device(DeviceKind.HYDRANT, 'E002', 1)}")  # rejected payloads
    # One hazard of each state, source and fate: escalated, closed automatically, re-checked, reopened.
    states: dict[tuple[str, str, bool, str, bool], int] = {}
    for h in engine.store.hazards.find(limit=500):
        fate = (h.state.value, h.source, h.escalations > 0, h.close_kind or "", h.reopened_from is not None)
        states.setdefault(fate, h.id)
    wanted = {*states.values(), world.ids["loop"], world.ids["late"], world.ids["red"]}
    pages += [f"#/hazard/{i}" for i in sorted(wanted)]
    pages += [f"#/parties/{p.id}" for p in engine.store.parties.all()[:1]]
    return pages


async def show(page: Page, base: str, hash_: str) -> None:
    """Go to a page of the single-page UI and wait until it has drawn itself (a hash change reloads nothing:
    the old view is marked, and gone once the router drew the new one)."""
    await page.evaluate(
        "() => { const v = document.querySelector('#view > *'); if (v) v.dataset.walked = '1'; }"
    )
    if page.url == f"{base}/{hash_}":
        await page.reload()
    else:
        await page.goto(f"{base}/{hash_}")
    await page.wait_for_function("() => !document.querySelector('#view > [data-walked]')", timeout=10_000)
    await page.wait_for_load_state("networkidle")
    await page.wait_for_timeout(300)  # sections that load after the page (postings, charts)


async def walk(page: Page, base: str, pages: list[str]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for hash_ in pages:
        await show(page, base, hash_)
        texts[hash_] = await page.evaluate(VISIBLE_TEXT)
    return texts


async def test_every_page_reads_in_chinese_and_in_english(tmp_path: Path) -> None:
    async with served_world(tmp_path) as (world, base), async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        errors: list[str] = []
        try:
            page = await signed_in(browser, base, USERNAME, PASSWORD, errors)
            await page.set_viewport_size({"width": 1920, "height": 1080})
            pages = await pages_to_walk(base, world)
            allowed_latin = [USERNAME, *world.typed]
            zh = await walk(page, base, pages)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a local folder, once
            await show(page, base, f"#/hazard/{world.ids['late']}")
            await page.screenshot(path=str(SCREENSHOTS / "30-language-hazard-zh.png"), full_page=True)
            await show(page, base, f"#/device/{world.device(DeviceKind.HYDRANT, 'E001', 0)}")
            await page.screenshot(path=str(SCREENSHOTS / "31-language-device-zh.png"), full_page=True)

            await page.locator("#lang-toggle").click()
            await expect(page.locator("html")).to_have_attribute("lang", "en")
            en = await walk(page, base, pages)
            await show(page, base, f"#/hazard/{world.ids['late']}")
            await page.screenshot(path=str(SCREENSHOTS / "32-language-hazard-en.png"), full_page=True)
            await show(page, base, f"#/estate/{world.ids['tolerant']}")
            await page.screenshot(path=str(SCREENSHOTS / "33-language-estate-en.png"), full_page=True)
        finally:
            await browser.close()
    zh_leaks = [leak for p, text in zh.items() for leak in chinese_leaks(p, text, allowed_latin)]
    names = world.names()
    en_leaks = [leak for p, text in en.items() for leak in english_leaks(p, text, names)]
    print(f"{len(zh_leaks)} Chinese-page leaks, {len(en_leaks)} English-page leaks on {len(pages)} pages")
    assert errors == []
    leaks = [f"{len(zh_leaks)} fragments leak into the Chinese UI:", *map(str, zh_leaks)]
    leaks += [f"{len(en_leaks)} fragments are left in Chinese in English:", *map(str, en_leaks)]
    assert len(zh_leaks) + len(en_leaks) == 0, "\n".join(leaks)
