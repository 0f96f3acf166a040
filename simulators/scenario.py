"""Scenarios: a fleet, a clock speed, reporting intervals and timed incidents, read from TOML and run.

A scenario is what a demo, a soak test or a regression test replays: "four estates, at 60x, and at +3 min the
hydrant HY-E001-03 loses its water". The file names the fleet by its generator parameters (or a registry
file), so the gateway and the simulator agree on the devices without shipping a 10,000-device registry.
See ``docs/simulators.md`` for the format with a full example.

Every problem in a file is reported at once, with the file, line and key (``demo.toml:41: incidents[3].device:
unknown device 'SD-E002-0099'``), because a scenario with a typo would otherwise run for an hour and show
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import fnmatch
import heapq
import inspect
import logging
import math
import re
import time
import tomllib
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.models import Device
from gateway.registry import Registry, RegistryError, load_registry
from simulators.clock import SimClock, parse_duration, to_ms
from simulators.devices import (
    ActionError,
    DeviceSim,
    FollowUp,
    HydrantModbusSim,
    Message,
    ModbusUnits,
    ReportIntervals,
    check_params,
    make_sim,
    sim_class_for,
)
from simulators.fleet import generate_fleet

if TYPE_CHECKING:  # pymodbus is imported only when Modbus is served
    from simulators.modbus_server import HydrantModbusSimulator

log = logging.getLogger(__name__)

PublishFn = Callable[[str, bytes], Awaitable[None]]
#: Called with the live ``ScenarioStats`` (``str(stats)`` is the one-line summary, so a hook that just prints
#: text works too, hence ``Any``); an awaitable result is awaited.
ProgressHook = Callable[[Any], object]
ModbusTargets = ModbusUnits | Mapping[tuple[str, int], ModbusUnits]


class ScenarioError(ValueError):
    """The scenario is invalid; ``problems`` lists every problem with its location."""

    def __init__(self, source: str, problems: list[str]) -> None:
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{source}: {len(problems)} problem(s) in the scenario:\n  {shown}{more}")
        self.source = source
        self.problems = problems


@dataclass(frozen=True)
class FleetSpec:
    """Parameters of ``simulators.fleet.generate_fleet`` (``seed`` None = the scenario's seed)."""

    estates: int = 4
    smoke_per_estate: int = 20
    hydrants_per_estate: int = 6
    cameras_per_estate: int = 4
    modbus_share: float = 0.5
    modbus_host: str = "127.0.0.1"
    modbus_port: int = 5020
    modbus_hosts: tuple[str, ...] = ()
    units_per_gateway: int = 247
    modbus_poll_s: float = 60.0
    gbt_share: float = 0.12
    ctwing_share: float = 0.13
    seed: int | None = None

    def generate(self, default_seed: int) -> Registry:
        return generate_fleet(
            self.estates,
            self.smoke_per_estate,
            self.hydrants_per_estate,
            self.cameras_per_estate,
            self.modbus_share,
            self.seed if self.seed is not None else default_seed,
            self.modbus_host,
            self.modbus_port,
            modbus_hosts=self.modbus_hosts or None,
            units_per_gateway=self.units_per_gateway,
            modbus_poll_s=self.modbus_poll_s,
            gbt_share=self.gbt_share,
            ctwing_share=self.ctwing_share,
        )


@dataclass(frozen=True)
class Incident:
    """One timed action on one or more devices, ``at_s`` simulated seconds after the start."""

    at_s: float
    devices: tuple[str, ...]
    action: str
    params: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    where: str = ""  # "file:line" for log messages


@dataclass(frozen=True)
class Scenario:
    """A complete, validated scenario. Build one with ``load_scenario`` / ``parse_scenario`` or by hand."""

    name: str = "scenario"
    description: str = ""
    seed: int = 1
    start: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    speed: float = 1.0
    duration_s: float | None = None  # None: until stopped
    fleet: FleetSpec | None = field(default_factory=FleetSpec)
    registry_path: Path | None = None
    intervals: ReportIntervals = field(default_factory=ReportIntervals)
    stagger_s: float | None = None  # None: each device's first report falls within its own interval
    incidents: tuple[Incident, ...] = ()
    source: str = "<scenario>"
    _registry: list[Registry] = field(default_factory=list, repr=False, compare=False)

    def registry(self) -> Registry:
        """The scenario's devices (generated once, then cached)."""
        if not self._registry:
            if self.registry_path is not None:
                self._registry.append(load_registry(self.registry_path))
            else:
                self._registry.append((self.fleet or FleetSpec()).generate(self.seed))
        return self._registry[0]

    def with_overrides(self, *, speed: float | None = None, modbus_port: int | None = None) -> Scenario:
        """A copy with another speed and/or the first Modbus gateway moved to ``modbus_port``."""
        new = self
        if speed is not None:
            if speed < 0 or math.isnan(speed):
                raise ValueError(f"speed must be >= 0, got {speed}")
            new = replace(new, speed=speed, _registry=list(new._registry))
        if modbus_port is not None:
            if new.registry_path is None:
                new = replace(
                    new, fleet=replace(new.fleet or FleetSpec(), modbus_port=modbus_port), _registry=[]
                )
            else:
                new = replace(new, _registry=[_shift_modbus_ports(new.registry(), modbus_port)])
        return new


def _shift_modbus_ports(registry: Registry, first_port: int) -> Registry:
    ports = sorted({d.modbus.port for d in registry.devices if d.modbus is not None})
    if not ports:
        return registry
    offset = first_port - ports[0]
    devices = tuple(
        d.model_copy(update={"modbus": d.modbus.model_copy(update={"port": d.modbus.port + offset})})
        if d.modbus is not None
        else d
        for d in registry.devices
    )
    return Registry.model_validate(
        {"estates": registry.estates, "buildings": registry.buildings, "devices": devices}
    )


# ---------------------------------------------------------------------------------------------- loading

_TOP_KEYS = {
    "name", "description", "seed", "start", "speed", "duration",
    "registry", "fleet", "intervals", "incidents",
}  # fmt: skip
_FLEET_KEYS = {f for f in FleetSpec.__dataclass_fields__}
_INTERVAL_KEYS = {
    "smoke_heartbeat": "smoke_heartbeat_s",
    "hydrant_report": "hydrant_report_s",
    "modbus_update": "modbus_update_s",
    "camera_event": "camera_event_s",
    "stagger": "",
}
_INCIDENT_KEYS = {"at", "device", "devices", "action", "note"}


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (relative ``registry`` paths are relative to the file)."""
    path = Path(path)
    if not path.exists():
        raise ScenarioError(str(path), ["file not found"])
    return parse_scenario(path.read_text(encoding="utf-8"), source=str(path), base_dir=path.parent)


def parse_scenario(text: str, *, source: str = "<scenario>", base_dir: Path | None = None) -> Scenario:
    """Validate scenario TOML text; raises ``ScenarioError`` listing every problem with its line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, [f"{source}: cannot parse TOML: {exc}"]) from exc
    return scenario_from_mapping(data, source=source, text=text, base_dir=base_dir)


