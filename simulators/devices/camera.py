"""Simulated cameras with on-board detection (``camera_event``): fire lanes, stairwells, lifts.

An occurrence is a ``start`` and an ``end`` message with one ``event_id``; between them the camera sends a
keep-alive (``"type": "heartbeat"``) every ``heartbeat_s`` (``docs/wire-formats.md`` §6).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from gateway.models import Device
from simulators.devices.base import (
    COMMON_ACTIONS,
    DURATION,
    NUMBER,
    ActionError,
    DeviceSim,
    Message,
    ParamSpec,
)
from simulators.devices.encoding import cst_datetime, dumps

CAMERA_TYPES = ("fire_lane_occupied", "evacuation_blocked", "ebike_in_lift")
CAMERA_OBJECTS = ("vehicle", "debris", "ebike", "person", "other")
#: Seconds between keep-alives: what a bridge forwarding Hikvision (every 10-30 s) or Dahua keep-alives to
#: MQTT would send, well inside the gateway's camera window (5 min plus 5 min grace, rules/thresholds.py).
HEARTBEAT_S = 60.0


class CameraSim(DeviceSim):
    """A fire-lane / stairwell / lift camera with on-board detection (``camera_event``).

    An occurrence is a ``start`` and an ``end`` message with the same ``event_id``. The camera's detection
    type follows its location (电梯 -> e-bike in lift, 楼梯/疏散 -> evacuation route blocked, otherwise fire
    lane). Periodically (Poisson gaps, mean ``interval_s``; 0 turns them off) it sees something harmless: a
    car stopping for 15 s - 3 min, well under any sensible hold time, so dashboards show traffic without
    raising hazards.

    Its periodic report is a keep-alive every ``heartbeat_s`` (0 turns keep-alives off; then the periodic
    report is the background detection alone); a background detection falls due on the keep-alive that
    follows its Poisson time, and is left out while an occurrence is open. While ``offline`` it sends
    nothing, keep-alives included, so the gateway sees the camera go offline after its window.
    """

    KIND: ClassVar[str] = "camera"
    ACTIONS: ClassVar[dict[str, dict[str, ParamSpec]]] = {
        **COMMON_ACTIONS,
        "occupy": {
            "type": ((str,), False),
            "object": ((str,), False),
            "confidence": (NUMBER, False),
            "duration": DURATION,
        },
        "clear": {"event_id": ((str,), False)},
    }

    def __init__(
        self, device: Device, *, seed: int = 0, interval_s: float = 3600.0, heartbeat_s: float = HEARTBEAT_S
    ) -> None:
        super().__init__(device, seed=seed, interval_s=interval_s)
        self.heartbeat_s = heartbeat_s
        location = device.location
        if "电梯" in location:
            self.event_type = "ebike_in_lift"
        elif "楼梯" in location or "疏散" in location:
            self.event_type = "evacuation_blocked"
        else:
            self.event_type = "fire_lane_occupied"
        self.counter = self.rng.randrange(0, 500)
        self.open: dict[str, dict[str, Any]] = {}
        #: Seconds of keep-alives left before the next background detection.
        self._detection_in_s = self._detection_gap() if heartbeat_s > 0 else math.inf

    @property
    def format_label(self) -> str:
        return self.device.wire_format or "camera_event"

    def next_interval_s(self) -> float:
        if self.heartbeat_s > 0:
            return self.heartbeat_s
        return self._detection_gap()

    def _detection_gap(self) -> float:
        if self.interval_s <= 0:
            return math.inf
        return self.rng.expovariate(1.0 / self.interval_s)

    def default_object(self, event_type: str) -> str:
        if event_type == "ebike_in_lift":
            return "ebike"
        if event_type == "evacuation_blocked":
            return "debris"
        return "vehicle" if self.rng.random() < 0.85 else "debris"

    def start(
        self,
        ts_ms: int,
        event_type: str | None = None,
        obj: str | None = None,
        confidence: float | None = None,
    ) -> tuple[str, list[Message]]:
        """Open an occurrence; returns its event id and the ``start`` message (none while offline)."""
        etype = event_type or self.event_type
        day = cst_datetime(ts_ms)[:10].replace("-", "")
        self.counter = (self.counter + 1) % 1_000_000
        event_id = f"e-{day}-{self.counter:06d}"
        fields = {
            "type": etype,
            "object": obj or self.default_object(etype),
            "confidence": round(confidence if confidence is not None else self.rng.uniform(0.80, 0.99), 2),
            "snapshot": f"snap/{self.device.id}/{event_id}.jpg",
        }
        self.open[event_id] = fields
        return event_id, self._message(ts_ms, event_id, "start", fields)

    def end(self, ts_ms: int, event_id: str) -> list[Message]:
        fields = self.open.pop(event_id, None)
        if fields is None:
            return []
        return self._message(ts_ms, event_id, "end", fields)

    def _message(self, ts_ms: int, event_id: str, state: str, fields: Mapping[str, Any]) -> list[Message]:
        if not self.online:
            return []
        payload = {
            "id": self.device.id,
            "ts": ts_ms,
            "event_id": event_id,
            "type": fields["type"],
            "state": state,
            "object": fields["object"],
            "confidence": fields["confidence"],
            "snapshot": fields["snapshot"],
        }
        return [Message(f"fire/camera/{self.device.id}/event", dumps(payload))]

    def heartbeat(self, ts_ms: int) -> list[Message]:
        """The keep-alive (none while offline)."""
        if not self.online:
            return []
        payload = {"id": self.device.id, "ts": ts_ms, "type": "heartbeat"}
        return [Message(f"fire/camera/{self.device.id}/event", dumps(payload))]

    def report(self, ts_ms: int) -> list[Message]:
        """A keep-alive, and a harmless short detection when one is due."""
        if not self.online:
            return []
        if self.heartbeat_s <= 0:
            return self._background(ts_ms)
        out = self.heartbeat(ts_ms)
        self._detection_in_s -= self.heartbeat_s
        if self._detection_in_s <= 0:
            self._detection_in_s = self._detection_gap()
            # A lane already seen occupied (a scenario's incident) is one occurrence: a car stopping in it
            # meanwhile is not reported as another, which would end before the incident does.
            if not self.open:
                out += self._background(ts_ms)
        return out

    def _background(self, ts_ms: int) -> list[Message]:
        event_id, out = self.start(ts_ms)
        self._later(self.rng.uniform(15.0, 180.0), "clear", {"event_id": event_id})
        return out

    def _act_occupy(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        etype = p.get("type")
        if etype is not None and etype not in CAMERA_TYPES:
            raise ActionError(f"camera {self.device.id}: type {etype!r} is not one of {CAMERA_TYPES}", "type")
        obj = p.get("object")
        if obj is not None and obj not in CAMERA_OBJECTS:
            raise ActionError(
                f"camera {self.device.id}: object {obj!r} is not one of {CAMERA_OBJECTS}", "object"
            )
        conf = p.get("confidence")
        if conf is not None and not 0.0 <= float(conf) <= 1.0:
            raise ActionError(f"camera {self.device.id}: confidence must be 0..1, got {conf}", "confidence")
        event_id, out = self.start(ts_ms, etype, obj, None if conf is None else float(conf))
        self._later(d, "clear", {"event_id": event_id})
        return out

    def _act_clear(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        ids = [p["event_id"]] if "event_id" in p else list(self.open)
        out: list[Message] = []
        for event_id in ids:
            out += self.end(ts_ms, event_id)
        return out
