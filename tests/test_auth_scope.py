"""Accounts, roles and scope, route by route: every role's token against its own estates and everybody
else's, asserting that nothing leaks.

The registry has four estates in two districts and two property companies::

    E001 东城区 和平街道 锦绣物业      E002 东城区 安定街道 绿城物业
    E003 西城区 金融街街道 锦绣物业    E004 西城区 展览路街道 绿城物业

and ten accounts (below) whose expected estates are written out by hand, not computed by the code under
test. Every estate has a hazard, an alarm, a complaint and a fire whose texts carry the estate's id, so a
leak is found by looking for another estate's id anywhere in a response body.

The routes come from ``app.routes`` (what the OpenAPI page lists): a route added later is covered by the
generic checks at once (401 without credentials; for a GET, no other estate's id in its answer and 404 for
another estate's resource), and a route that changes something fails ``test_every_write_route_has_a_case``
until a permission case is written for it here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import argon2
import fastapi.routing
import httpx
import pytest
from clock import T0, FakeClock
from fastapi import FastAPI
from fastapi.routing import APIRoute
from PIL import Image
from sqlalchemy import select
from starlette.responses import StreamingResponse

from gateway.api import ApiServices, create_app
from gateway.auth import passwords
from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore, sessions, users
from gateway.casework.engine import RuleEngine
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import LiveEvent, Pipeline
from gateway.ingest.registry import Registry
from gateway.ingest.sinks.sqlite import SqliteSink
from gateway.models import DeviceEvent, EventType
from gateway.store import HazardStore
from rules.lifecycle import HazardAction
from rules.policy import load_policy
from simulators.fleet import generate_fleet

DEFAULT_HASHER = passwords.HASHER  # before the cheap one below is swapped in

ESTATES: dict[str, tuple[str, str, str]] = {
    "E001": ("东城区", "和平街道", "锦绣物业"),
    "E002": ("东城区", "安定街道", "绿城物业"),
    "E003": ("西城区", "金融街街道", "锦绣物业"),
    "E004": ("西城区", "展览路街道", "绿城物业"),
}
ALL = frozenset(ESTATES)

pytestmark = pytest.mark.usefixtures("cheap_hashes")


@dataclass(frozen=True)
class Account:
    username: str
    role: str
    scope: dict[str, str]
    sees: frozenset[str]
    admin: bool = False

    @property
    def display_name(self) -> str:
        return f"{self.username} 显示名"

    @property
    def password(self) -> str:
        return f"pw-{self.username}-secret"


ACCOUNTS = [
    Account("brigade", "brigade", {}, ALL),
    Account("admin", "brigade", {}, ALL, admin=True),
    Account("office_east", "office", {"district": "东城区"}, frozenset({"E001", "E002"})),
    Account("office_street", "office", {"district": "东城区", "street": "和平街道"}, frozenset({"E001"})),
    Account("property_jx", "property", {"company": "锦绣物业"}, frozenset({"E001", "E003"})),
    Account("property_lc", "property", {"company": "绿城物业"}, frozenset({"E002", "E004"})),
    Account("grid_west", "grid", {"district": "西城区"}, frozenset({"E003", "E004"})),
    Account("viewer_all", "viewer", {}, ALL),
    Account("viewer_company", "viewer", {"company": "绿城物业"}, frozenset({"E002", "E004"})),
    Account("viewer_area", "viewer", {"district": "西城区"}, frozenset({"E003", "E004"})),
]
BY_NAME = {a.username: a for a in ACCOUNTS}

#: What the issue grants each role (restated here, not imported from the code under test).
ROLE_PERMISSIONS: dict[str, set[str]] = {
    "brigade": {
        "read",
        "file_hazard",
        "dispatch_hazard",
        "rectify_hazard",
        "verify_hazard",
        "recheck_hazard",
        "note_hazard",
        "record_complaint",
        "record_fire",
        "handle_alarm",
        "record_assessment",
        "record_evidence",
        "set_estate_status",
        "declare_window",
        "void_complaint",
        "post_placard",
        "manage_parties",
        "read_notifications",
        "hand_over_shift",
        "unlock_accounts",
    },
    "office": {
        "read",
        "file_hazard",
        "dispatch_hazard",
        "verify_hazard",
        "recheck_hazard",
        "note_hazard",
        "record_complaint",
        "record_fire",
        "record_assessment",
        "record_evidence",
        "set_estate_status",
        "declare_window",
        "void_complaint",
        "post_placard",
        "manage_parties",
        "read_notifications",
        "hand_over_shift",
        "unlock_accounts",
    },
    "property": {
        "read",
        "file_hazard",
        "rectify_hazard",
        "note_hazard",
        "handle_alarm",
        "record_evidence",
        "declare_window",
        "post_placard",
        "hand_over_shift",
    },
    "grid": {"read", "file_hazard", "note_hazard", "record_complaint", "recheck_hazard"},
    "viewer": {"read"},
}


def permissions_of(account: Account) -> set[str]:
    return ROLE_PERMISSIONS[account.role] | ({"admin"} if account.admin else set())


# -- the world ----------------------------------------------------------------------------------------------


def make_registry() -> Registry:
    fleet = generate_fleet(
        estates=4, smoke_per_estate=14, hydrants_per_estate=1, cameras_per_estate=0, modbus_share=0.0, seed=5
    )
    estates = []
    for estate in fleet.estates:
        district, street, company = ESTATES[estate.id]
        estates.append(
            estate.model_copy(
                update={
                    "name": f"{estate.id}苑",
                    "district": district,
                    "street": street,
                    "property_company": company,
                }
            )
        )
    return Registry(estates=tuple(estates), buildings=fleet.buildings, devices=fleet.devices)


@dataclass
class World:
    app: FastAPI
    engine: RuleEngine
    registry: Registry
    pipeline: Pipeline
    auth: AuthService
    auth_clock: FakeClock
    http: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)
    hazards: dict[str, int] = field(default_factory=dict)
    alarms: dict[str, int] = field(default_factory=dict)

    def as_(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def client(self) -> httpx.AsyncClient:
        """A client of its own (its own cookie jar)."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://test")

    def device(self, estate: str, kind: str = "hydrant") -> str:
        return next(d.id for d in self.registry.devices if d.estate_id == estate and d.kind.value == kind)

    def raise_alarm(self, estate: str) -> int:
        """A new open alarm in ``estate``, from a detector that has none open."""
        busy = {a.device_id for a in self.engine.store.alarms.find(open_only=True, limit=10_000)}
        detector = next(
            d
            for d in self.registry.devices
            if d.estate_id == estate and d.kind.value == "smoke_detector" and d.id not in busy
        )
        now = self.engine.clock()
        self.engine.on_records(
            [(detector, DeviceEvent(device_id=detector.id, time=now, type=EventType.ALARM))], now
        )
        return self.engine.store.alarms.find(open_only=True, device_id=detector.id)[0].id

    def file(self, estate: str, text: str = "") -> int:
        return self.engine.hazards.file(
            estate_id=estate,
            criterion="Y9",
            location="1号楼",
            description=text or f"{estate} 飞线充电",
            reporter="setup",
        ).id


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    registry = make_registry()
    clock = FakeClock()
    engine = RuleEngine(
        registry, load_policy(), HazardStore(f"sqlite:///{tmp_path / 'hazards.sqlite'}"), clock=clock
    )
    deadletters = DeadLetterStore(tmp_path / "dl.sqlite")
    pipeline = Pipeline(registry, SqliteSink(tmp_path / "t.sqlite"), deadletters, clock=clock)
    auth_clock = FakeClock()
    auth = AuthService(AuthStore(engine.store.engine), clock=auth_clock)
    uploads = tmp_path / "uploads"
    app = create_app(
        ApiServices(registry, pipeline, engine, deadletters, clock, uploads_dir=uploads, auth=auth)
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        w = World(app, engine, registry, pipeline, auth, auth_clock, http)
        for account in ACCOUNTS:
            auth.store.create_user(
                username=account.username,
                role=account.role,
                password=account.password,
                now=auth_clock(),
                display_name=account.display_name,
                admin=account.admin,
                **account.scope,
            )
            w.tokens[account.username] = auth.create_token(account.username, label="test")[1]
        for estate in ESTATES:
            w.hazards[estate] = w.file(estate)
            engine.incidents.add_complaint(
                estate_id=estate,
                received_at=T0 - timedelta(days=1),
                channel="12345",
                description=f"{estate} complaint",
                reporter="setup",
            )
            engine.incidents.add_fire(
                estate_id=estate,
                occurred_at=T0 - timedelta(days=2),
                fatal=False,
                high_impact=False,
                description=f"{estate} fire",
                recorded_by="setup",
            )
            w.alarms[estate] = w.raise_alarm(estate)
        yield w
    deadletters.close()


# -- routes --------------------------------------------------------------------------------------------------

#: Path parameters that name a resource of an estate: how to fill them for an estate, and a missing value.
RESOURCE_PARAMS: dict[str, tuple[Callable[[World, str], str], str]] = {
    "estate_id": (lambda w, e: e, "E999"),
    "hazard_id": (lambda w, e: str(w.hazards[e]), "999999"),
    "alarm_id": (lambda w, e: str(w.alarms[e]), "999999"),
    "device_id": (lambda w, e: w.device(e), "NO-SUCH-DEVICE"),
}
#: Other path parameters: a value that names nothing.
OTHER_PARAMS = {"name": "0" * 32 + ".png", "token_id": "999999"}
#: Query parameters some GET routes require, so that the check sees a real answer rather than a 422.
REQUIRED_QUERY: dict[str, dict[str, str]] = {"/api/reports/monthly": {"month": "2026-11", "format": "csv"}}


def api_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """``(method, path, route)`` of every route on the OpenAPI page, included routers flattened (recent
    FastAPI keeps included routers as nodes of ``app.routes``; ``iter_route_contexts`` walks them)."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    found: list[tuple[Any, Any]] = (
        [(r, r) for r in app.routes]
        if iterate is None
        else [(c, c.original_route) for c in iterate(app.routes)]
    )
    out = []
    for effective, route in found:
        if isinstance(route, APIRoute) and route.include_in_schema:
            path = getattr(effective, "path_format", None) or effective.path
            out += [(method, path, route) for method in sorted(set(effective.methods) - {"HEAD"})]
    return out


def path_params(path: str) -> list[str]:
    return re.findall(r"{(\w+)(?::\w+)?}", path)


def fill(world: World, path: str, estate: str | None, *, missing: bool = False) -> str:
    for name in path_params(path):
        if name in RESOURCE_PARAMS:
            make, absent = RESOURCE_PARAMS[name]
            value = absent if missing or estate is None else make(world, estate)
        else:
            value = OTHER_PARAMS.get(name, "x")
        path = re.sub(r"{" + name + r"(?::\w+)?}", value, path)
    return path


def is_streaming(route: APIRoute) -> bool:
    cls = getattr(route.response_class, "value", route.response_class)
    return isinstance(cls, type) and issubclass(cls, StreamingResponse)


def assert_no_leak(response: httpx.Response, hidden: frozenset[str] | set[str], where: str) -> None:
    text = response.content.decode("utf-8", "replace")
    for estate in hidden:
        assert estate not in text, f"{where}: the answer mentions {estate}, outside the caller's scope"
    assert "$argon2" not in text, f"{where}: a password hash in the answer"


def normalised(response: httpx.Response, value: str) -> Any:
    """The body with the asked-for id blanked, so that "out of scope" and "missing" can be compared."""
    return json.loads(response.text.replace(value, "<id>"))


FORBIDDEN = re.compile(r"role (\w+) may not .+ \(needs (\w+)\)")


# -- 401 for everyone without credentials -------------------------------------------------------------------


def test_the_routes_checked_are_the_ones_the_openapi_page_lists(world: World) -> None:
    listed = {(m.lower(), p) for p, ops in world.app.openapi()["paths"].items() for m in ops}
    routed = {(m.lower(), p) for m, p, _ in api_routes(world.app)}
    assert listed == routed
    assert len(routed) >= 20


async def test_every_route_refuses_a_caller_without_valid_credentials(world: World) -> None:
    bad = {
        "no credentials": {},
        "unknown token": {"Authorization": "Bearer fgw_not-a-token"},
        "not a bearer": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "unknown session": {"Cookie": "firegw_session=made-up"},
    }
    before = world.engine.store.counts()
    checked = 0
    for method, path, _ in api_routes(world.app):
        if path in ("/api/auth/login", "/metrics"):
            continue  # public by design: the sign-in, and Prometheus's scrape (gateway-wide counters only)
        url = fill(world, path, "E001")
        for why, headers in bad.items():
            body = {} if method in ("POST", "PUT", "PATCH") else None
            r = await world.http.request(method, url, headers=headers, json=body)
            assert r.status_code == 401, f"{method} {path} ({why}): {r.status_code} {r.text[:200]}"
            assert r.json()["error"] == "unauthenticated"
            assert r.headers["www-authenticate"].startswith("Bearer")
            checked += 1
    assert checked >= 4 * 20
    assert world.engine.store.counts() == before, "an anonymous request changed something"


# -- reading: every GET route, every account, every estate ---------------------------------------------------


async def test_every_get_route_shows_each_account_only_its_own_estates(world: World) -> None:
    routes = [(p, r) for m, p, r in api_routes(world.app) if m == "GET" and not is_streaming(r)]
    assert routes
    for path, _ in routes:
        params = path_params(path)
        resource_bound = bool(params) and all(p in RESOURCE_PARAMS for p in params)
        query = REQUIRED_QUERY.get(path, {})
        for account in ACCOUNTS:
            headers = world.as_(account.username)
            hidden = ALL - account.sees
            if resource_bound:
                for estate in sorted(ESTATES):
                    url = fill(world, path, estate)
                    where = f"{account.username} GET {url}"
                    r = await world.http.get(url, params=query, headers=headers)
                    if estate in account.sees:
                        assert r.status_code not in (401, 403, 404), (
                            f"{where}: {r.status_code} {r.text[:300]}"
                        )
                        assert_no_leak(r, hidden, where)
                    else:
                        assert r.status_code == 404, f"{where}: {r.status_code} {r.text[:300]}"
                        missing_url = fill(world, path, None, missing=True)
                        missing = await world.http.get(missing_url, params=query, headers=headers)
                        assert missing.status_code == 404
                        asked = url.rstrip("/").split("/")
                        value = next(v for v in asked if v not in missing_url.split("/"))
                        absent = next(v for v in missing_url.split("/") if v not in asked)
                        assert normalised(r, value) == normalised(missing, absent), (
                            f"{where}: answers differently from a missing resource: {r.text} / {missing.text}"
                        )
            else:
                url = fill(world, path, None)
                attempts = [query] + [
                    {**query, "estate_id": e, "district": ESTATES[e][0], "company": ESTATES[e][2]}
                    for e in sorted(hidden)
                ]
                for params_ in attempts:
                    where = f"{account.username} GET {url} {params_}"
                    r = await world.http.get(url, params=params_, headers=headers)
                    assert r.status_code != 401, where
                    if r.status_code == 403:
                        assert FORBIDDEN.fullmatch(r.json()["detail"]), r.text
                    assert_no_leak(r, hidden, where)


async def test_lists_hold_exactly_the_estates_in_scope(world: World) -> None:
    for account in ACCOUNTS:
        h = world.as_(account.username)
        sees = set(account.sees)
        estates = (await world.http.get("/api/estates", headers=h)).json()
        assert {e["id"] for e in estates} == sees, account.username
        hazards = (await world.http.get("/api/hazards", headers=h)).json()
        assert {x["estate_id"] for x in hazards} == sees
        alarms = (await world.http.get("/api/alarms", headers=h)).json()
        assert {x["estate"] for x in alarms} == sees
        complaints = (await world.http.get("/api/complaints", headers=h)).json()
        assert {x["estate_id"] for x in complaints} == sees
        fires = (await world.http.get("/api/fires", headers=h)).json()
        assert {x["estate_id"] for x in fires} == sees
        devices = (await world.http.get("/api/devices", headers=h)).json()
        assert {x["estate_id"] for x in devices} == sees
        health = (await world.http.get("/api/health", headers=h)).json()
        assert health["estates"] == len(sees)
        assert (health["rules"] is not None) == (sees == ALL), "city-wide counters only for city-wide callers"
        # Asking for an estate outside the scope by filter gives nothing, not an error that confirms it.
        for other in ALL - sees:
            for route in ("/api/hazards", "/api/alarms", "/api/complaints", "/api/fires"):
                r = await world.http.get(route, params={"estate_id": other}, headers=h)
                assert r.status_code == 200, (account.username, route, other)
                assert r.json() == [], (account.username, route, other)
            r = await world.http.get("/api/devices", params={"estate_id": other}, headers=h)
            assert r.json() == []


async def read_live(
    world: World, headers: dict[str, str], trigger: Callable[[], None], want: set[str]
) -> str:
    """Open ``/api/live`` as a raw ASGI call (the stream never ends by itself), run ``trigger`` once the
    stream says hello, and read until every id in ``want`` was seen or two seconds passed."""
    chunks: list[bytes] = []
    hello = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the client stays connected until the task is cancelled
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if b"event: hello" in b"".join(chunks):
                hello.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/live",
        "raw_path": b"/api/live",
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    task = asyncio.create_task(world.app(scope, receive, send))
    try:
        await asyncio.wait_for(hello.wait(), 5)
        trigger()
        for _ in range(40):
            text = b"".join(chunks).decode()
            if all(e in text for e in want):
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return b"".join(chunks).decode()


async def test_the_live_feed_carries_only_the_callers_estates(world: World) -> None:
    streaming = {p for m, p, r in api_routes(world.app) if m == "GET" and is_streaming(r)}
    assert streaming == {"/api/live"}, f"a new streaming route needs a scope case here: {streaming}"
    for account in ACCOUNTS:

        def trigger() -> None:
            for estate in sorted(ESTATES):
                world.file(estate, f"{estate} live hazard")  # hazard and grade updates
                detector = world.device(estate, "smoke_detector")
                event = DeviceEvent(device_id=detector, time=T0, type=EventType.FAULT)
                world.pipeline.live.publish(LiveEvent(T0, world.registry.device(detector), event))

        text = await read_live(world, world.as_(account.username), trigger, set(account.sees))
        for estate in account.sees:
            assert f"{estate} live hazard" in text, (account.username, estate)
            assert f'"device":"{world.device(estate, "smoke_detector")}"' in text
        for estate in ALL - account.sees:
            assert estate not in text, f"{account.username} was sent an event of {estate}"


# -- writing: scope first (404), then permission (403) -------------------------------------------------------


@dataclass(frozen=True)
class WriteCase:
    """One write route: how to call it for an estate, what it needs, and where the account's name lands."""

    permission: str
    what: str
    call: Callable[[World, str], tuple[str, str, dict[str, Any]]]  # (method, url, json) for an estate
    recorded: Callable[[dict[str, Any]], str]  # the name the answer records as who did it


def _file(w: World, e: str) -> tuple[str, str, dict[str, Any]]:
    body = {"estate_id": e, "criterion": "Y3", "description": "group rental", "reporter": "someone else"}
    return "POST", "/api/hazards", body


def _complaint(w: World, e: str) -> tuple[str, str, dict[str, Any]]:
    body = {"estate_id": e, "received_at": (T0 - timedelta(hours=1)).isoformat(), "reporter": "someone else"}
    return "POST", "/api/complaints", body


def _fire(w: World, e: str) -> tuple[str, str, dict[str, Any]]:
    body = {
        "estate_id": e,
        "occurred_at": (T0 - timedelta(hours=1)).isoformat(),
        "recorded_by": "someone else",
    }
    return "POST", "/api/fires", body


def _alarm(w: World, e: str) -> tuple[str, str, dict[str, Any]]:
    alarm = w.raise_alarm(e)
    return "POST", f"/api/alarms/{alarm}/transitions", {"action": "acknowledge", "actor": "someone else"}


def _assessment(w: World, e: str) -> tuple[str, str, dict[str, Any]]:
    body = {"kind": "assessment", "at": (T0 - timedelta(hours=1)).isoformat(), "met": ["G1"], "by": "someone"}
    return "POST", f"/api/estates/{e}/assessments", body


def _void_assessment(w: World, e: str) -> tuple[str, str, dict[str, Any]]:
    record = w.engine.assessments.record(
        estate_id=e, kind="assessment", at=T0 - timedelta(hours=1), by="setup", met=["G1"]
    )
    return "POST", f"/api/assessments/{record.id}/void", {"reason": "录错", "by": "someone else"}


def _estate_status(w: World, e: str) -> tuple[str, str, dict[str, Any]]:
    out_of_use = not w.engine.store.estate_status.latest().get(e, False)
    return "POST", f"/api/estates/{e}/status", {"out_of_use": out_of_use, "reason": "停租", "by": "someone"}


def _window(w: World, e: str) -> tuple[str, str, dict[str, Any]]:
    ends_at = (w.engine.clock() + timedelta(hours=1)).isoformat()
    body = {"estate_id": e, "ends_at": ends_at, "reason": "月度测试", "declared_by": "someone else"}
    return "POST", "/api/windows", body


def _end_window(w: World, e: str) -> tuple[str, str, dict[str, Any]]:
    now = w.engine.clock()
    window = w.engine.windows.declare(
        estate_id=e, starts_at=now, ends_at=now + timedelta(hours=1), reason="月度测试", declared_by="setup"
    )
    return "POST", f"/api/windows/{window.id}/end", {"reason": "done", "by": "someone else"}


def _void_complaint(w: World, e: str) -> tuple[str, str, dict[str, Any]]:
    complaint = w.engine.incidents.add_complaint(
        estate_id=e, received_at=T0 - timedelta(hours=1), channel="12345", description=e, reporter="x"
    )
    return "POST", f"/api/complaints/{complaint.id}/void", {"reason": "误登记", "by": "someone else"}


def _placard_posting(w: World, e: str) -> tuple[str, str, dict[str, Any]]:
    return "POST", f"/api/estates/{e}/placard-postings", {"note": "正门", "posted_by": "someone else"}


WRITE_CASES: dict[tuple[str, str], WriteCase] = {
    ("POST", "/api/estates/{estate_id}/placard-postings"): WriteCase(
        "post_placard", "record placard postings", _placard_posting, lambda b: b["posted_by"]
    ),
    ("POST", "/api/windows"): WriteCase(
        "declare_window", "declare maintenance windows", _window, lambda b: b["declared_by"]
    ),
    ("POST", "/api/windows/{window_id}/end"): WriteCase(
        "declare_window", "end maintenance windows", _end_window, lambda b: b["ended_by"]
    ),
    ("POST", "/api/complaints/{complaint_id}/void"): WriteCase(
        "void_complaint", "void complaints", _void_complaint, lambda b: b["changes"][-1]["by"]
    ),
    ("POST", "/api/estates/{estate_id}/assessments"): WriteCase(
        "record_assessment", "record assessments", _assessment, lambda b: b["recorded_by"]
    ),
    ("POST", "/api/assessments/{assessment_id}/void"): WriteCase(
        "record_assessment", "void assessments or evidence", _void_assessment, lambda b: b["voided_by"]
    ),
    ("POST", "/api/estates/{estate_id}/status"): WriteCase(
        "set_estate_status", "set an estate out of use", _estate_status, lambda b: b["history"][-1]["by"]
    ),
    ("POST", "/api/hazards"): WriteCase(
        "file_hazard", "file hazards", _file, lambda b: b["history"][0]["actor"]
    ),
    ("POST", "/api/complaints"): WriteCase(
        "record_complaint", "record complaints", _complaint, lambda b: b["reporter"]
    ),
    ("POST", "/api/fires"): WriteCase("record_fire", "record fires", _fire, lambda b: b["recorded_by"]),
    ("POST", "/api/alarms/{alarm_id}/transitions"): WriteCase(
        "handle_alarm", "'acknowledge' alarms", _alarm, lambda b: b["history"][-1]["actor"]
    ),
}
PARTIES_TEST = "test_parties_are_read_in_scope_and_managed_by_office_and_brigade_only"
#: Write routes with tests of their own below.
HANDOVER_TEST = (
    "test_handover.py::test_only_another_account_of_the_room_signs_and_a_pending_handover_blocks_the_next"
)
OTHER_WRITES = {
    ("POST", "/api/hazards/{hazard_id}/transitions"): "test_hazard_actions_need_their_permission",
    ("POST", "/api/uploads"): "test_uploads_need_an_account",
    ("POST", "/api/hazards/{hazard_id}/photos"): (
        "test_hazard_photos.py::test_who_may_add_which_step, "
        "test_a_hazard_outside_the_scope_is_404_and_so_are_its_photos"
    ),
    ("POST", "/api/auth/login"): "test_login_sets_an_httponly_session_cookie_and_me_answers_the_same",
    ("POST", "/api/auth/logout"): "test_logout_ends_the_session",
    ("POST", "/api/auth/tokens"): "test_admins_create_list_and_revoke_tokens",
    ("DELETE", "/api/auth/tokens/{token_id}"): "test_admins_create_list_and_revoke_tokens",
    ("POST", "/api/complaints/merge"): (
        "test_complaints_void_merge.py::test_void_and_merge_through_the_api_by_office_and_brigade_only"
    ),
    ("POST", "/api/parties"): PARTIES_TEST,
    ("PATCH", "/api/parties/{party_id}"): PARTIES_TEST,
    ("POST", "/api/handovers"): HANDOVER_TEST,
    ("POST", "/api/handovers/{handover_id}/sign"): HANDOVER_TEST,
    ("POST", "/api/auth/users/{username}/unlock"): (
        "test_hostile_people.py::test_office_and_brigade_unlock_within_their_reach_and_it_is_audited"
    ),
    ("POST", "/api/auth/addresses/{address}/unlock"): (
        "test_lockouts.py::test_each_sees_the_locks_it_may_end_and_only_the_city_wide_end_an_address"
    ),
}


def test_every_write_route_has_a_case(world: World) -> None:
    writes = {(m, p) for m, p, _ in api_routes(world.app) if m != "GET"}
    missing = writes - set(WRITE_CASES) - set(OTHER_WRITES)
    assert not missing, f"write routes without a scope/permission case in this file: {sorted(missing)}"


async def test_writes_are_404_outside_the_scope_and_403_without_the_permission(world: World) -> None:
    for (method, path), case in WRITE_CASES.items():
        for account in ACCOUNTS:
            headers = world.as_(account.username)
            for estate in sorted(ESTATES):
                verb, url, body = case.call(world, estate)
                assert verb == method
                where = f"{account.username} {method} {path} on {estate}"
                before = world.engine.store.counts()
                r = await world.http.request(method, url, json=body, headers=headers)
                if estate not in account.sees:
                    assert r.status_code == 404, f"{where}: {r.status_code} {r.text}"
                    assert world.engine.store.counts() == before, f"{where} changed something"
                    if "estate_id" in body:  # the same answer as for an estate that does not exist
                        missing = await world.http.request(
                            method, url, json={**body, "estate_id": "E999"}, headers=headers
                        )
                        assert normalised(r, estate) == normalised(missing, "E999"), where
                    else:  # the same answer as for an alarm that does not exist
                        alarm = url.split("/")[3]
                        missing_url = url.replace(f"/{alarm}/", "/999999/")
                        missing = await world.http.request(method, missing_url, json=body, headers=headers)
                        assert normalised(r, alarm) == normalised(missing, "999999"), where
                elif case.permission in permissions_of(account):
                    assert r.status_code in (200, 201), f"{where}: {r.status_code} {r.text}"
                    assert case.recorded(r.json()) == account.display_name, "the account is recorded"
                else:
                    assert r.status_code == 403, f"{where}: {r.status_code} {r.text}"
                    assert r.json() == {
                        "error": "forbidden",
                        "detail": f"role {account.role} may not {case.what} (needs {case.permission})",
                    }
                    assert world.engine.store.counts() == before, f"{where} changed something"


#: Hazard action: (steps that bring a new hazard to a state that allows it, extra body, permission).
HAZARD_ACTIONS: dict[str, tuple[list[str], dict[str, str], str]] = {
    "dispatch": ([], {"responsible": "锦绣物业"}, "dispatch_hazard"),
    "start": ([], {}, "rectify_hazard"),
    "rectified": (["start"], {"evidence": "photo/after.jpg"}, "rectify_hazard"),
    "verify": (["start", "rectified"], {}, "verify_hazard"),
    "reject": (["start", "rectified"], {"reason": "not fixed"}, "verify_hazard"),
    "close": ([], {"reason": "duplicate"}, "verify_hazard"),
    "recheck": (["start", "rectified", "verify"], {"outcome": "passed"}, "recheck_hazard"),
    "note": ([], {"reason": "photo added"}, "note_hazard"),
    # The gateway's own actions: refused by the engine for people (422) once the permission is there.
    "auto_close": ([], {}, "verify_hazard"),
    "escalate": ([], {}, "verify_hazard"),
}


async def test_hazard_actions_need_their_permission(world: World) -> None:
    assert set(HAZARD_ACTIONS) == {a.value for a in HazardAction}
    for account in ACCOUNTS:
        headers = world.as_(account.username)
        estate = min(account.sees)
        for action, (steps, extra, permission) in HAZARD_ACTIONS.items():
            hid = world.file(estate)
            # A re-check is due 30 days after verification: verified 40 days ago.
            at = world.engine.clock() - timedelta(days=40) if action == "recheck" else None
            for s in steps:
                world.engine.hazards.step(hid, HazardAction(s), actor="setup", now=at)
            before = world.engine.store.counts()
            body = {"action": action, "actor": "someone else", **extra}
            r = await world.http.post(f"/api/hazards/{hid}/transitions", json=body, headers=headers)
            where = f"{account.username} {action}"
            if permission not in permissions_of(account):
                assert r.status_code == 403, f"{where}: {r.text}"
                detail = f"role {account.role} may not '{action}' hazards (needs {permission})"
                assert r.json() == {"error": "forbidden", "detail": detail}
                assert world.engine.store.counts() == before
            elif action in ("auto_close", "escalate"):
                assert r.status_code == 422, where
                assert "done by the gateway itself" in r.text
            else:
                assert r.status_code == 200, f"{where}: {r.text}"
                last = r.json()["history"][-1]
                assert (last["action"], last["actor"]) == (action, account.display_name)
        # Another estate's hazard is not there, whatever the action.
        for other in sorted(ALL - account.sees):
            hid = world.hazards[other]
            r = await world.http.post(
                f"/api/hazards/{hid}/transitions", json={"action": "note", "reason": "x"}, headers=headers
            )
            missing = await world.http.post(
                "/api/hazards/999999/transitions", json={"action": "note", "reason": "x"}, headers=headers
            )
            assert r.status_code == missing.status_code == 404
            assert normalised(r, str(hid)) == normalised(missing, "999999")


async def test_parties_are_read_in_scope_and_managed_by_office_and_brigade_only(world: World) -> None:
    """Parties serve estates: each account reads those serving its estates (with only those estates), and
    only office and brigade accounts add or change them; another estate is as unknown as none at all."""
    from gateway.store.parties import PartyKind

    now = world.engine.clock()
    only_e004 = world.engine.store.parties.create(
        kind=PartyKind.MAINTENANCE_COMPANY, name="维保 四号", estate_ids=["E004"], actor="setup", now=now
    )
    for account in ACCOUNTS:
        h = world.as_(account.username)
        manages = "manage_parties" in permissions_of(account)
        listed = (await world.http.get("/api/parties", headers=h)).json()
        assert {e for p in listed for e in p["estate_ids"]} == set(account.sees), account.username
        assert all((p["channels"] is not None) == manages for p in listed), "webhook keys only to managers"
        estate = min(account.sees)
        body = {
            "kind": "community",
            "name": f"{account.username} 社区",
            "contact": "张主任",
            "phone": "010-12345678",
            "channels": ["https://oapi.dingtalk.com/robot/send?access_token=x"],
            "estate_ids": [estate],
            "actor": "someone else",
        }
        registry_party = next(p for p in listed if p["kind"] == "property_company")
        before = world.engine.store.counts()
        created = await world.http.post("/api/parties", json=body, headers=h)
        patched = await world.http.patch(
            f"/api/parties/{registry_party['id']}", json={"contact": "李经理"}, headers=h
        )
        where = account.username
        if manages:
            assert created.status_code == 201, f"{where}: {created.text}"
            assert created.json()["estate_ids"] == [estate]
            versions = world.engine.store.parties.versions(created.json()["id"])
            assert versions[-1].actor == account.display_name, "the account is recorded"
            assert patched.status_code == 200, f"{where}: {patched.text}"
            party = world.engine.store.parties.get(registry_party["id"])
            assert party.contact == "李经理"
            # Estates outside the scope stay served, untouched by a caller who cannot see them.
            assert set(party.estate_ids) >= {"E001", "E003"} or set(party.estate_ids) >= {"E002", "E004"}
            for other in sorted(ALL - account.sees):
                r = await world.http.post("/api/parties", json={**body, "estate_ids": [other]}, headers=h)
                unknown = {**body, "estate_ids": ["E999"]}
                missing = await world.http.post("/api/parties", json=unknown, headers=h)
                assert r.status_code == missing.status_code == 422, f"{where}: {r.text}"
                assert normalised(r, other) == normalised(missing, "E999")
        else:
            for r in (created, patched):
                assert r.status_code == 403, f"{where}: {r.status_code} {r.text}"
                detail = f"role {account.role} may not manage parties (needs manage_parties)"
                assert r.json() == {"error": "forbidden", "detail": detail}
            assert world.engine.store.counts() == before, f"{where} changed something"
        if "E004" not in account.sees:
            r = await world.http.patch(f"/api/parties/{only_e004.id}", json={"contact": "x"}, headers=h)
            missing = await world.http.patch("/api/parties/999999", json={"contact": "x"}, headers=h)
            assert r.status_code == missing.status_code == 404
            assert normalised(r, str(only_e004.id)) == normalised(missing, "999999")


async def test_uploads_need_an_account(world: World) -> None:
    buffer = io.BytesIO()  # a real image: every upload is checked by its content (gateway/uploads.py)
    Image.new("RGB", (4, 3), (200, 30, 30)).save(buffer, format="PNG")
    png = buffer.getvalue()
    for account in ACCOUNTS:
        r = await world.http.post(
            "/api/uploads", content=png, headers={**world.as_(account.username), "content-type": "image/png"}
        )
        assert r.status_code in (201, 403), r.text
        if {"file_hazard", "note_hazard"} & permissions_of(account):
            assert r.status_code == 201
    r = await world.http.post("/api/uploads", content=png, headers={"content-type": "image/png"})
    assert r.status_code == 401


# -- accounts: sign-in, sessions, tokens --------------------------------------------------------------------


async def test_me_tells_each_account_its_role_permissions_and_scope(world: World) -> None:
    for account in ACCOUNTS:
        me = (await world.http.get("/api/auth/me", headers=world.as_(account.username))).json()
        assert set(me) == {"username", "display_name", "role", "admin", "permissions", "scope", "expires_at"}
        assert me["username"] == account.username
        assert me["display_name"] == account.display_name
        assert me["role"] == account.role
        assert me["admin"] is account.admin
        assert set(me["permissions"]) == permissions_of(account)
        assert set(me["scope"]) == {"kind", "district", "street", "company"}
        kind = "company" if "company" in account.scope else "area" if "district" in account.scope else "all"
        assert me["scope"]["kind"] == kind
        for key in ("district", "street", "company"):
            assert me["scope"][key] == account.scope.get(key)


async def test_login_sets_an_httponly_session_cookie_and_me_answers_the_same(world: World) -> None:
    account = BY_NAME["property_jx"]
    async with world.client() as browser:
        r = await browser.post(
            "/api/auth/login", json={"username": account.username, "password": account.password}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {
            "username",
            "display_name",
            "role",
            "admin",
            "permissions",
            "scope",
            "expires_at",
        }
        assert body["role"] == "property"
        assert body["scope"] == {"kind": "company", "district": None, "street": None, "company": "锦绣物业"}
        assert datetime.fromisoformat(body["expires_at"]) == world.auth_clock() + timedelta(hours=12)
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("firegw_session=")
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        assert "Max-Age=43200" in cookie
        assert "Secure" not in cookie
        secret = browser.cookies["firegw_session"]
        assert len(secret) >= 40
        me = await browser.get("/api/auth/me")
        assert me.status_code == 200
        assert me.json() == body
        # The session sees what the account sees, and nothing else.
        estates = (await browser.get("/api/estates")).json()
        assert {e["id"] for e in estates} == set(account.sees)
        assert (await browser.get("/api/estates/E002")).status_code == 404
    # Only the secret's SHA-256 is stored.
    with world.engine.store.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(sessions)).mappings()]
    assert [r["secret_sha256"] for r in rows] == [hashlib.sha256(secret.encode()).hexdigest()]
    assert all(secret not in str(v) for r in rows for v in r.values())
    assert world.auth.counters.logins == 1


