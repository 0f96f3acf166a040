"""What Grafana does to a dashboard's InfluxQL before it sends it, and what a panel makes of the answer.

The query tests run every variable and panel query of every dashboard the way Grafana would:
``$timeFilter`` as an epoch-ms range, ``$__interval`` as the panel's minimum or 1m, "All" as the variable's
allValue or the regex of all its options, a multi-value selection escaped as Grafana's InfluxDB datasource
does. ``panel_rows`` and ``panel_value`` read one panel query's answer the way the panel shows it;
``latest_per_id`` redoes the ``sortBy`` + ``groupBy`` transformations of the list panels.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dashboard_run import Filled

from dashboards.build import generate_all, panel_queries


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


def interpolate(
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


def has_data(result: dict[str, Any]) -> bool:
    """At least one value besides the time column that is neither empty nor zero."""
    for statement in result.get("results", []):
        for series in statement.get("series", []):
            for row in series.get("values", []):
                if any(v not in (None, 0, "") for v in row[1:]):
                    return True
    return False


def repeated_times(result: dict[str, Any]) -> list[Any]:
    """Timestamps that occur twice in one series: InfluxDB 1.x's answer to a subquery that fills per tag
    the outer query does not group by (the counts next to them are wrong too)."""
    out = []
    for statement in result.get("results", []):
        for series in statement.get("series", []):
            counts = Counter(row[0] for row in series.get("values", []))
            out += sorted(t for t, n in counts.items() if n > 1)[:3]
    return out


def tag_values(result: dict[str, Any]) -> list[str]:
    return sorted(
        {
            row[1]
            for st in result.get("results", [])
            for s in st.get("series", [])
            for row in s.get("values", [])
        }
    )


def resolve_variables(
    filled: Filled, data: dict[str, Any], window: tuple[datetime, datetime]
) -> dict[str, Variable]:
    """Run the variable queries in dashboard order (each may use the earlier ones, set to All)."""
    variables: dict[str, Variable] = {}
    for spec in data["templating"]["list"]:
        name = spec["name"]
        if spec["type"] == "custom":
            options = [o["value"] for o in spec["options"] if o["value"] != "$__all"]
        else:
            query = interpolate(spec["query"], variables, window, "1m")
            options = tag_values(filled.query(query))
        variables[name] = Variable(name, options, spec.get("allValue"))
    return variables


def time_window(filled: Filled) -> tuple[datetime, datetime]:
    return filled.start - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1)


def panel_intervals(data: dict[str, Any]) -> dict[str, str]:
    return {p["title"]: p.get("interval", "1m") for p in data["panels"]}


#: Every dashboard as generated now, by file name stem.
GENERATED = {board.name: board for board in generate_all()}


def open_board(
    filled: Filled, name: str
) -> tuple[dict[str, Any], tuple[datetime, datetime], dict[str, Variable]]:
    """A dashboard as Grafana opens it over the run: its JSON, the time range, its variables set to All."""
    data = GENERATED[name].data
    window = time_window(filled)
    return data, window, resolve_variables(filled, data, window)


# -- one panel's answer -----------------------------------------------------------------------------------


def panel_rows(filled: Filled, board: str, title: str, ref_id: str = "A") -> list[dict[str, Any]]:
    """The rows one panel query returns (tags of each series merged in), as Grafana would ask for them."""
    data, window, variables = open_board(filled, board)
    (query,) = [q for q in panel_queries(data) if q.panel == title and q.ref_id == ref_id]
    result = filled.query(interpolate(query.query, variables, window, panel_intervals(data)[title]))
    return [
        {**series.get("tags", {}), **dict(zip(series["columns"], row, strict=True))}
        for statement in result["results"]
        for series in statement.get("series", [])
        for row in series["values"]
    ]


def panel_value(filled: Filled, board: str, title: str, ref_id: str = "A") -> Any:
    (row,) = panel_rows(filled, board, title, ref_id)
    return next(v for k, v in row.items() if k != "time")


def bucket(moment: datetime, minutes: int) -> tuple[datetime, datetime]:
    """The ``GROUP BY time(Nm)`` interval that contains ``moment`` (InfluxDB aligns them to the epoch)."""
    width = minutes * 60
    first = datetime.fromtimestamp(int(moment.timestamp()) // width * width, UTC)
    return first, first + timedelta(minutes=minutes)


def in_bucket(rows: list[dict[str, Any]], moment: datetime, minutes: int) -> Any:
    """The value (last column) of the interval that contains ``moment``; 0 when the query has no row for
    it (``fill(none)``: no estate of that grade in the interval)."""
    ns = int(bucket(moment, minutes)[0].timestamp()) * 1_000_000_000
    found = [list(r.values())[-1] for r in rows if r["time"] == ns]
    assert len(found) <= 1, found
    return found[0] if found else 0


def latest_per_id(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """What Grafana's ``sortBy`` Time + ``groupBy`` id transformations make of the rows: the latest per id."""
    return {r[key]: r for r in sorted(rows, key=lambda r: r["time"])}