class _Lines:
    """Finds the line of a key in the TOML text, so that errors point at it (tomllib keeps no positions)."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-]+)\s*\]\]?")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")

    def __init__(self, source: str, text: str | None) -> None:
        self.source = source
        self.lines: dict[tuple[str, int, str], int] = {}
        self.headers: dict[tuple[str, int], int] = {}
        if text is None:
            return
        section, index = "", 0
        counts: Counter[str] = Counter()
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._HEADER.match(line)
            if header:
                section = header.group(2)
                index = counts[section] if header.group(1) == "[[" else 0
                counts[section] += 1 if header.group(1) == "[[" else 0
                self.headers.setdefault((section, index), number)
                continue
            key = self._KEY.match(line)
            if key:
                self.lines.setdefault((section, index, key.group(1)), number)

    def at(self, section: str = "", key: str = "", index: int = 0) -> str:
        number = self.lines.get((section, index, key)) or self.headers.get((section, index))
        return f"{self.source}:{number}" if number else self.source


def scenario_from_mapping(
    data: Mapping[str, Any],
    *,
    source: str = "<scenario>",
    text: str | None = None,
    base_dir: Path | None = None,
) -> Scenario:
    """Validate an already-parsed scenario table (``text`` lets problems carry line numbers)."""
    lines = _Lines(source, text)
    problems: list[str] = []

    def bad(section: str, key: str, message: str, index: int = 0, label: str | None = None) -> None:
        name = label or (f"{section}.{key}" if section else key)
        problems.append(f"{lines.at(section, key, index)}: {name}: {message}")

    for key in data:
        if key not in _TOP_KEYS:
            bad("", key, f"unknown key (allowed: {', '.join(sorted(_TOP_KEYS))})")

    name = _get(data, "name", str, "scenario", bad)
    description = _get(data, "description", str, "", bad)
    seed = _get(data, "seed", int, 1, bad)

    start = datetime.now(UTC).replace(microsecond=0)
    if "start" in data:
        raw = data["start"]
        try:
            parsed = datetime.fromisoformat(raw) if isinstance(raw, str) else raw
            if isinstance(parsed, date) and not isinstance(parsed, datetime):
                raise ValueError("a date alone is not a start time")
            if not isinstance(parsed, datetime):
                raise ValueError(f"expected a date-time, got {raw!r}")
            if parsed.tzinfo is None:
                raise ValueError("give a timezone offset, e.g. 2026-11-23T08:00:00+08:00")
            start = parsed.astimezone(UTC)
        except ValueError as exc:
            bad("", "start", str(exc))

    speed = 1.0
    if "speed" in data:
        raw = data["speed"]
        if isinstance(raw, str) and raw.lower() in ("max", "fast", "inf"):
            speed = 0.0
        elif isinstance(raw, int | float) and not isinstance(raw, bool) and raw >= 0:
            speed = float(raw)
        else:
            bad("", "speed", f'must be a number >= 0 (0 or "max" = as fast as possible), got {raw!r}')

    duration_s: float | None = None
    if "duration" in data:
        try:
            duration_s = parse_duration(data["duration"])
            if duration_s <= 0:
                raise ValueError("must be > 0")
        except (ValueError, TypeError, AttributeError) as exc:
            bad("", "duration", str(exc))
    elif speed == 0 or math.isinf(speed):
        bad("", "duration", "required when speed is 0/max (a virtual clock would otherwise never stop)")

    registry_path: Path | None = None
    fleet: FleetSpec | None = None
    before_devices = len(problems)  # problems in the fleet/registry keys stop the registry from being built
    if "registry" in data and "fleet" in data:
        bad("", "registry", "give either registry or [fleet], not both")
    if "registry" in data:
        if isinstance(data["registry"], str):
            registry_path = Path(data["registry"])
            if not registry_path.is_absolute() and base_dir is not None:
                registry_path = base_dir / registry_path
        else:
            bad("", "registry", "must be a path string")
    else:
        fleet = _fleet(data.get("fleet", {}), bad)
    devices_ok = len(problems) == before_devices

    intervals, stagger_s = _intervals(data.get("intervals", {}), bad)

    scenario = Scenario(
        name=name,
        description=description,
        seed=seed,
        start=start,
        speed=speed,
        duration_s=duration_s,
        fleet=fleet,
        registry_path=registry_path,
        intervals=intervals,
        stagger_s=stagger_s,
        source=source,
    )
    registry: Registry | None = None
    if devices_ok:
        try:
            registry = scenario.registry()
        except (RegistryError, ValueError) as exc:
            key = "registry" if registry_path is not None else "fleet"
            bad(
                "" if key == "registry" else "fleet",
                "" if key == "fleet" else "registry",
                str(exc),
                label=key,
            )

    incidents = _incidents(data.get("incidents", []), scenario, registry, lines, bad)
    if problems:
        raise ScenarioError(source, problems)
    return replace(scenario, incidents=incidents, _registry=scenario._registry)


BadFn = Callable[..., None]


def _get(data: Mapping[str, Any], key: str, typ: type, default: Any, bad: BadFn, section: str = "") -> Any:
    if key not in data:
        return default
    value = data[key]
    if isinstance(value, bool) and typ is not bool:
        bad(section, key, f"must be {typ.__name__}, got {value!r}")
        return default
    if typ is float and isinstance(value, int):
        return float(value)
    if not isinstance(value, typ):
        bad(section, key, f"must be {typ.__name__}, got {value!r}")
        return default
    return value


def _fleet(raw: Any, bad: BadFn) -> FleetSpec:
    if not isinstance(raw, Mapping):
        bad("", "fleet", "must be a table [fleet]")
        return FleetSpec()
    values: dict[str, Any] = {}
    defaults = FleetSpec()
    for key, value in raw.items():
        if key not in _FLEET_KEYS:
            bad("fleet", key, f"unknown key (allowed: {', '.join(sorted(_FLEET_KEYS))})")
            continue
        default = getattr(defaults, key)
        if key == "modbus_hosts":
            if not isinstance(value, list) or not all(isinstance(h, str) for h in value):
                bad("fleet", key, "must be a list of host names")
            else:
                values[key] = tuple(value)
            continue
        typ = int if key == "seed" else type(default)
        got = _get(raw, key, typ, None, bad, "fleet")
        if got is None:
            continue
        if isinstance(got, int | float) and got < 0:
            bad("fleet", key, f"must be >= 0, got {got}")
            continue
        values[key] = got
    spec = replace(defaults, **values)
    if not 0 <= spec.modbus_share <= 1:
        bad("fleet", "modbus_share", f"must be within 0..1, got {spec.modbus_share}")
    if not 1 <= spec.units_per_gateway <= 247:
        bad("fleet", "units_per_gateway", f"must be 1..247 (RS-485 addresses), got {spec.units_per_gateway}")
    if spec.gbt_share + spec.ctwing_share > 1:
        bad("fleet", "gbt_share", "gbt_share + ctwing_share must be at most 1")
    return spec


def _intervals(raw: Any, bad: BadFn) -> tuple[ReportIntervals, float | None]:
    if not isinstance(raw, Mapping):
        bad("", "intervals", "must be a table [intervals]")
        return ReportIntervals(), None
    values: dict[str, float] = {}
    stagger: float | None = None
    for key, value in raw.items():
        if key not in _INTERVAL_KEYS:
            bad("intervals", key, f"unknown key (allowed: {', '.join(sorted(_INTERVAL_KEYS))})")
            continue
        try:
            seconds = parse_duration(value)
        except (ValueError, TypeError, AttributeError) as exc:
            bad("intervals", key, str(exc))
            continue
        if key == "stagger":
            stagger = seconds
        elif seconds <= 0 and key != "camera_event":
            bad("intervals", key, "must be > 0")
        else:
            values[_INTERVAL_KEYS[key]] = seconds
    return replace(ReportIntervals(), **values), stagger


def _incidents(
    raw: Any, scenario: Scenario, registry: Registry | None, lines: _Lines, bad: BadFn
) -> tuple[Incident, ...]:
    if not isinstance(raw, list):
        bad("", "incidents", "must be an array of tables [[incidents]]")
        return ()
    out: list[Incident] = []
    ids = [d.id for d in registry.devices] if registry is not None else []
    for i, item in enumerate(raw):
        label = f"incidents[{i}]"

        def problem(key: str, message: str, i: int = i, label: str = label) -> None:
            bad("incidents", key, message, i, f"{label}.{key}" if key else label)

        if not isinstance(item, Mapping):
            problem("", "must be a table")
            continue
        ok = True
        # -- when
        at_s = 0.0
        if "at" not in item:
            problem("at", 'missing (e.g. at = "+10m")')
            ok = False
        else:
            try:
                at_s = _offset(item["at"], scenario.start)
                if scenario.duration_s is not None and at_s > scenario.duration_s:
                    end = scenario.duration_s
                    raise ValueError(f"{item['at']!r} is after the end of the scenario (duration {end:g} s)")
            except (ValueError, TypeError, AttributeError) as exc:
                problem("at", str(exc))
                ok = False
        # -- what
        action = item.get("action")
        if not isinstance(action, str):
            problem("action", 'missing or not a string (e.g. action = "alarm")')
            ok = False
        # -- who
        targets: list[str] = []
        if ("device" in item) == ("devices" in item):
            problem("device", 'give exactly one of device = "ID" or devices = ["ID", "SD-E001-*"]')
            ok = False
        else:
            key = "device" if "device" in item else "devices"
            wanted = item[key]
            patterns = [wanted] if isinstance(wanted, str) else wanted
            if (
                not isinstance(patterns, list)
                or not patterns
                or not all(isinstance(p, str) for p in patterns)
            ):
                problem(key, "must be a device id string (or, for devices, a non-empty list of ids/globs)")
                ok = False
            elif registry is not None:
                for pattern in patterns:
                    found = _match(pattern, registry, ids)
                    if not found:
                        hint = difflib.get_close_matches(pattern, ids, n=3)
                        tip = f"; did you mean {', '.join(hint)}?" if hint else ""
                        problem(key, f"unknown device {pattern!r}{tip}")
                        ok = False
                    targets += found
        note = item.get("note", "")
        if not isinstance(note, str):
            problem("note", "must be a string")
            ok = False
        params = {k: v for k, v in item.items() if k not in _INCIDENT_KEYS}
        if ok and registry is not None and isinstance(action, str):
            # Check the action and its parameters against each simulator class among the targets.
            checked: set[tuple[type, str]] = set()
            for device_id in dict.fromkeys(targets):
                device = registry.device(device_id)
                cls = sim_class_for(device)
                if (cls, device.wire_format) in checked:
                    continue
                checked.add((cls, device.wire_format))
                specs = cls.ACTIONS.get(action)
                if specs is None:
                    allowed = ", ".join(sorted(cls.ACTIONS))
                    problem(
                        "action", f"{device_id} ({cls.KIND}) has no action {action!r} (allowed: {allowed})"
                    )
                    ok = False
                    break
                try:
                    check_params(cls.KIND, action, specs, params)
                    # Dry run on a throwaway simulator: catches values out of range (an unknown camera
                    # type, exception code 300) now rather than an hour into the run.
                    make_sim(device, seed=scenario.seed).act(action, 0, params)
                except ActionError as exc:
                    problem(exc.param or "action", f"{device_id}: {exc}")
                    ok = False
                    break
        if ok:
            out.append(
                Incident(
                    at_s=at_s,
                    devices=tuple(dict.fromkeys(targets)),
                    action=str(action),
                    params=params,
                    note=note,
                    where=lines.at("incidents", "at", i),
                )
            )
    # Stable order by time; ties keep file order.
    return tuple(sorted(out, key=lambda inc: inc.at_s))


def _offset(value: Any, start: datetime) -> float:
    """Seconds after ``start`` for ``at``: ``"+2h30m"``, a number of seconds, or an absolute date-time."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("an absolute time needs a timezone offset")
        offset = (value - start).total_seconds()
        if offset < 0:
            raise ValueError(f"{value.isoformat()} is before the scenario start {start.isoformat()}")
        return offset
    if isinstance(value, str) and "T" in value:
        return _offset(datetime.fromisoformat(value), start)
    return parse_duration(value)