async def test_failed_logins_say_nothing_about_which_part_was_wrong_and_are_counted(world: World) -> None:
    world.auth.store.create_user(username="tokens_only", role="viewer", password=None, now=world.auth_clock())
    world.auth.store.create_user(
        username="gone", role="viewer", password="a-good-password", now=world.auth_clock()
    )
    world.auth.store.set_disabled("gone", True, world.auth_clock())
    attempts = [
        {"username": "property_jx", "password": "wrong-password"},
        {"username": "nobody", "password": "wrong-password"},
        {"username": "tokens_only", "password": "wrong-password"},
        {"username": "gone", "password": "a-good-password"},
        {"username": "property_jx", "password": BY_NAME["property_jx"].password.upper()},
    ]
    for attempt in attempts:
        r = await world.http.post("/api/auth/login", json=attempt)
        assert r.status_code == 401
        assert r.json() == {"error": "unauthenticated", "detail": "wrong username or password"}
        assert "set-cookie" not in r.headers
    assert world.auth.counters.login_failures == len(attempts)
    user = world.auth.store.user("property_jx")
    assert (user.failed_logins, user.failed_logins_total) == (2, 2)
    # A success resets the run of failures (the total stays).
    account = BY_NAME["property_jx"]
    r = await world.http.post(
        "/api/auth/login", json={"username": account.username, "password": account.password}
    )
    assert r.status_code == 200
    user = world.auth.store.user("property_jx")
    assert (user.failed_logins, user.failed_logins_total) == (0, 2)
    assert user.last_login_at == world.auth_clock()


