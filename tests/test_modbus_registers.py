"""Register maps and the register decoder: golden files, map validation, and the simulator cross-check.

Each folder ``tests/golden/modbus/<case>/`` holds the words a unit answers (``registers.json``: the map name
and ``words`` read from the map's start) and what must come out (``expected.json``: the span the map reads,
the metrics, and the out-of-range problems that make the poller reject the reading). A case folder is also a
user map directory: a ``<map>.toml`` next to ``registers.json`` is found before the built-in maps.
``FIREGW_UPDATE_GOLDEN=1`` rewrites ``expected.json`` from the current output (review the diff!).
"""

from __future__ import annotations

import json
import math
import os
import struct
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from collectors.modbus.registers import (  # noqa: E402
    MAX_SPAN,
    RegisterMapError,
    RegisterMaps,
    RegisterType,
    builtin_maps,
    decode_registers,
    load_register_map,
    out_of_range,
    parse_register_map,
)
from simulators.modbus_server import SimulatedUnit  # noqa: E402

GOLDEN = Path(__file__).parent / "golden" / "modbus"
UPDATE = os.environ.get("FIREGW_UPDATE_GOLDEN") == "1"


# --------------------------------------------------------------------------------------------- golden files


def _cases() -> list[Path]:
    return sorted(p.parent for p in GOLDEN.glob("*/registers.json"))


def _jsonable(value: Any) -> Any:
    # NaN/inf are not JSON; the golden file spells them as strings.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _run_case(folder: Path) -> dict[str, Any]:
    spec = json.loads((folder / "registers.json").read_text(encoding="utf-8"))
    register_map = load_register_map(spec["map"], [folder])
    metrics = decode_registers(register_map, spec["words"])
    return {
        "span": {"start": register_map.start, "count": register_map.count},
        "metrics": {k: _jsonable(v) for k, v in metrics.items()},
        "out_of_range": out_of_range(register_map, metrics),
    }


def _canonical(value: Any) -> str:
    # Compared as JSON text so that 95 vs 95.0 and true vs 1 differ: a field's type matters to InfluxDB.
    return json.dumps(value, sort_keys=True, ensure_ascii=False, indent=1)


def test_golden_cases_exist() -> None:
    assert len(_cases()) >= 5


@pytest.mark.parametrize("folder", _cases(), ids=lambda p: p.name)
def test_golden(folder: Path) -> None:
    actual = _run_case(folder)
    expected_file = folder / "expected.json"
    if UPDATE:
        expected_file.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    assert _canonical(actual) == _canonical(expected)


# ------------------------------------------------------------------------------------ the documented map


def test_default_map_is_the_documented_table() -> None:
    """docs/wire-formats.md section 5, row by row: a change to either must change both."""
    m = load_register_map("hydrant_default")
    assert m.function == "holding"
    assert (m.start, m.count) == (0, 6)  # "one request for registers 0-5"
    rows = [(e.address, e.type, e.scale, e.unit, e.metric, e.bits, e.word_order) for e in m.registers]
    assert rows == [
        (0, RegisterType.UINT16, 0.001, "MPa", "pressure_mpa", {}, "high_first"),
        (1, RegisterType.UINT16, 1.0, "%", "battery_pct", {}, "high_first"),
        (
            2,
            RegisterType.BITS,
            1.0,
            "",
            None,
            {0: "sensor_fault", 1: "leak", 2: "cover_open", 3: "low_battery"},
            "high_first",
        ),
        (3, RegisterType.INT16, 0.1, "°C", "temperature_c", {}, "high_first"),
        (4, RegisterType.UINT32, 1.0, "s", "uptime_s", {}, "high_first"),
    ]
    assert "hydrant_default" in builtin_maps()


def test_default_map_types_match_the_json_decoder() -> None:
    """A hydrant reads the same polled or via a DTU: integer battery, float pressure and temperature."""
    metrics = decode_registers(load_register_map("hydrant_default"), [350, 95, 0, 200, 0, 0])
    assert type(metrics["pressure_mpa"]) is float
    assert type(metrics["battery_pct"]) is int
    assert type(metrics["temperature_c"]) is float
    assert type(metrics["uptime_s"]) is int
    assert (metrics["pressure_mpa"], metrics["temperature_c"]) == (0.35, 20.0)


