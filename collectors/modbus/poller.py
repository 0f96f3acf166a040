"""Modbus TCP poller: reads hydrant sensors behind Modbus TCP gateways and hands readings to the pipeline.

The shape follows the wiring in the field. A Modbus TCP gateway (host, port) bridges one RS-485 line; every
sensor on that line is a unit id. The line carries one request at a time, so the units of one gateway are
polled one after another over one TCP connection, each on its own schedule (``poll_interval_s``) and with its
own timeout: a dead unit costs its own slot and nothing more. Different gateways are independent lines and are
polled concurrently, one task each, owned by ``run()``.

What other gateways' users suffer from, and what this module does instead:

* a connection that never comes back: each gateway task reconnects forever with capped, jittered exponential
  back-off, and a task that dies of an unexpected exception is logged, counted and restarted;
* last values re-sent with fresh timestamps: a reading is submitted only for a poll that was answered. A
  timeout, an exception response or a lost connection yields no reading; the unit's first failure yields one
  ``comm_fault`` event (edge-triggered) and every failed poll one counted ``reject``; the first answer after
  that yields ``comm_restored``;
* one dead unit stalling the line: per-request timeouts, no blocking retries inside pymodbus.

pymodbus (3.16) is used as a plain request/response client: ``AsyncModbusTcpClient(host, port=...,
timeout=..., retries=0, reconnect_delay=0, trace_connect=...)`` and
``read_holding_registers(address, count=..., device_id=...)``.
Its own reconnect loop is off (``reconnect_delay=0``), its own retries are off (``retries=0``), its
"close the connection after N unanswered requests" rule is pushed out of reach (``set_max_no_responses``) and
its timeout is only a backstop behind ours, so there is exactly one policy: this module's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException

from collectors.backoff import Backoff
from collectors.base import Ingest, RejectReason
from collectors.modbus.registers import (
    RegisterMap,
    RegisterMaps,
    decode_registers,
    out_of_range,
)
from gateway.models import Device, DeviceEvent, EventType, Reading, Record, utc_now

log = logging.getLogger(__name__)

#: Name under which results reach ``Ingest`` (counters and dead letters are labelled with it).
DEFAULT_SOURCE = "modbus"

#: Close and reopen a gateway connection when this many polls in a row (across all its units, at least
#: twice per unit) went unanswered: a half-open TCP connection (gateway rebooted without a FIN, a NAT entry
#: expired) looks exactly like every unit timing out, and only a new connection tells the two apart.
_SILENT_POLLS_BEFORE_RECONNECT = 5

#: pymodbus's "unanswered requests before it closes the connection" counter; effectively never.
_PYMODBUS_MAX_NO_RESPONSES = 2**30


class ConnectionState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


@dataclass
class UnitStats:
    """Counters and state of one polled device, for the gateway's stats and the API."""

    device_id: str
    gateway: str
    unit: int
    polls_ok: int = 0
    polls_failed: int = 0
    #: Answered polls whose values were rejected (out of physical range): no reading was written.
    readings_rejected: int = 0
    #: None until the first poll; then whether the unit answered the last one.
    comm_ok: bool | None = None
    fault_reason: str | None = None
    last_ok: datetime | None = None
    last_failure: datetime | None = None


@dataclass
class GatewayStats:
    """Connection state and counters of one Modbus TCP gateway (host:port)."""

    gateway: str
    state: ConnectionState = ConnectionState.CONNECTING
    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    #: Reconnects forced because every unit stopped answering (possible half-open connection).
    silent_reconnects: int = 0
    #: Times the gateway task died of an unexpected exception and was restarted.
    task_restarts: int = 0
    last_error: str = ""


class _Failure(NamedTuple):
    """Why a poll produced no reading: the ``comm_fault`` reason, the reject reason and a detail."""

    reason: str
    reject: RejectReason
    detail: str


