"""The placard (公示牌) and the monthly report: built from a real store that the rule engine filled on a fake
clock, then read back the way a person would get them (pypdf for PDFs, Pillow for PNGs, openpyxl for XLSX,
csv for CSV), over the command line and over HTTP with an estate scope.

The scenario runs from October into December 2026 (Asia/Shanghai) so that November's figures must be "as at
the end of the month": an October hazard still open, and December steps (a verification, a rectification, a
new red item) that must not change November's numbers.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from clock import FakeClock
from openpyxl import load_workbook
from PIL import Image
from pypdf import PdfReader

from gateway.api import ApiServices, create_app
from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.cli import main
from gateway.deadletter import DeadLetterStore
from gateway.models import Device, DeviceEvent, DeviceKind, EventType, Reading, Record
from gateway.pipeline import Pipeline
from gateway.registry import Registry, registry_to_toml
from gateway.reports import fonts
from gateway.reports.monthly import MonthlyReport, build_monthly_report, percentile
from gateway.reports.monthly_output import SHEETS, render_csv, render_pdf, render_xlsx
from gateway.reports.placard import (
    COLOUR_RGB,
    PNG_SIZE,
    build_placard,
    colour_field_px,
    render_placard_pdf,
    render_placard_png,
)
from gateway.rules_engine import RuleEngine
from gateway.sinks.sqlite import SqliteSink
from gateway.store import HazardStore
from rules.lifecycle import AlarmAction, AlarmOutcome, HazardAction
from rules.policy import Policy, load_policy
from simulators.fleet import generate_fleet

SHANGHAI = timedelta(hours=8)


def local(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A Beijing-time wall clock moment as aware UTC."""
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC) - SHANGHAI


ESTATES = {
    "E001": ("锦绣花园", "锦江区", "春熙路街道", "锦绣物业"),
    "E002": ("望江苑", "锦江区", "合江亭街道", "安居物业"),
    "E003": ("青羊小区", "青羊区", "草市街道", "锦绣物业"),
}


def make_registry() -> Registry:
    fleet = generate_fleet(
        estates=3, smoke_per_estate=10, hydrants_per_estate=2, cameras_per_estate=1, modbus_share=0.0, seed=5
    )
    estates = tuple(
        e.model_copy(
            update=dict(zip(("name", "district", "street", "property_company"), ESTATES[e.id], strict=True))
        )
        for e in fleet.estates
    )
    return Registry(estates=estates, buildings=fleet.buildings, devices=fleet.devices)


@dataclass
class Scenario:
    registry: Registry
    policy: Policy
    engine: RuleEngine
    clock: FakeClock
    store_path: Path
    config: Path
    failing_hydrant: str

    @property
    def store(self) -> HazardStore:
        return self.engine.store


class Driver:
    """Moves the fake clock, keeps devices reporting, and files/steps things through the engine."""

    def __init__(self, engine: RuleEngine, clock: FakeClock, registry: Registry) -> None:
        self.engine, self.clock, self.registry = engine, clock, registry
        self.hydrant_pressure: dict[str, float] = {}

    def at(self, moment: datetime) -> None:
        assert moment >= self.clock.now
        self.clock.now = moment
        items: list[tuple[Device, Record]] = []
        for device in self.registry.devices:
            metrics: dict[str, Any] = {"battery_pct": 90.0}
            if device.kind is DeviceKind.HYDRANT:
                metrics["pressure_mpa"] = self.hydrant_pressure.get(device.id, 0.35)
            items.append((device, Reading(device_id=device.id, time=moment, metrics=metrics)))
        self.engine.on_records(items, moment)
        self.engine.tick(moment)

    def file(self, estate: str, criterion: str) -> int:
        hazard = self.engine.file_hazard(
            estate_id=estate,
            criterion=criterion,
            location="2号楼",
            description=f"{criterion} 巡查发现",
            reporter="网格员 李",
            now=self.clock.now,
        )
        return hazard.id

    def step(self, hazard_id: int, action: HazardAction, **extra: Any) -> None:
        self.engine.step_hazard(hazard_id, action, actor="物业 王", now=self.clock.now, **extra)

    def alarm(self, device: Device, steps: list[tuple[str, float]], outcome: AlarmOutcome) -> None:
        raised = self.clock.now
        self.engine.on_records(
            [(device, DeviceEvent(device_id=device.id, time=raised, type=EventType.ALARM))], raised
        )
        alarm_id = self.engine.store.alarms(device_id=device.id, open_only=True)[0].id
        for action, after in steps:
            self.engine.step_alarm(
                alarm_id,
                AlarmAction(action),
                actor="控制室 张",
                outcome=outcome if action == "close" else None,
                now=raised + timedelta(seconds=after),
            )


