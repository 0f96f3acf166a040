"""The scenario the report tests read: a real hazard store that the rule engine filled on a fake clock
(``run_scenario``), and ``pdf_text`` to read a PDF back; ``reports_fixtures`` serves it as fixtures.

The scenario runs from October into December 2026 (Asia/Shanghai) so that November's figures must be "as at
the end of the month": an October hazard still open, and December steps (a verification, a rectification, a
new red item) that must not change November's numbers.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from clock import FakeClock
from pypdf import PdfReader

from gateway.casework.engine import RuleEngine
from gateway.ingest.registry import Registry, registry_to_toml
from gateway.models import Device, DeviceEvent, DeviceKind, EventType, Reading, Record
from gateway.store import HazardStore
from rules.lifecycle import AlarmAction, AlarmOutcome, FalseAlarmCause, HazardAction
from rules.policy import Policy, load_policy
from simulators.fleet import generate_fleet

SHANGHAI = timedelta(hours=8)


def local(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A Beijing-time wall clock moment as aware UTC."""
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC) - SHANGHAI


ESTATES = {
    "E001": ("锦绣花园", "锦江区", "春熙路街道", "锦绣物业"),
    "E002": ("望江苑", "锦江区", "合江亭街道", "安居物业"),
    "E003": ("青羊小区", "青羊区", "草市街道", "锦绣物业"),
}


def make_registry() -> Registry:
    fleet = generate_fleet(
        estates=3, smoke_per_estate=10, hydrants_per_estate=2, cameras_per_estate=1, modbus_share=0.0, seed=5
    )
    estates = tuple(
        e.model_copy(
            update=dict(zip(("name", "district", "street", "property_company"), ESTATES[e.id], strict=True))
        )
        for e in fleet.estates
    )
    return Registry(estates=estates, buildings=fleet.buildings, devices=fleet.devices)


@dataclass
class Scenario:
    registry: Registry
    policy: Policy
    engine: RuleEngine
    clock: FakeClock
    store_path: Path
    config: Path
    failing_hydrant: str

    @property
    def store(self) -> HazardStore:
        return self.engine.store


class Driver:
    """Moves the fake clock, keeps devices reporting, and files/steps things through the engine."""

    def __init__(self, engine: RuleEngine, clock: FakeClock, registry: Registry) -> None:
        self.engine, self.clock, self.registry = engine, clock, registry
        self.hydrant_pressure: dict[str, float] = {}
        #: Devices that have gone silent (nothing sent from them any more).
        self.silent: set[str] = set()

    def at(self, moment: datetime) -> None:
        assert moment >= self.clock.now
        self.clock.now = moment
        items: list[tuple[Device, Record]] = []
        for device in self.registry.devices:
            if device.id in self.silent:
                continue
            metrics: dict[str, Any] = {"battery_pct": 90.0}
            if device.kind is DeviceKind.HYDRANT:
                metrics["pressure_mpa"] = self.hydrant_pressure.get(device.id, 0.35)
            items.append((device, Reading(device_id=device.id, time=moment, metrics=metrics)))
        self.engine.on_records(items, moment)
        self.engine.tick(moment)

    def file(self, estate: str, criterion: str) -> int:
        hazard = self.engine.hazards.file(
            estate_id=estate,
            criterion=criterion,
            location="2号楼",
            description=f"{criterion} 巡查发现",
            reporter="网格员 李",
            now=self.clock.now,
        )
        return hazard.id

    def complain(self, estate: str, description: str) -> int:
        """A 12345 call received now."""
        return self.engine.incidents.add_complaint(
            estate_id=estate,
            received_at=self.clock.now,
            channel="12345",
            description=description,
            reporter="居民",
            now=self.clock.now,
        ).id

    def step(self, hazard_id: int, action: HazardAction, **extra: Any) -> None:
        self.engine.hazards.step(hazard_id, action, actor="物业 王", now=self.clock.now, **extra)

    def alarm(
        self, device: Device, steps: list[tuple[str, float]], outcome: AlarmOutcome, **closing: Any
    ) -> None:
        """``closing``: what the close needs besides the outcome (a false alarm's cause, a fire's answers)."""
        raised = self.clock.now
        self.engine.on_records(
            [(device, DeviceEvent(device_id=device.id, time=raised, type=EventType.ALARM))], raised
        )
        alarm_id = self.engine.store.alarms.find(device_id=device.id, open_only=True)[0].id
        for action, after in steps:
            self.engine.alarms.step(
                alarm_id,
                AlarmAction(action),
                actor="控制室 张",
                outcome=outcome if action == "close" else None,
                now=raised + timedelta(seconds=after),
                **(closing if action == "close" else {}),
            )


