"""Six simulated hours of five estates through the real gateway into a real InfluxDB, for the dashboard tests.

A simulator scenario (five estates, four of them assessed by the street office at the start, six hours of
simulated time ending now, with a hydrant losing pressure, another over pressure, smoke alarms, a fault,
tamper, low battery, a detector and then a whole estate going silent, and repeated fire-lane occupations) is
published to a real Mosquitto and runs through the real
gateway, rule layer included, into a real InfluxDB 1.6 in a few seconds: the gateway's clock follows the
scenario in lock-step (``_Timeline``), so each message reaches the rules at its own simulated time and the
run is the same on any machine. What people do (``_people``) goes through the rule engine's own methods at
its simulated time: complaints (an estate turns red), hazards worked through the closed loop (two pass their
deadlines and are escalated), three alarms handled step by step.

``filled_database`` is the one entry point; the engine of the run comes back in ``Filled`` because its store
is the record the tests compare the panels with.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.app import Gateway
from gateway.casework.engine import RuleEngine
from gateway.config import parse_config
from gateway.ingest.registry import Registry
from gateway.ingest.sinks.buffered import BufferedSink
from gateway.models import DeviceKind
from gateway.store import HazardStore
from rules.lifecycle import AlarmAction, AlarmOutcome, FalseAlarmCause, HazardAction
from simulators.clock import SimClock
from simulators.publisher import MqttPublisher
from simulators.scenarios.loading import parse_scenario
from simulators.scenarios.runner import ScenarioRunner
from simulators.scenarios.stats import ScenarioStats

DEVICE_MEASUREMENTS = ("smoke_detector", "hydrant", "camera", "device_event")
SIM_HOURS = 6

SCENARIO = """
name = "dashboards"
seed = 2026
start = "{start}"
speed = "max"
duration = "{hours}h"

[fleet]
estates = 5                # E005 is registered and reports, but the street office never assesses it
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
value = 1.15
duration = "45m"
note = "static pressure above 1.0 MPa: the system should have been zoned (GB 50974 §6.2.1)"

[[incidents]]
at = "+4h"
device = "SD-E001-0004"
action = "alarm"
duration = "6m"

[[incidents]]
at = "+3h30m"
devices = ["SD-E004-*", "HY-E004-*", "CAM-E004-*"]
action = "offline"
note = "the whole estate goes silent, its cameras' keep-alives too"

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


