"""The device registry: which estates, buildings and devices exist, loaded from a file.

Formats:

- TOML or YAML with ``estates``, ``buildings`` and ``devices`` lists (see ``examples/registry.toml``);
- CSV for bulk import of real estates with thousands of devices: one row per device, with the estate and
  building columns repeated (``firegw registry import devices.csv`` turns it into TOML).

Every problem is reported with where it is (file, row, field), all at once, so a 5,000-row import is fixed in
one pass rather than one error per run.
"""

from __future__ import annotations

import csv
import json
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from gateway.models import Building, Device, DeviceKind, Estate, MeasuringPoint, ModbusAddress


class RegistryError(ValueError):
    """The registry file is invalid; ``problems`` lists every problem found, each with its location."""

    def __init__(self, source: str, problems: list[str]) -> None:
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{source}: {len(problems)} problem(s) in the device registry:\n  {shown}{more}")
        self.problems = problems


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
        problems: list[str] = []
        estates = {e.id: e for e in self.estates}
        if len(estates) != len(self.estates):
            problems += [f"estate {i!r} defined twice" for i in _duplicates(e.id for e in self.estates)]
        buildings = {b.id: b for b in self.buildings}
        if len(buildings) != len(self.buildings):
            problems += [f"building {i!r} defined twice" for i in _duplicates(b.id for b in self.buildings)]
        for b in self.buildings:
            if b.estate_id not in estates:
                problems.append(f"building {b.id!r}: unknown estate_id {b.estate_id!r}")
        by_id: dict[str, Device] = {}
        by_imei: dict[str, Device] = {}
        for d in self.devices:
            if d.id in by_id:
                problems.append(f"device {d.id!r} defined twice")
            by_id[d.id] = d
            if d.imei:
                if d.imei in by_imei:
                    problems.append(
                        f"device {d.id!r}: imei {d.imei!r} already used by {by_imei[d.imei].id!r}"
                    )
                by_imei[d.imei] = d
            if d.estate_id not in estates:
                problems.append(f"device {d.id!r}: unknown estate_id {d.estate_id!r}")
            if d.building_id and d.building_id not in buildings:
                problems.append(f"device {d.id!r}: unknown building_id {d.building_id!r}")
            elif d.building_id and buildings[d.building_id].estate_id != d.estate_id:
                problems.append(
                    f"device {d.id!r}: building {d.building_id!r} belongs to estate "
                    f"{buildings[d.building_id].estate_id!r}, not {d.estate_id!r}"
                )
        if problems:
            raise ValueError("; ".join(problems))
        self._by_id, self._by_imei = by_id, by_imei
        self._estates, self._buildings = estates, buildings
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


