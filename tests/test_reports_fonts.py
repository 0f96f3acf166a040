"""Finding a CJK font (``gateway.reports.fonts``): the PDF falls back to reportlab's CID font, the PNG fails
with a message that says what to install."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader
from reports_scenario import Scenario, local

from gateway.reports import fonts
from gateway.reports.placard import build_placard, render_placard_pdf, render_placard_png

pytest_plugins = ["reports_fixtures"]


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
