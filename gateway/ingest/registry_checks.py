"""What makes a registry entry wrong beyond its type, and how a problem is worded.

Both ways into the registry (a TOML/YAML/JSON file, and the CSV import of ``registry_csv``) run the same
checks, so a file that imports is a file the gateway starts with. Each check returns a sentence that says
what is wrong and what is allowed (``imei: '86997503001' has 11 digits; an IMEI is 15 digits``), or None.
``validation_problems`` words pydantic's errors the same way, with the value that was given.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from pydantic import Field, ValidationError, field_validator

from gateway.models import Building, Device, Estate, ModbusAddress

W = TypeVar("W")

#: An estate, building or device id: the last is a level of an MQTT topic (``fire/smoke/{id}/up``), and the
#: hazard store keeps ids in 64-character columns.
ID_MAX = 64
_ID_FORBIDDEN = re.compile(r"[\s/+#]")
_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")
#: Problems a ``RegistryError`` shows (the rest are counted): enough for any file fixed by hand.
SHOWN = 1000


class RegistryError(ValueError):
    """The registry file is invalid; ``problems`` lists every problem found, each with its location."""

    def __init__(self, source: str, problems: list[str]) -> None:
        shown = "\n  ".join(problems[:SHOWN])
        more = f"\n  ... and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        super().__init__(f"{source}: {len(problems)} problem(s) in the device registry:\n  {shown}{more}")
        self.problems = problems


def shown(value: Any) -> str:
    """A value as a problem quotes it: short, with its quotes."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def id_problem(value: str) -> str | None:
    if not value:
        return "empty; every entry needs an id"
    if len(value) > ID_MAX:
        return f"{len(value)} characters, at most {ID_MAX} allowed"
    if _ID_FORBIDDEN.search(value):
        return f"{shown(value)} has a space, '/', '+' or '#'; an id is one MQTT topic level"
    return None


def imei_problem(value: str) -> str | None:
    if len(value) == 15 and value.isdigit() and value.isascii():
        return None
    if "E+" in value.upper():
        return f"{shown(value)} is a number as a spreadsheet shows it; format the column as text (15 digits)"
    if value.isdigit():
        return f"{shown(value)} has {len(value)} digits; an IMEI is 15 digits"
    return f"{shown(value)} is not all digits; an IMEI is 15 digits"


