"""Request and response bodies. Requests forbid unknown fields, so a typo is a 422, not a silent default."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from annotated_types import Ge, Le, MaxLen
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gateway.models import DeviceKind
from gateway.store.photos import PhotoStep
from rules.lifecycle import (
    AlarmAction,
    AlarmOutcome,
    AlarmState,
    FalseAlarmCause,
    HazardAction,
    HazardState,
    RecheckOutcome,
)

#: The largest whole number a path, a query or a body takes: the largest the UI's JavaScript holds exactly,
#: well inside the store's 64-bit integers (a larger one would fail in the database: a 500, not a 422).
MAX_INT = 2**53 - 1
#: The id of a stored row (a hazard, an alarm, a complaint, a party, ...) wherever a request names one.
RowId = Annotated[int, Ge(1), Le(MAX_INT)]

#: The longest free text a request body may carry in one field (a description, a reason, a note).
TEXT_MAX = 4000
#: Fields bounded by name in every request body, shorter than ``TEXT_MAX``: what the store's columns keep
#: (ids 64, names of people 128, of parties 256, codes 32), and lists by what a person means by one.
FIELD_MAX = {
    "estate_id": 64,
    "building_id": 64,
    "device_id": 64,
    "username": 64,
    "sha256": 64,
    "kind": 32,
    "channel": 32,
    "phone": 32,
    "serial": 32,
    "criterion": 8,
    "reporter": 128,
    "actor": 128,
    "by": 128,
    "declared_by": 128,
    "recorded_by": 128,
    "posted_by": 128,
    "contact": 128,
    "name": 256,
    "responsible": 256,
    "path": 256,
    "url": 2000,
    "complaint_ids": 100,
    "met": 50,
    "not_met": 50,
    "attachments": 20,
    "channels": 20,
    "estate_ids": 5000,
}


class In(BaseModel):
    """A request body: unknown fields are refused, and every text field is bounded (422 naming the field
    and its limit): by its own ``max_length``, else by ``FIELD_MAX`` for its name, else by ``TEXT_MAX``
    (list items too)."""

    model_config = ConfigDict(extra="forbid", str_max_length=TEXT_MAX)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        bounded = False
        for name, field in cls.model_fields.items():
            limit = FIELD_MAX.get(name)
            if limit is not None and not any(isinstance(m, MaxLen) for m in field.metadata):
                field.metadata.append(MaxLen(limit))
                bounded = True
        if bounded:
            cls.model_rebuild(force=True)


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
    text_en: str = Field(default="", description="the same in English (empty: as ``text``)")
    hazards: list[str] = Field(default_factory=list, description="ids of the hazards behind it")
    decisive: bool = Field(default=False, description="this reason decided the colour (listed first)")
    device: str = Field(default="", description="a device hazard's device")
    device_kind: DeviceKind | None = Field(default=None, description="that device's kind")
    signal: str = Field(default="", description="a device hazard's signal, e.g. hydrant_low_pressure")
    detail: str = Field(default="", description="the hazard's own description (without its date)")
    place: str = Field(default="", description="where it is: building, floor, room")


class ConditionOut(Out):
    code: str = Field(description="a green condition, e.g. G3")
    state: str = Field(description="holds / due (evidence expired) / missing / not_met / contradicted")
    evidence_kind: str = Field(description="assessment / patrol / drill / maintenance_report / duty_roster")
    record_id: int | None
    at: datetime | None
    by: str
    valid_until: datetime | None
    contradicted_by: list[str] = Field(description="the items that state its opposite, e.g. Y1")


class GradeOut(Out):
    grade: str = Field(
        description="green / yellow / red (or the policy's colours), not_assessed (未评定) or unknown"
    )
    level: int = Field(description="0 = least severe colour upwards; -1 unknown; -2 not assessed")
    label: Text
    meaning: Text
    reasons: list[ReasonOut]
    summary: str
    red_items: list[str]
    yellow_items: list[str]
    missing_green: list[str]
    open_hazards: int
    tolerated: list[str]
    tolerated_en: list[str] = Field(default_factory=list, description="the same in English")
    stale: bool = Field(description="every device of the estate is silent: the grade cannot be known")
    rule: str = Field(description="what decided, in the policy's words (its language)")
    rule_en: str = Field(default="", description="the same in English")
    decided_at: datetime
    last_heard: datetime | None
    policy: str = Field(description="the policy's id and version, e.g. municipal-3colour@2026.2")
    policy_name: Text | None = Field(default=None, description="the policy's name, zh and en: 判定依据")
    assessed_at: datetime | None = Field(
        default=None, description="the estate's latest assessment (排查登记)"
    )
    assessment_valid_until: datetime | None = None
    conditions: list[ConditionOut] = Field(default_factory=list, description="each green condition")
    coverage: float | None = Field(
        default=None, description="share of monitored devices without a monitoring fault (beside the grade)"
    )
    monitoring_faults: int = 0
    out_of_use: bool = False


class DeviceCounts(Out):
    total: int
    online: int = Field(description="heard from and not offline")
    offline: int = Field(description="silent past their report window (or reported offline)")
    failing: int = Field(description="devices with an active signal other than offline")
    not_heard: int = Field(default=0, description="registered, never heard from, not yet past their window")


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
    reason: str = Field(description="as recorded (the audit trail): a person's words, or the gateway's")
    data: dict[str, Any]
    text: Text | None = Field(
        default=None,
        description="the history line to show, in Chinese and English: the reason (the gateway's own "
        "sentences translated) and what was recorded with it (level, outcome, deadline, party, evidence)",
    )
    actor_text: Text | None = Field(default=None, description="who, in words: 系统 for the gateway")


class HazardOut(Out):
    id: int
    estate_id: str
    estate_name: str = Field(default="", description="the estate's name in the registry")
    criterion: str
    criterion_text: Text | None
    criteria: list[str]
    source: str = Field(description="device / manual / complaint")
    device_id: str | None
    signal: str | None
    state: HazardState
    location: str
    description: str
    description_text: Text | None = Field(
        default=None, description="a device hazard's description in Chinese and English (null: a person's)"
    )
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
    escalation_level: str | None = Field(
        default=None, description="where its last escalation went: street / district / brigade (policy)"
    )
    recheck_due: datetime | None
    recheck_announced_at: datetime | None = None
    party_id: int | None = Field(default=None, description="the party it was dispatched to (/api/parties)")
    reopened_from: int | None = Field(default=None, description="the hazard whose failed re-check opened it")


class HazardPhotoOut(Out):
    id: int | None = Field(description="null for the photo given when the hazard was filed")
    hazard_id: int
    step: PhotoStep = Field(description="before (found) / after (rectified) / recheck / other")
    photo: str = Field(description="uploads/<name>: GET /api/<photo>")
    added_by: str
    added_at: datetime
    note: str
    filed: bool = Field(description="the photo given when the hazard was filed (its first before-photo)")
    bytes: int | None
    format: str | None = Field(description="JPEG / PNG / WEBP, as read from the content")
    width: int | None
    height: int | None
    location_removed: bool = Field(description="the upload carried a GPS location, which was taken out")


class HazardDetail(HazardOut):
    history: list[TransitionOut]
    allowed_actions: list[HazardAction]
    photos: list[HazardPhotoOut] = Field(default_factory=list, description="oldest first (GET .../photos)")
    after_photo_missing: str | None = Field(
        default=None, description="why 'rectified' would now be refused for want of an after-photo, or null"
    )
    reopened_as: int | None = Field(default=None, description="the hazard its failed re-check opened")


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
    party_id: int | None = Field(
        default=None, description="dispatch: the party it goes to, one serving the hazard's estate"
    )
    responsible: str | None = Field(
        default=None,
        description="dispatch, old clients: accepted only as the exact name of one of the estate's parties",
    )
    evidence: str = ""
    outcome: RecheckOutcome | None = Field(
        default=None, description="recheck: passed, or failed (which opens a new hazard linked to this one)"
    )


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
    state: str = Field(default="counted", description="counted / voided / merged: only counted ones grade")
    merged_into: int | None = Field(default=None, description="the complaint a merged one counts as")


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
    estate_name: str = Field(default="", description="the estate's name in the registry")
    building_name: str = Field(default="", description="the building's name, e.g. 1号楼")
    device_kind: DeviceKind | None = Field(default=None, description="the alarming device's kind")
    property_company: str = Field(default="", description="the estate's property company")
    property_phone: str = Field(default="", description="its phone, when the party has one")
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
    window_id: int | None = Field(default=None, description="raised inside this maintenance window")
    test: bool = Field(default=False, description="inside a maintenance window: pre-marked as a test")
    cause: FalseAlarmCause | None = Field(
        default=None, description="why a false alarm went off (a fault: device_fault); null otherwise"
    )
    cause_text: str = Field(default="", description="what the cause 'other' was")
    fatal: bool | None = Field(default=None, description="closed as a real fire: was anyone killed")
    high_impact: bool | None = Field(default=None, description="closed as a real fire: 较大影响")


class AlarmScreenOut(Out):
    targets_s: dict[str, float] = Field(
        description="seconds from arrival: ack (acknowledge), on_scene, close (handled); seed 001: 1/3/5 min"
    )
    control_room_phone: str = Field(description="the control room's number ([notify] control_room_phone)")


class AlarmDetail(AlarmOut):
    history: list[TransitionOut]


class AlarmTransitionIn(In):
    action: AlarmAction
    actor: str | None = Field(default=None, min_length=1, description=SIGNED_IN_NAME)
    outcome: AlarmOutcome | None = None
    note: str = ""
    cause: FalseAlarmCause | None = Field(
        default=None,
        description="closing as false_alarm: required, one of cooking_smoke, steam, dust, insects, "
        "device_fault, test, other (fault: device_fault or nothing)",
    )
    cause_text: str = Field(default="", max_length=500, description="required with cause 'other'")
    confirm: bool = Field(default=False, description="closing as real_fire: must be true")
    fatal: bool | None = Field(default=None, description="closing as real_fire: required answer")
    high_impact: bool | None = Field(default=None, description="closing as real_fire: required answer")


class SignalOut(Out):
    signal: str
    since: datetime | None
    detail: str = Field(description="the rule's own words, for engineers (English)")
    value: float | None
    detail_text: Text | None = Field(
        default=None, description="what the signal found, as people read it (zh, en); null: its name says it"
    )


class DeviceOut(Out):
    id: str
    kind: DeviceKind
    estate_id: str
    building_id: str
    location: str
    floor: int | None
    wire_format: str
    online: bool | None = Field(
        description="null when the rule layer is disabled, or the device was never heard from and is not yet "
        "past its report window"
    )
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
    window_id: int | None = Field(default=None, description="in this maintenance window: filed no hazard")
    detail_text: Text | None = Field(
        default=None, description="what the signal found, as people read it (zh, en); null: its name says it"
    )


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
    signals: dict[str, dict[str, list[str]]] = Field(description="device kind -> signal -> criteria")
    monitoring: dict[str, list[str]] = Field(description="device kind -> signals that are monitoring faults")
    contradicts: dict[str, list[str]] = Field(description="item -> the green conditions it contradicts")
    conditions: dict[str, dict[str, Any]] = Field(
        description="green condition -> validity (s), evidence kinds, source (zh/en)"
    )
    assessment_valid_s: float
    max_window_s: float
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