def _match(pattern: str, registry: Registry, ids: list[str]) -> list[str]:
    if any(ch in pattern for ch in "*?["):
        return fnmatch.filter(ids, pattern)
    device = registry.resolve(pattern)
    return [device.id] if device is not None else []


# ---------------------------------------------------------------------------------------------- running


@dataclass
class ScenarioStats:
    """Live and final counters of a run; ``progress`` hooks receive this object."""

    scenario: str = ""
    devices: int = 0
    messages: int = 0
    bytes: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    by_format: Counter[str] = field(default_factory=Counter)
    by_topic: Counter[str] = field(default_factory=Counter, repr=False)
    publish_errors: int = 0
    incidents_total: int = 0
    incidents_applied: int = 0
    incidents_failed: int = 0
    followups_applied: int = 0
    modbus_updates: int = 0
    modbus_unattached: int = 0
    #: (simulated seconds since start, device id, action, note or "failed: why")
    incident_log: list[tuple[float, str, str, str]] = field(default_factory=list, repr=False)
    sim_start: datetime | None = None
    sim_now: datetime | None = None
    sim_elapsed_s: float = 0.0
    wall_s: float = 0.0
    max_lag_s: float = 0.0
    finished: bool = False

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        """One line for a live display."""
        kinds = " ".join(f"{k}={v}" for k, v in sorted(self.by_kind.items()))
        when = self.sim_now.isoformat(timespec="seconds") if self.sim_now else "-"
        return (
            f"[{self.scenario}] sim {when} (+{self.sim_elapsed_s / 60:.1f} min) wall {self.wall_s:.1f}s | "
            f"{self.messages} msgs ({kinds}) modbus updates {self.modbus_updates} | "
            f"incidents {self.incidents_applied}/{self.incidents_total} failed {self.incidents_failed} | "
            f"publish errors {self.publish_errors}"
        )


