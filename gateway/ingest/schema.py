"""How canonical records become InfluxDB points: the schema the dashboards query (docs/schema.md).

- Readings go to one measurement per device kind (``smoke_detector``, ``hydrant``, ``camera``), fields are
  the metrics.
- Events go to ``device_event`` with the event type as the ``event`` tag, attributes as fields, and
  ``count = 1.0`` so that every point has one field in common to count.
- Tags are the low-cardinality identities dashboards group and filter by: ``device``, ``kind``, ``estate``,
  ``building``, ``district``, ``street``.
- Every number is written as a float. InfluxDB rejects a whole batch when a field changes type within a
  shard (a camera sending ``confidence: 1`` after ``0.93``); one numeric type rules that out.
"""

from __future__ import annotations

from datetime import datetime

from gateway.ingest.sinks.base import FieldValue, Point
from gateway.models import Device, DeviceEvent, DeviceKind, Estate, MetricValue, Reading

READING_MEASUREMENT: dict[DeviceKind, str] = {
    DeviceKind.SMOKE_DETECTOR: "smoke_detector",
    DeviceKind.HYDRANT: "hydrant",
    DeviceKind.CAMERA: "camera",
}
EVENT_MEASUREMENT = "device_event"
STATS_MEASUREMENT = "gateway_stats"


def time_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch, exact to the microsecond (a float product would lose the last digits)."""
    return round(moment.timestamp() * 1_000_000) * 1000


def device_tags(device: Device, estate: Estate) -> dict[str, str]:
    tags = {"device": device.id, "kind": device.kind.value, "estate": device.estate_id}
    if device.building_id:
        tags["building"] = device.building_id
    if estate.district:
        tags["district"] = estate.district
    if estate.street:
        tags["street"] = estate.street
    return tags


def _field(value: MetricValue) -> FieldValue:
    if isinstance(value, (bool, str)):
        return value
    return float(value)


def reading_point(reading: Reading, tags: dict[str, str], kind: DeviceKind) -> Point:
    # Once per message: floats (most metrics) are taken as they are without a call to ``_field``.
    fields: dict[str, FieldValue] = {}
    for key, value in reading.metrics.items():
        fields[key] = value if type(value) is float else _field(value)
    return Point(READING_MEASUREMENT[kind], tags, fields, time_ns(reading.time))


def event_point(event: DeviceEvent, tags: dict[str, str]) -> Point:
    fields: dict[str, FieldValue] = {"count": 1.0}
    for key, value in event.attributes.items():
        fields[key] = _field(value)
    return Point(
        measurement=EVENT_MEASUREMENT,
        tags={**tags, "event": event.type.value},
        fields=fields,
        time_ns=time_ns(event.time),
        priority=event.is_priority,
    )


# -- written by the rule layer (docs/schema.md, second table) ------------------------------------------------

GRADE_MEASUREMENT = "estate_grade"
HAZARD_MEASUREMENT = "hazard"
ALARM_MEASUREMENT = "alarm"
SIGNAL_MEASUREMENT = "device_signal"
ESTATE_DEVICES_MEASUREMENT = "estate_devices"


def estate_tags(estate: Estate) -> dict[str, str]:
    tags = {"estate": estate.id}
    if estate.district:
        tags["district"] = estate.district
    if estate.street:
        tags["street"] = estate.street
    return tags


def rule_point(
    measurement: str,
    tags: dict[str, str],
    fields: dict[str, FieldValue | None],
    at: datetime,
    *,
    priority: bool = True,
) -> Point:
    """A rule-layer point: numbers as floats, absent values left out, on the priority lane by default
    (grades, hazards and alarms are few and matter more than one more pressure reading)."""
    clean: dict[str, FieldValue] = {}
    for key, value in fields.items():
        if value is None:
            continue
        clean[key] = value if isinstance(value, (bool, str)) else float(value)
    return Point(measurement=measurement, tags=tags, fields=clean, time_ns=time_ns(at), priority=priority)
