"""Assessments (排查登记), later evidence and the out-of-use state: stored, refused when wrong, taken in by
the engine, reached through the API by the roles that may, and through ``firegw assessment``.

The grade colours that follow from evidence are the grading suite's business (tests/test_rules_grading.py);
here the point is that a record reaches what grading reads (``engine.index``) or, when refused, reaches
nothing at all.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import argon2
import httpx
import pytest
from clock import T0, FakeClock

from gateway.api import ApiServices, create_app
from gateway.auth import passwords
from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.casework.engine import RuleEngine
from gateway.casework.model import EngineError
from gateway.cli import main
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.registry import Registry, registry_to_toml
from gateway.ingest.sinks.sqlite import SqliteSink
from gateway.store import HazardStore
from gateway.store.database import NotFound
from rules.lifecycle import TransitionError
from rules.policy import EVIDENCE_KINDS, load_policy
from simulators.fleet import generate_fleet

POLICY = load_policy()
GREENS = list(POLICY.conditions)


def make_registry() -> Registry:
    fleet = generate_fleet(
        estates=2, smoke_per_estate=3, hydrants_per_estate=1, cameras_per_estate=0, modbus_share=0.0, seed=4
    )
    places = {"E001": ("东城区", "和平街道", "锦绣物业"), "E002": ("西城区", "金融街街道", "绿城物业")}
    estates = []
    for estate in fleet.estates:
        district, street, company = places[estate.id]
        update = {"district": district, "street": street, "property_company": company}
        estates.append(estate.model_copy(update=update))
    return Registry(estates=tuple(estates), buildings=fleet.buildings, devices=fleet.devices)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hazards.sqlite'}"
    postgres = request.getfixturevalue("postgres")
    return str(postgres.create_database(f"t_{uuid.uuid4().hex[:10]}"))


@pytest.fixture
def store(store_url: str) -> Iterator[HazardStore]:
    s = HazardStore(store_url)
    yield s
    s.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(tmp_path: Path, clock: FakeClock) -> Iterator[RuleEngine]:
    e = RuleEngine(make_registry(), POLICY, HazardStore(f"sqlite:///{tmp_path / 'h.sqlite'}"), clock=clock)
    yield e
    e.store.close()


# -- the store, on both backends -----------------------------------------------------------------------------


def test_records_round_trip_and_are_voided_not_deleted(store: HazardStore) -> None:
    attachment = {"name": "排查登记表.pdf", "url": "https://example.org/a.pdf", "sha256": "a" * 64}
    first = store.assessments.add(
        estate_id="E001",
        kind="assessment",
        at=T0 - timedelta(days=3),
        recorded_by="街道办 王",
        met=["G1", "G2"],
        not_met=["G8"],
        note="首次排查",
        attachments=[attachment],
        now=T0,
    )
    patrol = store.assessments.add(
        estate_id="E001", kind="patrol", at=T0 - timedelta(days=1), recorded_by="物业", met=["G2"], now=T0
    )
    other = store.assessments.add(
        estate_id="E002", kind="drill", at=T0 - timedelta(days=2), recorded_by="物业", met=["G3"], now=T0
    )
    got = store.assessments.get(first.id)
    assert got == first
    assert got.at.tzinfo is not None
    assert got.at == T0 - timedelta(days=3)
    assert (got.met, got.not_met, got.attachments) == (["G1", "G2"], ["G8"], [attachment])
    assert [r.id for r in store.assessments.find(["E001"])] == [patrol.id, first.id]  # newest first
    assert [r.id for r in store.assessments.find(since=T0 - timedelta(days=2))] == [patrol.id, other.id]

    voided = store.assessments.void(patrol.id, by="街道办 王", reason="录错小区", now=T0 + timedelta(hours=1))
    assert voided.voided
    assert voided.void_reason == "录错小区"
    assert voided.voided_by == "街道办 王"
    assert store.assessments.get(patrol.id) == voided  # still there, marked
    assert [r.id for r in store.assessments.all_current()] == [first.id, other.id]  # oldest first
    assert [r.id for r in store.assessments.all_current(since=T0 - timedelta(days=2))] == [other.id]
    assert {r.id for r in store.assessments.changed_since(T0 + timedelta(minutes=30))} == {patrol.id}
    with pytest.raises(TransitionError, match="voided already"):
        store.assessments.void(patrol.id, by="x", reason="again", now=T0 + timedelta(hours=2))
    with pytest.raises(NotFound, match="no assessment 999"):
        store.assessments.void(999, by="x", reason="y", now=T0)
    with pytest.raises(NotFound):
        store.assessments.get(999)


def test_the_out_of_use_state_keeps_every_change(store: HazardStore) -> None:
    assert store.estate_status.latest() == {}
    assert store.estate_status.current("E001") is None
    store.estate_status.set(estate_id="E001", out_of_use=True, by="街道办", reason="停租整改", now=T0)
    store.estate_status.set(estate_id="E002", out_of_use=True, by="街道办", reason="停用", now=T0)
    later = T0 + timedelta(days=10)
    back = store.estate_status.set(
        estate_id="E001", out_of_use=False, by="街道办", reason="恢复出租", now=later
    )
    assert store.estate_status.latest() == {"E001": False, "E002": True}
    history = store.estate_status.history("E001")
    assert [(h.out_of_use, h.reason) for h in history] == [(True, "停租整改"), (False, "恢复出租")]
    assert history[-1] == back
    assert back.at == later
    assert store.estate_status.current("E001") == back
    assert set(store.estate_status.changed_since(later)) == {"E001"}
    assert store.estate_status.changed_since(later)["E001"].out_of_use is False


# -- the engine: what is taken in, and what is refused -------------------------------------------------------


def assess(engine: RuleEngine, estate: str = "E001", **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "estate_id": estate,
        "kind": "assessment",
        "at": T0 - timedelta(days=1),
        "by": "街道办 王",
        "met": GREENS,
    }
    return engine.assessments.record(**(values | overrides))


def test_a_record_reaches_what_grading_reads_and_a_void_takes_it_out(engine: RuleEngine) -> None:
    version = engine.estate_version["E001"]
    record = assess(engine, met=["g1", " G2", "G2"], not_met=["G8"], note="首次")
    assert (record.met, record.not_met) == (["G1", "G2"], ["G8"])  # trimmed, upper-cased, once each
    [evidence] = engine.index.evidence["E001"]
    assert (evidence.record_id, evidence.kind, evidence.by) == (record.id, "assessment", "街道办 王")
    assert (evidence.met, evidence.not_met, evidence.at) == (("G1", "G2"), ("G8",), record.at)
    assert engine.estate_version["E001"] > version  # the estate board shows it at once
    patrol = assess(engine, kind="patrol", met=["G2"], at=T0 - timedelta(hours=2), by="物业 李")
    assert [e.record_id for e in engine.index.evidence["E001"]] == [record.id, patrol.id]

    engine.assessments.void(patrol.id, by="街道办 王", reason="录错")
    assert [e.record_id for e in engine.index.evidence["E001"]] == [record.id]
    assert engine.store.assessments.get(patrol.id).voided


def test_evidence_and_the_out_of_use_state_survive_a_restart(engine: RuleEngine, clock: FakeClock) -> None:
    kept = assess(engine)
    voided = assess(engine, kind="patrol", met=["G2"])
    engine.assessments.void(voided.id, by="x", reason="录错")
    engine.assessments.set_out_of_use(estate_id="E002", out_of_use=True, by="街道办", reason="停租")
    assert engine.index.out_of_use == {"E002"}
    again = RuleEngine(engine.registry, engine.policy, HazardStore(engine.store.url), clock=clock)
    assert [e.record_id for e in again.index.evidence["E001"]] == [kept.id]
    assert again.index.out_of_use == {"E002"}
    again.assessments.set_out_of_use(estate_id="E002", out_of_use=False, by="街道办", reason="恢复")
    assert again.index.out_of_use == set()
    again.store.close()


def test_another_gateways_records_are_taken_in_at_the_store_sync(
    engine: RuleEngine, clock: FakeClock
) -> None:
    other = RuleEngine(engine.registry, engine.policy, HazardStore(engine.store.url), clock=clock)
    record = assess(other)
    other.assessments.set_out_of_use(estate_id="E002", out_of_use=True, by="街道办", reason="停租")
    assert engine.index.evidence["E001"] == []
    assert engine.sync.sync(clock.advance(seconds=5)) == {"E001", "E002"}
    assert [e.record_id for e in engine.index.evidence["E001"]] == [record.id]
    assert engine.index.out_of_use == {"E002"}
    assert engine.sync.sync(clock.advance(seconds=5)) == set()  # read again: nothing new
    other.assessments.void(record.id, by="x", reason="录错")
    assert engine.sync.sync(clock.advance(seconds=5)) == {"E001"}
    assert engine.index.evidence["E001"] == []
    other.store.close()


def _expired_patrol_at() -> datetime:
    return T0 - POLICY.conditions["G2"].valid_for - timedelta(days=1)


def _kinds_for(code: str) -> str:
    return ", ".join(k for k in EVIDENCE_KINDS if POLICY.conditions[code].accepts(k))


assert not POLICY.conditions["G7"].accepts("drill"), "the case below needs a condition a drill cannot show"

#: name: (overrides of a good record, fragments the refusal must contain)
BAD_RECORDS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "unknown kind": (
        {"kind": "inspection"},
        [f"kind: 'inspection' is not a kind of record; allowed: {', '.join(EVIDENCE_KINDS)}"],
    ),
    "not a green condition": (
        {"met": ["G1", "Y3"]},
        [f"met: 'Y3' is not a green condition of policy {POLICY.id}; allowed: {', '.join(GREENS)}"],
    ),
    "no such condition": ({"not_met": ["G99"]}, ["not_met: 'G99' is not a green condition"]),
    "a kind that cannot show it": (
        {"kind": "drill", "met": ["G7"]},
        ["met: a drill cannot evidence G7", f"records that may: {_kinds_for('G7')}"],
    ),
    "met and not met": ({"met": ["G1", "G8"], "not_met": ["G8"]}, ["met, not_met: G8 is in both"]),
    "not met outside an assessment": (
        {"kind": "patrol", "met": ["G2"], "not_met": ["G5"]},
        ["not_met: only an assessment records conditions found not to hold, not a patrol log"],
    ),
    "in the future": ({"at": T0 + timedelta(minutes=6)}, ["at: 2026-11-23T02:06:00+00:00 is in the future"]),
    "expired on arrival": (
        {"kind": "patrol", "met": ["G2"], "at": _expired_patrol_at()},
        ["at: G2 evidenced on", "would have expired on arrival"],
    ),
    "an assessment expired on arrival": (
        {"at": T0 - POLICY.assessment.valid_for - timedelta(days=1)},
        ["at: an assessment on", "would have expired on arrival"],
    ),
    "nothing found": ({"met": [], "not_met": []}, ["met, not_met: name at least one green condition"]),
    "no time zone": ({"at": datetime(2026, 11, 22, 10, 0)}, ["at: give the time with its time zone"]),
    "nobody": ({"by": "  "}, ["by: who inspected (or recorded) is required"]),
    "a bad attachment": (
        {"attachments": [{"name": "", "sha256": "xyz"}]},
        ["attachments.0.name: required", "attachments.0: give a url or the path", "attachments.0.sha256"],
    ),
    "everything at once": (
        {"kind": "drill", "met": ["G7", "Y3"], "not_met": ["G1"], "at": T0 + timedelta(days=1)},
        ["met: a drill cannot evidence G7", "met: 'Y3'", "not_met: only an assessment", "at: "],
    ),
}


@pytest.mark.parametrize("case", list(BAD_RECORDS))
def test_a_bad_record_is_refused_naming_the_field_and_nothing_is_written(
    engine: RuleEngine, case: str
) -> None:
    overrides, fragments = BAD_RECORDS[case]
    before = engine.store.counts()
    with pytest.raises(EngineError) as refused:
        assess(engine, **overrides)
    for fragment in fragments:
        assert fragment in str(refused.value), str(refused.value)
    assert engine.store.counts() == before
    assert engine.index.evidence["E001"] == []


def test_other_refusals_change_nothing(engine: RuleEngine) -> None:
    record = assess(engine)
    before = engine.store.counts()
    with pytest.raises(NotFound, match="no estate 'E999'"):
        assess(engine, "E999")
    with pytest.raises(EngineError, match="reason: required"):
        engine.assessments.void(record.id, by="x", reason=" ")
    with pytest.raises(NotFound):
        engine.assessments.void(999, by="x", reason="录错")
    with pytest.raises(EngineError, match="out_of_use: the estate is in use already"):
        engine.assessments.set_out_of_use(estate_id="E001", out_of_use=False, by="x", reason="恢复")
    with pytest.raises(EngineError, match="reason: required"):
        engine.assessments.set_out_of_use(estate_id="E001", out_of_use=True, by="x", reason="")
    with pytest.raises(NotFound):
        engine.assessments.set_out_of_use(estate_id="E999", out_of_use=True, by="x", reason="停租")
    assert engine.store.counts() == before
    engine.assessments.void(record.id, by="x", reason="录错")
    with pytest.raises(TransitionError, match="voided already"):
        engine.assessments.void(record.id, by="x", reason="again")


# -- the API: who may do what --------------------------------------------------------------------------------


@dataclass
class Api:
    engine: RuleEngine
    http: httpx.AsyncClient
    tokens: dict[str, str]

    def as_(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}


ACCOUNTS: dict[str, tuple[str, dict[str, Any]]] = {
    "office": ("office", {"district": "东城区"}),
    "property": ("property", {"company": "锦绣物业"}),
    "grid": ("grid", {"district": "东城区"}),
    "brigade": ("brigade", {}),
}


@pytest.fixture
async def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: RuleEngine) -> AsyncIterator[Api]:
    monkeypatch.setattr(passwords, "HASHER", argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST))
    deadletters = DeadLetterStore(tmp_path / "dl.sqlite")
    pipeline = Pipeline(engine.registry, SqliteSink(tmp_path / "t.sqlite"), deadletters, clock=engine.clock)
    auth = AuthService(AuthStore(engine.store.engine), clock=FakeClock())
    app = create_app(ApiServices(engine.registry, pipeline, engine, deadletters, engine.clock, auth=auth))
    tokens = {}
    for name, (role, scope) in ACCOUNTS.items():
        auth.store.create_user(
            username=name, role=role, password=None, now=T0, display_name=f"{name} 显示名", **scope
        )
        tokens[name] = auth.create_token(name, label="test")[1]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield Api(engine, http, tokens)
    deadletters.close()


def body(**overrides: Any) -> dict[str, Any]:
    return {"kind": "assessment", "at": (T0 - timedelta(days=1)).isoformat(), "met": GREENS} | overrides


async def test_the_office_records_assessments_the_property_company_only_evidence(api: Api) -> None:
    url = "/api/estates/E001/assessments"
    before = api.engine.store.counts()
    r = await api.http.post(url, json=body(), headers=api.as_("property"))
    assert r.status_code == 403, r.text
    assert r.json()["detail"] == "role property may not record assessments (needs record_assessment)"
    r = await api.http.post(url, json=body(kind="patrol", met=["G2"]), headers=api.as_("grid"))
    assert r.status_code == 403
    assert api.engine.store.counts() == before

    r = await api.http.post(url, json=body(note="首次排查", by="someone else"), headers=api.as_("office"))
    assert r.status_code == 201, r.text
    assessment = r.json()
    assert assessment["recorded_by"] == "office 显示名"  # the account, not the body
    assert assessment["met"] == GREENS
    assert assessment["voided"] is False
    g2_until = datetime.fromisoformat(assessment["valid_until"]["G2"])
    assert g2_until == T0 - timedelta(days=1) + POLICY.conditions["G2"].valid_for
    patrol = body(
        kind="patrol", met=["G2"], at=T0.isoformat(), attachments=[{"name": "巡查.jpg", "path": "u/1"}]
    )
    r = await api.http.post(url, json=patrol, headers=api.as_("property"))
    assert r.status_code == 201, r.text
    assert r.json()["attachments"] == [{"name": "巡查.jpg", "path": "u/1"}]
    listed = (await api.http.get(url, headers=api.as_("grid"))).json()
    assert [x["kind"] for x in listed] == ["patrol", "assessment"]  # newest first
    assert {e.record_id for e in api.engine.index.evidence["E001"]} == {x["id"] for x in listed}


async def test_a_bad_body_is_a_422_naming_each_field_and_writes_nothing(api: Api) -> None:
    before = api.engine.store.counts()
    bad = body(kind="drill", met=["G7", "Y3"], not_met=["G1"], at=(T0 + timedelta(days=1)).isoformat())
    r = await api.http.post("/api/estates/E001/assessments", json=bad, headers=api.as_("office"))
    assert r.status_code == 422
    detail = r.json()["detail"]
    for fragment in ("met: a drill cannot evidence G7", "met: 'Y3'", "not_met: only an assessment", "at: "):
        assert fragment in detail, detail
    r = await api.http.post(
        "/api/estates/E001/assessments", json=body(colour="green"), headers=api.as_("office")
    )
    assert r.status_code == 422
    assert "colour" in r.json()["detail"]
    assert api.engine.store.counts() == before
    assert api.engine.index.evidence["E001"] == []


async def test_outside_the_scope_is_not_found(api: Api) -> None:
    for method, url in [
        ("GET", "/api/estates/E002/assessments"),
        ("POST", "/api/estates/E002/assessments"),
        ("GET", "/api/estates/E002/status"),
        ("POST", "/api/estates/E002/status"),
    ]:
        payload = body() if "assessments" in url else {"out_of_use": True, "reason": "停租"}
        r = await api.http.request(
            method, url, json=payload if method == "POST" else None, headers=api.as_("office")
        )
        assert r.status_code == 404, (method, url, r.text)
        assert r.json()["detail"] == "no estate 'E002'"
    r = await api.http.get("/api/estates/E999/assessments", headers=api.as_("brigade"))
    assert r.status_code == 404
    assert r.json()["detail"] == "no estate 'E999'"
    other = assess(api.engine, "E002")
    r = await api.http.post(
        f"/api/assessments/{other.id}/void", json={"reason": "x"}, headers=api.as_("office")
    )
    assert r.status_code == 404
    assert r.json()["detail"] == f"no assessment {other.id}"


async def test_a_record_is_voided_with_a_reason_by_the_office(api: Api) -> None:
    record = assess(api.engine)
    url = f"/api/assessments/{record.id}/void"
    r = await api.http.post(url, json={"reason": "录错"}, headers=api.as_("property"))
    assert r.status_code == 403
    r = await api.http.post(url, json={"reason": ""}, headers=api.as_("office"))
    assert r.status_code == 422
    assert "reason" in r.json()["detail"]
    r = await api.http.post(url, json={"reason": "录错小区"}, headers=api.as_("office"))
    assert r.status_code == 200, r.text
    assert (r.json()["voided"], r.json()["voided_by"], r.json()["void_reason"]) == (
        True,
        "office 显示名",
        "录错小区",
    )
    assert r.json()["valid_until"] == {}
    assert api.engine.index.evidence["E001"] == []
    r = await api.http.post(url, json={"reason": "again"}, headers=api.as_("office"))
    assert r.status_code == 409
    assert "voided already" in r.json()["detail"]


async def test_the_office_sets_an_estate_out_of_use_the_grid_cannot(api: Api) -> None:
    url = "/api/estates/E001/status"
    state = (await api.http.get(url, headers=api.as_("grid"))).json()
    assert (state["out_of_use"], state["since"], state["history"]) == (False, None, [])
    assert state["out_of_use_colour"] == POLICY.out_of_use_colour
    r = await api.http.post(url, json={"out_of_use": True, "reason": "停租"}, headers=api.as_("grid"))
    assert r.status_code == 403
    assert r.json()["detail"] == "role grid may not set an estate out of use (needs set_estate_status)"
    r = await api.http.post(url, json={"out_of_use": True, "reason": "停租整改"}, headers=api.as_("office"))
    assert r.status_code == 200, r.text
    assert r.json()["out_of_use"] is True
    assert r.json()["history"] == [
        {
            "at": T0.isoformat().replace("+00:00", "Z"),
            "out_of_use": True,
            "by": "office 显示名",
            "reason": "停租整改",
        }
    ]
    assert api.engine.index.out_of_use == {"E001"}
    r = await api.http.post(url, json={"out_of_use": True, "reason": "again"}, headers=api.as_("office"))
    assert r.status_code == 422
    assert "out_of_use: the estate is out of use already" in r.json()["detail"]


# -- the command line ----------------------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "registry.toml").write_text(registry_to_toml(make_registry()), encoding="utf-8")
    (tmp_path / "data").mkdir()
    path = tmp_path / "gateway.toml"
    path.write_text('[gateway]\nregistry = "registry.toml"\ndata_dir = "data"\n', encoding="utf-8")
    return path


def test_the_cli_adds_lists_and_voids(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = str(config)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    args = ["assessment", "add", "--config", c, "--estate", "E001", "--met", ",".join(GREENS[:-1])]
    assert main([*args, "--not-met", GREENS[-1], "--at", yesterday, "--by", "街道办 王"]) == 0
    out = capsys.readouterr().out
    assert "recorded #1" in out
    assert "assessment" in out
    assert f"not met {GREENS[-1]}" in out
    patrol = ["--kind", "patrol", "--met", "G2", "--by", "物业", "--attach", "巡查.jpg=https://x.org/1.jpg"]
    assert main(["assessment", "add", "--config", c, "--estate", "E001", *patrol]) == 0
    capsys.readouterr()
    assert main(["assessment", "list", "--config", c, "--estate", "E001"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("#2")
    assert "patrol" in lines[0]
    assert "by 物业" in lines[0]
    assert lines[1].startswith("#1")
    assert "by 街道办 王" in lines[1]
    assert main(["assessment", "void", "--config", c, "2", "--reason", "录错"]) == 0
    assert "VOID (录错" in capsys.readouterr().out
    assert main(["assessment", "list", "--config", c, "--estate", "E002"]) == 0
    assert "not assessed" in capsys.readouterr().out
    store = HazardStore(f"sqlite:///{config.parent / 'data' / 'hazards.sqlite'}")
    assert next(r.attachments for r in store.assessments.find(["E001"])) == [
        {"name": "巡查.jpg", "url": "https://x.org/1.jpg"}
    ]
    store.close()


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (
            ["--estate", "E999", "--met", "G1"],
            ["--estate: no estate 'E999' in the registry; it has E001, E002"],
        ),
        (["--estate", "E001", "--met", "G1,Y3", "--kind", "drill"], ["--met: 'Y3'", "--met: a drill cannot"]),
        (
            ["--estate", "E001", "--kind", "survey", "--met", "G1"],
            ["--kind: 'survey' is not a kind of record"],
        ),
        (["--estate", "E001", "--met", "G2", "--not-met", "G2"], ["--met, --not-met: G2 is in both"]),
        (["--estate", "E001", "--met", "G1", "--at", "yesterday"], ["--at: 'yesterday' is not a time"]),
        (
            ["--estate", "E001", "--met", "G1", "--at", "2999-01-01T00:00"],
            ["--at: 2999-01-01", "in the future"],
        ),
        (["--estate", "E001"], ["--met, --not-met: name at least one"]),
        (["--estate", "E001", "--met", "G1", "--attach", "nothing"], ["--attach 1: 'nothing' is not NAME="]),
    ],
)
def test_the_cli_refuses_in_sentences(
    config: Path, capsys: pytest.CaptureFixture[str], extra: list[str], fragments: list[str]
) -> None:
    assert main(["assessment", "add", "--config", str(config), "--by", "x", *extra]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.err.startswith("error: ")
    for fragment in fragments:
        assert fragment in captured.err, captured.err
    assert not (config.parent / "data" / "hazards.sqlite").exists() or _count(config) == 0


def _count(config: Path) -> int:
    store = HazardStore(f"sqlite:///{config.parent / 'data' / 'hazards.sqlite'}")
    try:
        return len(store.assessments.find())
    finally:
        store.close()


def test_the_cli_void_refuses_in_sentences(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assessment", "void", "--config", str(config), "7", "--reason", "录错"]) == 2
    err = capsys.readouterr().err
    assert err == "error: no assessment 7\n"