def _duplicates(ids: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    dup: list[str] = []
    for i in ids:
        if i in seen:
            dup.append(i)
        seen.add(i)
    return dup


def load_registry(path: str | Path) -> Registry:
    """Load a registry from ``.toml``, ``.yaml``/``.yml``, ``.json`` or ``.csv``."""
    path = Path(path)
    if not path.exists():
        raise RegistryError(str(path), ["file not found; create one (see examples/registry.toml)"])
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return registry_from_csv(path)
    text = path.read_text(encoding="utf-8")
    try:
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise RegistryError(str(path), [f"unknown file type {suffix!r}; use .toml, .yaml, .json or .csv"])
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise RegistryError(str(path), [f"cannot parse: {exc}"]) from exc
    return registry_from_mapping(data, source=str(path))


def registry_from_mapping(data: Any, *, source: str = "<registry>") -> Registry:
    if not isinstance(data, dict):
        raise RegistryError(source, ["top level must be a table with estates, buildings and devices"])
    try:
        return Registry.model_validate(data)
    except ValidationError as exc:
        raise RegistryError(source, _format_validation(exc)) from exc


def _format_validation(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        problems.append(f"{where}: {err['msg']}" if where else err["msg"])
    return problems


#: CSV columns; only ``device_id``, ``kind`` and ``estate_id`` are required.
CSV_COLUMNS = (
    "device_id",
    "kind",
    "estate_id",
    "estate_name",
    "district",
    "street",
    "property_company",
    "building_id",
    "building_name",
    "floor",
    "location",
    "wire_format",
    "imei",
    "vendor",
    "modbus_host",
    "modbus_port",
    "modbus_unit",
    "register_map",
    "poll_interval_s",
    "thresholds",
    "point",
    "reading",
)


class _CsvRow(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    device_id: str = Field(min_length=1)
    kind: DeviceKind
    estate_id: str = Field(min_length=1)
    estate_name: str = ""
    district: str = ""
    street: str = ""
    property_company: str = ""
    building_id: str = ""
    building_name: str = ""
    floor: int | None = None
    location: str = ""
    wire_format: str = ""
    imei: str | None = None
    vendor: str = ""
    modbus_host: str = ""
    modbus_port: int = 502
    modbus_unit: int | None = None
    register_map: str = "hydrant_default"
    poll_interval_s: float = 60.0
    thresholds: str = ""  # "pressure_min_mpa=0.1;pressure_max_mpa=0.5"
    #: Hydrant sensors: where the sensor sits and whether it reads static or flowing pressure.
    point: MeasuringPoint = MeasuringPoint.UNKNOWN
    reading: Literal["static", "flowing"] = "static"


def registry_from_csv(path: Path) -> Registry:
    """Import a device CSV. Estates and buildings are taken from the columns of their first row."""
    problems: list[str] = []
    estates: dict[str, Estate] = {}
    buildings: dict[str, Building] = {}
    devices: list[Device] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        unknown = [c for c in (reader.fieldnames or []) if c not in CSV_COLUMNS]
        if unknown:
            return _raise(str(path), [f"unknown column(s) {unknown}; allowed: {', '.join(CSV_COLUMNS)}"])
        for line_no, raw in enumerate(reader, start=2):
            cleaned = {k: v for k, v in raw.items() if v not in (None, "")}
            try:
                row = _CsvRow.model_validate(cleaned)
                thresholds = _parse_thresholds(row.thresholds)
            except (ValidationError, ValueError) as exc:
                msgs = _format_validation(exc) if isinstance(exc, ValidationError) else [str(exc)]
                problems += [f"line {line_no}: {m}" for m in msgs]
                continue
            estates.setdefault(
                row.estate_id,
                Estate(
                    id=row.estate_id,
                    name=row.estate_name or row.estate_id,
                    district=row.district,
                    street=row.street,
                    property_company=row.property_company,
                ),
            )
            if row.building_id:
                buildings.setdefault(
                    row.building_id,
                    Building(id=row.building_id, estate_id=row.estate_id, name=row.building_name),
                )
            modbus = None
            if row.modbus_host:
                if row.modbus_unit is None:
                    problems.append(f"line {line_no}: modbus_host given without modbus_unit")
                    continue
                modbus = ModbusAddress(
                    host=row.modbus_host,
                    port=row.modbus_port,
                    unit=row.modbus_unit,
                    register_map=row.register_map,
                    poll_interval_s=row.poll_interval_s,
                )
            devices.append(
                Device(
                    id=row.device_id,
                    kind=row.kind,
                    estate_id=row.estate_id,
                    building_id=row.building_id,
                    location=row.location,
                    floor=row.floor,
                    wire_format=row.wire_format,
                    imei=row.imei,
                    vendor=row.vendor,
                    modbus=modbus,
                    thresholds=thresholds,
                    point=row.point,
                    reading=row.reading,
                )
            )
    if problems:
        return _raise(str(path), problems)
    try:
        return Registry(
            estates=tuple(estates.values()), buildings=tuple(buildings.values()), devices=tuple(devices)
        )
    except ValidationError as exc:
        return _raise(str(path), _format_validation(exc))


def _raise(source: str, problems: list[str]) -> Registry:
    raise RegistryError(source, problems)


def _parse_thresholds(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"thresholds: {part!r} is not key=value")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise ValueError(f"thresholds: {key.strip()!r} must be a number, got {value.strip()!r}") from None
    return out


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
