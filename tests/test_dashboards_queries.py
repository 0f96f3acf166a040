"""Every dashboard query runs against real data and computes what its panel's title says.

The data is six simulated hours through the real pipeline and rule engine (``dashboard_run``). Every
template-variable query and every panel query of every dashboard is run with its variables substituted the
way Grafana does it (``grafana_influxql``). A query that errors or returns no data fails the test with the
dashboard and panel title; all failures are listed at once. Spot checks per board compare the numbers with
the engine's own record of the run (its store: grade history, hazards, alarms, signal changes).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dashboard_run import DEVICE_MEASUREMENTS, SIM_HOURS, Filled, filled_database
from grafana_influxql import (
    GENERATED,
    bucket,
    has_data,
    in_bucket,
    interpolate,
    latest_per_id,
    open_board,
    panel_intervals,
    panel_rows,
    panel_value,
    repeated_times,
    tag_values,
)

from dashboards.boards.device_health import DEVICE_PROBLEMS
from dashboards.boards.legend import ACK_TARGET_S, ARRIVAL_TARGET_S, HANDLED_TARGET_S, PRESSURE_MIN
from dashboards.build import panel_queries, variable_queries
from gateway.models import DeviceKind
from gateway.store.records import SignalRecord
from rules.lifecycle import AlarmOutcome


@pytest.fixture(scope="module")
def filled(mosquitto: Any, influxdb: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    """Six simulated hours ending now, through the real pipeline and rule engine in a few seconds."""
    with filled_database(mosquitto, influxdb, tmp_path_factory.mktemp("gw")) as run:
        yield run


# -- every query runs against real data --------------------------------------------------------------------


@pytest.mark.services
def test_pipeline_filled_the_device_measurements(filled: Filled) -> None:
    stored = sum(filled.influx.count_points(filled.db, m) for m in DEVICE_MEASUREMENTS)
    assert stored == filled.published
    assert filled.influx.count_points(filled.db, "hydrant") > 100
    assert filled.influx.count_points(filled.db, "estate_grade") > 4 * SIM_HOURS * 12


@pytest.mark.services
@pytest.mark.parametrize("name", list(GENERATED))
def test_template_variable_queries_return_values(filled: Filled, name: str) -> None:
    data, _, variables = open_board(filled, name)
    assert variable_queries(data), "every dashboard filters by place"
    empty = [v.name for v in variables.values() if not v.options]
    assert not empty, f"{data['title']}: variables without values: {empty}"
    estates = {e.id for e in filled.registry.estates}
    assert set(variables["estate"].options) == estates
    assert set(variables["district"].options) == {e.district for e in filled.registry.estates}


@pytest.mark.services
@pytest.mark.parametrize("name", list(GENERATED))
def test_every_panel_query_returns_rows(filled: Filled, name: str) -> None:
    data, window, variables = open_board(filled, name)
    intervals = panel_intervals(data)
    failures = []
    queries = panel_queries(data)
    assert queries
    for q in queries:
        text = interpolate(q.query, variables, window, intervals[q.panel])
        try:
            result = filled.query(text)
        except Exception as exc:
            failures.append(f"{q.dashboard} / {q.panel} [{q.ref_id}]: error {exc}")
            continue
        if not has_data(result):
            failures.append(f"{q.dashboard} / {q.panel} [{q.ref_id}]: no rows\n    {text}")
        elif repeated := repeated_times(result):
            failures.append(f"{q.dashboard} / {q.panel} [{q.ref_id}]: repeated timestamps {repeated}")
    assert not failures, "\n".join(failures)


@pytest.mark.services
@pytest.mark.parametrize("name", list(GENERATED))
def test_panel_queries_with_one_value_per_variable_are_valid(filled: Filled, name: str) -> None:
    """One district, street, estate... each (Chinese tag values in regexes, single-value formatting):
    no query may error; rows are not required (the estate picked may have had no alarm)."""
    data, window, variables = open_board(filled, name)
    for variable in variables.values():
        variable.selected = variable.options[-1:]
    intervals = panel_intervals(data)
    errors = []
    for q in panel_queries(data):
        try:
            filled.query(interpolate(q.query, variables, window, intervals[q.panel]))
        except Exception as exc:
            errors.append(f"{q.dashboard} / {q.panel} [{q.ref_id}]: {exc}")
    assert not errors, "\n".join(errors)


@pytest.mark.services
def test_a_district_narrows_the_estates(filled: Filled) -> None:
    data, window, variables = open_board(filled, "city-overview")
    variables["district"].selected = ["中原区"]
    estate_query = dict(variable_queries(data))["estate"]
    narrowed = tag_values(filled.query(interpolate(estate_query, variables, window, "1m")))
    assert narrowed == sorted(e.id for e in filled.registry.estates if e.district == "中原区")


# -- what the engine did (its store is the record; docs/rules.md) --------------------------------------------


def _signal_changes(filled: Filled) -> list[SignalRecord]:
    """Every device signal change the engine made, oldest first (one ``device_signal`` point each)."""
    changes = [c for d in filled.registry.devices for c in reversed(filled.store.signals.history(d.id))]
    return sorted(changes, key=lambda c: c.at)  # stable: changes in the same instant keep their order


def _active_signals(filled: Filled, at: datetime | None = None) -> dict[tuple[str, str], SignalRecord]:
    """(device, signal) -> the change that made it active, for the signals active at ``at`` (default: the
    end of the run)."""
    latest: dict[tuple[str, str], SignalRecord] = {}
    for change in _signal_changes(filled):
        if at is None or change.at <= at:
            latest[(change.device_id, change.signal)] = change
    return {key: change for key, change in latest.items() if change.active}


def _colour_at(filled: Filled, estate: str, moment: datetime) -> str:
    """The estate's grade just before ``moment``, from the store's grade history (newest first)."""
    return next(g.colour for g in filled.store.grades.history(estate) if g.at < moment)


def _kinds(filled: Filled) -> dict[str, str]:
    return {d.id: d.kind.value for d in filled.registry.devices}


@pytest.mark.services
def test_the_scenario_did_what_it_was_written_for(filled: Filled) -> None:
    """The engine's record of the run has the story the spot checks below rely on (so that they check a
    panel against something worth checking, not against an empty store)."""
    grades = {e: g.colour for e, g in filled.engine.grader.grades.items()}
    assert grades == {
        "E001": "yellow",
        "E002": "red",
        "E003": "green",
        "E004": "unknown",
        "E005": "not_assessed",  # registered, reporting, never assessed: not green
    }
    assert "R6" in filled.engine.grader.grades["E002"].red_items, "three complaints within a year"
    history: dict[str, list[str]] = {}  # each estate's colours, oldest first, repeats merged
    for estate in grades:
        for change in reversed(filled.store.grades.history(estate)):
            if history.setdefault(estate, [])[-1:] != [change.colour]:
                history[estate].append(change.colour)
    # Not assessed until the office's assessment at the start; yellow later: fire lane, hydrant, fault...
    assert history["E001"][:2] == ["not_assessed", "green"], history
    assert history["E005"] == ["not_assessed"], history
    assert "yellow" in history["E003"], "tamper made E003 yellow for half an hour"
    assert history["E004"][-2:] == ["yellow", "unknown"], "one detector offline, then every device"
    red = next(g for g in reversed(filled.store.grades.history("E002")) if g.colour == "red")
    third = max(c.recorded_at for c in filled.store.complaints.find(["E002"]))
    assert red.at == third, "red when the third complaint within a year was recorded"
    states = Counter(h.state.value for h in filled.store.hazards.find())
    assert set(states) == {"reported", "dispatched", "rectifying", "rectified", "closed"}, states
    overdue = filled.store.hazards.find(overdue_at=filled.end)
    assert sorted(h.state.value for h in overdue) == ["dispatched", "rectifying"]
    assert all(h.escalations == 1 for h in overdue), "escalated once by the gateway when the deadline passed"
    alarms = filled.store.alarms.find()
    assert len(alarms) == 3
    assert {a.device_id: a.outcome for a in alarms} == {
        "SD-E002-0003": AlarmOutcome.FALSE_ALARM,
        "SD-E001-0004": AlarmOutcome.REAL_FIRE,
        "SD-E003-0002": None,
    }
    steps = {a.device_id: [a.seconds_to(a.acknowledged_at), a.seconds_to(a.closed_at)] for a in alarms}
    assert steps == {"SD-E002-0003": [30, 280], "SD-E001-0004": [95, 420], "SD-E003-0002": [40, None]}
    active = {s for _, s in _active_signals(filled)}
    assert {"offline", "low_battery", "device_fault", "fire_lane_occupied", "hydrant_low_pressure"} <= active
    raised = {c.signal for c in _signal_changes(filled) if c.active}
    assert {"tamper", "hydrant_high_pressure"} <= raised - active, "raised and resolved again"


# -- each board's numbers --------------------------------------------------------------------------------


@pytest.mark.services
def test_city_overview_numbers(filled: Filled) -> None:
    """The queries compute what their titles say, checked against the rule engine's own record."""
    board = "city-overview"
    grades = filled.engine.grader.grades  # the last grading, repeated at the end of the run
    for title, colour in (
        ("红色小区 Red estates", "red"),
        ("黄色小区 Yellow estates", "yellow"),
        ("绿色小区 Green estates", "green"),
        ("等级未知 Unknown grade", "unknown"),
        ("未评定小区 Not assessed", "not_assessed"),
    ):
        assert panel_value(filled, board, title) == sum(g.colour == colour for g in grades.values()), title
    assert panel_value(filled, board, "未关闭隐患 Open hazards") == len(
        filled.store.hazards.find(open_only=True)
    )
    assert panel_value(filled, board, "处置中报警 Active alarms") == len(
        filled.store.alarms.find(open_only=True)
    )

    # Estates per grade: in each 5-minute interval, every estate counted once with its last grade in it,
    # which (every change writes a point) is its grade at the end of the interval.
    per_grade = {ref: panel_rows(filled, board, "各等级小区数 Estates per grade", ref) for ref in "ABCDE"}
    for offset in (
        timedelta(hours=1, minutes=32),
        timedelta(hours=3, minutes=2),
        timedelta(hours=5, minutes=32),
    ):
        moment = filled.start + offset
        _, bucket_end = bucket(moment, 5)
        colours = Counter(_colour_at(filled, e, bucket_end) for e in grades)
        expected = [colours[c] for c in ("red", "yellow", "green", "unknown", "not_assessed")]
        assert [in_bucket(per_grade[r], moment, 5) for r in "ABCDE"] == expected, offset

    reasons = panel_rows(filled, board, "红黄小区及原因 Red and yellow estates, with reasons")
    assert {r["estate"]: (r["grade"], r["reasons"]) for r in reasons} == {
        e: (g.colour, "; ".join(str(r) for r in g.reasons)) for e, g in grades.items() if g.level >= 1
    }
    assert any("HY-E001-02" in r["reasons"] for r in reasons if r["estate"] == "E001")

    hazards = filled.store.hazards.find()
    by_criterion = {
        r["criterion"]: r["open"]
        for r in panel_rows(filled, board, "未关闭隐患(按条款) Open hazards by criterion")
    }
    assert by_criterion == {
        c: sum(h.is_open for h in hazards if h.criterion == c) for c in {h.criterion for h in hazards}
    }

    overdue = latest_per_id(panel_rows(filled, board, "逾期隐患 Overdue hazards"), "hazard_id")
    shown = {i for i, r in overdue.items() if r["state"] in ("reported", "dispatched", "rectifying")}
    assert shown == {str(h.id) for h in filled.store.hazards.find(overdue_at=filled.end)}
    handled = latest_per_id(panel_rows(filled, board, "处置中报警清单 Alarms being handled"), "alarm_id")
    assert {i for i, r in handled.items() if r["outcome"] == "open"} == {
        str(a.id) for a in filled.store.alarms.find(open_only=True)
    }

    # Beside the grades: the monitoring coverage (share of the devices that must report without a
    # monitoring fault), per estate and averaged; whether assessed; conditions without current evidence.
    covered = {
        r["estate"]: r
        for r in panel_rows(filled, board, "排查登记与监测覆盖 Assessment and monitoring coverage")
    }
    assert set(covered) == set(grades)
    for estate, g in grades.items():
        row = covered[estate]
        assert row["coverage"] == pytest.approx(g.coverage), estate
        assert row["monitoring_faults"] == g.monitoring_faults, estate
        assert row["assessed"] is (g.assessed_at is not None), estate
        assert row["conditions_due"] == sum(c.state in ("due", "missing") for c in g.conditions), estate
    assert covered["E005"]["conditions_due"] == 8
    assert any(g.monitoring_faults for g in grades.values()), "a low battery is a monitoring fault"
    mean = sum(g.coverage for g in grades.values() if g.coverage is not None) / len(grades)
    assert panel_value(filled, board, "监测覆盖 Monitoring coverage") == pytest.approx(mean)

    placed = panel_rows(filled, board, "小区分布 Estates on the map")
    assert {r["estate"]: (r["grade_level"], r["latitude"], r["longitude"]) for r in placed} == {
        e.id: (grades[e.id].level, e.latitude, e.longitude) for e in filled.registry.estates
    }


