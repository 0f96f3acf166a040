"""Canonical models shared by every step of the pipeline.

Collectors turn wire bytes and Modbus registers into these, and nothing past a collector sees a raw dict.
They are frozen pydantic models: values that were validated once at the edge cannot be changed on the way.

Times are always timezone-aware UTC ``datetime`` objects. Devices that send local China time (GB/T 45839
``datetime`` strings) are converted at the decoder, never later.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MetricValue = float | int | bool | str


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a timezone (naive datetimes are ambiguous)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]

#: Device times before this are a reset clock, not a reading from the past (NB-IoT detectors restart at
#: 1970-01-01 or 2000-01-01 after a battery change); see ``gateway.ingest.pipeline``.
DEVICE_TIME_FLOOR = datetime(2020, 1, 1, tzinfo=UTC)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeviceKind(StrEnum):
    SMOKE_DETECTOR = "smoke_detector"
    HYDRANT = "hydrant"
    CAMERA = "camera"


class EventType(StrEnum):
    """Everything a device can tell us that is an occurrence rather than a measurement.

    Smoke detector events follow the native JSON format (docs/wire-formats.md); camera events carry a
    start/end ``state`` attribute; ``online``/``offline`` come from carrier platforms that report
    connectivity (CTWing ``deviceOnlineOfflineReport``) and from the Modbus poller (``comm_fault``).
    """

    HEARTBEAT = "heartbeat"
    ALARM = "alarm"
    ALARM_CLEAR = "alarm_clear"
    FAULT = "fault"
    FAULT_CLEAR = "fault_clear"
    LOW_BATTERY = "low_battery"
    TAMPER = "tamper"
    TAMPER_CLEAR = "tamper_clear"
    SELF_TEST = "self_test"
    MUTE = "mute"
    SHIELDED = "shielded"
    ONLINE = "online"
    OFFLINE = "offline"
    COMM_FAULT = "comm_fault"
    COMM_RESTORED = "comm_restored"
    FIRE_LANE_OCCUPIED = "fire_lane_occupied"
    EVACUATION_BLOCKED = "evacuation_blocked"
    EBIKE_IN_LIFT = "ebike_in_lift"


#: Events that must never wait behind bulk telemetry (GB 26875.1: fire alarms first).
PRIORITY_EVENTS: frozenset[EventType] = frozenset(
    {
        EventType.ALARM,
        EventType.ALARM_CLEAR,
        EventType.FAULT,
        EventType.FAULT_CLEAR,
        EventType.TAMPER,
        EventType.COMM_FAULT,
    }
)


class Estate(Frozen):
    id: str
    name: str
    district: str = ""
    street: str = ""
    property_company: str = ""
    latitude: float | None = None
    longitude: float | None = None


class Building(Frozen):
    id: str
    estate_id: str
    name: str = ""
    floors: int | None = None
    height_m: float | None = None


class ModbusAddress(Frozen):
    """Where a Modbus-polled device sits: a Modbus TCP gateway (host, port) and the RS-485 unit behind it."""

    host: str
    port: int = 502
    unit: int = Field(ge=0, le=247)
    register_map: str = "hydrant_default"
    poll_interval_s: float = Field(default=60.0, gt=0)


class MeasuringPoint(StrEnum):
    """Where a hydrant pressure sensor sits, which decides its default limits (rules/thresholds.py).

    Static pressure in a hydrant system depends on height: the least favourable (highest, furthest) point
    reads least, a riser or pump outlet more, an outdoor hydrant reads the municipal mains.
    """

    LEAST_FAVOURABLE = "least_favourable"  # least favourable indoor hydrant, or the roof tank outlet
    RISER = "riser"  # a riser or the fire pump outlet
    OUTDOOR_MAINS = "outdoor_mains"  # an outdoor hydrant on the municipal mains
    UNKNOWN = "unknown"


class Device(Frozen):
    """One physical device as the registry knows it.

    ``id`` is the identifier the device uses on the wire (topic segment or payload field); ``imei`` lets
    carrier-platform envelopes, which name devices by IMEI, be matched to the same device.
    """

    id: str
    kind: DeviceKind
    estate_id: str
    building_id: str = ""
    location: str = ""
    floor: int | None = None
    wire_format: str = ""
    imei: str | None = None
    vendor: str = ""
    modbus: ModbusAddress | None = None
    #: Per-device overrides of rule thresholds (e.g. ``pressure_min_mpa``); defaults live in the policy.
    thresholds: dict[str, float] = Field(default_factory=dict)
    #: Hydrant pressure sensors: where the sensor sits, and whether it reads static pressure (no flow, what
    #: almost every sensor reads) or the flowing pressure at an outlet. Both pick default limits.
    point: MeasuringPoint = MeasuringPoint.UNKNOWN
    reading: Literal["static", "flowing"] = "static"


class Reading(Frozen):
    """A set of measurements a device took at one moment (its own clock when it sent one)."""

    record: Literal["reading"] = "reading"
    device_id: str
    time: UtcDatetime
    metrics: dict[str, MetricValue]
    seq: int | None = None


class DeviceEvent(Frozen):
    """Something that happened at a device: alarm, fault, tamper, camera detection start/end..."""

    record: Literal["event"] = "event"
    device_id: str
    time: UtcDatetime
    type: EventType
    attributes: dict[str, MetricValue] = Field(default_factory=dict)
    seq: int | None = None

    @property
    def is_priority(self) -> bool:
        return self.type in PRIORITY_EVENTS


Record = Reading | DeviceEvent


def utc_now() -> datetime:
    """The wall clock, in UTC. Only gateway/ calls this; rules/ receive ``now`` as an argument."""
    return datetime.now(UTC)
