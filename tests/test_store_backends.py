"""The hazard store on both of its backends: SQLite (embedded, one gateway) and a real PostgreSQL (one store
for many gateways). The same SQLAlchemy Core code runs on both; these tests hold it to the same behaviour,
including what the schema itself enforces (one open hazard per device and signal, one open alarm per
device), time zones, JSON columns, and an engine restarting on a store another engine filled.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from assessed import assess
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from gateway.casework.engine import RuleEngine
from gateway.ingest.registry import Registry
from gateway.models import DeviceEvent, EventType, Reading
from gateway.store import HazardStore
from gateway.store.database import NotFound
from gateway.store.tables import alarms, hazards
from rules.lifecycle import AlarmAction, AlarmOutcome, HazardAction, HazardState, TransitionError
from rules.policy import load_policy
from simulators.fleet import generate_fleet

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


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


def open_hazard(store: HazardStore, device: str = "HY-1", signal: str = "hydrant_low_pressure") -> Any:
    return store.hazards.open_for_device(
        estate_id="E001",
        device_id=device,
        signal=signal,
        criteria=["Y10", "G4", "G6"],
        description="消火栓 HY-1：水压 0.02 MPa",
        location="2号楼",
        since=T0 - timedelta(minutes=5),
        value=0.02,
        now=T0,
    )


def test_one_open_hazard_per_device_and_signal(store: HazardStore) -> None:
    first, created = open_hazard(store)
    again, created_again = open_hazard(store)
    assert created
    assert not created_again
    assert again.id == first.id
    # The database itself refuses a second open one, whatever code path tried.
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(
            insert(hazards).values(
                estate_id="E001", criterion="Y10", criteria=["Y10"], source="device", device_id="HY-1",
                signal="hydrant_low_pressure", state="reported", since=T0, opened_at=T0, updated_at=T0,
                escalations=0, location="", description="", photo="", reporter="", responsible="",
            )
        )  # fmt: skip
    closed = store.hazards.transition(first.id, HazardAction.AUTO_CLOSE, actor="system", now=T0, reason="ok")
    assert closed.close_kind == "auto"
    reopened, created = open_hazard(store)
    assert created
    assert reopened.id != first.id


def test_times_are_utc_and_json_columns_round_trip(store: HazardStore) -> None:
    hazard, _ = open_hazard(store)
    got = store.hazards.get(hazard.id)
    assert got.since == T0 - timedelta(minutes=5)
    assert got.since.tzinfo is not None
    assert got.criteria == ["Y10", "G4", "G6"]
    assert got.description == "消火栓 HY-1：水压 0.02 MPa"
    store.grades.record(
        {
            "estate_id": "E001", "at": T0, "colour": "yellow", "level": 1, "previous": "green", "rule": "r",
            "reasons": [{"codes": ["Y10"], "text": "水压", "hazards": [str(hazard.id)]}], "red_items": [],
            "yellow_items": ["Y10"], "missing_green": ["G4"], "tolerated": [], "open_hazards": 1,
            "stale": False, "policy": "p",
        }
    )  # fmt: skip
    latest = store.grades.latest()["E001"]
    assert latest.reasons[0]["text"] == "水压"
    assert latest.at == T0


def test_a_refused_transition_changes_nothing(store: HazardStore) -> None:
    hazard = store.hazards.file(
        estate_id="E001", criterion="R4", location="", description="堆物", photo="", reporter="x", now=T0
    )
    before = store.counts()
    with pytest.raises(TransitionError):
        store.hazards.transition(hazard.id, HazardAction.VERIFY, actor="x", now=T0)
    with pytest.raises(NotFound):
        store.hazards.transition(hazard.id + 1000, HazardAction.DISPATCH, actor="x", now=T0, responsible="y")
    assert store.counts() == before
    assert store.hazards.get(hazard.id).state is HazardState.REPORTED


def test_alarms_count_repeats_record_steps_and_real_fires(store: HazardStore) -> None:
    alarm, created = store.alarms.raise_or_repeat(
        estate_id="E001", device_id="SD-1", building_id="B1", floor=3, location="301", raised_at=T0, now=T0
    )
    again, created_again = store.alarms.raise_or_repeat(
        estate_id="E001", device_id="SD-1", building_id="B1", floor=3, location="301", raised_at=T0, now=T0
    )
    assert created
    assert not created_again
    assert again.repeats == 1
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(
            insert(alarms).values(
                estate_id="E001", device_id="SD-1", building_id="", location="", raised_at=T0, received_at=T0,
                state="open", repeats=0, note="",
            )
        )  # fmt: skip
    store.alarms.transition(alarm.id, AlarmAction.ACKNOWLEDGE, actor="op", now=T0 + timedelta(seconds=40))
    closed, fire = store.alarms.transition(
        alarm.id,
        AlarmAction.CLOSE,
        actor="op",
        now=T0 + timedelta(seconds=200),
        outcome=AlarmOutcome.REAL_FIRE,
        confirm=True,
        fatal=True,
        high_impact=False,
    )
    assert closed.seconds_to(closed.acknowledged_at) == 40
    assert fire is not None
    assert store.fires.find(["E001"], since=T0 - timedelta(days=1))[0].fatal
    assert [t.action for t in store.alarms.history(alarm.id)] == ["raise", "acknowledge", "close"]


def two_estates() -> Registry:
    """E001 and E002, four smoke detectors and two hydrants each (none polled over Modbus), no cameras."""
    return generate_fleet(
        estates=2, smoke_per_estate=4, hydrants_per_estate=2, cameras_per_estate=0, modbus_share=0.0, seed=2
    )


def add_hotline_complaint(engine: RuleEngine, estate_id: str, *, received_at: datetime) -> None:
    """A complaint through the 12345 hotline; one in the rolling window is the estate's item Y14."""
    engine.incidents.add_complaint(
        estate_id=estate_id, received_at=received_at, channel="12345", description="", reporter="x"
    )


