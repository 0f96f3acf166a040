"""Request and response bodies. Requests forbid unknown fields, so a typo is a 422, not a silent default."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gateway.models import DeviceKind
from rules.lifecycle import AlarmAction, AlarmOutcome, AlarmState, HazardAction, HazardState


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: Who acted is the signed-in account: a name in the body is accepted (older clients send one) but not
#: recorded. Only with accounts disabled is it used, and then required.
SIGNED_IN_NAME = (
    "ignored when signed in (the account's name is recorded); required when accounts are disabled"
)


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Text(Out):
    zh: str
    en: str


class ReasonOut(Out):
    codes: list[str] = Field(description="criteria this reason holds, e.g. Y10, G4")
    text: str
    hazards: list[str] = Field(default_factory=list, description="ids of the hazards behind it")


class GradeOut(Out):
    grade: str = Field(description="green / yellow / red (or the policy's colours), or unknown")
    level: int = Field(description="0 = least severe colour upwards; -1 unknown")
    label: Text
    meaning: Text
    reasons: list[ReasonOut]
    summary: str
    red_items: list[str]
    yellow_items: list[str]
    missing_green: list[str]
    open_hazards: int
    tolerated: list[str]
    stale: bool = Field(description="every device of the estate is silent: the grade cannot be known")
    rule: str = Field(description="which grade rule decided")
    decided_at: datetime
    last_heard: datetime | None
    policy: str


class DeviceCounts(Out):
    total: int
    online: int
    offline: int
    failing: int = Field(description="devices with an active signal other than offline")


class EstateOut(Out):
    id: str
    name: str
    district: str
    street: str
    property_company: str
    latitude: float | None
    longitude: float | None
    grade: GradeOut | None
    devices: DeviceCounts
    open_hazards: int
    overdue_hazards: int
    active_alarms: int


class GradeChangeOut(Out):
    at: datetime
    grade: str = Field(validation_alias="colour")
    level: int
    previous: str | None
    rule: str
    reasons: list[ReasonOut]
    red_items: list[str]
    yellow_items: list[str]
    missing_green: list[str]
    tolerated: list[str]
    open_hazards: int
    stale: bool
    policy: str


class TransitionOut(Out):
    at: datetime
    action: str
    from_state: str | None
    to_state: str
    actor: str
    reason: str
    data: dict[str, Any]


class HazardOut(Out):
    id: int
    estate_id: str
    criterion: str
    criterion_text: Text | None
    criteria: list[str]
    source: str = Field(description="device / manual / complaint")
    device_id: str | None
    signal: str | None
    state: HazardState
    location: str
    description: str
    photo: str
    reporter: str
    responsible: str
    value: float | None
    since: datetime
    opened_at: datetime
    updated_at: datetime
    deadline: datetime | None
    overdue: bool
    closed_at: datetime | None
    close_kind: str | None = Field(
        description="verified / auto (device recovered) / closed (by a supervisor)"
    )
    escalations: int
    recheck_due: datetime | None


class HazardDetail(HazardOut):
    history: list[TransitionOut]
    allowed_actions: list[HazardAction]


class FileHazardIn(In):
    estate_id: str
    criterion: str = Field(description="R1-R7, Y1-Y15, or G1-G8 for a missing green condition")
    location: str = ""
    description: str = Field(min_length=1)
    photo: str = Field(default="", description="photo reference (URL or storage key)")
    reporter: str | None = Field(default=None, min_length=1, description=SIGNED_IN_NAME)


class HazardTransitionIn(In):
    action: HazardAction
    actor: str | None = Field(default=None, min_length=1, description=SIGNED_IN_NAME)
    reason: str = ""
    deadline: AwareDatetime | None = None
    responsible: str | None = None
    evidence: str = ""


class ComplaintIn(In):
    estate_id: str
    received_at: AwareDatetime
    channel: str = "12345"
    description: str = ""
    reporter: str | None = Field(default=None, min_length=1, description=SIGNED_IN_NAME)


class ComplaintOut(Out):
    id: int
    estate_id: str
    received_at: datetime
    channel: str
    description: str
    reporter: str
    recorded_at: datetime


class FireIn(In):
    estate_id: str
    occurred_at: AwareDatetime
    fatal: bool = False
    high_impact: bool = False
    description: str = ""
    recorded_by: str | None = Field(default=None, min_length=1, description=SIGNED_IN_NAME)


class FireOut(Out):
    id: int
    estate_id: str
    occurred_at: datetime
    fatal: bool
    high_impact: bool
    alarm_id: int | None
    description: str
    recorded_by: str


class AlarmOut(Out):
    id: int
    estate: str
    device: str
    building: str
    floor: int | None
    location: str
    state: AlarmState
    outcome: AlarmOutcome | None
    raised_at: datetime
    received_at: datetime
    ack_s: float | None = Field(description="seconds from arrival to acknowledgement (target 60)")
    dispatch_s: float | None
    on_scene_s: float | None = Field(description="seconds to on scene (target 180)")
    close_s: float | None = Field(description="seconds to closed (target 300)")
    elapsed_s: float
    device_cleared: bool
    repeats: int


class AlarmDetail(AlarmOut):
    history: list[TransitionOut]


class AlarmTransitionIn(In):
    action: AlarmAction
    actor: str | None = Field(default=None, min_length=1, description=SIGNED_IN_NAME)
    outcome: AlarmOutcome | None = None
    note: str = ""
    fatal: bool = False
    high_impact: bool = False


class SignalOut(Out):
    signal: str
    since: datetime | None
    detail: str
    value: float | None


class DeviceOut(Out):
    id: str
    kind: DeviceKind
    estate_id: str
    building_id: str
    location: str
    floor: int | None
    wire_format: str
    online: bool | None = Field(description="null when the rule layer is disabled")
    active_signals: list[SignalOut]
    last_seen: datetime | None
    last_time: datetime | None
    last_event: str
    metrics: dict[str, Any]
    messages: int
    seq_gaps: int
    clock_offset_s: float | None = Field(
        default=None,
        description="the device clock's offset from the gateway's (seconds) while it is wrong"
        " (its records are then stored at the receive time); null: its clock looks right",
    )
    #: The thresholds in force for charts (pressure_min_mpa/pressure_max_mpa for hydrants).
    limits: dict[str, float] = Field(default_factory=dict)


class SignalChangeOut(Out):
    signal: str
    active: bool
    at: datetime
    since: datetime
    detail: str
    value: float | None


class RejectedOut(Out):
    received_at: datetime
    reason: str
    detail: str
    topic: str | None
    payload: str | None


class DeviceDetail(DeviceOut):
    signal_history: list[SignalChangeOut]
    hazards: list[HazardOut]
    rejected: list[RejectedOut]


class CriterionOut(Out):
    code: str
    category: str
    zh: str
    en: str


class PolicyOut(Out):
    id: str
    version: str
    name: Text
    colours: list[dict[str, Any]]
    criteria: list[CriterionOut]
    signals: dict[str, list[str]]
    deadlines: dict[str, float]


class IngestOut(Out):
    """Is the gateway taking messages in, and is anything waiting, lost or refused (gateway/health.py)."""

    broker_connected: bool
    mqtt_unacknowledged: int = Field(description="messages read, waiting to be durable before their PUBACK")
    rejects: int
    dead_letters_stored: int
    seq_gaps: int = Field(description="gaps in devices' message counters: messages lost before the gateway")
    seq_missing: int
    backlog_points: int = Field(description="points not yet in InfluxDB (durable buffer and memory)")
    telemetry_failing_for_s: float | None = Field(description="how long InfluxDB has failed; null: it works")
    telemetry_last_error: str | None
    store_errors: int | None
    store_backlog: int | None = Field(description="hazard store writes waiting after a store failure")


class HealthOut(Out):
    status: str = Field(description="ok, or degraded while the broker is gone or a store fails")
    now: datetime
    devices: int
    estates: int
    records_in: int
    rules: dict[str, Any] | None
    ingest: IngestOut | None = None
