"""The vocabulary shared by the rule layer's parts.

Device rules (``rules/device_rules.py``) turn records and the clock into ``SignalChange``s: a named condition
of one device became active or resolved. The policy (``rules/policy.py``) says which grading criteria each
signal kind feeds (e.g. ``hydrant_low_pressure`` -> Y10, G4, G6); the grading (``rules/grading.py``) turns
open hazards and device health into an estate's colour with reasons. Everything here is pure data.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class SignalKind(StrEnum):
    """Conditions the device rules detect. Each one, when active, opens at most one hazard per device."""

    #: Nothing heard for longer than the device's reporting window plus a grace (cameras: no keep-alive).
    OFFLINE = "offline"
    DEVICE_FAULT = "device_fault"  # smoke detector fault event / GB/T status 3
    TAMPER = "tamper"  # detector removed from its base
    LOW_BATTERY = "low_battery"  # low battery left unfixed past its hold time
    COMM_FAULT = "comm_fault"  # Modbus unit not answering
    #: "Without pressure": below the measuring point's static minimum, below the commissioned baseline, or
    #: still down after a sudden drop (then urgent, with a shorter hold). One rule, one hazard per device.
    HYDRANT_LOW_PRESSURE = "hydrant_low_pressure"
    HYDRANT_HIGH_PRESSURE = "hydrant_high_pressure"  # static above 1.0 MPa (zoning), or flowing above 0.50
    #: Retired: a sudden drop is now the urgent start of HYDRANT_LOW_PRESSURE. Kept so that hazards and rule
    #: checkpoints written by older versions still parse; no device kind has this rule any more.
    HYDRANT_PRESSURE_DROP = "hydrant_pressure_drop"
    HYDRANT_SENSOR_FAULT = "hydrant_sensor_fault"
    HYDRANT_LEAK = "hydrant_leak"
    FIRE_LANE_OCCUPIED = "fire_lane_occupied"  # occupied past the hold time, or repeatedly in a day
    EVACUATION_BLOCKED = "evacuation_blocked"
    EBIKE_IN_LIFT = "ebike_in_lift"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SignalChange(Frozen):
    """A device condition became active (``active=True``) or resolved (``active=False``) at ``at``.

    ``at`` is when the rule decided (event time for value rules, the injected clock for timeouts);
    ``since`` is when the condition first held (before the hold time), so a hazard can say
    "0.02 MPa since 10:41". ``detail`` is a human sentence, ``value`` the measured value if any.
    """

    device_id: str
    estate_id: str
    signal: SignalKind
    active: bool
    at: datetime
    since: datetime
    detail: str = ""
    value: float | None = None