@pytest.mark.services
def test_device_health_and_hydrant_numbers(filled: Filled) -> None:
    board = "device-health"
    rules = filled.engine.fleet.rules.values()  # the devices' state at the end, repeated in estate_devices
    total = len(rules)
    offline = [r.device.id for r in rules if not r.online]
    healthy = sum(not r.active_signals() for r in rules)
    problem = sum(any(s.value != "offline" for s in r.active_signals()) for r in rules)
    assert panel_value(filled, board, "在线率 Online share") == pytest.approx((total - len(offline)) / total)
    assert panel_value(filled, board, "完好率 Healthy share") == pytest.approx(healthy / total)
    assert panel_value(filled, board, "离线设备 Offline devices") == len(offline)
    assert panel_value(filled, board, "异常设备 Devices with a problem") == problem

    # Online share per kind and interval: the smoke detectors offline throughout the interval.
    trend = [
        r
        for r in panel_rows(filled, board, "在线率趋势 Online share over time")
        if r["kind"] == "smoke_detector"
    ]
    smoke = [d.id for d in filled.registry.devices if d.kind is DeviceKind.SMOKE_DETECTOR]
    for offset in (timedelta(hours=1), timedelta(hours=4)):
        first, last = bucket(filled.start + offset, 5)
        down = [{d for d, s in _active_signals(filled, t) if s == "offline"} for t in (first, last)]
        assert down[0] == down[1], f"a detector went offline inside the interval at {offset}: pick another"
        expected = 1 - len(down[0] & set(smoke)) / len(smoke)
        assert in_bucket(trend, filled.start + offset, 5) == pytest.approx(expected), offset

    signals = _active_signals(filled)
    longest = panel_rows(filled, board, "离线最久 Devices offline longest")
    assert {r["device"]: r["since_ms"] for r in longest} == {
        d: pytest.approx(c.since.timestamp() * 1000, abs=1) for (d, s), c in signals.items() if s == "offline"
    }
    assert set(offline) == {r["device"] for r in longest}
    problems = panel_rows(filled, board, "故障、拆除、低电量 Faults, tamper, low battery")
    assert {(r["device"], r["signal"]) for r in problems} == {
        (d, s) for d, s in signals if re.fullmatch(DEVICE_PROBLEMS, s)
    }

    board = "hydrant-pressure"
    kinds = _kinds(filled)
    failing = {(d, s): c for (d, s), c in signals.items() if kinds[d] == "hydrant"}
    assert panel_value(filled, board, "故障消火栓 Hydrants failing now") == len({d for d, _ in failing})
    reporting = [
        r
        for r in rules
        if r.device.kind is DeviceKind.HYDRANT and r.last_seen > datetime.now(UTC) - timedelta(hours=1)
    ]
    assert panel_value(filled, board, "在报消火栓 Hydrants reporting") == len(reporting)
    assert panel_value(filled, board, "最低水压 Lowest pressure now") < PRESSURE_MIN  # HY-E001-02 at 0.03 MPa
    table = panel_rows(filled, board, "当前故障消火栓 Hydrants currently failing")
    assert {(r["device"], r["signal"]): r["value"] for r in table} == {
        key: pytest.approx(c.value) if c.value is not None else None for key, c in failing.items()
    }


