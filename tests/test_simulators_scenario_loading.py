"""Scenario files (``simulators/scenarios/model.py``, ``loading.py``): the shipped ones load, and validation
names every problem with its line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulators.scenarios.loading import load_scenario, parse_scenario
from simulators.scenarios.model import Scenario, ScenarioError

SCENARIOS = Path(__file__).resolve().parents[1] / "simulators" / "scenarios"


def test_shipped_scenarios_are_valid() -> None:
    demo = load_scenario(SCENARIOS / "demo.toml")
    assert demo.speed == 60
    assert demo.duration_s == 4 * 3600
    reg = demo.registry()
    assert len(reg.estates) == 4
    assert 100 <= len(reg.devices) <= 140
    assert any(d.modbus for d in reg.devices)
    actions = {i.action for i in demo.incidents}
    assert {"pressure", "alarm", "occupy", "offline", "silent"} <= actions
    low = next(i for i in demo.incidents if i.action == "pressure")
    assert low.params["value"] == 0.02
    assert low.at_s <= 5 * 60
    failed = load_scenario(SCENARIOS / "failed_hydrant.toml")
    assert [i.at_s for i in failed.incidents] == sorted(i.at_s for i in failed.incidents)
    assert failed.intervals.camera_event_s == 0


BAD = """\
name = "bad"
speed = 0
duration = "1h"
colour = "red"

[fleet]
estates = 2
smoke_per_estate = 5
hydrants_per_estate = 4
cameras_per_estate = 2
modbus_share = 0.5
colour = 1

[intervals]
smoke_heartbeat = "ten minutes"

[[incidents]]
at = "+10m"
device = "SD-E002-0055"
action = "alarm"

[[incidents]]
at = "+20m"
device = "HY-E001-02"
action = "alarm"

[[incidents]]
at = "+2h"
device = "HY-E001-02"
action = "pressure"
value = 0.02

[[incidents]]
at = "+5m"
device = "HY-E001-02"
action = "pressure"
value = "low"

[[incidents]]
device = "CAM-E001-01"
action = "occupy"
durration = "5m"
"""


def test_scenario_validation_names_every_problem_with_its_line() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(BAD, source="bad.toml")
    problems = info.value.problems
    text = "\n".join(problems)
    assert "bad.toml:4: colour: unknown key" in text
    assert "bad.toml:12: fleet.colour: unknown key" in text
    assert "bad.toml:15: intervals.smoke_heartbeat: cannot read duration 'ten minutes'" in text
    # the fleet error stops the registry from being built, so fix it and look at the incidents
    fixed = BAD.replace('colour = "red"\n', "").replace("colour = 1\n", "").replace('"ten minutes"', '"10m"')
    with pytest.raises(ScenarioError) as info:
        parse_scenario(fixed, source="bad.toml")
    problems = info.value.problems
    assert len(problems) == 5, problems
    text = "\n".join(problems)
    assert re.search(
        r"bad\.toml:\d+: incidents\[0\]\.device: unknown device 'SD-E002-0055'; did you mean", text
    )
    assert re.search(r"incidents\[1\]\.action: HY-E001-02 \(hydrant\) has no action 'alarm'", text)
    assert re.search(r"incidents\[2\]\.at: '\+2h' is after the end of the scenario", text)
    assert re.search(r"incidents\[3\]\.value: .*'value' must be a number, got 'low'", text)
    assert re.search(r"incidents\[4\]\.at: missing", text)
    line_of = {p.split(": ")[1]: int(p.split(":")[1]) for p in problems}
    lines = fixed.splitlines()
    assert lines[line_of["incidents[0].device"] - 1] == 'device = "SD-E002-0055"'
    assert lines[line_of["incidents[3].value"] - 1] == 'value = "low"'


def test_scenario_requires_duration_in_fast_mode_and_accepts_globs() -> None:
    with pytest.raises(ScenarioError, match="duration: required"):
        parse_scenario("speed = 0\n")
    sc = parse_scenario(
        'speed = "max"\nduration = "1h"\n[fleet]\nestates = 2\n'
        '[[incidents]]\nat = 60\ndevices = ["SD-E002-*"]\naction = "offline"\n'
    )
    (inc,) = sc.incidents
    assert len(inc.devices) == 20
    assert all(d.startswith("SD-E002-") for d in inc.devices)
    absolute = parse_scenario(
        'start = 2026-11-23T08:00:00+08:00\nduration = "1h"\n[fleet]\nestates = 1\n'
        '[[incidents]]\nat = 2026-11-23T08:30:00+08:00\ndevice = "SD-E001-0001"\naction = "alarm"\n'
    )
    assert absolute.incidents[0].at_s == 1800


def test_scenario_validation_dry_runs_values() -> None:
    base = 'duration = "1h"\n[fleet]\nestates = 1\n[[incidents]]\nat = "1m"\n'
    with pytest.raises(ScenarioError, match=r"incidents\[0\]\.type: .*'parking' is not one of"):
        parse_scenario(base + 'device = "CAM-E001-01"\naction = "occupy"\ntype = "parking"\n')
    with pytest.raises(ScenarioError, match=r"incidents\[0\]\.code: .*must be 1\.\.255"):
        parse_scenario(base + 'device = "HY-E001-06"\naction = "exception"\ncode = 300\n')


def test_scenario_object_can_be_built_in_code() -> None:
    sc = Scenario(name="code", speed=0, duration_s=60)
    assert sc.registry() is sc.registry()
    moved = sc.with_overrides(modbus_port=6000)
    assert {d.modbus.port for d in moved.registry().devices if d.modbus} == {6000}
