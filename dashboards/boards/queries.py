"""The InfluxQL more than one board asks, and the Grafana transformations that finish what InfluxQL cannot.

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
  active alarms) group by id in Grafana with transformations (``sort_by_time``, ``latest_by``,
  ``keep_rows``, ``renamed``).

A query only one board asks stays in that board's module.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.models import dashboard as dm

from dashboards.boards.legend import KIND_TEXT, SIGNALS
from dashboards.influxql import PLACE_NO_STREET
from dashboards.panels import column, transformation

#: Rule-layer repeats come every 5 minutes (``[rules] grade_repeat_s``): three of them is "now".
NOW = "time > now() - 15m"
#: Grafana's time picker and automatic bucket, substituted by Grafana (and by the tests).
RANGE = "$timeFilter"
BUCKET = "$__interval"

# -- open hazards and active alarms -------------------------------------------------------------------------


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


# -- lists by id, finished in Grafana: sort_by_time -> latest_by -> keep_rows -> renamed ---------------------


def latest_by(key: str, fields: dict[str, str]) -> dm.DataTransformerConfig:
    """Grafana ``groupBy``: one row per ``key`` with the last non-empty value of every other column."""
    options: dict[str, Any] = {key: {"operation": "groupby", "aggregations": []}}
    for name in fields:
        options[name] = {"operation": "aggregate", "aggregations": ["lastNotNull"]}
    return transformation("groupBy", {"fields": options})


def sort_by_time() -> dm.DataTransformerConfig:
    """Rows come series by series from InfluxDB; "last" below must mean last in time."""
    return transformation("sortBy", {"fields": {}, "sort": [{"field": "Time", "desc": False}]})


def keep_rows(field: str, pattern: str) -> dm.DataTransformerConfig:
    """Grafana ``filterByValue``: only the rows whose ``field`` matches the regex ``pattern``."""
    return transformation(
        "filterByValue",
        {
            "type": "include",
            "match": "any",
            "filters": [{"fieldName": field, "config": {"id": "regex", "options": {"value": pattern}}}],
        },
    )


def renamed(fields: dict[str, str], suffix: str = " (lastNotNull)") -> dm.DataTransformerConfig:
    """Grafana ``organize``: the columns ``latest_by`` made (``name (lastNotNull)``) back to their titles."""
    return transformation(
        "organize",
        {
            "excludeByName": {},
            "indexByName": {},
            "renameByName": {f"{name}{suffix}": title for name, title in fields.items()},
        },
    )


# -- currently active signals -------------------------------------------------------------------------------


def active_signals_query(signals: str, fields: str, where: str) -> str:
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