def test_an_engine_restarts_on_a_store_another_engine_filled(store_url: str) -> None:
    registry = two_estates()
    hydrant = next(d for d in registry.devices if d.kind.value == "hydrant" and d.estate_id == "E001")
    now = [T0]
    first = RuleEngine(registry, load_policy(), HazardStore(store_url), clock=lambda: now[0])
    assess(first)  # green to begin with (since issue 14 an estate is not_assessed until it is assessed)
    assert first.grader.grades["E001"].colour == "green"
    first.on_records(
        [(hydrant, Reading(device_id=hydrant.id, time=now[0], metrics={"pressure_mpa": 0.3}))], now[0]
    )
    for _ in range(7):
        now[0] += timedelta(minutes=1)
        reading = Reading(device_id=hydrant.id, time=now[0], metrics={"pressure_mpa": 0.02})
        first.on_records([(hydrant, reading)], now[0])
        first.tick(now[0])
    detector = next(d for d in registry.devices if d.kind.value == "smoke_detector" and d.estate_id == "E002")
    first.on_records(
        [(detector, DeviceEvent(device_id=detector.id, time=now[0], type=EventType.ALARM))], now[0]
    )
    add_hotline_complaint(first, "E002", received_at=now[0] - timedelta(days=3))
    assert first.grader.grades["E001"].colour == "yellow"
    first.store.close()

    second = RuleEngine(registry, load_policy(), HazardStore(store_url), clock=lambda: now[0])
    # The restarted engine reads the assessment back from the store itself.
    assert {e: g.assessed_at for e, g in second.grader.grades.items()} == {
        "E001": T0 - timedelta(hours=1),
        "E002": T0 - timedelta(hours=1),
    }
    assert second.grader.grades["E001"].colour == "yellow"
    assert second.grader.grades["E002"].yellow_items == ("Y14",)
    assert len(second.store.alarms.find(open_only=True)) == 1
    # One hazard for the hydrant's drop and the low pressure after it (there were two before issue 14).
    open_hazards = second.store.hazards.find(open_only=True, device_id=hydrant.id)
    assert [h.signal for h in open_hazards] == ["hydrant_low_pressure"]
    history = second.store.grades.history("E001")
    # Oldest first: the start, the assessment, the hydrant; the restart itself writes no row.
    assert [h.colour for h in reversed(history)] == ["not_assessed", "green", "yellow"]
    second.store.close()


