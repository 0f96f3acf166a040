"""Decoder for camera detection events and keep-alives (docs/wire-formats.md section 6)."""

from __future__ import annotations

from typing import Any

from collectors import jsonwire as jw
from gateway.models import DeviceEvent, EventType, MetricValue, Reading, Record

_TYPES: dict[str, EventType] = {
    e.value: e
    for e in (
        EventType.FIRE_LANE_OCCUPIED,
        EventType.EVACUATION_BLOCKED,
        EventType.EBIKE_IN_LIFT,
        EventType.HEARTBEAT,
    )
}
_STATES = ("start", "end")
_OBJECTS = ("vehicle", "debris", "ebike", "person", "other")
_CONFIDENCE = jw.Bounds(0, 1)


class CameraEventOptions(jw.IdTopicOptions):
    """Only the common options (max_payload_bytes, topic_id_level)."""


class CameraEventDecoder(jw.IdKeyedJsonDecoder):
    name = "camera_event"
    options_model = CameraEventOptions

    def _record(self, topic: str, device_id: str, obj: dict[str, Any]) -> Record:
        jw.check_topic_id(topic, self._topic_level, device_id)
        time = jw.req_epoch_ms(obj, "ts")
        event_type = jw.req_event(obj, "type", _TYPES)
        if event_type is EventType.HEARTBEAT:
            # A keep-alive says only that the camera is there: a reading, as a smoke detector's heartbeat is,
            # so that it lands in the ``camera`` measurement and not among the detections.
            return Reading(device_id=device_id, time=time, metrics={"alive": True})
        values: dict[str, MetricValue] = {
            "state": jw.req_choice(obj, "state", _STATES),
            "event_id": jw.req_str(obj, "event_id"),
        }
        detected = jw.opt_choice(obj, "object", _OBJECTS)
        if detected is not None:
            values["object"] = detected
        confidence = jw.opt_float(obj, "confidence", _CONFIDENCE)
        if confidence is not None:
            values["confidence"] = confidence
        snapshot = jw.opt_str(obj, "snapshot")
        if snapshot is not None:
            values["snapshot"] = snapshot
        return DeviceEvent(device_id=device_id, time=time, type=event_type, attributes=values)