def run_scenario(root: Path) -> Scenario:
    registry = make_registry()
    policy = load_policy()
    data = root / "data"
    data.mkdir()
    store_path = data / "hazards.sqlite"
    clock = FakeClock(local(10, 20, 9))
    engine = RuleEngine(registry, policy, HazardStore(f"sqlite:///{store_path}"), clock=clock)
    d = Driver(engine, clock, registry)
    smoke = {
        e: [x for x in registry.devices if x.estate_id == e and x.kind is DeviceKind.SMOKE_DETECTOR]
        for e in ESTATES
    }
    hydrant = next(x for x in registry.devices if x.estate_id == "E002" and x.kind is DeviceKind.HYDRANT)

    # October: a hazard that is still open all through November (not found in November).
    d.at(local(10, 20, 10))
    d.file("E003", "Y11")

    # November.
    d.at(local(11, 2, 9))
    r4 = d.file("E001", "R4")  # red; rectified and verified on the 5th
    d.step(r4, HazardAction.DISPATCH, responsible="锦绣物业")
    d.step(r4, HazardAction.START)
    d.at(local(11, 3, 14))
    y9 = d.file("E001", "Y9")  # open at the end of the month, deadline in December
    d.step(y9, HazardAction.DISPATCH, responsible="锦绣物业")
    d.step(y9, HazardAction.START)
    d.at(local(11, 4, 10))
    y3 = d.file("E001", "Y3")  # withdrawn: a duplicate
    d.step(y3, HazardAction.CLOSE, reason="duplicate of an earlier report")
    d.at(local(11, 5, 16))
    d.step(r4, HazardAction.RECTIFIED, evidence="photo")
    d.step(r4, HazardAction.VERIFY)
    d.at(local(11, 6, 11))
    g7 = d.file("E002", "G7")  # overdue at the end of the month
    d.step(g7, HazardAction.DISPATCH, responsible="安居物业")
    d.step(g7, HazardAction.START, deadline=local(11, 10, 18))
    d.at(local(11, 7, 8))
    engine.add_complaint(
        estate_id="E002",
        received_at=clock.now,
        channel="12345",
        description="楼道堆物",
        reporter="居民",
        now=clock.now,
    )
    d.at(local(11, 8, 3))
    d.alarm(
        smoke["E001"][0],
        [("acknowledge", 40), ("dispatch", 60), ("on_scene", 150), ("close", 250)],
        AlarmOutcome.FALSE_ALARM,
    )
    # A hydrant of E002 loses pressure on the 10th and gets it back on the 12th: 3 failed device-days.
    d.at(local(11, 10, 8, 30))
    d.hydrant_pressure[hydrant.id] = 0.02
    d.at(local(11, 10, 9))
    d.at(local(11, 10, 9, 6))
    d.at(local(11, 10, 9, 7))
    d.at(local(11, 12, 9))
    d.hydrant_pressure[hydrant.id] = 0.35
    d.at(local(11, 12, 9, 1))
    d.at(local(11, 12, 9, 12))
    d.at(local(11, 12, 20))
    d.alarm(
        smoke["E002"][0],
        [("acknowledge", 90), ("dispatch", 100), ("on_scene", 400), ("close", 500)],
        AlarmOutcome.REAL_FIRE,
    )
    d.at(local(11, 14, 10))
    d.alarm(smoke["E001"][1], [("acknowledge", 10), ("close", 20)], AlarmOutcome.TEST)
    d.at(local(11, 15, 21))
    engine.add_complaint(
        estate_id="E003",
        received_at=clock.now,
        channel="12345",
        description="消防通道停车",
        reporter="居民",
        now=clock.now,
    )
    d.at(local(11, 18, 22))
    d.alarm(smoke["E003"][0], [("acknowledge", 30), ("close", 200)], AlarmOutcome.FALSE_ALARM)
    d.at(local(11, 20, 15))
    y1 = d.file("E003", "Y1")  # rectified, waiting for the inspector at the end of the month
    d.step(y1, HazardAction.DISPATCH, responsible="锦绣物业")
    d.step(y1, HazardAction.START)
    d.step(y1, HazardAction.RECTIFIED, evidence="photo")

    # December: none of this may change November's figures.
    d.at(local(12, 2, 10))
    d.step(y1, HazardAction.VERIFY)
    d.step(g7, HazardAction.RECTIFIED, evidence="photo")
    d.at(local(12, 3, 9, 30))
    d.file("E001", "R3")  # E001 is red now

    registry_file = root / "registry.toml"
    registry_file.write_text(registry_to_toml(registry), encoding="utf-8")
    config = root / "gateway.toml"
    config.write_text(
        '[gateway]\nregistry = "registry.toml"\ndata_dir = "data"\n'
        '[reports]\nhotline = "119 / 12345 / 88886666"\n',
        encoding="utf-8",
    )
    return Scenario(registry, policy, engine, clock, store_path, config, hydrant.id)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    s = run_scenario(tmp_path_factory.mktemp("reports"))
    yield s
    s.engine.store.close()


