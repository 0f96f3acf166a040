"""From code to the committed JSON: render, write, compare, and check that Grafana 11.3 can read it.

``dashboards/json/*.json`` is what docker-compose provisions and what ``firegw dashboards push`` sends.
It is generated, never edited: ``firegw dashboards generate`` rewrites it, ``firegw dashboards check``
(and the tests) fail when it differs from what the code produces, so a change to ``boards/`` without a
regenerate cannot be committed unnoticed.

``problems`` is the structural check shared by ``check`` and the tests. Grafana publishes no standalone JSON
schema for dashboards, so "valid for 11.3" is checked by a round trip through grafana-foundation-sdk's 11.3
models (a key the 11.3 schema does not know is dropped on the way, so the round trip no longer matches),
plus what the schema cannot say: every datasource reference is the provisioned InfluxDB, panels sit on the
24-column grid without overlapping, ids and refIds are unique, and every query is raw InfluxQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm

from dashboards import influxql
from dashboards.boards import BOARDS
from dashboards.panels import GRID_COLUMNS

PACKAGE_DIR = Path(__file__).resolve().parent
JSON_DIR = PACKAGE_DIR / "json"
PROVISIONING_DIR = PACKAGE_DIR / "provisioning"

#: What docker-compose pins (grafana/grafana-oss:11.3.0) and the SDK release in pyproject.toml targets.
GRAFANA_VERSION = "11.3.0"
SCHEMA_VERSION = 39
#: Panel types built into Grafana 11.3 that the boards use (no plugins to install).
PANEL_TYPES = frozenset(
    {"stat", "timeseries", "bargauge", "table", "state-timeline", "histogram", "geomap", "row"}
)


def to_dict(model: dm.Dashboard) -> dict[str, Any]:
    """The dashboard as plain JSON data, exactly as it is written to the file."""
    data: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    return data


def render(data: dict[str, Any]) -> str:
    """Stable text: two-space indent, Chinese kept readable, newline at the end (diff-friendly)."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Generated:
    name: str  # file stem, e.g. "city-overview"
    data: dict[str, Any]

    @property
    def filename(self) -> str:
        return f"{self.name}.json"

    @property
    def uid(self) -> str:
        return str(self.data["uid"])

    @property
    def title(self) -> str:
        return str(self.data["title"])

    @property
    def text(self) -> str:
        return render(self.data)


def generate_all() -> list[Generated]:
    """Every dashboard, built fresh from ``boards/``."""
    return [Generated(name, to_dict(build())) for name, build in BOARDS.items()]


def write_all(out_dir: Path = JSON_DIR) -> list[tuple[Path, bool]]:
    """Write every dashboard; returns (path, changed) and removes stale ``*.json`` no board produces."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[tuple[Path, bool]] = []
    wanted = set()
    for board in generate_all():
        path = out_dir / board.filename
        wanted.add(path.name)
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old != board.text:
            path.write_text(board.text, encoding="utf-8")
        results.append((path, old != board.text))
    for path in sorted(out_dir.glob("*.json")):
        if path.name not in wanted:
            path.unlink()
            results.append((path, True))
    return results


def stale(out_dir: Path = JSON_DIR) -> list[str]:
    """Why the committed JSON differs from the code's (empty when up to date)."""
    out: list[str] = []
    wanted = set()
    for board in generate_all():
        path = out_dir / board.filename
        wanted.add(board.filename)
        if not path.exists():
            out.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != board.text:
            out.append(f"{path}: differs from what dashboards/boards/ generates")
    out += [f"{p}: no dashboard generates it" for p in sorted(out_dir.glob("*.json")) if p.name not in wanted]
    return out


# -- validation ------------------------------------------------------------------------------------------


def provisioned_datasource() -> dict[str, str]:
    """uid and type of the datasource in ``provisioning/datasources/influxdb.yaml``."""
    import yaml

    doc = yaml.safe_load((PROVISIONING_DIR / "datasources" / "influxdb.yaml").read_text(encoding="utf-8"))
    (source,) = doc["datasources"]
    return {"uid": str(source["uid"]), "type": str(source["type"])}


def round_trip(data: dict[str, Any]) -> dict[str, Any]:
    """Read the JSON into the SDK's Grafana 11.3 models and write it out again."""
    plugins.register_default_plugins()  # panel options and field config through each panel's 11.3 model
    influxql.register()
    model = dm.Dashboard.from_json(json.loads(json.dumps(data)))
    return to_dict(model)


