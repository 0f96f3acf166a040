"""Grafana dashboards as code (issue 4): the queries, the generated JSON and ``firegw dashboards push``.

1. **Every query runs.** A simulator scenario (four estates, six hours of simulated time ending now, with
   a hydrant losing pressure, another over pressure, smoke alarms, a fault, tamper, low battery, a detector
   and then a whole estate going silent, and repeated fire-lane occupations) is published to a real
   Mosquitto and runs through the real gateway, rule layer included, into a real InfluxDB 1.6 in a few
   seconds: the gateway's clock follows the scenario in lock-step (``_Timeline``), so each message reaches
   the rules at its own simulated time and the run is the same on any machine. What people do (``_people``)
   goes through the rule engine's own methods at its simulated time: complaints (an estate turns red),
   hazards worked through the closed loop (two pass their deadlines and are escalated), three alarms
   handled step by step. Then every template-variable query and every panel query of every dashboard is
   run with its variables substituted the way Grafana does it (``$timeFilter`` as an epoch-ms range,
   ``$__interval`` as the panel's minimum or 1m, "All" as the variable's allValue or the regex of all its
   options). A query that errors or returns no data fails the test with the dashboard and panel title; all
   failures are listed at once. Spot checks compare the numbers with the engine's own record of the run
   (its store: grade history, hazards, alarms, signal changes).
2. **The JSON is right.** The committed ``dashboards/json`` equals what the code generates now, survives a
   round trip through grafana-foundation-sdk's Grafana 11.3 models (the version docker-compose pins), and
   every datasource reference resolves to the uid the provisioning file declares.
3. **Push talks to Grafana correctly.** Grafana itself cannot be installed here (no package in the
   registries this machine reaches, and no downloads), so ``firegw dashboards push`` is run against a
   local HTTP server that keeps folders, datasources and dashboards the way Grafana's HTTP API does and
   records every request. The tests check the exact calls, their bodies and idempotence: a second run
   makes GET requests only and reports everything unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import heapq
import importlib.metadata
import itertools
import json
import re
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.boards import (
    ACK_TARGET_S,
    ARRIVAL_TARGET_S,
    DEVICE_PROBLEMS,
    HANDLED_TARGET_S,
    PRESSURE_MIN,
)
from dashboards.build import (
    GRAFANA_VERSION,
    JSON_DIR,
    generate_all,
    panel_queries,
    problems,
    provisioned_datasource,
    render,
    stale,
    variable_queries,
)
from gateway.app import Gateway
from gateway.cli import main as firegw
from gateway.config import parse_config
from gateway.models import DeviceKind
from gateway.registry import Registry
from gateway.rules_engine import RuleEngine
from gateway.sinks.buffered import BufferedSink
from gateway.store import HazardStore, SignalRecord
from rules.lifecycle import AlarmAction, AlarmOutcome, HazardAction
from simulators.clock import SimClock
from simulators.publisher import MqttPublisher
from simulators.scenario import ScenarioRunner, ScenarioStats, parse_scenario

ROOT = Path(__file__).resolve().parent.parent
DEVICE_MEASUREMENTS = ("smoke_detector", "hydrant", "camera", "device_event")
SIM_HOURS = 6

SCENARIO = """
name = "dashboards"
seed = 2026
start = "{start}"
speed = "max"
duration = "{hours}h"

[fleet]
estates = 4
smoke_per_estate = 6
hydrants_per_estate = 3
cameras_per_estate = 3     # -01 gate fire lane, -02 building fire lane, -03 lift lobby
modbus_share = 0.0

[intervals]
smoke_heartbeat = "30m"
hydrant_report = "5m"
camera_event = "40m"       # harmless short stops
stagger = "5m"

[[incidents]]
at = "+30m"
device = "SD-E004-0002"
action = "offline"
note = "detector goes silent for good"

[[incidents]]
at = "+1h"
device = "CAM-E001-01"
action = "occupy"
type = "fire_lane_occupied"
object = "vehicle"
duration = "40m"

[[incidents]]
at = "+1h"
device = "SD-E002-0002"
action = "low_battery"
value = 12

[[incidents]]
at = "+2h"
device = "HY-E001-02"
action = "pressure"
value = 0.03
note = "the least favourable point runs dry"

[[incidents]]
at = "+2h30m"
device = "SD-E001-0005"
action = "fault"
code = "E03"

[[incidents]]
at = "+3h"
device = "SD-E002-0003"
action = "alarm"
smoke = 0.4
duration = "4m"

[[incidents]]
at = "+3h"
device = "CAM-E001-01"
action = "occupy"
type = "fire_lane_occupied"
object = "vehicle"
duration = "35m"

[[incidents]]
at = "+3h10m"
device = "SD-E003-0003"
action = "tamper"
duration = "30m"

[[incidents]]
at = "+4h"
device = "HY-E002-03"
action = "pressure"
value = 0.92
duration = "45m"

[[incidents]]
at = "+4h"
device = "SD-E001-0004"
action = "alarm"
duration = "6m"

[[incidents]]
at = "+3h30m"
devices = ["SD-E004-*", "HY-E004-*"]
action = "offline"
note = "the whole estate goes silent (its cameras send no heartbeats anyway)"

[[incidents]]
at = "+4h30m"
device = "CAM-E002-03"
action = "occupy"
type = "ebike_in_lift"
object = "ebike"
duration = "3m"

[[incidents]]
at = "+5h40m"
device = "SD-E003-0002"
action = "alarm"
duration = "2m"

