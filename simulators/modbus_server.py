"""A Modbus TCP gateway with simulated hydrant pressure sensors behind it (docs/wire-formats.md section 5).

``HydrantModbusSimulator`` is a real pymodbus asyncio TCP server: the gateway's poller talks to it over a real
socket, so connection loss, a silent unit and an exception response are the same bytes on the wire as with a
field gateway. Each unit id is one sensor holding registers 0-5 of the documented map ``hydrant_default``.

The registers are encoded here, from the table in the docs, with ``struct``: this module never imports
``collectors/``, so a decoding bug in the collector cannot be hidden by the simulator sharing its code.

How the faults are made, and why that way:

* every unit id 0..247 is configured on the server up front, each with an ``action`` callback that copies the
  unit's current registers into the block pymodbus answers from; units can then be added while the server
  runs (the scenario runner adds them after ``start``) without rebuilding pymodbus's datastore;
* a *silent* unit (or one never added: an empty RS-485 address) is dropped in the server's ``trace_packet``
  hook, which sees the framed response and may replace it; an empty frame is written as nothing at all, so
  the client sees a timeout, exactly like a dead sensor behind a live gateway;
* an *exception* unit has its response replaced by an ``ExceptionResponse`` in the ``trace_pdu`` hook, which
  allows any code 1..255, not only those pymodbus names.

Pymodbus 3.16 API used: ``ModbusTcpServer(context=[SimDevice, ...], address=(host, port), trace_pdu=...,
trace_packet=...)``, ``serve_forever(background=True)``, ``shutdown()``; ``SimDevice(id, simdata, action)``,
``SimData(address, values, datatype=DataType.REGISTERS, readonly=True)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

log = logging.getLogger(__name__)

#: Registers 0..5 of ``hydrant_default``: pressure, battery, status, temperature, uptime (2 words).
REGISTER_COUNT = 6
#: Unit ids a Modbus RTU line can address (0 is broadcast on RTU; Modbus TCP gateways accept it).
UNIT_IDS = range(0, 248)
#: MBAP header: transaction id (2), protocol id (2), length (2), unit id (1).
_MBAP_UNIT_OFFSET = 6

_Action = Callable[
    [int, int, int, int, list[int], list[int] | list[bool] | None], Coroutine[None, None, ExcCodes | None]
]


@dataclass
class SimulatedUnit:
    """One hydrant sensor's state, in engineering units; encoded to registers when it is read."""

    pressure_mpa: float = 0.35
    battery_pct: int = 100
    status: int = 0
    temperature_c: float = 20.0
    silent: bool = False
    exception_code: int | None = None
    #: Seconds of uptime at ``_uptime_origin`` (monotonic); the register counts on from there.
    uptime_base_s: int = 0
    _uptime_origin: float = field(default_factory=time.monotonic)
    reads: int = 0

    def registers(self, *, uptime_s: int | None = None) -> list[int]:
        """The six words exactly as the documented map lays them out (big-endian, uptime high word first).

        ``uptime_s`` overrides the ticking uptime (tests compare exact values).
        """
        # uint16 pressure in kPa (0.001 MPa). The register is unsigned: a sensor clamps a slightly negative
        # gauge reading to 0 rather than wrapping it to 65.5 MPa.
        pressure = _clamp(round(self.pressure_mpa * 1000), 0, 0xFFFF)
        battery = _clamp(int(self.battery_pct), 0, 0xFFFF)
        status = int(self.status) & 0xFFFF
        temperature = _clamp(round(self.temperature_c * 10), -0x8000, 0x7FFF)  # int16, 0.1 °C
        uptime = _clamp(self.uptime_s if uptime_s is None else uptime_s, 0, 0xFFFFFFFF)
        raw = struct.pack(">HHHhI", pressure, battery, status, temperature, uptime)
        return list(struct.unpack(f">{REGISTER_COUNT}H", raw))

    @property
    def uptime_s(self) -> int:
        return self.uptime_base_s + int(time.monotonic() - self._uptime_origin)


def _clamp(value: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, value))


_SETTABLE = ("pressure_mpa", "battery_pct", "status", "temperature_c", "uptime_s")


