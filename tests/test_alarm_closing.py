"""Closing an alarm (issue 16): a false alarm needs its cause, a real fire a confirmation and both answers.

The rule (``rules.lifecycle.check_alarm_close``), the store (nothing half-written when refused), the API (422
naming the field), the ``alarm`` point's cause tag, and the monthly report's false-alarm figures.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from test_rules_api import Env, env, registry  # noqa: F401  (fixtures)

from gateway.casework.points import alarm_point
from gateway.models import DeviceEvent, EventType
from gateway.reports.monthly.csv_table import render_csv
from gateway.reports.monthly.model import MonthlyReport
from gateway.reports.monthly.xlsx import render_xlsx
from gateway.store import HazardStore
from gateway.store.records import AlarmRecord
from rules.lifecycle import (
    AlarmAction,
    AlarmOutcome,
    AlarmState,
    ClosingError,
    FalseAlarmCause,
    TransitionError,
    check_alarm_close,
)

pytest_plugins = ["reports_fixtures"]

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
FIRE = {"confirm": True, "fatal": False, "high_impact": False}


# -- the rule --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "given", "says"),
    [
        (AlarmOutcome.FALSE_ALARM, {}, "needs 'cause', one of: cooking_smoke, steam, dust, insects"),
        (AlarmOutcome.FALSE_ALARM, {"cause": FalseAlarmCause.OTHER}, "'other' needs 'cause_text'"),
        (AlarmOutcome.FALSE_ALARM, {"cause": FalseAlarmCause.OTHER, "cause_text": "  "}, "'cause_text'"),
        (AlarmOutcome.FALSE_ALARM, {"cause": FalseAlarmCause.DUST, "fatal": False}, "real fires only"),
        (AlarmOutcome.REAL_FIRE, {"fatal": True, "high_impact": False}, "needs 'confirm': true"),
        (AlarmOutcome.REAL_FIRE, {"confirm": True}, "answer (true or false) for 'fatal' and 'high_impact'"),
        (
            AlarmOutcome.REAL_FIRE,
            {"confirm": True, "fatal": True},
            "answer (true or false) for 'high_impact'",
        ),
        (AlarmOutcome.REAL_FIRE, {**FIRE, "cause": FalseAlarmCause.STEAM}, "a real fire takes none"),
        (AlarmOutcome.FAULT, {"cause": FalseAlarmCause.DUST}, "can only be 'device_fault'"),
        (AlarmOutcome.TEST, {"cause": FalseAlarmCause.DUST}, "not 'test'"),
    ],
)
def test_what_closing_needs_is_refused_with_a_sentence_naming_the_field(
    outcome: AlarmOutcome, given: dict[str, Any], says: str
) -> None:
    with pytest.raises(ClosingError) as refused:
        check_alarm_close(outcome, **given)
    assert says in str(refused.value)
    assert isinstance(refused.value, TransitionError)


def test_what_a_permitted_close_records() -> None:
    false = check_alarm_close(AlarmOutcome.FALSE_ALARM, cause=FalseAlarmCause.OTHER, cause_text=" 装修粉尘 ")
    assert false.data() == {"cause": "other", "cause_text": "装修粉尘"}
    fire = check_alarm_close(AlarmOutcome.REAL_FIRE, confirm=True, fatal=False, high_impact=True)
    assert fire.data() == {"fatal": False, "high_impact": True}
    assert check_alarm_close(AlarmOutcome.FAULT).cause is FalseAlarmCause.DEVICE_FAULT
    assert check_alarm_close(AlarmOutcome.TEST).data() == {}


# -- the store -------------------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> HazardStore:
    return HazardStore(f"sqlite:///{tmp_path / 'h.sqlite'}")


def _acknowledged(store: HazardStore, device: str = "SD-1") -> AlarmRecord:
    alarm, _ = store.alarms.raise_or_repeat(
        estate_id="E001", device_id=device, building_id="B1", floor=3, location="301", raised_at=T0, now=T0
    )
    store.alarms.transition(alarm.id, AlarmAction.ACKNOWLEDGE, actor="op", now=T0 + timedelta(seconds=30))
    return alarm


def test_a_refused_close_writes_nothing(store: HazardStore) -> None:
    alarm = _acknowledged(store)
    with pytest.raises(ClosingError):
        store.alarms.transition(
            alarm.id, AlarmAction.CLOSE, actor="op", now=T0, outcome=AlarmOutcome.FALSE_ALARM
        )
    with pytest.raises(ClosingError):
        store.alarms.transition(
            alarm.id,
            AlarmAction.CLOSE,
            actor="op",
            now=T0,
            outcome=AlarmOutcome.REAL_FIRE,
            confirm=True,
            fatal=True,
        )
    with pytest.raises(ClosingError, match="'close' only"):
        store.alarms.transition(
            alarm.id, AlarmAction.DISPATCH, actor="op", now=T0, cause=FalseAlarmCause.DUST
        )
    after = store.alarms.get(alarm.id)
    assert (after.state, after.outcome, after.cause, after.closed_at) == (
        AlarmState.ACKNOWLEDGED,
        None,
        None,
        None,
    )
    assert [t.action for t in store.alarms.history(alarm.id)] == ["raise", "acknowledge"]
    assert store.fires.find(["E001"], since=T0 - timedelta(days=1)) == []


def test_a_false_alarm_keeps_its_cause_on_the_alarm_and_in_the_close(store: HazardStore) -> None:
    alarm = _acknowledged(store)
    closed, fire = store.alarms.transition(
        alarm.id,
        AlarmAction.CLOSE,
        actor="op",
        now=T0 + timedelta(seconds=90),
        outcome=AlarmOutcome.FALSE_ALARM,
        cause=FalseAlarmCause.OTHER,
        cause_text="楼道装修粉尘",
    )
    assert fire is None
    assert (closed.cause, closed.cause_text) == (FalseAlarmCause.OTHER, "楼道装修粉尘")
    assert store.alarms.get(alarm.id).cause is FalseAlarmCause.OTHER
    close = store.alarms.history(alarm.id)[-1]
    assert (close.action, close.data) == ("close", {"cause": "other", "cause_text": "楼道装修粉尘"})


def test_a_real_fire_records_both_answers_on_the_alarm_and_the_fire(store: HazardStore) -> None:
    alarm = _acknowledged(store)
    closed, fire = store.alarms.transition(
        alarm.id,
        AlarmAction.CLOSE,
        actor="op",
        now=T0 + timedelta(seconds=200),
        outcome=AlarmOutcome.REAL_FIRE,
        confirm=True,
        fatal=False,
        high_impact=True,
    )
    assert fire is not None
    assert (fire.fatal, fire.high_impact) == (False, True)
    assert (closed.fatal, closed.high_impact, closed.cause) == (False, True, None)
    assert store.alarms.history(alarm.id)[-1].data == {"fatal": False, "high_impact": True}


def test_a_fault_is_a_device_fault_and_a_test_needs_nothing(store: HazardStore) -> None:
    fault = _acknowledged(store, "SD-1")
    closed, _ = store.alarms.transition(
        fault.id, AlarmAction.CLOSE, actor="op", now=T0, outcome=AlarmOutcome.FAULT
    )
    assert closed.cause is FalseAlarmCause.DEVICE_FAULT
    test = _acknowledged(store, "SD-2")
    closed, fire = store.alarms.transition(
        test.id, AlarmAction.CLOSE, actor="op", now=T0, outcome=AlarmOutcome.TEST
    )
    assert (closed.outcome, closed.cause, fire) == (AlarmOutcome.TEST, None, None)


def test_the_alarm_point_of_a_false_alarm_is_tagged_with_its_cause(store: HazardStore) -> None:
    alarm = _acknowledged(store)
    point = alarm_point({"estate": "E001"}, alarm, T0)
    assert "cause" not in point.tags
    closed, _ = store.alarms.transition(
        alarm.id,
        AlarmAction.CLOSE,
        actor="op",
        now=T0,
        outcome=AlarmOutcome.FALSE_ALARM,
        cause=FalseAlarmCause.STEAM,
    )
    point = alarm_point({"estate": "E001"}, closed, T0)
    assert (point.tags["outcome"], point.tags["cause"]) == ("false_alarm", "steam")


# -- the API ---------------------------------------------------------------------------------------------


async def _open_acknowledged(env: Env) -> int:  # noqa: F811
    detector = next(
        d
        for d in env.registry.devices
        if d.kind.value == "smoke_detector" and not env.engine.store.alarms.find(device_id=d.id)
    )
    now = env.clock()
    env.engine.on_records(
        [(detector, DeviceEvent(device_id=detector.id, time=now, type=EventType.ALARM))], now
    )
    (alarm,) = env.engine.store.alarms.find(device_id=detector.id, open_only=True)
    r = await env.http.post(f"/api/alarms/{alarm.id}/transitions", json={"action": "acknowledge"})
    assert r.status_code == 200, r.text
    return alarm.id


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"outcome": "false_alarm"}, "needs 'cause', one of:"),
        ({"outcome": "false_alarm", "cause": "other"}, "'cause_text'"),
        ({"outcome": "real_fire"}, "'confirm': true"),
        ({"outcome": "real_fire", "confirm": True, "fatal": False}, "'high_impact'"),
        (
            {"outcome": "real_fire", "confirm": True, "fatal": True, "high_impact": True, "cause": "dust"},
            "none",
        ),
    ],
)
async def test_the_api_refuses_an_incomplete_close_with_422(
    env: Env,  # noqa: F811
    body: dict[str, Any],
    says: str,
) -> None:
    alarm_id = await _open_acknowledged(env)
    r = await env.http.post(f"/api/alarms/{alarm_id}/transitions", json={"action": "close", **body})
    assert r.status_code == 422, r.text
    assert says in r.json()["detail"]
    assert (await env.http.get(f"/api/alarms/{alarm_id}")).json()["state"] == "acknowledged"
    assert env.engine.store.fires.find(None, since=env.clock() - timedelta(days=1)) == []


async def test_the_api_refuses_a_cause_not_on_the_list(env: Env) -> None:  # noqa: F811
    alarm_id = await _open_acknowledged(env)
    r = await env.http.post(
        f"/api/alarms/{alarm_id}/transitions",
        json={"action": "close", "outcome": "false_alarm", "cause": "ghosts"},
    )
    assert r.status_code == 422
    assert "cooking_smoke" in r.text


async def test_the_api_closes_and_shows_the_cause_and_the_fire_answers(env: Env) -> None:  # noqa: F811
    false_id = await _open_acknowledged(env)
    r = await env.http.post(
        f"/api/alarms/{false_id}/transitions",
        json={"action": "close", "outcome": "false_alarm", "cause": "other", "cause_text": "装修粉尘"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["outcome"], body["cause"], body["cause_text"], body["fatal"]) == (
        "false_alarm",
        "other",
        "装修粉尘",
        None,
    )
    assert body["history"][-1]["data"] == {"cause": "other", "cause_text": "装修粉尘"}
    fire_id = await _open_acknowledged(env)
    r = await env.http.post(
        f"/api/alarms/{fire_id}/transitions",
        json={"action": "close", "outcome": "real_fire", **FIRE},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["fatal"], r.json()["high_impact"], r.json()["cause"]) == (False, False, None)
    fault_id = await _open_acknowledged(env)
    r = await env.http.post(
        f"/api/alarms/{fault_id}/transitions", json={"action": "close", "outcome": "fault"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["cause"] == "device_fault"
    listed = {a["id"]: a for a in (await env.http.get("/api/alarms")).json()}
    assert listed[false_id]["cause"] == "other"


# -- the monthly report ----------------------------------------------------------------------------------


def test_the_monthly_report_counts_false_alarms_per_cause_and_detector(
    november: MonthlyReport,
) -> None:
    r = november
    assert r.false_alarm_causes == {"cooking_smoke": 1, "other": 1}
    assert [(d.estate_id, d.false_alarms, d.by_cause) for d in r.false_alarms_by_detector] == [
        ("E001", 1, {"cooking_smoke": 1}),
        ("E003", 1, {"other": 1}),
    ]
    rows = list(csv.DictReader(io.StringIO(render_csv(r).decode("utf-8-sig"))))
    causes = {(x["key"], x["name"]): x["value"] for x in rows if x["section"] == "false_alarm_causes"}
    assert causes == {("cooking_smoke", "烹饪油烟"): "1", ("other", "其他"): "1"}
    detectors = [x for x in rows if x["section"] == "false_alarms_by_detector"]
    assert {x["metric"] for x in detectors} == {"false_alarms", "cause_cooking_smoke", "cause_other"}

    sheet = load_workbook(io.BytesIO(render_xlsx(r)))["接警响应 Alarms"]
    values = [row for row in sheet.iter_rows(values_only=True) if row and row[0] is not None]
    assert ("烹饪油烟", "cooking_smoke", 1) in [tuple(v[:3]) for v in values]
    detector = r.false_alarms_by_detector[0].device_id
    assert any(v[0] == detector and v[3] == 1 and v[4] == "烹饪油烟 1" for v in values)