@pytest.fixture(scope="module")
def november(scenario: Scenario) -> MonthlyReport:
    return build_monthly_report(
        scenario.store, scenario.registry, scenario.policy, month="2026-11", now=scenario.clock.now
    )


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


# -- the figures -------------------------------------------------------------------------------------------


def test_november_figures_as_at_the_end_of_the_month(november: MonthlyReport) -> None:
    r = november
    assert [e.estate_id for e in r.estates] == ["E001", "E002", "E003"]
    # Found in November: R4, Y9, Y3 (withdrawn), G7, the hydrant's device hazard, Y1. Not the October Y11.
    assert r.hazards_opened == 6
    assert r.hazards_by_source == {"manual": 5, "device": 1}
    assert r.withdrawn == 1
    assert r.rectified == 2  # R4 verified, the hydrant closed itself when pressure returned
    assert r.rectification_rate == pytest.approx(2 / 5)
    # Open at the end: Y9, G7 (overdue: deadline 11-10, rectified only in December), Y1 (awaiting the
    # inspector; verified in December), and October's Y11.
    assert r.open_at_end == 4
    assert r.overdue_at_end == 1
    assert r.awaiting_verification_at_end == 1
    assert r.closed_in_month == 2
    by_code = {c.code: c for c in r.by_criterion}
    assert [c.code for c in r.by_criterion] == ["R4", "Y1", "Y3", "Y9", "Y10", "G7"]
    assert (by_code["R4"].opened, by_code["R4"].rectified, by_code["R4"].open_at_end) == (1, 1, 0)
    assert by_code["Y3"].withdrawn == 1
    assert by_code["Y10"].rectified == 1
    assert by_code["Y10"].zh.startswith("未按照国家标准")
    hours = {h: n for h, n in enumerate(r.hazards_by_hour) if n}
    assert hours == {9: 2, 10: 1, 11: 1, 14: 1, 15: 1}
    e001, e002, e003 = r.estates
    assert (e001.opened, e001.rectified, e001.withdrawn, e001.rectification_rate) == (3, 1, 1, 0.5)
    assert (e002.opened, e002.rectified, e002.overdue_at_end) == (2, 1, 1)
    assert e003.opened == 1
    assert e003.rectification_rate == 0.0
    assert e003.open_at_end == 2


def test_facility_intact_rate_counts_device_days(november: MonthlyReport, scenario: Scenario) -> None:
    r = november
    # 3 estates x (10 smoke detectors + 2 hydrants) x 30 days; the hydrant failed on the 10th, 11th and 12th.
    assert r.device_days == 36 * 30
    assert r.failed_device_days == 3
    assert r.intact_rate == pytest.approx(1077 / 1080)
    kinds = {k.kind: k for k in r.intact_by_kind}
    assert kinds["hydrant"].failed_device_days == 3
    assert kinds["hydrant"].device_days == 6 * 30
    assert kinds["smoke_detector"].intact_rate == 1.0
    e002 = r.estates[1]
    assert (e002.device_days, e002.failed_device_days) == (360, 3)


