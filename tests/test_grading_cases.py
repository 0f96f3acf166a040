"""The grading cases of ``tests/grading_cases.toml``, each run through the whole rule engine.

Each case builds a small registry (estates, devices with their measuring point, reading and commissioned
baseline), a ``RuleEngine`` on a fresh SQLite hazard store and a fake clock at ``T0`` (tests/clock.py). The
setup's records (assessments, evidence) are entered through the engine's desks as people enter them. Then the
steps run in time order: the clock is set to the step's ``at`` (from the start), the engine ticks, the
step's action runs (a device message, a person's record), and the step's ``expect`` is checked against the
engine's current grade and open hazards.

What a case file may say is checked before anything runs: a misspelt key is an error naming the case and the
key, not an expectation silently skipped. The table's own comments say what each key means.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clock import T0, FakeClock

from gateway.casework.engine import RuleEngine
from gateway.ingest.registry import Registry, registry_from_mapping
from gateway.models import Device, DeviceEvent, DeviceKind, EventType, MetricValue, Reading, Record
from gateway.store import HazardStore
from gateway.store.hazards import MAINTENANCE_TASK
from rules.grading import Grade
from rules.lifecycle import AlarmAction, AlarmOutcome, FalseAlarmCause
from rules.policy import builtin_policy

CASES_FILE = Path(__file__).with_name("grading_cases.toml")

_CASE_KEYS = {"id", "name", "issue", "policy", "estates", "device", "setup", "step", "waiting"}
_DEVICE_KEYS = {"id", "kind", "estate", "building", "point", "reading", "baseline", "thresholds", "count"}
_SETUP_KEYS = {"record"}
_RECORD_KEYS = {"estate", "kind", "ago", "met", "not_met", "by", "ref"}
_ACTIONS = {
    "send",
    "event",
    "heartbeat",
    "file",
    "complaint",
    "void",
    "merge",
    "record",
    "void_record",
    "window",
    "end_window",
    "out_of_use",
    "close_alarm",
}
_STEP_KEYS = {"at", "note", "expect", "silent", *_ACTIONS}
_EXPECT_KEYS = {
    "estate",
    "colour",
    "decisive",
    "decisive_text",
    "red_items",
    "yellow_items",
    "missing_green",
    "hazards",
    "maintenance",
    "coverage",
    "coverage_below",
    "rule",
    "stale",
    "conditions",
    "alarms",
    "test_alarms",
    "complaints",
    "online",
    "tolerated",
    "signals",
    "in_window",
}


class CaseError(ValueError):
    """The case table says something the runner does not understand."""


#: A word in Latin letters (device ids such as S01 and the unit MPa are not words).
_LATIN_WORD = re.compile(r"(?<![A-Za-z])(?!MPa\b)[A-Za-z]{3,}")
_PART = re.compile(r"(\d+(?:\.\d+)?)(d|h|min|s)")
_UNIT = {"d": 86_400, "h": 3600, "min": 60, "s": 1}


def duration(text: str | int) -> timedelta:
    """``"0s"``, ``"90s"``, ``"10min"``, ``"26h30min"``, ``"22d1h"`` (or 0)."""
    if text == 0:
        return timedelta(0)
    value = str(text).replace(" ", "")
    parts = _PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise CaseError(f"{text!r} is not a time such as 0s, 90s, 10min, 26h30min or 22d1h")
    return timedelta(seconds=sum(float(n) * _UNIT[u] for n, u in parts))


def _check_keys(where: str, table: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise CaseError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def load_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = tomllib.loads(CASES_FILE.read_text(encoding="utf-8"))["case"]
    seen: set[str] = set()
    for case in cases:
        where = f"case {case.get('id', '?')}"
        _check_keys(where, case, _CASE_KEYS)
        if "id" not in case or "name" not in case:
            raise CaseError(f"{where}: every case has an id and a name")
        if case["id"] in seen:
            raise CaseError(f"{where}: id used twice")
        seen.add(case["id"])
        for device in case.get("device", []):
            _check_keys(f"{where}, device {device.get('id')}", device, _DEVICE_KEYS)
        _check_keys(f"{where}, setup", case.get("setup", {}), _SETUP_KEYS)
        for record in case.get("setup", {}).get("record", []):
            _check_keys(f"{where}, setup record", record, _RECORD_KEYS)
        for i, step in enumerate(case.get("step", [])):
            _check_keys(f"{where}, step {i}", step, _STEP_KEYS)
            actions = [k for k in step if k in _ACTIONS]
            if len(actions) > 1:
                raise CaseError(f"{where}, step {i}: one action per step, got {actions}")
            if "expect" in step:
                for expect in _expects(step["expect"]):
                    _check_keys(f"{where}, step {i}, expect", expect, _EXPECT_KEYS)
    return cases


def _expects(value: dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return value if isinstance(value, list) else [value]


# -- the registry --------------------------------------------------------------------------------------------


def build_registry(case: dict[str, Any]) -> Registry:
    estates = case.get("estates", ["E1"])
    buildings: dict[str, str] = {}
    devices: list[dict[str, Any]] = []
    for spec in case.get("device", []):
        estate = spec.get("estate", estates[0])
        building = spec.get("building", f"{estate}-B1")
        buildings[building] = estate
        thresholds = dict(spec.get("thresholds", {}))
        if "baseline" in spec:
            thresholds["baseline_mpa"] = spec["baseline"]
        count = spec.get("count", 0)
        ids = [f"{spec['id']}{n:02d}" for n in range(1, count + 1)] if count else [spec["id"]]
        for device_id in ids:
            device: dict[str, Any] = {
                "id": device_id,
                "kind": spec["kind"],
                "estate_id": estate,
                "building_id": building,
                "location": f"{building} {device_id}",
                "thresholds": thresholds,
            }
            for key in ("point", "reading"):
                if key in spec:
                    device[key] = spec[key]
            devices.append(device)
    return registry_from_mapping(
        {
            "estates": [{"id": e, "name": f"{e} 小区"} for e in estates],
            "buildings": [{"id": b, "estate_id": e, "name": b} for b, e in buildings.items()],
            "devices": devices,
        },
        source=f"case {case['id']}",
    )


# -- running a case ------------------------------------------------------------------------------------------


@dataclass
class Run:
    case: dict[str, Any]
    engine: RuleEngine
    clock: FakeClock
    registry: Registry
    estate: str
    #: Complaints, windows and records by the names the case gives them.
    refs: dict[str, int] = field(default_factory=dict)
    #: The last pressure each hydrant reported (its DTU reports it again with every keep-alive).
    pressure: dict[str, float] = field(default_factory=dict)

    @property
    def now(self) -> datetime:
        return self.clock()

    def device(self, device_id: str) -> Device:
        device = self.registry.resolve(device_id)
        if device is None:
            raise CaseError(f"case {self.case['id']}: no device {device_id!r}")
        return device

    def feed(self, items: list[tuple[Device, Record]]) -> None:
        self.engine.on_records(items, self.now)

    # -- device messages -------------------------------------------------------------------------------------

    def send(self, spec: dict[str, Any]) -> None:
        """A reading: ``{ device = "H1", pressure_mpa = 0.30, battery_pct = 90 }``."""
        device = self.device(spec["device"])
        metrics: dict[str, MetricValue] = {k: v for k, v in spec.items() if k != "device"}
        if isinstance(metrics.get("pressure_mpa"), (int, float)):
            self.pressure[device.id] = float(metrics["pressure_mpa"])
        self.feed([(device, Reading(device_id=device.id, time=self.now, metrics=metrics))])

    def event(self, spec: dict[str, Any]) -> None:
        """A device event: ``{ device = "C1", type = "fire_lane_occupied", state = "start" }``."""
        device = self.device(spec["device"])
        attributes = {k: v for k, v in spec.items() if k not in ("device", "type")}
        record = DeviceEvent(
            device_id=device.id, time=self.now, type=EventType(spec["type"]), attributes=attributes
        )
        self.feed([(device, record)])

    def heartbeat(self, which: str | list[str], silent: list[str]) -> None:
        """Keep-alives: detectors and cameras a heartbeat event, hydrants their last pressure again."""
        devices = self.registry.devices if which == "all" else [self.device(d) for d in which]
        items: list[tuple[Device, Record]] = []
        for device in devices:
            if device.id in silent:
                continue
            if device.kind is DeviceKind.HYDRANT:
                metrics: dict[str, MetricValue] = {}
                if device.id in self.pressure:
                    metrics["pressure_mpa"] = self.pressure[device.id]
                items.append((device, Reading(device_id=device.id, time=self.now, metrics=metrics)))
            else:
                items.append(
                    (device, DeviceEvent(device_id=device.id, time=self.now, type=EventType.HEARTBEAT))
                )
        self.feed(items)

    # -- people ----------------------------------------------------------------------------------------------

    def file(self, spec: dict[str, Any]) -> None:
        """A hazard filed by a person: ``{ criterion = "Y1", description = "...", by = "网格员 李" }``."""
        self.engine.hazards.file(
            estate_id=spec.get("estate", self.estate),
            criterion=spec["criterion"],
            location=spec.get("location", "小区内"),
            description=spec.get("description", f"{spec['criterion']} 巡查发现"),
            reporter=spec.get("by", "网格员 李"),
            now=self.now,
        )

    def complaint(self, spec: dict[str, Any]) -> None:
        record = self.engine.incidents.add_complaint(
            estate_id=spec.get("estate", self.estate),
            received_at=self.now - duration(spec.get("ago", 0)),
            channel=spec.get("channel", "12345"),
            description=spec.get("description", "居民投诉消防隐患"),
            reporter=spec.get("by", "12345 热线"),
            now=self.now,
        )
        self.refs[spec["ref"]] = record.id

    def void(self, spec: dict[str, Any]) -> None:
        self.engine.incidents.void_complaint(
            self.refs[spec["ref"]], by=spec.get("by", "街道 王"), reason=spec["reason"], now=self.now
        )

    def merge(self, spec: dict[str, Any]) -> None:
        self.engine.incidents.merge_complaints(
            [self.refs[r] for r in spec["refs"]],
            into=self.refs[spec["into"]],
            by=spec.get("by", "街道 王"),
            reason=spec["reason"],
            now=self.now,
        )

    def record(self, spec: dict[str, Any]) -> None:
        """An assessment (排查登记) or later evidence: ``{ kind = "patrol", met = ["G2"], ago = "1d" }``;
        ``met = "all"``: every green condition of the policy."""
        met = spec.get("met", [])
        if met == "all":
            met = self.engine.policy.green_conditions()
        record = self.engine.assessments.record(
            estate_id=spec.get("estate", self.estate),
            kind=spec.get("kind", "assessment"),
            at=self.now - duration(spec.get("ago", 0)),
            by=spec.get("by", "街道 王"),
            met=met,
            not_met=spec.get("not_met", []),
            now=self.now,
        )
        if "ref" in spec:
            self.refs[spec["ref"]] = record.id

    def void_record(self, spec: dict[str, Any]) -> None:
        self.engine.assessments.void(
            self.refs[spec["ref"]], by=spec.get("by", "街道 王"), reason=spec["reason"], now=self.now
        )

    def window(self, spec: dict[str, Any]) -> None:
        """A maintenance window from now (or ``starts`` after now) for ``for``: a device, a building or the
        estate."""
        starts = self.now + duration(spec.get("starts", 0))
        window = self.engine.windows.declare(
            estate_id=spec.get("estate", self.estate),
            building_id=spec.get("building"),
            device_id=spec.get("device"),
            starts_at=starts,
            ends_at=starts + duration(spec["for"]),
            reason=spec.get("reason", "维保测试"),
            declared_by=spec.get("by", "维保公司 赵"),
            now=self.now,
        )
        self.refs[spec["ref"]] = window.id

    def end_window(self, spec: dict[str, Any]) -> None:
        self.engine.windows.end(self.refs[spec["ref"]], by=spec.get("by", "维保公司 赵"), now=self.now)

    def close_alarm(self, spec: dict[str, Any]) -> None:
        """The control room acknowledges a detector's open alarm and closes it: ``{ device = "S1", outcome =
        "real_fire", fatal = true }`` (a real fire counts toward Y15, a fatal one R7)."""
        (alarm,) = self.engine.store.alarms.find(open_only=True, device_id=self.device(spec["device"]).id)
        outcome = AlarmOutcome(spec["outcome"])
        fire: dict[str, Any] = {}
        if outcome is AlarmOutcome.REAL_FIRE:  # confirmed, with both answers (none defaulted by the store)
            fire = {
                "confirm": True,
                "fatal": bool(spec.get("fatal", False)),
                "high_impact": bool(spec.get("high_impact", False)),
            }
        alarms = self.engine.alarms
        alarms.step(alarm.id, AlarmAction.ACKNOWLEDGE, actor="值班员 陈", now=self.now)
        alarms.step(
            alarm.id,
            AlarmAction.CLOSE,
            actor="值班员 陈",
            outcome=outcome,
            cause=FalseAlarmCause(spec["cause"]) if "cause" in spec else None,
            cause_text=spec.get("cause_text", ""),
            **fire,
            note=spec.get("note", ""),
            now=self.now,
        )

    def out_of_use(self, value: bool) -> None:
        self.engine.assessments.set_out_of_use(
            estate_id=self.estate,
            out_of_use=value,
            by="街道 王",
            reason="停租停用" if value else "恢复使用",
            now=self.now,
        )

    # -- one step --------------------------------------------------------------------------------------------

    def step(self, i: int, step: dict[str, Any]) -> None:
        at = T0 + duration(step["at"])
        if at < self.now:
            raise CaseError(f"case {self.case['id']}, step {i}: at {step['at']} goes back in time")
        self.clock.now = at
        self.engine.tick(at)
        for action in _ACTIONS & set(step):
            value = step[action]
            if action == "heartbeat":
                self.heartbeat(value, step.get("silent", []))
            elif action == "out_of_use":
                self.out_of_use(bool(value))
            else:
                getattr(self, action)(value)
        for expect in _expects(step.get("expect", [])):
            self.check(i, step, expect)

    # -- expectations ----------------------------------------------------------------------------------------

    def check(self, i: int, step: dict[str, Any], expect: dict[str, Any]) -> None:
        estate = expect.get("estate", self.estate)
        grade = self.engine.grader.grades[estate]
        actual = self.actual(estate, grade, expect)
        wanted = {k: _normalise(k, v) for k, v in expect.items() if k != "estate"}
        wrong = {k: (wanted[k], actual[k]) for k in wanted if not _matches(k, wanted[k], actual[k])}
        # Whatever the step expects: what users read is the policy's Chinese, never an English note.
        english = [t for t in (grade.rule, *(r.text for r in grade.reasons)) if _LATIN_WORD.search(t)]
        if english:
            wrong["texts in Chinese"] = ([], english)
        if wrong:
            lines = [f"  {k}: expected {w!r}, got {a!r}" for k, (w, a) in wrong.items()]
            reasons = "\n".join(f"    {'*' if r.decisive else ' '} {r}" for r in grade.reasons)
            pytest.fail(
                f"case {self.case['id']} ({self.case['name']}), step {i} at {step['at']}, estate {estate}:\n"
                + "\n".join(lines)
                + f"\n  grade: {grade.colour} ({grade.rule})\n  reasons (* decisive):\n{reasons}",
                pytrace=False,
            )

    def actual(self, estate: str, grade: Grade, expect: dict[str, Any]) -> dict[str, Any]:
        engine = self.engine
        records = engine.index.open_records.get(estate, {}).values()
        hazards = Counter(
            (h.signal or "") if h.source == "device" else h.criterion
            for h in records
            if h.criterion != MAINTENANCE_TASK
        )
        out: dict[str, Any] = {
            "colour": grade.colour,
            "decisive": sorted({c for r in grade.decisive for c in r.codes}),
            "decisive_text": [r.text for r in grade.decisive],
            "red_items": sorted(grade.red_items),
            "yellow_items": sorted(grade.yellow_items),
            "missing_green": sorted(grade.missing_green),
            "hazards": dict(hazards),
            "maintenance": dict(Counter(h.signal or "" for h in records if h.criterion == MAINTENANCE_TASK)),
            "coverage": grade.coverage,
            "coverage_below": grade.coverage,
            "rule": grade.rule,
            "stale": grade.stale,
            "conditions": {c.code: c.state for c in grade.conditions},
            "complaints": len(engine.index.complaint_times.get(estate, [])),
            "tolerated": list(grade.tolerated),
        }
        if "alarms" in expect or "test_alarms" in expect:
            alarms = engine.store.alarms.find(estate_ids=[estate])
            out["alarms"] = len(alarms)
            out["test_alarms"] = sum(1 for a in alarms if a.window_id is not None)
        if "signals" in expect or "in_window" in expect:
            rows = [
                row
                for device_id in engine.fleet.estate_devices.get(estate, [])
                for row in engine.store.signals.history(device_id)
            ]
            out["signals"] = dict(Counter(r.signal for r in rows if r.active))
            out["in_window"] = sum(1 for r in rows if r.window_id is not None)
        if "online" in expect:
            # What the board shows: heard from and not offline (a device never heard from is not online).
            out["online"] = engine.fleet.online_count(estate)
        return out


def _normalise(key: str, value: Any) -> Any:
    if key in ("decisive", "red_items", "yellow_items", "missing_green"):
        return sorted(value)
    return value


def _matches(key: str, wanted: Any, actual: Any) -> bool:
    if key in ("decisive_text", "rule", "tolerated"):  # the text contains (each of) what is given
        texts = actual if isinstance(actual, list) else [actual]
        return all(any(w in t for t in texts) for w in (wanted if isinstance(wanted, list) else [wanted]))
    if key == "conditions":  # the states of the conditions named
        return all(actual.get(code) == state for code, state in wanted.items())
    if key == "coverage":
        return actual is not None and abs(actual - wanted) < 1e-9
    if key == "coverage_below":
        return actual is not None and actual < wanted
    return bool(wanted == actual)


def run_case(case: dict[str, Any], store_path: Path) -> None:
    registry = build_registry(case)
    clock = FakeClock(T0)
    policy = builtin_policy(case.get("policy", "default"))
    engine = RuleEngine(registry, policy, HazardStore(f"sqlite:///{store_path}"), clock=clock)
    run = Run(case, engine, clock, registry, case.get("estates", ["E1"])[0])
    for spec in case.get("setup", {}).get("record", []):
        run.record(spec)
    for i, step in enumerate(case.get("step", [])):
        run.step(i, step)


CASES = load_cases()


def _params() -> list[Any]:
    out = []
    for case in CASES:
        marks = [pytest.mark.skip(reason=f"waiting for {case['waiting']}")] if "waiting" in case else []
        out.append(pytest.param(case, id=case["id"], marks=marks))
    return out


@pytest.mark.parametrize("case", _params())
def test_grading_case(case: dict[str, Any], tmp_path: Path) -> None:
    run_case(case, tmp_path / "hazards.sqlite")


def test_every_point_of_the_issue_has_cases() -> None:
    """Issue 14's eight points, each with at least one case (the table's ``issue`` key)."""
    covered = Counter(case.get("issue") for case in CASES)
    assert all(covered[point] >= 1 for point in range(1, 9)), covered


def test_the_case_table_is_checked_before_it_runs() -> None:
    with pytest.raises(CaseError, match="colour_typo"):
        _check_keys("case x, step 0, expect", {"colour_typo": "green"}, _EXPECT_KEYS)
    assert duration("0s") == timedelta(0)
    assert duration("26h30min") == timedelta(hours=26, minutes=30)
    assert duration("11min30s") == timedelta(minutes=11, seconds=30)
    with pytest.raises(CaseError, match="not a time"):
        duration("10 minutes")
