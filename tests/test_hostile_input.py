"""Hostile input, and every refusal says why (issue 17): bounds where input enters, and a bad file named line
by line.

- The device CSV of mistakes (``tests/data/bad_devices.csv``, one mistake a line) is refused by
  ``firegw registry import`` with every line named and what is allowed, exit status 2, no traceback, and no
  file written; ``firegw check`` names the same lines, and what the policy makes of a device's thresholds.
- Every CLI command on bad arguments or a bad file answers with ``error:`` lines and exit status 2.
- The CSV imports are bounded in bytes and rows; the registry in devices.
- The HTTP API: a body past ``[limits] body_bytes`` is 413 with a sentence (a photo route may carry a
  photo); a text field past its bound is 422 naming the field and the limit; an account past its daily
  share of hazards, complaints or evidence is 429 with ``Retry-After``, and another account is not.
- MQTT: a payload past ``max_payload_bytes`` is dead-lettered as ``too_large`` before any decoder sees it;
  and 100,000 malformed payloads mixed with 20,000 valid ones, through the test Mosquitto into a gateway
  process (tests/hostile_traffic.py), leave every valid one stored, every malformed one dead-lettered by
  reason, the process alive and its memory flat (about 10 s; ``pytest -s`` prints the figures).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from clock import T0, FakeClock
from gateway_process import GatewayProcess
from hostile_traffic import build_burst, run_burst

from collectors.base import RejectReason
from collectors.mqtt.config import MqttConfig
from collectors.mqtt.fastclient import Delivery
from collectors.mqtt.transport import MqttCollector
from gateway import cli
from gateway.api import ApiServices, create_app
from gateway.api.schemas import FIELD_MAX, TEXT_MAX, In
from gateway.auth.service import AuthService
from gateway.auth.store import AccountError, AuthStore
from gateway.casework.engine import RuleEngine
from gateway.config import LimitsSection
from gateway.ingest import registry_csv
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.registry import Registry, RegistryError, load_registry, registry_to_toml
from gateway.ingest.sinks.sqlite import SqliteSink
from gateway.store import HazardStore
from rules.policy import load_policy
from simulators.fleet import generate_fleet

DATA = Path(__file__).parent / "data"
T0_MS = int(T0.timestamp() * 1000)
BAD_DEVICES = DATA / "bad_devices.csv"

#: Each line of bad_devices.csv and what the refusal must say of it (its mistake, and what is allowed).
EXPECTED_LINES = {
    3: ["device_id 'SD-E001-0001' is already on line 2"],
    4: ["kind: 'sprinkler'", "'smoke_detector', 'hydrant' or 'camera'"],
    5: ["floor: '五' is not a whole number", "in digits"],
    6: ["imei: '86997503001' has 11 digits", "15 digits"],
    7: ["modbus_host: '192.168.10.256' is not an IPv4 address", "0 to 255"],
    8: ["modbus_port: 70000 is not a TCP port", "1 to 65535"],
    9: ["pressure_min_mpa (0.6) must be below pressure_max_mpa (0.3)"],
    10: ["property_company '安居物业' on line 2, not '宏达物业'"],
    11: ["device_id: missing"],
    12: ["modbus_unit: 300 is out of range", "at most 247"],
}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``firegw ARGV`` in this process: the exit status, stdout and stderr (argparse's exits included)."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def problem_lines(text: str) -> dict[int, str]:
    lines: dict[int, str] = {}
    for match in re.finditer(r"^\s*line (\d+): (.*)$", text, re.MULTILINE):
        lines[int(match.group(1))] = lines.get(int(match.group(1)), "") + match.group(2)
    return lines


# -- the registry import and firegw check -------------------------------------------------------------


def test_the_registry_import_names_every_bad_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "registry.toml"
    code, out, err = run_cli(capsys, "registry", "import", str(BAD_DEVICES), "-o", str(output))
    assert code == 2, err
    assert "Traceback" not in err + out
    assert not output.exists(), "a refused import writes nothing"
    named = problem_lines(err)
    assert sorted(named) == sorted(EXPECTED_LINES), f"lines named: {sorted(named)}\n{err}"
    for line, words in EXPECTED_LINES.items():
        for word in words:
            assert word in named[line], f"line {line}: {word!r} not in {named[line]!r}"
    assert "line 2:" not in err, "the good lines are not named"
    assert "line 13:" not in err
    assert err.startswith(f"error: {BAD_DEVICES}: 10 problem(s)")


def test_the_good_lines_of_the_file_import(tmp_path: Path) -> None:
    """The control: the file's good lines alone import, so each named line is named for its own mistake."""
    lines = BAD_DEVICES.read_text(encoding="utf-8").splitlines()
    good = tmp_path / "good.csv"
    good.write_text("\n".join([lines[0], lines[1], lines[12]]) + "\n", encoding="utf-8")
    registry = load_registry(good)
    assert [d.id for d in registry.devices] == ["SD-E001-0001", "HY-E001-05"]
    assert registry.device("HY-E001-05").modbus is not None