async def test_logout_ends_the_session(world: World) -> None:
    account = BY_NAME["office_east"]
    async with world.client() as browser:
        r = await browser.post(
            "/api/auth/login", json={"username": account.username, "password": account.password}
        )
        secret = browser.cookies["firegw_session"]
        assert (await browser.get("/api/auth/me")).status_code == 200
        r = await browser.post("/api/auth/logout", headers={"X-Requested-With": "test"})  # CSRF proof
        assert r.status_code == 204
        assert r.content == b""
        assert "firegw_session=" in r.headers["set-cookie"]  # the browser is told to forget it
    # The session is revoked on the server, whether or not the browser forgot the cookie.
    r = await world.http.get("/api/auth/me", headers={"Cookie": f"firegw_session={secret}"})
    assert r.status_code == 401
    assert r.json()["error"] == "unauthenticated"


async def test_expired_sessions_and_tokens_are_refused(world: World) -> None:
    account = BY_NAME["grid_west"]
    async with world.client() as browser:
        await browser.post(
            "/api/auth/login", json={"username": account.username, "password": account.password}
        )
        world.auth_clock.advance(hours=11, minutes=59)
        assert (await browser.get("/api/auth/me")).status_code == 200
        world.auth_clock.advance(minutes=1)
        r = await browser.get("/api/estates")
        assert r.status_code == 401
        assert "session" in r.json()["detail"]
    # Tokens: 90 days by default, or what they were given.
    _, short_secret = world.auth.create_token(account.username, ttl=timedelta(days=1))
    headers = {"Authorization": f"Bearer {short_secret}"}
    assert (await world.http.get("/api/estates", headers=headers)).status_code == 200
    world.auth_clock.advance(days=1)
    assert (await world.http.get("/api/estates", headers=headers)).status_code == 401
    assert (await world.http.get("/api/estates", headers=world.as_(account.username))).status_code == 200
    world.auth_clock.advance(days=89)  # the fixture's tokens were made at T0 with the default 90 days
    r = await world.http.get("/api/estates", headers=world.as_(account.username))
    assert r.status_code == 401
    assert r.json()["detail"] == "the API token is not valid (unknown, expired or revoked)"


