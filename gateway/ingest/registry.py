"""The device registry: which estates, buildings and devices exist, loaded from a file.

Formats:

- TOML or YAML with ``estates``, ``buildings`` and ``devices`` lists (see ``examples/registry.toml``);
- CSV for bulk import of real estates with thousands of devices: one row per device, with the estate and
  building columns repeated (``firegw registry import devices.csv`` turns it into TOML).

Every problem is reported with where it is (file, line or entry, field) and what is allowed, all at once, so a
5,000-row import is fixed in one pass rather than one error per run (the checks: ``registry_checks``; the
CSV: ``registry_csv``). A file is at most ``MAX_BYTES`` and ``MAX_DEVICES`` devices.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, model_validator

from gateway.ingest.registry_checks import (
    CheckedBuilding,
    CheckedDevice,
    CheckedEstate,
    RegistryError,
    duplicates,
    validation_problems,
)
from gateway.ingest.registry_csv import MAX_BYTES, MAX_ROWS, read_device_csv
from gateway.models import Building, Device, DeviceKind, Estate

__all__ = [
    "MAX_BYTES",
    "MAX_DEVICES",
    "Registry",
    "RegistryError",
    "load_registry",
    "reference_problems",
    "registry_from_mapping",
    "registry_to_toml",
]

M = TypeVar("M", bound=BaseModel)

#: The most devices one registry holds (the same bound as the CSV's rows).
MAX_DEVICES = MAX_ROWS


class Registry(BaseModel):
    """Estates, buildings and devices, with lookups by wire identity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    estates: tuple[Estate, ...] = ()
    buildings: tuple[Building, ...] = ()
    devices: tuple[Device, ...] = ()

    _by_id: dict[str, Device] = PrivateAttr(default_factory=dict)
    _by_imei: dict[str, Device] = PrivateAttr(default_factory=dict)
    _estates: dict[str, Estate] = PrivateAttr(default_factory=dict)
    _buildings: dict[str, Building] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check_references(self) -> Registry:
        problems = reference_problems(self.estates, self.buildings, self.devices)
        if problems:
            raise ValueError("; ".join(problems))
        self._by_id = {d.id: d for d in self.devices}
        self._by_imei = {d.imei: d for d in self.devices if d.imei}
        self._estates = {e.id: e for e in self.estates}
        self._buildings = {b.id: b for b in self.buildings}
        return self

    def resolve(self, wire_id: str) -> Device | None:
        """The device a message names, by registry id first, then by IMEI (carrier envelopes use IMEIs)."""
        return self._by_id.get(wire_id) or self._by_imei.get(wire_id)

    def device(self, device_id: str) -> Device:
        return self._by_id[device_id]

    def estate(self, estate_id: str) -> Estate:
        return self._estates[estate_id]

    def building(self, building_id: str) -> Building | None:
        return self._buildings.get(building_id)

    def devices_of_kind(self, kind: DeviceKind) -> list[Device]:
        return [d for d in self.devices if d.kind is kind]

    def modbus_devices(self) -> list[Device]:
        return [d for d in self.devices if d.modbus is not None]


def reference_problems(
    estates: Sequence[Estate], buildings: Sequence[Building], devices: Sequence[Device]
) -> list[str]:
    """What is wrong between entries: an id defined twice, an IMEI used twice, a reference to nothing."""
    problems = [f"estate {key!r} defined twice" for key, _, _ in duplicates((e.id, 0) for e in estates)]
    problems += [f"building {key!r} defined twice" for key, _, _ in duplicates((b.id, 0) for b in buildings)]
    estate_ids = {e.id for e in estates}
    building_estate = {b.id: b.estate_id for b in buildings}
    problems += [
        f"building {b.id!r}: unknown estate_id {b.estate_id!r}"
        for b in buildings
        if b.estate_id not in estate_ids
    ]
    problems += [f"device {key!r} defined twice" for key, _, _ in duplicates((d.id, d.id) for d in devices)]
    problems += [
        f"device {device!r}: imei {key!r} already used by {first!r}"
        for key, device, first in duplicates((d.imei, d.id) for d in devices if d.imei)
    ]
    for d in devices:
        if d.estate_id not in estate_ids:
            problems.append(f"device {d.id!r}: unknown estate_id {d.estate_id!r}")
        if d.building_id and d.building_id not in building_estate:
            problems.append(f"device {d.id!r}: unknown building_id {d.building_id!r}")
        elif d.building_id and building_estate[d.building_id] != d.estate_id:
            problems.append(
                f"device {d.id!r}: building {d.building_id!r} belongs to estate "
                f"{building_estate[d.building_id]!r}, not {d.estate_id!r}"
            )
    return problems