def test_firegw_check_names_registry_lines_and_policy_thresholds_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'[gateway]\nregistry = "{BAD_DEVICES}"\ndata_dir = "{tmp_path / "data"}"\n')
    code, _, err = run_cli(capsys, "check", "--config", str(config))
    assert code == 2
    assert sorted(problem_lines(err)) == sorted(EXPECTED_LINES)
    # A registry fine on its own, whose device sets a minimum above the policy's default maximum (1.0 MPa).
    registry = tmp_path / "registry.csv"
    registry.write_text(
        "device_id,kind,estate_id,thresholds\nHY-1,hydrant,E1,pressure_min_mpa=1.5\n"
        "HY-2,hydrant,E1,low_battery_pct=20\n",
        encoding="utf-8",
    )
    config.write_text(f'[gateway]\nregistry = "{registry}"\ndata_dir = "{tmp_path / "data"}"\n')
    code, _, err = run_cli(capsys, "check", "--config", str(config))
    assert code == 2
    assert "thresholds of device 'HY-1': pressure_min_mpa (1.5) must be below pressure_max_mpa (1)" in err
    assert "HY-2" not in err


def test_a_toml_registry_names_every_problem_of_an_entry(tmp_path: Path) -> None:
    path = tmp_path / "registry.toml"
    path.write_text(
        '[[estates]]\nid = "E1"\nname = "x"\n\n[[devices]]\nid = "D 1"\nkind = "hydrant"\nestate_id = "E1"\n'
        'imei = "123"\nmodbus = { host = "10.0.0.999", port = 70000, unit = 300 }\n\n'
        '[[devices]]\nid = "D2"\nkind = "hydrant"\nestate_id = "E9"\n',
        encoding="utf-8",
    )
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    text = "\n".join(info.value.problems)
    for words in (
        "id: 'D 1' has a space",
        "imei: '123'",
        "modbus.host:",
        "modbus.port: 70000",
        "modbus.unit:",
    ):
        assert f"devices.0 'D 1': {words}" in text, text
    assert "device 'D2': unknown estate_id 'E9'" in text


def test_a_registry_round_trips_through_toml_with_the_checks(tmp_path: Path) -> None:
    registry = generate_fleet(
        estates=3, smoke_per_estate=5, hydrants_per_estate=3, cameras_per_estate=1, modbus_share=0.5, seed=2
    )
    path = tmp_path / "registry.toml"
    path.write_text(registry_to_toml(registry), encoding="utf-8")
    assert load_registry(path) == registry


# -- the CLI on bad arguments and bad files -------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[gateway]\n")
    (tmp_path / "folder").mkdir()
    config = tmp_path / "gateway.toml"
    config.write_text(f'[gateway]\nregistry = "{BAD_DEVICES}"\ndata_dir = "{tmp_path / "data"}"\n')
    binary_csv = tmp_path / "binary.csv"
    binary_csv.write_bytes(b"\xff\xfe\x00d\x00\x81")
    return {"binary": binary, "folder": tmp_path / "folder", "config": config, "binary_csv": binary_csv}


