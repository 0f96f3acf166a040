"""Modbus TCP collector for hydrant pressure sensors on RS-485 lines behind Modbus TCP gateways.

``registers`` holds the register maps (data, in ``maps/*.toml``) and the pure decoder from words to metrics;
``poller`` is the transport: it reads the span a map covers, hands the words to the decoder and reports
communication faults as events, never as stale readings (docs/wire-formats.md section 5).
"""

from collectors.modbus.poller import ConnectionState, GatewayStats, ModbusPoller, UnitStats
from collectors.modbus.registers import (
    RegisterEntry,
    RegisterMap,
    RegisterMapError,
    RegisterMaps,
    RegisterType,
    builtin_maps,
    decode_registers,
    load_register_map,
    out_of_range,
    parse_register_map,
)

__all__ = [
    "ConnectionState",
    "GatewayStats",
    "ModbusPoller",
    "RegisterEntry",
    "RegisterMap",
    "RegisterMapError",
    "RegisterMaps",
    "RegisterType",
    "UnitStats",
    "builtin_maps",
    "decode_registers",
    "load_register_map",
    "out_of_range",
    "parse_register_map",
]
