"""Hostile people (issue 17): password guessing is throttled, a session that ends takes its live feeds with
it, and a browser is told what it may run, frame and send.

Two estates::

    E001 东城区 锦绣物业      E002 西城区 绿城物业

Sign-in throttling is driven through the real app (ASGI, one client address per transport) on a fake auth
clock; the live feeds and the browser check run against the app served by uvicorn on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from clock import FakeClock
from laid_out import laid_out_registry
from playwright.async_api import async_playwright, expect
from served_app import served, signed_in

from gateway.api import ApiServices, create_app
from gateway.auth import passwords
from gateway.auth.principal import Unauthenticated
from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.auth.throttle import Subject, Throttled
from gateway.casework.engine import RuleEngine
from gateway.cli import main
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.sinks.sqlite import SqliteSink
from gateway.store import HazardStore
from gateway.web import STATIC_DIR
from rules.policy import load_policy

pytestmark = pytest.mark.usefixtures("cheap_hashes")

CHROMIUM = "/usr/bin/chromium"
LAYOUT = {"E001": ("东城区", "锦绣物业"), "E002": ("西城区", "绿城物业")}
#: username -> (role, scope, admin)
ACCOUNTS: dict[str, tuple[str, dict[str, str], bool]] = {
    "brigade": ("brigade", {}, True),
    "office_east": ("office", {"district": "东城区"}, False),
    "office_west": ("office", {"district": "西城区"}, False),
    "grid_east": ("grid", {"district": "东城区"}, False),
    "property_jx": ("property", {"company": "锦绣物业"}, False),
    "property_lc": ("property", {"company": "绿城物业"}, False),
    "viewer_all": ("viewer", {}, False),
}
WRONG = {"error": "unauthenticated", "detail": "wrong username or password"}
CSRF = {"X-Requested-With": "test"}


def password_of(username: str) -> str:
    return f"{username}-pass-9876"


@dataclass
class World:
    app: Any
    engine: RuleEngine
    auth: AuthService
    clock: FakeClock
    url: str
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, address: str = "10.0.0.1") -> httpx.AsyncClient:
        """A client of its own (own cookies) that the app sees coming from ``address``."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 50000))
        return httpx.AsyncClient(transport=transport, base_url="http://test")

    def bearer(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    registry = laid_out_registry(LAYOUT)
    url = f"sqlite:///{tmp_path / 'hazards.sqlite'}"
    engine = RuleEngine(registry, load_policy(), HazardStore(url), clock=FakeClock())
    clock = FakeClock()
    auth = AuthService(AuthStore(engine.store.engine), clock=clock)
    deadletters = DeadLetterStore(tmp_path / "dl.sqlite")
    pipeline = Pipeline(registry, SqliteSink(tmp_path / "t.sqlite"), deadletters, clock=engine.clock)
    app = create_app(ApiServices(registry, pipeline, engine, deadletters, engine.clock, auth=auth))
    w = World(app, engine, auth, clock, url)
    for username, (role, scope, admin) in ACCOUNTS.items():
        auth.store.create_user(
            username=username,
            role=role,
            password=password_of(username),
            now=clock(),
            display_name=f"{username} 某",
            admin=admin,
            **scope,
        )
        w.tokens[username] = auth.create_token(username)[1]
    yield w
    deadletters.close()


async def sign_in(http: httpx.AsyncClient, username: str, password: str | None = None) -> httpx.Response:
    body = {"username": username, "password": password or password_of(username)}
    return await http.post("/api/auth/login", json=body)


# -- sign-in throttling --------------------------------------------------------------------------------------


async def test_thirty_wrong_passwords_lock_the_account_and_the_right_one_is_refused_too(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.auth.throttle")
    answers: dict[str, list[httpx.Response]] = {}
    async with world.client("10.0.0.1") as http:
        for name in ("property_jx", "no_such_account"):  # known or not: the same answers
            answers[name] = [await sign_in(http, name, "wrong-password-1") for _ in range(30)]
        right = await sign_in(http, "property_jx")
    for name, rs in answers.items():
        assert [r.status_code for r in rs] == [401] * 4 + [429] * 26, name
        assert all(r.json() == WRONG for r in rs[:4])
        locked = {
            "error": "too_many_attempts",
            "detail": f"sign-in as {name!r} is locked after 5 failed attempts; try again in 15 minutes "
            "(at 02:15 UTC), or ask an office, brigade or admin account to unlock it",
        }
        assert all(r.json() == locked and r.headers["retry-after"] == "900" for r in rs[4:]), rs[4].text
        assert "set-cookie" not in rs[-1].headers
    assert right.status_code == 429, "the right password is refused while the account is locked"
    assert right.json() == answers["property_jx"][-1].json()
    assert world.auth.counters.throttled == 2 * 25 + 1
    # One audit record and one log line per lock-out, not per refused attempt.
    events = world.auth.throttle.events()
    assert [(e.event, e.kind, e.name, e.failures, e.address) for e in events] == [
        ("lockout", Subject.ACCOUNT, "no_such_account", 5, "10.0.0.1"),
        ("lockout", Subject.ACCOUNT, "property_jx", 5, "10.0.0.1"),
    ]
    logged = [r.getMessage() for r in caplog.records if "sign-in locked" in r.getMessage()]
    assert len(logged) == 2
    assert "account 'property_jx' until 2026-11-23 02:15:00 UTC after 5 failed attempts" in logged[0]

    # Counts live in the store: a restarted gateway, or another one on the same store, refuses as well.
    other = AuthService(AuthStore(HazardStore(world.url).engine), clock=world.clock)
    with pytest.raises(Throttled, match="locked after 5 failed attempts") as refused:
        await other.login("property_jx", password_of("property_jx"), "10.0.0.9")
    assert refused.value.retry_after == 900
    world.clock.advance(minutes=5)
    async with world.client("10.0.0.2") as http:
        r = await sign_in(http, "property_jx")
        assert (r.status_code, r.headers["retry-after"]) == (429, "600")
        world.clock.advance(minutes=10)
        assert (await sign_in(http, "property_jx")).status_code == 200, "the lock is over"
        # A name locked again without a success in between is locked twice as long.
        rs = [await sign_in(http, "no_such_account", "wrong-password-1") for _ in range(5)]
        assert (rs[-1].status_code, rs[-1].headers["retry-after"]) == (429, "1800")
    # Failures counted by two gateways add up.
    for service in (world.auth, other, world.auth, other):
        with pytest.raises(Unauthenticated, match="wrong username or password"):
            await service.login("grid_east", "wrong-password-1", "10.0.0.3")
    with pytest.raises(Throttled):
        await other.login("grid_east", "wrong-password-1", "10.0.0.4")


async def test_one_address_trying_many_names_is_locked_out(world: World) -> None:
    async with world.client("10.0.0.66") as guesser, world.client("10.0.0.77") as colleague:
        rs = [await sign_in(guesser, f"user{i:02}", "wrong-password-1") for i in range(20)]
        assert [r.status_code for r in rs] == [401] * 19 + [429]
        locked = {
            "error": "too_many_attempts",
            "detail": "too many failed sign-ins from your address (20 within 15 minutes); try again in "
            "15 minutes (at 02:15 UTC)",
        }
        assert rs[-1].json() == locked
        r = await sign_in(guesser, "office_east")
        assert (r.status_code, r.json(), r.headers["retry-after"]) == (429, locked, "900")
        assert (await sign_in(colleague, "office_east")).status_code == 200, "only that address is locked"
        # Signing in successfully does not wipe an address's count: one good account cannot cover guessing.
        for i in range(19):
            assert (await sign_in(colleague, f"user{i:02}", "wrong-password-1")).status_code == 401
        assert (await sign_in(colleague, "office_west")).status_code == 200
        assert (await sign_in(colleague, "user99", "wrong-password-1")).status_code == 429, "its 20th failure"
    event = world.auth.throttle.events()[1]
    assert (event.event, event.kind, event.name, event.failures) == (
        "lockout",
        Subject.ADDRESS,
        "10.0.0.66",
        20,
    )


async def test_office_and_brigade_unlock_within_their_reach_and_it_is_audited(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.auth.throttle")
    async with world.client("10.0.0.5") as http:
        for name in ("grid_east", "property_jx", "office_west"):
            for _ in range(5):
                await sign_in(http, name, "wrong-password-1")
        assert (await sign_in(http, "grid_east")).status_code == 429

        def unlock(name: str, by: str) -> Any:
            return http.post(f"/api/auth/users/{name}/unlock", headers=world.bearer(by))

        for who in ("property_jx", "grid_east", "viewer_all"):
            r = await unlock("grid_east", who)
            assert r.status_code == 403, who
            role = ACCOUNTS[who][0]
            detail = f"role {role} may not unlock accounts (needs unlock_accounts)"
            assert r.json() == {"error": "forbidden", "detail": detail}
        # Another district's office: the same answer as for an account that does not exist.
        outside, missing = await unlock("grid_east", "office_west"), await unlock("nobody", "office_west")
        assert outside.status_code == missing.status_code == 404
        assert outside.text.replace("grid_east", "X") == missing.text.replace("nobody", "X")
        assert "an office unlocks the accounts working in its area" in outside.json()["detail"]
        assert (await unlock("property_jx", "office_west")).status_code == 404, "its estates are not there"
        assert (await unlock("office_west", "office_east")).status_code == 404
        assert (await unlock("brigade", "office_east")).status_code == 404, "not a city-wide admin"
        assert (await sign_in(http, "grid_east")).status_code == 429
        r = await unlock("grid_east", "office_east")
        assert r.status_code == 200, r.text
        assert r.json() == {
            "username": "grid_east",
            "was_locked_until": "2026-11-23T02:15:00Z",
            "unlocked_by": "office_east 某",
        }
        assert (await sign_in(http, "grid_east")).status_code == 200
        # A property company serving an estate of the area is the office's too; the brigade unlocks anyone.
        assert (await unlock("property_jx", "office_east")).status_code == 200
        assert (await sign_in(http, "property_jx")).status_code == 200
        r = await unlock("office_west", "brigade")
        assert (r.status_code, r.json()["unlocked_by"]) == (200, "brigade 某")
        assert (await sign_in(http, "office_west")).status_code == 200
        # A cookie-signed unlock needs the CSRF proof like any write.
        assert (await sign_in(http, "office_east")).status_code == 200
        r = await http.post("/api/auth/users/grid_east/unlock")
        assert r.status_code == 403
        r = await http.post("/api/auth/users/grid_east/unlock", headers=CSRF)
        assert (r.status_code, r.json()["was_locked_until"]) == (200, None)
    events = [(e.event, e.name, e.actor) for e in world.auth.throttle.events()]
    assert events == [
        ("unlock", "grid_east", "office_east 某"),
        ("unlock", "office_west", "brigade 某"),
        ("unlock", "property_jx", "office_east 某"),
        ("unlock", "grid_east", "office_east 某"),
        ("lockout", "office_west", ""),
        ("lockout", "property_jx", ""),
        ("lockout", "grid_east", ""),
    ]
    logged = [r.getMessage() for r in caplog.records if "sign-in unlocked" in r.getMessage()]
    assert logged[0] == (
        "sign-in unlocked: account 'grid_east' by office_east 某 (was locked until 2026-11-23 02:15:00 UTC)"
    )


async def test_the_cli_unlocks_lists_lockouts_and_refuses_weak_passwords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[gateway]\ndata_dir = "data"\n', encoding="utf-8")
    c = ["--config", str(config)]
    add = [*c, "--username", "jx_wang", "--role", "viewer", "--password-stdin"]

    def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    for weak, why in (
        ("1qaz2wsx3edc\n", "on the list of common passwords"),
        ("jx_wang2024\n", "may not be the username"),
        ("aaaaabbbbb\n", "at least 5 different characters"),
    ):
        code, _, err = run("users", "add", *add, stdin=weak)
        assert code == 2
        assert err.startswith("error: "), err
        assert why in err, err
    assert run("users", "add", *add, stdin="a-good-password\n")[0] == 0
    store = AuthStore.open(f"sqlite:///{tmp_path / 'data' / 'hazards.sqlite'}")
    try:
        auth = AuthService(store)
        for _ in range(4):
            with pytest.raises(Unauthenticated, match="wrong username"):
                await auth.login("jx_wang", "wrong-password-1", "10.1.1.1")
        with pytest.raises(Throttled):
            await auth.login("jx_wang", "wrong-password-1", "10.1.1.1")
        code, out, _ = run("users", "list", *c)
        assert "failed sign-ins 5 since, 5 in all; sign-in locked until" in out
        code, out, _ = run("users", "lockouts", *c)
        assert re.search(r"locked +account jx_wang until .* \(lock-out 1\)", out), out
        assert re.search(r"lockout +account jx_wang until .* after 5 failures from 10\.1\.1\.1", out), out
        code, out, _ = run("users", "unlock", *c, "--username", "jx_wang")
        assert code == 0
        assert re.fullmatch(r"sign-in of account jx_wang unlocked \(was locked until .* UTC\)\n", out), out
        await auth.login("jx_wang", "a-good-password", "10.1.1.1")
        assert run("users", "unlock", *c, "--username", "nobody")[1:] == ("", "error: no user 'nobody'\n")
        code, out, _ = run("users", "unlock", *c, "--address", "10.1.1.1")
        assert (code, out) == (0, "sign-in of address 10.1.1.1 unlocked (was not locked)\n")
        code, out, _ = run("users", "set-role", *c, "--username", "jx_wang", "--role", "office")
        assert code == 2
        code, out, _ = run(
            "users", "set-role", *c, "--username", "jx_wang", "--role", "grid", "--district", "东城区"
        )
        assert (code, out) == (0, "jx_wang: grid 网格员, area 东城区; its sessions have ended\n")
    finally:
        store.close()


def test_the_password_policy() -> None:
    for bad, why in (
        ("short-pw1", "at least 10 characters"),
        (" padded-password", "may not start or end with spaces"),
        ("1111122222", "at least 5 different characters"),
        ("QwertyUIOP", "common passwords"),
        ("Woaini1314", "common passwords"),
        ("office_east-2024", "may not be the username"),
    ):
        with pytest.raises(passwords.PasswordError, match=why):
            passwords.check_password(bad, "office_east")
    passwords.check_password("office_east is on duty", "office_east")
    passwords.check_password(passwords.generate_password(), "office_east")


# -- browser hardening ---------------------------------------------------------------------------------------

HARDENING = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def assert_hardened(r: httpx.Response, where: str) -> None:
    for name, value in HARDENING.items():
        assert r.headers.get(name) == value, f"{where}: {name} is {r.headers.get(name)!r}"
    csp = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    assert csp["script-src"] == "'self'", f"{where}: no inline script, no eval"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert csp["connect-src"] == "'self'"


async def test_every_page_static_file_and_api_answer_carries_the_browser_headers(world: World) -> None:
    async with world.client() as http:
        for path, headers, status in (
            ("/", {}, 200),
            ("/static/core.js", {}, 200),
            ("/static/app.css", {}, 200),
            ("/static/no-such-file.js", {}, 404),
            ("/api/estates", {}, 401),
            ("/api/estates", world.bearer("viewer_all"), 200),
            ("/api/auth/login", {}, 405),
            ("/openapi.json", {}, 200),
        ):
            r = await http.get(path, headers=headers)
            assert r.status_code == status, (path, r.status_code)
            assert_hardened(r, path)
        r = await sign_in(http, "office_east")
        assert_hardened(r, "sign-in")
        assert r.status_code == 200
        r = await http.get("/p/NO-SUCH-SERIAL")
        assert r.status_code == 404
        assert r.headers["referrer-policy"] == "no-referrer", "a route's own stricter header is kept"
        assert r.headers["x-frame-options"] == "DENY"
        docs = await http.get("/docs")
        assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


def test_the_ui_has_no_inline_script_and_no_inline_event_handlers() -> None:
    """Under ``script-src 'self'`` an inline ``<script>`` or an ``onclick="..."`` (also in HTML the scripts
    build as strings) would silently not run."""
    index = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", index) == []
    for path in sorted(STATIC_DIR.glob("*.*")):
        text = path.read_text(encoding="utf-8")
        handlers = re.findall(r"<[a-zA-Z][^<>]*\son[a-z]+\s*=", text)
        assert handlers == [], f"{path.name}: inline event handlers {handlers[:3]}"
        assert "javascript:" not in text, path.name


async def test_a_cookie_signed_write_needs_the_csrf_proof_and_a_bearer_one_does_not(world: World) -> None:
    hazard = {"estate_id": "E001", "criterion": "Y3", "location": "1号楼", "description": "群租"}
    async with world.client() as browser:
        assert (await sign_in(browser, "office_east")).status_code == 200
        before = world.engine.store.counts()
        r = await browser.post("/api/hazards", json=hazard)
        assert r.status_code == 403
        assert r.json() == {
            "error": "forbidden",
            "detail": "a POST signed in by the session cookie needs the header 'X-Requested-With' (the "
            "control room's pages send it); scripts sign in with 'Authorization: Bearer <token>' instead",
        }
        assert world.engine.store.counts() == before, "a refused write changes nothing"
        assert (await browser.post("/api/hazards", json=hazard, headers=CSRF)).status_code == 201
        same_origin = {"Sec-Fetch-Site": "same-origin"}  # what a browser sends for the page's own fetch()
        assert (await browser.post("/api/hazards", json=hazard, headers=same_origin)).status_code == 201
        for site in ("cross-site", "same-site"):  # another site's form or script, even with the header
            r = await browser.post("/api/hazards", json=hazard, headers={**CSRF, "Sec-Fetch-Site": site})
            assert r.status_code == 403
            assert r.json()["detail"].startswith(
                f"a POST from a page of another site is refused (Sec-Fetch-Site: {site})"
            )
        assert (await browser.get("/api/hazards")).status_code == 200, "reading needs no proof"
        # Someone else's page cannot sign a browser in to the attacker's account either.
        r = await browser.post(
            "/api/auth/login",
            json={"username": "grid_east", "password": password_of("grid_east")},
            headers={"Sec-Fetch-Site": "cross-site"},
        )
        assert r.status_code == 403
        # Without valid credentials it is 401 as before, not 403: nothing is said about the proof.
        r = await browser.post("/api/hazards", json=hazard, headers={"Cookie": "firegw_session=made-up"})
        assert r.status_code == 401
    async with world.client() as script:
        r = await script.post("/api/hazards", json=hazard, headers=world.bearer("office_east"))
        assert r.status_code == 201, "a bearer token is no ambient credential: no proof needed"
        r = await script.post(
            "/api/hazards",
            json=hazard,
            headers={**world.bearer("office_east"), "Sec-Fetch-Site": "cross-site"},
        )
        assert r.status_code == 201
    # A gateway without accounts refuses a write another site's page makes a browser send.
    services = world.app.state.services
    open_app = create_app(
        ApiServices(
            services.registry, services.pipeline, services.engine, services.deadletters, services.clock
        )
    )
    transport = httpx.ASGITransport(app=open_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        body = {**hazard, "reporter": "值班员"}
        r = await http.post("/api/hazards", json=body, headers={"Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403
        assert (await http.post("/api/hazards", json=body)).status_code == 201


# -- sessions that end ---------------------------------------------------------------------------------------


@dataclass
class Feed:
    """An open ``GET /api/live`` read line by line in a task."""

    lines: list[str] = field(default_factory=list)
    hello: asyncio.Event = field(default_factory=asyncio.Event)
    headers: httpx.Headers | None = None
    closed_at: float | None = None
    task: asyncio.Task[None] | None = None

    async def closed_within(self, seconds: float, since: float) -> float:
        assert self.task is not None
        await asyncio.wait_for(asyncio.shield(self.task), seconds)
        assert self.closed_at is not None
        return self.closed_at - since

    @property
    def ended(self) -> str:
        """The reason of the last ``event: ended``."""
        at = self.lines.index("event: ended")
        return str(self.lines[at + 1].removeprefix("data: "))


async def open_feed(http: httpx.AsyncClient, headers: dict[str, str] | None = None) -> Feed:
    feed = Feed()

    async def read() -> None:
        async with http.stream("GET", "/api/live", headers=headers) as r:
            assert r.status_code == 200, r.status_code
            feed.headers = r.headers
            async for line in r.aiter_lines():
                feed.lines.append(line)
                if line == "event: hello":
                    feed.hello.set()
        feed.closed_at = time.monotonic()

    feed.task = asyncio.create_task(read())
    await asyncio.wait_for(feed.hello.wait(), 5)
    return feed


async def test_live_feeds_end_within_five_seconds_when_their_session_ends(
    world: World, tmp_path: Path
) -> None:
    async with served(world.engine, world.auth, tmp_path) as base, contextlib.AsyncExitStack() as stack:
        clients = {}
        for name in ("logout", "disabled", "role", "control"):
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=30))
            clients[name] = http
        users = {
            "logout": "office_east",
            "disabled": "grid_east",
            "role": "property_jx",
            "control": "office_west",
        }
        for name, http in clients.items():
            assert (await sign_in(http, users[name])).status_code == 200
        feeds = {name: await open_feed(http) for name, http in clients.items()}
        token_http = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=30))
        feeds["token_revoked"] = await open_feed(token_http, world.bearer("viewer_all"))
        feeds["token_role"] = await open_feed(token_http, world.bearer("property_lc"))
        assert feeds["control"].headers is not None
        assert_hardened(httpx.Response(200, headers=feeds["control"].headers), "/api/live")
        await asyncio.sleep(2.5)  # past a first re-check: nothing has ended yet
        assert all(f.closed_at is None for f in feeds.values())

        since = time.monotonic()
        r = await clients["logout"].post("/api/auth/logout", headers=CSRF)
        assert r.status_code == 204
        world.auth.store.set_disabled("grid_east", True, world.clock())
        world.auth.store.set_role("property_jx", "viewer", world.clock(), company="锦绣物业")
        world.auth.store.set_role("property_lc", "viewer", world.clock(), company="绿城物业")
        viewer_token = next(t for t in world.auth.store.tokens("viewer_all") if t.revoked_at is None)
        r = await token_http.delete(f"/api/auth/tokens/{viewer_token.id}", headers=world.bearer("brigade"))
        assert r.status_code == 200
        took = {
            name: await feeds[name].closed_within(5, since)
            for name in ("logout", "disabled", "role", "token_revoked", "token_role")
        }
        assert all(t < 5 for t in took.values()), took
        assert (
            feeds["logout"].ended
            == '{"code":"ended","reason":"the session was ended (signed out or revoked); sign in again"}'
        )
        assert feeds["disabled"].ended == '{"code":"disabled","reason":"the account was disabled"}'
        assert (
            feeds["role"].ended
            == '{"code":"role_changed","reason":"the account\'s role or scope changed; sign in again"}'
        )
        assert feeds["token_revoked"].ended == (
            '{"code":"ended","reason":"the API token was ended (signed out or revoked); sign in again"}'
        )
        assert (
            feeds["token_role"].ended
            == '{"code":"role_changed","reason":"the account\'s role or scope changed; sign in again"}'
        )
        assert feeds["control"].closed_at is None, "another account's session is left alone"

        since = time.monotonic()
        world.clock.advance(hours=12)  # the session's 12 hours are over
        took["expired"] = await feeds["control"].closed_within(5, since)
        assert feeds["control"].ended == '{"code":"expired","reason":"the session expired; sign in again"}'
        r = await clients["control"].get("/api/live")
        assert r.status_code == 401
    assert world.auth.counters.streams_ended == 6
    print(f"live feeds closed after (s): { {k: round(v, 2) for k, v in took.items()} }")


# -- in a real browser ---------------------------------------------------------------------------------------


async def test_the_ui_works_under_the_policy_and_another_page_can_neither_frame_nor_post(
    world: World, tmp_path: Path
) -> None:
    async with served(world.engine, world.auth, tmp_path) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        errors: list[str] = []
        console: list[str] = []
        try:
            page = await signed_in(browser, base, "office_east", password_of("office_east"), errors)
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            await page.reload()  # the console listener from the first load on
            await expect(page.locator("#whoami")).not_to_be_empty()
            await expect(page.locator("#live-status")).to_have_class(re.compile("live-on"))
            for route in ("#/hazards", "#/alarms", "#/reports", "#/estates/E001", "#/"):
                await page.evaluate("(h) => { location.hash = h; }", route)
                await page.wait_for_load_state("networkidle")
            # The board's map: ECharts (/static/vendor) runs under the policy too.
            assert await page.evaluate("() => Boolean(window.echarts)"), "the map was drawn with ECharts"
            # A plain fetch() without the header, like the photo upload's in hazards.js, passes on the
            # browser's own Sec-Fetch-Site: same-origin.
            status = await page.evaluate(
                """async (body) => (await fetch("/api/hazards", { method: "POST", credentials: "same-origin",
                    headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })).status""",
                {"estate_id": "E001", "criterion": "Y3", "location": "1号楼", "description": "群租"},
            )
            assert status == 201

            # A page of another origin on the same host (the same site: the Strict cookie goes along) posts a
            # form to sign the operator out, and tries to frame the control room.
            evil = "http://127.0.0.1:1"
            attack = (
                f'<form id="f" method="post" action="{base}/api/auth/logout"></form>'
                f'<iframe id="frame" src="{base}/"></iframe>'
            )
            other = await page.context.new_page()
            other.on("console", lambda m: console.append(f"other {m.type}: {m.text}"))
            await other.route(
                f"{evil}/**", lambda route: route.fulfill(body=attack, content_type="text/html")
            )
            await other.goto(f"{evil}/attack")
            for _ in range(50):  # the frame ends as the browser's error page, not as the control room
                framed = [f.url for f in other.frames if f is not other.main_frame]
                if framed and framed[0] != "about:blank":
                    break
                await asyncio.sleep(0.1)
            assert framed == ["chrome-error://chromewebdata/"], framed
            await expect(other.frame_locator("#frame").locator("#whoami")).to_have_count(0)
            async with other.expect_response(f"{base}/api/auth/logout") as posted:
                await other.evaluate("document.getElementById('f').submit()")
            refused = await posted.value
            assert refused.status == 403
            assert "from a page of another site is refused" in await refused.text()
            assert await page.evaluate("async () => (await fetch('/api/auth/me')).status") == 200

            # The operator's own sign-out works: a cookie-signed POST through api() with its header.
            await page.locator("#logout").click()
            await expect(page.locator("#login-form")).to_be_visible()
            assert await page.evaluate("async () => (await fetch('/api/auth/me')).status") == 401

            # Signed in again, the account is disabled elsewhere: the page drops its feed, says why in the
            # user's language, and asks for a sign-in, within the feed's 5 s.
            page = await signed_in(browser, base, "office_east", password_of("office_east"), errors)
            await expect(page.locator("#live-status")).to_have_class(re.compile("live-on"))
            world.auth.store.set_disabled("office_east", True, world.auth.clock())
            ended = page.locator('[data-testid="session-ended"]')
            await expect(ended).to_have_text("账号已被停用，实时推送已断开", timeout=5_000)
            await expect(page.locator("#live-status")).to_have_class(re.compile("live-off"))
        finally:
            await browser.close()
    assert errors == []
    violations = [m for m in console if "Content Security Policy" in m and not m.startswith("other")]
    assert violations == [], violations
