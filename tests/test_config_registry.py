"""Configuration and registry loading: good files load, bad ones fail with errors that name the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.config import ConfigError, InfluxV2, load_config, parse_config
from gateway.ingest.registry import RegistryError, load_registry, registry_from_mapping, registry_to_toml
from gateway.models import DeviceKind

ROOT = Path(__file__).resolve().parent.parent


def test_example_config_and_registry_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREGW_MQTT_PASSWORD", "secret-pw")
    monkeypatch.setenv("FIREGW_INFLUX_TOKEN", "tok")
    config = load_config(ROOT / "examples" / "gateway.toml")
    assert isinstance(config.storage, InfluxV2)
    assert config.storage.token.get_secret_value() == "tok"
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "secret-pw"
    assert "secret-pw" not in repr(config), "secrets never show up in logs or reprs"
    assert config.gateway.registry == ROOT / "examples" / "registry.toml", "paths are relative to the file"
    registry = load_registry(config.gateway.registry)
    assert registry.devices
    assert {d.kind for d in registry.devices} == set(DeviceKind)


def test_missing_env_secret_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIREGW_INFLUX_TOKEN", raising=False)
    monkeypatch.setenv("FIREGW_MQTT_PASSWORD", "x")
    with pytest.raises(
        ConfigError, match=r"storage\.token: environment variable FIREGW_INFLUX_TOKEN is not set"
    ):
        load_config(ROOT / "examples" / "gateway.toml")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"mqtt": {"prot": 1883}}, r"mqtt\.prot: unknown key"),
        ({"mqtt": {"port": 99999}}, r"mqtt\.port: Input should be less than or equal to 65535"),
        (
            {"mqtt": {"subscriptions": [{"topic": "a/#", "decoder": "smoke"}]}},
            r"mqtt\.subscriptions\.0\.decoder: unknown decoder 'smoke'; known decoders: camera_event, ctwing",
        ),
        ({"mqtt": {"subscriptions": [{"topic": "a/#/b", "decoder": "smoke_json"}]}}, r"'#' must be"),
        (
            {"storage": {"kind": "influx_v3"}},
            r"storage: Input tag 'influx_v3' found using 'kind' does not match",
        ),
        ({"storage": {"kind": "influx_v2", "org": "o"}}, r"storage\.influx_v2\.token: Field required"),
    ],
)
def test_bad_config_names_the_key(data: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_config(data)


def test_all_config_problems_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"mqtt": {"prot": 1, "keepalive_s": 1}, "modbus": {"retries": 9}})
    assert len(info.value.problems) == 3


def test_registry_references_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown estate_id 'E9'") as info:
        registry_from_mapping(
            {
                "estates": [{"id": "E1", "name": "阳光花园"}],
                "buildings": [{"id": "B1", "estate_id": "E1"}, {"id": "B2", "estate_id": "E9"}],
                "devices": [
                    {"id": "D1", "kind": "hydrant", "estate_id": "E1", "building_id": "B1"},
                    {"id": "D1", "kind": "hydrant", "estate_id": "E1"},
                    {"id": "D2", "kind": "smoke_detector", "estate_id": "E1", "building_id": "B7"},
                ],
            }
        )
    message = str(info.value)
    assert "device 'D1' defined twice" in message
    assert "unknown building_id 'B7'" in message


def test_csv_import_round_trips_and_reports_every_bad_line(tmp_path: Path) -> None:
    good = tmp_path / "devices.csv"
    good.write_text(
        "device_id,kind,estate_id,estate_name,district,building_id,building_name,floor,location,wire_format,"
        "imei,modbus_host,modbus_unit,thresholds\n"
        "SD-1,smoke_detector,E1,阳光花园,锦江区,E1-B1,1号楼,3,1号楼 3层 302室,ctwing,869975030012345,,,\n"
        "HY-1,hydrant,E1,阳光花园,锦江区,E1-B1,1号楼,,1号楼 1层 消火栓,,,10.0.0.5,7,pressure_min_mpa=0.1\n",
        encoding="utf-8",
    )
    registry = load_registry(good)
    assert registry.resolve("869975030012345") == registry.device("SD-1"), "devices resolve by IMEI too"
    hydrant = registry.device("HY-1")
    assert hydrant.modbus is not None
    assert hydrant.modbus.unit == 7
    assert hydrant.thresholds == {"pressure_min_mpa": 0.1}
    again = tmp_path / "registry.toml"
    again.write_text(registry_to_toml(registry), encoding="utf-8")
    assert load_registry(again) == registry

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "device_id,kind,estate_id,floor,modbus_host,thresholds\n"
        "A,toaster,E1,,,\n"
        "B,hydrant,E1,third,,\n"
        "C,hydrant,E1,,10.0.0.5,\n"
        "D,hydrant,E1,,,pressure_min_mpa\n",
        encoding="utf-8",
    )
    with pytest.raises(RegistryError) as info:
        load_registry(bad)
    problems = info.value.problems
    assert len(problems) == 4
    assert problems[0].startswith("line 2: kind:")
    assert problems[1].startswith("line 3: floor:")
    assert problems[2].startswith("line 4: modbus_host given without modbus_unit")
    assert problems[3] == "line 5: thresholds: 'pressure_min_mpa' is not key=value"


def test_docker_compose_parses_and_references_existing_files() -> None:
    """No Docker engine runs here, so this checks what can be checked: the file parses, every service has an
    image or a build, and every bind-mounted file or folder exists in the repository."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"mosquitto", "influxdb", "grafana", "gateway"}
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
    assert (ROOT / "Dockerfile").exists()
    named = {
        v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if not v.startswith(".")
    }
    assert named <= set(compose["volumes"])
