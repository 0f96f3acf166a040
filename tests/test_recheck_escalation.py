"""Re-checks (复查) and escalation (督办升级) as a street office runs them, through the API on a fake clock
(issue 16).

- A verified hazard comes back for its re-check after the policy's delay and not before; the gateway announces
  it once; a failed re-check opens a new hazard linked to the old one and sends it back to the party.
- Red items go up at once, overdue items when their deadline passes; each escalation one level further up
  (street → district → brigade), recorded and announced with its level.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from clock import FakeClock
from role_clients import role_clients

from gateway.casework.engine import RuleEngine
from gateway.casework.model import RuleUpdate
from gateway.ingest.registry import Registry
from gateway.store import HazardStore
from gateway.store.parties import PartyKind
from rules.lifecycle import HazardAction
from rules.policy import load_policy
from simulators.fleet import generate_fleet

DAY = 86400.0


@dataclass
class World:
    engine: RuleEngine
    clock: FakeClock
    http: httpx.AsyncClient
    tokens: dict[str, str]
    company: str
    #: Every hazard change the engine announced (what the live feed and the notifier are told).
    announced: list[dict[str, Any]] = field(default_factory=list)

    def as_(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def file(self, criterion: str) -> int:
        return self.engine.hazards.file(
            estate_id="E001",
            criterion=criterion,
            location="3号楼 1单元",
            description="消防通道堵塞",
            reporter="网格员",
        ).id

    async def hazard(self, hazard_id: int) -> dict[str, Any]:
        r = await self.http.get(f"/api/hazards/{hazard_id}", headers=self.as_("brigade"))
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def step(self, hazard_id: int, username: str, **body: Any) -> httpx.Response:
        return await self.http.post(
            f"/api/hazards/{hazard_id}/transitions", json=body, headers=self.as_(username)
        )

    def tick(self, days: float) -> None:
        """Let ``days`` pass; the engine's sweep (overdue, re-checks due) runs once at the end."""
        self.clock.advance(seconds=days * DAY)
        self.engine.tick(self.clock())

    def actions(self, hazard_id: int) -> list[tuple[str, Any]]:
        return [(d["action"], d.get("level")) for d in self.announced if d["id"] == hazard_id]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    fleet = generate_fleet(
        estates=2, smoke_per_estate=2, hydrants_per_estate=1, cameras_per_estate=0, modbus_share=0, seed=3
    )
    registry = Registry(estates=fleet.estates, buildings=fleet.buildings, devices=fleet.devices)
    e001 = next(e for e in fleet.estates if e.id == "E001")
    clock = FakeClock()
    engine = RuleEngine(
        registry, load_policy(), HazardStore(f"sqlite:///{tmp_path / 'hazards.sqlite'}"), clock=clock
    )
    roles = {
        "brigade": {},
        "office": {"district": e001.district},
        "grid": {"district": e001.district},
        "property": {"company": e001.property_company},
    }
    async with role_clients(engine, clock, tmp_path, roles) as (http, tokens):
        w = World(engine, clock, http, tokens, e001.property_company)
        engine.outbox.listeners.append(
            lambda u: w.announced.append(u.data) if isinstance(u, RuleUpdate) and u.kind == "hazard" else None
        )
        yield w


async def fixed_and_verified(world: World) -> int:
    """A yellow hazard of E001, dispatched to its property company, rectified and verified."""
    hid = world.file("Y1")
    (party,) = world.engine.store.parties.ids_named(PartyKind.PROPERTY_COMPANY, world.company)
    assert (await world.step(hid, "office", action="dispatch", party_id=party)).status_code == 200
    world.engine.hazards.step(hid, HazardAction.START, actor="物业 王")
    world.engine.hazards.step(hid, HazardAction.RECTIFIED, actor="物业 王", evidence="通道已清理")
    r = await world.step(hid, "office", action="verify")
    assert r.status_code == 200, r.text
    return hid


async def test_a_recheck_comes_due_after_the_policy_delay_and_not_before(world: World) -> None:
    hid = await fixed_and_verified(world)
    due = (await world.hazard(hid))["recheck_due"]
    delay = world.engine.policy.deadlines.recheck_after
    assert due is not None
    assert delay == timedelta(days=30)

    early = await world.step(hid, "grid", action="recheck", outcome="passed")
    assert early.status_code == 409, early.text
    assert "not before" in early.json()["detail"]
    assert due[:10] in early.json()["detail"]

    world.tick(days=29)
    assert (await world.hazard(hid))["recheck_announced_at"] is None
    assert ("recheck_due", None) not in world.actions(hid)
    world.tick(days=1.01)
    assert world.actions(hid).count(("recheck_due", None)) == 1, "announced once, when it came due"
    world.tick(days=1)
    assert world.actions(hid).count(("recheck_due", None)) == 1, "and not again"
    todo = (await world.http.get("/api/todo", headers=world.as_("grid"))).json()
    due_now = [h["id"] for entry in todo["lists"] if entry["key"] == "recheck_due" for h in entry["hazards"]]
    assert due_now == [hid]

    no_outcome = await world.step(hid, "grid", action="recheck")
    assert no_outcome.status_code == 422
    assert "outcome" in no_outcome.json()["detail"]
    passed = await world.step(hid, "grid", action="recheck", outcome="passed", reason="通道畅通")
    assert passed.status_code == 200, passed.text
    body = passed.json()
    assert (body["state"], body["recheck_due"], body["reopened_as"]) == ("closed", None, None)
    assert (body["history"][-1]["action"], body["history"][-1]["data"]) == ("recheck", {"outcome": "passed"})
    again = await world.step(hid, "grid", action="recheck", outcome="passed")
    assert again.status_code == 409
    assert "no re-check is scheduled" in again.json()["detail"]


