"""Decoder for the native smoke detector JSON format (docs/wire-formats.md section 1)."""

from __future__ import annotations

from typing import Any

from collectors import jsonwire as jw
from gateway.models import DeviceEvent, EventType, MetricValue, Reading, Record


class SmokeJsonOptions(jw.IdTopicOptions):
    """Only the common options (max_payload_bytes, topic_id_level)."""


#: The events of the format by wire name; ``heartbeat`` becomes a reading, the others events.
_EVENTS: dict[str, EventType] = {
    e.value: e
    for e in (
        EventType.HEARTBEAT,
        EventType.ALARM,
        EventType.ALARM_CLEAR,
        EventType.FAULT,
        EventType.FAULT_CLEAR,
        EventType.LOW_BATTERY,
        EventType.TAMPER,
        EventType.TAMPER_CLEAR,
        EventType.SELF_TEST,
        EventType.MUTE,
    )
}
#: Smoke obscuration in %/m cannot exceed 100 (everything obscured within a metre).
_SMOKE_PCT_PER_M = jw.Bounds(0, 100, "%/m")


class SmokeJsonDecoder(jw.IdKeyedJsonDecoder):
    name = "smoke_json"
    options_model = SmokeJsonOptions

    def _record(self, topic: str, device_id: str, obj: dict[str, Any]) -> Record:
        jw.check_topic_id(topic, self._topic_level, device_id)
        time = jw.req_epoch_ms(obj, "ts")
        event_type = jw.req_event(obj, "event", _EVENTS)
        seq = jw.opt_int(obj, "seq", jw.SEQ)
        values: dict[str, MetricValue] = {}
        battery = jw.opt_int(obj, "battery", jw.BATTERY_PCT)
        if battery is not None:
            values["battery_pct"] = battery
        rsrp = jw.opt_int(obj, "rsrp", jw.SIGNAL_DBM)
        if rsrp is not None:
            values["signal_dbm"] = rsrp

        if event_type is EventType.HEARTBEAT:
            if not values:
                values["alive"] = True
            return Reading(device_id=device_id, time=time, metrics=values, seq=seq)

        fault_code = jw.opt_str(obj, "fault_code")
        if fault_code is not None:
            values["fault_code"] = fault_code
        smoke = jw.opt_float(obj, "smoke", _SMOKE_PCT_PER_M)
        if smoke is not None:
            values["smoke_obscuration"] = smoke
        return DeviceEvent(device_id=device_id, time=time, type=event_type, attributes=values, seq=seq)