def test_alarm_response_times_against_the_targets(november: MonthlyReport) -> None:
    r = november
    assert r.alarms == 4
    assert r.alarm_outcomes == {"false_alarm": 2, "real_fire": 1, "test": 1}
    steps = {s.step: s for s in r.steps}
    ack = steps["ack"]  # the test alarm is left out: 40, 90, 30 s
    assert (ack.eligible, ack.reached, ack.within) == (3, 3, 2)
    assert ack.p50_s == 40
    assert ack.p90_s == pytest.approx(80)
    on_scene = steps["on_scene"]  # only the two dispatched alarms: 150, 400 s
    assert (on_scene.eligible, on_scene.within, on_scene.share_within) == (2, 1, 0.5)
    close = steps["close"]  # 250, 500, 200 s
    assert (close.eligible, close.within) == (3, 2)
    assert close.p50_s == 250
    assert sum(r.alarms_by_hour) == 4
    assert r.alarms_by_hour[3] == 1
    assert r.alarms_by_hour[20] == 1
    assert (r.complaints, r.fires) == (2, 1)
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0


def test_grade_changes_in_the_month(november: MonthlyReport) -> None:
    r = november
    changes = [(g.estate_id, g.previous, g.colour) for g in r.grade_changes]
    assert changes == [
        ("E001", "green", "red"),
        ("E001", "red", "green"),
        ("E002", "green", "yellow"),
        ("E003", "green", "yellow"),  # Y11 (October), Y14 (complaint), Y1: three yellow items
    ]
    assert r.grade_changes[0].at.hour == 9
    assert "R4" in r.grade_changes[0].reasons
    assert r.grades_at_end == {"green": 1, "yellow": 2}
    assert [(e.grade_start, e.grade_end, e.grade_changes) for e in r.estates] == [
        ("green", "green", 2),
        ("green", "yellow", 1),
        ("green", "yellow", 1),
    ]


def test_a_district_or_a_company_and_the_callers_scope_choose_the_estates(scenario: Scenario) -> None:
    def report(**kw: Any) -> MonthlyReport:
        return build_monthly_report(
            scenario.store, scenario.registry, scenario.policy, month="2026-11", now=scenario.clock.now, **kw
        )

    assert [e.estate_id for e in report(district="锦江区").estates] == ["E001", "E002"]
    by_company = report(company="锦绣物业")
    assert [e.estate_id for e in by_company.estates] == ["E001", "E003"]
    assert by_company.scope_zh == "锦绣物业"
    assert by_company.hazards_opened == 4
    assert by_company.device_days == 24 * 30
    assert [e.estate_id for e in report(district="锦江区", company="锦绣物业").estates] == ["E001"]
    scoped = report(allowed=lambda e: e == "E002")
    assert [e.estate_id for e in scoped.estates] == ["E002"]
    assert scoped.alarms == 1
    with pytest.raises(ValueError, match=r"districts: 锦江区$"):
        report(district="青羊区", allowed=lambda e: e != "E003")  # names only districts in scope
    with pytest.raises(ValueError, match="YYYY-MM"):
        build_monthly_report(
            scenario.store, scenario.registry, scenario.policy, month="2026-13", now=scenario.clock.now
        )
    # The month in progress: device-days only up to now.
    partial = build_monthly_report(
        scenario.store, scenario.registry, scenario.policy, month="2026-12", now=local(12, 3, 12)
    )
    assert partial.device_days == 36 * 3
    assert partial.cutoff.day == 3


# -- the outputs ---------------------------------------------------------------------------------------------


