"""Maintenance and test windows (屏蔽 with a time limit), through the rule engine on a fake clock, the HTTP
API and the command line.

A maintenance company declares a window for a device, a building or an estate, from when to when, who and
why. Inside it a hydrant's flow test (the pressure falls to nothing for a while) is recorded, marked with the
window, and files no hazard; the grade does not move. When the window ends with the hydrant still dry, its
hazard opens then; a hydrant that recovered inside the window opens nothing. A smoke alarm inside a window is
still raised and shown, marked as a test. Bad declarations are refused with every problem named at once, and
nothing is stored.

Hazard counts and stored rows are asserted, not grade colours (the grading rules have tests of their own).
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
from clock import T0, FakeClock
from readings import healthy_readings
from role_clients import role_clients

from gateway.casework.engine import RuleEngine
from gateway.casework.model import EngineError
from gateway.casework.windows import REFRESH_S
from gateway.cli import main
from gateway.ingest.registry import Registry, registry_to_toml
from gateway.models import Device, DeviceEvent, EventType, Reading
from gateway.store import HazardStore
from gateway.store.windows import WindowScope
from rules.lifecycle import TransitionError
from rules.model import SignalKind
from rules.policy import load_policy
from simulators.fleet import generate_fleet

DRY, HEALTHY = 0.0, 0.35


def make_registry() -> Registry:
    """Two estates, each one building (E001-B01, E002-B01) with three smoke detectors and two hydrants."""
    fleet = generate_fleet(
        estates=2, smoke_per_estate=3, hydrants_per_estate=2, cameras_per_estate=0, modbus_share=0.0, seed=5
    )
    estates = [
        e.model_copy(update={"district": "东城区", "property_company": "锦绣物业"}) for e in fleet.estates
    ]
    return Registry(estates=tuple(estates), buildings=fleet.buildings, devices=fleet.devices)


@dataclass
class Env:
    engine: RuleEngine
    clock: FakeClock
    registry: Registry
    path: Path

    def device(self, device_id: str) -> Device:
        return self.registry.device(device_id)

    def pressure(self, hydrant: str, mpa: float) -> None:
        now = self.clock()
        device = self.device(hydrant)
        reading = Reading(device_id=hydrant, time=now, metrics={"pressure_mpa": mpa, "battery_pct": 90.0})
        self.engine.on_records([(device, reading)], now)

    def hold(self, hydrant: str, mpa: float, *, minutes: float) -> None:
        """The hydrant reports ``mpa`` every 30 s for ``minutes``, the clock ticking with it."""
        for _ in range(int(minutes * 2)):
            self.clock.advance(seconds=30)
            self.pressure(hydrant, mpa)
            self.engine.tick(self.clock())

    def alarm(self, detector: str) -> None:
        now = self.clock()
        event = DeviceEvent(device_id=detector, time=now, type=EventType.ALARM)
        self.engine.on_records([(self.device(detector), event)], now)

    def hazards(self, device_id: str, *, open_only: bool = False) -> list[Any]:
        return self.engine.store.hazards.find(device_id=device_id, open_only=open_only)

    def declare(self, *, minutes: float = 30, **target: Any) -> Any:
        now = self.clock()
        return self.engine.windows.declare(
            estate_id=target.pop("estate_id", "E001"),
            starts_at=target.pop("starts_at", now),
            ends_at=target.pop("ends_at", now + timedelta(minutes=minutes)),
            reason=target.pop("reason", "消火栓放水试验 (hydrant flow test)"),
            declared_by=target.pop("declared_by", "维保公司 张工"),
            **target,
        )

    def restart(self) -> RuleEngine:
        self.engine.store.close()
        self.engine = build_engine(self.registry, self.path, self.clock)
        return self.engine


def build_engine(registry: Registry, path: Path, clock: FakeClock) -> RuleEngine:
    return RuleEngine(registry, load_policy(), HazardStore(f"sqlite:///{path}"), clock=clock)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    registry = make_registry()
    clock = FakeClock()
    path = tmp_path / "hazards.sqlite"
    e = Env(build_engine(registry, path, clock), clock, registry, path)
    assess(e.engine)
    now = clock()
    e.engine.on_records(healthy_readings(registry, now), now)
    return e


HYDRANT, OTHER_HYDRANT, DETECTOR = "HY-E001-01", "HY-E001-02", "SD-E001-0001"


def test_without_a_window_a_dry_hydrant_files_its_hazard(env: Env) -> None:
    """The control for the tests below: the same flow test, no window."""
    env.hold(HYDRANT, DRY, minutes=5)
    assert len(env.hazards(HYDRANT, open_only=True)) == 1


def test_a_dry_hydrant_inside_a_window_files_no_hazard_until_the_window_ends(env: Env) -> None:
    engine = env.engine
    window = env.declare(building_id="E001-B01", minutes=30)
    assert window.scope is WindowScope.BUILDING
    assert window.target_id == "E001-B01"
    grade_before, changes_before = engine.grader.grades["E001"].colour, engine.counters.grade_changes

    env.hold(HYDRANT, DRY, minutes=20)  # the rule turns active after its hold, inside the window
    assert env.hazards(HYDRANT) == []
    assert engine.grader.grades["E001"].colour == grade_before
    assert engine.counters.grade_changes == changes_before, "the grade did not move"
    signals = engine.store.signals.history(HYDRANT)
    assert signals, "the signal change is recorded"
    assert {s.window_id for s in signals} == {window.id}
    # The other estate's hydrant is not in the window: its flow test files a hazard as usual.
    env.hold("HY-E002-01", DRY, minutes=6)
    assert len(env.hazards("HY-E002-01", open_only=True)) == 1
    assert {s.window_id for s in engine.store.signals.history("HY-E002-01")} == {None}

    env.hold(HYDRANT, DRY, minutes=10)  # past ends_at: the window expired, the hydrant is still dry
    opened = env.hazards(HYDRANT, open_only=True)
    assert len(opened) == 1, "one hazard opens when the window ends"
    assert opened[0].opened_at >= window.ends_at
    stored = engine.store.windows.get(window.id)
    assert stored.settled_at is not None
    assert stored.ended_at is None
    assert stored.state(env.clock()) == "expired"
    assert stored.settlement is not None
    assert stored.settlement["how"] == "expired"
    assert stored.settlement["opened"] == [opened[0].id]
    assert engine.windows.windows == {}, "nothing is held for it any more"


def test_a_hydrant_that_recovers_inside_the_window_opens_nothing(env: Env) -> None:
    window = env.declare(device_id=HYDRANT, minutes=30)
    env.hold(HYDRANT, DRY, minutes=5)
    env.hold(HYDRANT, HEALTHY, minutes=15)  # recovered, and healthy for longer than the recovery hold
    env.hold(HYDRANT, HEALTHY, minutes=15)  # the window expires
    assert env.hazards(HYDRANT) == []
    stored = env.engine.store.windows.get(window.id)
    assert stored.settled_at is not None
    assert stored.settlement is not None
    assert stored.settlement["opened"] == []
    # Its signal changes (on, then off) are both recorded and marked.
    signals = env.engine.store.signals.history(HYDRANT)
    assert {s.active for s in signals} == {True, False}
    assert {s.window_id for s in signals} == {window.id}


def test_a_hazard_open_before_the_window_closes_when_the_window_ends_recovered(env: Env) -> None:
    env.hold(HYDRANT, DRY, minutes=5)
    (hazard,) = env.hazards(HYDRANT, open_only=True)
    window = env.declare(estate_id="E001", minutes=30)  # the whole estate
    env.hold(HYDRANT, HEALTHY, minutes=15)  # recovers inside: the hazard stays open until the window ends
    assert [h.id for h in env.hazards(HYDRANT, open_only=True)] == [hazard.id]
    env.hold(HYDRANT, HEALTHY, minutes=16)
    assert env.hazards(HYDRANT, open_only=True) == []
    assert env.engine.store.hazards.get(hazard.id).close_kind == "auto"
    settlement = env.engine.store.windows.get(window.id).settlement
    assert settlement is not None
    assert settlement["closed"] == [hazard.id]


def test_ending_a_window_early_opens_the_hazard_at_once_and_is_recorded(env: Env) -> None:
    window = env.declare(device_id=HYDRANT, minutes=60)
    env.hold(HYDRANT, DRY, minutes=5)
    assert env.hazards(HYDRANT) == []
    ended = env.engine.windows.end(window.id, by="维保公司 张工", reason="test done early")
    assert ended.ended_by == "维保公司 张工"
    assert ended.end_reason == "test done early"
    assert ended.ended_at == env.clock()
    assert ended.settled_at == env.clock()
    assert ended.state(env.clock()) == "ended"
    assert len(env.hazards(HYDRANT, open_only=True)) == 1
    with pytest.raises(TransitionError, match="already ended by 维保公司 张工"):
        env.engine.windows.end(window.id, by="someone")
    # A later flow test on the same hydrant is no longer in a window.
    assert env.engine.windows.covering(env.device(HYDRANT), env.clock()) is None


def test_a_device_in_two_windows_stays_covered_until_the_last_one_ends(env: Env) -> None:
    short = env.declare(device_id=HYDRANT, minutes=10)
    long = env.declare(building_id="E001-B01", minutes=30)
    env.hold(HYDRANT, DRY, minutes=5)
    env.hold(HYDRANT, DRY, minutes=10)  # the short one expired: the building's window still covers it
    assert env.hazards(HYDRANT) == []
    short_settlement = env.engine.store.windows.get(short.id).settlement
    assert short_settlement is not None
    assert short_settlement["opened"] == []
    env.hold(HYDRANT, DRY, minutes=20)
    assert len(env.hazards(HYDRANT, open_only=True)) == 1
    long_settlement = env.engine.store.windows.get(long.id).settlement
    assert long_settlement is not None
    assert len(long_settlement["opened"]) == 1


def test_a_smoke_alarm_inside_a_window_is_raised_and_marked_as_a_test(env: Env) -> None:
    window = env.declare(device_id=DETECTOR, minutes=30, reason="月度报警测试 (monthly test alarm)")
    env.clock.advance(minutes=1)
    env.alarm(DETECTOR)
    env.alarm("SD-E001-0002")  # not in the window: a real alarm
    alarms = {a.device_id: a for a in env.engine.store.alarms.find(open_only=True)}
    assert alarms[DETECTOR].window_id == window.id, "raised, never dropped, and marked"
    assert alarms["SD-E001-0002"].window_id is None
    updates = [u.data for u in env.engine.outbox.updates.recent if u.kind == "alarm"]
    marks = {u["device"]: (u["test"], u["window_id"]) for u in updates}
    assert marks == {DETECTOR: (True, window.id), "SD-E001-0002": (False, None)}


def test_an_alarm_after_the_window_expired_is_not_a_test(env: Env) -> None:
    env.declare(device_id=DETECTOR, minutes=10)
    env.clock.advance(minutes=11)
    env.engine.tick(env.clock())
    env.alarm(DETECTOR)
    (alarm,) = env.engine.store.alarms.find(open_only=True)
    assert alarm.window_id is None


def test_windows_are_kept_across_a_restart(env: Env) -> None:
    window = env.declare(device_id=HYDRANT, minutes=30)
    env.hold(HYDRANT, DRY, minutes=5)
    engine = env.restart()
    assert engine.windows.covering(env.device(HYDRANT), env.clock()) is not None
    # What changed inside the window before the restart is known again, from the signal history.
    assert {d for d, _ in engine.windows.pairs[window.id]} == {HYDRANT}
    env.hold(HYDRANT, DRY, minutes=10)
    assert env.hazards(HYDRANT) == []
    env.hold(HYDRANT, DRY, minutes=16)
    assert len(env.hazards(HYDRANT, open_only=True)) == 1


def test_a_window_that_expired_while_no_gateway_ran_is_settled_at_the_next_start(env: Env) -> None:
    window = env.declare(device_id=HYDRANT, minutes=10)
    env.engine.store.close()
    env.clock.advance(hours=1)
    engine = build_engine(env.registry, env.path, env.clock)
    assert window.id in engine.windows.windows
    engine.tick(env.clock())
    assert engine.store.windows.get(window.id).settled_at == env.clock()
    assert engine.windows.windows == {}


def test_a_window_declared_elsewhere_is_taken_in_and_one_ended_elsewhere_is_settled(env: Env) -> None:
    """As ``firegw window add`` or another gateway on the same store would: straight into the store."""
    store, now = env.engine.store, env.clock()
    window = store.windows.add(
        estate_id="E001",
        scope=WindowScope.DEVICE,
        target_id=HYDRANT,
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        declared_by="cli",
        reason="flow test",
        now=now,
    )
    env.clock.advance(seconds=REFRESH_S)
    env.engine.tick(env.clock())
    assert env.engine.windows.covering(env.device(HYDRANT), env.clock()) == window
    env.hold(HYDRANT, DRY, minutes=5)
    assert env.hazards(HYDRANT) == []
    store.windows.end_early(window.id, by="cli", reason="done", now=env.clock())
    env.hold(HYDRANT, DRY, minutes=1)
    assert len(env.hazards(HYDRANT, open_only=True)) == 1
    assert store.windows.get(window.id).settled_at is not None


# -- bad input: every problem named at once, nothing stored ---------------------------------------------


def _refused(env: Env, **values: Any) -> str:
    before = env.engine.store.counts()
    with pytest.raises(EngineError) as refused:
        env.declare(**values)
    assert env.engine.store.counts() == before, "nothing is stored"
    assert env.engine.windows.windows == {}
    return str(refused.value)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"estate_id": "E999"}, ["estate_id: no estate 'E999' in the registry"]),
        ({"building_id": "B77"}, ["building_id: no building 'B77' in the registry"]),
        (
            {"building_id": "E002-B01"},
            ["building_id: building 'E002-B01' belongs to estate 'E002', not 'E001'"],
        ),
        ({"device_id": "NOPE"}, ["device_id: no device 'NOPE' in the registry"]),
        (
            {"device_id": "HY-E002-01"},
            ["device_id: device 'HY-E002-01' belongs to estate 'E002', not 'E001'"],
        ),
        ({"building_id": "E001-B01", "device_id": HYDRANT}, ["building_id, device_id: give one of them"]),
        ({"ends_at": T0}, ["ends_at: 2026-11-23T02:00:00+00:00 is not after starts_at"]),
        (
            {"starts_at": T0 - timedelta(hours=3), "ends_at": T0 - timedelta(hours=1)},
            ["ends_at: 2026-11-23T01:00:00+00:00 is in the past", "a window must end in the future"],
        ),
        (
            {"starts_at": T0 + timedelta(days=31), "ends_at": T0 + timedelta(days=31, hours=1)},
            ["starts_at:", "is more than 30 d ahead", "at most 30 d ahead (policy data [maintenance]"],
        ),
        (
            {"minutes": 25 * 60},
            ["ends_at: the window would last 25 h, longer than the 24 h a window may last (policy data"],
        ),
        ({"reason": "  "}, ["reason: required"]),
        ({"declared_by": ""}, ["declared_by: required"]),
    ],
)
def test_a_bad_window_is_refused_naming_the_field(
    env: Env, values: dict[str, Any], expected: list[str]
) -> None:
    message = _refused(env, **values)
    for text in expected:
        assert text in message


def test_every_problem_is_named_at_once(env: Env) -> None:
    message = _refused(env, estate_id="E999", minutes=48 * 60, reason="")
    assert "estate_id:" in message
    assert "ends_at:" in message
    assert "reason:" in message
    assert message.count("; ") == 2


# -- the HTTP API and the command line -----------------------------------------------------------------


@dataclass
class Api:
    env: Env
    http: httpx.AsyncClient
    tokens: dict[str, str]

    def as_(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}


ROLES: dict[str, dict[str, Any]] = {
    "brigade": {},
    "office": {"district": "东城区"},
    "property": {"company": "锦绣物业"},
    "grid": {"district": "东城区"},
    "viewer": {},
}


@pytest.fixture
async def api(env: Env, tmp_path: Path) -> AsyncIterator[Api]:
    async with role_clients(env.engine, env.clock, tmp_path, ROLES) as (http, tokens):
        yield Api(env, http, tokens)


async def test_a_window_through_the_http_api(api: Api) -> None:
    env, http = api.env, api.http
    now = env.clock()
    body = {
        "estate_id": "E001",
        "device_id": HYDRANT,
        "ends_at": (now + timedelta(minutes=30)).isoformat(),
        "reason": "消火栓放水试验",
    }
    r = await http.post("/api/windows", json=body, headers=api.as_("property"))
    assert r.status_code == 201, r.text
    window = r.json()
    assert window["declared_by"] == "property 某某", "the signed-in account is recorded"
    assert window["state"] == "active"
    assert window["scope"] == "device"
    assert window["target_id"] == HYDRANT
    assert window["mark"] == {"zh": "测试/维护中", "en": "testing / maintenance"}

    env.hold(HYDRANT, DRY, minutes=5)
    assert env.hazards(HYDRANT) == []
    signals = (await http.get(f"/api/devices/{HYDRANT}", headers=api.as_("viewer"))).json()
    assert {s["window_id"] for s in signals["signal_history"]} == {window["id"]}

    listed = (await http.get("/api/windows", params={"active": "true"}, headers=api.as_("viewer"))).json()
    assert [w["id"] for w in listed] == [window["id"]]

    r = await http.post(f"/api/windows/{window['id']}/end", json={"reason": "done"}, headers=api.as_("grid"))
    assert r.status_code == 403
    assert r.json()["detail"] == "role grid may not end maintenance windows (needs declare_window)"
    r = await http.post(
        f"/api/windows/{window['id']}/end", json={"reason": "done"}, headers=api.as_("office")
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "ended"
    assert r.json()["ended_by"] == "office 某某"
    assert r.json()["settlement"]["how"] == "ended"
    assert len(env.hazards(HYDRANT, open_only=True)) == 1
    assert (await http.get("/api/windows", params={"active": "true"}, headers=api.as_("viewer"))).json() == []
    r = await http.post(f"/api/windows/{window['id']}/end", json={}, headers=api.as_("office"))
    assert r.status_code == 409


async def test_window_roles_and_bad_input_through_the_api(api: Api) -> None:
    now = api.env.clock()
    body = {"estate_id": "E001", "ends_at": (now + timedelta(hours=1)).isoformat(), "reason": "月度测试"}
    for role in ("grid", "viewer"):
        r = await api.http.post("/api/windows", json=body, headers=api.as_(role))
        assert r.status_code == 403, role
        assert r.json()["detail"] == f"role {role} may not declare maintenance windows (needs declare_window)"
    for role in ("brigade", "office", "property"):
        r = await api.http.post("/api/windows", json=body, headers=api.as_(role))
        assert r.status_code == 201, (role, r.text)
    before = api.env.engine.store.counts()
    bad = {**body, "ends_at": (now + timedelta(hours=30)).isoformat(), "reason": "", "building_id": "B9"}
    r = await api.http.post("/api/windows", json=bad, headers=api.as_("office"))
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "building_id: no building 'B9'" in detail
    assert "ends_at: the window would last 30 h, longer than the 24 h" in detail
    assert "reason: required" in detail
    assert api.env.engine.store.counts() == before
    # An alarm in a window is shown marked as a test in the alarm list.
    await api.http.post("/api/windows", json={**body, "device_id": DETECTOR}, headers=api.as_("property"))
    api.env.alarm(DETECTOR)
    alarms = (await api.http.get("/api/alarms", headers=api.as_("property"))).json()
    assert [(a["device"], a["test"]) for a in alarms] == [(DETECTOR, True)]
    assert alarms[0]["window_id"] is not None


def test_the_command_line_declares_lists_and_ends_windows(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "registry.toml").write_text(registry_to_toml(env.registry), encoding="utf-8")
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[gateway]\nregistry = "registry.toml"\ndata_dir = "data"\n[rules]\nstore_url = "sqlite:///{env.path}"\n'
    )
    args = ["window", "add", "--config", str(config), "--estate", "E001", "--building", "E001-B01"]
    assert main([*args, "--to", "+2h", "--reason", "月度报警测试", "--by", "维保 张工"]) == 0
    out = capsys.readouterr().out
    assert "declared window 1 [active] estate E001, building E001-B01" in out
    assert "declared by 维保 张工: 月度报警测试" in out

    assert main([*args, "--to", "+25h", "--reason", " "]) == 2
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("error: --to: the window would last 25 h") for line in err)
    assert "error: --reason: required (what is tested or maintained, e.g. monthly test alarm)" in err
    assert main([*args, "--to", "tomorrow", "--reason", "x"]) == 2
    assert "error: --to: 'tomorrow' is not a time" in capsys.readouterr().err

    assert main(["window", "list", "--config", str(config)]) == 0
    assert "window 1 [active]" in capsys.readouterr().out
    assert main(["window", "end", "1", "--config", str(config), "--by", "维保 张工"]) == 0
    assert "ended window 1 [ended]" in capsys.readouterr().out
    assert main(["window", "end", "1", "--config", str(config)]) == 2
    assert capsys.readouterr().err.startswith("error: window 1 was already ended by 维保 张工")
    assert main(["window", "end", "77", "--config", str(config)]) == 2
    assert capsys.readouterr().err == "error: no window 77\n"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'backend.sqlite'}"
    postgres = request.getfixturevalue("postgres")
    return str(postgres.create_database(f"w_{uuid.uuid4().hex[:10]}"))


def test_windows_on_both_store_backends(store_url: str) -> None:
    """Declared, suppressed, read back at a restart (from the signal history) and settled, on SQLite and
    PostgreSQL alike."""
    registry, clock = make_registry(), FakeClock()
    engine = RuleEngine(registry, load_policy(), HazardStore(store_url), clock=clock)
    env = Env(engine, clock, registry, Path("unused"))
    engine.on_records(healthy_readings(registry, clock()), clock())
    window = env.declare(building_id="E001-B01", minutes=30)
    env.hold(HYDRANT, DRY, minutes=5)
    assert env.hazards(HYDRANT) == []
    engine.store.close()
    env.engine = engine = RuleEngine(registry, load_policy(), HazardStore(store_url), clock=clock)
    assert engine.windows.pairs[window.id] == {(HYDRANT, SignalKind.HYDRANT_LOW_PRESSURE)}
    assert [w.id for w in engine.store.windows.active(clock())] == [window.id]
    assert [w.id for w in engine.store.windows.find(["E001"], clock(), active_at=clock())] == [window.id]
    env.hold(HYDRANT, DRY, minutes=30)
    assert len(env.hazards(HYDRANT, open_only=True)) == 1
    assert engine.store.windows.unsettled() == []
    engine.store.close()
