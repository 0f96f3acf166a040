"""Complaints count distinct incidents: a complaint filed in error is voided, duplicates about one incident
are merged into one of them, by office and brigade accounts, with a reason; nothing is deleted.

Three 12345 calls about one blocked stairwell are one incident (Y14), not three (R6). Through the rule engine
on a fake clock and through the HTTP API; the counted incidents are asserted (the index grading reads, and
what a restart loads), not grade colours.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from assessed import assess
from clock import FakeClock
from laid_out import laid_out_registry
from role_clients import role_clients

from gateway.casework.engine import RuleEngine
from gateway.casework.model import EngineError
from gateway.ingest.registry import Registry
from gateway.store import HazardStore
from gateway.store.incidents import complaint_changes
from rules.lifecycle import TransitionError
from rules.policy import load_policy

#: E001 and E002 in 东城区, E003 in 西城区; E001 and E003 managed by 锦绣物业.
AREAS = {"E001": ("东城区", "锦绣物业"), "E002": ("东城区", "绿城物业"), "E003": ("西城区", "锦绣物业")}


def make_registry() -> Registry:
    return laid_out_registry(AREAS, smoke_per_estate=2, seed=5)


@dataclass
class Env:
    engine: RuleEngine
    clock: FakeClock
    registry: Registry
    path: Path

    def complain(self, estate: str = "E001", *, days_ago: float = 1, text: str = "楼道堆物") -> int:
        return self.engine.incidents.add_complaint(
            estate_id=estate,
            received_at=self.clock() - timedelta(days=days_ago),
            channel="12345",
            description=text,
            reporter="接线员",
        ).id

    def counted(self, estate: str = "E001") -> list[int]:
        """The complaint ids grading counts for the estate."""
        return sorted(cid for cid, _ in self.engine.index.complaints_of.get(estate, []))

    def states(self) -> dict[int, tuple[str, int | None]]:
        return {c.id: (c.state, c.merged_into) for c in self.engine.store.complaints.find()}

    def changes(self) -> int:
        return self.engine.store.counts()[complaint_changes.name]


def build_engine(registry: Registry, path: Path, clock: FakeClock) -> RuleEngine:
    return RuleEngine(registry, load_policy(), HazardStore(f"sqlite:///{path}"), clock=clock)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    registry = make_registry()
    clock = FakeClock()
    path = tmp_path / "hazards.sqlite"
    return Env(build_engine(registry, path, clock), clock, registry, path)


def test_three_calls_about_one_incident_count_once_after_a_merge(env: Env) -> None:
    first = env.complain(days_ago=3, text="3号楼楼道堆放杂物")
    second = env.complain(days_ago=2, text="3号楼楼道杂物没清")
    third = env.complain(days_ago=1, text="又是3号楼楼道")
    assert env.counted() == [first, second, third]
    merged = env.engine.incidents.merge_complaints(
        [second, third], into=first, by="街道办 王科员", reason="同一处楼道堆物，重复来电"
    )
    assert [(c.id, c.state, c.merged_into) for c in merged] == [
        (first, "counted", None),
        (second, "merged", first),
        (third, "merged", first),
    ]
    assert env.counted() == [first], "one incident"
    assert env.engine.store.complaints.counted(["E001"]) == [merged[0]]
    # Nothing is deleted: every complaint is still listed, with its state.
    assert env.states() == {first: ("counted", None), second: ("merged", first), third: ("merged", first)}
    rows = env.engine.store.complaints.changes([first])
    assert [(r["complaint_id"], r["action"], r["into_id"], r["by"]) for r in rows] == [
        (second, "merge", first, "街道办 王科员"),
        (third, "merge", first, "街道办 王科员"),
    ]


def test_a_complaint_filed_in_error_is_voided_and_no_longer_counts(env: Env) -> None:
    kept = env.complain()
    wrong = env.complain(text="其实是噪音投诉")
    voided = env.engine.incidents.void_complaint(wrong, by="消防大队 李参谋", reason="非消防隐患，误登记")
    assert (voided.state, voided.merged_into) == ("voided", None)
    assert env.counted() == [kept]
    (row,) = env.engine.store.complaints.changes([wrong])
    assert (row["action"], row["by"], row["reason"]) == ("void", "消防大队 李参谋", "非消防隐患，误登记")
    assert row["at"] == env.clock()


def test_a_restart_and_the_store_sync_count_only_distinct_incidents(env: Env) -> None:
    first, second, wrong = env.complain(), env.complain(), env.complain()
    env.engine.incidents.merge_complaints([second], into=first, by="office", reason="duplicate")
    env.engine.incidents.void_complaint(wrong, by="office", reason="filed in error")
    # The periodic store sync reads complaints recorded lately: the voided and merged ones stay out.
    env.clock.advance(seconds=60)
    env.engine.tick(env.clock())
    assert env.counted() == [first]
    env.engine.store.close()
    restarted = build_engine(env.registry, env.path, env.clock)
    assert sorted(cid for cid, _ in restarted.index.complaints_of["E001"]) == [first]
    assert len(restarted.index.complaint_times["E001"]) == 1


def _refused(env: Env, call: Any) -> str:
    before = env.engine.store.counts()
    counted = env.counted()
    with pytest.raises(EngineError) as refused:
        call()
    assert env.engine.store.counts() == before, "nothing is written"
    assert env.counted() == counted
    return str(refused.value)


def test_bad_voids_and_merges_are_refused_naming_the_field(env: Env) -> None:
    a, b, c = env.complain(), env.complain(), env.complain()
    other = env.complain("E002")
    incidents = env.engine.incidents

    assert "complaint_id: no complaint 999" in _refused(
        env, lambda: incidents.void_complaint(999, by="x", reason="y")
    )
    assert "reason: required" in _refused(env, lambda: incidents.void_complaint(a, by="x", reason=" "))
    message = _refused(env, lambda: incidents.merge_complaints([b, other], into=a, by="x", reason="dup"))
    assert f"complaint_ids: complaint {other} is about estate E002, complaint {a} about E001" in message
    assert "only complaints about the same estate can be one incident" in message
    message = _refused(env, lambda: incidents.merge_complaints([a], into=a, by="x", reason="dup"))
    assert f"into: complaint {a} cannot be merged into itself" in message
    message = _refused(env, lambda: incidents.merge_complaints([b, 998], into=997, by="x", reason="dup"))
    assert "into: no complaint 997" in message
    assert "complaint_ids: no complaint 998" in message
    assert "complaint_ids: give at least one" in _refused(
        env, lambda: incidents.merge_complaints([], into=a, by="x", reason="dup")
    )

    incidents.void_complaint(c, by="x", reason="error")
    incidents.merge_complaints([b], into=a, by="x", reason="dup")
    assert f"complaint_id: complaint {c} was already voided" in _refused(
        env, lambda: incidents.void_complaint(c, by="x", reason="again")
    )
    assert f"complaint_id: complaint {b} was already merged into complaint {a}" in _refused(
        env, lambda: incidents.void_complaint(b, by="x", reason="again")
    )
    assert f"into: complaint {c} was already voided: merge into a counted complaint" in _refused(
        env, lambda: incidents.merge_complaints([a], into=c, by="x", reason="dup")
    )
    # Every problem at once.
    message = _refused(env, lambda: incidents.merge_complaints([b, other], into=c, by="x", reason=""))
    assert "into:" in message
    assert "already merged" in message
    assert "about estate E002" in message
    assert "reason: required" in message
    assert env.changes() == 2


# -- through the HTTP API ------------------------------------------------------------------------------


ROLES: dict[str, dict[str, Any]] = {
    "brigade": {},
    "office": {"district": "东城区"},
    "property": {"company": "锦绣物业"},
    "grid": {"district": "东城区"},
    "viewer": {},
}


@dataclass
class Api:
    env: Env
    http: httpx.AsyncClient
    tokens: dict[str, str]

    def as_(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
async def api(env: Env, tmp_path: Path) -> AsyncIterator[Api]:
    async with role_clients(env.engine, env.clock, tmp_path, ROLES) as (http, tokens):
        yield Api(env, http, tokens)


async def test_void_and_merge_through_the_api_by_office_and_brigade_only(api: Api) -> None:
    env, http = api.env, api.http
    a, b, c, d = env.complain(), env.complain(), env.complain(), env.complain()
    west = env.complain("E003")
    before = env.engine.store.counts()
    for role in ("grid", "property", "viewer"):
        r = await http.post(f"/api/complaints/{a}/void", json={"reason": "误登记"}, headers=api.as_(role))
        assert r.status_code == 403, (role, r.text)
        assert r.json()["detail"] == f"role {role} may not void complaints (needs void_complaint)"
        r = await http.post(
            "/api/complaints/merge",
            json={"complaint_ids": [b], "into": a, "reason": "重复"},
            headers=api.as_(role),
        )
        assert r.status_code == 403, (role, r.text)
        assert r.json()["detail"] == f"role {role} may not merge complaints (needs void_complaint)"
    # Outside the office's area: as if it did not exist.
    r = await http.post(f"/api/complaints/{west}/void", json={"reason": "误登记"}, headers=api.as_("office"))
    assert r.status_code == 404
    assert r.json()["detail"] == f"complaint_id: no complaint {west}"
    r = await http.post(
        "/api/complaints/merge",
        json={"complaint_ids": [west], "into": a, "reason": "x"},
        headers=api.as_("office"),
    )
    assert r.status_code == 404
    assert r.json()["detail"] == f"complaint_ids: no complaint {west}"
    assert env.engine.store.counts() == before, "refusals write nothing"

    r = await http.post(f"/api/complaints/{d}/void", json={"reason": "误登记"}, headers=api.as_("office"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["state"], body["merged_into"]) == ("voided", None)
    assert [(x["action"], x["by"], x["reason"]) for x in body["changes"]] == [
        ("void", "office 某某", "误登记")
    ]

    merge = {"complaint_ids": [b, c], "into": a, "reason": "同一处楼道堆物"}
    r = await http.post("/api/complaints/merge", json=merge, headers=api.as_("brigade"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["into"]["id"] == a
    assert body["into"]["state"] == "counted"
    assert [(x["id"], x["state"], x["merged_into"]) for x in body["merged"]] == [
        (b, "merged", a),
        (c, "merged", a),
    ]
    assert [x["by"] for x in body["changes"]] == ["brigade 某某", "brigade 某某"]
    assert env.counted() == [a]

    listed = (await http.get("/api/complaints", params={"estate_id": "E001"}, headers=api.as_("grid"))).json()
    assert {x["id"]: x["state"] for x in listed} == {a: "counted", b: "merged", c: "merged", d: "voided"}
    counted = await http.get("/api/complaints", params={"state": "counted"}, headers=api.as_("grid"))
    assert [x["id"] for x in counted.json()] == [a]

    r = await http.post("/api/complaints/merge", json=merge, headers=api.as_("brigade"))
    assert r.status_code == 422
    assert f"complaint_ids: complaint {b} was already merged into complaint {a}" in r.json()["detail"]
    r = await http.post(f"/api/complaints/{a}/void", json={"reason": ""}, headers=api.as_("office"))
    assert r.status_code == 422
    assert r.json()["detail"].startswith("reason: required")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'backend.sqlite'}"
    postgres = request.getfixturevalue("postgres")
    return str(postgres.create_database(f"c_{uuid.uuid4().hex[:10]}"))


def test_void_and_merge_on_both_store_backends(store_url: str) -> None:
    registry, clock = make_registry(), FakeClock()
    engine = RuleEngine(registry, load_policy(), HazardStore(store_url), clock=clock)
    env = Env(engine, clock, registry, Path("unused"))
    a, b, c = env.complain(), env.complain(), env.complain()
    env.engine.incidents.merge_complaints([b], into=a, by="office", reason="duplicate")
    env.engine.incidents.void_complaint(c, by="office", reason="error")
    assert env.states() == {a: ("counted", None), b: ("merged", a), c: ("voided", None)}
    assert [x.id for x in engine.store.complaints.counted(["E001"])] == [a]
    # A second void of the same complaint, as another gateway might try a moment later: the store refuses.
    with pytest.raises(TransitionError, match="voided or merged by someone else"):
        engine.store.complaints.void(c, by="other gateway", reason="again", now=clock())
    assert env.changes() == 2
    engine.store.close()


def test_another_gateway_takes_in_a_void_and_a_merge_at_its_next_store_sync(store_url: str) -> None:
    """Two gateways on one store: three calls filed at ``a`` make E001 red (R6) at both; ``a`` merges two of
    them into the first and ``b`` counts one incident (Y14) and re-grades at its next store sync, not only
    at a restart; ``b`` voids the last one and ``a`` counts none at its next sync. Read again within the
    sync's look-back, nothing changes twice."""
    registry, clock = make_registry(), FakeClock()

    def gateway() -> RuleEngine:
        return RuleEngine(registry, load_policy(), HazardStore(store_url), clock=clock, store_sync_s=30)

    a = gateway()
    assess(a, ["E001"])
    b = gateway()
    env_a = Env(a, clock, registry, Path("unused"))
    env_b = Env(b, clock, registry, Path("unused"))
    first, second, third = env_a.complain(days_ago=3), env_a.complain(days_ago=2), env_a.complain()
    clock.advance(seconds=31)
    b.tick(clock())
    assert env_b.counted() == [first, second, third]
    assert b.grader.grades["E001"].red_items == ("R6",)

    a.incidents.merge_complaints([second, third], into=first, by="街道办 王科员", reason="同一处楼道堆物")
    assert env_a.counted() == [first]
    assert env_b.counted() == [first, second, third], "b has not synced yet"
    syncs = b.counters.store_syncs
    clock.advance(seconds=31)
    b.tick(clock())
    assert env_b.counted() == [first]
    assert len(b.index.complaint_times["E001"]) == 1
    grade = b.grader.grades["E001"]
    assert (grade.colour, grade.red_items, grade.yellow_items) == ("green", (), ("Y14",))
    assert b.counters.store_syncs == syncs + 1
    # Recorded once, by the gateway that made the change: a's own re-grade, not again by b.
    assert [g.colour for g in b.store.grades.history("E001")][:2] == ["green", "red"]

    b.incidents.void_complaint(first, by="消防大队 李参谋", reason="非消防隐患，误登记")
    assert env_b.counted() == []
    clock.advance(seconds=31)
    a.tick(clock())
    assert env_a.counted() == []
    assert a.index.complaint_times["E001"] == []
    assert a.grader.grades["E001"].yellow_items == ()
    # Read again (the sync looks back a few minutes): nothing to take in, no re-grade.
    syncs = a.counters.store_syncs
    clock.advance(seconds=31)
    a.tick(clock())
    assert a.counters.store_syncs == syncs
    assert env_a.counted() == []
    a.store.close()
    b.store.close()
