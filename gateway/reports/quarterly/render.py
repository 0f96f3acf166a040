"""One entry point for every form of the quarterly assessment: ``render_report(report, "json"|"pdf"|"xlsx")``.

The printed forms import reportlab and openpyxl; they are loaded on first use, so the JSON the UI asks for
does not wait for them.
"""

from __future__ import annotations

import json

from gateway.reports.quarterly.model import Format, QuarterlyReport
from gateway.reports.quarterly.text import as_json


def render_report(report: QuarterlyReport, fmt: Format, font: str | None = None) -> bytes:
    if fmt == "pdf":
        from gateway.reports.quarterly.pdf import render_pdf

        return render_pdf(report, font)
    if fmt == "xlsx":
        from gateway.reports.quarterly.xlsx import render_xlsx

        return render_xlsx(report)
    return json.dumps(as_json(report), ensure_ascii=False, indent=1).encode("utf-8")