# -- scenario -> Mosquitto -> gateway with the rule layer -> InfluxDB -------------------------------------

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
            hazard = engine.hazards.file(
                estate_id=estate,
                criterion=criterion,
                location=location,
                description=what,
                reporter="网格员 张",
            )
            filed[name] = hazard.id

        return do

    def step(name: str, action: HazardAction, **kwargs: Any) -> Callable[[], object]:
        return lambda: engine.hazards.step(filed[name], action, actor=OPERATOR, **kwargs)

    def complaint(estate: str, days_ago: int, what: str) -> Callable[[], object]:
        return lambda: engine.incidents.add_complaint(
            estate_id=estate,
            received_at=timeline.now() - timedelta(days=days_ago),
            channel="12345",
            description=what,
            reporter="城南街道办",
        )

    def alarm(device: str, action: AlarmAction, outcome: AlarmOutcome | None = None) -> Callable[[], object]:
        def do() -> None:
            (raised,) = engine.store.alarms.find(device_id=device, open_only=True)
            # A false alarm says why; a real fire is confirmed, with both answers.
            closing: dict[str, Any] = {}
            if outcome is AlarmOutcome.FALSE_ALARM:
                closing = {"cause": FalseAlarmCause.COOKING_SMOKE}
            elif outcome is AlarmOutcome.REAL_FIRE:
                closing = {"confirm": True, "fatal": False, "high_impact": False}
            engine.alarms.step(raised.id, action, actor=OPERATOR, outcome=outcome, **closing)

        return do

    dispatch, start_work, rectified = HazardAction.DISPATCH, HazardAction.START, HazardAction.RECTIFIED

    def company(estate: str) -> str:
        """The estate's property company: the party (from the registry) a dispatch goes to."""
        return engine.registry.estate(estate).property_company

    def assess(estate: str) -> Callable[[], object]:
        """The street office's assessment (排查登记): every green condition found to hold."""
        return lambda: engine.assessments.record(
            estate_id=estate,
            kind="assessment",
            at=timeline.now(),
            by="城南街道办 排查员",
            met=engine.policy.green_conditions(),
        )

    plan: list[tuple[timedelta, Callable[[], object]]] = [
        # Graded only once assessed: E001-E004 at the start, E005 never (it stays 未评定, not assessed).
        *((timedelta(0), assess(estate)) for estate in ("E001", "E002", "E003", "E004")),
        # E002: two complaints of the past year entered late (Y14), then a new one: three within 365 days
        # is R6, a red item.
        (15 * m, complaint("E002", 200, "楼道堆放杂物")),
        (15 * m, complaint("E002", 40, "电动车在楼道充电")),
        (h + 30 * m, complaint("E002", 0, "消防通道堵塞")),
        # Overdue while being rectified: the deadline given at "start" passes at +2h, and is escalated.
        (20 * m, file("wiring", "E003", "Y9", "2号楼楼道", "楼道内飞线充电")),
        (30 * m, step("wiring", dispatch, responsible=company("E003"))),
        (40 * m, step("wiring", start_work, deadline=start + 2 * h)),
        # Overdue while dispatched (a deadline given with the dispatch, passing at +3h).
        (25 * m, file("door", "E001", "Y11", "3号楼", "常闭式防火门长期开启")),
        (35 * m, step("door", dispatch, responsible=company("E001"), deadline=start + 3 * h)),
        # The whole closed loop: reported, dispatched, rectifying (the policy's 30 days), rectified, closed.
        (45 * m, file("exit", "E002", "Y7", "1号楼安全出口", "安全出口堆放杂物")),
        (55 * m, step("exit", dispatch, responsible=company("E002"))),
        (h + 5 * m, step("exit", start_work)),
        (3 * h, step("exit", rectified, evidence="photo/after.jpg")),
        (3 * h + 30 * m, step("exit", HazardAction.VERIFY)),
        # Filed in error and closed by a supervisor; rectified and waiting for the inspector; just reported.
        (h, file("duplicate", "E001", "Y2", "5号消火栓", "消火栓被遮挡")),
        (h + 20 * m, step("duplicate", HazardAction.CLOSE, reason="重复上报 (duplicate)")),
        (4 * h, file("rentals", "E003", "Y3", "4号楼 3单元", "群租房")),
        (4 * h + 10 * m, step("rentals", start_work)),
        (5 * h, step("rentals", rectified, evidence="photo/walls-removed.jpg")),
        # Reported for E004 while every device there is silent: one yellow item decides no colour, so E004
        # stays unknown (a Y13 would contradict G1 and make it yellow: known facts are a floor).
        (5 * h + 20 * m, file("insulation", "E004", "Y8", "2号楼外墙", "外墙外保温层破损未修复")),
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
            # The scenario's people rectify without uploading photos (no API here): the after-photo rule
            # is tested in test_hazard_photos.py.
            "photos": {"rectified_needs_after_photo": False},
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

        # QoS 0: the run is in lock-step (each step waits until the gateway has counted every message sent,
        # and fails past 10 s), so a broker acknowledgement per message adds nothing but a round trip each:
        # the fill took 50 s with QoS 1 and takes 17 s with QoS 0.
        async with MqttPublisher(
            mosquitto.host, mosquitto.port, client_id=f"sim-{uuid.uuid4().hex[:6]}", qos=0
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
        engine.grader.regrade_all(end, repeat=True)
        sink = gateway.sink
        assert isinstance(sink, BufferedSink)
        deadline = time.monotonic() + 30
        while engine.outbox.points or sink.buffered_points or stored() < stats.messages:
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


@contextlib.contextmanager
def filled_database(mosquitto: Any, influxdb: Any, tmp: Path) -> Iterator[Filled]:
    """A fresh InfluxDB database with six simulated hours ending now, run through the real pipeline and
    rule engine in a few seconds; dropped (and the engine's store closed) on the way out."""
    influxdb.ensure_running()
    db = f"dashboards_{uuid.uuid4().hex[:8]}"
    influxdb.create_database(db)
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(hours=SIM_HOURS)
    text = SCENARIO.format(start=start.isoformat(), hours=SIM_HOURS)
    registry, published, end, engine = asyncio.run(_run_scenario(mosquitto, influxdb, db, tmp, text))
    try:
        yield Filled(influxdb, db, registry, start, end, published, engine)
    finally:
        engine.store.close()
        if influxdb.running:
            influxdb.drop_database(db)
