"""Unit tests of the grading policy (rules/policy.py and the shipped rules/policies/*.toml)."""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest

from gateway.models import DeviceKind
from rules.model import SignalKind
from rules.policy import (
    NOT_ASSESSED,
    UNKNOWN,
    Policy,
    PolicyError,
    Tolerance,
    builtin_policy,
    load_policy,
    parse_duration,
    parse_policy,
)

CJK = re.compile(r"[\u4e00-\u9fff]")
RED = [f"R{i}" for i in range(1, 8)]
YELLOW = [f"Y{i}" for i in range(1, 16)]
GREEN = [f"G{i}" for i in range(1, 9)]


def policy_file(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def default_text() -> str:
    return resources.files("rules.policies").joinpath("default.toml").read_text(encoding="utf-8")


# -- the default policy (annex 3 of seed 000) -------------------------------------------------------------


def test_default_policy_loads_with_the_whole_catalogue() -> None:
    policy = load_policy()
    assert policy.id == "municipal-3colour"
    assert policy.colour_ids == ["green", "yellow", "red"]
    assert policy.default == "green"
    assert policy.timezone == "Asia/Shanghai"
    assert sorted(policy.criteria) == sorted(RED + YELLOW + GREEN)
    for code, criterion in policy.criteria.items():
        assert CJK.search(criterion.zh), f"{code} has no Chinese text"
        assert criterion.en, f"{code} has no English text"
        assert not CJK.search(criterion.en), f"{code}: the English text is Chinese"
    assert {policy.category(c) for c in RED} == {"red"}
    assert {policy.category(c) for c in YELLOW} == {"yellow"}
    assert {policy.category(c) for c in GREEN} == {"green"}
    assert policy.name.zh
    assert policy.name.en
    for colour in policy.colours:
        assert CJK.search(colour.zh), colour
        assert colour.en, colour
        assert CJK.search(colour.meaning.zh), colour
        assert colour.meaning.en, colour


def test_default_policy_texts_match_the_standard() -> None:
    policy = load_policy()
    assert "3次及以上" in policy.criteria["R6"].zh
    assert "1次及以上" in policy.criteria["Y14"].zh
    assert "三次及以上火灾" in policy.criteria["Y15"].zh
    assert "消火栓" in policy.criteria["Y2"].zh
    assert "hydrant" in policy.criteria["Y2"].en
    assert "fatal" in policy.criteria["R7"].en


def test_builtin_and_file_default_are_the_same_policy() -> None:
    assert builtin_policy("default") == load_policy()


def test_default_policy_feeds_every_signal_as_domain_md_says() -> None:
    """domain.md, "What devices can decide": facility faults are Y10 items, monitoring faults are not items,
    camera findings are Y1/Y7, an e-bike in a lift grades nothing; the links to green conditions are by
    criterion, not by source."""
    policy = load_policy()
    smoke, hydrant, camera = DeviceKind.SMOKE_DETECTOR, DeviceKind.HYDRANT, DeviceKind.CAMERA
    for signal in (SignalKind.DEVICE_FAULT, SignalKind.TAMPER, SignalKind.OFFLINE):
        assert policy.criteria_for(smoke, signal) == ["Y10"]
    for signal in (
        SignalKind.HYDRANT_LOW_PRESSURE,
        SignalKind.HYDRANT_HIGH_PRESSURE,
        SignalKind.HYDRANT_LEAK,
    ):
        assert policy.criteria_for(hydrant, signal) == ["Y10"]
    assert policy.criteria_for(camera, SignalKind.FIRE_LANE_OCCUPIED) == ["Y1"]
    assert policy.criteria_for(camera, SignalKind.EVACUATION_BLOCKED) == ["Y7"]
    assert policy.criteria_for(camera, SignalKind.EBIKE_IN_LIFT) == []
    assert not policy.is_monitoring_fault(camera, SignalKind.EBIKE_IN_LIFT)
    for signal in (
        SignalKind.OFFLINE,
        SignalKind.COMM_FAULT,
        SignalKind.HYDRANT_SENSOR_FAULT,
        SignalKind.LOW_BATTERY,
    ):
        assert policy.is_monitoring_fault(hydrant, signal)
        assert policy.criteria_for(hydrant, signal) == []
    assert policy.is_monitoring_fault(smoke, SignalKind.LOW_BATTERY)
    assert policy.is_monitoring_fault(camera, SignalKind.OFFLINE)
    assert not policy.is_monitoring_fault(smoke, SignalKind.OFFLINE)  # a detector is its own facility
    assert policy.contradicts == {"Y1": ["G5"], "Y7": ["G5"], "Y10": ["G4", "G6"], "Y13": ["G1"]}
    # Every green condition says how it is evidenced, for how long, and where that comes from.
    assert set(policy.conditions) == {f"G{i}" for i in range(1, 9)}
    for code, condition in policy.conditions.items():
        assert CJK.search(condition.source.zh), code
        assert condition.source.en, code
        assert condition.accepts("assessment")
    assert policy.conditions["G3"].accepts("drill")
    assert not policy.conditions["G7"].accepts("drill")
    assert policy.conditions["G6"].valid_for == timedelta(days=365)


def test_default_policy_thresholds() -> None:
    policy = load_policy()
    hydrant = policy.thresholds_for(DeviceKind.HYDRANT, {}, "device H1")
    assert hydrant.pressure_min_mpa == 0.07
    assert hydrant.pressure_max_mpa == 1.0  # a static reading: 0.50 MPa is the flowing-outlet ceiling
    assert hydrant.report_window_s == 3600.0
    smoke = policy.thresholds_for(DeviceKind.SMOKE_DETECTOR, {}, "device S1")
    assert smoke.report_window_s == 86_400.0
    assert smoke.offline_grace_s == 7200.0
    mains = policy.thresholds_for(DeviceKind.HYDRANT, {"pressure_min_mpa": 0.14}, "device H2")
    assert mains.pressure_min_mpa == 0.14
    assert mains.pressure_max_mpa == 1.0


def test_levels_and_lookups() -> None:
    policy = load_policy()
    assert [policy.level(c) for c in ("green", "yellow", "red")] == [0, 1, 2]
    assert policy.level(UNKNOWN) == -1
    assert policy.level(NOT_ASSESSED) == -2
    assert policy.colour("yellow") is not None
    assert policy.colour("grey") is None
    assert policy.check_code("Y10") == "Y10"
    with pytest.raises(ValueError, match=r"unknown criterion 'Y16'.*municipal-3colour.*R1, R2"):
        policy.check_code("Y16")


# -- a second policy --------------------------------------------------------------------------------------


def test_four_colour_policy_loads_and_extends_the_default() -> None:
    four = builtin_policy("four_colour")
    default = load_policy()
    assert four.id == "example-4colour"
    assert four.colour_ids == ["green", "grey", "yellow", "red"]
    assert [four.level(c) for c in four.colour_ids] == [0, 1, 2, 3]
    assert four.colour("grey") is not None
    # Inherited from the default file.
    assert four.criteria == default.criteria
    assert four.signals == default.signals
    assert four.counted == default.counted
    assert four.timezone == "Asia/Shanghai"
    # Its own, merged key by key with the default's tables.
    # Grey is the office's out-of-use state, not a count of items: the rules are the default's.
    assert four.out_of_use_colour == "grey"
    assert default.out_of_use_colour is None
    assert four.grade_rules == default.grade_rules
    # Its own, merged key by key with the default's tables.
    assert four.deadline_for("R1") == timedelta(hours=12)
    assert four.deadline_for("Y1") == timedelta(days=15)
    assert four.deadlines.escalate_every == timedelta(days=7)
    assert four.tolerance_for(DeviceKind.SMOKE_DETECTOR).min_healthy_share == 0.90
    assert four.tolerance_for(DeviceKind.HYDRANT).max_failed == 0
    assert four != default


def test_four_colour_file_loads_by_path() -> None:
    path = Path(str(resources.files("rules.policies").joinpath("four_colour.toml")))
    assert load_policy(path) == builtin_policy("four_colour")


def test_a_copy_of_the_default_in_tmp_path_loads(tmp_path: Path) -> None:
    path = policy_file(tmp_path, default_text().replace('version = "2026.2"', 'version = "2026.2-local"'))
    policy = load_policy(path)
    assert policy.version == "2026.2-local"
    assert policy.criteria == load_policy().criteria


def test_a_small_policy_extending_the_default_loads_from_tmp_path(tmp_path: Path) -> None:
    path = policy_file(
        tmp_path,
        """
extends = "default"
id = "strict"
[deadlines]
yellow = "7d"
[thresholds.hydrant]
pressure_min_mpa = 0.10
""",
    )
    policy = load_policy(str(path))
    assert policy.id == "strict"
    assert policy.deadline_for("Y3") == timedelta(days=7)
    assert policy.deadline_for("R3") == timedelta(hours=24)
    hydrant = policy.thresholds_for(DeviceKind.HYDRANT, {}, "device H1")
    assert hydrant.pressure_min_mpa == 0.10
    assert hydrant.pressure_hold_s == 300.0  # the rest of the default's table is kept


# -- broken policies --------------------------------------------------------------------------------------


WHY = {"zh": "测试", "en": "test"}

BROKEN = """
extends = "default"
id = "broken"
timezone = "Mars/Olympus"

[[grade_rules]]
colour = "purple"
count = "red_items"
at_least = 1
why = { zh = "紫色", en = "purple" }

[deadlines]
red = "soon"

[signals.smoke_detector]
offline = ["Y99"]

[thresholds.hydrant]
pressure_minimum = 0.1
"""


def test_a_broken_policy_lists_every_problem_at_once(tmp_path: Path) -> None:
    path = policy_file(tmp_path, BROKEN)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    problems = info.value.problems
    expected = {
        "deadlines.red": "soon",
        "grade_rules.0.colour": "purple",
        "signals.smoke_detector.offline": "Y99",
        "thresholds.hydrant": "pressure_minimum",
        "timezone": "Mars/Olympus",
    }
    for key, word in expected.items():
        assert any(p.startswith(f"{key}:") and word in p for p in problems), (key, problems)
    assert len(problems) == len(expected), problems
    message = str(info.value)
    assert message.startswith(f"{path}: invalid policy")
    assert all(p in message for p in problems)


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"signals": {"smoke_detector": {"tamper": ["Z1"]}}}, "signals.smoke_detector.tamper"),
        ({"signals": {"smoke": {"tamper": ["Y10"]}}}, "signals.smoke"),
        ({"signals": {"hydrant": {"offline": ["Y10"]}}}, "signals.hydrant.offline"),
        ({"contradicts": {"Y1": ["Y2"]}}, "contradicts.Y1"),
        ({"conditions": {"G9": {"valid_for": "1d", "source": {"zh": "x", "en": "x"}}}}, "conditions.G9"),
        (
            {
                "conditions": {
                    "G2": {"valid_for": "1d", "evidence": ["selfie"], "source": {"zh": "x", "en": "x"}}
                }
            },
            "conditions.G2",
        ),
        ({"out_of_use_colour": "grey"}, "out_of_use_colour"),
        ({"default": "blue"}, "default"),
        (
            {"counted": [{"source": "complaints", "window": "365d", "at_least": 1, "criterion": "Y30"}]},
            "counted.0",
        ),
        (
            {"counted": [{"source": "tweets", "window": "365d", "at_least": 1, "criterion": "Y14"}]},
            "counted.0",
        ),
        ({"deadlines": {"yellow": "30 days"}}, "deadlines.yellow"),
        ({"thresholds": {"hydrant": {"pressure_max_mpa": -1.0}}}, "thresholds.hydrant"),
        ({"thresholds": {"sprinkler": {"pressure_max_mpa": 1.0}}}, "thresholds.sprinkler"),
        ({"tolerance": {"smoke_detector": {"min_healthy_share": 1.5}}}, "tolerance.smoke_detector"),
        ({"timezone": "Beijing"}, "timezone"),
        ({"criteria": {"y16": {"zh": "x", "en": "x"}}}, "criteria.y16"),
        (
            {"grade_rules": [{"colour": "red", "count": "blue_items", "at_least": 1, "why": WHY}]},
            "grade_rules.0.count",
        ),
        (
            {"grade_rules": [{"colour": "red", "count": "red_items", "at_least": 0, "why": WHY}]},
            "grade_rules.0.at_least",
        ),
        ({"grade_rules": [{"colour": "red", "count": "red_items", "at_least": 1}]}, "grade_rules.0.why"),
        (
            {"colours": [{"id": "green", "zh": "绿色", "en": "green", "meaning": {"zh": "低", "en": "low"}}]},
            "colours",
        ),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_each_kind_of_problem_is_reported_with_its_key(patch: dict[str, object], key: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy({"extends": "default", **patch}, source="test.toml")
    assert any(p.startswith(key) for p in info.value.problems), info.value.problems
    assert str(info.value).startswith("test.toml: invalid policy")


def test_cross_references_are_checked_alongside_field_errors() -> None:
    """A table with a field error does not hide the unknown criteria and colours elsewhere."""
    with pytest.raises(PolicyError) as info:
        parse_policy(
            {
                "extends": "default",
                "tolerance": {"hydrant": {"max_failed": -1}},
                "signals": {"smoke_detector": {"tamper": ["Y99"], "bogus": ["Y1"]}},
                "default": "beige",
            }
        )
    keys = sorted(p.split(":")[0] for p in info.value.problems)
    assert keys == [
        "default",
        "signals.smoke_detector.bogus.[key]",
        "signals.smoke_detector.tamper",
        "tolerance.hydrant.max_failed",
    ]


def test_a_required_field_error_still_reports_the_field() -> None:
    data = tomllib.loads(default_text())
    del data["criteria"]
    with pytest.raises(PolicyError) as info:
        parse_policy(data)
    assert [p.split(":")[0] for p in info.value.problems] == ["criteria"]


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.toml")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(policy_file(tmp_path, "id = [unterminated"))
    with pytest.raises(PolicyError, match="extends: no built-in policy 'nope'"):
        load_policy(policy_file(tmp_path, 'extends = "nope"\n'))
    with pytest.raises(ValueError, match="no built-in policy"):
        builtin_policy("nope")


def test_policy_model_is_frozen() -> None:
    policy = load_policy()
    with pytest.raises(ValueError, match="frozen"):
        policy.default = "red"  # type: ignore[misc]
    assert isinstance(policy, Policy)


# -- durations and tolerances -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 30 * 86_400),
        ("24h", 86_400),
        ("90m", 5400),
        ("90min", 5400),
        ("45s", 45),
        ("2w", 14 * 86_400),
        (" 1.5h ", 5400),
        (60, 60),
        (2.5, 2.5),
        (timedelta(hours=1), 3600),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["soon", "30 days", "5y", "-3d", "", True, None, [1]])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


def test_tolerance_by_count_and_by_share() -> None:
    none = Tolerance(max_failed=0)
    assert not none.exceeded(0, 10)
    assert none.exceeded(1, 10)
    two = Tolerance(max_failed=2)
    assert not two.exceeded(2, 10)
    assert two.exceeded(3, 10)
    share = Tolerance(min_healthy_share=0.95)
    assert not share.exceeded(5, 100)  # 95 % healthy: still fine
    assert share.exceeded(6, 100)
    assert share.exceeded(1, 10)  # 90 % healthy
    assert not share.exceeded(0, 0)
    assert share.exceeded(1, 0)  # no registry count: any failure counts
