"""Decoder for hydrant pressure sensor JSON over a DTU (docs/wire-formats.md section 4)."""

from __future__ import annotations

from typing import Any

from collectors import jsonwire as jw
from gateway.models import MetricValue, Reading, Record

#: The status word is the Modbus status register (a uint16); bits 4-15 are reserved and ignored.
_STATUS_WORD = jw.Bounds(0, 0xFFFF)


class HydrantJsonOptions(jw.IdTopicOptions):
    """Only the common options (max_payload_bytes, topic_id_level)."""


class HydrantJsonDecoder(jw.IdKeyedJsonDecoder):
    name = "hydrant_json"
    options_model = HydrantJsonOptions

    def _record(self, topic: str, device_id: str, obj: dict[str, Any]) -> Record:
        jw.check_topic_id(topic, self._topic_level, device_id)
        time = jw.req_epoch_ms(obj, "ts")
        seq = jw.opt_int(obj, "seq", jw.SEQ)
        values: dict[str, MetricValue] = {"pressure_mpa": jw.req_float(obj, "pressure", jw.PRESSURE_MPA)}
        battery = jw.opt_int(obj, "battery", jw.BATTERY_PCT)
        if battery is not None:
            values["battery_pct"] = battery
        temperature = jw.opt_float(obj, "temperature", jw.TEMPERATURE_C)
        if temperature is not None:
            values["temperature_c"] = temperature
        status = jw.opt_int(obj, "status", _STATUS_WORD) or 0
        values["sensor_fault"] = bool(status & 1)
        values["leak"] = bool(status & 2)
        values["cover_open"] = bool(status & 4)
        values["low_battery"] = bool(status & 8)
        return Reading(device_id=device_id, time=time, metrics=values, seq=seq)
