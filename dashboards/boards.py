"""The fire brigade's dashboards: what each panel answers, and the InfluxQL that answers it.

Every query reads the measurements of docs/schema.md and nothing else. Three patterns recur, because the
rule layer writes *transitions* and *repeats*, not current state:

- **"Now"** (grades, device counts): ``estate_grade`` and ``estate_devices`` repeat every 5 minutes, so the
  last point of each estate within the last 15 minutes is the current state (``NOW``); an estate silent for
  longer drops out of the "now" numbers rather than being shown with an old colour.
- **Currently active signals**: ``device_signal`` is written when a signal becomes active or resolves, so
  the current state of a (device, signal) is its last point ever, with no time filter (a detector offline
  for a month is still offline today), filtered on ``active = 1`` in an outer query.
- **Open hazards and active alarms**: ``hazard_id`` and ``alarm_id`` are fields, not tags, so InfluxQL
  cannot take "the last state per hazard". Counting works: distinct ids that were ever reported minus
  distinct ids that were closed (two subqueries in one ``FROM``, summed). Lists of them (overdue hazards,
  active alarms) group by id in Grafana with transformations.

Thresholds come from ``rules.thresholds`` (hydrant pressure, low battery, fire-lane repeats) and the
criterion texts from the default grading policy, so the dashboards and the rules cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import dashboard as dm

from dashboards.influxql import (
    DEVICE_KINDS,
    KIND,
    PLACE,
    PLACE_NO_STREET,
    Q,
    custom_variable,
    device_variable,
    district_variable,
    estate_variable,
    kind_variable,
    street_variable,
)
from dashboards.panels import (
    Board,
    bargauge,
    column,
    geomap,
    histogram,
    organize,
    series,
    stat,
    state_timeline,
    table,
    thresholds,
    timeseries,
    transformation,
)
from rules.policy import builtin_policy
from rules.thresholds import Thresholds

FOLDER_TITLE = "Fire safety"
FOLDER_UID = "fire-safety"
TAGS = ["firegw", "fire-safety"]

#: Rule-layer repeats come every 5 minutes (``[rules] grade_repeat_s``): three of them is "now".
NOW = "time > now() - 15m"
#: Grafana's time picker and automatic bucket, substituted by Grafana (and by the tests).
RANGE = "$timeFilter"
BUCKET = "$__interval"

DEFAULTS = Thresholds()
PRESSURE_MIN = DEFAULTS.pressure_min_mpa
PRESSURE_MAX = DEFAULTS.pressure_max_mpa
LOW_BATTERY = DEFAULTS.low_battery_pct
#: Micro fire stations: 1 minute to respond, 3 to arrive, 5 to handle (seed 001, docs/rules.md).
ACK_TARGET_S, ARRIVAL_TARGET_S, HANDLED_TARGET_S = 60, 180, 300

GRADES = {
    "red": ("红 Red", "red"),
    "yellow": ("黄 Yellow", "yellow"),
    "green": ("绿 Green", "green"),
    "unknown": ("未知 Unknown", "#8e8e8e"),
}
GRADE_LEVELS = {"2": GRADES["red"], "1": GRADES["yellow"], "0": GRADES["green"], "-1": GRADES["unknown"]}
#: The same colours by ``grade_level`` (-1 unknown, 0 green, 1 yellow, 2 red), for markers on the map.
GRADE_STEPS = thresholds(GRADES["unknown"][1], (0, "green"), (1, "yellow"), (2, "red"))
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


def _dashboard(uid: str, title: str, description: str, variables: list[Any]) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .time("now-24h", "now")
        .refresh("1m")
        .timezone("browser")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .readonly()
        .annotations([])  # Grafana adds its built-in annotation query to an empty list, not to a missing one
        .link(
            dash.DashboardLink("消防看板 Fire safety")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags(["firegw"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
            .target_blank(False)
            .icon("external link")
            .tooltip("")
            .url("")
        )
        .variables(variables)
    )


def _places(*extra: Any) -> list[Any]:
    return [district_variable(), street_variable(), estate_variable(), *extra]


# ==================================================================================== city overview


def _grade_now(level: int) -> Q:
    return Q(
        f"""SELECT count("grade_level") FROM (
              SELECT last("grade_level") AS "grade_level" FROM "estate_grade"
              WHERE {NOW} AND {PLACE} GROUP BY "estate")
            WHERE "grade_level" = {level}"""
    )


def _grade_over_time(level: int, ref: str, name: str) -> Q:
    """Estates of one grade per interval. No ``fill(previous)`` inside: the 5-minute repeat puts a point of
    every live estate in every interval of at least 5 minutes (the panel's minimum), and InfluxDB 1.x
    returns duplicated, uncounted rows when a subquery fills per tag that the outer query does not group
    by (tests/test_dashboards.py checks both)."""
    return Q(
        f"""SELECT count("grade_level") FROM (
              SELECT last("grade_level") AS "grade_level" FROM "estate_grade"
              WHERE {RANGE} AND {PLACE} GROUP BY time({BUCKET}), "estate")
            WHERE {RANGE} AND "grade_level" = {level} GROUP BY time({BUCKET}) fill(none)""",
        ref_id=ref,
        alias=name,
    )


def open_hazards_query(group_by: str = "") -> str:
    """Distinct hazards ever reported minus distinct hazards closed: the open ones, in one InfluxQL query."""
    group = f" GROUP BY {group_by}" if group_by else ""
    return f"""SELECT sum("n") AS "open" FROM
          (SELECT count(distinct("hazard_id")) AS "n" FROM "hazard"
             WHERE "state" = 'reported' AND {PLACE_NO_STREET}{group}),
          (SELECT count(distinct("hazard_id")) * -1 AS "n" FROM "hazard"
             WHERE "state" = 'closed' AND {PLACE_NO_STREET}{group}){group}"""


ACTIVE_ALARMS = f"""SELECT sum("n") AS "active" FROM
      (SELECT count(distinct("alarm_id")) AS "n" FROM "alarm" WHERE "outcome" = 'open' AND {PLACE_NO_STREET}),
      (SELECT count(distinct("alarm_id")) * -1 AS "n" FROM "alarm"
         WHERE "outcome" != 'open' AND {PLACE_NO_STREET})"""


def _latest_by(key: str, fields: dict[str, str]) -> dm.DataTransformerConfig:
    """Grafana ``groupBy``: one row per ``key`` with the last non-empty value of every other column."""
    options: dict[str, Any] = {key: {"operation": "groupby", "aggregations": []}}
    for name in fields:
        options[name] = {"operation": "aggregate", "aggregations": ["lastNotNull"]}
    return transformation("groupBy", {"fields": options})


def _sort_by_time() -> dm.DataTransformerConfig:
    """Rows come series by series from InfluxDB; "last" below must mean last in time."""
    return transformation("sortBy", {"fields": {}, "sort": [{"field": "Time", "desc": False}]})


def _keep_rows(field: str, pattern: str) -> dm.DataTransformerConfig:
    return transformation(
        "filterByValue",
        {
            "type": "include",
            "match": "any",
            "filters": [{"fieldName": field, "config": {"id": "regex", "options": {"value": pattern}}}],
        },
    )


def _renamed(fields: dict[str, str], suffix: str = " (lastNotNull)") -> dm.DataTransformerConfig:
    return transformation(
        "organize",
        {
            "excludeByName": {},
            "indexByName": {},
            "renameByName": {f"{name}{suffix}": title for name, title in fields.items()},
        },
    )


def city_overview() -> dm.Dashboard:
    board = Board(
        _dashboard(
            "firegw-city-overview",
            "城市总览 City overview",
            "Estate fire-safety grades across the city: how many estates are red, yellow, green or unknown "
            "now and over time, why, the open and overdue hazards and the alarms still being handled. "
            "Generated by `firegw dashboards generate`; edit dashboards/boards.py, not this JSON.",
            _places(),
        )
    )
    board.row("现在 Now")
    for level, (text, colour) in zip((2, 1, 0, -1), GRADES.values(), strict=True):
        zh, en = text.split(" ")
        board.add(
            stat(
                f"{zh}色小区 {en} estates" if level >= 0 else "等级未知 Unknown grade",
                f"Estates whose latest grade (within the last 15 minutes) is {en.lower()}. "
                + (
                    "Unknown means the estate's devices or the gateway have been silent for longer than "
                    "their reporting windows: never shown as green."
                    if level < 0
                    else "Grades repeat every 5 minutes, so an estate missing here has gone silent."
                ),
                _grade_now(level),
                color=colour,
            ),
            4,
            4,
        )
    board.add(
        stat(
            "未关闭隐患 Open hazards",
            "Hazards reported and not yet closed (all time): distinct hazard ids reported minus those "
            "closed.",
            Q(open_hazards_query()),
            steps=thresholds("green", (1, "orange")),
        ),
        4,
        4,
    )
    board.add(
        stat(
            "处置中报警 Active alarms",
            "Alarms raised and not yet closed as real fire, false alarm, test or fault (all time).",
            Q(ACTIVE_ALARMS),
            steps=thresholds("green", (1, "red")),
        ),
        4,
        4,
    )

    board.row("等级 Grades")
    board.add(
        timeseries(
            "各等级小区数 Estates per grade",
            "How many estates held each grade, per interval (the last grade of each estate in it; the "
            "newest interval fills up as the 5-minute repeats arrive).",
            *(
                _grade_over_time(level, ref, text)
                for level, ref, (text, _) in zip((2, 1, 0, -1), "ABCD", GRADES.values(), strict=True)
            ),
            bars=True,
            stack=True,
            min_interval="5m",
            decimals=0,
            columns=[series(text, colour) for text, colour in GRADES.values()],
        ),
        12,
        9,
    )
    board.add(
        state_timeline(
            "小区等级变化 Grade history per estate",
            "Each estate's grade over the time range; hover for the time of each change. Reasons are in "
            "the table below and in the gateway (`firegw grades`).",
            Q(
                f"""SELECT last("grade") FROM "estate_grade" WHERE {RANGE} AND {PLACE}
                    GROUP BY time({BUCKET}), "estate" fill(previous)""",
                alias="$tag_estate",
            ),
            mappings=GRADES,
            min_interval="5m",
        ),
        12,
        9,
    )
    board.add(
        geomap(
            "小区分布 Estates on the map",
            "Every estate at its coordinates from the registry, coloured by its latest grade (within the "
            "last 15 minutes): red, yellow, green, grey for unknown. The gateway writes the coordinates "
            "with each grade; an estate without them in the registry, or silent for longer, is not shown.",
            Q(
                f"""SELECT last("grade_level") AS "grade_level", last("latitude") AS "latitude",
                      last("longitude") AS "longitude"
                    FROM "estate_grade" WHERE {NOW} AND {PLACE} GROUP BY "estate" """,
                table=True,
            ),
            latitude="latitude",
            longitude="longitude",
            color_field="grade_level",
            label_field="estate",
            steps=GRADE_STEPS,
            mappings=GRADE_LEVELS,
            layer="小区等级 Estate grades",
        ),
        10,
        11,
    )
    board.add(
        table(
            "红黄小区及原因 Red and yellow estates, with reasons",
            "Every estate whose latest grade is red or yellow, worst first, with the reasons the grading "
            "policy gives (criterion, device, measured value, since when).",
            Q(
                f"""SELECT "grade", "grade_level", "reasons", "red_items", "yellow_items", "missing_green",
                      "open_hazards" FROM (
                      SELECT last("grade") AS "grade", last("grade_level") AS "grade_level",
                        last("reasons") AS "reasons", last("red_items") AS "red_items",
                        last("yellow_items") AS "yellow_items", last("missing_green") AS "missing_green",
                        last("open_hazards") AS "open_hazards"
                      FROM "estate_grade" WHERE {NOW} AND {PLACE} GROUP BY "estate", "district", "street")
                    WHERE "grade_level" >= 1 GROUP BY "estate", "district", "street" """,
                table=True,
            ),
            transformations=[
                # The numeric level, shown as the colour, so that "worst first" sorts red above yellow.
                organize(
                    hide=("Time", "grade"),
                    order=(
                        "estate",
                        "grade_level",
                        "reasons",
                        "red_items",
                        "yellow_items",
                        "missing_green",
                        "open_hazards",
                        "district",
                        "street",
                    ),
                )
            ],
            columns=[
                column("estate", title="小区 Estate", width=90),
                column(
                    "grade_level",
                    title="等级 Grade",
                    width=90,
                    cell="color-background",
                    mappings=GRADE_LEVELS,
                ),
                column("reasons", title="原因 Reasons"),
                column("red_items", title="红项 Red items", width=80, decimals=0),
                column("yellow_items", title="黄项 Yellow items", width=80, decimals=0),
                column("missing_green", title="缺绿项 Missing green", width=90, decimals=0),
                column("open_hazards", title="未关闭隐患 Open hazards", width=100, decimals=0),
                column("district", title="区 District", width=90),
                column("street", title="街道 Street", width=110),
            ],
            sort_by="等级 Grade",
            footer_count=True,
        ),
        14,
        11,
    )

    board.row("隐患与报警 Hazards and alarms")
    criteria = criterion_texts()
    board.add(
        table(
            "未关闭隐患(按条款) Open hazards by criterion",
            "Open hazards per criterion of the grading standard (R = red items, Y = yellow items, G = green "
            "conditions missing), all time.",
            Q(open_hazards_query('"criterion"'), table=True),
            transformations=[organize(order=("criterion", "open"))],
            columns=[
                column("criterion", title="条款 Criterion", mappings=criteria),
                column(
                    "open",
                    title="未关闭 Open",
                    width=200,
                    cell="gauge",
                    decimals=0,
                    steps=thresholds("green", (1, "orange"), (5, "red")),
                ),
            ],
            sort_by="未关闭 Open",
        ),
        8,
        10,
    )
    overdue_fields = {
        "Time": "最近一次 Last change",
        "estate": "小区 Estate",
        "criterion": "条款 Criterion",
        "state": "状态 State",
        "detail": "隐患 Hazard",
        "device": "设备 Device",
    }
    board.add(
        table(
            "逾期隐患 Overdue hazards",
            "Hazards past their rectification deadline that are not rectified or closed, one row per "
            "hazard with its latest state (escalations repeat while a hazard stays overdue). Rows come "
            "from hazard transitions in the time range.",
            Q(
                f"""SELECT "hazard_id", "detail", "device", "overdue" FROM "hazard"
                    WHERE {RANGE} AND ("overdue" = true OR "state" = 'rectified' OR "state" = 'closed')
                      AND {PLACE_NO_STREET}
                    GROUP BY "estate", "criterion", "state" """,
                table=True,
            ),
            transformations=[
                _sort_by_time(),
                _latest_by("hazard_id", overdue_fields),
                _keep_rows("state (lastNotNull)", "^(reported|dispatched|rectifying)$"),
                _renamed(overdue_fields),
            ],
            columns=[
                column("hazard_id", title="编号 Id", width=70),
                column("条款 Criterion", mappings=criteria),
                column("状态 State", cell="color-text", mappings=HAZARD_STATES, width=120),
            ],
            sort_by="最近一次 Last change",
            footer_count=True,
        ),
        16,
        10,
    )
    alarm_fields = {
        "Time": "最近一步 Last step",
        "estate": "小区 Estate",
        "device": "探测器 Detector",
        "outcome": "结果 Outcome",
        "ack_s": "确认用时 Ack",
        "on_scene_s": "到场用时 On scene",
    }
    board.add(
        table(
            "处置中报警清单 Alarms being handled",
            "Alarms of the last 30 days whose latest step is still open (not closed as real fire, false "
            "alarm, test or fault), with the time each step took so far.",
            Q(
                f"""SELECT "alarm_id", "ack_s", "on_scene_s" FROM "alarm"
                    WHERE time > now() - 30d AND {PLACE_NO_STREET}
                    GROUP BY "estate", "device", "outcome" """,
                table=True,
            ),
            transformations=[
                _sort_by_time(),
                _latest_by("alarm_id", alarm_fields),
                _keep_rows("outcome (lastNotNull)", "^open$"),
                _renamed(alarm_fields),
            ],
            columns=[
                column("alarm_id", title="编号 Id", width=70),
                column("结果 Outcome", cell="color-text", mappings=OUTCOMES, width=120),
                column("确认用时 Ack", unit="s", steps=thresholds("green", (ACK_TARGET_S, "red"))),
                column("到场用时 On scene", unit="s", steps=thresholds("green", (ARRIVAL_TARGET_S, "red"))),
            ],
            sort_by="最近一步 Last step",
            footer_count=True,
        ),
        24,
        8,
    )
    return board.build()


# ==================================================================================== device health

DEVICES = f"{PLACE} AND {KIND}"
#: Device signals that mean "something is wrong with the device itself" (not its surroundings).
DEVICE_PROBLEMS = "^(device_fault|tamper|low_battery|comm_fault|hydrant_sensor_fault)$"


def _estate_devices_now(select: str, group_by: str = "") -> str:
    """Sum the latest ``estate_devices`` counts per (estate, kind) over the selection."""
    group = f" GROUP BY {group_by}" if group_by else ""
    return f"""SELECT {select} FROM (
          SELECT last("total") AS "total", last("online") AS "online", last("offline") AS "offline",
            last("faulty") AS "faulty", last("healthy_share") * last("total") AS "healthy"
          FROM "estate_devices" WHERE {NOW} AND {DEVICES} GROUP BY "estate", "kind"){group}"""


def _active_signals(signals: str, fields: str, where: str) -> str:
    """(device, signal) pairs whose latest ``device_signal`` point is active, with the chosen fields."""
    return f"""SELECT {fields} FROM (
          SELECT last("active") AS "active", last("since_s") * 1000 AS "since_ms", last("value") AS "value",
            last("detail") AS "detail"
          FROM "device_signal" WHERE "signal" =~ /{signals}/ AND {where}
          GROUP BY "device", "estate", "kind", "signal")
        WHERE "active" = 1 GROUP BY "device", "estate", "kind", "signal" """


SIGNAL_COLUMNS = [
    column("device", title="设备 Device", width=130),
    column("estate", title="小区 Estate", width=80),
    column("kind", title="类型 Kind", width=150, mappings=KIND_TEXT),
    column("signal", title="信号 Signal", width=190, cell="color-text", mappings=SIGNALS),
    column("since_ms", title="开始 Since", unit="dateTimeFromNow", width=120),
    column("value", title="数值 Value", width=80),
    column("detail", title="说明 Detail"),
]
SIGNAL_ORDER = ("device", "estate", "kind", "signal", "since_ms", "value", "detail")


def device_health() -> dm.Dashboard:
    board = Board(
        _dashboard(
            "firegw-device-health",
            "设备健康 Device health",
            "Are the devices able to warn? Online and healthy shares by kind and estate, devices offline "
            "longest, faults, tamper and low battery, battery and signal distributions. Generated by "
            "`firegw dashboards generate`; edit dashboards/boards.py, not this JSON.",
            _places(kind_variable()),
        )
    )
    board.row("现在 Now")
    board.add(
        stat(
            "在线率 Online share",
            "Devices online now out of all registered devices in the selection (the rule layer's 5-minute "
            "device counts; a device is offline after its reporting window plus grace).",
            Q(_estate_devices_now('sum("online") / sum("total")')),
            unit="percentunit",
            steps=SHARE_STEPS,
            decimals=1,
            no_value="—",
        ),
        6,
        4,
    )
    board.add(
        stat(
            "完好率 Healthy share",
            "Devices online with no active fault, tamper, low battery or pressure signal: the facility "
            "intact rate (设施完好率) property companies are assessed on.",
            Q(_estate_devices_now('sum("healthy") / sum("total")')),
            unit="percentunit",
            steps=SHARE_STEPS,
            decimals=1,
            no_value="—",
        ),
        6,
        4,
    )
    board.add(
        stat(
            "离线设备 Offline devices",
            "Devices offline now.",
            Q(_estate_devices_now('sum("offline")')),
            steps=thresholds("green", (1, "orange")),
        ),
        6,
        4,
    )
    board.add(
        stat(
            "异常设备 Devices with a problem",
            "Devices with any active signal other than offline (fault, tamper, low battery, pressure...).",
            Q(_estate_devices_now('sum("faulty")')),
            steps=thresholds("green", (1, "orange")),
        ),
        6,
        4,
    )

    board.row("在线率 Online share")
    board.add(
        bargauge(
            "在线率(按类型) Online share by kind",
            "Devices online now per device kind.",
            Q(_estate_devices_now('sum("online") / sum("total")', '"kind"'), alias="$tag_kind"),
            unit="percentunit",
            steps=SHARE_STEPS,
            min_value=0,
            max_value=1,
            decimals=1,
        ),
        8,
        8,
    )
    board.add(
        table(
            "在线率(按小区) Online share by estate",
            "Per estate: devices, online, offline, with a problem, and the online share, lowest first.",
            Q(
                _estate_devices_now(
                    'sum("total") AS "total", sum("online") AS "online", sum("offline") AS "offline", '
                    'sum("faulty") AS "faulty", sum("online") / sum("total") AS "online_share"',
                    '"estate"',
                ),
                table=True,
            ),
            transformations=[
                organize(order=("estate", "online_share", "total", "online", "offline", "faulty"))
            ],
            columns=[
                column("estate", title="小区 Estate", width=90),
                column(
                    "online_share",
                    title="在线率 Online share",
                    unit="percentunit",
                    cell="gauge",
                    steps=SHARE_STEPS,
                    decimals=1,
                ),
                column("total", title="设备 Devices", width=80, decimals=0),
                column("online", title="在线 Online", width=80, decimals=0),
                column("offline", title="离线 Offline", width=80, decimals=0),
                column("faulty", title="异常 Problem", width=80, decimals=0),
            ],
            sort_by="在线率 Online share",
            descending=False,
        ),
        16,
        8,
    )
    board.add(
        timeseries(
            "在线率趋势 Online share over time",
            "Devices online out of all, per kind, over the time range (5-minute device counts).",
            Q(
                f"""SELECT sum("online") / sum("total") FROM (
                      SELECT last("online") AS "online", last("total") AS "total" FROM "estate_devices"
                      WHERE {RANGE} AND {DEVICES} GROUP BY time({BUCKET}), "estate", "kind")
                    WHERE {RANGE} GROUP BY time({BUCKET}), "kind" """,
                alias="$tag_kind",
            ),
            unit="percentunit",
            min_interval="5m",
            steps=SHARE_STEPS,
            threshold_lines=True,
        ),
        24,
        8,
    )

    board.row("离线与故障 Offline and faults")
    board.add(
        table(
            "离线最久 Devices offline longest",
            "Devices offline now, longest first: since when nothing has been heard (the rule layer's "
            "offline signal, written when it starts and when the device is heard again).",
            Q(_active_signals("^offline$", '"since_ms", "detail"', DEVICES), table=True),
            transformations=[organize(hide=("Time", "signal"), order=SIGNAL_ORDER)],
            columns=SIGNAL_COLUMNS,
            sort_by="开始 Since",
            descending=False,
            footer_count=True,
        ),
        12,
        10,
    )
    board.add(
        table(
            "故障、拆除、低电量 Faults, tamper, low battery",
            "Devices with an active fault, tamper, low-battery or communication signal now, oldest first.",
            Q(_active_signals(DEVICE_PROBLEMS, '"since_ms", "value", "detail"', DEVICES), table=True),
            transformations=[organize(order=SIGNAL_ORDER)],
            columns=SIGNAL_COLUMNS,
            sort_by="开始 Since",
            descending=False,
            footer_count=True,
        ),
        12,
        10,
    )
    board.add(
        timeseries(
            "故障、拆除、低电量事件 Fault, tamper and low-battery reports",
            "What the devices themselves reported, per interval (device_event), before any hold time.",
            Q(
                f"""SELECT sum("count") FROM "device_event"
                    WHERE "event" =~ /^(fault|tamper|low_battery|comm_fault|offline)$/ AND {RANGE}
                      AND {DEVICES}
                    GROUP BY time({BUCKET}), "event" fill(none)""",
                alias="$tag_event",
            ),
            bars=True,
            stack=True,
            decimals=0,
            columns=[
                series("fault", "orange", title="故障 Fault"),
                series("tamper", "purple", title="拆除 Tamper"),
                series("low_battery", "yellow", title="低电量 Low battery"),
                series("comm_fault", "#8e8e8e", title="通信中断 Comm fault"),
                series("offline", "blue", title="离线 Offline"),
            ],
        ),
        12,
        8,
    )
    board.add(
        state_timeline(
            "设备信号 Device signals over time",
            "Every rule signal that was active in the time range, per device: red while active.",
            Q(
                f"""SELECT last("active") FROM "device_signal" WHERE {RANGE} AND {DEVICES}
                    GROUP BY time({BUCKET}), "device", "signal" fill(previous)""",
                alias="$tag_device $tag_signal",
            ),
            mappings=ACTIVE,
            min_interval="1m",
        ),
        12,
        8,
    )

    board.row("电池与信号 Battery and signal")
    board.add(
        histogram(
            "电池电量分布 Battery distribution",
            "Latest battery level of every battery-powered device in the range (smoke detectors, hydrant "
            f"sensors). Detectors report low battery at about {LOW_BATTERY:g} %.",
            Q(
                f"""SELECT last("battery_pct") AS "battery_pct" FROM "smoke_detector", "hydrant"
                    WHERE {RANGE} AND {DEVICES} GROUP BY "device" """,
                table=True,
            ),
            unit="percent",
            bucket_size=5,
            color="green",
        ),
        8,
        8,
    )
    board.add(
        histogram(
            "信号强度分布 Signal strength distribution",
            "Latest NB-IoT signal strength (RSRP, dBm) of every smoke detector in the range; below about "
            "-110 dBm messages start to get lost.",
            Q(
                f"""SELECT last("signal_dbm") AS "signal_dbm" FROM "smoke_detector"
                    WHERE {RANGE} AND {DEVICES} GROUP BY "device" """,
                table=True,
            ),
            unit="dBm",
            bucket_size=5,
            color="blue",
        ),
        8,
        8,
    )
    board.add(
        table(
            "电量最低 Lowest battery",
            "Devices by latest battery level, lowest first.",
            Q(
                f"""SELECT last("battery_pct") AS "battery_pct" FROM "smoke_detector", "hydrant"
                    WHERE {RANGE} AND {DEVICES} GROUP BY "device", "estate", "kind" """,
                table=True,
            ),
            transformations=[organize(order=("device", "estate", "kind", "battery_pct"))],
            columns=[
                column("device", title="设备 Device", width=130),
                column("estate", title="小区 Estate", width=80),
                column("kind", title="类型 Kind", mappings=KIND_TEXT, width=150),
                column(
                    "battery_pct",
                    title="电量 Battery",
                    unit="percent",
                    cell="gauge",
                    steps=BATTERY_STEPS,
                    decimals=0,
                ),
            ],
            sort_by="电量 Battery",
            descending=False,
        ),
        8,
        8,
    )
    return board.build()


# ==================================================================================== hydrant pressure

HYDRANTS = f'{PLACE} AND "device" =~ /^$hydrant$/'
HYDRANT_SIGNALS = "^(hydrant_.*|offline|comm_fault)$"


def hydrant_pressure() -> dm.Dashboard:
    board = Board(
        _dashboard(
            "firegw-hydrant-pressure",
            "消火栓水压 Hydrant pressure",
            "Water pressure at every monitored hydrant against the minimum and maximum of GB 50974-2014, and "
            "the hydrants failing now. Generated by `firegw dashboards generate`; edit "
            "dashboards/boards.py, not this JSON.",
            _places(device_variable("hydrant", "消火栓 Hydrant", "hydrant")),
        )
    )
    limits = (
        f"Dashed lines: the default minimum {PRESSURE_MIN:.2f} MPa (GB 50974-2014 §5.2.2, static pressure at "
        f"the least favourable point) and maximum {PRESSURE_MAX:.2f} MPa (§7.4.12). Hydrants with their own "
        "thresholds in the registry (outdoor on the mains 0.14 MPa, above 100 m 0.15 MPa) are judged by "
        "those: the failing-hydrant table is authoritative."
    )
    board.row("现在 Now")
    board.add(
        stat(
            "故障消火栓 Hydrants failing now",
            "Hydrants with any active rule signal now: low or high pressure, sudden drop, sensor fault, "
            "leak, "
            "offline or Modbus communication fault (each hydrant counted once).",
            Q(
                f"""SELECT count("failing") FROM (
                      SELECT max("active") AS "failing" FROM (
                        SELECT last("active") AS "active" FROM "device_signal"
                        WHERE "kind" = 'hydrant' AND "signal" =~ /{HYDRANT_SIGNALS}/ AND {HYDRANTS}
                        GROUP BY "device", "signal")
                      GROUP BY "device")
                    WHERE "failing" = 1"""
            ),
            steps=thresholds("green", (1, "red")),
        ),
        6,
        4,
    )
    board.add(
        stat(
            "在报消火栓 Hydrants reporting",
            "Hydrants that sent a pressure value in the last hour. A failed Modbus poll writes no value, "
            "so a "
            "dead sensor drops out here instead of showing its last pressure.",
            Q(
                f"""SELECT count("p") FROM (
                      SELECT last("pressure_mpa") AS "p" FROM "hydrant" WHERE time > now() - 1h AND {HYDRANTS}
                      GROUP BY "device")"""
            ),
            color="blue",
        ),
        6,
        4,
    )
    board.add(
        stat(
            "最低水压 Lowest pressure now",
            "The lowest latest pressure among the hydrants that reported in the last hour.",
            Q(
                f"""SELECT min("p") FROM (
                      SELECT last("pressure_mpa") AS "p" FROM "hydrant" WHERE time > now() - 1h AND {HYDRANTS}
                      GROUP BY "device")"""
            ),
            unit=PRESSURE_UNIT,
            steps=PRESSURE_STEPS,
            decimals=2,
            no_value="—",
        ),
        6,
        4,
    )
    board.add(
        stat(
            "最高水压 Highest pressure now",
            "The highest latest pressure among the hydrants that reported in the last hour.",
            Q(
                f"""SELECT max("p") FROM (
                      SELECT last("pressure_mpa") AS "p" FROM "hydrant" WHERE time > now() - 1h AND {HYDRANTS}
                      GROUP BY "device")"""
            ),
            unit=PRESSURE_UNIT,
            steps=PRESSURE_STEPS,
            decimals=2,
            no_value="—",
        ),
        6,
        4,
    )

    board.row("水压 Pressure")
    board.add(
        timeseries(
            "消火栓水压 Hydrant pressure",
            "Mean pressure per hydrant and interval. " + limits,
            Q(
                f"""SELECT mean("pressure_mpa") FROM "hydrant" WHERE {RANGE} AND {HYDRANTS}
                    GROUP BY time({BUCKET}), "device" fill(none)""",
                alias="$tag_device",
            ),
            unit=PRESSURE_UNIT,
            steps=PRESSURE_STEPS,
            threshold_lines=True,
            soft_min=0,
            decimals=2,
        ),
        16,
        10,
    )
    board.add(
        bargauge(
            "最新水压 Latest pressure",
            "Each hydrant's latest pressure in the range, coloured by the default limits.",
            Q(
                f"""SELECT last("pressure_mpa") FROM "hydrant" WHERE {RANGE} AND {HYDRANTS}
                    GROUP BY "device" """,
                alias="$tag_device",
            ),
            unit=PRESSURE_UNIT,
            steps=PRESSURE_STEPS,
            min_value=0,
            max_value=1.0,
            decimals=2,
        ),
        8,
        10,
    )

    board.row("故障 Failures")
    board.add(
        table(
            "当前故障消火栓 Hydrants currently failing",
            "Every active hydrant signal now, with the measured value (MPa for pressure signals), since "
            "when, and the rule's explanation. Judged with each hydrant's own thresholds.",
            Q(
                _active_signals(
                    HYDRANT_SIGNALS, '"since_ms", "value", "detail"', f"\"kind\" = 'hydrant' AND {HYDRANTS}"
                ),
                table=True,
            ),
            transformations=[organize(hide=("Time", "kind"), order=SIGNAL_ORDER)],
            columns=[
                *SIGNAL_COLUMNS[:5],
                column("value", title="水压 MPa", width=80, decimals=2),
                SIGNAL_COLUMNS[6],
            ],
            sort_by="开始 Since",
            descending=False,
            footer_count=True,
        ),
        24,
        8,
    )
    board.add(
        state_timeline(
            "水压异常时段 When hydrants failed",
            "Each hydrant signal over the time range: red while active.",
            Q(
                f"""SELECT last("active") FROM "device_signal"
                    WHERE {RANGE} AND "kind" = 'hydrant' AND {HYDRANTS}
                    GROUP BY time({BUCKET}), "device", "signal" fill(previous)""",
                alias="$tag_device $tag_signal",
            ),
            mappings=ACTIVE,
            min_interval="1m",
        ),
        12,
        8,
    )
    board.add(
        table(
            "区间水压 Pressure in the range",
            "Minimum, mean, maximum and latest pressure per hydrant over the time range, lowest minimum "
            "first.",
            Q(
                f"""SELECT min("pressure_mpa") AS "min", mean("pressure_mpa") AS "mean",
                      max("pressure_mpa") AS "max", last("pressure_mpa") AS "last"
                    FROM "hydrant" WHERE {RANGE} AND {HYDRANTS} GROUP BY "device", "estate" """,
                table=True,
            ),
            transformations=[organize(order=("device", "estate", "min", "mean", "max", "last"))],
            columns=[
                column("device", title="消火栓 Hydrant", width=120),
                column("estate", title="小区 Estate", width=80),
                *(
                    column(
                        name,
                        title=title,
                        unit=PRESSURE_UNIT,
                        decimals=2,
                        cell="color-text",
                        steps=PRESSURE_STEPS,
                    )
                    for name, title in (
                        ("min", "最低 Min"),
                        ("mean", "平均 Mean"),
                        ("max", "最高 Max"),
                        ("last", "最新 Last"),
                    )
                ),
            ],
            sort_by="最低 Min",
            descending=False,
        ),
        12,
        8,
    )
    return board.build()


# ==================================================================================== fire lanes

LANES = f'"event" =~ /^$type$/ AND "kind" = \'camera\' AND {PLACE} AND "device" =~ /^$camera$/'
LANE_SIGNALS = '"signal" =~ /^$type$/ AND "kind" = \'camera\' AND ' + f'{PLACE} AND "device" =~ /^$camera$/'


def _occupied_minutes(group_by: str) -> str:
    """Minutes each camera saw an occupation: 1-minute buckets whose last state is "start", carried
    forward until the "end" (``fill(previous)``), counted; a stop shorter than a minute counts as 0.

    The outer query must group by exactly the inner tags: InfluxDB 1.x fills across series when it does
    not, and counts nonsense (a city-wide total is therefore not offered)."""
    return f"""SELECT count("state") AS "minutes" FROM (
          SELECT last("state") AS "state" FROM "device_event" WHERE {RANGE} AND {LANES}
          GROUP BY time(1m), {group_by} fill(previous))
        WHERE {RANGE} AND "state" = 'start' GROUP BY {group_by}"""


def fire_lanes() -> dm.Dashboard:
    repeat = DEFAULTS.lane_repeat_count
    board = Board(
        _dashboard(
            "firegw-fire-lanes",
            "消防通道 Fire lanes",
            "Fire-lane, evacuation-route and lift cameras: occupations and how long they lasted per camera, "
            "the ones past the hold time now and the repeat offenders. Generated by `firegw dashboards "
            "generate`; edit dashboards/boards.py, not this JSON.",
            _places(
                custom_variable("type", "事件 Event", LANE_EVENTS),
                device_variable("camera", "摄像头 Camera", "device_event", "\"kind\" = 'camera'"),
            ),
        )
    )
    board.row("现在与区间 Now and in the range")
    board.add(
        stat(
            "占用次数 Occupations",
            "Occupations detected by the cameras in the time range (start of each detection, including "
            "short stops well under the hold time).",
            Q(
                f"""SELECT count("state") FROM "device_event"
                    WHERE {RANGE} AND {LANES} AND "state" = 'start'"""
            ),
            color="blue",
        ),
        6,
        4,
    )
    board.add(
        stat(
            "正在占用 Occupied now",
            "Cameras whose latest detection in the time range has started and not ended yet, however "
            "short (the rule layer's hold time is applied in the next panel).",
            Q(
                f"""SELECT count("state") FROM (
                      SELECT last("state") AS "state" FROM "device_event" WHERE {RANGE} AND {LANES}
                      GROUP BY "device", "event")
                    WHERE "state" = 'start'"""
            ),
            steps=thresholds("green", (1, "orange")),
        ),
        6,
        4,
    )
    board.add(
        stat(
            "超时占用(现在) Past hold time now",
            "Cameras whose lane is occupied past the hold time "
            f"({DEFAULTS.lane_occupied_hold_s / 60:g} min for fire lanes) or repeatedly, as decided by the "
            "rule layer, now.",
            Q(
                f"""SELECT count("active") FROM (
                      SELECT last("active") AS "active" FROM "device_signal" WHERE {LANE_SIGNALS}
                      GROUP BY "device", "signal")
                    WHERE "active" = 1"""
            ),
            steps=thresholds("green", (1, "red")),
        ),
        6,
        4,
    )
    board.add(
        stat(
            "屡次占用 Repeat offenders",
            "Cameras whose occupation was raised as a hazard signal at least twice in the time range "
            f"(the rules count occupations of {DEFAULTS.lane_repeat_min_s / 60:g} min or more; {repeat} in "
            f"{DEFAULTS.lane_repeat_window_s / 3600:g} h is a repeat).",
            Q(
                f"""SELECT count("raised") FROM (
                      SELECT count("active") AS "raised" FROM "device_signal"
                      WHERE {RANGE} AND {LANE_SIGNALS} AND "active" = 1 GROUP BY "device")
                    WHERE "raised" >= 2"""
            ),
            steps=thresholds("green", (1, "orange")),
        ),
        6,
        4,
    )

    board.row("每个摄像头 Per camera")
    board.add(
        timeseries(
            "占用事件 Occupations per camera",
            "Detections started per camera and interval.",
            Q(
                f"""SELECT count("state") FROM "device_event" WHERE {RANGE} AND {LANES} AND "state" = 'start'
                    GROUP BY time({BUCKET}), "device" fill(none)""",
                alias="$tag_device",
            ),
            bars=True,
            stack=True,
            decimals=0,
        ),
        12,
        9,
    )
    board.add(
        bargauge(
            "占用时长 Time occupied per camera",
            "Minutes each camera saw its lane occupied in the time range, longest first.",
            Q(_occupied_minutes('"device"'), alias="$tag_device"),
            unit="m",
            color="orange",
        ),
        12,
        9,
    )
    board.add(
        state_timeline(
            "占用时段 Occupied and clear, per camera",
            "Each detection from its start to its end: the length of a red bar is how long the lane was "
            "blocked.",
            Q(
                f"""SELECT "state" FROM "device_event" WHERE {RANGE} AND {LANES}
                    GROUP BY "device", "event" """,
                alias="$tag_device $tag_event",
            ),
            mappings=LANE_STATES,
        ),
        24,
        9,
    )
    board.add(
        table(
            "屡次占用排行 Repeat offenders",
            "Per camera over the time range: detections, minutes occupied, and how often the rule layer "
            "raised it as a hazard signal; worst first.",
            Q(
                f"""SELECT count("state") AS "detections" FROM "device_event"
                    WHERE {RANGE} AND {LANES} AND "state" = 'start' GROUP BY "device", "estate" """,
                ref_id="A",
                table=True,
            ),
            Q(_occupied_minutes('"device", "estate"'), ref_id="B", table=True),
            Q(
                f"""SELECT count("active") AS "raised" FROM "device_signal"
                    WHERE {RANGE} AND {LANE_SIGNALS} AND "active" = 1 GROUP BY "device", "estate" """,
                ref_id="C",
                table=True,
            ),
            transformations=[
                organize(),
                transformation("merge", {}),
                organize(hide=(), order=("device", "estate", "minutes", "detections", "raised")),
            ],
            columns=[
                column("device", title="摄像头 Camera", width=130),
                column("estate", title="小区 Estate", width=80),
                column(
                    "minutes",
                    title="占用时长 Minutes",
                    unit="m",
                    cell="gauge",
                    decimals=0,
                    steps=thresholds("green", (DEFAULTS.lane_occupied_hold_s / 60, "orange")),
                ),
                column("detections", title="检测次数 Detections", decimals=0),
                column(
                    "raised",
                    title="触发隐患信号 Raised",
                    decimals=0,
                    cell="color-text",
                    steps=thresholds("green", (1, "orange"), (2, "red")),
                ),
            ],
            sort_by="占用时长 Minutes",
        ),
        12,
        9,
    )
    board.add(
        table(
            "最近抓拍 Latest detections",
            "The latest detections with what was seen, the confidence and the snapshot reference.",
            Q(
                f"""SELECT "state", "object", "confidence", "snapshot", "event_id" FROM "device_event"
                    WHERE {RANGE} AND {LANES} GROUP BY "device", "estate", "event"
                    ORDER BY time DESC LIMIT 50""",
                table=True,
            ),
            transformations=[
                organize(
                    hide=(), order=("Time", "device", "estate", "event", "state", "object", "confidence")
                )
            ],
            columns=[
                column("Time", title="时间 Time", width=160),
                column("device", title="摄像头 Camera", width=120),
                column("estate", title="小区 Estate", width=70),
                column(
                    "event", title="事件 Event", mappings={k: (v, "text") for k, v in LANE_EVENTS.items()}
                ),
                column("state", title="状态 State", cell="color-text", mappings=LANE_STATES, width=110),
                column("object", title="目标 Object", width=80),
                column("confidence", title="置信度 Confidence", unit="percentunit", width=100),
                column("snapshot", title="抓拍 Snapshot"),
                column("event_id", title="编号 Id", width=140),
            ],
            sort_by="时间 Time",
        ),
        12,
        9,
    )
    return board.build()


# ==================================================================================== alarms

ALARMS = PLACE_NO_STREET
CLOSED = f"""\"outcome\" != 'open' AND {RANGE} AND {ALARMS}"""


def _within_target(field: str, target_s: int, ref: str, name: str) -> Q:
    """Share of closed alarms whose ``field`` was reached within the target: the mean of 1 (within) and 0
    (late), built from two subqueries because InfluxQL has no conditional expressions."""
    return Q(
        f"""SELECT mean("ok") FROM
              (SELECT "count" AS "ok" FROM "alarm" WHERE {CLOSED} AND "{field}" <= {target_s}),
              (SELECT "count" * 0 AS "ok" FROM "alarm" WHERE {CLOSED} AND "{field}" > {target_s})""",
        ref_id=ref,
        alias=name,
    )


def alarms() -> dm.Dashboard:
    board = Board(
        _dashboard(
            "firegw-alarms",
            "报警处置 Alarms",
            "Smoke alarms and how they were handled: counts, outcomes, and acknowledgement, arrival and "
            "handling times against the micro fire station targets of 1, 3 and 5 minutes. Generated by "
            "`firegw dashboards generate`; edit dashboards/boards.py, not this JSON.",
            _places(),
        )
    )
    board.row("数量 Counts")
    board.add(
        stat(
            "烟感报警 Smoke alarms",
            "Alarm messages from smoke detectors in the time range (device_event, before any handling).",
            Q(f"""SELECT sum("count") FROM "device_event" WHERE "event" = 'alarm' AND {RANGE} AND {PLACE}"""),
            color="orange",
        ),
        6,
        4,
    )
    board.add(
        stat(
            "处置中 Active alarms",
            "Alarms raised and not yet closed, all time.",
            Q(ACTIVE_ALARMS),
            steps=thresholds("green", (1, "red")),
        ),
        6,
        4,
    )
    board.add(
        stat(
            "真实火警 Real fires",
            "Alarms closed as a real fire in the time range (they count toward Y15 and, if fatal, R7).",
            Q(
                f"""SELECT count(distinct("alarm_id")) FROM "alarm"
                    WHERE "outcome" = 'real_fire' AND {RANGE} AND {ALARMS}"""
            ),
            color="dark-red",
        ),
        6,
        4,
    )
    board.add(
        stat(
            "误报 False alarms",
            "Alarms closed as false alarms in the time range.",
            Q(
                f"""SELECT count(distinct("alarm_id")) FROM "alarm"
                    WHERE "outcome" = 'false_alarm' AND {RANGE} AND {ALARMS}"""
            ),
            color="yellow",
        ),
        6,
        4,
    )

    board.row("处置时间 Response times (targets: 1 / 3 / 5 min)")
    for field, target, title, what in (
        ("ack_s", ACK_TARGET_S, "平均确认用时 Mean time to acknowledge", "acknowledged in the control room"),
        (
            "on_scene_s",
            ARRIVAL_TARGET_S,
            "平均到场用时 Mean time to arrive",
            "the micro fire station arrived",
        ),
        ("close_s", HANDLED_TARGET_S, "平均处置用时 Mean time to handle", "the alarm was closed"),
    ):
        board.add(
            stat(
                title,
                f"Mean seconds from the alarm until {what}, over alarms closed in the time range; red above "
                f"the {target // 60}-minute target.",
                Q(f"""SELECT mean("{field}") FROM "alarm" WHERE {CLOSED}"""),
                unit="s",
                steps=thresholds("green", (target, "red")),
                decimals=0,
                no_value="—",
            ),
            6,
            4,
        )
    board.add(
        bargauge(
            "达标率 Within target",
            "Share of closed alarms that met each target: acknowledged within 1 minute, on scene within 3, "
            "handled within 5.",
            _within_target("ack_s", ACK_TARGET_S, "A", "确认 ≤1 min Acknowledged"),
            _within_target("on_scene_s", ARRIVAL_TARGET_S, "B", "到场 ≤3 min On scene"),
            _within_target("close_s", HANDLED_TARGET_S, "C", "处置 ≤5 min Handled"),
            unit="percentunit",
            steps=SHARE_STEPS,
            min_value=0,
            max_value=1,
            decimals=0,
        ),
        6,
        4,
    )
    board.add(
        timeseries(
            "每次报警的处置时间 Response times per alarm",
            "One point per closed alarm and step, in seconds from the alarm. Dashed lines: the 1, 3 and 5 "
            "minute targets for acknowledgement, arrival and handling.",
            Q(
                f"""SELECT "ack_s" AS "确认 Acknowledged", "on_scene_s" AS "到场 On scene",
                      "close_s" AS "处置 Handled" FROM "alarm" WHERE {CLOSED}""",
                alias="$col",
            ),
            unit="s",
            points=True,
            steps=thresholds(
                "green", (ACK_TARGET_S, "yellow"), (ARRIVAL_TARGET_S, "orange"), (HANDLED_TARGET_S, "red")
            ),
            threshold_lines=True,
            soft_min=0,
            columns=[
                series("确认 Acknowledged", "blue"),
                series("到场 On scene", "purple"),
                series("处置 Handled", "dark-orange"),
            ],
        ),
        12,
        9,
    )
    board.add(
        timeseries(
            "报警与结果 Alarms and outcomes",
            "Smoke alarm messages per interval (bars) and alarms closed per outcome.",
            Q(
                f"""SELECT sum("count") FROM "device_event" WHERE "event" = 'alarm' AND {RANGE} AND {PLACE}
                    GROUP BY time({BUCKET}) fill(none)""",
                ref_id="A",
                alias="烟感报警 Smoke alarms",
            ),
            Q(
                f"""SELECT count(distinct("alarm_id")) FROM "alarm" WHERE {CLOSED}
                    GROUP BY time({BUCKET}), "outcome" fill(none)""",
                ref_id="B",
                alias="$tag_outcome",
            ),
            bars=True,
            decimals=0,
            columns=[
                series("烟感报警 Smoke alarms", "orange"),
                *(series(k, colour, title=text) for k, (text, colour) in OUTCOMES.items()),
            ],
        ),
        12,
        9,
    )

    board.row("明细 Details")
    board.add(
        table(
            "各小区处置时间 Response times per estate",
            "Per estate, over alarms closed in the time range: how many, and the mean and worst time to "
            "acknowledge, arrive and handle.",
            Q(
                f"""SELECT count("alarm_id") AS "alarms", mean("ack_s") AS "ack", max("ack_s") AS "ack_max",
                      mean("on_scene_s") AS "on_scene", max("on_scene_s") AS "on_scene_max",
                      mean("close_s") AS "close", max("close_s") AS "close_max"
                    FROM "alarm" WHERE {CLOSED} GROUP BY "estate" """,
                table=True,
            ),
            transformations=[organize()],
            columns=[
                column("estate", title="小区 Estate", width=80),
                column("alarms", title="报警 Alarms", decimals=0, width=80),
                *(
                    column(
                        name,
                        title=title,
                        unit="s",
                        decimals=0,
                        cell="color-text",
                        steps=thresholds("green", (target, "red")),
                    )
                    for name, title, target in (
                        ("ack", "确认(平均) Ack mean", ACK_TARGET_S),
                        ("ack_max", "确认(最长) Ack max", ACK_TARGET_S),
                        ("on_scene", "到场(平均) Arrival mean", ARRIVAL_TARGET_S),
                        ("on_scene_max", "到场(最长) Arrival max", ARRIVAL_TARGET_S),
                        ("close", "处置(平均) Handled mean", HANDLED_TARGET_S),
                        ("close_max", "处置(最长) Handled max", HANDLED_TARGET_S),
                    )
                ),
            ],
            sort_by="确认(平均) Ack mean",
        ),
        12,
        9,
    )
    board.add(
        table(
            "误报最多的探测器 Detectors with the most false alarms",
            "Detectors by false alarms in the time range: candidates for cleaning, moving or replacing.",
            Q(
                f"""SELECT count(distinct("alarm_id")) AS "false_alarms" FROM "alarm"
                    WHERE "outcome" = 'false_alarm' AND {RANGE} AND {ALARMS} GROUP BY "device", "estate" """,
                table=True,
            ),
            transformations=[organize(order=("device", "estate", "false_alarms"))],
            columns=[
                column("device", title="探测器 Detector", width=140),
                column("estate", title="小区 Estate", width=80),
                column(
                    "false_alarms",
                    title="误报 False alarms",
                    decimals=0,
                    cell="gauge",
                    steps=thresholds("green", (2, "orange"), (5, "red")),
                ),
            ],
            sort_by="误报 False alarms",
        ),
        12,
        9,
    )
    log_fields = {
        "Time": "最近一步 Last step",
        "estate": "小区 Estate",
        "device": "探测器 Detector",
        "outcome": "结果 Outcome",
        "ack_s": "确认 Ack",
        "dispatch_s": "派出 Dispatch",
        "on_scene_s": "到场 On scene",
        "close_s": "处置 Handled",
    }
    board.add(
        table(
            "报警记录 Alarm log",
            "One row per alarm with steps in the time range: its latest outcome and the seconds each step "
            "took from the alarm.",
            Q(
                f"""SELECT "alarm_id", "ack_s", "dispatch_s", "on_scene_s", "close_s" FROM "alarm"
                    WHERE {RANGE} AND {ALARMS} GROUP BY "estate", "device", "outcome" """,
                table=True,
            ),
            transformations=[_sort_by_time(), _latest_by("alarm_id", log_fields), _renamed(log_fields)],
            columns=[
                column("alarm_id", title="编号 Id", width=70),
                column("结果 Outcome", cell="color-text", mappings=OUTCOMES, width=130),
                *(
                    column(
                        title,
                        unit="s",
                        decimals=0,
                        cell="color-text",
                        steps=thresholds("green", (target, "red")),
                    )
                    for title, target in (
                        ("确认 Ack", ACK_TARGET_S),
                        ("到场 On scene", ARRIVAL_TARGET_S),
                        ("处置 Handled", HANDLED_TARGET_S),
                    )
                ),
                column("派出 Dispatch", unit="s", decimals=0),
            ],
            sort_by="最近一步 Last step",
            footer_count=True,
        ),
        24,
        9,
    )
    return board.build()


#: Every dashboard, in the order of the folder: file name stem -> builder.
BOARDS: dict[str, Callable[[], dm.Dashboard]] = {
    "city-overview": city_overview,
    "device-health": device_health,
    "hydrant-pressure": hydrant_pressure,
    "fire-lanes": fire_lanes,
    "alarms": alarms,
}