def first_difference(a: Any, b: Any, path: str = "$") -> str | None:
    """The JSON path of the first place where ``a`` and ``b`` differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}"
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path} (length {len(a)} != {len(b)})"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    return None if a == b and type(a) is type(b) else path


def _datasource_refs(node: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield f"{path}.{key}", value
            yield from _datasource_refs(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _datasource_refs(value, f"{path}[{i}]")


def problems(data: dict[str, Any]) -> list[str]:
    """Everything wrong with one dashboard's JSON (empty when it is fine for Grafana 11.3)."""
    out: list[str] = []
    title = data.get("title", "?")
    if data.get("schemaVersion") != SCHEMA_VERSION:
        out.append(
            f"{title}: schemaVersion {data.get('schemaVersion')} (Grafana 11.3 writes {SCHEMA_VERSION})"
        )
    where = first_difference(data, round_trip(data))
    if where is not None:
        out.append(f"{title}: {where} does not survive the Grafana {GRAFANA_VERSION} models (unknown key?)")
    if not isinstance(data.get("annotations", {}).get("list"), list):
        out.append(f"{title}: annotations.list missing (Grafana's dashboard model expects a list)")
    expected = provisioned_datasource()
    for where, ref in _datasource_refs(data):
        if ref != expected:
            out.append(f"{title}: {where} = {ref!r} does not resolve to the provisioned {expected!r}")
    panels = data.get("panels", [])
    ids = [p.get("id") for p in panels]
    if len(set(ids)) != len(ids) or None in ids:
        out.append(f"{title}: panel ids missing or repeated: {ids}")
    titles = [p.get("title") for p in panels if p.get("type") != "row"]
    repeated = sorted({t for t in titles if titles.count(t) > 1}, key=str)
    if repeated:
        out.append(f"{title}: panel titles used twice: {repeated}")
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        name = f"{title} / {panel.get('title')}"
        if panel.get("type") not in PANEL_TYPES:
            out.append(f"{name}: panel type {panel.get('type')!r} is not one of {sorted(PANEL_TYPES)}")
        pos = panel.get("gridPos", {})
        x, y, w, h = pos.get("x", -1), pos.get("y", -1), pos.get("w", 0), pos.get("h", 0)
        if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > GRID_COLUMNS:
            out.append(f"{name}: gridPos {pos} is off the {GRID_COLUMNS}-column grid")
        for cx in range(max(x, 0), min(x + w, GRID_COLUMNS)):
            for cy in range(max(y, 0), y + h):
                if (cx, cy) in cells:
                    out.append(f"{name}: overlaps {cells[(cx, cy)]}")
                    break
                cells[(cx, cy)] = name
            else:
                continue
            break
        if panel.get("type") == "row":
            continue
        targets = panel.get("targets", [])
        if not targets:
            out.append(f"{name}: no query")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs):
            out.append(f"{name}: repeated refIds {refs}")
        for target in targets:
            if target.get("rawQuery") is not True or not str(target.get("query", "")).startswith("SELECT "):
                out.append(f"{name}: target {target.get('refId')} is not a raw InfluxQL SELECT")
        if not panel.get("description"):
            out.append(f"{name}: no description (say what the panel answers)")
    for variable in data.get("templating", {}).get("list", []):
        if variable.get("type") == "query" and not str(variable.get("query", "")).startswith(
            "SHOW TAG VALUES"
        ):
            out.append(f"{title}: variable {variable.get('name')} is not a SHOW TAG VALUES query")
    return out


@dataclass(frozen=True)
class PanelQuery:
    """One query a dashboard will send, with where it comes from (for tests and error messages)."""

    dashboard: str
    panel: str
    ref_id: str
    query: str


def panel_queries(data: dict[str, Any]) -> list[PanelQuery]:
    out = []
    for panel in data.get("panels", []):
        for target in panel.get("targets", []):
            out.append(
                PanelQuery(str(data["title"]), str(panel["title"]), str(target["refId"]), target["query"])
            )
    return out


def variable_queries(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, InfluxQL) of the query variables, in dashboard order (a variable may use earlier ones)."""
    return [
        (str(v["name"]), str(v["query"]))
        for v in data.get("templating", {}).get("list", [])
        if v.get("type") == "query"
    ]
