"""The committed dashboard JSON is what the code generates, and Grafana 11.3 can read it.

The committed ``dashboards/json`` equals what ``dashboards/boards/`` generates now, survives a round trip
through grafana-foundation-sdk's Grafana 11.3 models (the version docker-compose pins), and every datasource
reference resolves to the uid the provisioning file declares.
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.build import (
    GRAFANA_VERSION,
    JSON_DIR,
    generate_all,
    problems,
    provisioned_datasource,
    render,
    stale,
)
from gateway.cli import main as firegw

ROOT = Path(__file__).resolve().parent.parent
#: Every dashboard as generated now, by file name stem.
GENERATED = {board.name: board for board in generate_all()}


def test_committed_json_equals_freshly_generated_json() -> None:
    assert stale(JSON_DIR) == [], "run `firegw dashboards generate` and commit dashboards/json/"
    for board in generate_all():
        assert (JSON_DIR / board.filename).read_text(encoding="utf-8") == render(board.data)


def test_check_command_fails_on_stale_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert firegw(["dashboards", "generate", "--out", str(tmp_path)]) == 0
    assert firegw(["dashboards", "check", "--out", str(tmp_path)]) == 0
    path = tmp_path / "alarms.json"
    path.write_text(path.read_text(encoding="utf-8").replace("报警处置", "报警"), encoding="utf-8")
    (tmp_path / "hand-made.json").write_text("{}", encoding="utf-8")
    capsys.readouterr()
    assert firegw(["dashboards", "check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "alarms.json: differs" in err
    assert "hand-made.json: no dashboard generates it" in err


def test_generated_json_is_valid_for_the_pinned_grafana() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert compose["services"]["grafana"]["image"] == f"grafana/grafana-oss:{GRAFANA_VERSION}"
    assert importlib.metadata.version("grafana-foundation-sdk").endswith(f"!{GRAFANA_VERSION}")
    for board in generate_all():
        assert problems(board.data) == [], board.title


def test_the_validity_check_has_teeth() -> None:
    """Each kind of mistake the check exists for is caught (an unknown key, a stray datasource, overlap)."""
    base = GENERATED["hydrant-pressure"].data
    mutations: dict[str, Callable[[dict[str, Any]], None]] = {
        "does not survive": lambda d: d["panels"][1]["options"].update(colourMode="value"),
        "does not resolve": lambda d: d["panels"][2]["targets"][0].update(datasource={"uid": "influx"}),
        "overlaps": lambda d: d["panels"][2]["gridPos"].update(x=0),
        "off the 24-column grid": lambda d: d["panels"][3]["gridPos"].update(x=20),
        "not a raw InfluxQL SELECT": lambda d: d["panels"][2]["targets"][0].update(
            query="DROP MEASUREMENT x"
        ),
    }
    for expected, mutate in mutations.items():
        data = copy.deepcopy(base)
        mutate(data)
        found = problems(data)
        assert any(expected in p for p in found), (expected, found)


def test_every_datasource_reference_resolves_to_the_provisioned_uid() -> None:
    provisioned = provisioned_datasource()
    assert provisioned == {"uid": "firegw-influxdb", "type": "influxdb"}
    for board in generate_all():
        refs = re.findall(r'"datasource": (\{[^}]*\})', json.dumps(board.data, ensure_ascii=False))
        assert refs, board.title
        assert {json.dumps(json.loads(r), sort_keys=True) for r in refs} == {
            json.dumps(provisioned, sort_keys=True)
        }
        for panel in board.data["panels"]:
            for target in panel.get("targets", []):
                assert target["datasource"] == provisioned


def test_dashboards_cover_the_issue() -> None:
    """Titles in Chinese with the English beside; the panel kinds and variables the issue asks for."""
    titles = {b.data["title"] for b in GENERATED.values()}
    assert titles == {
        "城市总览 City overview",
        "设备健康 Device health",
        "消火栓水压 Hydrant pressure",
        "消防通道 Fire lanes",
        "报警处置 Alarms",
    }
    kinds: set[str] = set()
    for board in GENERATED.values():
        names = [v["name"] for v in board.data["templating"]["list"]]
        assert names[:3] == ["district", "street", "estate"], board.title
        for panel in board.data["panels"]:
            kinds.add(panel["type"])
            assert re.search(r"[\u4e00-\u9fff]", panel["title"]), panel["title"]
            assert re.search(r"[A-Za-z]", panel["title"]), panel["title"]
    assert "kind" in [v["name"] for v in GENERATED["device-health"].data["templating"]["list"]]
    assert {"stat", "timeseries", "bargauge", "table", "state-timeline"} <= kinds
    pressure = next(
        p for p in GENERATED["hydrant-pressure"].data["panels"] if p["title"] == "消火栓水压 Hydrant pressure"
    )
    steps = [s["value"] for s in pressure["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert steps == [None, 0.07, 1.0]  # static limits (GB 50974 §5.2.2, §6.2.1); 0.50 is a flowing limit
    assert pressure["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"


def test_provisioning_puts_the_dashboards_in_the_fire_safety_folder() -> None:
    provider = yaml.safe_load(
        (ROOT / "dashboards/provisioning/dashboards/firegw.yaml").read_text(encoding="utf-8")
    )
    (entry,) = provider["providers"]
    assert entry["folder"] == "Fire safety"
    assert entry["folderUid"] == "fire-safety"  # the same folder `push` creates
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    volumes = compose["services"]["grafana"]["volumes"]
    assert "./dashboards/json:/var/lib/grafana/dashboards:ro" in volumes
    assert entry["options"]["path"] == "/var/lib/grafana/dashboards"


def test_city_overview_names_not_assessed_and_unknown_and_shows_coverage() -> None:
    """未评定 (level -2) and 未知 (-1) have their own labels and colours, never green's; the monitoring
    coverage from ``estate_grade`` is shown as a stat and per estate."""
    board = GENERATED["city-overview"].data
    text = json.dumps(board, ensure_ascii=False)
    panels = {p["title"]: p for p in board["panels"]}
    table = panels["排查登记与监测覆盖 Assessment and monitoring coverage"]
    overrides = {o["matcher"]["options"]: o["properties"] for o in table["fieldConfig"]["overrides"]}
    grade_maps = next(p["value"] for p in overrides["grade_level"] if p["id"] == "mappings")[0]["options"]
    assert grade_maps["-2"]["text"] == "未评定 Not assessed"
    assert grade_maps["-1"]["text"] == "未知 Unknown"
    green = grade_maps["0"]["color"]
    assert green == "green"
    assert grade_maps["-2"]["color"] != green
    assert grade_maps["-1"]["color"] != green
    coverage = {p["id"]: p["value"] for p in overrides["coverage"]}
    assert coverage["unit"] == "percentunit"
    assert 'last("coverage")' in table["targets"][0]["query"]
    for field in ("assessed", "conditions_due", "monitoring_faults"):
        assert f'last("{field}")' in table["targets"][0]["query"], field
    stat = panels["监测覆盖 Monitoring coverage"]
    assert stat["type"] == "stat"
    assert 'mean("coverage")' in stat["targets"][0]["query"]
    not_assessed = panels["未评定小区 Not assessed"]
    assert '"grade_level" = -2' in not_assessed["targets"][0]["query"]
    assert not_assessed["fieldConfig"]["defaults"]["color"]["fixedColor"] != "green"
    # The map colours markers by level: below -1 is not assessed (slate), -1 unknown (grey), 0 green.
    geomap = panels["小区分布 Estates on the map"]
    assert "未评定 Not assessed" in json.dumps(geomap, ensure_ascii=False)
    assert "停租停用" in text  # the four-colour policy's grey has its name wherever grades are mapped by id