@dataclass(eq=False)
class _Unit:
    device: Device
    unit: int
    register_map: RegisterMap
    interval: float
    order: int
    stats: UnitStats
    next_due: float = 0.0


@dataclass(eq=False)
class _Link:
    """One gateway connection and the units behind it. Survives task restarts (schedules and state kept)."""

    host: str
    port: int
    units: list[_Unit]
    stats: GatewayStats
    backoff: Backoff
    client: AsyncModbusTcpClient | None = None
    #: Bumped on every new client, so a late callback from a previous client is ignored.
    generation: int = 0
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    next_connect_at: float = 0.0
    silent_polls: int = 0
    started: bool = False

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return self.client is not None and bool(self.client.connected)


def quiet_pymodbus_logging() -> None:
    """Silence pymodbus's logger unless the application configured it.

    pymodbus logs every unanswered request at ERROR with a hex dump of the last frames; with one dead unit
    polled every minute that is a log line a minute that says nothing our own (edge-triggered) log does not.
    """
    logger = logging.getLogger("pymodbus")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.CRITICAL)


class ModbusPoller:
    """Polls every device that has a Modbus address; ``run()`` until cancelled.

    Devices without ``modbus`` are ignored, so the whole registry can be passed. Register maps are loaded
    (built-in, or ``<name>.toml`` from ``map_dirs``) and checked here, at construction: a typo in a map name
    fails at start-up naming the device, not at the first poll.
    """

    def __init__(
        self,
        devices: Sequence[Device],
        ingest: Ingest,
        *,
        clock: Callable[[], datetime] = utc_now,
        request_timeout_s: float = 1.0,
        retries: int = 0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        connect_timeout_s: float = 3.0,
        map_dirs: Iterable[Path | str] = (),
        source: str = DEFAULT_SOURCE,
    ) -> None:
        if request_timeout_s <= 0 or connect_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        if backoff_initial_s <= 0 or backoff_max_s < backoff_initial_s:
            raise ValueError("need 0 < backoff_initial_s <= backoff_max_s")
        self._ingest = ingest
        self._clock = clock
        self._request_timeout = request_timeout_s
        self._connect_timeout = connect_timeout_s
        self._retries = retries
        self._backoff_initial = backoff_initial_s
        self._backoff_max = backoff_max_s
        self._source = source
        self._links = self._build_links(devices, RegisterMaps(map_dirs))
        quiet_pymodbus_logging()

    def _build_links(self, devices: Sequence[Device], maps: RegisterMaps) -> list[_Link]:
        links: dict[tuple[str, int], _Link] = {}
        seen: dict[tuple[str, int, int], str] = {}
        for device in devices:
            address = device.modbus
            if address is None:
                continue
            key = (address.host, address.port, address.unit)
            if key in seen:
                raise ValueError(
                    f"devices {seen[key]!r} and {device.id!r} both claim unit {address.unit} "
                    f"at {address.host}:{address.port}"
                )
            seen[key] = device.id
            try:
                register_map = maps.get(address.register_map)
            except ValueError as exc:
                raise ValueError(f"device {device.id!r}: {exc}") from exc
            link = links.get((address.host, address.port))
            if link is None:
                name = f"{address.host}:{address.port}"
                link = links[(address.host, address.port)] = _Link(
                    host=address.host,
                    port=address.port,
                    units=[],
                    stats=GatewayStats(gateway=name),
                    backoff=Backoff(self._backoff_initial, self._backoff_max),
                )
            link.units.append(
                _Unit(
                    device=device,
                    unit=address.unit,
                    register_map=register_map,
                    interval=address.poll_interval_s,
                    order=len(link.units),
                    stats=UnitStats(device_id=device.id, gateway=link.name, unit=address.unit),
                )
            )
        return list(links.values())

    # ------------------------------------------------------------------------------------ public state

    @property
    def unit_stats(self) -> Mapping[str, UnitStats]:
        """Per device id: polls ok/failed, rejected readings, communication state."""
        return {u.device.id: u.stats for link in self._links for u in link.units}

    @property
    def gateway_stats(self) -> Mapping[str, GatewayStats]:
        """Per ``host:port``: connection state and reconnect/restart counters."""
        return {link.name: link.stats for link in self._links}

    def totals(self) -> dict[str, float]:
        """Flat counters over all gateways and units, shaped for the ``gateway_stats`` measurement."""
        units = [u.stats for link in self._links for u in link.units]
        gateways = [link.stats for link in self._links]
        return {
            "modbus_polls_ok": float(sum(u.polls_ok for u in units)),
            "modbus_polls_failed": float(sum(u.polls_failed for u in units)),
            "modbus_readings_rejected": float(sum(u.readings_rejected for u in units)),
            "modbus_units": float(len(units)),
            "modbus_units_in_fault": float(sum(1 for u in units if u.comm_ok is False)),
            "modbus_gateways": float(len(gateways)),
            "modbus_gateways_connected": float(
                sum(1 for g in gateways if g.state is ConnectionState.CONNECTED)
            ),
            "modbus_connects": float(sum(g.connects for g in gateways)),
            "modbus_connect_failures": float(sum(g.connect_failures for g in gateways)),
            "modbus_task_restarts": float(sum(g.task_restarts for g in gateways)),
        }

    def stats(self) -> dict[str, Any]:
        """A JSON-ready snapshot of both, for the gateway's stats endpoint."""
        return {
            "gateways": {name: asdict(s) for name, s in self.gateway_stats.items()},
            "units": {
                device_id: {
                    **asdict(s),
                    "last_ok": s.last_ok.isoformat() if s.last_ok else None,
                    "last_failure": s.last_failure.isoformat() if s.last_failure else None,
                }
                for device_id, s in self.unit_stats.items()
            },
        }

    # -------------------------------------------------------------------------------------- running

    async def run(self) -> None:
        """Poll until cancelled: one supervised task per gateway."""
        if not self._links:
            log.info("no Modbus devices to poll")
            await asyncio.get_running_loop().create_future()  # nothing to do, but stay up like the others
        try:
            async with asyncio.TaskGroup() as group:
                for link in self._links:
                    group.create_task(self._supervise(link), name=f"modbus-poll {link.name}")
        finally:
            for link in self._links:
                self._drop_client(link)

    async def _supervise(self, link: _Link) -> None:
        """Keep the gateway's poll loop alive: log, count and restart it after any unexpected exception."""
        restart = Backoff(self._backoff_initial, self._backoff_max)
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self._poll_forever(link)
                raise RuntimeError("poll loop returned")  # it never should; treat it as a crash
            except Exception as exc:
                link.stats.task_restarts += 1
                link.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("Modbus gateway %s: poll task failed, restarting it", link.name)
                self._drop_client(link)
                link.stats.state = ConnectionState.DISCONNECTED
                if loop.time() - started > self._backoff_max:
                    restart.reset()  # it ran fine for a while: this is a new problem, start small
                await asyncio.sleep(restart.next_delay())

    async def _poll_forever(self, link: _Link) -> None:
        loop = asyncio.get_running_loop()
        if not link.started:
            now = loop.time()
            for unit in link.units:
                unit.next_due = now
            link.started = True
        while True:
            now = loop.time()
            if not link.connected and now >= link.next_connect_at:
                await self._connect(link)
                continue
            unit = min(link.units, key=lambda u: (u.next_due, u.order))
            wake = unit.next_due if link.connected else min(unit.next_due, link.next_connect_at)
            if wake > now:
                await self._sleep_until(link, wake)
                continue
            await self._poll(link, unit)
            unit.next_due = _next_due(unit.next_due, unit.interval, loop.time())

    async def _sleep_until(self, link: _Link, wake: float) -> None:
        """Sleep until ``wake``; wake early when the connection drops, to start reconnecting at once."""
        delay = wake - asyncio.get_running_loop().time()
        if not link.connected:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await link.lost.wait()

    # ----------------------------------------------------------------------------------- connection

    async def _connect(self, link: _Link) -> None:
        self._drop_client(link)
        link.generation += 1
        generation = link.generation
        link.lost.clear()
        link.stats.state = ConnectionState.CONNECTING

        def on_connection_change(up: bool) -> None:
            if not up and link.generation == generation and link.client is not None:
                link.stats.state = ConnectionState.DISCONNECTED
                link.stats.disconnects += 1
                link.lost.set()
                log.warning("Modbus gateway %s: connection lost", link.name)

        client = AsyncModbusTcpClient(
            link.host,
            port=link.port,
            name=f"modbus {link.name}",
            # pymodbus's timeout is a backstop only: ours (request/connect) always fires first.
            timeout=max(self._connect_timeout, self._request_timeout) * 2 + 1,
            retries=0,
            reconnect_delay=0,  # no reconnect task inside pymodbus: this module reconnects
            trace_connect=on_connection_change,
        )
        client.set_max_no_responses(_PYMODBUS_MAX_NO_RESPONSES)
        ok = False
        try:
            async with asyncio.timeout(self._connect_timeout):
                ok = bool(await client.connect())
        except (TimeoutError, OSError) as exc:
            link.stats.last_error = f"connect: {type(exc).__name__}: {exc}"
        except BaseException:
            client.close()  # cancelled mid-connect: do not leave a socket behind
            raise
        loop = asyncio.get_running_loop()
        if ok and client.connected:
            link.client = client
            link.silent_polls = 0
            link.backoff.reset()
            link.stats.state = ConnectionState.CONNECTED
            link.stats.connects += 1
            log.info("Modbus gateway %s: connected", link.name)
            return
        client.close()
        link.stats.state = ConnectionState.DISCONNECTED
        link.stats.connect_failures += 1
        delay = link.backoff.next_delay()
        link.next_connect_at = loop.time() + delay
        level = logging.WARNING if link.backoff.attempts == 1 else logging.DEBUG
        log.log(level, "Modbus gateway %s: cannot connect, retrying in %.2f s", link.name, delay)

    def _drop_client(self, link: _Link) -> None:
        client, link.client = link.client, None
        if client is not None:
            client.close()

    def _reconnect_soon(self, link: _Link) -> None:
        self._drop_client(link)
        link.stats.state = ConnectionState.DISCONNECTED
        link.next_connect_at = 0.0

    # -------------------------------------------------------------------------------------- polling

    async def _poll(self, link: _Link, unit: _Unit) -> None:
        outcome = await self._read_with_retries(link, unit)
        if isinstance(outcome, _Failure):
            if outcome.reject is RejectReason.MODBUS_TIMEOUT:
                link.silent_polls += 1
                if link.silent_polls >= max(_SILENT_POLLS_BEFORE_RECONNECT, 2 * len(link.units)):
                    log.info("Modbus gateway %s: no unit answers, reopening the connection", link.name)
                    link.stats.silent_reconnects += 1
                    self._reconnect_soon(link)
            elif outcome.reject is RejectReason.MODBUS_EXCEPTION:
                link.silent_polls = 0
            await self._failed(unit, outcome)
            return
        link.silent_polls = 0
        await self._answered(unit, outcome)

    async def _read_with_retries(self, link: _Link, unit: _Unit) -> list[int] | _Failure:
        outcome = await self._read(link, unit)
        for _ in range(self._retries):
            if not (isinstance(outcome, _Failure) and outcome.reject is RejectReason.MODBUS_TIMEOUT):
                break
            outcome = await self._read(link, unit)
        return outcome

    async def _read(self, link: _Link, unit: _Unit) -> list[int] | _Failure:
        """One request with its own timeout; the words, or why there are none."""
        client = link.client
        where = f"unit {unit.unit} at {link.name}"
        if client is None or not client.connected:
            return _Failure(
                "disconnected", RejectReason.MODBUS_DISCONNECTED, f"{where}: gateway not connected"
            )
        register_map = unit.register_map
        read = (
            client.read_holding_registers
            if register_map.function == "holding"
            else client.read_input_registers
        )
        try:
            async with asyncio.timeout(self._request_timeout):
                response = await read(register_map.start, count=register_map.count, device_id=unit.unit)
        except ConnectionException as exc:
            return _Failure("disconnected", RejectReason.MODBUS_DISCONNECTED, f"{where}: {exc}")
        except (TimeoutError, ModbusException) as exc:
            # pymodbus raises ModbusIOException for its own timeout and for an answer that does not match
            # the request; either way the unit gave no usable answer in time, unless the link itself died.
            if not client.connected:
                return _Failure(
                    "disconnected", RejectReason.MODBUS_DISCONNECTED, f"{where}: connection lost during poll"
                )
            text = str(exc) or f"no answer within {self._request_timeout:g} s"
            return _Failure("timeout", RejectReason.MODBUS_TIMEOUT, f"{where}: {text}")
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            return _Failure(
                f"exception_{code}", RejectReason.MODBUS_EXCEPTION, f"{where}: Modbus exception code {code}"
            )
        words = [int(w) for w in response.registers]
        if len(words) != register_map.count:
            return _Failure(
                "malformed",
                RejectReason.MALFORMED,
                f"{where}: asked for {register_map.count} registers, got {len(words)}",
            )
        return words

    async def _failed(self, unit: _Unit, failure: _Failure) -> None:
        now = self._clock()
        stats = unit.stats
        stats.polls_failed += 1
        stats.last_failure = now
        self._ingest.reject(failure.reject, failure.detail, source=self._source, device_id=unit.device.id)
        if stats.comm_ok is False:
            return  # already reported; one comm_fault per outage, the rejects count the failed polls
        event = DeviceEvent(
            device_id=unit.device.id,
            time=now,
            type=EventType.COMM_FAULT,
            attributes={"reason": failure.reason},
        )
        await self._ingest.submit([event], source=self._source)
        # The state changes only once the event is accepted: if submit failed, the next poll reports again.
        stats.comm_ok = False
        stats.fault_reason = failure.reason
        log.warning("Modbus device %s: communication fault (%s)", unit.device.id, failure.detail)

    async def _answered(self, unit: _Unit, words: list[int]) -> None:
        now = self._clock()
        stats = unit.stats
        stats.polls_ok += 1
        stats.last_ok = now
        records: list[Record] = []
        restored = stats.comm_ok is False
        if restored:
            records.append(DeviceEvent(device_id=unit.device.id, time=now, type=EventType.COMM_RESTORED))
        metrics = decode_registers(unit.register_map, words)
        problems = out_of_range(unit.register_map, metrics)
        if problems:
            stats.readings_rejected += 1
            self._ingest.reject(
                RejectReason.OUT_OF_RANGE,
                f"unit {unit.unit} at {stats.gateway}: " + "; ".join(problems),
                source=self._source,
                device_id=unit.device.id,
                raw=struct.pack(f">{len(words)}H", *words),
            )
        else:
            records.append(Reading(device_id=unit.device.id, time=now, metrics=metrics))
        if records:
            await self._ingest.submit(records, source=self._source)
        stats.comm_ok = True
        stats.fault_reason = None
        if restored:
            log.info("Modbus device %s: communication restored", unit.device.id)


def _next_due(due: float, interval: float, now: float) -> float:
    """The next slot on the unit's own grid; slots missed while the line was busy are skipped, not caught
    up in a burst."""
    due += interval
    if due <= now:
        due += interval * ((now - due) // interval + 1)
    return due