ASSESSOR = "街道 排查员 陈"


def assess(engine: RuleEngine, estate_id: str, kind: str, met: list[str]) -> None:
    """An assessment or evidence record at the engine's clock, as the office enters it."""
    now = engine.clock()
    engine.assessments.record(estate_id=estate_id, kind=kind, at=now, by=ASSESSOR, met=met, now=now)


def run_scenario(root: Path) -> Scenario:
    registry = make_registry()
    policy = load_policy()
    data = root / "data"
    data.mkdir()
    store_path = data / "hazards.sqlite"
    clock = FakeClock(local(10, 20, 9))
    engine = RuleEngine(registry, policy, HazardStore(f"sqlite:///{store_path}"), clock=clock)
    d = Driver(engine, clock, registry)
    smoke = {
        e: [x for x in registry.devices if x.estate_id == e and x.kind is DeviceKind.SMOKE_DETECTOR]
        for e in ESTATES
    }
    hydrant = next(x for x in registry.devices if x.estate_id == "E002" and x.kind is DeviceKind.HYDRANT)
    camera = next(x for x in registry.devices if x.estate_id == "E003" and x.kind is DeviceKind.CAMERA)

    # The street office inspects and registers every estate (排查登记) before it is graded: every green
    # condition found to hold. A monthly patrol in November keeps G2 (a fire inspection at least monthly)
    # current, so that an estate without items stays green through the report's month.
    greens = policy.green_conditions()
    for estate_id in ESTATES:
        assess(engine, estate_id, "assessment", greens)

    # October: a hazard that is still open all through November (not found in November).
    d.at(local(10, 20, 10))
    d.file("E003", "Y11")

    # November.
    d.at(local(11, 2, 9))
    r4 = d.file("E001", "R4")  # red; rectified and verified on the 5th
    d.step(r4, HazardAction.DISPATCH, responsible="锦绣物业")
    d.step(r4, HazardAction.START)
    d.at(local(11, 3, 14))
    y9 = d.file("E001", "Y9")  # open at the end of the month, deadline in December
    d.step(y9, HazardAction.DISPATCH, responsible="锦绣物业")
    d.step(y9, HazardAction.START)
    d.at(local(11, 4, 10))
    y3 = d.file("E001", "Y3")  # withdrawn: a duplicate
    d.step(y3, HazardAction.CLOSE, reason="duplicate of an earlier report")
    d.at(local(11, 5, 16))
    d.step(r4, HazardAction.RECTIFIED, evidence="photo")
    d.step(r4, HazardAction.VERIFY)
    d.at(local(11, 6, 11))
    g7 = d.file("E002", "G7")  # overdue at the end of the month
    d.step(g7, HazardAction.DISPATCH, responsible="安居物业")
    d.step(g7, HazardAction.START, deadline=local(11, 10, 18))
    d.at(local(11, 7, 8))
    stairwell = d.complain("E002", "楼道堆物")
    # Complaints count distinct incidents: a second call about the same stairwell is merged into the first,
    # a call filed in error is voided (never more than two counted at once: no R6 on the way), and a call
    # about another incident on the 20th is voided only in December. November counts 2 for E002.
    d.at(local(11, 7, 8, 30))
    duplicate = d.complain("E002", "3号楼楼道还是堆着杂物")
    engine.incidents.merge_complaints(
        [duplicate], into=stairwell, by=ASSESSOR, reason="同一处楼道堆物，重复来电", now=clock.now
    )
    d.at(local(11, 8, 3))
    d.alarm(
        smoke["E001"][0],
        [("acknowledge", 40), ("dispatch", 60), ("on_scene", 150), ("close", 250)],
        AlarmOutcome.FALSE_ALARM,
        cause=FalseAlarmCause.COOKING_SMOKE,
    )
    d.at(local(11, 9, 10))
    wrong = d.complain("E002", "楼上装修噪音")
    engine.incidents.void_complaint(wrong, by=ASSESSOR, reason="非消防隐患，误登记", now=clock.now)
    # A hydrant of E002 loses pressure on the 10th and gets it back on the 12th (a facility fault), but its
    # sensor falls silent on the 10th after 09:07 and is offline (a monitoring fault) from the 11th, when
    # the report window and grace have run out, until it reports again on the 12th: those hours are not
    # monitored, neither failed nor intact.
    d.at(local(11, 10, 8, 30))
    d.hydrant_pressure[hydrant.id] = 0.02
    d.at(local(11, 10, 9))
    d.at(local(11, 10, 9, 6))
    d.at(local(11, 10, 9, 7))
    d.silent.add(hydrant.id)
    d.at(local(11, 11, 12))
    d.silent.discard(hydrant.id)
    d.at(local(11, 12, 9))
    d.hydrant_pressure[hydrant.id] = 0.35
    d.at(local(11, 12, 9, 1))
    d.at(local(11, 12, 9, 12))
    d.at(local(11, 12, 20))
    d.alarm(
        smoke["E002"][0],
        [("acknowledge", 90), ("dispatch", 100), ("on_scene", 400), ("close", 500)],
        AlarmOutcome.REAL_FIRE,
        confirm=True,
        fatal=False,
        high_impact=False,
    )
    d.at(local(11, 14, 10))
    d.alarm(smoke["E001"][1], [("acknowledge", 10), ("close", 20)], AlarmOutcome.TEST)
    d.at(local(11, 15, 9))
    for estate_id in ESTATES:
        assess(engine, estate_id, "patrol", ["G2", "G5"])
    d.at(local(11, 15, 21))
    d.complain("E003", "消防通道停车")
    d.at(local(11, 18, 22))
    d.alarm(
        smoke["E003"][0],
        [("acknowledge", 30), ("close", 200)],
        AlarmOutcome.FALSE_ALARM,
        cause=FalseAlarmCause.OTHER,
        cause_text="楼道装修粉尘",
    )
    d.at(local(11, 20, 10))
    later_voided = d.complain("E002", "2号楼消防门常开")
    d.at(local(11, 20, 15))
    y1 = d.file("E003", "Y1")  # rectified, waiting for the inspector at the end of the month
    d.step(y1, HazardAction.DISPATCH, responsible="锦绣物业")
    d.step(y1, HazardAction.START)
    d.step(y1, HazardAction.RECTIFIED, evidence="photo")
    # E003's camera goes silent on the 27th: offline, a monitoring fault (a maintenance task, not a hazard),
    # so E003's monitoring coverage at the end of November is 12 of 13 devices.
    d.at(local(11, 27, 9))
    d.silent.add(camera.id)
    d.at(local(11, 28, 10))

    # December: none of this may change November's figures.
    d.at(local(12, 2, 10))
    engine.incidents.void_complaint(
        later_voided, by=ASSESSOR, reason="核实为物业内部报修，误登记", now=clock.now
    )
    d.step(y1, HazardAction.VERIFY)
    d.step(g7, HazardAction.RECTIFIED, evidence="photo")
    d.at(local(12, 3, 9, 30))
    d.file("E001", "R3")  # E001 is red now

    registry_file = root / "registry.toml"
    registry_file.write_text(registry_to_toml(registry), encoding="utf-8")
    config = root / "gateway.toml"
    config.write_text(
        '[gateway]\nregistry = "registry.toml"\ndata_dir = "data"\n'
        '[reports]\nhotline = "119 / 12345 / 88886666"\n',
        encoding="utf-8",
    )
    return Scenario(registry, policy, engine, clock, store_path, config, hydrant.id)


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() or "" for page in reader.pages)
