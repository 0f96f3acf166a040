"""Decoder for the CTWing push envelope (docs/wire-formats.md section 3)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Self

from pydantic import Field, field_validator, model_validator

from collectors import jsonwire as jw
from collectors.base import DecodeError
from collectors.ctwing.table import ServiceRule, VendorTable, load_vendor_table, normalise_codes
from gateway.models import DeviceEvent, EventType, MetricValue, Reading, Record

_ONLINE_OFFLINE = "deviceOnlineOfflineReport"
_KNOWN_TYPES = ("dataReport", "eventReport", _ONLINE_OFFLINE)
#: ``deviceOnlineOfflineReport`` ``eventType``: 1 online, 0 offline.
_CONNECTIVITY: dict[int, EventType] = {1: EventType.ONLINE, 0: EventType.OFFLINE}


class CtwingOptions(jw.JsonDecoderOptions):
    #: Built-in vendor table (``collectors/ctwing/vendors/<vendor>.toml``); ``generic`` unless a custom table
    #: is given with ``code_field`` + ``codes``.
    vendor: str | None = Field(default=None, pattern=r"^[a-z0-9_]+$")
    #: Custom table: the ``serviceData`` key holding the code, for every ``serviceId``...
    code_field: str | None = None
    #: ... and what each code means: ``heartbeat`` (a reading) or an event type.
    codes: dict[str, EventType] | None = None
    #: Topic level holding the productId (``ctwing/{productId}/push``; negative counts from the end). Checked
    #: against the envelope's ``productId`` when both are present; None turns the check off.
    topic_product_level: int | None = -2

    _normalise = field_validator("codes", mode="before")(normalise_codes)

    @model_validator(mode="after")
    def _one_table(self) -> Self:
        if (self.code_field is None) != (self.codes is None):
            raise ValueError("a custom code table needs both 'code_field' and 'codes'")
        if self.vendor is not None and self.codes is not None:
            raise ValueError("give either 'vendor' or a custom 'code_field' + 'codes' table, not both")
        return self

    def table(self) -> VendorTable:
        if self.code_field is not None and self.codes is not None:
            return VendorTable(any_service=ServiceRule(code_field=self.code_field, codes=self.codes))
        return load_vendor_table(self.vendor or "generic")


class CtwingDecoder:
    name = "ctwing"

    def __init__(self, options: Mapping[str, Any] | CtwingOptions | None = None) -> None:
        self.options = opts = CtwingOptions.of(options)
        self.table = table = opts.table()
        self._max_bytes = opts.max_payload_bytes
        self._topic_level = opts.topic_product_level
        self._services = table.services
        self._any_service = table.any_service
        self._battery_field = table.battery_field
        self._signal_field = table.signal_field

    def decode(self, topic: str, payload: bytes) -> list[Record]:
        obj = jw.parse_object(payload, self._max_bytes)
        imei = jw.req_str(obj, "IMEI")
        try:
            return [self._record(topic, imei, obj)]
        except DecodeError as exc:
            exc.device_id = imei
            raise

    def _record(self, topic: str, imei: str, obj: dict[str, Any]) -> Record:
        product_id = obj.get("productId")
        if product_id is not None:
            if type(product_id) is int:
                product_id = str(product_id)
            elif type(product_id) is not str:
                raise jw.schema_error(obj, "productId", "", "a string")
            jw.check_topic_id(topic, self._topic_level, product_id, what="productId")
        time = jw.req_epoch_ms(obj, "timestamp")
        message_type = obj.get("messageType")
        # Compared, not looked up in a set: a JSON array or object here is unhashable.
        if message_type == "dataReport" or message_type == "eventReport":
            return self._service_record(imei, time, jw.req_object(obj, "payload"))
        if message_type == _ONLINE_OFFLINE:
            code = jw.req_int(obj, "eventType")
            event = _CONNECTIVITY.get(code)
            if event is None:
                raise jw.unknown_event("eventType", "", code, _CONNECTIVITY)
            return DeviceEvent(device_id=imei, time=time, type=event)
        if type(message_type) is str:
            raise jw.unknown_event("messageType", "", message_type, _KNOWN_TYPES)
        raise jw.schema_error(obj, "messageType", "", f"a string, one of {', '.join(_KNOWN_TYPES)}")

    def _service_record(self, imei: str, time: datetime, payload: dict[str, Any]) -> Record:
        service_id = payload.get("serviceId")
        if type(service_id) is int:
            service_id = str(service_id)
        elif type(service_id) is not str:
            raise jw.schema_error(payload, "serviceId", "payload.", "a string")
        data = jw.req_object(payload, "serviceData", "payload.")
        rule = self._services.get(service_id, self._any_service)
        if rule is None:
            raise jw.unknown_event("serviceId", "payload.", service_id, self._services)
        kind = rule.record if rule.code_field is None else self._lookup(rule, rule.code_field, data)

        values: dict[str, MetricValue] = {}
        battery = jw.opt_int(data, self._battery_field, jw.BATTERY_PCT, "payload.serviceData.")
        if battery is not None:
            values["battery_pct"] = battery
        rsrp = jw.opt_int(data, self._signal_field, jw.SIGNAL_DBM, "payload.serviceData.")
        if rsrp is not None:
            values["signal_dbm"] = rsrp
        if kind is EventType.HEARTBEAT or kind is None:
            if not values:
                values["alive"] = True
            return Reading(device_id=imei, time=time, metrics=values)
        return DeviceEvent(device_id=imei, time=time, type=kind, attributes=values)

    @staticmethod
    def _lookup(rule: ServiceRule, field: str, data: dict[str, Any]) -> EventType:
        code = data.get(field)
        if type(code) is int:
            key = str(code)
        elif type(code) is str:
            key = code
        else:
            raise jw.schema_error(data, field, "payload.serviceData.", "an integer or string code")
        kind = rule.codes.get(key)
        if kind is None:
            raise jw.unknown_event(field, "payload.serviceData.", code, rule.codes)
        return kind
