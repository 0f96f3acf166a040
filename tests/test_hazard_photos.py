"""Photos of each step of a hazard, and the one check every upload goes through (issue 16, "Evidence"):
gateway/uploads.py, gateway/store/photos.py, gateway/api/routers/photos.py, gateway/web/static/photos.js.

The real app on a SQLite store and a fake clock. Two estates: E001 (管城回族区, 城建物业) that every account
sees, and E002 (中原区, 绿苑物业) that the property company and the street office of 管城回族区 do not.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import struct
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from clock import FakeClock
from PIL import Image
from playwright.async_api import async_playwright, expect

from gateway.api import ApiServices, create_app
from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.casework.engine import RuleEngine
from gateway.config import PhotosSection
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.registry import Registry
from gateway.ingest.sinks.sqlite import SqliteSink
from gateway.store import HazardStore
from rules.lifecycle import HazardAction
from rules.policy import load_policy
from simulators.fleet import generate_fleet

#: username: (role, scope). ``property2`` is a second account of the same company (its own quota).
ACCOUNTS: dict[str, tuple[str, dict[str, Any]]] = {
    "brigade": ("brigade", {}),
    "office": ("office", {"district": "管城回族区"}),
    "grid": ("grid", {"district": "管城回族区"}),
    "property": ("property", {"company": "城建物业服务有限公司"}),
    "property2": ("property", {"company": "城建物业服务有限公司"}),
    "viewer": ("viewer", {}),
}
COMPANY = "城建物业服务有限公司"
#: Small enough for a test to reach: 256 KiB a photo, 600 KiB a day, 6 photos a hazard.
LIMITS = PhotosSection(max_bytes=256 << 10, daily_bytes=600 << 10, per_hazard=6)
PASSWORD = "photos-test-password"
CHROMIUM = os.environ.get("FIREGW_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(
    os.environ.get(
        "FIREGW_SCREENSHOTS", Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
    )
)

pytestmark = pytest.mark.usefixtures("cheap_hashes")


def png(size: tuple[int, int] = (64, 48), noise: bool = False) -> bytes:
    """A real PNG; with ``noise`` it does not compress, so its size is about 3 bytes a pixel."""
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, (200, 30, 30))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(with_location: bool = False) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 1  # orientation: kept
    exif[0x8769] = {0x9003: "2026:11:23 10:00:00"}  # when it was taken: kept
    if with_location:
        exif[0x8825] = {1: "N", 2: (34.0, 45.0, 1.5), 3: "E", 4: (113.0, 37.0, 2.5)}
    buffer = io.BytesIO()
    Image.frombytes("RGB", (160, 120), os.urandom(160 * 120 * 3)).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def bomb_png(side: int) -> bytes:
    """A 1-bit ``side`` × ``side`` PNG of zeros: a few KiB that claim ``side²`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = (b"\x00" + b"\x00" * ((side + 7) // 8)) * side
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


@dataclass
class World:
    engine: RuleEngine
    clock: FakeClock
    http: httpx.AsyncClient
    uploads: Path
    app: Any
    tokens: dict[str, str] = field(default_factory=dict)

    def as_(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def file(self, estate: str = "E001", photo: str = "") -> int:
        hazard = self.engine.hazards.file(
            estate_id=estate,
            criterion="Y9",
            location="3号楼",
            description="飞线充电",
            photo=photo,
            reporter="grid",
        )
        return hazard.id

    def rectifying(self, estate: str = "E001") -> int:
        hazard_id = self.file(estate)
        self.engine.hazards.step(hazard_id, HazardAction.DISPATCH, actor="office", responsible=COMPANY)
        self.engine.hazards.step(hazard_id, HazardAction.START, actor="property")
        return hazard_id

    async def add(
        self,
        hazard_id: int,
        username: str,
        data: bytes,
        step: str = "before",
        name: str = "photo.jpg",
        **extra: str,
    ) -> httpx.Response:
        return await self.http.post(
            f"/api/hazards/{hazard_id}/photos",
            files={"photo": (name, data, "image/jpeg")},
            data={"step": step, **extra},
            headers=self.as_(username),
        )

    async def step(self, hazard_id: int, username: str, action: str, **body: Any) -> httpx.Response:
        return await self.http.post(
            f"/api/hazards/{hazard_id}/transitions",
            json={"action": action, **body},
            headers=self.as_(username),
        )

    def stored_files(self) -> list[str]:
        return sorted(p.name for p in self.uploads.glob("*")) if self.uploads.exists() else []


def make_engine(tmp_path: Path, clock: FakeClock) -> RuleEngine:
    fleet = generate_fleet(
        estates=2, smoke_per_estate=2, hydrants_per_estate=1, cameras_per_estate=0, modbus_share=0.0, seed=3
    )
    registry = Registry(estates=fleet.estates, buildings=fleet.buildings, devices=fleet.devices)
    store = HazardStore(f"sqlite:///{tmp_path / 'hazards.sqlite'}")
    return RuleEngine(registry, load_policy(), store, clock=clock, photos=LIMITS)


def make_app(engine: RuleEngine, tmp_path: Path) -> tuple[Any, AuthService, DeadLetterStore]:
    deadletters = DeadLetterStore(tmp_path / "dl.sqlite")
    pipeline = Pipeline(engine.registry, SqliteSink(tmp_path / "t.sqlite"), deadletters, clock=engine.clock)
    auth = AuthService(AuthStore(engine.store.engine), clock=engine.clock)
    services = ApiServices(
        engine.registry,
        pipeline,
        engine,
        deadletters,
        engine.clock,
        uploads_dir=tmp_path / "uploads",
        auth=auth,
    )
    return create_app(services), auth, deadletters


@contextlib.asynccontextmanager
async def world_at(tmp_path: Path, clock: FakeClock, accounts: bool = True) -> AsyncIterator[World]:
    """The app on the store in ``tmp_path``; a second one on the same folder is the gateway restarted."""
    engine = make_engine(tmp_path, clock)
    app, auth, deadletters = make_app(engine, tmp_path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        world = World(engine, clock, http, tmp_path / "uploads", app)
        for username, (role, scope) in ACCOUNTS.items():
            if accounts:
                auth.store.create_user(
                    username=username,
                    role=role,
                    password=PASSWORD,
                    now=clock(),
                    display_name=f"{username} 名",
                    **scope,
                )
            world.tokens[username] = auth.create_token(username, label="test")[1]
        try:
            yield world
        finally:
            deadletters.close()
            engine.store.close()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with world_at(tmp_path, FakeClock()) as w:
        yield w


# -- the image check --------------------------------------------------------------------------------------


async def test_a_png_named_jpg_is_stored_as_png_and_served_back_unchanged(world: World) -> None:
    hazard_id = world.file()
    data = png()
    r = await world.add(hazard_id, "grid", data, note="楼道内飞线")
    assert r.status_code == 201, r.text
    photo = r.json()
    assert re.fullmatch(r"uploads/[0-9a-f]{32}\.png", photo["photo"]), photo
    assert (photo["format"], photo["width"], photo["height"], photo["bytes"]) == ("PNG", 64, 48, len(data))
    assert (photo["step"], photo["added_by"], photo["note"], photo["filed"]) == (
        "before",
        "grid 名",
        "楼道内飞线",
        False,
    )
    served = await world.http.get(f"/api/{photo['photo']}", headers=world.as_("viewer"))
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.content == data
    # The raw upload for a hazard about to be filed reads the content too, whatever the declared type.
    r = await world.http.post(
        "/api/uploads", content=data, headers={"Content-Type": "image/jpeg", **world.as_("grid")}
    )
    assert r.status_code == 201, r.text
    assert r.json()["photo"].endswith(".png")


@pytest.mark.parametrize(
    ("make", "detail"),
    [
        (
            lambda: b"just some text, not a photo\n" * 20,
            "photo: not an image: its content is no JPEG, PNG or WebP",
        ),
        (lambda: jpeg()[:-600], "photo: not a whole image (truncated or corrupt JPEG"),
        (lambda: bomb_png(9000), "photo: 9000 × 9000 pixels is more than the 64,000,000 a photo may have"),
        (lambda: bomb_png(20000), "photo: far too many pixels for a photo (a decompression bomb?)"),
    ],
    ids=["text-named-jpg", "truncated-jpeg", "bomb-over-the-limit", "bomb-over-pillows-limit"],
)
async def test_what_is_not_one_whole_photo_is_refused_and_nothing_is_kept(
    world: World, make: Callable[[], bytes], detail: str
) -> None:
    content = make()
    hazard_id = world.file()
    r = await world.add(hazard_id, "grid", content, name="photo.jpg")
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(detail), r.json()
    r = await world.http.post("/api/uploads", content=content, headers=world.as_("grid"))
    assert (r.status_code, r.json()["detail"][: len(detail)]) == (422, detail)
    assert world.stored_files() == []
    assert world.engine.store.counts()["uploads"] == 0


async def test_an_oversized_photo_is_413_naming_the_limit(world: World) -> None:
    big = png((300, 300), noise=True)
    assert len(big) > LIMITS.max_bytes
    r = await world.add(world.file(), "grid", big)
    assert r.status_code == 413, r.text
    assert r.json() == {"error": "too_large", "detail": "photo: larger than 256 KiB"}
    r = await world.http.post("/api/uploads", content=big, headers=world.as_("grid"))
    assert (r.status_code, r.json()["detail"]) == (413, "photo: larger than 256 KiB")
    assert world.stored_files() == []


async def test_the_gps_location_and_trailing_data_are_taken_out_and_the_rest_kept(world: World) -> None:
    r = await world.add(world.file(), "grid", jpeg(with_location=True))
    assert r.status_code == 201, r.text
    assert r.json()["location_removed"] is True
    stored = (world.uploads / r.json()["photo"].removeprefix("uploads/")).read_bytes()
    exif = Image.open(io.BytesIO(stored)).getexif()
    assert exif.get_ifd(0x8825) == {}
    assert exif.get_ifd(0x8769)[0x9003] == "2026:11:23 10:00:00"
    # Without a location the camera's bytes are kept as they are; what follows the image's end is not.
    r = await world.add(world.file(), "grid", (plain := jpeg()) + b"PK\x03\x04 a zip after the image")
    assert r.json()["location_removed"] is False
    assert (world.uploads / r.json()["photo"].removeprefix("uploads/")).read_bytes() == plain


# -- bounds per account and per hazard --------------------------------------------------------------------


async def test_the_daily_quota_refuses_with_the_sentence_and_holds_across_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    start = clock()
    photos = [png((250, 250), noise=True) for _ in range(4)]
    async with world_at(tmp_path, clock) as world:
        hazard_id = world.file()
        for photo in photos[:3]:
            assert (await world.add(hazard_id, "property", photo, step="after")).status_code == 201
            clock.advance(hours=1)
        r = await world.add(hazard_id, "property", photos[3], step="after")
        assert r.status_code == 429, r.text
        detail = r.json()["detail"]
        used = sum(len(p) for p in photos[:3]) / 1024
        assert detail.startswith(
            f"photo: {len(photos[3]) / 1024:.0f} KiB would pass the daily upload quota of 600 KiB per "
            f"account ([photos] daily_bytes); {used:.0f} KiB uploaded in the last 24 hours. "
            "It fits again from 2026-11-24 10:00 (Asia/Shanghai)"
        ), detail
        assert r.headers["retry-after"] == str(21 * 3600)
        # Another account of the same company is not affected.
        assert (await world.add(hazard_id, "property2", photos[3], step="after")).status_code == 201
    async with world_at(tmp_path, clock, accounts=False) as world:  # the gateway restarted
        r = await world.add(hazard_id, "property", photos[3], step="after")
        assert r.status_code == 429, r.text
        clock.now = start + timedelta(hours=24, seconds=1)
        r = await world.add(hazard_id, "property", photos[3], step="after")
        assert r.status_code == 201, r.text
        assert len(world.stored_files()) == 5


async def test_a_hazard_takes_at_most_its_cap_of_photos(world: World) -> None:
    filed = await world.http.post("/api/uploads", content=png(), headers=world.as_("grid"))
    hazard_id = world.file(photo=filed.json()["photo"])  # the photo given at filing counts
    for _ in range(LIMITS.per_hazard - 1):
        assert (await world.add(hazard_id, "grid", png())).status_code == 201
    r = await world.add(hazard_id, "grid", png())
    assert r.status_code == 409, r.text
    assert r.json()["detail"].startswith("photo: this hazard already has 6 photos, the most one hazard takes")
    listed = (await world.http.get(f"/api/hazards/{hazard_id}/photos", headers=world.as_("viewer"))).json()
    assert len(listed) == LIMITS.per_hazard
    assert (listed[0]["filed"], listed[0]["step"], listed[0]["photo"]) == (
        True,
        "before",
        filed.json()["photo"],
    )


# -- the closed loop --------------------------------------------------------------------------------------


async def test_rectified_needs_an_after_photo_taken_since_rectification_started(world: World) -> None:
    hazard_id = world.rectifying()
    sentence = (
        f"rectified needs an after-photo (整改后照片): upload one to POST /api/hazards/{hazard_id}/photos "
        "with step=after"
    )
    detail = (await world.http.get(f"/api/hazards/{hazard_id}", headers=world.as_("property"))).json()
    assert detail["after_photo_missing"] == sentence
    r = await world.step(hazard_id, "property", "rectified")
    assert (r.status_code, r.json()["detail"]) == (422, sentence)
    assert (await world.add(hazard_id, "property", png(), step="before")).status_code == 201
    assert (await world.step(hazard_id, "property", "rectified")).status_code == 422, (
        "a before-photo is no proof"
    )
    assert (await world.add(hazard_id, "property", png(), step="after")).status_code == 201
    r = await world.step(hazard_id, "property", "rectified")
    assert (r.status_code, r.json()["state"]) == (200, "rectified")
    # Rejected: rectification starts again, and the after-photo the inspector rejected does not count.
    world.clock.advance(hours=1)
    assert (await world.step(hazard_id, "office", "reject", reason="仍有飞线")).status_code == 200
    r = await world.step(hazard_id, "property", "rectified")
    assert r.status_code == 422
    assert "were added before rectification last started" in r.json()["detail"]
    assert (await world.add(hazard_id, "property", png(), step="after")).status_code == 201
    assert (await world.step(hazard_id, "property", "rectified")).status_code == 200
    body = (await world.http.get(f"/api/hazards/{hazard_id}", headers=world.as_("viewer"))).json()
    assert [p["step"] for p in body["photos"]] == ["before", "after", "after"]
    assert body["after_photo_missing"] is None


async def test_who_may_add_which_step(world: World) -> None:
    hazard_id = world.file()
    for username, step, status in [
        ("grid", "after", 403),
        ("property", "recheck", 403),
        ("viewer", "before", 403),
        ("grid", "recheck", 201),
        ("office", "recheck", 201),
        ("property", "after", 201),
        ("property", "before", 201),
        ("office", "other", 201),
        ("grid", "sideways", 422),
    ]:
        r = await world.add(hazard_id, username, png(), step=step)
        assert r.status_code == status, (username, step, r.text)
    r = await world.add(hazard_id, "grid", png(), step="after")
    assert r.json()["detail"] == "role grid may not add 'after' photos to hazards (needs rectify_hazard)"


async def test_a_hazard_outside_the_scope_is_404_and_so_are_its_photos(world: World) -> None:
    other = world.file("E002")
    r = await world.add(other, "brigade", png())
    assert r.status_code == 201
    name = r.json()["photo"]
    for username in ("property", "office"):
        assert (await world.add(other, username, png())).status_code == 404
        assert (
            await world.http.get(f"/api/hazards/{other}/photos", headers=world.as_(username))
        ).status_code == 404
        assert (await world.http.get(f"/api/{name}", headers=world.as_(username))).status_code == 404
    assert (await world.http.get(f"/api/{name}", headers=world.as_("viewer"))).status_code == 200
    # An upload not used yet is its sender's alone.
    unused = (await world.http.post("/api/uploads", content=png(), headers=world.as_("grid"))).json()["photo"]
    assert (await world.http.get(f"/api/{unused}", headers=world.as_("grid"))).status_code == 200
    assert (await world.http.get(f"/api/{unused}", headers=world.as_("office"))).status_code == 404


# -- the hazard page in a browser -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def listening(app: Any) -> AsyncIterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "uvicorn stopped before it listened"
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await serving


async def test_before_and_after_side_by_side_in_the_browser(world: World, tmp_path: Path) -> None:
    hazard_id = world.rectifying()
    before, after = tmp_path / "before.png", tmp_path / "after.jpg"
    before.write_bytes(png((320, 240)))
    after.write_bytes(jpeg())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before the page
    async with listening(world.app) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = await (await browser.new_context(locale="zh-CN")).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(base + "/")
            await page.locator("#l-user").fill("property")
            await page.locator("#l-pass").fill(PASSWORD)
            await page.locator("#login-form button[type=submit]").click()
            await expect(page.locator("#whoami")).not_to_be_empty()
            await page.goto(f"{base}/#/hazard/{hazard_id}")
            section = page.locator('[data-testid="hazard-photos"]')
            await expect(section).to_be_visible()
            await expect(page.locator('[data-testid="rectify-hint"]')).to_contain_text("整改后照片")
            form = section.locator("#photo-form")
            # A file that is no image: the API's refusal is shown.
            text = tmp_path / "photo.jpg"
            text.write_text("not a photo")
            await form.locator("#photo-step").select_option("before")
            await form.locator("#photo-file").set_input_files(str(text))
            await form.locator("button[type=submit]").click()
            await expect(form.locator('[data-testid="photo-error"]')).to_contain_text("photo: not an image")
            for step, path in (("before", before), ("after", after)):
                await form.locator("#photo-step").select_option(step)
                await form.locator("#photo-file").set_input_files(str(path))
                await form.locator("button[type=submit]").click()
                await expect(section.locator(f'[data-photo-side="{step}"] img')).to_be_visible()
            boxes = [
                await section.locator(f'[data-photo-side="{s}"] img').bounding_box()
                for s in ("before", "after")
            ]
            before_box, after_box = boxes
            assert before_box is not None
            assert after_box is not None
            assert abs(before_box["y"] - after_box["y"]) < 2, boxes  # side by side: one row,
            assert before_box["x"] < after_box["x"], boxes  # before on the left
            await expect(page.locator('[data-testid="rectify-hint"]')).to_have_count(0)
            await page.screenshot(path=str(SCREENSHOTS / "hazard-photos.png"), full_page=True)
            assert errors == []
        finally:
            await browser.close()