CLI_CASES: list[tuple[list[str], str]] = [
    (["check", "--config", "{folder}"], "cannot be read"),
    (["check", "--config", "{binary}"], "not UTF-8"),
    (["check", "--config", "{tmp}/none.toml"], "file not found"),
    (["registry", "import", "{folder}"], "unknown file type"),
    (["registry", "import", "{binary_csv}"], "neither UTF-8 nor GB18030"),
    (["registry", "import", "{binary}"], "not UTF-8"),
    (
        ["registry", "generate", "--estates", "-5", "-o", "{tmp}/x.toml"],
        "expected a whole number of at least 0",
    ),
    (["registry", "generate", "--modbus-share", "7", "-o", "{tmp}/x.toml"], "from 0 to 1"),
    (["registry", "generate", "--smoke", "many", "-o", "{tmp}/x.toml"], "expected a whole number"),
    (["deadletters", "--config", "{config}", "--limit", "-5"], "of at least 1"),
    (["deadletters", "--config", "{folder}"], "cannot be read"),
    (["policy", "{binary}"], "not UTF-8"),
    (["simulate", "--scenario", "{tmp}/nope.toml", "--broker", "127.0.0.1:1"], "file not found"),
    (["simulate", "--scenario", "demo", "--broker", "127.0.0.1:99999"], "port from 1 to 65535"),
    (["demo", "--speed", "-1"], "of at least 0.001"),
    (["demo", "--duration", "nan"], "of at least 0.001"),
    (["demo", "--api-port", "70000"], "from 0 to 65535"),
    (
        ["parties", "import", "--config", "{config}", "--actor", "a", "--file", "{binary_csv}"],
        "neither UTF-8",
    ),
]


@pytest.mark.parametrize(("argv", "words"), CLI_CASES, ids=[" ".join(a[:3]) for a, _ in CLI_CASES])
def test_every_cli_refusal_is_a_sentence_with_status_2(
    argv: list[str], words: str, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [a.format(tmp=tmp_path, **files) for a in argv]
    code, out, err = run_cli(capsys, *args)
    assert code == 2, f"exit {code}\n{out}\n{err}"
    assert "Traceback" not in out + err
    assert "error:" in err
    assert words in err, err


def test_an_unexpected_failure_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(_: Any) -> int:
        raise KeyError("a bug")

    monkeypatch.setattr(cli, "cmd_policy", broken)
    monkeypatch.delenv("FIREGW_TRACEBACK", raising=False)
    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser(), broken))
    code, _, err = run_cli(capsys, "policy")
    assert code == 1
    assert err.count("\n") == 1
    assert "KeyError" in err
    assert "FIREGW_TRACEBACK=1" in err


def _with_func(parser: Any, func: Callable[[Any], int]) -> Any:
    parse = parser.parse_args

    def parse_args(argv: Any = None) -> Any:
        args = parse(argv)
        args.func = func
        return args

    parser.parse_args = parse_args
    return parser


# -- CSV and registry bounds ---------------------------------------------------------------------------


def test_the_csv_imports_are_bounded_in_bytes_and_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = "".join(f"SD-{i},smoke_detector,E1\n" for i in range(30))
    path = tmp_path / "devices.csv"
    path.write_text("device_id,kind,estate_id\n" + rows, encoding="utf-8")
    assert len(load_registry(path).devices) == 30
    monkeypatch.setattr(registry_csv, "MAX_ROWS", 29)
    with pytest.raises(RegistryError, match="more than 29 rows after the header; split the file"):
        load_registry(path)
    monkeypatch.setattr(registry_csv, "MAX_BYTES", 100)
    with pytest.raises(RegistryError, match=r"at most 9.5e-05 MiB is read|at most .* MiB is read"):
        load_registry(path)

    from gateway import parties_cli

    monkeypatch.setattr(parties_cli, "MAX_ROWS", 2)
    parties = tmp_path / "parties.csv"
    parties.write_text("kind,name,estate_ids\n" + "property_company,a,E001\n" * 3, encoding="utf-8")
    config = tmp_path / "gateway.toml"
    config.write_text(f'[gateway]\ndata_dir = "{tmp_path / "data"}"\n')
    code, _, err = run_cli(
        capsys, "parties", "import", "--config", str(config), "--actor", "a", "--file", str(parties)
    )
    assert code == 2
    assert "more than 2 rows after the header" in err


