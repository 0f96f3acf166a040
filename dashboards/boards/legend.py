"""How the boards name and colour what the rule layer writes, and the limits their colour scales switch at.

Every value a panel maps to a text and a colour (grades, device signals, hazard states, alarm outcomes,
device kinds, fire-lane states) and every limit a threshold line or colour step is drawn at is defined here
once, for all boards. The limits come from ``rules.thresholds`` (hydrant pressure, low battery, fire-lane
repeats) and the criterion texts from the default grading policy, so the dashboards and the rules cannot
disagree; a new signal or state in the rule layer is named here.
"""

from __future__ import annotations

from dashboards.influxql import DEVICE_KINDS
from dashboards.panels import thresholds
from rules.policy import builtin_policy
from rules.thresholds import Thresholds

DEFAULTS = Thresholds()
PRESSURE_MIN = DEFAULTS.pressure_min_mpa
PRESSURE_MAX = DEFAULTS.pressure_max_mpa
LOW_BATTERY = DEFAULTS.low_battery_pct
#: Micro fire stations: 1 minute to respond, 3 to arrive, 5 to handle (seed 001, docs/rules.md).
ACK_TARGET_S, ARRIVAL_TARGET_S, HANDLED_TARGET_S = 60, 180, 300

#: Grade colour id -> (text, colour). ``not_assessed`` (未评定: no current assessment, or a green condition's
#: evidence due) and ``unknown`` (未知: every device silent) are the engine's own colours, never green: a pale
#: slate and a mid grey. ``grey`` is the four-colour policy's 停租停用 (out of use, set by the office).
GRADES = {
    "red": ("红 Red", "red"),
    "yellow": ("黄 Yellow", "yellow"),
    "green": ("绿 Green", "green"),
    "unknown": ("未知 Unknown", "#8e8e8e"),
    "not_assessed": ("未评定 Not assessed", "#b7c3d0"),
    "grey": ("灰 停租停用 Out of use", "#5a5f66"),
}
#: The default policy's ``grade_level`` of each colour: 2 red, 1 yellow, 0 green, -1 unknown, -2 not assessed.
LEVEL_OF = {"red": 2, "yellow": 1, "green": 0, "unknown": -1, "not_assessed": -2}
GRADE_LEVELS = {str(level): GRADES[colour] for colour, level in LEVEL_OF.items()}
#: The same colours by ``grade_level``, for markers on the map and coloured cells.
GRADE_STEPS = thresholds(
    GRADES["not_assessed"][1], (-1, GRADES["unknown"][1]), (0, "green"), (1, "yellow"), (2, "red")
)
#: Monitoring coverage (share of monitored devices without a monitoring fault) and "assessed" flags.
COVERAGE_STEPS = thresholds("red", (0.8, "orange"), (0.95, "green"))
ASSESSED = {
    "true": ("已排查登记 Assessed", "blue"),
    "false": ("未排查登记或已过期 Not assessed", GRADES["not_assessed"][1]),
}
SIGNALS = {
    "offline": ("离线 Offline", "#8e8e8e"),
    "device_fault": ("设备故障 Fault", "orange"),
    "tamper": ("被拆除 Tamper", "orange"),
    "low_battery": ("低电量 Low battery", "yellow"),
    "comm_fault": ("通信中断 Comm fault", "#8e8e8e"),
    "hydrant_low_pressure": ("水压过低 Low pressure", "red"),
    "hydrant_high_pressure": ("水压过高 High pressure", "red"),
    "hydrant_pressure_drop": ("水压骤降 Pressure drop", "red"),
    "hydrant_sensor_fault": ("传感器故障 Sensor fault", "orange"),
    "hydrant_leak": ("漏水 Leak", "orange"),
    "fire_lane_occupied": ("消防通道占用 Fire lane occupied", "red"),
    "evacuation_blocked": ("疏散通道堵塞 Evacuation blocked", "red"),
    "ebike_in_lift": ("电动车进电梯 E-bike in lift", "orange"),
}
LANE_EVENTS = {k: SIGNALS[k][0] for k in ("fire_lane_occupied", "evacuation_blocked", "ebike_in_lift")}
HAZARD_STATES = {
    "reported": ("已上报 Reported", "red"),
    "dispatched": ("已分派 Dispatched", "orange"),
    "rectifying": ("整改中 Rectifying", "yellow"),
    "rectified": ("已整改 Rectified", "blue"),
    "closed": ("已销号 Closed", "green"),
}
OUTCOMES = {
    "open": ("处置中 Open", "red"),
    "real_fire": ("真实火警 Real fire", "dark-red"),
    "false_alarm": ("误报 False alarm", "yellow"),
    "test": ("测试 Test", "blue"),
    "fault": ("设备故障 Fault", "orange"),
}
#: False-alarm causes (``rules.lifecycle.FalseAlarmCause``): the ``cause`` tag of a false alarm's point.
CAUSES = {
    "cooking_smoke": ("烹饪油烟 Cooking smoke", "orange"),
    "steam": ("水蒸气 Steam", "light-blue"),
    "dust": ("灰尘 Dust", "yellow"),
    "insects": ("昆虫 Insects", "green"),
    "device_fault": ("设备故障 Device fault", "red"),
    "test": ("测试 Test", "blue"),
    "other": ("其他 Other", "purple"),
}
KIND_TEXT = {k: (v, "text") for k, v in DEVICE_KINDS.items()}
ACTIVE = {"1": ("异常 Active", "red"), "0": ("恢复 Resolved", "green")}
LANE_STATES = {"start": ("占用 Occupied", "red"), "end": ("畅通 Clear", "green")}

PRESSURE_UNIT = "suffix: MPa"
PRESSURE_STEPS = thresholds("red", (PRESSURE_MIN, "green"), (PRESSURE_MAX, "red"))
SHARE_STEPS = thresholds("red", (0.8, "orange"), (0.95, "green"))
BATTERY_STEPS = thresholds("red", (LOW_BATTERY, "orange"), (40, "green"))


def criterion_texts() -> dict[str, tuple[str, str]]:
    """Criterion code -> "Y10 未按照国家标准…" from the default grading policy (the one the gateway runs)."""
    colours = {"R": "red", "Y": "yellow", "G": "green"}
    return {
        code: (f"{code} {c.zh}", colours.get(code[0], "text"))
        for code, c in builtin_policy("default").criteria.items()
    }
