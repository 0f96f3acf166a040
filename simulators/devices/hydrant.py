"""Simulated hydrant pressure sensors: on a DTU publishing ``hydrant_json``, or polled over Modbus.

Both share the sensor (pressure around a setpoint with noise, battery, temperature, the status register bits
of ``docs/wire-formats.md`` §4-§5); they differ only in how a reading leaves the device: a DTU publishes it,
a Modbus unit writes it into the registers of a ``HydrantModbusSimulator`` that the gateway polls.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, ClassVar, Protocol

from gateway.models import Device
from simulators.devices.base import (
    COMMON_ACTIONS,
    DURATION,
    LOW_BATTERY_PCT,
    NUMBER,
    ActionError,
    DeviceSim,
    Message,
    ParamSpec,
)
from simulators.devices.encoding import dumps

# Hydrant status register bits (docs/wire-formats.md §5): the DTU JSON ``status`` uses the same bits.
BIT_SENSOR_FAULT = 1 << 0
BIT_LEAK = 1 << 1
BIT_COVER_OPEN = 1 << 2
BIT_LOW_BATTERY = 1 << 3


class _HydrantState(DeviceSim):
    """Pressure around a setpoint with sensor noise, battery, temperature and the status bits."""

    KIND: ClassVar[str] = "hydrant"
    _BITS: ClassVar[dict[str, int]] = {
        "sensor_fault": BIT_SENSOR_FAULT,
        "leak": BIT_LEAK,
        "cover_open": BIT_COVER_OPEN,
    }
    ACTIONS: ClassVar[dict[str, dict[str, ParamSpec]]] = {
        **COMMON_ACTIONS,
        "pressure": {"value": (NUMBER, True), "duration": DURATION},
        "battery": {"value": (NUMBER, True)},
        "temperature": {"value": (NUMBER, True)},
        "status": {"value": ((int,), True), "duration": DURATION},
        "sensor_fault": {"value": ((bool,), False), "duration": DURATION},
        "leak": {"value": ((bool,), False), "duration": DURATION},
        "cover_open": {"value": ((bool,), False), "duration": DURATION},
        "report": {},
    }

    def __init__(self, device: Device, *, seed: int = 0, interval_s: float = 300.0) -> None:
        super().__init__(device, seed=seed, interval_s=interval_s)
        rng = self.rng
        outdoor = "室外" in device.location
        # Indoor high-rise hydrants sit well above the 0.07 MPa static minimum (GB 50974-2014 §5.2.2) and
        # near the 0.35 MPa outlet pressure (§7.4.12); outdoor ones hang on the municipal mains (>= 0.14 MPa,
        # GB 55036-2022 §3.0.3).
        self.setpoint = round(rng.uniform(0.22, 0.35) if outdoor else rng.uniform(0.30, 0.42), 3)
        self.battery = rng.uniform(70.0, 100.0)
        self.drain_pct_per_day = rng.uniform(0.01, 0.03)
        self.temperature = round(rng.uniform(8.0, 24.0), 1)
        self.status_bits = 0
        self._last_ms: int | None = None

    def _age(self, ts_ms: int) -> None:
        if self._last_ms is not None and ts_ms > self._last_ms:
            self.battery = max(
                0.0, self.battery - self.drain_pct_per_day * (ts_ms - self._last_ms) / 86_400_000
            )
        self._last_ms = ts_ms if self._last_ms is None else max(self._last_ms, ts_ms)

    def sample(self, ts_ms: int | None) -> tuple[float, int, int, float]:
        """(pressure MPa, battery %, status bits, temperature °C) as the sensor would read them at ``ts_ms``
        (None: at its last report, the battery not aged)."""
        if ts_ms is not None:
            self._age(ts_ms)
        # Noise grows a little with pressure (pump ripple); a dry pipe still reads a few kPa of noise.
        noise = self.rng.gauss(0.0, 0.002 + 0.01 * self.setpoint)
        pressure = round(max(-0.1, min(4.0, self.setpoint + noise)), 3)
        battery = max(0, min(100, math.floor(self.battery)))
        status = self.status_bits | (BIT_LOW_BATTERY if battery < LOW_BATTERY_PCT else 0)
        temperature = round(max(-40.0, min(85.0, self.temperature + self.rng.gauss(0.0, 0.2))), 1)
        return pressure, battery, status, temperature

    def changed(self, ts_ms: int) -> list[Message]:
        """Called after a state change: a DTU reports on change, a Modbus unit refreshes its registers."""
        return self.report(ts_ms)

    def _act_pressure(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self._later(d, "pressure", {"value": self.setpoint})
        self.setpoint = float(p["value"])
        return self.changed(ts_ms)

    def _act_battery(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self._age(ts_ms)
        self.battery = max(0.0, min(100.0, float(p["value"])))
        return self.changed(ts_ms)

    def _act_temperature(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self.temperature = float(p["value"])
        return self.changed(ts_ms)

    def _act_status(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        value = int(p["value"])
        if not 0 <= value <= 0xFFFF:
            raise ActionError(
                f"hydrant {self.device.id}: status {value} is not a 16-bit register value", "value"
            )
        self._later(d, "status", {"value": self.status_bits})
        self.status_bits = value & ~BIT_LOW_BATTERY  # bit 3 follows the battery
        return self.changed(ts_ms)

    def _set_bit(self, name: str, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        on = bool(p.get("value", True))
        bit = self._BITS[name]
        self.status_bits = (self.status_bits | bit) if on else (self.status_bits & ~bit)
        self._later(d, name, {"value": not on})
        return self.changed(ts_ms)

    def _act_sensor_fault(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        return self._set_bit("sensor_fault", ts_ms, p, d)

    def _act_leak(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        return self._set_bit("leak", ts_ms, p, d)

    def _act_cover_open(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        return self._set_bit("cover_open", ts_ms, p, d)

    def _act_report(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        return self.report(ts_ms)


class HydrantDtuSim(_HydrantState):
    """A hydrant pressure sensor behind a 4G/NB DTU publishing ``hydrant_json`` every ``interval_s``.

    Value changes from a scenario (``pressure``, ``leak``, ...) are reported at once, as DTUs configured
    for change-triggered upload do; the periodic report continues on its own schedule.
    """

    def report(self, ts_ms: int) -> list[Message]:
        if not self.online:
            return []
        pressure, battery, status, temperature = self.sample(ts_ms)
        payload = {
            "id": self.device.id,
            "seq": self.next_seq(),
            "ts": ts_ms,
            "pressure": pressure,
            "battery": battery,
            "temperature": temperature,
            "status": status,
        }
        return [Message(f"fire/hydrant/{self.device.id}/up", dumps(payload))]

    @property
    def format_label(self) -> str:
        return self.device.wire_format or "hydrant_json"


class ModbusUnits(Protocol):
    """The part of ``simulators.modbus_server.HydrantModbusSimulator`` a Modbus hydrant drives."""

    def add_unit(
        self,
        unit: int,
        pressure_mpa: float = ...,
        battery_pct: int = ...,
        status: int = ...,
        temperature_c: float = ...,
    ) -> object: ...

    def set_unit(self, unit: int, /, **values: Any) -> object: ...

    def set_unit_silent(self, unit: int, silent: bool, /) -> object: ...

    def set_unit_exception(self, unit: int, code: int | None, /) -> object: ...


class HydrantModbusSim(_HydrantState):
    """A hydrant sensor on RS-485 behind a Modbus TCP gateway: it sends nothing, it is polled.

    Each ``report`` refreshes the unit's registers on the ``HydrantModbusSimulator`` with a fresh noisy
    sample, so the gateway's poller sees live values. ``offline``/``silent`` make the unit stop answering
    (a timeout at the poller), ``exception`` makes it answer with a Modbus exception code.
    """

    ACTIONS: ClassVar[dict[str, dict[str, ParamSpec]]] = {
        **_HydrantState.ACTIONS,
        "silent": {"value": ((bool,), False), "duration": DURATION},
        "exception": {"code": ((int,), True), "duration": DURATION},
        "exception_clear": {},
    }

    def __init__(
        self, device: Device, server: ModbusUnits | None, *, seed: int = 0, interval_s: float = 60.0
    ) -> None:
        super().__init__(device, seed=seed, interval_s=interval_s)
        if device.modbus is None:
            raise ValueError(f"hydrant {device.id}: a Modbus hydrant needs a modbus address in the registry")
        self.unit = device.modbus.unit
        self.server = server
        self.updates = 0
        self.exception_code: int | None = None

    @property
    def format_label(self) -> str:
        return "modbus"

    def attach(self, server: ModbusUnits) -> None:
        """Create the unit on the simulator with the sensor's current values."""
        self.server = server
        # Not aged to a time: before its first report there is none (aging from 0 ms, 1970, drained every
        # Modbus hydrant's battery to 0 % at its first report: a flat line on the chart, and low battery).
        pressure, battery, status, temperature = self.sample(None)
        _ignore_result(
            server.add_unit(
                self.unit,
                pressure_mpa=pressure,
                battery_pct=battery,
                status=status,
                temperature_c=temperature,
            )
        )

    def report(self, ts_ms: int) -> list[Message]:
        pressure, battery, status, temperature = self.sample(ts_ms)
        if self.server is not None:
            # The registers keep the sensor's values even while the unit is silent (a dead line, not a dead
            # sensor); they become visible again when it answers.
            _ignore_result(
                self.server.set_unit(
                    self.unit,
                    pressure_mpa=pressure,
                    battery_pct=battery,
                    status=status,
                    temperature_c=temperature,
                )
            )
            self.updates += 1
        return []

    def _set_silent(self, silent: bool) -> None:
        self.online = not silent
        if self.server is not None:
            _ignore_result(self.server.set_unit_silent(self.unit, silent))

    def _act_offline(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self._set_silent(True)
        self._later(d, "online")
        return []

    def _act_online(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self._set_silent(False)
        self._later(d, "offline")
        return self.report(ts_ms)

    def _act_silent(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        silent = bool(p.get("value", True))
        self._set_silent(silent)
        self._later(d, "silent", {"value": not silent})
        return []

    def _act_exception(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        code = int(p["code"])
        if not 1 <= code <= 255:
            raise ActionError(
                f"hydrant {self.device.id}: Modbus exception code must be 1..255, got {code}", "code"
            )
        self.exception_code = code
        if self.server is not None:
            _ignore_result(self.server.set_unit_exception(self.unit, code))
        self._later(d, "exception_clear")
        return []

    def _act_exception_clear(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self.exception_code = None
        if self.server is not None:
            _ignore_result(self.server.set_unit_exception(self.unit, None))
        return []


def _ignore_result(result: object) -> None:
    """The Modbus simulator's setters are plain calls; close a coroutine if one is returned by mistake."""
    if inspect.iscoroutine(result):
        result.close()
        raise TypeError("HydrantModbusSimulator setters are expected to be synchronous")
