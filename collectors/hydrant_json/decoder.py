"""Decoder for hydrant pressure sensor JSON over a DTU (docs/wire-formats.md section 4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collectors import jsonwire as jw
from collectors.base import DecodeError, register_decoder
from gateway.models import MetricValue, Reading, Record

#: The status word is the Modbus status register (a uint16); bits 4-15 are reserved and ignored.
_STATUS_WORD = jw.Bounds(0, 0xFFFF)


class HydrantJsonOptions(jw.JsonDecoderOptions):
    #: Topic level holding the device id (``fire/hydrant/{device_id}/up``; negative counts from the end).
    #: None turns the topic/payload cross-check off.
    topic_id_level: int | None = -2


@register_decoder("hydrant_json")
class HydrantJsonDecoder:
    name = "hydrant_json"

    def __init__(self, options: Mapping[str, Any] | HydrantJsonOptions | None = None) -> None:
        self.options = opts = HydrantJsonOptions.of(options)
        self._max_bytes = opts.max_payload_bytes
        self._topic_level = opts.topic_id_level

    def decode(self, topic: str, payload: bytes) -> list[Record]:
        obj = jw.parse_object(payload, self._max_bytes)
        device_id = jw.req_str(obj, "id")
        try:
            return [self._record(topic, device_id, obj)]
        except DecodeError as exc:
            exc.device_id = device_id
            raise

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
