"""The device CSV (``firegw registry import devices.csv``): one row per device, the estate and building
columns repeated on each row of theirs (see ``examples/devices.csv``).

Every problem of the file is found in one pass and named with its line and what is allowed: a cell of the
wrong kind (a floor written "五", unit id 300, port 70000, an 11-digit IMEI, an address that is no IP),
a device on two lines, an IMEI or a Modbus unit claimed twice, an estate given two property companies,
a building in two estates. A file with any problem gives nothing (``RegistryError``), so an import is
never half done. The file is bounded (``MAX_BYTES``, ``MAX_ROWS``, ``CELL_MAX`` characters a cell).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.csv_input import CsvRefused, header_problems, read_rows
from gateway.ingest.registry_checks import (
    RegistryError,
    checking,
    duplicates,
    host_problem,
    id_problem,
    imei_problem,
    port_problem,
    register_map_problem,
    thresholds_problem,
    validation_problems,
)
from gateway.models import Building, Device, DeviceKind, Estate, MeasuringPoint, ModbusAddress

#: The file's bounds: a district's devices fit many times over (200,000 rows of about 150 bytes is 30 MiB).
MAX_BYTES = 64 << 20
MAX_ROWS = 200_000
#: Characters a cell may have (names, locations; ids are at most 64).
CELL_MAX = 200

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
REQUIRED_COLUMNS = CSV_COLUMNS[:3]
#: What an estate is, repeated on each of its rows: one value per estate.
ESTATE_COLUMNS = ("estate_name", "district", "street", "property_company")

#: A sentence after the problem, per column.
HINTS = {
    "device_id": "Every line names its device by the id it sends, such as SD-E001-0001",
    "estate_id": "Every line names the estate the device is in, such as E001",
    "floor": "Write the floor in digits: 3, or -1 for the first basement",
    "modbus_unit": "A Modbus unit id (slave address) is 0 to 247",
    "poll_interval_s": "Seconds between two polls, such as 60",
}


def _parse_thresholds(text: Any) -> Any:
    """``pressure_min_mpa=0.1;pressure_max_mpa=0.5`` as a mapping."""
    if not isinstance(text, str):
        return text
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"{part!r} is not key=value")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise ValueError(f"{key.strip()!r} must be a number, got {value.strip()!r}") from None
    return out


class _CsvRow(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, str_max_length=CELL_MAX)

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
    modbus_unit: int | None = Field(default=None, ge=0, le=247)
    register_map: str = "hydrant_default"
    poll_interval_s: float = Field(default=60.0, gt=0)
    thresholds: dict[str, float] = Field(default_factory=dict)  # "pressure_min_mpa=0.1;pressure_max_mpa=0.5"
    #: Hydrant sensors: where the sensor sits and whether it reads static or flowing pressure.
    point: MeasuringPoint = MeasuringPoint.UNKNOWN
    reading: Literal["static", "flowing"] = "static"

    _ids = field_validator("device_id", "estate_id", "building_id")(checking(id_problem))
    _imei = field_validator("imei")(checking(imei_problem))
    _host = field_validator("modbus_host")(checking(host_problem))
    _port = field_validator("modbus_port")(checking(port_problem))
    _map = field_validator("register_map")(checking(register_map_problem))
    _parse = field_validator("thresholds", mode="before")(_parse_thresholds)
    _thresholds = field_validator("thresholds")(checking(thresholds_problem))


def read_device_csv(path: Path) -> tuple[list[Estate], list[Building], list[Device]]:
    """The estates, buildings and devices of a device CSV; ``RegistryError`` naming every bad line."""
    try:
        rows = read_rows(path, max_bytes=MAX_BYTES, max_rows=MAX_ROWS)
    except CsvRefused as exc:
        raise RegistryError(str(path), [str(exc)]) from None
    if not rows:
        named = f"{','.join(CSV_COLUMNS)} ({', '.join(REQUIRED_COLUMNS)} required)"
        raise RegistryError(str(path), [f"the file is empty; its first line names the columns: {named}"])
    (header_line, header), body = rows[0], rows[1:]
    columns = [c.strip() for c in header]
    _check_header(str(path), header_line, columns)
    if not body:
        raise RegistryError(str(path), ["the file names no device: one line per device after the header"])
    problems: list[tuple[int, str]] = []
    valid: list[tuple[int, _CsvRow]] = []
    for line, cells in body:
        if len(cells) > len(columns):
            problems.append((line, f"{len(cells)} cells, but the header names {len(columns)} columns"))
            continue
        given = {c: v for c, v in zip(columns, cells, strict=False) if v.strip()}
        problems += [(line, p) for p in _pairing_problems(given)]
        try:
            valid.append((line, _CsvRow.model_validate(given)))
        except ValidationError as exc:
            problems += [(line, p) for p in validation_problems(exc, HINTS)]
    problems += _cross_problems(valid)
    if problems:
        problems.sort(key=lambda p: p[0])
        raise RegistryError(str(path), [f"line {line}: {text}" for line, text in problems])
    return _estates(valid), _buildings(valid), [_device(row) for _, row in valid]


def _check_header(source: str, line: int, columns: list[str]) -> None:
    problems = header_problems(line, columns, CSV_COLUMNS, REQUIRED_COLUMNS)
    if problems:
        raise RegistryError(source, problems)


def _pairing_problems(given: dict[str, str]) -> list[str]:
    """Cells that mean something only together: a Modbus device has both its gateway's host and its unit."""
    if given.get("modbus_host") and not given.get("modbus_unit"):
        return ["modbus_host given without modbus_unit; a Modbus device needs both (unit 0 to 247)"]
    if given.get("modbus_unit") and not given.get("modbus_host"):
        return ["modbus_unit given without modbus_host; a Modbus device needs both (the gateway's address)"]
    return []


