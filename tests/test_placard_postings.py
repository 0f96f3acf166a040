"""Placard postings (公示牌张贴), the placard's serial and QR code, and the public check page ``/p/{serial}``
(gateway/api/routers/placards.py, gateway/store/placards.py)."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import argon2
import httpx
import pytest
from clock import FakeClock
from PIL import Image

from gateway.api import ApiServices, create_app
from gateway.api.routers.placards import MAX_PLACARD_PHOTO_BYTES
from gateway.auth import passwords
from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.casework.engine import RuleEngine
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.registry import Registry
from gateway.ingest.sinks.sqlite import SqliteSink
from gateway.reports.fonts import FontMissing, pil_font_file
from gateway.store import HazardStore
from rules.policy import load_policy
from simulators.fleet import generate_fleet

#: username: (role, scope) — every account sees E001.
ROLES: dict[str, tuple[str, dict[str, str]]] = {
    "brigade": ("brigade", {}),
    "office": ("office", {"district": "管城回族区"}),
    "property": ("property", {"company": "城建物业服务有限公司"}),
    "grid": ("grid", {"district": "管城回族区"}),
    "viewer": ("viewer", {}),
}


@dataclass
class World:
    engine: RuleEngine
    clock: FakeClock
    http: httpx.AsyncClient
    uploads: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def as_(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def file(self, estate: str, criterion: str) -> int:
        return self.engine.hazards.file(
            estate_id=estate, criterion=criterion, location="1号楼", description=criterion, reporter="setup"
        ).id


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    monkeypatch.setattr(passwords, "HASHER", argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST))
    fleet = generate_fleet(
        estates=2, smoke_per_estate=4, hydrants_per_estate=1, cameras_per_estate=0, modbus_share=0.0, seed=3
    )
    registry = Registry(estates=fleet.estates, buildings=fleet.buildings, devices=fleet.devices)
    clock = FakeClock()
    store = HazardStore(f"sqlite:///{tmp_path / 'hazards.sqlite'}")
    engine = RuleEngine(registry, load_policy(), store, clock=clock)
    deadletters = DeadLetterStore(tmp_path / "dl.sqlite")
    pipeline = Pipeline(registry, SqliteSink(tmp_path / "t.sqlite"), deadletters, clock=clock)
    auth = AuthService(AuthStore(store.engine), clock=clock)
    uploads = tmp_path / "uploads"
    app = create_app(
        ApiServices(registry, pipeline, engine, deadletters, clock, uploads_dir=uploads, auth=auth)
    )
    app.state.public_url = "https://fire.example.cn/"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        w = World(engine, clock, http, uploads)
        for username, (role, scope) in ROLES.items():
            auth.store.create_user(
                username=username,
                role=role,
                password=f"pw-{username}-secret",
                now=clock(),
                display_name=username,
                **scope,
            )
            w.tokens[username] = auth.create_token(username, label="test")[1]
        w.file("E001", "Y9")  # a grade on record for E001 (E002 has none)
        yield w
    deadletters.close()


def png_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


URL = "/api/estates/E001/placard-postings"


async def test_posting_round_trip_with_a_real_png(world: World) -> None:
    world.clock.advance(hours=1)
    photo = png_bytes()
    r = await world.http.post(
        URL,
        files={"photo": ("wall.png", photo, "image/png")},
        data={"note": "正门左侧"},
        headers=world.as_("property"),
    )
    assert r.status_code == 201, r.text
    posted = r.json()
    latest = world.engine.store.grades.history("E001", limit=1)[0]
    assert posted["posted_by"] == "property"
    assert posted["note"] == "正门左侧"
    assert (posted["colour"], posted["current"]) == (latest.colour, True)
    assert posted["colour_zh"]
    assert posted["check_url"] == f"https://fire.example.cn/p/{posted['serial']}"
    assert len(posted["serial"]) >= 16
    assert re.fullmatch(r"uploads/[0-9a-f]{32}\.png", posted["photo"])
    stored = await world.http.get(f"/api/{posted['photo']}", headers=world.as_("viewer"))
    assert stored.status_code == 200
    assert stored.content == photo
    # JSON without a photo, by the office; the list is newest first, both of the same placard.
    r = await world.http.post(URL, json={"note": "复查张贴"}, headers=world.as_("office"))
    assert r.status_code == 201, r.text
    assert r.json()["photo"] is None
    assert r.json()["serial"] == posted["serial"]
    listed = (await world.http.get(URL, headers=world.as_("viewer"))).json()
    assert [p["posted_by"] for p in listed] == ["office", "property"]
    # A grade change: the postings are no longer current.
    world.clock.advance(hours=1)
    world.file("E001", "R3")
    listed = (await world.http.get(URL, headers=world.as_("viewer"))).json()
    assert [p["current"] for p in listed] == [False, False]


async def test_a_file_that_is_not_an_image_is_refused(world: World) -> None:
    before = world.engine.store.counts()
    r = await world.http.post(
        URL,
        files={"photo": ("wall.png", b"\x89PNG\r\n\x1a\n" + b"not really" * 20, "image/png")},
        headers=world.as_("property"),
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("photo: not an image")
    assert world.engine.store.counts() == before
    assert not world.uploads.exists() or not any(world.uploads.iterdir())


async def test_a_photo_too_large_is_refused(world: World) -> None:
    big = png_bytes() + b"\x00" * MAX_PLACARD_PHOTO_BYTES
    before = world.engine.store.counts()
    r = await world.http.post(
        URL, files={"photo": ("wall.png", big, "image/png")}, headers=world.as_("property")
    )
    assert r.status_code == 413, r.text
    assert r.json() == {"error": "too_large", "detail": "photo: larger than 5 MiB"}
    assert world.engine.store.counts() == before


async def test_refusals_name_what_is_wrong(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # The engine grades every estate when it starts; an estate with no grade row (a store kept from before)
    # has no placard to post.
    history = world.engine.store.grades.history
    monkeypatch.setattr(
        world.engine.store.grades, "history", lambda e, **kw: [] if e == "E002" else history(e, **kw)
    )
    r = await world.http.post("/api/estates/E002/placard-postings", json={}, headers=world.as_("brigade"))
    assert r.status_code == 409
    assert "no grade yet" in r.json()["detail"]
    r = await world.http.post("/api/estates/E999/placard-postings", json={}, headers=world.as_("office"))
    assert r.status_code == 404
    r = await world.http.post(URL, json={"serial": "nope"}, headers=world.as_("office"))
    assert (r.status_code, r.json()["detail"][:7]) == (422, "serial:")
    future = (world.clock() + timedelta(days=1)).isoformat()
    r = await world.http.post(URL, json={"posted_at": future}, headers=world.as_("office"))
    assert (r.status_code, r.json()["detail"][:10]) == (422, "posted_at:")


@pytest.mark.parametrize("username", ["grid", "viewer"])
async def test_grid_and_viewer_may_not_post(world: World, username: str) -> None:
    before = world.engine.store.counts()
    r = await world.http.post(
        URL, files={"photo": ("wall.png", png_bytes(), "image/png")}, headers=world.as_(username)
    )
    assert r.status_code == 403
    assert r.json() == {
        "error": "forbidden",
        "detail": f"role {username} may not record placard postings (needs post_placard)",
    }
    assert world.engine.store.counts() == before
    assert (await world.http.post(URL, json={})).status_code == 401


async def test_the_public_page_shows_colour_and_date_only_and_says_stale_after_a_grade_change(
    world: World,
) -> None:
    r = await world.http.post(URL, json={}, headers=world.as_("brigade"))
    serial = r.json()["serial"]
    latest = world.engine.store.grades.history("E001", limit=1)[0]
    label = world.engine.policy.colour(latest.colour)
    page = await world.http.get(f"/p/{serial}")  # no account
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    text = page.text
    estate = world.engine.registry.estate("E001")
    assert estate.name in text
    assert (label.zh if label else "未评定") in text
    assert "2026-11-23" in text  # the local date of the grade
    assert "此公示牌为当前评定" in text
    for hidden in ("Y9", "1号楼", "飞线", "hazard", estate.property_company, "setup"):
        assert hidden not in text, hidden
    world.clock.advance(days=2)
    world.file("E001", "R3")  # red now
    text = (await world.http.get(f"/p/{serial}")).text
    assert "已过期" in text
    assert "红色" in text
    assert "2026-11-25" in text
    assert "R3" not in text


async def test_an_unknown_serial_is_a_404_page(world: World) -> None:
    r = await world.http.get("/p/NoSuchPlacardSerial")
    assert r.status_code == 404
    assert "未找到此公示牌" in r.text


async def test_the_placard_carries_a_qr_code_to_its_check_page(world: World) -> None:
    try:
        pil_font_file(None)
    except FontMissing:
        pytest.skip("no CJK font installed")
    r = await world.http.get("/api/estates/E001/placard.png", headers=world.as_("viewer"))
    assert r.status_code == 200
    serial = world.engine.store.placards.serial_for(
        world.engine.store.grades.history("E001", limit=1)[0], world.clock()
    ).serial
    expected = f"https://fire.example.cn/p/{serial}"
    # Printing again prints the same serial; a posting without a serial is of that placard.
    again = await world.http.get("/api/estates/E001/placard.pdf", headers=world.as_("viewer"))
    assert again.status_code == 200
    posted = await world.http.post(URL, json={}, headers=world.as_("property"))
    assert posted.json()["check_url"] == expected
    import segno

    assert segno.make_qr(expected, error="m").matrix  # what the placard draws
    zxingcpp = pytest.importorskip("zxingcpp")
    image = Image.open(io.BytesIO(r.content)).convert("L")
    found = [b.text for b in zxingcpp.read_barcodes(image)]
    assert expected in found
