"""Simulated devices: state plus the messages a real device of that kind would send.

Every encoder here is written from ``docs/wire-formats.md`` on purpose and imports nothing from
``collectors/``: if the decoders and the simulators shared code, a decoding bug would be reproduced on both
sides and no test would see it. Golden-file tests pin both sides to the same documented bytes.

A simulator is driven by two calls, both given the simulated time in epoch milliseconds:

* ``report(ts_ms)`` – the periodic message (smoke heartbeat, hydrant reading, Modbus register refresh,
  a camera's background detections); the runner calls it every ``next_interval_s()`` seconds.
* ``act(action, ts_ms, params)`` – an incident from a scenario (alarm, pressure drop, offline, ...).

Both return ``Message(topic, payload)`` pairs (empty for a device that is offline or Modbus-attached).
Actions that end by themselves (``duration = "20m"``) leave a ``FollowUp`` that the runner schedules.
Payloads are compact UTF-8 JSON (``separators=(",", ":")``, ``ensure_ascii=False``), keys in the order the
spec shows them.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar, NamedTuple, Protocol

from gateway.models import Device, DeviceKind
from simulators.clock import parse_duration

#: GB/T 45839 ``datetime`` strings are China Standard Time (UTC+8), no daylight saving.
CST = timezone(timedelta(hours=8), "CST")

#: Below this battery % a detector raises ``low_battery`` by itself and a hydrant sets status bit 3.
LOW_BATTERY_PCT = 20

# Hydrant status register bits (docs/wire-formats.md §5): the DTU JSON ``status`` uses the same bits.
BIT_SENSOR_FAULT = 1 << 0
BIT_LEAK = 1 << 1
BIT_COVER_OPEN = 1 << 2
BIT_LOW_BATTERY = 1 << 3

SMOKE_FORMATS = ("smoke_json", "gbt45839_status", "ctwing")
SMOKE_EVENTS = (
    "heartbeat",
    "alarm",
    "alarm_clear",
    "fault",
    "fault_clear",
    "low_battery",
    "tamper",
    "tamper_clear",
    "self_test",
    "mute",
)
#: CTWing generic vendor table (docs/wire-formats.md §3): event -> ``alarm_code``.
CTWING_ALARM_CODES = {event: code for code, event in enumerate(SMOKE_EVENTS)}
CTWING_TENANT_ID = "2000012345"
CAMERA_TYPES = ("fire_lane_occupied", "evacuation_blocked", "ebike_in_lift")
CAMERA_OBJECTS = ("vehicle", "debris", "ebike", "person", "other")


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


def dumps(obj: Mapping[str, Any]) -> bytes:
    """Compact JSON as the devices send it (Chinese text stays UTF-8, not ``\\uXXXX``)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def cst_datetime(ts_ms: int) -> str:
    """``YYYY-MM-DD hh:mm:ss`` in China Standard Time, as GB/T 45839 appendix D writes it."""
    moment = datetime.fromtimestamp(ts_ms // 1000, tz=UTC).astimezone(CST)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class ReportIntervals:
    """How often each kind of device reports, in simulated seconds.

    Defaults are what real devices do: a smoke detector heartbeat once a day (GB/T 45839-2025 requires a
    signal-quality report at least every 24 h), hydrant DTUs every 5 minutes, Modbus registers refreshed
    every minute (the gateway polls at ``poll_interval_s``), and a camera's harmless background detections
    (a car stopping briefly on the fire lane) about once an hour. ``camera_event_s = 0`` disables those.
    """

    smoke_heartbeat_s: float = 86_400.0
    hydrant_report_s: float = 300.0
    modbus_update_s: float = 60.0
    camera_event_s: float = 3_600.0


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


def _stable_int(text: str, digits: int) -> int:
    """A number derived from ``text`` that is the same on every run and machine (unlike ``hash()``)."""
    digest = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    return digest % int(10**digits)


# ---------------------------------------------------------------------------------------------- base


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


_COMMON_ACTIONS: dict[str, dict[str, ParamSpec]] = {
    "offline": {"duration": DURATION},
    "online": {"duration": DURATION},
}


# ---------------------------------------------------------------------------------------------- smoke


class SmokeDetectorSim(DeviceSim):
    """An NB-IoT independent smoke detector speaking ``smoke_json``, ``gbt45839_status`` or ``ctwing``.

    State: battery (drains ~0.02-0.05 %/day, i.e. a 5-10 year battery), signal (RSRP around a per-device
    base with jitter), alarm / fault / tamper / shielded flags. The GB/T 45839 format can only say the
    resulting state (1 normal, 2 alarm, 3 fault, 4 shielded), so events map to the state they leave:
    ``alarm`` -> 2; ``fault``, ``tamper``, ``low_battery`` -> 3; a clear -> whatever remains (1 if healthy).
    CTWing carries the generic vendor table's ``alarm_code``; heartbeats use either the ``heartbeat``
    service or ``smoke_alarm`` code 0 (chosen per device, both exist in the field).
    """

    KIND: ClassVar[str] = "smoke"
    ACTIONS: ClassVar[dict[str, dict[str, ParamSpec]]] = {
        **_COMMON_ACTIONS,
        "heartbeat": {},
        "alarm": {"smoke": (NUMBER, False), "duration": DURATION},
        "alarm_clear": {},
        "fault": {"code": ((str,), False), "duration": DURATION},
        "fault_clear": {"code": ((str,), False)},
        "low_battery": {"value": (NUMBER, False)},
        "tamper": {"duration": DURATION},
        "tamper_clear": {},
        "self_test": {},
        "mute": {},
        "battery": {"value": (NUMBER, True)},
        "rsrp": {"value": (NUMBER, True)},
        "shield": {"value": ((bool,), False), "duration": DURATION},
        "offline": {"duration": DURATION, "announce": ((bool,), False)},
        "online": {"duration": DURATION, "announce": ((bool,), False)},
    }

    def __init__(self, device: Device, *, seed: int = 0, interval_s: float = 86_400.0) -> None:
        super().__init__(device, seed=seed, interval_s=interval_s)
        fmt = device.wire_format or "smoke_json"
        if fmt not in SMOKE_FORMATS:
            raise ValueError(f"smoke detector {device.id}: unknown wire_format {fmt!r} (use {SMOKE_FORMATS})")
        if fmt == "ctwing" and not device.imei:
            raise ValueError(f"smoke detector {device.id}: wire_format 'ctwing' needs an imei")
        self.wire_format = fmt
        rng = self.rng
        self.battery = rng.uniform(55.0, 100.0)
        self.drain_pct_per_day = rng.uniform(0.02, 0.05)
        self.rsrp_base = rng.randint(-118, -75)
        self.alarm = False
        self.fault = False
        self.fault_code = ""
        self.tamper = False
        self.shielded = False
        self.low_battery_sent = False
        self._last_ms: int | None = None
        self.company = device.vendor or "SIM"
        self.ctwing_product_id = f"150{_stable_int(device.vendor or 'generic', 5):05d}"
        self.ctwing_device_id = hashlib.md5(
            (device.imei or device.id).encode(), usedforsecurity=False
        ).hexdigest()
        self.ctwing_heartbeat_as_code0 = rng.random() < 0.5

    @property
    def format_label(self) -> str:
        return self.wire_format

    # -- state -------------------------------------------------------------------------------------

    def _age(self, ts_ms: int) -> None:
        """Drain the battery for the time since the last message."""
        if self._last_ms is not None and ts_ms > self._last_ms:
            days = (ts_ms - self._last_ms) / 86_400_000
            self.battery = max(0.0, self.battery - self.drain_pct_per_day * days)
        self._last_ms = ts_ms if self._last_ms is None else max(self._last_ms, ts_ms)

    def battery_pct(self) -> int:
        return max(0, min(100, math.floor(self.battery)))

    def rsrp(self) -> int:
        return max(-140, min(-44, round(self.rsrp_base + self.rng.gauss(0.0, 3.0))))

    def gbt_status(self, event: str) -> int:
        if event == "alarm" or self.alarm:
            return 2
        if event in ("fault", "tamper", "low_battery"):
            return 3
        if self.fault or self.tamper or self.battery_pct() < LOW_BATTERY_PCT:
            return 3
        if self.shielded:
            return 4
        return 1

    # -- periodic ----------------------------------------------------------------------------------

    def report(self, ts_ms: int) -> list[Message]:
        if not self.online:
            return []
        out = [self.encode("heartbeat", ts_ms)]
        if self.battery_pct() < LOW_BATTERY_PCT and not self.low_battery_sent:
            # Real detectors chirp and report low battery on their own once it crosses the threshold.
            self.low_battery_sent = True
            out.append(self.encode("low_battery", ts_ms))
        return out

    # -- encoding ----------------------------------------------------------------------------------

    def encode(self, event: str, ts_ms: int, extra: Mapping[str, Any] | None = None) -> Message:
        """The message for ``event`` at ``ts_ms`` in this device's wire format (advances seq and battery)."""
        self._age(ts_ms)
        seq = self.next_seq()
        battery = self.battery_pct()
        rsrp = self.rsrp()
        if self.wire_format == "gbt45839_status":
            return self._gbt(event, ts_ms, battery, rsrp)
        if self.wire_format == "ctwing":
            return self._ctwing(event, ts_ms, battery, rsrp)
        payload: dict[str, Any] = {
            "id": self.device.id,
            "seq": seq,
            "ts": ts_ms,
            "event": event,
            "battery": battery,
            "rsrp": rsrp,
        }
        if extra:
            payload.update(extra)
        return Message(f"fire/smoke/{self.device.id}/up", dumps(payload))

    def _gbt(self, event: str, ts_ms: int, battery: int, rsrp: int) -> Message:
        payload = {
            "company": self.company,
            "serial": self.device.imei or self.device.id,
            "status": self.gbt_status(event),
            "signalStrength": rsrp,
            "batteryPercentage": battery,
            "datetime": cst_datetime(ts_ms),
        }
        return Message(f"fire/gbt45839/{self.company}/status", dumps(payload))

    def _ctwing_head(self, message_type: str, ts_ms: int) -> dict[str, Any]:
        return {
            "messageType": message_type,
            "IMEI": self.device.imei,
            "deviceId": self.ctwing_device_id,
            "productId": self.ctwing_product_id,
            "tenantId": CTWING_TENANT_ID,
            "timestamp": ts_ms,
            "protocol": "lwm2m",
        }

    def _ctwing(self, event: str, ts_ms: int, battery: int, rsrp: int) -> Message:
        if event == "heartbeat" and not self.ctwing_heartbeat_as_code0:
            head = self._ctwing_head("dataReport", ts_ms)
            service: dict[str, Any] = {
                "serviceId": "heartbeat",
                "serviceData": {"battery": battery, "rsrp": rsrp},
            }
        else:
            head = self._ctwing_head("dataReport" if event == "heartbeat" else "eventReport", ts_ms)
            data = {"alarm_code": CTWING_ALARM_CODES[event], "battery": battery, "rsrp": rsrp}
            service = {"serviceId": "smoke_alarm", "serviceData": data}
        head["payload"] = service
        return Message(f"ctwing/{self.ctwing_product_id}/push", dumps(head))

    def _ctwing_online_report(self, ts_ms: int, online: bool) -> Message:
        head = self._ctwing_head("deviceOnlineOfflineReport", ts_ms)
        head["eventType"] = 1 if online else 0
        return Message(f"ctwing/{self.ctwing_product_id}/push", dumps(head))

    def _send(self, event: str, ts_ms: int, extra: Mapping[str, Any] | None = None) -> list[Message]:
        return [self.encode(event, ts_ms, extra)] if self.online else []

    # -- actions -----------------------------------------------------------------------------------

    def _act_heartbeat(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        return self._send("heartbeat", ts_ms)

    def _act_alarm(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self.alarm = True
        self._later(d, "alarm_clear")
        smoke = p.get("smoke", round(self.rng.uniform(0.15, 0.6), 2))
        return self._send("alarm", ts_ms, {"smoke": smoke})

    def _act_alarm_clear(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self.alarm = False
        return self._send("alarm_clear", ts_ms)

    def _act_fault(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self.fault = True
        self.fault_code = str(p.get("code", "E03"))  # E03: smoke chamber contaminated, a common vendor code
        self._later(d, "fault_clear", {"code": self.fault_code})
        return self._send("fault", ts_ms, {"fault_code": self.fault_code})

    def _act_fault_clear(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self.fault = False
        code = str(p.get("code", self.fault_code or "E03"))
        return self._send("fault_clear", ts_ms, {"fault_code": code})

    def _act_low_battery(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self._age(ts_ms)
        self.battery = float(p.get("value", min(self.battery, LOW_BATTERY_PCT - 5)))
        self.low_battery_sent = True
        return self._send("low_battery", ts_ms)

    def _act_tamper(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self.tamper = True
        self._later(d, "tamper_clear")
        return self._send("tamper", ts_ms)

    def _act_tamper_clear(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self.tamper = False
        return self._send("tamper_clear", ts_ms)

    def _act_self_test(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        return self._send("self_test", ts_ms)

    def _act_mute(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        return self._send("mute", ts_ms)

    def _act_battery(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self._age(ts_ms)
        self.battery = max(0.0, min(100.0, float(p["value"])))
        self.low_battery_sent = self.battery < LOW_BATTERY_PCT  # a fresh battery may go low again later
        return []

    def _act_rsrp(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self.rsrp_base = int(p["value"])
        return []

    def _act_shield(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self.shielded = bool(p.get("value", True))
        self._later(d, "shield", {"value": not self.shielded})
        # Only GB/T 45839 can say "shielded" (status 4); the other formats have no such message.
        return self._send("heartbeat", ts_ms) if self.wire_format == "gbt45839_status" else []

    def _act_offline(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        out = []
        if p.get("announce") and self.wire_format == "ctwing" and self.online:
            # CTWing reports loss of a device itself (after its lifetime expires) when asked to.
            out.append(self._ctwing_online_report(ts_ms, online=False))
        return out + super()._act_offline(ts_ms, p, d)

    def _act_online(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        out = []
        if p.get("announce") and self.wire_format == "ctwing" and not self.online:
            out.append(self._ctwing_online_report(ts_ms, online=True))
        return out + super()._act_online(ts_ms, p, d)


# ---------------------------------------------------------------------------------------------- hydrant


class _HydrantState(DeviceSim):
    """Pressure around a setpoint with sensor noise, battery, temperature and the status bits."""

    KIND: ClassVar[str] = "hydrant"
    _BITS: ClassVar[dict[str, int]] = {
        "sensor_fault": BIT_SENSOR_FAULT,
        "leak": BIT_LEAK,
        "cover_open": BIT_COVER_OPEN,
    }
    ACTIONS: ClassVar[dict[str, dict[str, ParamSpec]]] = {
        **_COMMON_ACTIONS,
        "pressure": {"value": (NUMBER, True), "duration": DURATION},
        "battery": {"value": (NUMBER, True)},
        "temperature": {"value": (NUMBER, True)},
        "status": {"value": ((int,), True), "duration": DURATION},
        "sensor_fault": {"value": ((bool,), False), "duration": DURATION},
        "leak": {"value": ((bool,), False), "duration": DURATION},
        "cover_open": {"value": ((bool,), False), "duration": DURATION},
        "report": {},
    }

    def __init__(self, device: Device, *, seed: int = 0, interval_s: float = 300.0) -> None:
        super().__init__(device, seed=seed, interval_s=interval_s)
        rng = self.rng
        outdoor = "室外" in device.location
        # Indoor high-rise hydrants sit well above the 0.07 MPa static minimum (GB 50974-2014 §5.2.2) and
        # near the 0.35 MPa outlet pressure (§7.4.12); outdoor ones hang on the municipal mains (>= 0.14 MPa,
        # GB 55036-2022 §3.0.3).
        self.setpoint = round(rng.uniform(0.22, 0.35) if outdoor else rng.uniform(0.30, 0.42), 3)
        self.battery = rng.uniform(70.0, 100.0)
        self.drain_pct_per_day = rng.uniform(0.01, 0.03)
        self.temperature = round(rng.uniform(8.0, 24.0), 1)
        self.status_bits = 0
        self._last_ms: int | None = None

    def _age(self, ts_ms: int) -> None:
        if self._last_ms is not None and ts_ms > self._last_ms:
            self.battery = max(
                0.0, self.battery - self.drain_pct_per_day * (ts_ms - self._last_ms) / 86_400_000
            )
        self._last_ms = ts_ms if self._last_ms is None else max(self._last_ms, ts_ms)

    def sample(self, ts_ms: int) -> tuple[float, int, int, float]:
        """(pressure MPa, battery %, status bits, temperature °C) as the sensor would read them now."""
        self._age(ts_ms)
        # Noise grows a little with pressure (pump ripple); a dry pipe still reads a few kPa of noise.
        noise = self.rng.gauss(0.0, 0.002 + 0.01 * self.setpoint)
        pressure = round(max(-0.1, min(4.0, self.setpoint + noise)), 3)
        battery = max(0, min(100, math.floor(self.battery)))
        status = self.status_bits | (BIT_LOW_BATTERY if battery < LOW_BATTERY_PCT else 0)
        temperature = round(max(-40.0, min(85.0, self.temperature + self.rng.gauss(0.0, 0.2))), 1)
        return pressure, battery, status, temperature

    def changed(self, ts_ms: int) -> list[Message]:
        """Called after a state change: a DTU reports on change, a Modbus unit refreshes its registers."""
        return self.report(ts_ms)

    def _act_pressure(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self._later(d, "pressure", {"value": self.setpoint})
        self.setpoint = float(p["value"])
        return self.changed(ts_ms)

    def _act_battery(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self._age(ts_ms)
        self.battery = max(0.0, min(100.0, float(p["value"])))
        return self.changed(ts_ms)

    def _act_temperature(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self.temperature = float(p["value"])
        return self.changed(ts_ms)

    def _act_status(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        value = int(p["value"])
        if not 0 <= value <= 0xFFFF:
            raise ActionError(
                f"hydrant {self.device.id}: status {value} is not a 16-bit register value", "value"
            )
        self._later(d, "status", {"value": self.status_bits})
        self.status_bits = value & ~BIT_LOW_BATTERY  # bit 3 follows the battery
        return self.changed(ts_ms)

    def _set_bit(self, name: str, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        on = bool(p.get("value", True))
        bit = self._BITS[name]
        self.status_bits = (self.status_bits | bit) if on else (self.status_bits & ~bit)
        self._later(d, name, {"value": not on})
        return self.changed(ts_ms)

    def _act_sensor_fault(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        return self._set_bit("sensor_fault", ts_ms, p, d)

    def _act_leak(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        return self._set_bit("leak", ts_ms, p, d)

    def _act_cover_open(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        return self._set_bit("cover_open", ts_ms, p, d)

    def _act_report(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        return self.report(ts_ms)


class HydrantDtuSim(_HydrantState):
    """A hydrant pressure sensor behind a 4G/NB DTU publishing ``hydrant_json`` every ``interval_s``.

    Value changes from a scenario (``pressure``, ``leak``, ...) are reported at once, as DTUs configured
    for change-triggered upload do; the periodic report continues on its own schedule.
    """

    def report(self, ts_ms: int) -> list[Message]:
        if not self.online:
            return []
        pressure, battery, status, temperature = self.sample(ts_ms)
        payload = {
            "id": self.device.id,
            "seq": self.next_seq(),
            "ts": ts_ms,
            "pressure": pressure,
            "battery": battery,
            "temperature": temperature,
            "status": status,
        }
        return [Message(f"fire/hydrant/{self.device.id}/up", dumps(payload))]

    @property
    def format_label(self) -> str:
        return self.device.wire_format or "hydrant_json"


class ModbusUnits(Protocol):
    """The part of ``simulators.modbus_server.HydrantModbusSimulator`` a Modbus hydrant drives."""

    def add_unit(
        self,
        unit: int,
        pressure_mpa: float = ...,
        battery_pct: int = ...,
        status: int = ...,
        temperature_c: float = ...,
    ) -> object: ...

    def set_unit(self, unit: int, /, **values: Any) -> object: ...

    def set_unit_silent(self, unit: int, silent: bool, /) -> object: ...

    def set_unit_exception(self, unit: int, code: int | None, /) -> object: ...


class HydrantModbusSim(_HydrantState):
    """A hydrant sensor on RS-485 behind a Modbus TCP gateway: it sends nothing, it is polled.

    Each ``report`` refreshes the unit's registers on the ``HydrantModbusSimulator`` with a fresh noisy
    sample, so the gateway's poller sees live values. ``offline``/``silent`` make the unit stop answering
    (a timeout at the poller), ``exception`` makes it answer with a Modbus exception code.
    """

    ACTIONS: ClassVar[dict[str, dict[str, ParamSpec]]] = {
        **_HydrantState.ACTIONS,
        "silent": {"value": ((bool,), False), "duration": DURATION},
        "exception": {"code": ((int,), True), "duration": DURATION},
        "exception_clear": {},
    }

    def __init__(
        self, device: Device, server: ModbusUnits | None, *, seed: int = 0, interval_s: float = 60.0
    ) -> None:
        super().__init__(device, seed=seed, interval_s=interval_s)
        if device.modbus is None:
            raise ValueError(f"hydrant {device.id}: a Modbus hydrant needs a modbus address in the registry")
        self.unit = device.modbus.unit
        self.server = server
        self.updates = 0
        self.exception_code: int | None = None

    @property
    def format_label(self) -> str:
        return "modbus"

    def attach(self, server: ModbusUnits) -> None:
        """Create the unit on the simulator with the sensor's current values."""
        self.server = server
        pressure, battery, status, temperature = self.sample(self._last_ms or 0)
        _ignore_result(
            server.add_unit(
                self.unit,
                pressure_mpa=pressure,
                battery_pct=battery,
                status=status,
                temperature_c=temperature,
            )
        )

    def report(self, ts_ms: int) -> list[Message]:
        pressure, battery, status, temperature = self.sample(ts_ms)
        if self.server is not None:
            # The registers keep the sensor's values even while the unit is silent (a dead line, not a dead
            # sensor); they become visible again when it answers.
            _ignore_result(
                self.server.set_unit(
                    self.unit,
                    pressure_mpa=pressure,
                    battery_pct=battery,
                    status=status,
                    temperature_c=temperature,
                )
            )
            self.updates += 1
        return []

    def _set_silent(self, silent: bool) -> None:
        self.online = not silent
        if self.server is not None:
            _ignore_result(self.server.set_unit_silent(self.unit, silent))

    def _act_offline(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self._set_silent(True)
        self._later(d, "online")
        return []

    def _act_online(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self._set_silent(False)
        self._later(d, "offline")
        return self.report(ts_ms)

    def _act_silent(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        silent = bool(p.get("value", True))
        self._set_silent(silent)
        self._later(d, "silent", {"value": not silent})
        return []

    def _act_exception(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        code = int(p["code"])
        if not 1 <= code <= 255:
            raise ActionError(
                f"hydrant {self.device.id}: Modbus exception code must be 1..255, got {code}", "code"
            )
        self.exception_code = code
        if self.server is not None:
            _ignore_result(self.server.set_unit_exception(self.unit, code))
        self._later(d, "exception_clear")
        return []

    def _act_exception_clear(self, ts_ms: int, p: dict[str, Any], d: float | None) -> list[Message]:
        self.exception_code = None
        if self.server is not None:
            _ignore_result(self.server.set_unit_exception(self.unit, None))
        return []


def _ignore_result(result: object) -> None:
    """The Modbus simulator's setters are plain calls; close a coroutine if one is returned by mistake."""
    if inspect.iscoroutine(result):
        result.close()
        raise TypeError("HydrantModbusSimulator setters are expected to be synchronous")


# ---------------------------------------------------------------------------------------------- camera


class CameraSim(DeviceSim):
    """A fire-lane / stairwell / lift camera with on-board detection (``camera_event``).

    An occurrence is a ``start`` and an ``end`` message with the same ``event_id``. The camera's detection
    type follows its location (电梯 -> e-bike in lift, 楼梯/疏散 -> evacuation route blocked, otherwise fire
    lane). Periodically (Poisson gaps, mean ``interval_s``) it sees something harmless: a car stopping for
    15 s - 3 min, well under any sensible hold time, so dashboards show traffic without raising hazards.
    """

    KIND: ClassVar[str] = "camera"
    ACTIONS: ClassVar[dict[str, dict[str, ParamSpec]]] = {
        **_COMMON_ACTIONS,
        "occupy": {
            "type": ((str,), False),
            "object": ((str,), False),
            "confidence": (NUMBER, False),
            "duration": DURATION,
        },
        "clear": {"event_id": ((str,), False)},
    }

    def __init__(self, device: Device, *, seed: int = 0, interval_s: float = 3600.0) -> None:
        super().__init__(device, seed=seed, interval_s=interval_s)
        location = device.location
        if "电梯" in location:
            self.event_type = "ebike_in_lift"
        elif "楼梯" in location or "疏散" in location:
            self.event_type = "evacuation_blocked"
        else:
            self.event_type = "fire_lane_occupied"
        self.counter = self.rng.randrange(0, 500)
        self.open: dict[str, dict[str, Any]] = {}

    @property
    def format_label(self) -> str:
        return self.device.wire_format or "camera_event"

    def next_interval_s(self) -> float:
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

    def report(self, ts_ms: int) -> list[Message]:
        if not self.online:
            return []
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


# ---------------------------------------------------------------------------------------------- factory

SIM_CLASSES: dict[str, type[DeviceSim]] = {
    "smoke": SmokeDetectorSim,
    "hydrant_json": HydrantDtuSim,
    "hydrant_modbus": HydrantModbusSim,
    "camera": CameraSim,
}


def sim_class_for(device: Device) -> type[DeviceSim]:
    """Which simulator class models ``device`` (Modbus hydrants are those with a Modbus address)."""
    if device.kind is DeviceKind.SMOKE_DETECTOR:
        return SmokeDetectorSim
    if device.kind is DeviceKind.HYDRANT:
        return HydrantModbusSim if device.modbus is not None else HydrantDtuSim
    return CameraSim


def make_sim(
    device: Device,
    *,
    seed: int = 0,
    intervals: ReportIntervals | None = None,
    modbus: ModbusUnits | None = None,
) -> DeviceSim:
    """The simulator for one registry device, with the scenario's reporting interval for its kind."""
    iv = intervals or ReportIntervals()
    cls = sim_class_for(device)
    if cls is SmokeDetectorSim:
        return SmokeDetectorSim(device, seed=seed, interval_s=iv.smoke_heartbeat_s)
    if cls is HydrantModbusSim:
        return HydrantModbusSim(device, modbus, seed=seed, interval_s=iv.modbus_update_s)
    if cls is HydrantDtuSim:
        return HydrantDtuSim(device, seed=seed, interval_s=iv.hydrant_report_s)
    return CameraSim(device, seed=seed, interval_s=iv.camera_event_s)