class HydrantModbusSimulator:
    """A Modbus TCP gateway on ``host:port`` serving simulated hydrant sensors, one per unit id.

    ``port=0`` binds a free port; ``port`` then tells which, and a later ``start`` after ``stop`` binds the
    same port again, so a test can power-cycle the gateway under a connected poller. The setters are plain
    synchronous calls, usable whether or not the server is running.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._port = port
        self._units: dict[int, SimulatedUnit] = {}
        self._server: ModbusTcpServer | None = None
        #: Requests answered / dropped (silent) / answered with an exception, for tests and the CLI.
        self.answered = 0
        self.dropped = 0
        self.exceptions = 0

    # ---------------------------------------------------------------------------------------- units

    def add_unit(
        self,
        unit: int,
        pressure_mpa: float = 0.35,
        battery_pct: int = 100,
        status: int = 0,
        temperature_c: float = 20.0,
    ) -> None:
        """Put a sensor on the line at ``unit`` (replacing one already there)."""
        if unit not in UNIT_IDS:
            raise ValueError(f"unit id must be 0..247, got {unit}")
        self._units[unit] = SimulatedUnit(
            pressure_mpa=pressure_mpa, battery_pct=battery_pct, status=status, temperature_c=temperature_c
        )

    def set_unit(self, unit: int, /, **values: Any) -> None:
        """Change a sensor's values: ``pressure_mpa``, ``battery_pct``, ``status``, ``temperature_c``,
        ``uptime_s``."""
        state = self._unit(unit)
        unknown = sorted(set(values) - set(_SETTABLE))
        if unknown:
            raise TypeError(f"unknown unit value(s) {unknown}; settable: {', '.join(_SETTABLE)}")
        for key, value in values.items():
            if key == "uptime_s":
                state.uptime_base_s = int(value)
                state._uptime_origin = time.monotonic()
            else:
                setattr(state, key, value)

    def set_unit_silent(self, unit: int, silent: bool = True) -> None:
        """A silent unit does not answer at all (the poller times out); its registers are kept."""
        self._unit(unit).silent = bool(silent)

    def set_unit_exception(self, unit: int, code: int | None) -> None:
        """Answer every request to ``unit`` with Modbus exception ``code`` (None: answer normally again)."""
        if code is not None and not 1 <= code <= 255:
            raise ValueError(f"Modbus exception code must be 1..255, got {code}")
        self._unit(unit).exception_code = code

    def unit(self, unit: int) -> SimulatedUnit:
        """The state of one unit (read-only use: tests check ``reads``)."""
        return self._unit(unit)

    @property
    def units(self) -> list[int]:
        return sorted(self._units)

    def _unit(self, unit: int) -> SimulatedUnit:
        try:
            return self._units[unit]
        except KeyError:
            raise KeyError(f"no unit {unit} on the simulated gateway (add_unit first)") from None

    # ----------------------------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        """The TCP port (the bound one once started with port 0)."""
        return self._port

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Listen on ``host:port`` (pymodbus raises RuntimeError when the port cannot be bound)."""
        if self._server is not None:
            return
        devices = [
            SimDevice(
                id=unit,
                simdata=SimData(
                    address=0,
                    values=[0] * REGISTER_COUNT,
                    datatype=DataType.REGISTERS,
                    readonly=True,  # measured values: a write gets "illegal address", as from a real sensor
                ),
                action=self._action_for(unit),
            )
            for unit in UNIT_IDS
        ]
        server = ModbusTcpServer(
            devices,
            address=(self.host, self._port),
            trace_pdu=self._trace_pdu,
            trace_packet=self._trace_packet,
        )
        await server.serve_forever(background=True)
        listener: Any = server.transport
        self._port = int(listener.sockets[0].getsockname()[1])
        self._server = server
        log.debug("simulated Modbus gateway listening on %s:%d", self.host, self._port)

    async def stop(self) -> None:
        """Close the listener and every client connection (the poller sees the gateway go away)."""
        server, self._server = self._server, None
        if server is None:
            return
        with contextlib.suppress(Exception):
            await server.shutdown()  # type: ignore[no-untyped-call]
        # Let the closed transports deliver connection_lost before a restart re-binds the port.
        await asyncio.sleep(0)

    async def __aenter__(self) -> HydrantModbusSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------------------ pymodbus hooks

    def _action_for(self, unit: int) -> _Action:
        return partial(self._on_access, unit)

    async def _on_access(
        self,
        unit: int,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Called by pymodbus before it answers a read: refresh the block from the unit's state."""
        state = self._units.get(unit)
        if state is None:
            return None  # nobody at this address: the response is dropped in _trace_packet
        state.reads += 1
        current_registers[:REGISTER_COUNT] = state.registers()
        return None

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            return pdu
        state = self._units.get(pdu.dev_id)
        if state is None or state.exception_code is None or state.silent:
            return pdu
        self.exceptions += 1
        return ExceptionResponse(
            pdu.function_code & 0x7F,
            state.exception_code,
            device_id=pdu.dev_id,
            transaction=pdu.transaction_id,
        )

    def _trace_packet(self, sending: bool, packet: bytes) -> bytes:
        if not sending or len(packet) <= _MBAP_UNIT_OFFSET:
            return packet
        state = self._units.get(packet[_MBAP_UNIT_OFFSET])
        if state is None or state.silent:
            self.dropped += 1
            return b""  # transport.write(b"") sends nothing: the request goes unanswered
        self.answered += 1
        return packet