def test_an_empty_or_headless_csv_is_refused(tmp_path: Path) -> None:
    cases = {
        "": "the file is empty",
        "device_id,kind,estate_id\n": "names no device",
        "device_id,kind\nA,hydrant\n": "column 'estate_id' is missing",
        "device_id,kind,estate_id,colour\nA,hydrant,E1,red\n": "unknown column 'colour'",
        "device_id,kind,estate_id\nA,hydrant,E1,extra\n": "4 cells, but the header names 3 columns",
        'device_id,kind,estate_id\n"A\n': "not CSV",
    }
    for text, words in cases.items():
        path = tmp_path / "devices.csv"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(RegistryError) as info:
            load_registry(path)
        assert words in str(info.value), (text, str(info.value))


# -- the HTTP API ----------------------------------------------------------------------------------------


@dataclass
class Api:
    engine: RuleEngine
    http: httpx.AsyncClient
    clock: FakeClock
    tokens: dict[str, str]

    def as_(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


LIMITS = LimitsSection(hazards_per_day=3, complaints_per_day=2, evidence_per_day=2)


@pytest.fixture
async def api(tmp_path: Path, cheap_hashes: None) -> AsyncIterator[Api]:
    fleet = generate_fleet(
        estates=2, smoke_per_estate=2, hydrants_per_estate=1, cameras_per_estate=0, modbus_share=0.0, seed=3
    )
    registry = Registry(estates=fleet.estates, buildings=fleet.buildings, devices=fleet.devices)
    clock = FakeClock()
    engine = RuleEngine(
        registry, load_policy(), HazardStore(f"sqlite:///{tmp_path / 'h.sqlite'}"), clock=clock
    )
    deadletters = DeadLetterStore(tmp_path / "dl.sqlite")
    pipeline = Pipeline(registry, SqliteSink(tmp_path / "t.sqlite"), deadletters, clock=clock)
    auth = AuthService(AuthStore(engine.store.engine))
    services = ApiServices(
        registry, pipeline, engine, deadletters, clock, uploads_dir=tmp_path / "up", auth=auth, limits=LIMITS
    )
    app = create_app(services)
    tokens = {}
    for name in ("w1", "w2"):
        auth.store.create_user(username=name, role="brigade", password=None, now=clock(), display_name=name)
        tokens[name] = auth.create_token(name)[1]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield Api(engine, http, clock, tokens)
    deadletters.close()


def hazard(**overrides: Any) -> dict[str, Any]:
    return {"estate_id": "E001", "criterion": "Y3", "description": "群租"} | overrides


async def test_a_body_past_the_bound_is_413_with_a_sentence_and_nothing_stored(api: Api) -> None:
    before = api.engine.store.counts()
    big = hazard(description="x" * (2 << 20))  # the 2 MiB description
    r = await api.http.post("/api/hazards", json=big, headers=api.as_("w1"))
    assert r.status_code == 413, r.text
    detail = r.json()["detail"]
    assert r.json()["error"] == "too_large"
    assert detail.startswith("body: 2 MiB is larger than the 1 MiB a request may carry ([limits] body_bytes)")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"estate_id": "E001", "criterion": "Y3", "description": "'
        for _ in range(40):
            yield b"y" * 32768
        yield b'"}'

    headers = api.as_("w1") | {"content-type": "application/json"}
    r = await api.http.post("/api/hazards", content=chunks(), headers=headers)
    assert r.status_code == 413, r.text
    assert r.json()["detail"].startswith("body: the body is larger than the 1 MiB a request may carry")
    assert api.engine.store.counts() == before


async def test_a_photo_route_may_carry_a_photo_past_the_json_bound(api: Api) -> None:
    r = await api.http.post(
        "/api/uploads",
        content=b"\xff\xd8" + b"\0" * (2 << 20),
        headers=api.as_("w1") | {"content-type": "image/jpeg"},
    )
    assert r.status_code == 422, r.text  # past the body bound, and refused for what it is: not an image
    assert "413" not in r.text


async def test_a_text_field_past_its_bound_is_422_naming_the_field_and_the_limit(api: Api) -> None:
    for body, words in (
        (
            hazard(description="x" * (TEXT_MAX + 1)),
            f"description: String should have at most {TEXT_MAX} characters",
        ),
        (hazard(estate_id="E" * 65), "estate_id: String should have at most 64 characters"),
        (
            hazard(location="楼" * (TEXT_MAX + 1)),
            f"location: String should have at most {TEXT_MAX} characters",
        ),
    ):
        r = await api.http.post("/api/hazards", json=body, headers=api.as_("w1"))
        assert r.status_code == 422, r.text
        assert words in r.json()["detail"]
    r = await api.http.post(
        "/api/complaints/merge",
        json={"complaint_ids": list(range(101)), "into": 1},
        headers=api.as_("w1"),
    )
    assert r.status_code == 422
    assert "complaint_ids: List should have at most 100 items" in r.json()["detail"]


def test_every_request_body_bounds_its_text_fields() -> None:
    """Every ``In`` model: each field named in FIELD_MAX is bounded by it (or by a tighter bound of its own),
    and every other text is bounded by TEXT_MAX through the models' configuration."""
    models: list[type[In]] = []
    pending: list[type[In]] = [In]
    while pending:
        model = pending.pop()
        models.append(model)
        pending += model.__subclasses__()
    import gateway.api  # noqa: F401  every router's models are defined once the app is

    assert len(models) > 15, "the routers' request models are found"
    for model in models:
        assert model.model_config.get("str_max_length") == TEXT_MAX, model
        for name, field in model.model_fields.items():
            if name in FIELD_MAX:
                bounds = [m.max_length for m in field.metadata if hasattr(m, "max_length")]
                assert min(bounds, default=TEXT_MAX) <= FIELD_MAX[name], f"{model.__name__}.{name}: {bounds}"


async def test_an_account_past_its_daily_share_is_429_and_another_is_not(api: Api) -> None:
    for _ in range(LIMITS.hazards_per_day):
        r = await api.http.post("/api/hazards", json=hazard(), headers=api.as_("w1"))
        assert r.status_code == 201, r.text
    r = await api.http.post("/api/hazards", json=hazard(), headers=api.as_("w1"))
    assert r.status_code == 429, r.text
    assert r.json()["error"] == "daily_share"
    assert "w1: 3 hazards filed in the last 24 hours" in r.json()["detail"]
    assert "[limits] hazards_per_day = 3" in r.json()["detail"]
    assert r.headers["Retry-After"] == str(24 * 3600)
    r = await api.http.post("/api/hazards", json=hazard(), headers=api.as_("w2"))
    assert r.status_code == 201, "another account has its own share"
    api.clock.advance(hours=24, seconds=1)
    r = await api.http.post("/api/hazards", json=hazard(), headers=api.as_("w1"))
    assert r.status_code == 201, "the share frees up as the oldest leave the 24 hours"

    complaint = {"estate_id": "E001", "received_at": T0.isoformat(), "description": "楼道堆物"}
    codes = [
        (await api.http.post("/api/complaints", json=complaint, headers=api.as_("w1"))).status_code
        for _ in range(3)
    ]
    assert codes == [201, 201, 429]
    evidence = {"kind": "patrol", "at": (api.clock() - timedelta(hours=1)).isoformat(), "met": ["G2"]}
    url = "/api/estates/E001/assessments"
    codes = [(await api.http.post(url, json=evidence, headers=api.as_("w2"))).status_code for _ in range(3)]
    assert codes == [201, 201, 429]


def test_no_two_accounts_are_recorded_by_one_name(api: Api) -> None:
    """The daily share counts what an account recorded by the name it is recorded by: two accounts with one
    display name would share a day's share (and could not be told apart in history), so it is refused."""
    auth = AuthStore(api.engine.store.engine)
    now = api.clock()
    taken = "is already how account 'w1' is recorded"
    with pytest.raises(AccountError, match=taken):
        auth.create_user(username="w3", role="brigade", password=None, now=now, display_name="w1")
    auth.create_user(username="w6", role="brigade", password=None, now=now, display_name="w5")
    with pytest.raises(AccountError, match="is already how account 'w6' is recorded"):
        auth.create_user(username="w5", role="brigade", password=None, now=now)  # recorded by its username
    with pytest.raises(AccountError, match="is already how account 'w2' is recorded"):
        auth.ensure_user(username="w1", role="brigade", password=None, now=now, display_name="w2")
    auth.create_user(username="w4", role="brigade", password=None, now=now, display_name="网格员 w4")
    auth.ensure_user(username="w1", role="brigade", password=None, now=now, display_name="w1")  # its own


# -- MQTT ------------------------------------------------------------------------------------------------


class _Ingest:
    def __init__(self) -> None:
        self.rejects: list[tuple[RejectReason, str, bytes | None]] = []

    async def submit(self, records: list[Any], **_: Any) -> None: ...

    def reject(self, reason: RejectReason, detail: str, *, raw: bytes | None = None, **_: Any) -> None:
        self.rejects.append((reason, detail, raw))

    def committed(self) -> Any: ...


def test_an_mqtt_payload_past_the_bound_is_too_large_before_any_decoder() -> None:
    called: list[bytes] = []

    class Spy:
        name = "smoke_json"

        def decode(self, topic: str, payload: bytes) -> list[Any]:
            called.append(payload)
            return []

    ingest = _Ingest()
    config = MqttConfig(max_payload_bytes=1024)
    transport = MqttCollector(config, ingest, decoders={"smoke_json": Spy()})  # type: ignore[arg-type]
    huge = b'{"id": "' + b"x" * 5000 + b'"}'
    records, _ = transport.decode_batch([Delivery("fire/smoke/x/up", huge, 1, False)])
    assert records == []
    assert called == []
    [(reason, detail, raw)] = ingest.rejects
    assert reason is RejectReason.TOO_LARGE
    assert reason.value == "too_large"
    assert detail == "payload of 5010 bytes exceeds max_payload_bytes=1024"
    assert raw == huge[:1024], "the first max_payload_bytes are kept for the dead letter"


# -- 100,000 malformed MQTT payloads through Mosquitto into a gateway process ------------------------------

MALFORMED = 100_000
VALID = 20_000


@pytest.mark.services
def test_a_hundred_thousand_malformed_payloads_leave_the_gateway_storing_and_flat(
    tmp_path: Path, mosquitto: Any, influxdb: Any, influx_db_name: str
) -> None:
    """Every valid heartbeat stored once, every malformed payload dead-lettered with its reason, the process
    alive and stopping cleanly, its log not flooded, and its memory flat: the RSS after the last of four
    phases within 16 MiB of the first (a leak grows with the messages), the peak within 64 MiB of the start.
    (bench/hostile_ingest_bench.py prints the same figures for any size.)"""
    mosquitto.ensure_running()
    devices = [f"HX-T001-{i:04d}" for i in range(200)]
    prefix = f"t/{uuid.uuid4().hex[:8]}/"
    traffic = build_burst(
        devices, malformed=MALFORMED, valid=VALID, prefix=prefix, ts_base_ms=T0_MS, phases=4
    )
    gateway = GatewayProcess(
        tmp_path / "gw",
        mosquitto,
        influxdb,
        influx_db_name,
        devices,
        topic_prefix=prefix,
        extra_toml="\n[dead_letters]\nmax_rows = 1000000\n",
    )
    try:
        gateway.start()
        figures = run_burst(gateway, influxdb, influx_db_name, traffic)
        print(figures.describe())
        assert figures.published == MALFORMED + VALID
        assert figures.stored == VALID
        assert figures.dead_lettered == figures.expected
        assert sum(figures.expected.values()) == MALFORMED
        assert figures.alive
        assert figures.rss_after_phase[-1] - figures.rss_after_phase[0] <= 16, figures.describe()
        assert figures.rss_peak - figures.rss_before <= 64, figures.describe()
        assert len(gateway.log_text().splitlines()) < 100, "rejects are logged once per reason, then summed"
        stop = gateway.stop()
        assert stop.clean, stop.describe()
    finally:
        gateway.close()
