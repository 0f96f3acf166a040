"""Fleet generation (``simulators/fleet.py``): a realistic, deterministic registry for a seed."""

from __future__ import annotations

import re
import time
import tomllib
from collections import Counter

from gateway.ingest.registry import registry_from_mapping, registry_to_toml
from gateway.models import DeviceKind
from simulators.fleet import generate_fleet, modbus_gateways


def test_fleet_is_deterministic_for_a_seed_and_round_trips_through_toml() -> None:
    a = generate_fleet(5, 30, 6, 4, 0.5, seed=7)
    b = generate_fleet(5, 30, 6, 4, 0.5, seed=7)
    c = generate_fleet(5, 30, 6, 4, 0.5, seed=8)
    assert registry_to_toml(a) == registry_to_toml(b)
    assert registry_to_toml(a) != registry_to_toml(c)
    back = registry_from_mapping(tomllib.loads(registry_to_toml(a)))
    assert back == a


def test_fleet_looks_like_a_city() -> None:
    reg = generate_fleet(3, 40, 6, 4, 0.5, seed=1)
    assert len(reg.estates) == 3
    for estate in reg.estates:
        assert re.fullmatch(r"E\d{3}", estate.id)
        assert re.search(r"[\u4e00-\u9fff]", estate.name), estate.name
        assert estate.district.endswith("区")
        assert estate.street.endswith("街道")
        assert "物业" in estate.property_company
        assert estate.latitude is not None
        assert estate.longitude is not None
    kinds = Counter(d.kind for d in reg.devices)
    assert kinds == {DeviceKind.SMOKE_DETECTOR: 120, DeviceKind.HYDRANT: 18, DeviceKind.CAMERA: 12}
    for d in reg.devices:
        if d.kind is DeviceKind.SMOKE_DETECTOR:
            assert re.fullmatch(r"SD-E\d{3}-\d{4}", d.id)
            m = re.fullmatch(r"(\d+)号楼 (\d+)层 (\d+)室", d.location)
            assert m, d.location
            assert int(m.group(2)) == d.floor
            assert m.group(3).startswith(m.group(2))
            assert reg.building(d.building_id) is not None
            assert d.wire_format in ("smoke_json", "gbt45839_status", "ctwing")
            assert (d.imei is not None) == (d.wire_format == "ctwing")
        elif d.kind is DeviceKind.HYDRANT:
            assert re.fullmatch(r"HY-E\d{3}-\d{2}", d.id)
            assert (d.modbus is not None) == (d.wire_format == "modbus")
            if d.modbus is None:
                assert d.wire_format == "hydrant_json"
        else:
            assert re.fullmatch(r"CAM-E\d{3}-\d{2}", d.id)
            assert d.wire_format == "camera_event"
    assert sum(d.modbus is not None for d in reg.devices) == 9  # exactly half of 18


def test_fleet_of_10k_devices_in_under_a_second_with_valid_modbus_addressing() -> None:
    generate_fleet(1, 5, 2, 1, 0.5, seed=0)  # warm-up (first pydantic validation of each model)
    t0 = time.perf_counter()
    reg = generate_fleet(125, 64, 8, 8, 0.6, seed=42)
    elapsed = time.perf_counter() - t0
    assert len(reg.devices) == 10_000
    assert elapsed < 1.0, f"10k devices took {elapsed:.2f} s"
    assert len({d.id for d in reg.devices}) == 10_000
    modbus = [d.modbus for d in reg.devices if d.modbus is not None]
    assert len(modbus) == 600  # 60 % of 1000 hydrants, spread exactly
    addresses = {(m.host, m.port, m.unit) for m in modbus}
    assert len(addresses) == len(modbus), "one RS-485 address per sensor"
    assert all(1 <= m.unit <= 247 for m in modbus)
    assert modbus_gateways(reg) == [("127.0.0.1", 5020), ("127.0.0.1", 5021), ("127.0.0.1", 5022)]
    imeis = [d.imei for d in reg.devices if d.imei]
    assert len(set(imeis)) == len(imeis)
    assert all(_luhn_ok(i) for i in imeis)
    shares = Counter(d.wire_format for d in reg.devices if d.kind is DeviceKind.SMOKE_DETECTOR)
    assert 0.65 < shares["smoke_json"] / 8000 < 0.85


def test_fleet_spreads_gateways_over_hosts() -> None:
    reg = generate_fleet(
        4, 1, 10, 0, 1.0, seed=1, modbus_hosts=["10.0.0.1", "10.0.0.2"], units_per_gateway=15
    )
    assert modbus_gateways(reg) == [("10.0.0.1", 5020), ("10.0.0.1", 5021), ("10.0.0.2", 5020)]


def _luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return len(number) == 15 and total % 10 == 0
