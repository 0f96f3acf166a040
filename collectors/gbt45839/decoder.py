"""Decoder for the GB/T 45839-2025 appendix D status message (docs/wire-formats.md section 2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collectors import jsonwire as jw
from collectors.base import DecodeError
from gateway.models import DeviceEvent, EventType, MetricValue, Reading, Record

#: The standard's acknowledgement, published to ``{topic}/ack`` by the transport when ``gbt45839_ack`` is on.
ACK_PAYLOAD = b'{"success":1}'


class Gbt45839Options(jw.JsonDecoderOptions):
    #: Topic level holding the company code (``fire/gbt45839/{company}/status``; negative counts from the
    #: end). None turns the topic/payload cross-check off.
    topic_company_level: int | None = -2
    #: Answer each message with ``{"success":1}`` on ``{topic}/ack``. Acted on by the MQTT transport (a
    #: decoder publishes nothing); accepted here because it is one of this format's subscription options.
    gbt45839_ack: bool = False


#: ``status`` codes: 1 normal (a reading), 2 alarm, 3 fault, 4 shielded.
_STATUS: dict[int, EventType] = {
    1: EventType.HEARTBEAT,
    2: EventType.ALARM,
    3: EventType.FAULT,
    4: EventType.SHIELDED,
}


class Gbt45839Decoder:
    name = "gbt45839_status"

    def __init__(self, options: Mapping[str, Any] | Gbt45839Options | None = None) -> None:
        self.options = opts = Gbt45839Options.of(options)
        self._max_bytes = opts.max_payload_bytes
        self._topic_level = opts.topic_company_level
        #: What the transport publishes back for every accepted message, or None for no acknowledgement.
        self.ack_payload: bytes | None = ACK_PAYLOAD if opts.gbt45839_ack else None

    def decode(self, topic: str, payload: bytes) -> list[Record]:
        obj = jw.parse_object(payload, self._max_bytes)
        serial = jw.req_str(obj, "serial")
        try:
            return [self._record(topic, serial, obj)]
        except DecodeError as exc:
            exc.device_id = serial
            raise

    def _record(self, topic: str, serial: str, obj: dict[str, Any]) -> Record:
        company = jw.req_str(obj, "company")
        jw.check_topic_id(topic, self._topic_level, company, what="company")
        time = jw.req_cst_datetime(obj, "datetime")
        code = jw.req_int(obj, "status")
        status = _STATUS.get(code)
        if status is None:
            raise jw.unknown_event("status", "", code, _STATUS)
        values: dict[str, MetricValue] = {
            "battery_pct": jw.req_int(obj, "batteryPercentage", jw.BATTERY_PCT),
            "signal_dbm": jw.req_int(obj, "signalStrength", jw.SIGNAL_DBM),
        }
        if status is EventType.HEARTBEAT:
            return Reading(device_id=serial, time=time, metrics=values)
        values["company"] = company
        return DeviceEvent(device_id=serial, time=time, type=status, attributes=values)