[[incidents]]
at = "+5h45m"
device = "CAM-E001-01"
action = "occupy"
type = "fire_lane_occupied"
object = "debris"
duration = "1h"           # still occupied when the scenario ends
"""


@dataclass(frozen=True)
class Filled:
    """An InfluxDB database with six hours of scenario data and the rule engine's points, ending about now,
    and the engine that wrote them (its store is the record the spot checks compare the panels with)."""

    influx: Any
    db: str
    registry: Registry
    start: datetime
    end: datetime  # the time of the last rule-layer points (the gateway's clock when the run ended)
    published: int
    engine: RuleEngine

    @property
    def store(self) -> HazardStore:
        return self.engine.store

    def query(self, influxql: str) -> dict[str, Any]:
        result: dict[str, Any] = self.influx.query(influxql, self.db, post=True)
        return result


# -- the fixture: scenario -> Mosquitto -> gateway with the rule layer -> InfluxDB --------------------------

#: The gateway's timers run on a grid of this many simulated seconds (plus whenever points wake its loop).
TICK = timedelta(seconds=15)
OPERATOR = "消防大队 值班员"


class _Timeline:
    """The gateway's clock, moved through the scenario in lock-step with the simulators.

    The scenario runs on a virtual clock (as fast as the broker takes it). After each of its steps the
    runner's progress hook (``step``) moves this clock to the step's time, on the way ticking the rule
    engine every ``TICK`` and doing what people do at their times (``at``), then waits until the gateway
    has taken in every message published so far. So every message reaches the rules at its own time, hold
    times and deadlines play out exactly, and the run is the same on a fast machine and a loaded one.
    """

    def __init__(self, start: datetime) -> None:
        self.start = start
        self._now = start
        self._next_tick = start + TICK
        self._todo: list[tuple[datetime, int, Callable[[], object]]] = []
        self._order = itertools.count()  # actions due at the same time run in the order they were planned
        self.engine: RuleEngine | None = None

    def now(self) -> datetime:
        return self._now

    def at(self, offset: timedelta, action: Callable[[], object]) -> None:
        heapq.heappush(self._todo, (self.start + offset, next(self._order), action))

    def advance(self, to: datetime) -> None:
        assert self.engine is not None
        while True:
            due = self._todo[0][0] if self._todo else None
            if due is not None and due <= min(to, self._next_tick):
                self._now = max(self._now, due)
                heapq.heappop(self._todo)[2]()
            elif self._next_tick <= to:
                self._now = self._next_tick
                self.engine.tick(self._now)
                self._next_tick += TICK
            else:
                break
        self._now = max(self._now, to)


def _registry_for_six_hours(registry: Registry) -> Registry:
    """Per-device threshold overrides (the registry's ``thresholds``) where a default cannot play out in six
    simulated hours: E004's detectors are offline after 1 h + 30 min of silence instead of 24 h + 2 h, and
    SD-E002-0002's low battery becomes a hazard after 1 h instead of 3 days."""
    overrides = {"SD-E002-0002": {"low_battery_hold_s": 3600.0}}
    for device in registry.devices:
        if device.estate_id == "E004" and device.kind is DeviceKind.SMOKE_DETECTOR:
            overrides[device.id] = {"report_window_s": 3600.0, "offline_grace_s": 1800.0}
    devices = tuple(
        d.model_copy(update={"thresholds": {**d.thresholds, **overrides[d.id]}}) if d.id in overrides else d
        for d in registry.devices
    )
    return Registry(estates=registry.estates, buildings=registry.buildings, devices=devices)


def _people(timeline: _Timeline, engine: RuleEngine) -> None:
    """What people do during the scenario, through the engine's own methods (the HTTP API calls the same):
    complaints, hazards filed and worked through the closed loop, three alarms handled step by step."""
    h, m = timedelta(hours=1), timedelta(minutes=1)
    start = timeline.start
    filed: dict[str, int] = {}

    def file(name: str, estate: str, criterion: str, location: str, what: str) -> Callable[[], object]:
        def do() -> None:
            hazard = engine.file_hazard(
                estate_id=estate,
                criterion=criterion,
                location=location,
                description=what,
                reporter="网格员 张",
            )
            filed[name] = hazard.id

        return do

    def step(name: str, action: HazardAction, **kwargs: Any) -> Callable[[], object]:
        return lambda: engine.step_hazard(filed[name], action, actor=OPERATOR, **kwargs)

    def complaint(estate: str, days_ago: int, what: str) -> Callable[[], object]:
        return lambda: engine.add_complaint(
            estate_id=estate,
            received_at=timeline.now() - timedelta(days=days_ago),
            channel="12345",
            description=what,
            reporter="城南街道办",
        )

    def alarm(device: str, action: AlarmAction, outcome: AlarmOutcome | None = None) -> Callable[[], object]:
        def do() -> None:
            (raised,) = engine.store.alarms(device_id=device, open_only=True)
            engine.step_alarm(raised.id, action, actor=OPERATOR, outcome=outcome)

        return do

    dispatch, start_work, rectified = HazardAction.DISPATCH, HazardAction.START, HazardAction.RECTIFIED
    plan: list[tuple[timedelta, Callable[[], object]]] = [
        # E002: two complaints of the past year entered late (Y14), then a new one: three within 365 days
        # is R6, a red item.
        (15 * m, complaint("E002", 200, "楼道堆放杂物")),
        (15 * m, complaint("E002", 40, "电动车在楼道充电")),
        (h + 30 * m, complaint("E002", 0, "消防通道堵塞")),
        # Overdue while being rectified: the deadline given at "start" passes at +2h, and is escalated.
        (20 * m, file("wiring", "E003", "Y9", "2号楼楼道", "楼道内飞线充电")),
        (30 * m, step("wiring", dispatch, responsible="物业公司")),
        (40 * m, step("wiring", start_work, deadline=start + 2 * h)),
        # Overdue while dispatched (a deadline given with the dispatch, passing at +3h).
        (25 * m, file("door", "E001", "Y11", "3号楼", "常闭式防火门长期开启")),
        (35 * m, step("door", dispatch, responsible="物业公司", deadline=start + 3 * h)),
        # The whole closed loop: reported, dispatched, rectifying (the policy's 30 days), rectified, closed.
        (45 * m, file("exit", "E002", "Y7", "1号楼安全出口", "安全出口堆放杂物")),
        (55 * m, step("exit", dispatch, responsible="物业公司")),
        (h + 5 * m, step("exit", start_work)),
        (3 * h, step("exit", rectified, evidence="photo/after.jpg")),
        (3 * h + 30 * m, step("exit", HazardAction.VERIFY)),
        # Filed in error and closed by a supervisor; rectified and waiting for the inspector; just reported.
        (h, file("duplicate", "E001", "Y2", "5号消火栓", "消火栓被遮挡")),
        (h + 20 * m, step("duplicate", HazardAction.CLOSE, reason="重复上报 (duplicate)")),
        (4 * h, file("rentals", "E003", "Y3", "4号楼 3单元", "群租房")),
        (4 * h + 10 * m, step("rentals", start_work)),
        (5 * h, step("rentals", rectified, evidence="photo/walls-removed.jpg")),
        (5 * h + 20 * m, file("management", "E004", "Y13", "物业办公室", "无明确的消防管理机构")),
    ]
    # Alarms (seconds after the detector's alarm): within the 1/3/5-minute targets; late at every step;
    # acknowledged and still open at the end.
    ack, to_scene, arrived, close = AlarmAction
    for device, raised, steps, outcome in (
        ("SD-E002-0003", 3 * h, ((30, ack), (50, to_scene), (150, arrived), (280, close)), "false_alarm"),
        ("SD-E001-0004", 4 * h, ((95, ack), (120, to_scene), (250, arrived), (420, close)), "real_fire"),
        ("SD-E003-0002", 5 * h + 40 * m, ((40, ack),), None),
    ):
        for seconds, action in steps:
            closing = AlarmOutcome(outcome) if action is close and outcome else None
            plan.append((raised + timedelta(seconds=seconds), alarm(device, action, closing)))
    for offset, action in plan:
        timeline.at(offset, action)


RULE_MEASUREMENTS = ("estate_grade", "hazard", "alarm", "device_signal", "estate_devices")


async def _run_scenario(
    mosquitto: Any, influx: Any, db: str, tmp: Path, scenario_text: str
) -> tuple[Registry, int, datetime, RuleEngine]:
    """Run the scenario through the real gateway with the rule layer on, in lock-step on the scenario's
    clock; returns (registry, messages published, end, engine) once every point is in InfluxDB."""
    scenario = parse_scenario(scenario_text, source="<dashboards scenario>")
    registry = _registry_for_six_hours(scenario.registry())
    config = parse_config(
        {
            "gateway": {"id": "dashboards-test", "data_dir": str(tmp / "data"), "stats_interval_s": 3600},
            "mqtt": {
                "host": mosquitto.host,
                "port": mosquitto.port,
                "client_id": f"dash-{uuid.uuid4().hex[:6]}",
            },
            "storage": {"kind": "influx_v1", "url": influx.url, "database": db},
            "buffer": {"flush_interval_s": 0.1, "backoff_max_s": 1.0},
            "modbus": {"enabled": False},
            # Grades and device counts repeat every simulated minute: the gateway's own loop also ticks
            # whenever it writes points, at message times between the grid ticks, so the repeat drifts by
            # up to a TICK each time; at one a minute every 5-minute interval still holds several repeats
            # of every estate. Grades are not published to MQTT: the broker is shared with other tests,
            # which read retained grades.
            "rules": {"grade_repeat_s": 60, "publish": False},
            "api": {"enabled": False},
        },
        base=tmp,
    )
    timeline = _Timeline(scenario.start)
    gateway = Gateway(config, registry, clock=timeline.now)
    engine = timeline.engine = gateway.engine
    assert engine is not None, "the rule layer is on by default"
    _people(timeline, engine)
    task = asyncio.create_task(gateway.run())
    stopped = False
    try:
        await asyncio.wait_for(gateway.ready.wait(), 15)
        sent = 0

        async with MqttPublisher(
            mosquitto.host, mosquitto.port, client_id=f"sim-{uuid.uuid4().hex[:6]}", qos=1
        ) as publisher:

            async def publish(topic: str, payload: bytes) -> None:
                nonlocal sent
                sent += 1
                await publisher.publish(topic, payload)

            async def step(stats: ScenarioStats) -> None:
                """After each step of the scenario: the gateway's clock to its time, then its messages in."""
                assert stats.sim_now is not None
                timeline.advance(stats.sim_now)
                await asyncio.sleep(0)  # the step's publishes start
                deadline = time.monotonic() + 10
                while gateway.mqtt.stats.messages < sent:
                    assert time.monotonic() < deadline, (
                        f"the gateway took {gateway.mqtt.stats.messages}/{sent}"
                    )
                    await asyncio.sleep(0.0005)

            runner = ScenarioRunner(
                scenario, publish, None, SimClock(scenario.start, 0), progress=step, progress_every_s=0
            )
            stats = await runner.run()
        assert stats.publish_errors == 0, stats.summary()
        assert stats.incidents_failed == 0, stats.summary()
        assert stats.messages == sent
        end = timeline.now()
        assert end == scenario.start + timedelta(hours=SIM_HOURS)
        assert end <= datetime.now(UTC)

        def stored() -> int:
            return sum(influx.count_points(db, m) for m in DEVICE_MEASUREMENTS)

        # Every record is through the rules: repeat every grade and device count once more at the end (what
        # "now" panels read), let the engine hand its points to the sink and the sink write everything,
        # stop the gateway (which flushes what is left), and wait until the counts stop moving.
        engine.regrade_all(end, repeat=True)
        sink = gateway.sink
        assert isinstance(sink, BufferedSink)
        deadline = time.monotonic() + 30
        while engine.points or sink.buffered_points or stored() < stats.messages:
            assert time.monotonic() < deadline, f"points still on their way: {sink.counters()}"
            await asyncio.sleep(0.05)
        assert sink.counters()["write_errors"] == 0, sink.counters()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        stopped = True

        def counts() -> list[int]:
            return [influx.count_points(db, m) for m in (*DEVICE_MEASUREMENTS, *RULE_MEASUREMENTS)]

        before, deadline = counts(), time.monotonic() + 10
        while True:
            await asyncio.sleep(0.2)
            if (now := counts()) == before and 0 not in now[len(DEVICE_MEASUREMENTS) :]:
                break
            assert time.monotonic() < deadline, f"point counts still moving: {now}"
            before = now
        assert stored() == stats.messages
        return registry, stats.messages, end, engine
    finally:
        if not stopped:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture(scope="module")
def filled(mosquitto: Any, influxdb: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    """Six simulated hours ending now, through the real pipeline and rule engine in a few seconds."""
    influxdb.ensure_running()
    db = f"dashboards_{uuid.uuid4().hex[:8]}"
    influxdb.create_database(db)
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(hours=SIM_HOURS)
    text = SCENARIO.format(start=start.isoformat(), hours=SIM_HOURS)
    registry, published, end, engine = asyncio.run(
        _run_scenario(mosquitto, influxdb, db, tmp_path_factory.mktemp("gw"), text)
    )
    try:
        yield Filled(influxdb, db, registry, start, end, published, engine)
    finally:
        engine.store.close()
        if influxdb.running:
            influxdb.drop_database(db)


# -- Grafana's variable interpolation for InfluxQL ----------------------------------------------------------


def _escape_regex(value: str) -> str:
    """What Grafana's InfluxDB datasource does to a multi-value variable's values (escapeRegex)."""
    return re.sub(r"[\\^$*+?.()|\[\]{}/]", lambda m: "\\" + m.group(0), value)


@dataclass
class Variable:
    name: str
    options: list[str]
    all_value: str | None
    selected: list[str] | None = None  # None: "All"

    def value(self) -> str:
        if self.selected is None:
            if self.all_value is not None:
                return self.all_value
            chosen = self.options
        else:
            chosen = self.selected
        escaped = [_escape_regex(v) for v in chosen]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def _interpolate(
    query: str, variables: dict[str, Variable], window: tuple[datetime, datetime], interval: str
) -> str:
    start, end = (int(t.timestamp() * 1000) for t in window)
    text = query.replace("$timeFilter", f"time >= {start}ms and time <= {end}ms")
    text = text.replace("$__interval", interval)

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in variables, f"query uses ${name}, which the dashboard does not define: {query}"
        return variables[name].value()

    return re.sub(r"\$(\w+)", sub, text)


def _has_data(result: dict[str, Any]) -> bool:
    """At least one value besides the time column that is neither empty nor zero."""
    for statement in result.get("results", []):
        for series in statement.get("series", []):
            for row in series.get("values", []):
                if any(v not in (None, 0, "") for v in row[1:]):
                    return True
    return False


def _repeated_times(result: dict[str, Any]) -> list[Any]:
    """Timestamps that occur twice in one series: InfluxDB 1.x's answer to a subquery that fills per tag
    the outer query does not group by (the counts next to them are wrong too)."""
    out = []
    for statement in result.get("results", []):
        for series in statement.get("series", []):
            counts = Counter(row[0] for row in series.get("values", []))
            out += sorted(t for t, n in counts.items() if n > 1)[:3]
    return out


def _tag_values(result: dict[str, Any]) -> list[str]:
    return sorted(
        {
            row[1]
            for st in result.get("results", [])
            for s in st.get("series", [])
            for row in s.get("values", [])
        }
    )


def _resolve_variables(
    filled: Filled, data: dict[str, Any], window: tuple[datetime, datetime]
) -> dict[str, Variable]:
    """Run the variable queries in dashboard order (each may use the earlier ones, set to All)."""
    variables: dict[str, Variable] = {}
    for spec in data["templating"]["list"]:
        name = spec["name"]
        if spec["type"] == "custom":
            options = [o["value"] for o in spec["options"] if o["value"] != "$__all"]
        else:
            query = _interpolate(spec["query"], variables, window, "1m")
            options = _tag_values(filled.query(query))
        variables[name] = Variable(name, options, spec.get("allValue"))
    return variables


def _window(filled: Filled) -> tuple[datetime, datetime]:
    return filled.start - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1)


def _panel_intervals(data: dict[str, Any]) -> dict[str, str]:
    return {p["title"]: p.get("interval", "1m") for p in data["panels"]}


BOARDS = {board.name: board for board in generate_all()}


# -- 1. every query runs against real data ---------------------------------------------------------------


@pytest.mark.services
def test_pipeline_filled_the_device_measurements(filled: Filled) -> None:
    stored = sum(filled.influx.count_points(filled.db, m) for m in DEVICE_MEASUREMENTS)
    assert stored == filled.published
    assert filled.influx.count_points(filled.db, "hydrant") > 100
    assert filled.influx.count_points(filled.db, "estate_grade") > 4 * SIM_HOURS * 12


@pytest.mark.services
@pytest.mark.parametrize("name", list(BOARDS))
def test_template_variable_queries_return_values(filled: Filled, name: str) -> None:
    data = BOARDS[name].data
    window = _window(filled)
    variables = _resolve_variables(filled, data, window)
    assert variable_queries(data), "every dashboard filters by place"
    empty = [v.name for v in variables.values() if not v.options]
    assert not empty, f"{data['title']}: variables without values: {empty}"
    estates = {e.id for e in filled.registry.estates}
    assert set(variables["estate"].options) == estates
    assert set(variables["district"].options) == {e.district for e in filled.registry.estates}


@pytest.mark.services
@pytest.mark.parametrize("name", list(BOARDS))
def test_every_panel_query_returns_rows(filled: Filled, name: str) -> None:
    data = BOARDS[name].data
    window = _window(filled)
    variables = _resolve_variables(filled, data, window)
    intervals = _panel_intervals(data)
    failures = []
    queries = panel_queries(data)
    assert queries
    for q in queries:
        text = _interpolate(q.query, variables, window, intervals[q.panel])
        try:
            result = filled.query(text)
        except Exception as exc:
            failures.append(f"{q.dashboard} / {q.panel} [{q.ref_id}]: error {exc}")
            continue
        if not _has_data(result):
            failures.append(f"{q.dashboard} / {q.panel} [{q.ref_id}]: no rows\n    {text}")
        elif repeated := _repeated_times(result):
            failures.append(f"{q.dashboard} / {q.panel} [{q.ref_id}]: repeated timestamps {repeated}")
    assert not failures, "\n".join(failures)


@pytest.mark.services
@pytest.mark.parametrize("name", list(BOARDS))
def test_panel_queries_with_one_value_per_variable_are_valid(filled: Filled, name: str) -> None:
    """One district, street, estate... each (Chinese tag values in regexes, single-value formatting):
    no query may error; rows are not required (the estate picked may have had no alarm)."""
    data = BOARDS[name].data
    window = _window(filled)
    variables = _resolve_variables(filled, data, window)
    for variable in variables.values():
        variable.selected = variable.options[-1:]
    intervals = _panel_intervals(data)
    errors = []
    for q in panel_queries(data):
        try:
            filled.query(_interpolate(q.query, variables, window, intervals[q.panel]))
        except Exception as exc:
            errors.append(f"{q.dashboard} / {q.panel} [{q.ref_id}]: {exc}")
    assert not errors, "\n".join(errors)


@pytest.mark.services
def test_a_district_narrows_the_estates(filled: Filled) -> None:
    data = BOARDS["city-overview"].data
    window = _window(filled)
    variables = _resolve_variables(filled, data, window)
    variables["district"].selected = ["城南区"]
    estate_query = dict(variable_queries(data))["estate"]
    narrowed = _tag_values(filled.query(_interpolate(estate_query, variables, window, "1m")))
    assert narrowed == sorted(e.id for e in filled.registry.estates if e.district == "城南区")


def _rows(filled: Filled, board: str, title: str, ref_id: str = "A") -> list[dict[str, Any]]:
    """The rows one panel query returns (tags of each series merged in), as Grafana would ask for them."""
    data = BOARDS[board].data
    window = _window(filled)
    variables = _resolve_variables(filled, data, window)
    (query,) = [q for q in panel_queries(data) if q.panel == title and q.ref_id == ref_id]
    result = filled.query(_interpolate(query.query, variables, window, _panel_intervals(data)[title]))
    return [
        {**series.get("tags", {}), **dict(zip(series["columns"], row, strict=True))}
        for statement in result["results"]
        for series in statement.get("series", [])
        for row in series["values"]
    ]


def _value(filled: Filled, board: str, title: str, ref_id: str = "A") -> Any:
    (row,) = _rows(filled, board, title, ref_id)
    return next(v for k, v in row.items() if k != "time")


def _bucket(moment: datetime, minutes: int) -> tuple[datetime, datetime]:
    """The ``GROUP BY time(Nm)`` interval that contains ``moment`` (InfluxDB aligns them to the epoch)."""
    width = minutes * 60
    first = datetime.fromtimestamp(int(moment.timestamp()) // width * width, UTC)
    return first, first + timedelta(minutes=minutes)


def _in_bucket(rows: list[dict[str, Any]], moment: datetime, minutes: int) -> Any:
    """The value (last column) of the interval that contains ``moment``; 0 when the query has no row for
    it (``fill(none)``: no estate of that grade in the interval)."""
    ns = int(_bucket(moment, minutes)[0].timestamp()) * 1_000_000_000
    found = [list(r.values())[-1] for r in rows if r["time"] == ns]
    assert len(found) <= 1, found
    return found[0] if found else 0


# -- what the engine did (its store is the record; docs/rules.md) --------------------------------------------


def _signal_changes(filled: Filled) -> list[SignalRecord]:
    """Every device signal change the engine made, oldest first (one ``device_signal`` point each)."""
    changes = [c for d in filled.registry.devices for c in reversed(filled.store.signal_history(d.id))]
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
    return next(g.colour for g in filled.store.grade_history(estate) if g.at < moment)


def _latest_per_id(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """What Grafana's ``sortBy`` Time + ``groupBy`` id transformations make of the rows: the latest per id."""
    return {r[key]: r for r in sorted(rows, key=lambda r: r["time"])}


def _kinds(filled: Filled) -> dict[str, str]:
    return {d.id: d.kind.value for d in filled.registry.devices}


@pytest.mark.services
def test_the_scenario_did_what_it_was_written_for(filled: Filled) -> None:
    """The engine's record of the run has the story the spot checks below rely on (so that they check a
    panel against something worth checking, not against an empty store)."""
    grades = {e: g.colour for e, g in filled.engine.grades.items()}
    assert grades == {"E001": "yellow", "E002": "red", "E003": "green", "E004": "unknown"}
    assert "R6" in filled.engine.grades["E002"].red_items, "three complaints within a year"
    history: dict[str, list[str]] = {}  # each estate's colours, oldest first, repeats merged
    for estate in grades:
        for change in reversed(filled.store.grade_history(estate)):
            if history.setdefault(estate, [])[-1:] != [change.colour]:
                history[estate].append(change.colour)
    assert history["E001"][0] == "green", history  # yellow later: fire lane, hydrant, fault, hazards
    assert "yellow" in history["E003"], "tamper made E003 yellow for half an hour"
    assert history["E004"][-2:] == ["yellow", "unknown"], "one detector offline, then every device"
    red = next(g for g in reversed(filled.store.grade_history("E002")) if g.colour == "red")
    third = max(c.recorded_at for c in filled.store.complaints(["E002"]))
    assert red.at == third, "red when the third complaint within a year was recorded"
    states = Counter(h.state.value for h in filled.store.hazards())
    assert set(states) == {"reported", "dispatched", "rectifying", "rectified", "closed"}, states
    overdue = filled.store.hazards(overdue_at=filled.end)
    assert sorted(h.state.value for h in overdue) == ["dispatched", "rectifying"]
    assert all(h.escalations == 1 for h in overdue), "escalated once by the gateway when the deadline passed"
    alarms = filled.store.alarms()
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


@pytest.mark.services
def test_city_overview_numbers(filled: Filled) -> None:
    """The queries compute what their titles say, checked against the rule engine's own record."""
    board = "city-overview"
    grades = filled.engine.grades  # the last grading, repeated at the end of the run
    for title, colour in (
        ("红色小区 Red estates", "red"),
        ("黄色小区 Yellow estates", "yellow"),
        ("绿色小区 Green estates", "green"),
        ("等级未知 Unknown grade", "unknown"),
    ):
        assert _value(filled, board, title) == sum(g.colour == colour for g in grades.values()), title
    assert _value(filled, board, "未关闭隐患 Open hazards") == len(filled.store.hazards(open_only=True))
    assert _value(filled, board, "处置中报警 Active alarms") == len(filled.store.alarms(open_only=True))

    # Estates per grade: in each 5-minute interval, every estate counted once with its last grade in it,
    # which (every change writes a point) is its grade at the end of the interval.
    per_grade = {ref: _rows(filled, board, "各等级小区数 Estates per grade", ref) for ref in "ABCD"}
    for offset in (
        timedelta(hours=1, minutes=32),
        timedelta(hours=3, minutes=2),
        timedelta(hours=5, minutes=32),
    ):
        moment = filled.start + offset
        _, bucket_end = _bucket(moment, 5)
        colours = Counter(_colour_at(filled, e, bucket_end) for e in grades)
        expected = [colours[c] for c in ("red", "yellow", "green", "unknown")]
        assert [_in_bucket(per_grade[r], moment, 5) for r in "ABCD"] == expected, offset

    reasons = _rows(filled, board, "红黄小区及原因 Red and yellow estates, with reasons")
    assert {r["estate"]: (r["grade"], r["reasons"]) for r in reasons} == {
        e: (g.colour, "; ".join(str(r) for r in g.reasons)) for e, g in grades.items() if g.level >= 1
    }
    assert any("HY-E001-02" in r["reasons"] for r in reasons if r["estate"] == "E001")

    hazards = filled.store.hazards()
    by_criterion = {
        r["criterion"]: r["open"]
        for r in _rows(filled, board, "未关闭隐患(按条款) Open hazards by criterion")
    }
    assert by_criterion == {
        c: sum(h.is_open for h in hazards if h.criterion == c) for c in {h.criterion for h in hazards}
    }

    overdue = _latest_per_id(_rows(filled, board, "逾期隐患 Overdue hazards"), "hazard_id")
    shown = {i for i, r in overdue.items() if r["state"] in ("reported", "dispatched", "rectifying")}
    assert shown == {str(h.id) for h in filled.store.hazards(overdue_at=filled.end)}
    handled = _latest_per_id(_rows(filled, board, "处置中报警清单 Alarms being handled"), "alarm_id")
    assert {i for i, r in handled.items() if r["outcome"] == "open"} == {
        str(a.id) for a in filled.store.alarms(open_only=True)
    }

    placed = _rows(filled, board, "小区分布 Estates on the map")
    assert {r["estate"]: (r["grade_level"], r["latitude"], r["longitude"]) for r in placed} == {
        e.id: (grades[e.id].level, e.latitude, e.longitude) for e in filled.registry.estates
    }


@pytest.mark.services
def test_device_health_and_hydrant_numbers(filled: Filled) -> None:
    board = "device-health"
    rules = filled.engine.rules.values()  # the devices' state at the end, repeated in estate_devices
    total = len(rules)
    offline = [r.device.id for r in rules if not r.online]
    healthy = sum(not r.active_signals() for r in rules)
    problem = sum(any(s.value != "offline" for s in r.active_signals()) for r in rules)
    assert _value(filled, board, "在线率 Online share") == pytest.approx((total - len(offline)) / total)
    assert _value(filled, board, "完好率 Healthy share") == pytest.approx(healthy / total)
    assert _value(filled, board, "离线设备 Offline devices") == len(offline)
    assert _value(filled, board, "异常设备 Devices with a problem") == problem

    # Online share per kind and interval: the smoke detectors offline throughout the interval.
    trend = [
        r for r in _rows(filled, board, "在线率趋势 Online share over time") if r["kind"] == "smoke_detector"
    ]
    smoke = [d.id for d in filled.registry.devices if d.kind is DeviceKind.SMOKE_DETECTOR]
    for offset in (timedelta(hours=1), timedelta(hours=4)):
        first, last = _bucket(filled.start + offset, 5)
        down = [{d for d, s in _active_signals(filled, t) if s == "offline"} for t in (first, last)]
        assert down[0] == down[1], f"a detector went offline inside the interval at {offset}: pick another"
        expected = 1 - len(down[0] & set(smoke)) / len(smoke)
        assert _in_bucket(trend, filled.start + offset, 5) == pytest.approx(expected), offset

    signals = _active_signals(filled)
    longest = _rows(filled, board, "离线最久 Devices offline longest")
    assert {r["device"]: r["since_ms"] for r in longest} == {
        d: pytest.approx(c.since.timestamp() * 1000, abs=1) for (d, s), c in signals.items() if s == "offline"
    }
    assert set(offline) == {r["device"] for r in longest}
    problems = _rows(filled, board, "故障、拆除、低电量 Faults, tamper, low battery")
    assert {(r["device"], r["signal"]) for r in problems} == {
        (d, s) for d, s in signals if re.fullmatch(DEVICE_PROBLEMS, s)
    }

    board = "hydrant-pressure"
    kinds = _kinds(filled)
    failing = {(d, s): c for (d, s), c in signals.items() if kinds[d] == "hydrant"}
    assert _value(filled, board, "故障消火栓 Hydrants failing now") == len({d for d, _ in failing})
    reporting = [
        r
        for r in rules
        if r.device.kind is DeviceKind.HYDRANT and r.last_seen > datetime.now(UTC) - timedelta(hours=1)
    ]
    assert _value(filled, board, "在报消火栓 Hydrants reporting") == len(reporting)
    assert _value(filled, board, "最低水压 Lowest pressure now") < PRESSURE_MIN  # HY-E001-02 at 0.03 MPa
    table = _rows(filled, board, "当前故障消火栓 Hydrants currently failing")
    assert {(r["device"], r["signal"]): r["value"] for r in table} == {
        key: pytest.approx(c.value) if c.value is not None else None for key, c in failing.items()
    }


@pytest.mark.services
def test_fire_lane_and_alarm_numbers(filled: Filled) -> None:
    board = "fire-lanes"
    minutes = {r["device"]: r["minutes"] for r in _rows(filled, board, "占用时长 Time occupied per camera")}
    assert set(minutes) <= {d.id for d in filled.registry.devices if d.kind.value == "camera"}
    assert 40 + 35 + 14 <= minutes["CAM-E001-01"] <= 40 + 35 + 16 + 30, minutes  # + a few short stops
    assert all(m <= SIM_HOURS * 60 + 1 for m in minutes.values())

    lane_signals = {"fire_lane_occupied", "evacuation_blocked", "ebike_in_lift"}
    raised = Counter(c.device_id for c in _signal_changes(filled) if c.active and c.signal in lane_signals)
    assert raised["CAM-E001-01"] == 3, "40 min, 35 min, then the third occupation of 5 min or more in 24 h"
    rows = _rows(filled, board, "屡次占用排行 Repeat offenders", "C")
    assert {r["device"]: r["raised"] for r in rows} == raised
    assert _value(filled, board, "屡次占用 Repeat offenders") == sum(n >= 2 for n in raised.values())
    now = [key for key in _active_signals(filled) if key[1] in lane_signals]
    assert _value(filled, board, "超时占用(现在) Past hold time now") == len(now)
    assert _value(filled, board, "正在占用 Occupied now") >= 1  # CAM-E001-01 since +5h45m

    board = "alarms"
    alarms = filled.store.alarms()
    closed = [a for a in alarms if a.closed_at is not None]
    assert _value(filled, board, "烟感报警 Smoke alarms") == sum(1 + a.repeats for a in alarms)
    outcomes = Counter(a.outcome.value for a in closed if a.outcome)
    assert _value(filled, board, "真实火警 Real fires") == outcomes["real_fire"]
    assert _value(filled, board, "误报 False alarms") == outcomes["false_alarm"]
    steps = {
        "平均确认用时 Mean time to acknowledge": lambda a: a.acknowledged_at,
        "平均到场用时 Mean time to arrive": lambda a: a.on_scene_at,
        "平均处置用时 Mean time to handle": lambda a: a.closed_at,
    }
    for title, reached in steps.items():
        seconds = [a.seconds_to(reached(a)) for a in closed]
        assert _value(filled, board, title) == pytest.approx(sum(seconds) / len(seconds)), title
    targets = (ACK_TARGET_S, ARRIVAL_TARGET_S, HANDLED_TARGET_S)
    for ref, reached, target in zip("ABC", steps.values(), targets, strict=True):
        within = [a.seconds_to(reached(a)) <= target for a in closed]
        assert _value(filled, board, "达标率 Within target", ref) == pytest.approx(sum(within) / len(within))


# -- 2. the generated JSON ---------------------------------------------------------------------------------


def test_committed_json_equals_freshly_generated_json() -> None:
    assert stale(JSON_DIR) == [], "run `firegw dashboards generate` and commit dashboards/json/"
    for board in generate_all():
        assert (JSON_DIR / board.filename).read_text(encoding="utf-8") == render(board.data)


def test_check_command_fails_on_stale_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert firegw(["dashboards", "generate", "--out", str(tmp_path)]) == 0
    assert firegw(["dashboards", "check", "--out", str(tmp_path)]) == 0
    path = tmp_path / "alarms.json"
    path.write_text(path.read_text(encoding="utf-8").replace("报警处置", "报警"), encoding="utf-8")
    (tmp_path / "hand-made.json").write_text("{}", encoding="utf-8")
    capsys.readouterr()
    assert firegw(["dashboards", "check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "alarms.json: differs" in err
    assert "hand-made.json: no dashboard generates it" in err


def test_generated_json_is_valid_for_the_pinned_grafana() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert compose["services"]["grafana"]["image"] == f"grafana/grafana-oss:{GRAFANA_VERSION}"
    assert importlib.metadata.version("grafana-foundation-sdk").endswith(f"!{GRAFANA_VERSION}")
    for board in generate_all():
        assert problems(board.data) == [], board.title


def test_the_validity_check_has_teeth() -> None:
    """Each kind of mistake the check exists for is caught (an unknown key, a stray datasource, overlap)."""
    base = BOARDS["hydrant-pressure"].data
    mutations: dict[str, Callable[[dict[str, Any]], None]] = {
        "does not survive": lambda d: d["panels"][1]["options"].update(colourMode="value"),
        "does not resolve": lambda d: d["panels"][2]["targets"][0].update(datasource={"uid": "influx"}),
        "overlaps": lambda d: d["panels"][2]["gridPos"].update(x=0),
        "off the 24-column grid": lambda d: d["panels"][3]["gridPos"].update(x=20),
        "not a raw InfluxQL SELECT": lambda d: d["panels"][2]["targets"][0].update(
            query="DROP MEASUREMENT x"
        ),
    }
    for expected, mutate in mutations.items():
        data = copy.deepcopy(base)
        mutate(data)
        found = problems(data)
        assert any(expected in p for p in found), (expected, found)


def test_every_datasource_reference_resolves_to_the_provisioned_uid() -> None:
    provisioned = provisioned_datasource()
    assert provisioned == {"uid": "firegw-influxdb", "type": "influxdb"}
    for board in generate_all():
        refs = re.findall(r'"datasource": (\{[^}]*\})', json.dumps(board.data, ensure_ascii=False))
        assert refs, board.title
        assert {json.dumps(json.loads(r), sort_keys=True) for r in refs} == {
            json.dumps(provisioned, sort_keys=True)
        }
        for panel in board.data["panels"]:
            for target in panel.get("targets", []):
                assert target["datasource"] == provisioned


def test_dashboards_cover_the_issue() -> None:
    """Titles in Chinese with the English beside; the panel kinds and variables the issue asks for."""
    titles = {b.data["title"] for b in BOARDS.values()}
    assert titles == {
        "城市总览 City overview",
        "设备健康 Device health",
        "消火栓水压 Hydrant pressure",
        "消防通道 Fire lanes",
        "报警处置 Alarms",
    }
    kinds: set[str] = set()
    for board in BOARDS.values():
        names = [v["name"] for v in board.data["templating"]["list"]]
        assert names[:3] == ["district", "street", "estate"], board.title
        for panel in board.data["panels"]:
            kinds.add(panel["type"])
            assert re.search(r"[\u4e00-\u9fff]", panel["title"]), panel["title"]
            assert re.search(r"[A-Za-z]", panel["title"]), panel["title"]
    assert "kind" in [v["name"] for v in BOARDS["device-health"].data["templating"]["list"]]
    assert {"stat", "timeseries", "bargauge", "table", "state-timeline"} <= kinds
    pressure = next(
        p for p in BOARDS["hydrant-pressure"].data["panels"] if p["title"] == "消火栓水压 Hydrant pressure"
    )
    steps = [s["value"] for s in pressure["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert steps == [None, 0.07, 0.5]
    assert pressure["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"


def test_provisioning_puts_the_dashboards_in_the_fire_safety_folder() -> None:
    provider = yaml.safe_load(
        (ROOT / "dashboards/provisioning/dashboards/firegw.yaml").read_text(encoding="utf-8")
    )
    (entry,) = provider["providers"]
    assert entry["folder"] == "Fire safety"
    assert entry["folderUid"] == "fire-safety"  # the same folder `push` creates
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    volumes = compose["services"]["grafana"]["volumes"]
    assert "./dashboards/json:/var/lib/grafana/dashboards:ro" in volumes
    assert entry["options"]["path"] == "/var/lib/grafana/dashboards"


# -- 3. push, against a recording stand-in for Grafana's HTTP API ------------------------------------------


class FakeGrafana(ThreadingHTTPServer):
    """Keeps folders, datasources and dashboards like Grafana 11's HTTP API and records every request.

    Only the endpoints ``push`` may use exist; anything else is a 404 the test will notice. Responses have
    the shapes Grafana documents (``secureJsonFields`` instead of secrets, ``meta.folderUid``, ``id`` and
    ``version`` added to stored dashboards).
    """

    def __init__(self, token: str = "test-token", basic: tuple[str, str] = ("admin", "secret")) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token = token
        self.basic = basic
        self.requests: list[tuple[str, str, Any]] = []
        self.headers_seen: list[dict[str, str]] = []
        self.folders: dict[str, dict[str, Any]] = {}
        self.datasources: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.next_id = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def calls(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _ in self.requests]

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


class _Handler(BaseHTTPRequestHandler):
    server: FakeGrafana

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        user, password = self.server.basic
        basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return header in (f"Bearer {self.server.token}", basic)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        path = urllib.parse.urlsplit(self.path).path
        self.server.requests.append((method, path, body))
        self.server.headers_seen.append(dict(self.headers))
        if not self._authorised():
            self._reply(401, {"message": "Unauthorized"})
            return
        s = self.server
        m = re.fullmatch(r"/api/folders/([^/]+)", path)
        if method == "GET" and m:
            folder = s.folders.get(m.group(1))
            self._reply(200, folder) if folder else self._reply(404, {"message": "folder not found"})
        elif method == "POST" and path == "/api/folders":
            if body["uid"] in s.folders:
                self._reply(409, {"message": "a folder with the same uid already exists"})
                return
            s.folders[body["uid"]] = {
                "id": s.new_id(),
                "uid": body["uid"],
                "title": body["title"],
                "version": 1,
            }
            self._reply(200, s.folders[body["uid"]])
        elif method == "PUT" and m:
            folder = s.folders[m.group(1)]
            folder.update(title=body["title"], version=folder["version"] + 1)
            self._reply(200, folder)
        elif (m := re.fullmatch(r"/api/datasources/uid/([^/]+)", path)) and method == "GET":
            source = s.datasources.get(m.group(1))
            if source is None:
                self._reply(404, {"message": "Data source not found"})
                return
            shown = {k: v for k, v in source.items() if k != "secureJsonData"}
            shown["secureJsonFields"] = {k: True for k in source.get("secureJsonData", {})}
            self._reply(200, shown)
        elif method == "POST" and path == "/api/datasources":
            if any(d["name"] == body["name"] for d in s.datasources.values()):
                self._reply(409, {"message": "data source with the same name already exists"})
                return
            source = {
                "id": s.new_id(),
                "orgId": 1,
                "isDefault": False,
                "readOnly": False,
                "basicAuth": False,
                **body,
            }
            s.datasources[body["uid"]] = source
            self._reply(200, {"datasource": source, "id": source["id"], "message": "Datasource added"})
        elif (m := re.fullmatch(r"/api/datasources/uid/([^/]+)", path)) and method == "PUT":
            old = s.datasources[m.group(1)]
            if old.get("readOnly"):
                self._reply(403, {"message": "Cannot update read-only data source"})
                return
            secrets = {**old.get("secureJsonData", {}), **body.get("secureJsonData", {})}
            s.datasources[m.group(1)] = {**old, **body, "secureJsonData": secrets}
            self._reply(200, {"message": "Datasource updated", "id": old["id"]})
        elif (m := re.fullmatch(r"/api/dashboards/uid/([^/]+)", path)) and method == "GET":
            stored = s.dashboards.get(m.group(1))
            if stored is None:
                self._reply(404, {"message": "Dashboard not found"})
                return
            self._reply(200, stored)
        elif method == "POST" and path == "/api/dashboards/db":
            dashboard = body["dashboard"]
            old = s.dashboards.get(dashboard["uid"])
            if old is not None and old["meta"].get("provisioned"):
                self._reply(400, {"message": "Cannot save provisioned dashboard"})
                return
            if body.get("folderUid") not in s.folders:
                self._reply(400, {"message": "folder not found"})
                return
            version = old["dashboard"]["version"] + 1 if old else 1
            ident = old["dashboard"]["id"] if old else s.new_id()
            s.dashboards[dashboard["uid"]] = {
                "dashboard": {**dashboard, "id": ident, "version": version},
                "meta": {"folderUid": body["folderUid"], "provisioned": False, "version": version},
            }
            self._reply(200, {"status": "success", "uid": dashboard["uid"], "id": ident, "version": version})
        else:
            self._reply(404, {"message": "Not found"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    server = FakeGrafana()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _push(grafana: FakeGrafana, *extra: str) -> int:
    return firegw(
        [
            "dashboards",
            "push",
            "--grafana-url",
            grafana.url,
            "--influx-url",
            "http://influxdb:8086",
            "--influx-token",
            "env:FIREGW_TEST_INFLUX_TOKEN",
            *extra,
        ]
    )


@pytest.fixture(autouse=True)
def _influx_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREGW_TEST_INFLUX_TOKEN", "influx-secret")
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)


def test_push_creates_folder_datasource_and_dashboards(
    grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _push(grafana, "--token", "test-token") == 0
    boards = generate_all()
    expected = [
        ("GET", "/api/folders/fire-safety"),
        ("POST", "/api/folders"),
        ("GET", "/api/datasources/uid/firegw-influxdb"),
        ("POST", "/api/datasources"),
    ]
    for board in boards:
        expected += [("GET", f"/api/dashboards/uid/{board.uid}"), ("POST", "/api/dashboards/db")]
    assert grafana.calls() == expected
    assert all(h.get("Authorization") == "Bearer test-token" for h in grafana.headers_seen)

    bodies = [body for method, _, body in grafana.requests if method == "POST"]
    assert bodies[0] == {"title": "Fire safety", "uid": "fire-safety"}
    source = bodies[1]
    assert source["uid"] == source["name"] == "firegw-influxdb"
    assert source["type"] == "influxdb"
    assert source["access"] == "proxy"
    assert source["url"] == "http://influxdb:8086"
    assert source["jsonData"] == {
        "dbName": "firegw",
        "httpMode": "POST",
        "version": "InfluxQL",
        "httpHeaderName1": "Authorization",
    }
    assert source["secureJsonData"] == {"httpHeaderValue1": "Token influx-secret"}
    for board, body in zip(boards, bodies[2:], strict=True):
        assert body["folderUid"] == "fire-safety"
        assert body["overwrite"] is True
        committed = json.loads((JSON_DIR / board.filename).read_text(encoding="utf-8"))
        assert body["dashboard"] == committed, "push sends exactly the committed JSON"

    out = capsys.readouterr().out
    assert "folder     Fire safety (fire-safety): created" in out
    assert "datasource firegw-influxdb: created (http://influxdb:8086)" in out
    assert out.count(": created") == 2 + len(boards)
    assert out.strip().endswith(f"{2 + len(boards)} created")


def test_second_push_changes_nothing(grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]) -> None:
    assert _push(grafana, "--token", "test-token") == 0
    first = len(grafana.requests)
    capsys.readouterr()
    assert _push(grafana, "--token", "test-token") == 0
    second = grafana.requests[first:]
    assert {method for method, _, _ in second} == {"GET"}, "a second run only reads"
    assert [path for _, path, _ in second] == [
        "/api/folders/fire-safety",
        "/api/datasources/uid/firegw-influxdb",
        *(f"/api/dashboards/uid/{b.uid}" for b in generate_all()),
    ]
    out = capsys.readouterr().out
    assert "created" not in out
    assert "updated" not in out
    assert out.count(": unchanged") == 2 + len(BOARDS)
    assert out.strip().endswith(f"{2 + len(BOARDS)} unchanged")


def test_push_updates_only_what_drifted(grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]) -> None:
    assert _push(grafana, "--token", "test-token") == 0
    grafana.folders["fire-safety"]["title"] = "Fire"
    grafana.datasources["firegw-influxdb"].update(url="http://old-influx:8086", isDefault=True)
    edited = grafana.dashboards["firegw-alarms"]["dashboard"]
    edited["title"] = "edited by hand"
    first = len(grafana.requests)
    capsys.readouterr()

    assert _push(grafana, "--token", "test-token") == 0
    writes = [(m, p) for m, p, _ in grafana.requests[first:] if m != "GET"]
    assert writes == [
        ("PUT", "/api/folders/fire-safety"),
        ("PUT", "/api/datasources/uid/firegw-influxdb"),
        ("POST", "/api/dashboards/db"),
    ]
    put_folder, put_source, post = (b for m, _, b in grafana.requests[first:] if m != "GET")
    assert put_folder == {"title": "Fire safety", "overwrite": True}
    assert put_source["url"] == "http://influxdb:8086"
    assert put_source["isDefault"] is True, "the user's default datasource stays the default"
    assert post["dashboard"]["title"] == "报警处置 Alarms"
    assert post["overwrite"] is True
    assert grafana.dashboards["firegw-alarms"]["dashboard"]["version"] == 2
    out = capsys.readouterr().out
    assert "folder     Fire safety (fire-safety): updated (title was 'Fire')" in out
    assert "datasource firegw-influxdb: updated (url)" in out
    assert "dashboard  报警处置 Alarms (firegw-alarms): updated (title)" in out
    assert out.count(": unchanged") == len(BOARDS) - 1


def test_secrets_are_sent_only_when_needed(grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]) -> None:
    assert _push(grafana, "--token", "test-token") == 0
    first = len(grafana.requests)
    assert _push(grafana, "--token", "test-token", "--update-secrets") == 0
    (put,) = [(p, b) for m, p, b in grafana.requests[first:] if m == "PUT"]
    assert put[0] == "/api/datasources/uid/firegw-influxdb"
    assert put[1]["secureJsonData"] == {"httpHeaderValue1": "Token influx-secret"}
    assert "updated (secrets (--update-secrets))" in capsys.readouterr().out


def test_push_with_basic_auth(grafana: FakeGrafana) -> None:
    assert _push(grafana, "--basic-auth", "admin:secret", "--no-datasource") == 0
    expected = "Basic " + base64.b64encode(b"admin:secret").decode()
    assert {h.get("Authorization") for h in grafana.headers_seen} == {expected}
    assert not any("/api/datasources" in p for _, p, _ in grafana.requests), "--no-datasource"
    assert len(grafana.dashboards) == len(BOARDS)


def test_provisioned_objects_are_reported_not_overwritten(
    grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _push(grafana, "--token", "test-token") == 0
    grafana.datasources["firegw-influxdb"].update(readOnly=True, url="http://influxdb-2:8086")
    grafana.dashboards["firegw-fire-lanes"]["meta"]["provisioned"] = True
    grafana.dashboards["firegw-fire-lanes"]["dashboard"]["refresh"] = "5m"
    first = len(grafana.requests)
    capsys.readouterr()
    assert _push(grafana, "--token", "test-token") == 0
    assert {m for m, _, _ in grafana.requests[first:]} == {"GET"}
    out = capsys.readouterr().out
    assert "datasource firegw-influxdb: skipped (provisioned (read-only); differs in url)" in out
    assert "消防通道 Fire lanes (firegw-fire-lanes): skipped (provisioned from files" in out


def test_push_reports_refusal(grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]) -> None:
    assert _push(grafana, "--token", "wrong") == 1
    assert "error: GET folder fire-safety: Unauthorized" in capsys.readouterr().err
    assert grafana.calls() == [("GET", "/api/folders/fire-safety")], "stops at the first refusal"


def test_push_reports_an_unreachable_grafana(capsys: pytest.CaptureFixture[str]) -> None:
    server = FakeGrafana()
    url = server.url
    server.server_close()  # nothing listens there any more
    assert firegw(["dashboards", "push", "--grafana-url", url, "--token", "t", "--timeout", "2"]) == 1
    assert "error: GET folder fire-safety" in capsys.readouterr().err
