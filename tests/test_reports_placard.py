"""The placard (公示牌, ``gateway.reports.placard``) of a graded, an ungraded, a not assessed and an unknown
estate, read back with pypdf and Pillow."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import cast

from clock import FakeClock
from PIL import Image
from reports_scenario import Scenario, local, make_registry, pdf_text

from gateway.casework.engine import RuleEngine
from gateway.reports.colours import COLOUR_RGB
from gateway.reports.placard import (
    CATEGORY_RGB,
    PNG_SIZE,
    build_placard,
    colour_field_px,
    placard_for,
    render_placard_pdf,
    render_placard_png,
)
from gateway.store import HazardStore
from rules.policy import load_policy

pytest_plugins = ["reports_fixtures"]


def test_placard_pdf_and_png_of_a_red_estate(scenario: Scenario) -> None:
    estate = scenario.registry.estate("E001")
    latest = scenario.store.grades.history("E001", limit=1)[0]
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


RGB = tuple[int, int, int]


def _colours(image: Image.Image) -> list[tuple[int, RGB]]:
    """(count, colour) of an RGB image, most frequent first."""
    found = cast("list[tuple[int, RGB]]", image.getcolors(maxcolors=1 << 22) or [])
    return sorted(found, reverse=True)


def _dominant(png: bytes) -> RGB:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return _colours(image.crop(colour_field_px(image.size)))[0][1]


def _coloured_pixels(png: bytes, colours: list[RGB]) -> int:
    """Pixels of the whole page in (almost exactly) one of ``colours``."""
    image = Image.open(io.BytesIO(png)).convert("RGB")

    def near(rgb: RGB, other: RGB) -> bool:
        return sum(abs(a - b) for a, b in zip(rgb, other, strict=True)) < 12

    return sum(n for n, rgb in _colours(image) if any(near(rgb, c) for c in colours))


def test_placard_of_an_estate_never_assessed_says_so_and_prints_no_colour(tmp_path: Path) -> None:
    """Through a real engine: registered devices that report, no assessment. The placard says 未评定 with
    the reason that decided it, and nothing on it is green, yellow or red."""
    registry = make_registry()
    clock = FakeClock(local(11, 23, 10))
    engine = RuleEngine(
        registry, load_policy(), HazardStore(f"sqlite:///{tmp_path / 'h.sqlite'}"), clock=clock
    )
    try:
        engine.grader.regrade_all(clock.now)
        assert engine.grader.grades["E002"].colour == "not_assessed"
        data = placard_for(engine.store, registry.estate("E002"), engine.policy, hotline="119", now=clock.now)
        assert (data.colour, data.colour_zh, data.assessed_on) == ("not_assessed", "未评定", None)
        assert data.meaning_zh == "尚未经街道排查登记"
        assert data.reasons[0].decisive
        assert data.reasons[0].code == ""
        assert data.reasons[0].zh == "未经街道排查登记，暂不评定颜色"
        assert all(r.category != "green" for r in data.reasons), "no G condition is 'not met': none is known"
        text = pdf_text(render_placard_pdf(data))
        for expected in (
            "未评定",
            "尚未经街道排查登记",
            "未排查登记",
            "判定原因",
            "未经街道排查登记，暂不评定颜色",
        ):
            assert expected in text, expected
        for colour_word in ("绿色 低风险", "黄色 中风险", "红色 高风险"):
            assert colour_word in text  # only in the sentence that explains the scheme, in grey ink
        png = render_placard_png(data)
        assert _dominant(png) == COLOUR_RGB["not_assessed"]
        grade_colours = [COLOUR_RGB["green"], COLOUR_RGB["yellow"], COLOUR_RGB["red"], CATEGORY_RGB["yellow"]]
        assert _coloured_pixels(png, grade_colours) == 0, "no green, yellow or red anywhere on the page"

        # Assessed: the placard shows the date and until when it holds, and the colour the devices allow.
        clock.advance(hours=1)
        engine.assessments.record(
            estate_id="E002",
            kind="assessment",
            at=clock.now,
            by="街道 排查员 陈",
            met=engine.policy.green_conditions(),
            now=clock.now,
        )
        data = placard_for(engine.store, registry.estate("E002"), engine.policy, hotline="119", now=clock.now)
        assert data.colour == "green"
        assert (str(data.assessed_on), str(data.assessment_valid_until)) == ("2026-11-23", "2027-11-23")
        text = pdf_text(render_placard_pdf(data))
        assert "2027-11-23" in text
        assert "排查登记" in text

        # G2 (a monthly inspection) runs out after 31 days: not assessed again, for that condition.
        clock.now = local(12, 25, 12)
        engine.grader.regrade_all(clock.now)
        data = placard_for(engine.store, registry.estate("E002"), engine.policy, hotline="119", now=clock.now)
        assert (data.colour, data.meaning_zh) == ("not_assessed", "绿色条件证明到期，待重新确认")
        first = data.reasons[0]
        assert (first.code, first.decisive) == ("G2", True)
        assert "已到期" in first.zh, first.zh
        assert not first.zh.startswith("G2"), "the badge shows the code"
        assert _coloured_pixels(render_placard_png(data), grade_colours[:3]) == 0
    finally:
        engine.store.close()


def test_placard_of_an_estate_whose_devices_are_all_silent_says_unknown(scenario: Scenario) -> None:
    estate = scenario.registry.estate("E003")
    latest = scenario.store.grades.history("E003", limit=1)[0]
    silent = dataclasses.replace(
        latest,
        colour="unknown",
        level=-1,
        reasons=[
            {
                "codes": [],
                "text": "全部设备失联（最后上报 2026-12-03 09:00），设备数据无法确认风险",
                "decisive": True,
            }
        ],
        red_items=[],
        yellow_items=[],
        missing_green=[],
    )
    data = build_placard(estate, silent, scenario.policy, hotline="119", now=local(12, 4, 9))
    assert (data.colour_zh, data.meaning_zh) == ("未知", "设备数据中断，暂无法判定")
    assert data.reasons[0].zh.startswith("全部设备失联")
    png = render_placard_png(data)
    assert _dominant(png) == COLOUR_RGB["unknown"]
    assert _coloured_pixels(png, [COLOUR_RGB["green"], COLOUR_RGB["yellow"], COLOUR_RGB["red"]]) == 0
    assert "未知" in pdf_text(render_placard_pdf(data))


def test_decisive_reasons_come_first(scenario: Scenario) -> None:
    """E002 is yellow because G7 is missing (filed as a hazard) in November; the decisive item leads."""
    estate = scenario.registry.estate("E002")
    history = scenario.store.grades.history("E002")
    yellow = next(g for g in history if g.colour == "yellow")
    data = build_placard(estate, yellow, scenario.policy, hotline="119", now=local(12, 4, 9))
    assert data.reasons[0].decisive
    assert [r.code for r in data.reasons if r.decisive] == ["G7"]