def test_report_pdf_has_the_figures_and_charts(november: MonthlyReport) -> None:
    data = render_pdf(november)
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    assert "全部小区 消防安全月报（2026年11月）" in text
    assert "隐患整改率" in text
    assert "40.0%" in text
    assert "设施完好率" in text
    assert "99.7%" in text
    assert "66.7%" in text  # acknowledged within a minute
    for name in ("锦绣花园", "望江苑", "青羊小区"):
        assert name in text
    assert "未按照国家标准" in text  # Y10's text in the by-criterion table
    assert "口径说明" in text
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 2
    fonts_used = {
        str(f["/BaseFont"]) for page in reader.pages for f in (page["/Resources"].get("/Font") or {}).values()
    }
    assert any("WenQuanYi" in f or "wqy" in f.lower() for f in fonts_used), fonts_used


def test_report_xlsx_has_the_sheets_and_numbers(november: MonthlyReport) -> None:
    wb = load_workbook(io.BytesIO(render_xlsx(november)))
    assert wb.sheetnames == list(SHEETS)
    summary = {row[0]: row[2] for row in wb["概要 Summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["hazards_opened"] == 6
    assert summary["rectification_rate"] == pytest.approx(0.4)
    assert summary["intact_rate"] == pytest.approx(1077 / 1080)
    estates = list(wb["按小区 By estate"].iter_rows(min_row=2, values_only=True))
    assert [(row[0], row[1], row[5], row[8]) for row in estates] == [
        ("E001", "锦绣花园", 3, 0.5),
        ("E002", "望江苑", 2, 0.5),
        ("E003", "青羊小区", 1, 0.0),
    ]
    hours = list(wb["按时段 By hour"].iter_rows(min_row=2, values_only=True))
    assert len(hours) == 24
    assert hours[9][1] == 2
    assert hours[20][2] == 1
    alarms = list(wb["接警响应 Alarms"].iter_rows(min_row=2, max_row=4, values_only=True))
    assert [row[0] for row in alarms] == ["接警响应", "到场", "处置完毕"]
    assert alarms[1][6] == 0.5
    grades = list(wb["评级变化 Grades"].iter_rows(min_row=2, values_only=True))
    assert [(row[1], row[3], row[4]) for row in grades][:2] == [
        ("E001", "绿色", "红色"),
        ("E001", "红色", "绿色"),
    ]


def test_report_csv_parses(november: MonthlyReport) -> None:
    text = render_csv(november).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert set(rows[0]) == {"section", "key", "name", "metric", "value"}
    summary = {r["metric"]: r["value"] for r in rows if r["section"] == "summary"}
    assert float(summary["rectification_rate"]) == pytest.approx(0.4)
    assert summary["hazards_opened"] == "6"
    per_estate = {(r["key"], r["metric"]): r["value"] for r in rows if r["section"] == "by_estate"}
    assert per_estate[("E002", "failed_device_days")] == "3"
    assert Counter(r["section"] for r in rows)["by_hour"] == 48
    assert next(r["value"] for r in rows if r["section"] == "grade_changes") == "green->red"


def test_placard_pdf_and_png_of_a_red_estate(scenario: Scenario) -> None:
    estate = scenario.registry.estate("E001")
    latest = scenario.store.grade_history("E001", limit=1)[0]
    data = build_placard(estate, latest, scenario.policy, hotline="119 / 12345", now=local(12, 4, 9))
    assert (data.colour, data.graded_on.isoformat() if data.graded_on else None) == ("red", "2026-12-03")
    assert [r.code for r in data.reasons] == ["R3", "Y9"]
    text = pdf_text(render_placard_pdf(data))
    for expected in (
        "锦绣花园",
        "红色",
        "高风险",
        "2026-12-03",
        "2026-12-04",
        "锦绣物业",
        "119 / 12345",
        "R3",
    ):
        assert expected in text, expected
    assert "违规设置生产、储存、经营易燃易爆危险品" in text
    assert "住宅小区消防安全分色预警判定标准" in text

    image = Image.open(io.BytesIO(render_placard_png(data)))
    assert image.size == PNG_SIZE
    assert image.format == "PNG"
    field = image.convert("RGB").crop(colour_field_px(image.size))
    (count, dominant), *_ = sorted(field.getcolors(maxcolors=1 << 20) or [], reverse=True)
    assert dominant == COLOUR_RGB["red"]
    assert count > 0.6 * field.width * field.height


def test_placard_of_an_estate_without_a_grade_is_grey(scenario: Scenario) -> None:
    data = build_placard(
        scenario.registry.estate("E002"), None, scenario.policy, hotline="119", now=local(12, 4, 9)
    )
    assert (data.colour, data.colour_zh, data.graded_on) == ("unknown", "暂无评定", None)
    image = Image.open(io.BytesIO(render_placard_png(data))).convert("RGB")
    field = image.crop(colour_field_px(image.size))
    (_, dominant), *_ = sorted(field.getcolors(maxcolors=1 << 20) or [], reverse=True)
    assert dominant == COLOUR_RGB["unknown"]
    assert "暂无评定" in pdf_text(render_placard_pdf(data))


def test_fonts_fall_back_to_the_cid_font_for_pdf_and_fail_clearly_for_png(
    monkeypatch: pytest.MonkeyPatch, scenario: Scenario, tmp_path: Path
) -> None:
    monkeypatch.setattr(fonts, "KNOWN_FONTS", ())
    monkeypatch.setattr(fonts, "_fontconfig_candidates", list)
    assert fonts.pdf_font() == fonts.CID_FALLBACK
    data = build_placard(
        scenario.registry.estate("E003"), None, scenario.policy, hotline="119", now=local(12, 4, 9)
    )
    pdf = render_placard_pdf(data)
    assert "/STSong-Light" in {
        str(f["/BaseFont"]) for f in PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]["/Font"].values()
    }
    with pytest.raises(fonts.FontMissing, match="apt-get install fonts-wqy-zenhei"):
        render_placard_png(data)
    with pytest.raises(fonts.FontMissing, match="does not exist"):
        fonts.pil_font_file(tmp_path / "nope.ttc")
    assert fonts.parse_font_setting("/x/NotoSansCJK.ttc#2") == fonts.FontFile(Path("/x/NotoSansCJK.ttc"), 2)


# -- the command line ---------------------------------------------------------------------------------------


def test_cli_placard_and_report(
    scenario: Scenario, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "placard.png"
    assert main(["placard", "E001", "--config", str(scenario.config), "-o", str(png)]) == 0
    assert Image.open(png).size == PNG_SIZE
    pdf = tmp_path / "placard.pdf"
    assert main(["placard", "望江苑", "--config", str(scenario.config), "-o", str(pdf)]) == 0
    text = pdf_text(pdf.read_bytes())
    assert "望江苑" in text
    assert "119 / 12345 / 88886666" in text
    assert main(["placard", "E999", "--config", str(scenario.config)]) == 2
    assert "no estate 'E999'" in capsys.readouterr().err

    xlsx = tmp_path / "r.xlsx"
    args = ["report", "--month", "2026-11", "--config", str(scenario.config)]
    assert main([*args, "--district", "锦江区", "-o", str(xlsx)]) == 0
    estates = list(load_workbook(xlsx)["按小区 By estate"].iter_rows(min_row=2, values_only=True))
    assert [row[0] for row in estates] == ["E001", "E002"]
    out = tmp_path / "r.csv"
    assert main([*args, "--company", "锦绣物业", "--format", "csv", "-o", str(out)]) == 0
    assert {
        r["key"]
        for r in csv.DictReader(io.StringIO(out.read_text("utf-8-sig")))
        if r["section"] == "by_estate"
    } == {
        "E001",
        "E003",
    }
    assert main([*args, "--district", "武侯区"]) == 2
    assert "districts: 锦江区, 青羊区" in capsys.readouterr().err


# -- HTTP ----------------------------------------------------------------------------------------------------


@dataclass
class Http:
    client: httpx.AsyncClient
    tokens: dict[str, str]

    async def get(self, who: str | None, path: str, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return await self.client.get(path, params=params, headers=headers)


@pytest.fixture
async def http(scenario: Scenario, tmp_path: Path) -> AsyncIterator[Http]:
    """The API with accounts on: a property company (锦绣物业: E001, E003), a street office of 锦江区
    (E001, E002) and the fire brigade (everything), each with an API token."""
    auth = AuthService(AuthStore(scenario.store.engine), clock=scenario.clock)
    accounts = {
        "jinxiu": {"role": "property", "company": "锦绣物业"},
        "jinjiang": {"role": "office", "district": "锦江区"},
        "brigade": {"role": "brigade"},
    }
    tokens = {}
    for username, kw in accounts.items():
        auth.store.ensure_user(username=username, password=None, now=scenario.clock.now, **kw)
        tokens[username] = auth.create_token(username)[1]
    deadletters = DeadLetterStore(tmp_path / "dl.sqlite")
    pipeline = Pipeline(
        scenario.registry, SqliteSink(tmp_path / "t.sqlite"), deadletters, clock=scenario.clock
    )
    app = create_app(
        ApiServices(scenario.registry, pipeline, scenario.engine, deadletters, scenario.clock, auth=auth)
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield Http(client, tokens)
    deadletters.close()


async def test_http_placard_in_scope_and_404_outside(http: Http) -> None:
    pdf = await http.get("jinxiu", "/api/estates/E001/placard.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert "placard-E001.pdf" in pdf.headers["content-disposition"]
    assert "锦绣花园" in pdf_text(pdf.content)
    png = await http.get("jinxiu", "/api/estates/E003/placard.png")
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == PNG_SIZE
    # Another company's estate is "not found", exactly like an estate that does not exist.
    details = set()
    for path in (
        "/api/estates/E002/placard.pdf",
        "/api/estates/E002/placard.png",
        "/api/estates/E404/placard.pdf",
    ):
        response = await http.get("jinxiu", path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
        details.add(response.json()["detail"].replace("E002", "E___").replace("E404", "E___"))
    assert len(details) == 1, details
    assert (await http.get("jinjiang", "/api/estates/E002/placard.png")).status_code == 200
    assert (await http.get("jinjiang", "/api/estates/E003/placard.pdf")).status_code == 404
    assert (await http.get(None, "/api/estates/E001/placard.pdf")).status_code == 401


def by_estate(response: httpx.Response) -> set[str]:
    rows = csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))
    return {r["key"] for r in rows if r["section"] == "by_estate"}


async def test_http_monthly_report_formats_and_scope(http: Http) -> None:
    types = {
        "pdf": "application/pdf",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "csv": "text/csv; charset=utf-8",
    }
    for fmt, media_type in types.items():
        response = await http.get("jinxiu", "/api/reports/monthly", month="2026-11", format=fmt)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == media_type
        assert response.headers["content-disposition"].startswith(
            f'attachment; filename="report-2026-11.{fmt}"'
        )
    assert by_estate(response) == {"E001", "E003"}, "only the company's own estates"
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    summary = {r["metric"]: r["value"] for r in rows if r["section"] == "summary"}
    assert summary["hazards_opened"] == "4"
    assert summary["alarms"] == "3"

    # A district filter within the scope; the same district's other company's estate stays out.
    jinjiang = await http.get(
        "jinxiu", "/api/reports/monthly", month="2026-11", district="锦江区", format="csv"
    )
    assert by_estate(jinjiang) == {"E001"}
    office = await http.get("jinjiang", "/api/reports/monthly", month="2026-11", format="csv")
    assert by_estate(office) == {"E001", "E002"}
    everything = await http.get("brigade", "/api/reports/monthly", month="2026-11", format="csv")
    assert by_estate(everything) == {"E001", "E002", "E003"}

    # Asking for what is outside the scope is "not found", and names only what the caller may see.
    outside = await http.get("jinxiu", "/api/reports/monthly", month="2026-11", company="安居物业")
    assert outside.status_code == 404
    assert "安居物业" not in outside.json()["detail"].split(";")[1]
    assert (
        await http.get("jinjiang", "/api/reports/monthly", month="2026-11", district="青羊区")
    ).status_code == 404
    bad = await http.get("brigade", "/api/reports/monthly", month="2026-13")
    assert bad.status_code == 422
    future = await http.get("brigade", "/api/reports/monthly", month="2027-01")
    assert future.status_code == 422
    assert "not started" in future.json()["detail"]
    assert (await http.get(None, "/api/reports/monthly", month="2026-11")).status_code == 401
