"""The placard (公示牌, ``gateway.reports.placard``) of a graded and an ungraded estate, read back with pypdf
and Pillow."""

from __future__ import annotations

import io

from PIL import Image
from reports_scenario import Scenario, local, pdf_text

from gateway.reports.colours import COLOUR_RGB
from gateway.reports.placard import (
    PNG_SIZE,
    build_placard,
    colour_field_px,
    render_placard_pdf,
    render_placard_png,
)

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
