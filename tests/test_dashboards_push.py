"""``firegw dashboards push`` talks to Grafana correctly.

Run against ``fake_grafana.FakeGrafana``, a local HTTP server that behaves like Grafana's API and records
every request. The tests check the exact calls, their bodies and idempotence: a second run makes GET
requests only and reports everything unchanged; drift is repaired, secrets are sent only when needed,
provisioned objects are left alone, refusals and an unreachable server are reported.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator

import pytest
from fake_grafana import FakeGrafana

from dashboards.boards import BOARDS
from dashboards.build import JSON_DIR, generate_all
from gateway.cli import main as firegw


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    server = FakeGrafana()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _push(grafana: FakeGrafana, *extra: str) -> int:
    return firegw(
        [
            "dashboards",
            "push",
            "--grafana-url",
            grafana.url,
            "--influx-url",
            "http://influxdb:8086",
            "--influx-token",
            "env:FIREGW_TEST_INFLUX_TOKEN",
            *extra,
        ]
    )


@pytest.fixture(autouse=True)
def _influx_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREGW_TEST_INFLUX_TOKEN", "influx-secret")
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)


def test_push_creates_folder_datasource_and_dashboards(
    grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _push(grafana, "--token", "test-token") == 0
    boards = generate_all()
    expected = [
        ("GET", "/api/folders/fire-safety"),
        ("POST", "/api/folders"),
        ("GET", "/api/datasources/uid/firegw-influxdb"),
        ("POST", "/api/datasources"),
    ]
    for board in boards:
        expected += [("GET", f"/api/dashboards/uid/{board.uid}"), ("POST", "/api/dashboards/db")]
    assert grafana.calls() == expected
    assert all(h.get("Authorization") == "Bearer test-token" for h in grafana.headers_seen)

    bodies = [body for method, _, body in grafana.requests if method == "POST"]
    assert bodies[0] == {"title": "Fire safety", "uid": "fire-safety"}
    source = bodies[1]
    assert source["uid"] == source["name"] == "firegw-influxdb"
    assert source["type"] == "influxdb"
    assert source["access"] == "proxy"
    assert source["url"] == "http://influxdb:8086"
    assert source["jsonData"] == {
        "dbName": "firegw",
        "httpMode": "POST",
        "version": "InfluxQL",
        "httpHeaderName1": "Authorization",
    }
    assert source["secureJsonData"] == {"httpHeaderValue1": "Token influx-secret"}
    for board, body in zip(boards, bodies[2:], strict=True):
        assert body["folderUid"] == "fire-safety"
        assert body["overwrite"] is True
        committed = json.loads((JSON_DIR / board.filename).read_text(encoding="utf-8"))
        assert body["dashboard"] == committed, "push sends exactly the committed JSON"

    out = capsys.readouterr().out
    assert "folder     Fire safety (fire-safety): created" in out
    assert "datasource firegw-influxdb: created (http://influxdb:8086)" in out
    assert out.count(": created") == 2 + len(boards)
    assert out.strip().endswith(f"{2 + len(boards)} created")


def test_second_push_changes_nothing(grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]) -> None:
    assert _push(grafana, "--token", "test-token") == 0
    first = len(grafana.requests)
    capsys.readouterr()
    assert _push(grafana, "--token", "test-token") == 0
    second = grafana.requests[first:]
    assert {method for method, _, _ in second} == {"GET"}, "a second run only reads"
    assert [path for _, path, _ in second] == [
        "/api/folders/fire-safety",
        "/api/datasources/uid/firegw-influxdb",
        *(f"/api/dashboards/uid/{b.uid}" for b in generate_all()),
    ]
    out = capsys.readouterr().out
    assert "created" not in out
    assert "updated" not in out
    assert out.count(": unchanged") == 2 + len(BOARDS)
    assert out.strip().endswith(f"{2 + len(BOARDS)} unchanged")


def test_push_updates_only_what_drifted(grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]) -> None:
    assert _push(grafana, "--token", "test-token") == 0
    grafana.folders["fire-safety"]["title"] = "Fire"
    grafana.datasources["firegw-influxdb"].update(url="http://old-influx:8086", isDefault=True)
    edited = grafana.dashboards["firegw-alarms"]["dashboard"]
    edited["title"] = "edited by hand"
    first = len(grafana.requests)
    capsys.readouterr()

    assert _push(grafana, "--token", "test-token") == 0
    writes = [(m, p) for m, p, _ in grafana.requests[first:] if m != "GET"]
    assert writes == [
        ("PUT", "/api/folders/fire-safety"),
        ("PUT", "/api/datasources/uid/firegw-influxdb"),
        ("POST", "/api/dashboards/db"),
    ]
    put_folder, put_source, post = (b for m, _, b in grafana.requests[first:] if m != "GET")
    assert put_folder == {"title": "Fire safety", "overwrite": True}
    assert put_source["url"] == "http://influxdb:8086"
    assert put_source["isDefault"] is True, "the user's default datasource stays the default"
    assert post["dashboard"]["title"] == "报警处置 Alarms"
    assert post["overwrite"] is True
    assert grafana.dashboards["firegw-alarms"]["dashboard"]["version"] == 2
    out = capsys.readouterr().out
    assert "folder     Fire safety (fire-safety): updated (title was 'Fire')" in out
    assert "datasource firegw-influxdb: updated (url)" in out
    assert "dashboard  报警处置 Alarms (firegw-alarms): updated (title)" in out
    assert out.count(": unchanged") == len(BOARDS) - 1


def test_secrets_are_sent_only_when_needed(grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]) -> None:
    assert _push(grafana, "--token", "test-token") == 0
    first = len(grafana.requests)
    assert _push(grafana, "--token", "test-token", "--update-secrets") == 0
    (put,) = [(p, b) for m, p, b in grafana.requests[first:] if m == "PUT"]
    assert put[0] == "/api/datasources/uid/firegw-influxdb"
    assert put[1]["secureJsonData"] == {"httpHeaderValue1": "Token influx-secret"}
    assert "updated (secrets (--update-secrets))" in capsys.readouterr().out


def test_push_with_basic_auth(grafana: FakeGrafana) -> None:
    assert _push(grafana, "--basic-auth", "admin:secret", "--no-datasource") == 0
    expected = "Basic " + base64.b64encode(b"admin:secret").decode()
    assert {h.get("Authorization") for h in grafana.headers_seen} == {expected}
    assert not any("/api/datasources" in p for _, p, _ in grafana.requests), "--no-datasource"
    assert len(grafana.dashboards) == len(BOARDS)


def test_provisioned_objects_are_reported_not_overwritten(
    grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _push(grafana, "--token", "test-token") == 0
    grafana.datasources["firegw-influxdb"].update(readOnly=True, url="http://influxdb-2:8086")
    grafana.dashboards["firegw-fire-lanes"]["meta"]["provisioned"] = True
    grafana.dashboards["firegw-fire-lanes"]["dashboard"]["refresh"] = "5m"
    first = len(grafana.requests)
    capsys.readouterr()
    assert _push(grafana, "--token", "test-token") == 0
    assert {m for m, _, _ in grafana.requests[first:]} == {"GET"}
    out = capsys.readouterr().out
    assert "datasource firegw-influxdb: skipped (provisioned (read-only); differs in url)" in out
    assert "消防通道 Fire lanes (firegw-fire-lanes): skipped (provisioned from files" in out


def test_push_reports_refusal(grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]) -> None:
    assert _push(grafana, "--token", "wrong") == 1
    assert "error: GET folder fire-safety: Unauthorized" in capsys.readouterr().err
    assert grafana.calls() == [("GET", "/api/folders/fire-safety")], "stops at the first refusal"


def test_push_reports_an_unreachable_grafana(capsys: pytest.CaptureFixture[str]) -> None:
    server = FakeGrafana()
    url = server.url
    server.server_close()  # nothing listens there any more
    assert firegw(["dashboards", "push", "--grafana-url", url, "--token", "t", "--timeout", "2"]) == 1
    assert "error: GET folder fire-safety" in capsys.readouterr().err