def test_gateways_on_one_store_take_in_each_others_changes(store_url: str) -> None:
    """Two gateways, one store: a hazard filed through one gateway's API, its closing through the other's,
    and a complaint entered at the first reach the other's grades at its next store sync (``store_sync_s``),
    not only at a restart; and a grade change is recorded once, by the gateway that made it."""
    registry = two_estates()
    now = [T0]

    def gateway() -> RuleEngine:
        return RuleEngine(
            registry, load_policy(), HazardStore(store_url), clock=lambda: now[0], store_sync_s=30
        )

    a = gateway()
    assess(a)  # both estates green (not_assessed until assessed, since issue 14); b loads it at its start
    b = gateway()
    assert b.grader.grades["E001"].colour == "green"
    hazard = a.hazards.file(
        estate_id="E001", criterion="R2", location="3号楼", description="违规设置夹层住人", reporter="巡查员"
    )
    assert a.grader.grades["E001"].colour == "red"
    assert b.grader.grades["E001"].colour == "green", "b has not synced yet"
    now[0] += timedelta(seconds=10)
    b.tick(now[0])
    assert b.grader.grades["E001"].colour == "green", "not before store_sync_s"
    now[0] += timedelta(seconds=25)
    b.tick(now[0])
    assert b.grader.grades["E001"].colour == "red"
    assert str(hazard.id) in {h for r in b.grader.grades["E001"].reasons for h in r.hazard_ids}
    # Newest first; the oldest row is the start (not_assessed), then the assessment's green.
    assert [g.colour for g in b.store.grades.history("E001")] == ["red", "green", "not_assessed"], "once"

    b.hazards.step(hazard.id, HazardAction.CLOSE, actor="主管", reason="重复上报")
    assert b.grader.grades["E001"].colour == "green"
    add_hotline_complaint(b, "E002", received_at=now[0] - timedelta(days=2))
    assert b.grader.grades["E002"].yellow_items == ("Y14",)
    now[0] += timedelta(seconds=31)
    a.tick(now[0])
    assert a.grader.grades["E001"].colour == "green"
    assert a.index.open_records["E001"] == {}
    assert a.grader.grades["E002"].yellow_items == ("Y14",)
    assert [g.colour for g in a.store.grades.history("E001")] == ["green", "red", "green", "not_assessed"]
    # The complaint's row (Y14 alone leaves E002 green) over the assessment's and the start's.
    assert [(g.colour, list(g.yellow_items)) for g in a.store.grades.history("E002")] == [
        ("green", ["Y14"]),
        ("green", []),
        ("not_assessed", []),
    ]
    # Read again (the sync looks back a few minutes): nothing changes twice.
    now[0] += timedelta(seconds=31)
    a.tick(now[0])
    assert len(a.index.complaint_times["E002"]) == 1
    assert a.counters.store_syncs == 1
    a.store.close()
    b.store.close()


def test_store_sync_is_on_by_default_for_a_shared_store_only(store_url: str, tmp_path: Path) -> None:
    """SQLite is one gateway's own file: nothing to read back. PostgreSQL is there to be shared."""
    from gateway.app import build_engine
    from gateway.config import parse_config

    registry = generate_fleet(
        estates=1, smoke_per_estate=2, hydrants_per_estate=1, cameras_per_estate=0, modbus_share=0.0, seed=2
    )
    base = {"gateway": {"data_dir": str(tmp_path)}, "rules": {"store_url": store_url, "publish": False}}
    engine = build_engine(parse_config(base, base=tmp_path), registry, clock=lambda: T0)
    assert engine.sync.every_s == (0.0 if store_url.startswith("sqlite") else 30.0)
    engine.store.close()
    base["rules"]["store_sync_s"] = 5  # type: ignore[index]
    engine = build_engine(parse_config(base, base=tmp_path), registry, clock=lambda: T0)
    assert engine.sync.every_s == 5
    engine.store.close()