@pytest.mark.services
def test_fire_lane_and_alarm_numbers(filled: Filled) -> None:
    board = "fire-lanes"
    minutes = {
        r["device"]: r["minutes"] for r in panel_rows(filled, board, "占用时长 Time occupied per camera")
    }
    assert set(minutes) <= {d.id for d in filled.registry.devices if d.kind.value == "camera"}
    assert 40 + 35 + 14 <= minutes["CAM-E001-01"] <= 40 + 35 + 16 + 30, minutes  # + a few short stops
    assert all(m <= SIM_HOURS * 60 + 1 for m in minutes.values())

    lane_signals = {"fire_lane_occupied", "evacuation_blocked", "ebike_in_lift"}
    raised = Counter(c.device_id for c in _signal_changes(filled) if c.active and c.signal in lane_signals)
    assert raised["CAM-E001-01"] == 3, "40 min, 35 min, then the third occupation of 5 min or more in 24 h"
    rows = panel_rows(filled, board, "屡次占用排行 Repeat offenders", "C")
    assert {r["device"]: r["raised"] for r in rows} == raised
    assert panel_value(filled, board, "屡次占用 Repeat offenders") == sum(n >= 2 for n in raised.values())
    now = [key for key in _active_signals(filled) if key[1] in lane_signals]
    assert panel_value(filled, board, "超时占用(现在) Past hold time now") == len(now)
    assert panel_value(filled, board, "正在占用 Occupied now") >= 1  # CAM-E001-01 since +5h45m

    board = "alarms"
    alarms = filled.store.alarms.find()
    closed = [a for a in alarms if a.closed_at is not None]
    assert panel_value(filled, board, "烟感报警 Smoke alarms") == sum(1 + a.repeats for a in alarms)
    outcomes = Counter(a.outcome.value for a in closed if a.outcome)
    assert panel_value(filled, board, "真实火警 Real fires") == outcomes["real_fire"]
    assert panel_value(filled, board, "误报 False alarms") == outcomes["false_alarm"]
    steps = {
        "平均确认用时 Mean time to acknowledge": lambda a: a.acknowledged_at,
        "平均到场用时 Mean time to arrive": lambda a: a.on_scene_at,
        "平均处置用时 Mean time to handle": lambda a: a.closed_at,
    }
    for title, reached in steps.items():
        seconds = [a.seconds_to(reached(a)) for a in closed]
        assert panel_value(filled, board, title) == pytest.approx(sum(seconds) / len(seconds)), title
    targets = (ACK_TARGET_S, ARRIVAL_TARGET_S, HANDLED_TARGET_S)
    for ref, reached, target in zip("ABC", steps.values(), targets, strict=True):
        within = [a.seconds_to(reached(a)) <= target for a in closed]
        assert panel_value(filled, board, "达标率 Within target", ref) == pytest.approx(
            sum(within) / len(within)
        )