_PERIODIC, _INCIDENT, _FOLLOWUP = 0, 1, 2


class ScenarioRunner:
    """Runs a scenario: every device's periodic reports, the incidents, and their follow-ups.

    All future work sits in one heap keyed by simulated time; the loop waits on the ``SimClock`` for the
    earliest item, so a virtual clock jumps straight there and a scaled clock sleeps in real time. First
    reports are staggered (each device draws its offset from its own random stream) so that 10,000 daily
    heartbeats spread over the day instead of arriving at t = 0 like a thundering herd.

    Message timestamps are the simulated time the message is due, which keeps a run reproducible for a seed
    even when publishing falls behind a fast clock (``max_lag_s`` says by how much).

    Publishing: up to ``max_in_flight`` publishes run concurrently; they are started in schedule order, and
    an MQTT client sends in call order, so each device's messages stay in order on the wire.
    """

    def __init__(
        self,
        scenario: Scenario,
        publish: PublishFn,
        modbus: ModbusTargets | None = None,
        clock: SimClock | None = None,
        *,
        progress: ProgressHook | None = None,
        progress_every_s: float = 1.0,
        max_in_flight: int = 64,
    ) -> None:
        self.scenario = scenario
        self.publish = publish
        self.clock = clock or SimClock(scenario.start, scenario.speed)
        self.progress = progress
        self.progress_every_s = progress_every_s
        self.registry = scenario.registry()
        self.stats = ScenarioStats(scenario=scenario.name, incidents_total=len(scenario.incidents))
        self._sem = asyncio.Semaphore(max(1, max_in_flight))
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._heap: list[tuple[float, int, int, Any]] = []
        self._order = 0
        self.sims: dict[str, DeviceSim] = {}
        self._build(modbus)

    # -- set-up --------------------------------------------------------------------------------------

    def _build(self, modbus: ModbusTargets | None) -> None:
        gateways = sorted({(d.modbus.host, d.modbus.port) for d in self.registry.devices if d.modbus})
        servers: dict[tuple[str, int], ModbusUnits] = {}
        if isinstance(modbus, Mapping):
            servers = dict(modbus)
        elif modbus is not None and gateways:
            # One simulator given: it serves the gateway whose port it is bound to, else the first one.
            port = getattr(modbus, "port", None)
            match = [g for g in gateways if g[1] == port] or gateways[:1]
            servers = {match[0]: modbus}
        for device in self.registry.devices:
            sim = make_sim(device, seed=self.scenario.seed, intervals=self.scenario.intervals)
            self.sims[device.id] = sim
            if isinstance(sim, HydrantModbusSim):
                assert device.modbus is not None
                server = servers.get((device.modbus.host, device.modbus.port))
                if server is None:
                    self.stats.modbus_unattached += 1
                else:
                    sim.attach(server)
        self.stats.devices = len(self.sims)

    def _push(self, at_s: float, kind: int, item: Any) -> None:
        self._order += 1
        heapq.heappush(self._heap, (at_s, self._order, kind, item))

    def _schedule_initial(self) -> None:
        for incident in self.scenario.incidents:
            self._push(incident.at_s, _INCIDENT, incident)
        for sim in self.sims.values():
            if isinstance(sim, HydrantModbusSim) and sim.server is None:
                continue  # nobody can poll it: refreshing its registers would only cost time
            interval = sim.next_interval_s()
            if not math.isfinite(interval) or interval <= 0:
                continue
            window = self.scenario.stagger_s if self.scenario.stagger_s is not None else interval
            self._push(sim.rng.uniform(0.0, min(window, interval)), _PERIODIC, sim)

    # -- control -------------------------------------------------------------------------------------

    def stop(self) -> None:
        """End the run now, even mid-wait (in-flight publishes are still awaited)."""
        self._stopping = True
        self._stop_event.set()

    async def _wait_until(self, at_s: float) -> None:
        """Sleep on the scaled clock until ``at_s``, or until ``stop()``."""
        delay = self.clock.real_delay(at_s - self.clock.elapsed_s())
        if delay <= 0:
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), timeout=delay)

    async def run(self) -> ScenarioStats:
        """Run until the scenario's duration has passed (or ``stop()``); returns the final counters."""
        if self.clock.virtual and self.scenario.duration_s is None:
            raise ValueError("a virtual clock (speed 0/inf) needs a scenario duration, or it never ends")
        stats = self.stats
        stats.sim_start = self.clock.now()
        wall0 = time.monotonic()
        next_progress = wall0 + self.progress_every_s
        start_ms = to_ms(self.clock.start)
        base_s = self.clock.elapsed_s()
        end_s = math.inf if self.scenario.duration_s is None else base_s + self.scenario.duration_s
        self._schedule_initial()
        if base_s:
            self._heap = [(t + base_s, o, k, i) for t, o, k, i in self._heap]
            heapq.heapify(self._heap)
        virtual = self.clock.virtual
        since_yield = 0
        try:
            while self._heap and not self._stopping:
                at_s, _, kind, item = self._heap[0]
                if at_s > end_s:
                    break
                heapq.heappop(self._heap)
                if virtual:
                    self.clock.advance_to(at_s)
                    since_yield += 1
                    if since_yield >= 256:
                        since_yield = 0
                        await asyncio.sleep(0)
                elif at_s > self.clock.elapsed_s():
                    await self._wait_until(at_s)
                    if self._stopping:
                        break
                else:
                    stats.max_lag_s = max(stats.max_lag_s, self.clock.elapsed_s() - at_s)
                ts_ms = start_ms + round(at_s * 1000)
                if kind == _PERIODIC:
                    await self._periodic(item, at_s, ts_ms)
                elif kind == _INCIDENT:
                    await self._incident(item, at_s, ts_ms)
                else:
                    await self._followup(item, ts_ms)
                if time.monotonic() >= next_progress:
                    next_progress = time.monotonic() + self.progress_every_s
                    self._update_time(wall0, at_s - base_s)
                    await self._report_progress()
            if not self._stopping and math.isfinite(end_s):
                # Let simulated time run to the end even when nothing is left to do.
                if virtual:
                    self.clock.advance_to(end_s)
                else:
                    await self._wait_until(end_s)
        finally:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            stats.finished = True
            self._update_time(wall0, (min(end_s, self.clock.elapsed_s())) - base_s)
            await self._report_progress()
        return stats

    def _update_time(self, wall0: float, sim_elapsed: float) -> None:
        self.stats.wall_s = time.monotonic() - wall0
        self.stats.sim_elapsed_s = sim_elapsed
        self.stats.sim_now = self.clock.now()

    async def _report_progress(self) -> None:
        if self.progress is None:
            return
        result = self.progress(self.stats)
        if inspect.isawaitable(result):
            await result

    # -- work items ----------------------------------------------------------------------------------

    async def _periodic(self, sim: DeviceSim, at_s: float, ts_ms: int) -> None:
        messages = sim.report(ts_ms)
        if isinstance(sim, HydrantModbusSim) and sim.server is not None:
            self.stats.modbus_updates += 1
        await self._emit(sim, messages, at_s)
        interval = sim.next_interval_s()
        if math.isfinite(interval) and interval > 0:
            self._push(at_s + interval, _PERIODIC, sim)

    async def _incident(self, incident: Incident, at_s: float, ts_ms: int) -> None:
        failures = 0
        for device_id in incident.devices:
            sim = self.sims[device_id]
            try:
                messages = sim.act(incident.action, ts_ms, incident.params)
            except ActionError as exc:
                failures += 1
                self.stats.incident_log.append((at_s, device_id, incident.action, f"failed: {exc}"))
                log.warning(
                    "%s: incident %s on %s failed: %s", incident.where, incident.action, device_id, exc
                )
                continue
            self.stats.incident_log.append((at_s, device_id, incident.action, incident.note or "applied"))
            log.info("incident +%.0fs %s %s %s", at_s, device_id, incident.action, incident.note)
            await self._emit(sim, messages, at_s)
        if failures == len(incident.devices):
            self.stats.incidents_failed += 1
        else:
            self.stats.incidents_applied += 1

    async def _followup(self, item: tuple[DeviceSim, FollowUp], ts_ms: int) -> None:
        sim, follow = item
        try:
            messages = sim.act(follow.action, ts_ms, follow.params)
        except ActionError as exc:  # pragma: no cover - follow-ups are generated by the devices themselves
            log.warning("follow-up %s on %s failed: %s", follow.action, sim.device.id, exc)
            return
        self.stats.followups_applied += 1
        await self._emit(sim, messages, (ts_ms - to_ms(self.clock.start)) / 1000)

    async def _emit(self, sim: DeviceSim, messages: list[Message], at_s: float) -> None:
        for follow in sim.take_followups():
            self._push(at_s + follow.delay_s, _FOLLOWUP, (sim, follow))
        if not messages:
            return
        kind = sim.device.kind.value
        fmt = sim.format_label
        for message in messages:
            await self._sem.acquire()
            task = asyncio.create_task(self._publish_one(message, kind, fmt))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _publish_one(self, message: Message, kind: str, fmt: str) -> None:
        try:
            await self.publish(message.topic, message.payload)
        except Exception as exc:  # the transport reconnects; a lost message is counted, not fatal
            self.stats.publish_errors += 1
            log.debug("publish to %s failed: %s", message.topic, exc)
        else:
            stats = self.stats
            stats.messages += 1
            stats.bytes += len(message.payload)
            stats.by_kind[kind] += 1
            stats.by_format[fmt] += 1
            stats.by_topic[message.topic] += 1
        finally:
            self._sem.release()