def host_problem(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        pass
    if re.fullmatch(r"[\d.]+", value):
        return f"{shown(value)} is not an IPv4 address; four numbers from 0 to 255 (192.168.10.20)"
    if len(value) > 253 or not _HOSTNAME.fullmatch(value):
        return f"{shown(value)} is neither an IP address nor a host name (letters, digits, '-' and '.')"
    return None


def port_problem(value: int) -> str | None:
    if 1 <= value <= 65535:
        return None
    return f"{value} is not a TCP port; a port is 1 to 65535 (Modbus TCP listens on 502)"


@functools.cache
def _known_maps() -> tuple[str, ...]:
    from collectors.modbus.registers import builtin_maps

    return tuple(builtin_maps())


def register_map_problem(name: str) -> str | None:
    if name in _known_maps():
        return None
    return f"{shown(name)} is not a register map; known: {', '.join(_known_maps())}"


def threshold_problems(values: Mapping[str, float]) -> list[str]:
    """The device's own thresholds: known keys, each within its range, its own minimum below its maximum.
    (Whether they fit the policy's limits for the kind is ``firegw check``'s question.)"""
    from rules.thresholds import THRESHOLD_KEYS, Thresholds

    problems = []
    unknown = sorted(set(values) - THRESHOLD_KEYS)
    if unknown:
        known_keys = ", ".join(sorted(THRESHOLD_KEYS))
        problems.append(f"unknown threshold(s) {', '.join(unknown)}; known: {known_keys}")
    known = {k: v for k, v in values.items() if k in THRESHOLD_KEYS}
    try:  # each value in its range; the widest pressure span, so that only the device's own pair is compared
        Thresholds.model_validate({"pressure_min_mpa": -0.1, "pressure_max_mpa": 4.0, **known})
    except ValidationError as exc:
        problems += [p for p in validation_problems(exc) if p.split(":")[0] in known]
    low, high = values.get("pressure_min_mpa"), values.get("pressure_max_mpa")
    if low is not None and high is not None and low >= high:
        problems.append(f"pressure_min_mpa ({low:g}) must be below pressure_max_mpa ({high:g})")
    return problems


def checking(problem: Callable[[Any], str | None]) -> Callable[[Any], Any]:
    """A field validator that refuses a value ``problem`` finds wrong (an empty or absent value is left to
    the field's own rules): ``_imei = field_validator("imei")(checking(imei_problem))``."""

    def check(value: Any) -> Any:
        found = problem(value) if value is not None and value != "" else None
        if found:
            raise ValueError(found)
        return value

    return check


def thresholds_problem(values: Mapping[str, float]) -> str | None:
    return ", ".join(threshold_problems(values)) or None


class CheckedModbus(ModbusAddress):
    """A ``ModbusAddress`` with the registry's checks: a host that can be an address, a port, a known map."""

    _host = field_validator("host")(checking(host_problem))
    _port = field_validator("port")(checking(port_problem))
    _map = field_validator("register_map")(checking(register_map_problem))


class CheckedEstate(Estate):
    id: str = Field(min_length=1)
    _id = field_validator("id")(checking(id_problem))


class CheckedBuilding(Building):
    id: str = Field(min_length=1)
    _id = field_validator("id", "estate_id")(checking(id_problem))


class CheckedDevice(Device):
    """A ``Device`` entry of a registry file with every check, so that one validation names every problem
    of the entry; the registry keeps plain ``Device`` objects."""

    id: str = Field(min_length=1)
    modbus: CheckedModbus | None = None

    _id = field_validator("id")(checking(id_problem))
    _imei = field_validator("imei")(checking(imei_problem))
    _thresholds = field_validator("thresholds")(checking(thresholds_problem))


# -- pydantic's errors, worded --------------------------------------------------------------------------


def validation_problems(
    exc: ValidationError, hints: Mapping[str, str] | None = None, at: str = ""
) -> list[str]:
    """Each error as ``at: where: what is wrong (what was given); what is allowed``; ``hints`` adds a
    sentence per field name (the last part of the location)."""
    problems = []
    for err in exc.errors():
        loc = err["loc"]
        text = _sentence(err)
        hint = (hints or {}).get(str(loc[-1])) if loc else None
        if hint:
            text = f"{text}. {hint}"
        where = ".".join(str(p) for p in loc)
        problems.append(": ".join(part for part in (at, where, text) if part))
    return problems


def _sentence(err: Any) -> str:
    kind: str = err["type"]
    ctx: dict[str, Any] = err.get("ctx") or {}
    given = err.get("input")
    value = shown(given)
    if kind == "missing":
        return "missing; it is required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{value} is not a whole number"
    if kind in ("float_parsing", "float_type"):
        return f"{value} is not a number"
    if kind in ("enum", "literal_error"):
        return f"{value} is not allowed; one of {ctx.get('expected', '')}"
    bounds = {
        "less_than_equal": ("at most", "le"),
        "less_than": ("below", "lt"),
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("above", "gt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"{given} is out of range; it must be {words} {ctx.get(key)}"
    if kind == "string_too_long":
        return f"{len(given)} characters, at most {ctx.get('max_length')} allowed"
    if kind == "string_too_short" and not given:
        return "empty; it is required"
    message = str(err["msg"]).removeprefix("Value error, ")
    return message if kind == "value_error" else f"{message} (got {value})"


def duplicates(items: Iterable[tuple[str, W]]) -> list[tuple[str, W, W]]:
    """``(key, where)`` pairs -> ``(key, where, first_where)`` for every key seen before."""
    first: dict[str, W] = {}
    again: list[tuple[str, W, W]] = []
    for key, where in items:
        if key in first:
            again.append((key, where, first[key]))
        else:
            first[key] = where
    return again
