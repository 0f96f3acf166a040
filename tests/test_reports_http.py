"""The placard and monthly report routes (``gateway.api.routers.reports``): formats, media types, file names,
and the caller's estate scope (outside it is "not found")."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image
from reports_scenario import Scenario, pdf_text

from gateway.api import ApiServices, create_app
from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.sinks.sqlite import SqliteSink
from gateway.reports.placard import PNG_SIZE

pytest_plugins = ["reports_fixtures"]


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