def test_decode_rejects_a_block_that_does_not_fit() -> None:
    m = load_register_map("hydrant_default")
    with pytest.raises(ValueError, match="needs 6 registers"):
        decode_registers(m, [0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="16-bit"):
        decode_registers(m, [0, 0, 0, 0, 0, 0x10000])


# ------------------------------------------------------------------------------------------ map checking

_ENTRY = '[[registers]]\naddress = {a}\ntype = "{t}"\nmetric = "{m}"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_ENTRY.format(a=0, t="uint32", m="a") + _ENTRY.format(a=1, t="uint16", m="b"), "overlap"),
        (_ENTRY.format(a=0, t="uint16", m="a") + _ENTRY.format(a=1, t="uint16", m="a"), "produced twice"),
        ('[[registers]]\naddress = 0\ntype = "bits"\nbits = { 16 = "x" }\n', "0..15"),
        ('[[registers]]\naddress = 0\ntype = "bits"\n', "bit names"),
        ('[[registers]]\naddress = 0\ntype = "uint16"\n', "'metric' is required"),
        ('[[registers]]\naddress = 0\ntype = "uint16"\nmetric = "a"\nscale = 0\n', "non-zero"),
        ('[[registers]]\naddress = 0\ntype = "uint8"\nmetric = "a"\n', "type"),
        ('[[registers]]\naddress = 0\ntype = "uint16"\nmetric = "a"\nbogus = 1\n', "bogus"),
        (_ENTRY.format(a=0, t="uint16", m="a") + _ENTRY.format(a=MAX_SPAN, t="uint16", m="b"), "at most"),
        ("registers = []\n", "registers"),
        ('name = "other"\n' + _ENTRY.format(a=0, t="uint16", m="a"), "the file says"),
        ("[[registers]\n", "not valid TOML"),
    ],
)
def test_invalid_maps_fail_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(RegisterMapError, match=message) as info:
        parse_register_map("site_map", text, "maps/site_map.toml")
    assert "site_map.toml" in str(info.value)


def test_span_of_the_widest_legal_map() -> None:
    text = _ENTRY.format(a=10, t="uint16", m="a") + _ENTRY.format(a=10 + MAX_SPAN - 2, t="float32", m="b")
    m = parse_register_map("wide", text)
    assert (m.start, m.count) == (10, MAX_SPAN)


def test_unknown_map_lists_the_builtin_ones(tmp_path: Path) -> None:
    with pytest.raises(RegisterMapError, match="hydrant_default"):
        load_register_map("no_such_map", [tmp_path])
    with pytest.raises(RegisterMapError, match="invalid register map name"):
        load_register_map("../etc/passwd")


def test_user_directory_wins_over_builtin(tmp_path: Path) -> None:
    (tmp_path / "hydrant_default.toml").write_text(_ENTRY.format(a=7, t="int16", m="x"), encoding="utf-8")
    maps = RegisterMaps([tmp_path])
    m = maps.get("hydrant_default")
    assert (m.start, m.count) == (7, 1)
    assert maps.get("hydrant_default") is m  # loaded once


def test_float32_is_not_widened_into_invented_digits() -> None:
    words = list(struct.unpack(">2H", struct.pack(">f", 0.35)))
    m = parse_register_map("f", '[[registers]]\naddress = 0\ntype = "float32"\nmetric = "v"\n')
    assert decode_registers(m, words) == {"v": 0.35}


# --------------------------------------------------------------- simulator encoding vs collector decoding


@settings(max_examples=200, deadline=None)
@given(
    pressure=st.integers(0, 4000).map(lambda kpa: kpa / 1000),
    battery=st.integers(0, 100),
    status=st.integers(0, 0xFFFF),
    temperature=st.integers(-400, 850).map(lambda d: d / 10),
    uptime=st.integers(0, 2**32 - 1),
)
def test_simulator_and_collector_agree(
    pressure: float, battery: int, status: int, temperature: float, uptime: int
) -> None:
    """Two independent implementations of the documented table: the simulator encodes, the map decodes."""
    unit = SimulatedUnit(pressure_mpa=pressure, battery_pct=battery, status=status, temperature_c=temperature)
    words = unit.registers(uptime_s=uptime)
    m = load_register_map("hydrant_default")
    metrics = decode_registers(m, words)
    assert metrics["pressure_mpa"] == pressure
    assert metrics["battery_pct"] == battery
    assert metrics["sensor_fault"] is bool(status & 1)
    assert metrics["leak"] is bool(status & 2)
    assert metrics["cover_open"] is bool(status & 4)
    assert metrics["low_battery"] is bool(status & 8)
    assert metrics["temperature_c"] == temperature
    assert metrics["uptime_s"] == uptime
    assert out_of_range(m, metrics) == []