# ---------------------------------------------------------------------------------------------- entry


async def run_scenario_against_broker(
    scenario_path_or_obj: str | Path | Scenario,
    host: str,
    port: int,
    speed: float | None = None,
    modbus_port: int | None = None,
    progress: ProgressHook | None = None,
    *,
    serve_modbus: bool = True,
    modbus_servers: Mapping[tuple[str, int], ModbusUnits] | None = None,
    client_id: str | None = None,
    qos: int = 1,
    progress_every_s: float = 1.0,
    stop: asyncio.Event | None = None,
    clock: SimClock | None = None,
) -> ScenarioStats:
    """Run a scenario against an MQTT broker, serving its Modbus hydrants; the entry for ``firegw simulate``.

    ``speed`` overrides the file's speed (0 = as fast as possible). ``modbus_port`` moves the first Modbus
    gateway to that port (the others follow at +1, +2, ...); the gateway under test must poll the same
    addresses, so it should load ``scenario.registry()`` after the same override
    (``Scenario.with_overrides``).
    With ``serve_modbus`` a ``HydrantModbusSimulator`` is started for every (host, port) in the registry
    (and stopped at the end); or pass ``modbus_servers`` already started with ``start_modbus_servers`` (e.g.
    before the gateway starts polling, so it does not log "gateway not connected" first), left running.
    ``stop`` ends the run early when set (e.g. on Ctrl-C). ``clock`` shares a ``SimClock`` with the gateway
    under test (``Gateway(clock=clock.now)``), so its hold times and offline windows run at scenario speed.
    """
    from simulators.publisher import MqttPublisher  # late: keeps scenario parsing free of MQTT imports

    scenario = (
        scenario_path_or_obj
        if isinstance(scenario_path_or_obj, Scenario)
        else load_scenario(scenario_path_or_obj)
    )
    scenario = scenario.with_overrides(speed=speed, modbus_port=modbus_port)
    registry = scenario.registry()
    servers: dict[tuple[str, int], HydrantModbusSimulator] = {}
    try:
        if serve_modbus and modbus_servers is None:
            servers = await start_modbus_servers(registry)
        async with MqttPublisher(host, port, client_id=client_id, qos=qos) as publisher:
            runner = ScenarioRunner(
                scenario,
                publisher.publish,
                modbus_servers if modbus_servers is not None else (servers or None),
                progress=progress,
                progress_every_s=progress_every_s,
                clock=clock,
            )
            if stop is None:
                return await runner.run()
            watcher = asyncio.create_task(_stop_when(stop, runner))
            try:
                return await runner.run()
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
    finally:
        await stop_modbus_servers(servers)


