"""Simulated hydrants (``simulators/devices/hydrant.py``): the DTU payload, and a Modbus unit driven.

The expected shapes are written from ``docs/wire-formats.md`` §4-§5 by hand, not from the encoders.
"""

from __future__ import annotations

from typing import Any

import pytest
from simulator_helpers import TS, payload

from gateway.models import Device, DeviceKind, ModbusAddress
from simulators.devices.base import ActionError
from simulators.devices.factory import make_sim
from simulators.devices.hydrant import HydrantDtuSim, HydrantModbusSim


def test_hydrant_json_shape_noise_and_status_bits() -> None:
    dev = Device(id="HY-E001-03", kind=DeviceKind.HYDRANT, estate_id="E001", wire_format="hydrant_json")
    sim = HydrantDtuSim(dev, seed=1)
    readings = [payload(sim.report(TS + i * 60_000)[0]) for i in range(50)]
    first = readings[0]
    assert list(first) == ["id", "seq", "ts", "pressure", "battery", "temperature", "status"]
    assert first["id"] == "HY-E001-03"
    assert first["status"] == 0
    assert isinstance(first["pressure"], float)
    assert isinstance(first["battery"], int)
    pressures = [r["pressure"] for r in readings]
    assert all(abs(p - sim.setpoint) < 0.05 for p in pressures)
    assert len(set(pressures)) > 5, "pressure has noise"
    assert [r["seq"] for r in readings] == list(range(first["seq"], first["seq"] + 50))
    (msg,) = sim.act("pressure", TS, {"value": 0.02})  # reported at once (change-triggered upload)
    assert msg.topic == "fire/hydrant/HY-E001-03/up"
    assert abs(payload(msg)["pressure"] - 0.02) < 0.01
    assert payload(sim.act("leak", TS)[0])["status"] == 0b0010
    assert payload(sim.act("cover_open", TS)[0])["status"] == 0b0110
    assert payload(sim.act("sensor_fault", TS)[0])["status"] == 0b0111
    assert payload(sim.act("leak", TS, {"value": False})[0])["status"] == 0b0101
    assert payload(sim.act("battery", TS, {"value": 10})[0])["status"] == 0b1101  # bit 3: low battery
    with pytest.raises(ActionError, match="value"):
        sim.act("pressure", TS, {})


class FakeUnits:
    """Records what a Modbus hydrant asks of the Modbus simulator (the real one is used further down)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def add_unit(
        self, unit: int, pressure_mpa: float = 0.35, battery_pct: int = 100, status: int = 0,
        temperature_c: float = 20.0,
    ) -> None:  # fmt: skip
        self.calls.append(("add", unit, pressure_mpa, battery_pct, status, temperature_c))

    def set_unit(self, unit: int, /, **values: Any) -> None:
        self.calls.append(("set", unit, values))

    def set_unit_silent(self, unit: int, silent: bool, /) -> None:
        self.calls.append(("silent", unit, silent))

    def set_unit_exception(self, unit: int, code: int | None, /) -> None:
        self.calls.append(("exception", unit, code))


def test_modbus_hydrant_drives_its_unit() -> None:
    dev = Device(
        id="HY-E001-05", kind=DeviceKind.HYDRANT, estate_id="E001", wire_format="modbus",
        modbus=ModbusAddress(host="127.0.0.1", port=5020, unit=9),
    )  # fmt: skip
    units = FakeUnits()
    sim = make_sim(dev, seed=1)
    assert isinstance(sim, HydrantModbusSim)
    sim.attach(units)
    assert sim.report(TS) == [], "a polled sensor publishes nothing"
    sim.act("pressure", TS, {"value": 0.02})
    sim.act("silent", TS, {"duration": "5m"})
    sim.act("exception", TS, {"code": 4})
    sim.act("exception_clear", TS)
    kinds = [c[0] for c in units.calls]
    assert kinds == ["add", "set", "set", "silent", "exception", "exception"]
    assert units.calls[0][1] == 9
    assert abs(units.calls[2][2]["pressure_mpa"] - 0.02) < 0.01
    assert set(units.calls[1][2]) == {"pressure_mpa", "battery_pct", "status", "temperature_c"}
    # Its battery is as full at its first report as when the unit was created (not drained since 1970).
    assert units.calls[1][2]["battery_pct"] == units.calls[0][3] >= 70
    assert units.calls[1][2]["status"] & 0b1000 == 0, "no low battery"
    assert units.calls[3] == ("silent", 9, True)
    assert units.calls[-1] == ("exception", 9, None)
    (follow,) = sim.take_followups()
    assert (follow.delay_s, follow.action, follow.params) == (300, "silent", {"value": False})