def load_registry(path: str | Path) -> Registry:
    """Load a registry from ``.toml``, ``.yaml``/``.yml``, ``.json`` or ``.csv``."""
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise RegistryError(source, ["file not found; create one (see examples/registry.toml)"])
    suffix = path.suffix.lower()
    if suffix == ".csv":
        estates, buildings, devices = read_device_csv(path)
        return Registry(estates=tuple(estates), buildings=tuple(buildings), devices=tuple(devices))
    if suffix not in (".toml", ".yaml", ".yml", ".json"):
        raise RegistryError(source, [f"unknown file type {suffix!r}; use .toml, .yaml, .json or .csv"])
    try:
        if path.stat().st_size > MAX_BYTES:
            raise RegistryError(source, [f"larger than {MAX_BYTES >> 20} MiB; split the registry"])
        text = path.read_text(encoding="utf-8")
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except OSError as exc:
        raise RegistryError(source, [f"cannot be read ({exc.strerror or exc})"]) from None
    except UnicodeDecodeError as exc:
        raise RegistryError(
            source, [f"not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"]
        ) from None
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise RegistryError(source, [f"cannot parse: {exc}"]) from None
    return registry_from_mapping(data, source=source)


def registry_from_mapping(data: Any, *, source: str = "<registry>") -> Registry:
    """A registry from parsed TOML/YAML/JSON: each entry checked on its own, then the references between
    the valid ones, so that every problem of the file is named in one run."""
    if not isinstance(data, dict):
        raise RegistryError(source, ["top level must be a table with estates, buildings and devices"])
    tables = ("estates", "buildings", "devices")
    problems = [
        f"{key}: unknown table; a registry has {', '.join(tables)}" for key in data if key not in tables
    ]
    devices = data.get("devices")
    if isinstance(devices, list) and len(devices) > MAX_DEVICES:
        raise RegistryError(source, [f"{len(devices):,} devices; a registry holds at most {MAX_DEVICES:,}"])
    estates = _entries(data, "estates", CheckedEstate, Estate, problems)
    buildings = _entries(data, "buildings", CheckedBuilding, Building, problems)
    devices = _entries(data, "devices", CheckedDevice, Device, problems)
    problems += reference_problems(estates, buildings, devices)
    if problems:
        raise RegistryError(source, problems)
    return Registry(estates=tuple(estates), buildings=tuple(buildings), devices=tuple(devices))


def _entries(
    data: dict[str, Any], table: str, checked: type[BaseModel], model: type[M], problems: list[str]
) -> list[M]:
    """The valid entries of one table as ``model``; every problem of the others (validated as ``checked``,
    the model with the registry's checks), with where it is (``devices.3 'HY-1'``), added to ``problems``."""
    items = data.get(table, [])
    if not isinstance(items, list | tuple):
        problems.append(f"{table}: must be a list of tables ([[{table}]])")
        return []
    valid = []
    for i, item in enumerate(items):
        try:
            checked.model_validate(item)
        except ValidationError as exc:
            named = item.get("id") if isinstance(item, dict) else None
            where = f"{table}.{i}" + (f" {named!r}" if isinstance(named, str) else "")
            problems += validation_problems(exc, at=where)
            continue
        valid.append(model.model_validate(item))
    return valid


def registry_to_toml(registry: Registry) -> str:
    """Serialise a registry as TOML (used by ``firegw registry import`` and the fleet generator)."""
    lines: list[str] = []
    for table, items in (
        ("estates", registry.estates),
        ("buildings", registry.buildings),
        ("devices", registry.devices),
    ):
        for item in items:
            lines.append(f"[[{table}]]")
            data = item.model_dump(mode="json", exclude_defaults=True)
            nested = {k: v for k, v in data.items() if isinstance(v, dict)}
            for key, value in data.items():
                if key not in nested:
                    lines.append(f"{key} = {_toml_value(value)}")
            for key, value in nested.items():
                inline = ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items())
                lines.append(f"{key} = {{ {inline} }}")
            lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
