"""Decoder for camera detection events (docs/wire-formats.md section 6)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collectors import jsonwire as jw
from collectors.base import DecodeError, register_decoder
from gateway.models import DeviceEvent, EventType, MetricValue, Record

_TYPES: dict[str, EventType] = {
    e.value: e for e in (EventType.FIRE_LANE_OCCUPIED, EventType.EVACUATION_BLOCKED, EventType.EBIKE_IN_LIFT)
}
_STATES = ("start", "end")
_OBJECTS = ("vehicle", "debris", "ebike", "person", "other")
_CONFIDENCE = jw.Bounds(0, 1)


class CameraEventOptions(jw.JsonDecoderOptions):
    #: Topic level holding the camera id (``fire/camera/{device_id}/event``; negative counts from the end).
    #: None turns the topic/payload cross-check off.
    topic_id_level: int | None = -2


@register_decoder("camera_event")
class CameraEventDecoder:
    name = "camera_event"

    def __init__(self, options: Mapping[str, Any] | CameraEventOptions | None = None) -> None:
        self.options = opts = CameraEventOptions.of(options)
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
        event_type = jw.req_event(obj, "type", _TYPES)
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
