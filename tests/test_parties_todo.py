"""Responsible parties (责任单位) and to-do lists (待办), through the API on a fake clock (issue 16).

Four estates, two property companies (as in test_auth_scope.py)::

    E001 东城区 和平街道 锦绣物业      E002 东城区 安定街道 绿城物业
    E003 西城区 金融街街道 锦绣物业    E004 西城区 展览路街道 绿城物业

The property companies become parties at start-up; dispatch picks a party of the hazard's estate; each account
sees what waits for it, and the counts on every page agree with the lists.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from clock import FakeClock
from sqlalchemy import inspect, text

from gateway.api import ApiServices, create_app
from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.casework.engine import RuleEngine
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.registry import Registry
from gateway.ingest.sinks.sqlite import SqliteSink
from gateway.models import DeviceEvent, EventType
from gateway.store import HazardStore
from gateway.store.parties import PartyKind
from rules.lifecycle import HazardAction
from rules.policy import load_policy
from simulators.fleet import generate_fleet

ESTATES: dict[str, tuple[str, str, str]] = {
    "E001": ("东城区", "和平街道", "锦绣物业"),
    "E002": ("东城区", "安定街道", "绿城物业"),
    "E003": ("西城区", "金融街街道", "锦绣物业"),
    "E004": ("西城区", "展览路街道", "绿城物业"),
}
#: username: (role, scope)
ACCOUNTS: dict[str, tuple[str, dict[str, Any]]] = {
    "brigade": ("brigade", {}),
    "office_east": ("office", {"district": "东城区"}),
    "grid_east": ("grid", {"district": "东城区"}),
    "property_jx": ("property", {"company": "锦绣物业"}),
    "property_lc": ("property", {"company": "绿城物业"}),
    "viewer": ("viewer", {}),
}

pytestmark = pytest.mark.usefixtures("cheap_hashes")


def make_registry(extra: dict[str, tuple[str, str, str]] | None = None) -> Registry:
    layout = {**ESTATES, **(extra or {})}
    fleet = generate_fleet(
        estates=len(layout),
        smoke_per_estate=4,
        hydrants_per_estate=1,
        cameras_per_estate=0,
        modbus_share=0,
        seed=5,
    )
    estates = []
    for estate in fleet.estates:
        district, street, company = layout[estate.id]
        update = {
            "name": f"{estate.id}苑",
            "district": district,
            "street": street,
            "property_company": company,
        }
        estates.append(estate.model_copy(update=update))
    return Registry(estates=tuple(estates), buildings=fleet.buildings, devices=fleet.devices)


@dataclass
class World:
    engine: RuleEngine
    clock: FakeClock
    registry: Registry
    http: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)

    def as_(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def file(self, estate: str, criterion: str = "Y9") -> int:
        return self.engine.hazards.file(
            estate_id=estate, criterion=criterion, location="1号楼", description="飞线充电", reporter="setup"
        ).id

    def party(self, name: str) -> int:
        (party_id,) = self.engine.store.parties.ids_named(PartyKind.PROPERTY_COMPANY, name)
        return party_id

    def raise_alarm(self, estate: str) -> int:
        detector = next(
            d for d in self.registry.devices if d.estate_id == estate and d.kind.value == "smoke_detector"
        )
        now = self.engine.clock()
        self.engine.on_records(
            [(detector, DeviceEvent(device_id=detector.id, time=now, type=EventType.ALARM))], now
        )
        return self.engine.store.alarms.find(open_only=True, device_id=detector.id)[0].id

    async def dispatch(self, hazard_id: int, as_: str = "office_east", **body: Any) -> httpx.Response:
        return await self.http.post(
            f"/api/hazards/{hazard_id}/transitions",
            json={"action": "dispatch", **body},
            headers=self.as_(as_),
        )

    async def todo(self, username: str) -> dict[str, Any]:
        r = await self.http.get("/api/todo", headers=self.as_(username))
        assert r.status_code == 200, r.text
        return {"total": r.json()["total"], **{entry["key"]: entry for entry in r.json()["lists"]}}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    registry = make_registry()
    clock = FakeClock()
    store = HazardStore(f"sqlite:///{tmp_path / 'hazards.sqlite'}")
    engine = RuleEngine(registry, load_policy(), store, clock=clock)
    deadletters = DeadLetterStore(tmp_path / "dl.sqlite")
    pipeline = Pipeline(registry, SqliteSink(tmp_path / "t.sqlite"), deadletters, clock=clock)
    auth = AuthService(AuthStore(engine.store.engine), clock=FakeClock())
    app = create_app(ApiServices(registry, pipeline, engine, deadletters, clock, auth=auth))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        w = World(engine, clock, registry, http)
        for username, (role, scope) in ACCOUNTS.items():
            auth.store.create_user(
                username=username,
                role=role,
                password=None,
                now=clock(),
                display_name=f"{username} 名",
                **scope,
            )
            w.tokens[username] = auth.create_token(username)[1]
        yield w
    deadletters.close()


# -- parties ------------------------------------------------------------------------------------------------


async def test_the_registrys_property_companies_are_parties_at_start_and_only_once(
    world: World, tmp_path: Path
) -> None:
    parties = world.engine.store.parties.all()
    assert {(p.kind, p.name, tuple(p.estate_ids)) for p in parties} == {
        (PartyKind.PROPERTY_COMPANY, "锦绣物业", ("E001", "E003")),
        (PartyKind.PROPERTY_COMPANY, "绿城物业", ("E002", "E004")),
    }
    assert all(p.active and p.contact == "" for p in parties)
    assert world.engine.store.parties.versions(parties[0].id)[0].actor == "registry"
    listed = (await world.http.get("/api/parties", headers=world.as_("office_east"))).json()
    assert {(p["name"], p["kind_zh"], tuple(p["estate_ids"])) for p in listed} == {
        ("锦绣物业", "物业公司", ("E001",)),
        ("绿城物业", "物业公司", ("E002",)),
    }, "only the estates in the caller's scope"
    # A restart adds nothing; an estate added to the registry joins its company's party.
    store = world.engine.store
    RuleEngine(world.registry, load_policy(), store, clock=world.engine.clock)
    assert len(store.parties.all()) == 2
    bigger = make_registry({"E005": ("东城区", "和平街道", "锦绣物业")})
    RuleEngine(bigger, load_policy(), store, clock=world.engine.clock)
    assert store.parties.get(world.party("锦绣物业")).estate_ids == ["E001", "E003", "E005"]
    assert len(store.parties.all()) == 2


async def test_parties_are_managed_by_office_and_brigade_and_bad_input_names_the_field(world: World) -> None:
    body = {
        "kind": "maintenance_company",
        "name": "安消维保",
        "contact": "周工",
        "phone": "138 0013 8000",
        "channels": ["https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", "ops@example.com"],
        "estate_ids": ["E001"],
    }
    r = await world.http.post("/api/parties", json=body, headers=world.as_("property_jx"))
    assert r.status_code == 403
    assert r.json()["detail"] == "role property may not manage parties (needs manage_parties)"
    r = await world.http.post("/api/parties", json=body, headers=world.as_("office_east"))
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["kind_zh"], created["channels"], created["estate_ids"]) == (
        "维保公司",
        body["channels"],
        ["E001"],
    )
    # Channel addresses carry webhook keys: only those who manage parties see them.
    seen = (
        await world.http.get("/api/parties?kind=maintenance_company", headers=world.as_("property_jx"))
    ).json()
    assert [(p["name"], p["channels"], p["channel_count"]) for p in seen] == [("安消维保", None, 2)]

    bad: dict[str, tuple[dict[str, Any], str]] = {
        "name": ({"name": "  "}, "name: "),
        "phone": ({"phone": "12-34"}, "phone: "),
        "estate": ({"estate_ids": ["E999"]}, "estate_ids: no estate 'E999'"),
        "out of scope": ({"estate_ids": ["E003"]}, "estate_ids: no estate 'E003'"),
        "no estate": ({"estate_ids": []}, "estate_ids: "),
        "kind": ({"kind": "police"}, "kind: "),
        "channel": ({"channels": ["not a url"]}, "channels[0]: "),
    }
    before = world.engine.store.counts()
    for why, (change, start) in bad.items():
        r = await world.http.post("/api/parties", json={**body, **change}, headers=world.as_("office_east"))
        assert r.status_code == 422, why
        assert r.json()["detail"].startswith(start), (why, r.json())
    assert world.engine.store.counts() == before, "a refused request changes nothing"

    r = await world.http.patch(
        f"/api/parties/{created['id']}", json={"phone": "010-6512 3456", "active": False},
        headers=world.as_("brigade"),
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["phone"], r.json()["active"]) == ("010-6512 3456", False)
    r = await world.http.patch(
        f"/api/parties/{created['id']}", json={"phone": "abc"}, headers=world.as_("brigade")
    )
    assert r.status_code == 422
    assert r.json()["detail"].startswith("phone: ")
    versions = world.engine.store.parties.versions(created["id"])
    assert [(v.action, v.actor) for v in versions] == [("create", "office_east 名"), ("update", "brigade 名")]
    assert [v.data["active"] for v in versions] == [True, False], "history is kept"


# -- dispatch -----------------------------------------------------------------------------------------------


async def test_dispatch_to_a_party_of_another_estate_is_refused_and_lists_the_estates_parties(
    world: World,
) -> None:
    hid = world.file("E001")
    inactive = world.engine.store.parties.create(
        kind=PartyKind.COMMUNITY,
        name="和平社区",
        estate_ids=["E001"],
        active=False,
        actor="t",
        now=world.engine.clock(),
    )
    before = world.engine.store.counts()
    r = await world.dispatch(hid, party_id=world.party("绿城物业"))
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail.startswith("party_id: ")
    assert "does not serve estate E001" in detail
    assert f"{world.party('锦绣物业')} 锦绣物业 (物业公司)" in detail, "the estate's parties are listed"
    for body in ({"party_id": 999}, {"responsible": "随便哪家"}, {}):
        r = await world.dispatch(hid, **body)
        assert (r.status_code, r.json()["detail"][:10]) == (422, "party_id: "), body
    r = await world.dispatch(hid, party_id=inactive.id)
    assert r.status_code == 422
    assert "inactive" in r.json()["detail"]
    assert world.engine.store.counts() == before
    assert world.engine.store.hazards.get(hid).state.value == "reported"


async def test_dispatch_sets_the_party_and_the_responsible_text(world: World) -> None:
    party = world.engine.store.parties.create(
        kind=PartyKind.COMMUNITY, name="和平社区居委会", contact="张主任", phone="010-12345678",
        estate_ids=["E001"], actor="t", now=world.engine.clock(),
    )  # fmt: skip
    hid = world.file("E001")
    r = await world.dispatch(hid, party_id=party.id)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["state"], body["party_id"]) == ("dispatched", party.id)
    assert body["responsible"] == "和平社区居委会（张主任 010-12345678）"
    assert body["history"][-1]["data"] == {"party_id": party.id, "responsible": body["responsible"]}
    # An old client that sends only the party's exact name is served as if it had picked the party.
    other = world.file("E001")
    r = await world.dispatch(other, responsible="锦绣物业")
    assert r.status_code == 200, r.text
    assert r.json()["party_id"] == world.party("锦绣物业")
    # A party only goes with a dispatch.
    r = await world.http.post(
        f"/api/hazards/{hid}/transitions",
        json={"action": "start", "party_id": party.id},
        headers=world.as_("brigade"),
    )
    assert r.status_code == 422
    assert r.json()["detail"].startswith("party_id: only 'dispatch'")


async def test_a_database_of_an_older_version_gets_the_party_column(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    store = HazardStore(url)
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE hazards DROP COLUMN party_id"))
    store.close()
    store = HazardStore(url)
    assert "party_id" in {c["name"] for c in inspect(store.engine).get_columns("hazards")}
    store.close()


# -- to-do lists --------------------------------------------------------------------------------------------


def ids(entry: dict[str, Any]) -> list[int]:
    return [h["id"] for h in entry["hazards"]] or [a["id"] for a in entry["alarms"]]


async def test_each_account_sees_what_waits_for_it(world: World) -> None:
    e1, e2, e3 = world.file("E001"), world.file("E002"), world.file("E003")
    office = await world.todo("office_east")
    assert set(office) == {"total", "to_dispatch", "to_verify", "recheck_due"}
    assert ids(office["to_dispatch"]) == [e1, e2], "reported hazards of its own estates"
    assert office["to_dispatch"]["zh"] == "待分流"
    assert ids((await world.todo("brigade"))["to_dispatch"]) == [e1, e2, e3]
    jx = await world.todo("property_jx")
    assert set(jx) == {"total", "to_start", "to_rectify", "alarms"}
    assert jx["total"] == 0

    # Dispatched to 锦绣物业: waits for 锦绣物业's account (待我整改), not for 绿城物业's.
    assert (await world.dispatch(e1, party_id=world.party("锦绣物业"))).status_code == 200
    assert (await world.dispatch(e2, party_id=world.party("绿城物业"))).status_code == 200
    jx = await world.todo("property_jx")
    assert (ids(jx["to_start"]), jx["to_start"]["zh"]) == ([e1], "待我整改")
    assert ids((await world.todo("property_lc"))["to_start"]) == [e2]
    assert ids((await world.todo("office_east"))["to_dispatch"]) == []

    world.engine.hazards.step(e1, HazardAction.START, actor="锦绣物业 王")
    jx = await world.todo("property_jx")
    assert (ids(jx["to_start"]), ids(jx["to_rectify"])) == ([], [e1])
    world.engine.hazards.step(e1, HazardAction.RECTIFIED, actor="锦绣物业 王", evidence="after.jpg")
    assert (await world.todo("property_jx"))["total"] == 0
    office = await world.todo("office_east")
    assert (ids(office["to_verify"]), office["to_verify"]["zh"]) == ([e1], "待我验收")

    # Verified and closed: the re-check (复查) falls due after the policy's delay, for office and grid.
    world.engine.hazards.step(e1, HazardAction.VERIFY, actor="inspector")
    assert ids((await world.todo("grid_east"))["recheck_due"]) == []
    world.clock.advance(seconds=world.engine.policy.deadlines.recheck_after.total_seconds() + 60)
    grid = await world.todo("grid_east")
    assert set(grid) == {"total", "recheck_due"}
    assert ids(grid["recheck_due"]) == [e1]
    assert ids((await world.todo("office_east"))["recheck_due"]) == [e1]

    # Alarms: property and brigade, their own estates only; unacknowledged counted apart.
    a1, a2 = world.raise_alarm("E001"), world.raise_alarm("E002")
    assert ids((await world.todo("property_jx"))["alarms"]) == [a1]
    assert ids((await world.todo("brigade"))["alarms"]) == [a1, a2]
    counts = (await world.http.get("/api/todo/counts", headers=world.as_("property_jx"))).json()
    assert (counts["counts"]["alarms"], counts["unacknowledged_alarms"]) == (1, 1)
    assert (await world.todo("viewer"))["total"] == 0


async def test_the_counts_match_the_lists_for_every_account(world: World) -> None:
    hazards = [world.file(e) for e in ("E001", "E001", "E002", "E003", "E004")]
    await world.dispatch(hazards[0], as_="brigade", party_id=world.party("锦绣物业"))
    await world.dispatch(hazards[3], as_="brigade", party_id=world.party("锦绣物业"))
    await world.dispatch(hazards[2], as_="brigade", party_id=world.party("绿城物业"))
    world.engine.hazards.step(hazards[3], HazardAction.START, actor="x")
    world.engine.hazards.step(hazards[4], HazardAction.START, actor="x")
    world.engine.hazards.step(hazards[4], HazardAction.RECTIFIED, actor="x")
    world.raise_alarm("E003")
    for username in ACCOUNTS:
        todo = await world.todo(username)
        counts = (await world.http.get("/api/todo/counts", headers=world.as_(username))).json()
        lists = {k: v for k, v in todo.items() if k != "total"}
        assert counts["counts"] == {k: v["count"] for k, v in lists.items()}, username
        assert all(v["count"] == len(ids(v)) for v in lists.values()), username
        assert counts["total"] == todo["total"] == sum(counts["counts"].values())
    assert (await world.todo("property_jx"))["total"] == 3  # one to start, one rectifying, one alarm
    assert (await world.todo("brigade"))["total"] == 3  # one to dispatch, one to verify, one alarm