async def test_a_failed_recheck_reopens_the_problem_as_a_linked_hazard_back_with_its_party(
    world: World,
) -> None:
    hid = await fixed_and_verified(world)
    before = await world.hazard(hid)
    world.tick(days=31)

    vague = await world.step(hid, "grid", action="recheck", outcome="failed")
    assert vague.status_code == 409
    assert "what was found" in vague.json()["detail"]
    assert world.engine.store.hazards.find(estate_ids=["E001"], open_only=True, criterion="Y1") == []

    r = await world.step(hid, "grid", action="recheck", outcome="failed", reason="通道又被电动车堵塞")
    assert r.status_code == 200, r.text
    old = r.json()
    new_id = old["reopened_as"]
    assert old["state"] == "closed"
    assert isinstance(new_id, int)
    assert old["history"][-1]["data"] == {"outcome": "failed", "reopened_as": new_id}

    new = await world.hazard(new_id)
    assert new["reopened_from"] == hid
    assert (new["estate_id"], new["criterion"], new["location"]) == ("E001", "Y1", before["location"])
    assert (new["state"], new["party_id"], new["responsible"]) == (
        "dispatched",
        before["party_id"],
        before["responsible"],
    )
    assert [h["action"] for h in new["history"]] == ["report", "dispatch"]
    assert "re-check of hazard" in new["history"][0]["reason"]
    assert "通道又被电动车堵塞" in new["history"][0]["reason"]

    # The party finds it on its list again, and the estate's grade has the item back.
    todo = (await world.http.get("/api/todo", headers=world.as_("property"))).json()
    assert [h["id"] for entry in todo["lists"] if entry["key"] == "to_start" for h in entry["hazards"]] == [
        new_id
    ]
    estate = (await world.http.get("/api/estates/E001", headers=world.as_("brigade"))).json()
    assert str(new_id) in {h for reason in estate["grade"]["reasons"] for h in reason["hazards"]}
    assert ("report", None) in world.actions(new_id)
    assert ("dispatch", None) in world.actions(new_id)


async def test_a_red_item_goes_up_at_once_then_a_level_a_day(world: World) -> None:
    hid = world.file("R1")
    h = await world.hazard(hid)
    assert (h["escalations"], h["escalation_level"]) == (1, "street")
    escalation = h["history"][-1]
    assert escalation["action"] == "escalate"
    assert escalation["actor"] == "system"
    assert escalation["data"] == {"level": "street", "why": "red", "escalation": 1}
    assert world.actions(hid) == [("report", None), ("escalate", "street")]

    world.tick(days=0.5)
    assert (await world.hazard(hid))["escalations"] == 1, "the next level a day later, not at every sweep"
    world.tick(days=0.51)
    assert (await world.hazard(hid))["escalation_level"] == "district"
    world.tick(days=1.01)
    world.tick(days=1.01)
    h = await world.hazard(hid)
    assert (h["escalations"], h["escalation_level"]) == (4, "brigade"), "the top level stays the top"

    # Once it is rectified it waits for the inspector, and nothing escalates any more.
    world.engine.hazards.step(hid, HazardAction.START, actor="物业 王")
    world.engine.hazards.step(hid, HazardAction.RECTIFIED, actor="物业 王", evidence="已整改")
    world.tick(days=3)
    assert (await world.hazard(hid))["escalations"] == 4


async def test_an_overdue_item_escalates_when_its_deadline_passes_then_every_week(world: World) -> None:
    hid = world.file("Y9")
    world.engine.hazards.step(hid, HazardAction.START, actor="物业 王")
    world.tick(days=29)
    assert (await world.hazard(hid))["escalations"] == 0, "a yellow item within its deadline stays put"
    world.tick(days=1.01)
    h = await world.hazard(hid)
    assert (h["overdue"], h["escalation_level"]) == (True, "street")
    assert h["history"][-1]["data"] == {"level": "street", "why": "overdue", "escalation": 1}
    assert "overdue by 0 d" in h["history"][-1]["reason"]
    assert "escalated to the street" in h["history"][-1]["reason"]
    world.tick(days=6)
    assert (await world.hazard(hid))["escalations"] == 1
    world.tick(days=1.01)
    assert (await world.hazard(hid))["escalation_level"] == "district"
    assert [level for action, level in world.actions(hid) if action == "escalate"] == ["street", "district"]
