"""The monthly report printed (``gateway.reports.monthly.pdf``, ``xlsx``, ``csv_table``) and read back the way
a person would: pypdf for the PDF, openpyxl for the XLSX, csv for the CSV."""

from __future__ import annotations

import csv
import io
from collections import Counter

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from reports_scenario import pdf_text

from gateway.reports.monthly.csv_table import render_csv
from gateway.reports.monthly.model import MonthlyReport
from gateway.reports.monthly.pdf import render_pdf
from gateway.reports.monthly.xlsx import SHEETS, render_xlsx

pytest_plugins = ["reports_fixtures"]


def test_report_pdf_has_the_figures_and_charts(november: MonthlyReport) -> None:
    data = render_pdf(november)
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    assert "全部小区 消防安全月报（2026年11月）" in text
    assert "隐患整改率" in text
    assert "40.0%" in text
    assert "设施完好率" in text
    assert "99.9%" in text  # 25,871.9 of 25,899.0 facility-hours monitored
    assert "25,871.9/25,899.0 设施·小时" in text
    assert "监测故障（不计）" in text
    assert "另作废 1，合并 1" in text
    assert "66.7%" in text  # acknowledged within a minute
    for name in ("锦绣花园", "望江苑", "青羊小区"):
        assert name in text
    assert "未按照国家标准" in text  # Y10's text in the by-criterion table
    assert "口径说明" in text
    # Where each estate stood at the end: assessed on, valid until, conditions due, monitoring coverage.
    for expected in ("排查登记", "登记有效至", "2026-10-20", "2027-10-20", "监测覆盖", "92.3%", "1/13"):
        assert expected in text, expected
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
    assert summary["intact_rate"] == pytest.approx((25899 - 27.1) / 25899)
    assert summary["monitored_hours"] == pytest.approx(25899)
    assert summary["unmonitored_hours"] == 21
    assert (summary["complaints"], summary["complaints_voided"], summary["complaints_merged"]) == (3, 1, 1)
    estates = list(wb["按小区 By estate"].iter_rows(min_row=2, values_only=True))
    assert [(row[0], row[1], row[5], row[8]) for row in estates] == [
        ("E001", "锦绣花园", 3, 0.5),
        ("E002", "望江苑", 2, 0.5),
        ("E003", "青羊小区", 1, 0.0),
    ]
    header = next(wb["按小区 By estate"].iter_rows(max_row=1, values_only=True))
    coverage = header.index("监测覆盖 Coverage")
    assert [(row[header.index("到期条件 Conditions due")], row[coverage]) for row in estates] == [
        (None, 1.0),  # nothing due: an empty cell
        (None, 1.0),
        (None, pytest.approx(12 / 13)),
    ]
    assert wb["按小区 By estate"].cell(row=2, column=coverage + 1).number_format == "0.0%"
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
    assert per_estate[("E002", "failed_hours")] == "27.1000"
    assert per_estate[("E002", "unmonitored_hours")] == "21.0000"
    assert per_estate[("E003", "coverage")] == "0.9231"
    assert per_estate[("E003", "monitoring_faults")] == "1"
    assert per_estate[("E001", "assessed_at")] == "2026-10-20T09:00:00+08:00"
    assert summary["maintenance_opened"] == "2"
    assert (summary["complaints"], summary["complaints_voided"]) == ("3", "1")
    assert Counter(r["section"] for r in rows)["by_hour"] == 48
    assert next(r["value"] for r in rows if r["section"] == "grade_changes") == "green->red"
