"""What every simulated device is, and how it is driven.

A simulator is driven by two calls, both given the simulated time in epoch milliseconds:

* ``report(ts_ms)`` – the periodic message (smoke heartbeat, hydrant reading, Modbus register refresh,
  a camera's background detections); the runner calls it every ``next_interval_s()`` seconds.
* ``act(action, ts_ms, params)`` – an incident from a scenario (alarm, pressure drop, offline, ...).

Both return ``Message(topic, payload)`` pairs (empty for a device that is offline or Modbus-attached).
Actions that end by themselves (``duration = "20m"``) leave a ``FollowUp`` that the runner schedules.
This module holds that contract and the checking of action parameters, which the scenario loader uses too;
each device family (``smoke``, ``hydrant``, ``camera``) fills it in.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

from gateway.models import Device
from simulators.clock import parse_duration

#: Below this battery % a detector raises ``low_battery`` by itself and a hydrant sets status bit 3.
LOW_BATTERY_PCT = 20


class Message(NamedTuple):
    """One MQTT publication: topic and payload bytes."""

    topic: str
    payload: bytes


class FollowUp(NamedTuple):
    """An action the device asked to have applied later (end of an incident with a ``duration``)."""

    delay_s: float
    action: str
    params: dict[str, Any]


class ActionError(ValueError):
    """An action a device cannot perform, or bad parameters for it; ``param`` names the culprit if one."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


# ---------------------------------------------------------------------------------------------- params

#: A parameter spec: accepted Python types and whether it is required.
ParamSpec = tuple[tuple[type, ...], bool]
NUMBER: tuple[type, ...] = (int, float)
DURATION: ParamSpec = ((str, int, float), False)


def check_params(kind: str, action: str, specs: Mapping[str, ParamSpec], params: Mapping[str, Any]) -> None:
    """Raise ``ActionError`` naming the first bad parameter (unknown, missing, wrong type)."""
    for name in params:
        if name not in specs:
            allowed = ", ".join(sorted(specs)) or "none"
            raise ActionError(
                f"{kind} action {action!r} takes no parameter {name!r} (allowed: {allowed})", name
            )
    for name, (types, required) in specs.items():
        if name not in params:
            if required:
                raise ActionError(f"{kind} action {action!r} needs {name!r}", name)
            continue
        value = params[name]
        if isinstance(value, bool) and bool not in types:
            raise ActionError(
                f"{kind} action {action!r}: {name!r} must be {_type_names(types)}, got {value!r}", name
            )
        if not isinstance(value, types):
            raise ActionError(
                f"{kind} action {action!r}: {name!r} must be {_type_names(types)}, got {value!r}", name
            )
        if name == "duration" and isinstance(value, str | int | float):
            try:
                parse_duration(value)
            except ValueError as exc:
                raise ActionError(f"{kind} action {action!r}: duration: {exc}", name) from None


def _type_names(types: tuple[type, ...]) -> str:
    names = {int: "a number", float: "a number", str: "a string", bool: "true/false"}
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in types))


# ---------------------------------------------------------------------------------------------- the device


class DeviceSim:
    """State common to all simulated devices: identity, per-device random stream, seq, online flag."""

    #: action -> parameter specs; filled per subclass. ``offline``/``online`` are common to all.
    ACTIONS: ClassVar[dict[str, dict[str, ParamSpec]]] = {}
    KIND: ClassVar[str] = "device"

    def __init__(self, device: Device, *, seed: int = 0, interval_s: float = 3600.0) -> None:
        self.device = device
        # One random stream per device, seeded by (seed, id): a device behaves the same whatever else is in
        # the fleet, so adding a device to a scenario does not change every other device's numbers.
        self.rng = random.Random(f"{seed}:{device.id}")
        self.interval_s = interval_s
        self.seq = self.rng.randrange(0, 1000)
        self.online = True
        self._followups: list[FollowUp] = []

    @property
    def format_label(self) -> str:
        """The wire format this device speaks (used for per-format counters)."""
        return self.device.wire_format

    def next_seq(self) -> int:
        value = self.seq
        self.seq = (self.seq + 1) % 2**32  # the spec's counter wraps at 2^32
        return value

    def next_interval_s(self) -> float:
        """Seconds until the next periodic report (fixed by default; cameras draw Poisson gaps)."""
        return self.interval_s

    def report(self, ts_ms: int) -> list[Message]:
        """The periodic message(s) at ``ts_ms``; nothing while offline."""
        raise NotImplementedError

    def act(self, action: str, ts_ms: int, params: Mapping[str, Any] | None = None) -> list[Message]:
        """Apply a scenario action; returns what the device sends because of it."""
        params = dict(params or {})
        specs = self.ACTIONS.get(action)
        if specs is None:
            allowed = ", ".join(sorted(self.ACTIONS))
            raise ActionError(f"{self.KIND} {self.device.id} has no action {action!r} (allowed: {allowed})")
        check_params(self.KIND, action, specs, params)
        duration = params.pop("duration", None)
        handler = getattr(self, "_act_" + action)
        messages: list[Message] = handler(
            ts_ms, params, None if duration is None else parse_duration(duration)
        )
        return messages

    def take_followups(self) -> list[FollowUp]:
        """Actions to run later, handed to the runner once."""
        out, self._followups = self._followups, []
        return out

    def _later(self, duration_s: float | None, action: str, params: dict[str, Any] | None = None) -> None:
        if duration_s is not None:
            self._followups.append(FollowUp(duration_s, action, params or {}))

    def _act_offline(self, ts_ms: int, params: dict[str, Any], duration: float | None) -> list[Message]:
        self.online = False
        self._later(duration, "online")
        return []

    def _act_online(self, ts_ms: int, params: dict[str, Any], duration: float | None) -> list[Message]:
        was_offline = not self.online
        self.online = True
        self._later(duration, "offline")
        # A device coming back re-registers and reports at once; that first message is what tells the
        # gateway it is alive again.
        return self.report(ts_ms) if was_offline else []


#: ``offline`` / ``online``: every device family has them.
COMMON_ACTIONS: dict[str, dict[str, ParamSpec]] = {
    "offline": {"duration": DURATION},
    "online": {"duration": DURATION},
}
