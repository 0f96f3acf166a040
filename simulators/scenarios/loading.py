"""Reading and validating a scenario file, every problem at once.

Every problem in a file is reported at once, with the file, line and key (``demo.toml:41: incidents[3].device:
unknown device 'SD-E002-0099'``), because a scenario with a typo would otherwise run for an hour and show
nothing. Incidents are also dry-run on a throwaway simulator, so values out of range fail here too.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from gateway.ingest.registry import Registry, RegistryError
from simulators.clock import parse_duration
from simulators.devices.base import ActionError, check_params
from simulators.devices.factory import ReportIntervals, make_sim, sim_class_for
from simulators.scenarios.model import FleetSpec, Incident, Scenario, ScenarioError

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
