"""Register maps as data, and the one function that turns a block of registers into metrics.

A hydrant sensor vendor documents a table of registers (docs/wire-formats.md section 5); that table is a TOML
file here, not code, so supporting another sensor is adding a file (built-in maps in
``collectors/modbus/maps/``, site maps in a directory named in the configuration). The poller never knows
what a register means: it reads the span the map covers in one request and hands the words to
``decode_registers``, which is pure and golden-file tested.

A map is validated once at start-up (overlapping registers, duplicate metric names, a span longer than one
Modbus request can carry, bit numbers outside a register all fail fast, naming the file).
"""

from __future__ import annotations

import itertools
import math
import struct
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Literal, NamedTuple, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from collectors import jsonwire as jw
from gateway.models import MetricValue

_MAPS_PACKAGE = "collectors.modbus.maps"

#: Function 03/04 return at most 125 registers (the 253-byte PDU limit); a map must fit one request.
MAX_SPAN = 125


class RegisterType(StrEnum):
    UINT16 = "uint16"
    INT16 = "int16"
    UINT32 = "uint32"
    INT32 = "int32"
    FLOAT32 = "float32"
    BITS = "bits"

    @property
    def width(self) -> int:
        """Registers (16-bit words) one value occupies."""
        return 2 if self in _WIDE else 1


_WIDE = frozenset({RegisterType.UINT32, RegisterType.INT32, RegisterType.FLOAT32})
_INTEGER = frozenset({RegisterType.UINT16, RegisterType.INT16, RegisterType.UINT32, RegisterType.INT32})


class Range(NamedTuple):
    lo: float
    hi: float
    unit: str = ""


#: Physical ranges of the canonical metrics (docs/wire-formats.md), shared with the JSON decoders so that a
#: hydrant reads the same whether it is polled or publishes through a DTU. A map entry may set its own.
CANONICAL_RANGES: Mapping[str, Range] = {
    "pressure_mpa": Range(*jw.PRESSURE_MPA),
    "battery_pct": Range(*jw.BATTERY_PCT),
    "temperature_c": Range(*jw.TEMPERATURE_C),
    "signal_dbm": Range(*jw.SIGNAL_DBM),
}