async def test_admins_create_list_and_revoke_tokens(world: World) -> None:
    admin = world.as_("admin")
    for account in ACCOUNTS:
        if account.admin:
            continue
        for method, url in (
            ("GET", "/api/auth/tokens"),
            ("POST", "/api/auth/tokens"),
            ("DELETE", "/api/auth/tokens/1"),
        ):
            r = await world.http.request(
                method, url, json={} if method == "POST" else None, headers=world.as_(account.username)
            )
            assert r.status_code == 403, (account.username, method, url)
            assert r.json() == {
                "error": "forbidden",
                "detail": f"role {account.role} may not manage API tokens (needs admin)",
            }
    r = await world.http.post(
        "/api/auth/tokens",
        json={"username": "property_lc", "ttl_days": 7, "label": "物业 大屏"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    made = r.json()
    secret = made["token"]
    assert secret.startswith("fgw_")
    assert len(secret) > 40
    assert made["username"] == "property_lc"
    assert made["created_by"] == "admin"
    assert datetime.fromisoformat(made["expires_at"]) == world.auth_clock() + timedelta(days=7)
    token = {"Authorization": f"Bearer {secret}"}
    estates = (await world.http.get("/api/estates", headers=token)).json()
    assert {e["id"] for e in estates} == {"E002", "E004"}, "the token acts as its account, in its scope"
    listed = await world.http.get("/api/auth/tokens", headers=admin)
    assert listed.status_code == 200
    assert secret not in listed.text, "a secret is shown once"
    assert "token" not in listed.json()[0]
    assert made["id"] in [t["id"] for t in listed.json()]
    r = await world.http.delete(f"/api/auth/tokens/{made['id']}", headers=admin)
    assert r.status_code == 200
    assert r.json()["revoked_at"] is not None
    r = await world.http.get("/api/estates", headers=token)
    assert r.status_code == 401
    assert (await world.http.delete("/api/auth/tokens/999999", headers=admin)).status_code == 404
    r = await world.http.post("/api/auth/tokens", json={"username": "nobody"}, headers=admin)
    assert r.status_code == 404
    # Only hashes are stored.
    with world.engine.store.engine.connect() as conn:
        assert secret not in json.dumps(
            [dict(x) for x in conn.execute(select(users)).mappings()], default=str
        )


async def test_a_disabled_account_loses_its_sessions_and_tokens(world: World) -> None:
    account = BY_NAME["viewer_area"]
    async with world.client() as browser:
        await browser.post(
            "/api/auth/login", json={"username": account.username, "password": account.password}
        )
        assert (await browser.get("/api/auth/me")).status_code == 200
        world.auth.store.set_disabled(account.username, True, world.auth_clock())
        assert (await browser.get("/api/auth/me")).status_code == 401
    assert (await world.http.get("/api/auth/me", headers=world.as_(account.username))).status_code == 401
    world.auth.store.set_disabled(account.username, False, world.auth_clock())
    r = await world.http.get("/api/auth/me", headers=world.as_(account.username))
    assert r.status_code == 401, "its tokens stay revoked after it is enabled again"


def test_password_hashes_are_argon2id_and_passwords_have_a_minimum_length(world: World) -> None:
    with world.engine.store.engine.connect() as conn:
        stored = {r["username"]: r["password_hash"] for r in conn.execute(select(users)).mappings()}
    for account in ACCOUNTS:
        assert stored[account.username].startswith("$argon2id$"), account.username
        assert account.password not in stored[account.username]
        assert passwords.verify_password(stored[account.username], account.password)
    # The hasher in force outside tests: argon2id with RFC 9106's low-memory parameters.
    params = argon2.extract_parameters(DEFAULT_HASHER.hash("a-real-password-1"))
    assert params.type is argon2.Type.ID
    assert (params.memory_cost, params.time_cost) == (65536, 3)
    with pytest.raises(passwords.PasswordError, match="at least 10"):
        passwords.hash_password("short-pw1")
    passwords.hash_password("exactly-10")


# -- accounts disabled, the CLI and the demo accounts --------------------------------------------------------


async def test_with_accounts_disabled_the_api_is_open_and_the_body_names_the_actor(world: World) -> None:
    services = world.app.state.services
    open_app = create_app(
        ApiServices(
            services.registry, services.pipeline, services.engine, services.deadletters, services.clock
        )
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=open_app), base_url="http://test") as http:
        assert {e["id"] for e in (await http.get("/api/estates")).json()} == ALL
        assert (await http.get("/api/auth/me")).status_code == 404, "the UI reads 404 as: no sign-in"
        hid = world.hazards["E003"]
        r = await http.post(f"/api/hazards/{hid}/transitions", json={"action": "note", "reason": "x"})
        assert r.status_code == 422
        assert "actor: required when accounts are disabled" in r.json()["detail"]
        r = await http.post(f"/api/hazards/{hid}/transitions", json={"action": "note", "actor": "值班员 李"})
        assert r.status_code == 200
        assert r.json()["history"][-1]["actor"] == "值班员 李"


def test_the_cli_creates_the_first_admin_accounts_and_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.cli import main

    config = tmp_path / "gateway.toml"
    config.write_text('[gateway]\ndata_dir = "data"\n', encoding="utf-8")

    def run(*argv: str, stdin: str = "") -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        return main(list(argv))

    c = ["--config", str(config)]
    assert (
        run("users", "create-admin", *c, "--username", "root", "--password-stdin", stdin="too-short\n") == 2
    )
    assert "at least 10" in capsys.readouterr().err
    assert (
        run("users", "create-admin", *c, "--username", "root", "--password-stdin", stdin="a-long-password\n")
        == 0
    )
    assert (
        run("users", "create-admin", *c, "--username", "root2", "--password-stdin", stdin="a-long-password\n")
        == 2
    )
    assert "an admin account exists already" in capsys.readouterr().err
    assert (
        run(
            "users",
            "add",
            *c,
            "--username",
            "jx",
            "--role",
            "property",
            "--company",
            "锦绣物业",
            "--display-name",
            "锦绣物业 王",
            "--password-stdin",
            stdin="another-password\n",
        )
        == 0
    )
    assert (
        run(
            "users",
            "add",
            *c,
            "--username",
            "bad",
            "--role",
            "office",
            "--password-stdin",
            stdin="another-password\n",
        )
        == 2
    )
    assert "needs its area" in capsys.readouterr().err
    assert run("tokens", "create", *c, "--user", "jx", "--ttl-days", "3") == 0
    out = capsys.readouterr()
    secret = out.out.strip()
    assert secret.startswith("fgw_")
    assert "shown only now" in out.err
    store = AuthStore.open(f"sqlite:///{tmp_path / 'data' / 'hazards.sqlite'}")
    try:
        principal = store.token_principal(secret, datetime.now(UTC))
        assert principal is not None
        assert (principal.username, principal.role.value, principal.display_name) == (
            "jx",
            "property",
            "锦绣物业 王",
        )
        assert run("users", "list", *c) == 0
        listing = capsys.readouterr().out
        assert "root: brigade 消防救援大队, all estates [admin]" in listing
        assert "$argon2" not in listing
        assert run("users", "disable", *c, "--username", "jx") == 0
        assert store.token_principal(secret, datetime.now(UTC)) is None
    finally:
        store.close()


async def test_the_demo_makes_one_account_per_role_with_fresh_random_passwords(world: World) -> None:
    from gateway.demo import create_demo_accounts

    first = create_demo_accounts(world.auth, world.registry)
    assert [a.role.value for a in first] == ["brigade", "office", "property", "grid", "viewer"]
    second = create_demo_accounts(world.auth, world.registry)
    for old, new in zip(first, second, strict=True):
        assert old.password != new.password
        assert len(new.password) >= 10
        r = await world.http.post(
            "/api/auth/login", json={"username": new.username, "password": old.password}
        )
        assert r.status_code == 401, "the previous run's password no longer works"
        r = await world.http.post(
            "/api/auth/login", json={"username": new.username, "password": new.password}
        )
        assert r.status_code == 200
        assert r.json()["role"] == new.role.value
    scopes = {a.username: a.scope for a in second}
    assert scopes["office"] == "area 东城区"
    assert scopes["property"] == "company 锦绣物业"
    assert scopes["grid"] == "area 东城区 / 和平街道"
