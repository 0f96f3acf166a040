"""``firegw placard`` and ``firegw report`` (``gateway.reports.cli``) against the scenario's configuration."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PIL import Image
from reports_scenario import Scenario, pdf_text

from gateway.cli import main
from gateway.reports.placard import PNG_SIZE

pytest_plugins = ["reports_fixtures"]


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