class RegisterEntry(BaseModel):
    """One value in the map: where it is, how it is encoded, what metric it becomes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: int = Field(ge=0, le=0xFFFF)
    #: The vendor's name for the register, for error messages and documentation only.
    name: str = ""
    type: RegisterType
    #: Multiplied with the raw value. An integer type with scale 1 stays an integer metric.
    scale: float = 1.0
    unit: str = ""
    #: Metric name. Required except for ``bits``, where it optionally keeps the raw word as well.
    metric: str | None = None
    #: ``bits`` only: bit number (0 = least significant) -> boolean metric name.
    bits: dict[int, str] = Field(default_factory=dict)
    #: 32-bit types: which word comes first. Vendors disagree; the documented default map is high-first.
    word_order: Literal["high_first", "low_first"] = "high_first"
    #: Accepted range after scaling; defaults to the canonical range of ``metric`` when it has one.
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.type is RegisterType.BITS:
            if not self.bits:
                raise ValueError(f"register {self.address}: type 'bits' needs a 'bits' table of bit names")
            bad = [b for b in self.bits if not 0 <= b <= 15]
            if bad:
                raise ValueError(f"register {self.address}: bit numbers must be 0..15, got {bad}")
            if self.scale != 1.0:
                raise ValueError(f"register {self.address}: 'scale' does not apply to type 'bits'")
        else:
            if self.bits:
                raise ValueError(f"register {self.address}: 'bits' only applies to type 'bits'")
            if not self.metric:
                raise ValueError(f"register {self.address}: 'metric' is required for type {self.type}")
        if not math.isfinite(self.scale) or self.scale == 0:
            raise ValueError(f"register {self.address}: 'scale' must be a finite non-zero number")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"register {self.address}: 'min' is greater than 'max'")
        return self

    @property
    def width(self) -> int:
        return self.type.width

    @property
    def metric_names(self) -> list[str]:
        names = [self.metric] if self.metric else []
        return names + [self.bits[b] for b in sorted(self.bits)]

    @property
    def range(self) -> Range | None:
        """The accepted range of ``metric`` (None: anything goes)."""
        canonical = CANONICAL_RANGES.get(self.metric or "")
        if self.min is None and self.max is None:
            return canonical
        lo = self.min if self.min is not None else (canonical.lo if canonical else -math.inf)
        hi = self.max if self.max is not None else (canonical.hi if canonical else math.inf)
        return Range(lo, hi, self.unit)


class RegisterMap(BaseModel):
    """A device's register table; ``start``/``count`` is the one contiguous span the poller reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    #: ``holding`` = function 03, ``input`` = function 04.
    function: Literal["holding", "input"] = "holding"
    registers: tuple[RegisterEntry, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Self:
        entries = sorted(self.registers, key=lambda e: e.address)
        for before, after in itertools.pairwise(entries):
            if after.address < before.address + before.width:
                raise ValueError(f"registers {before.address} ({before.type}) and {after.address} overlap")
        seen: set[str] = set()
        for entry in entries:
            for metric in entry.metric_names:
                if metric in seen:
                    raise ValueError(f"metric {metric!r} is produced twice")
                seen.add(metric)
        end = entries[-1].address + entries[-1].width
        if end > 0x10000:
            raise ValueError(f"register {entries[-1].address} runs past address 65535")
        if end - entries[0].address > MAX_SPAN:
            raise ValueError(
                f"the map spans {end - entries[0].address} registers ({entries[0].address}..{end - 1}); "
                f"one Modbus read carries at most {MAX_SPAN}"
            )
        return self

    @property
    def start(self) -> int:
        """First register address of the span read in one request."""
        return min(e.address for e in self.registers)

    @property
    def count(self) -> int:
        """Number of registers in the span (gaps between entries are read and ignored)."""
        return max(e.address + e.width for e in self.registers) - self.start

    @property
    def metric_names(self) -> list[str]:
        return [m for e in self.registers for m in e.metric_names]


# ------------------------------------------------------------------------------------------------ decoding


def decode_registers(register_map: RegisterMap, words: Sequence[int]) -> dict[str, MetricValue]:
    """Metrics from the words read at ``register_map.start`` (exactly ``register_map.count`` of them).

    Raises ValueError when the block does not fit the map (wrong length, a word outside 0..65535): that is a
    device or transport fault, never something to guess around.
    """
    if len(words) != register_map.count:
        raise ValueError(
            f"map {register_map.name!r} needs {register_map.count} registers from {register_map.start}, "
            f"got {len(words)}"
        )
    for word in words:
        if not 0 <= word <= 0xFFFF:
            raise ValueError(f"register value {word} is not a 16-bit word")
    metrics: dict[str, MetricValue] = {}
    base = register_map.start
    for entry in register_map.registers:
        offset = entry.address - base
        chunk = words[offset : offset + entry.width]
        if entry.type is RegisterType.BITS:
            word = chunk[0]
            if entry.metric:
                metrics[entry.metric] = word
            for bit, name in sorted(entry.bits.items()):
                metrics[name] = bool((word >> bit) & 1)
            continue
        assert entry.metric is not None  # checked by the model
        metrics[entry.metric] = _value(entry, chunk)
    return metrics


def _value(entry: RegisterEntry, chunk: Sequence[int]) -> MetricValue:
    if entry.width == 2:
        high, low = (chunk[0], chunk[1]) if entry.word_order == "high_first" else (chunk[1], chunk[0])
        raw_bytes = struct.pack(">HH", high, low)
    else:
        raw_bytes = struct.pack(">H", chunk[0])
    if entry.type is RegisterType.FLOAT32:
        value = _shortest_float32(raw_bytes)
        return value if entry.scale == 1.0 else _scale_float(value, entry.scale)
    fmt = {
        RegisterType.UINT16: ">H",
        RegisterType.INT16: ">h",
        RegisterType.UINT32: ">I",
        RegisterType.INT32: ">i",
    }[entry.type]
    raw: int = struct.unpack(fmt, raw_bytes)[0]
    if entry.scale == 1.0:
        return raw
    # Decimal arithmetic: 3 * 0.1 must be 0.3, not 0.30000000000000004, or the stored value looks noisier
    # than the sensor is and equality in golden files becomes luck.
    return float(Decimal(raw) * Decimal(repr(entry.scale)))


def _scale_float(value: float, scale: float) -> float:
    if not math.isfinite(value):
        return value
    return float(Decimal(repr(value)) * Decimal(repr(scale)))


def _shortest_float32(raw: bytes) -> float:
    """The float32 as the shortest decimal that reads back to the same 32 bits.

    A float32 carries about 7 significant digits; widening 0.35f to a double prints 0.3499999940395355,
    digits the sensor never measured.
    """
    value: float = struct.unpack(">f", raw)[0]
    if not math.isfinite(value) or value == 0.0:
        return value
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.pack(">f", candidate) == raw:
            return candidate
    return value


def out_of_range(register_map: RegisterMap, metrics: Mapping[str, MetricValue]) -> list[str]:
    """Problems with decoded values outside their physical range (a NaN is never a measurement).

    A sensor reporting 0xFFFF as "no value" would otherwise be stored as 65.535 MPa; the caller rejects the
    reading as ``out_of_range``, as the JSON decoders do for the same metrics.
    """
    problems: list[str] = []
    for entry in register_map.registers:
        if entry.metric is None or entry.type is RegisterType.BITS:
            continue
        value = metrics.get(entry.metric)
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        if isinstance(value, float) and math.isnan(value):
            problems.append(f"{entry.metric} is NaN (register {entry.address})")
            continue
        bounds = entry.range
        if bounds is not None and not bounds.lo <= value <= bounds.hi:
            unit = f" {entry.unit or bounds.unit}".rstrip()
            limits = f"{bounds.lo:g}..{bounds.hi:g}"
            problems.append(f"{entry.metric}={value}{unit} outside {limits} (register {entry.address})")
    return problems


# ------------------------------------------------------------------------------------------------- loading


class RegisterMapError(ValueError):
    """A map that does not exist or does not validate; the message names the file and the problem."""


def builtin_maps() -> list[str]:
    """Names of the maps shipped in ``collectors/modbus/maps/``."""
    folder = resources.files(_MAPS_PACKAGE)
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def parse_register_map(name: str, text: str, source: str = "") -> RegisterMap:
    """A map from TOML text; its name is the file's stem, so a map cannot claim to be another."""
    where = source or f"{name}.toml"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegisterMapError(f"register map {where}: not valid TOML: {exc}") from exc
    if "name" in data and data["name"] != name:
        raise RegisterMapError(f"register map {where}: 'name' is {data['name']!r}, the file says {name!r}")
    try:
        return RegisterMap.model_validate({**data, "name": name})
    except ValidationError as exc:
        raise RegisterMapError(f"register map {where} is invalid: {exc}") from exc


def load_register_map(name: str, user_dirs: Iterable[Path | str] = ()) -> RegisterMap:
    """Load ``<name>.toml`` from the user directories (first match wins), else the built-in maps.

    User directories come first so a site can correct a vendor's map without waiting for a release.
    """
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise RegisterMapError(f"invalid register map name {name!r}")
    dirs = [Path(d) for d in user_dirs]
    for folder in dirs:
        path = folder / f"{name}.toml"
        if path.is_file():
            return parse_register_map(name, path.read_text(encoding="utf-8"), str(path))
    source = resources.files(_MAPS_PACKAGE).joinpath(f"{name}.toml")
    if source.is_file():
        return parse_register_map(name, source.read_text(encoding="utf-8"), f"maps/{name}.toml")
    known = ", ".join(builtin_maps())
    searched = "".join(f", {d}" for d in dirs)
    raise RegisterMapError(
        f"unknown register map {name!r} (searched built-in maps{searched}); built-in maps: {known}"
    )


class RegisterMaps:
    """Loads each map once; the poller asks for the map of every device at start-up."""

    def __init__(self, user_dirs: Iterable[Path | str] = ()) -> None:
        self._dirs = [Path(d) for d in user_dirs]
        self._cache: dict[str, RegisterMap] = {}

    def get(self, name: str) -> RegisterMap:
        found = self._cache.get(name)
        if found is None:
            found = self._cache[name] = load_register_map(name, self._dirs)
        return found
