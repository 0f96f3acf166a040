"""One entry point for every format of the monthly report: ``render_report(report, "pdf"|"xlsx"|"csv")``.

It imports reportlab and openpyxl; callers that must start fast import it on first use, and take the format
names and media types from ``gateway.reports.monthly.model``.
"""

from __future__ import annotations

from gateway.reports.monthly.csv_table import render_csv
from gateway.reports.monthly.model import Format, MonthlyReport
from gateway.reports.monthly.pdf import render_pdf
from gateway.reports.monthly.xlsx import render_xlsx


def render_report(report: MonthlyReport, fmt: Format, font: str | None = None) -> bytes:
    if fmt == "pdf":
        return render_pdf(report, font)
    if fmt == "xlsx":
        return render_xlsx(report)
    return render_csv(report)