def _cross_problems(rows: Sequence[tuple[int, _CsvRow]]) -> list[tuple[int, str]]:
    """What is wrong only between lines: one device, IMEI or Modbus unit on two lines; an estate or a
    building described two ways."""
    problems = [
        (line, f"device_id {key!r} is already on line {first}; one line per device")
        for key, line, first in duplicates((row.device_id, n) for n, row in rows)
    ]
    problems += [
        (line, f"imei {key!r} is already on line {first}; an IMEI names one device")
        for key, line, first in duplicates((row.imei, n) for n, row in rows if row.imei)
    ]
    units = ((f"{r.modbus_host}:{r.modbus_port} unit {r.modbus_unit}", n) for n, r in rows if r.modbus_host)
    problems += [
        (line, f"Modbus {key} is already on line {first}; a unit is one device")
        for key, line, first in duplicates(units)
    ]
    problems += _described_once(rows, "estate", "estate_id", ESTATE_COLUMNS)
    problems += _described_once(rows, "building", "building_id", ("estate_id", "building_name"))
    return problems


def _described_once(
    rows: Sequence[tuple[int, _CsvRow]], what: str, key_field: str, columns: Sequence[str]
) -> list[tuple[int, str]]:
    """Lines that give an estate (building) a value in ``columns`` other than the first line that gave one."""
    problems = []
    first: dict[tuple[str, str], tuple[int, str]] = {}
    for line, row in rows:
        key = getattr(row, key_field)
        for column in columns if key else ():
            value = getattr(row, column)
            if not value:
                continue
            where, given = first.setdefault((key, column), (line, value))
            if given != value:
                problems.append(
                    (
                        line,
                        f"{what} {key!r} has {column} {given!r} on line {where}, not {value!r}; "
                        f"one {what} has one {column} (repeat it on its lines, or leave it empty)",
                    )
                )
    return problems


def _estates(rows: Sequence[tuple[int, _CsvRow]]) -> list[Estate]:
    found: dict[str, dict[str, str]] = {}
    for _, row in rows:
        values = found.setdefault(row.estate_id, {})
        for column in ESTATE_COLUMNS:
            if not values.get(column):  # the first line that gives it (conflicts are problems already)
                values[column] = getattr(row, column)
    return [
        Estate(
            id=estate_id,
            name=v["estate_name"] or estate_id,
            district=v["district"],
            street=v["street"],
            property_company=v["property_company"],
        )
        for estate_id, v in found.items()
    ]


def _buildings(rows: Sequence[tuple[int, _CsvRow]]) -> list[Building]:
    found: dict[str, Building] = {}
    for _, row in rows:
        if not row.building_id:
            continue
        known = found.get(row.building_id)
        if known is None or (not known.name and row.building_name):
            found[row.building_id] = Building(
                id=row.building_id, estate_id=row.estate_id, name=row.building_name
            )
    return list(found.values())


def _device(row: _CsvRow) -> Device:
    modbus = None
    if row.modbus_host and row.modbus_unit is not None:
        modbus = ModbusAddress(
            host=row.modbus_host,
            port=row.modbus_port,
            unit=row.modbus_unit,
            register_map=row.register_map,
            poll_interval_s=row.poll_interval_s,
        )
    return Device(
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
        thresholds=row.thresholds,
        point=row.point,
        reading=row.reading,
    )