async def _stop_when(event: asyncio.Event, runner: ScenarioRunner) -> None:
    await event.wait()
    runner.stop()


async def start_modbus_servers(registry: Registry) -> dict[tuple[str, int], HydrantModbusSimulator]:
    """Start one ``HydrantModbusSimulator`` per Modbus gateway address in the registry.

    Stop them with ``stop_modbus_servers``. Pass them to ``run_scenario_against_broker(modbus_servers=...)``
    or to a ``ScenarioRunner``, which adds the units.
    """
    from simulators.modbus_server import HydrantModbusSimulator

    gateways = sorted({(d.modbus.host, d.modbus.port) for d in registry.devices if d.modbus is not None})
    servers: dict[tuple[str, int], HydrantModbusSimulator] = {}
    try:
        for host, port in gateways:
            server = HydrantModbusSimulator(host=host, port=port)
            try:
                await server.start()
            except (OSError, RuntimeError) as exc:
                raise RuntimeError(
                    f"cannot serve the simulated Modbus gateway {host}:{port} ({exc}); the registry's "
                    "Modbus addresses must be free local ports (move them with modbus_port=..., or "
                    "serve_modbus=False)"
                ) from exc
            servers[(host, port)] = server
    except BaseException:
        await stop_modbus_servers(servers)
        raise
    return servers


async def stop_modbus_servers(servers: Mapping[tuple[str, int], HydrantModbusSimulator]) -> None:
    """Stop simulated Modbus gateways (errors on the way down are ignored: they are going away anyway)."""
    for server in servers.values():
        with contextlib.suppress(Exception):
            await server.stop()


def device_summary(registry: Registry) -> dict[str, int]:
    """Device counts by kind and wire format (for a start-up banner)."""
    counts: Counter[str] = Counter()
    for device in registry.devices:
        counts[f"{device.kind.value}/{_fmt(device)}"] += 1
    return dict(sorted(counts.items()))


def _fmt(device: Device) -> str:
    return device.wire_format or ("modbus" if device.modbus else "")
