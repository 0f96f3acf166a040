"""Simulated NB-IoT smoke detectors, in the three wire formats they speak.

``smoke_json`` (the vendor JSON), ``gbt45839_status`` (GB/T 45839 appendix D) and ``ctwing`` (the China
Telecom platform's envelope with the generic vendor table), written from ``docs/wire-formats.md`` §1-§3.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from gateway.models import Device
from simulators.devices.base import (
    COMMON_ACTIONS,
    DURATION,
    LOW_BATTERY_PCT,
    NUMBER,
    DeviceSim,
    Message,
    ParamSpec,
)
from simulators.devices.encoding import cst_datetime, dumps

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


def _stable_int(text: str, digits: int) -> int:
    """A number derived from ``text`` that is the same on every run and machine (unlike ``hash()``)."""
    digest = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    return digest % int(10**digits)


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
        **COMMON_ACTIONS,
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
