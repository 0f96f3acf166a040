"""The device rules of every registered device, and what the board and grading read from them in O(1).

Each device has its ``DeviceRules`` (the pure rule layer: for-durations, hysteresis, offline). The fleet
builds them from the registry once, validating each distinct threshold set, and keeps per-estate counts
(devices per kind, offline and failing devices, when anything was last heard) up to date on every signal
change, so that neither the board nor grading ever walks every device of the city.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from gateway.casework.model import EngineError
from gateway.ingest.registry import Registry
from gateway.ingest.schema import device_tags, estate_tags
from gateway.models import Device, DeviceKind
from rules.device_rules import DeviceRules
from rules.model import SignalChange, SignalKind
from rules.policy import Policy
from rules.texts import describe as describe_signal
from rules.thresholds import ThresholdError, Thresholds


class DeviceFleet:
    def __init__(
        self, registry: Registry, policy: Policy, estate_version: dict[str, int], now: datetime
    ) -> None:
        """``estate_version`` is the engine's per-estate change counter, bumped here when an estate's device
        counts change (the API caches each estate's board entry until then)."""
        self.policy = policy
        self.estate_version = estate_version
        problems: list[str] = []
        self.rules: dict[str, DeviceRules] = {}
        self.devices: dict[str, Device] = {}
        self.estate_devices: dict[str, list[str]] = defaultdict(list)
        self.kind_counts: dict[str, dict[DeviceKind, int]] = defaultdict(lambda: defaultdict(int))
        # Most devices share their kind's thresholds: validate each distinct set once (200,000 devices).
        resolved: dict[tuple[DeviceKind, str, str, tuple[tuple[str, float], ...]], Thresholds] = {}
        #: Devices that must report (offline rule on) per estate, for "every device silent = unknown".
        self.watched: dict[str, int] = defaultdict(int)
        for device in registry.devices:
            key = (device.kind, device.point, device.reading, tuple(sorted(device.thresholds.items())))
            thresholds = resolved.get(key)
            if thresholds is None:
                try:
                    thresholds = policy.thresholds_for(
                        device.kind,
                        device.thresholds,
                        f"device {device.id}",
                        point=device.point,
                        reading=device.reading,
                    )
                except ThresholdError as exc:
                    problems.append(str(exc))
                    continue
                resolved[key] = thresholds
            self.rules[device.id] = DeviceRules(device, thresholds, started=now)
            self.devices[device.id] = device
            self.estate_devices[device.estate_id].append(device.id)
            self.kind_counts[device.estate_id][device.kind] += 1
            if thresholds.report_window_s > 0:
                self.watched[device.estate_id] += 1
        if problems:
            raise EngineError("registry thresholds:\n  " + "\n  ".join(problems))
        self.tags = {d.id: device_tags(d, registry.estate(d.estate_id)) for d in registry.devices}
        self.estate_tags = {e.id: estate_tags(e) for e in registry.estates}
        #: Devices with a running hold or recovery timer: ticked every second (the rest on the slow sweep).
        self.ticking: set[str] = set()
        #: Per estate, the last time any of its devices was heard (start-up for a silent estate).
        self.last_heard_at: dict[str, datetime] = {e: now for e in self.estate_devices}
        #: Per device (offline, failing with another signal, in a monitoring fault, offline after it was
        #: heard) and per estate [offline watched, failing, monitoring faults, offline after heard].
        self._status: dict[str, tuple[bool, bool, bool, bool]] = {}
        self.estate_status: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        #: Devices heard from since start-up (or before, per their checkpoint), and how many per estate: a
        #: device registered and never heard from is not "online" (issue 14).
        self.heard: set[str] = set()
        self.heard_count: dict[str, int] = defaultdict(int)

    def tags_of_estate(self, estate_id: str) -> dict[str, str]:
        return self.estate_tags.get(estate_id, {"estate": estate_id})

    def refresh_status(self, device_id: str) -> None:
        rules = self.rules[device_id]
        active = rules.active_signals()
        offline = SignalKind.OFFLINE in active
        monitoring = self.policy.monitoring.get(rules.device.kind, ())
        status = (
            offline and rules.t.report_window_s > 0,
            any(s is not SignalKind.OFFLINE for s in active),
            any(s in monitoring for s in active),
            offline and device_id in self.heard,
        )
        before = self._status.get(device_id, (False, False, False, False))
        if status == before:
            return
        counts = self.estate_status[rules.device.estate_id]
        for i in range(4):
            counts[i] += int(status[i]) - int(before[i])
        self.estate_version[rules.device.estate_id] += 1
        self._status[device_id] = status

    def first_heard(self, device_id: str, estate_id: str) -> None:
        """A device is heard from for the first time (the engine calls this once per device)."""
        self.heard.add(device_id)
        self.heard_count[estate_id] += 1
        self.estate_version[estate_id] += 1
        self.refresh_status(device_id)

    def status_of(self, device_id: str) -> tuple[bool, bool, bool, bool]:
        """(offline, failing with a signal other than offline, in a monitoring fault, offline after it was
        heard) for one device, in O(1): what the per-estate counts add up (the duty overview's figures)."""
        return self._status.get(device_id, (False, False, False, False))

    def device_counts(self, estate_id: str) -> tuple[int, int, int]:
        """(devices, offline, failing with a signal other than offline) for an estate, in O(1)."""
        offline, failing, _, _ = self.estate_status.get(estate_id, (0, 0, 0, 0))
        return len(self.estate_devices.get(estate_id, ())), offline, failing

    def online_count(self, estate_id: str) -> int:
        """Devices heard from and not offline now (a device never heard from is not online)."""
        return self.heard_count.get(estate_id, 0) - self.estate_status.get(estate_id, (0, 0, 0, 0))[3]

    def monitoring(self, estate_id: str) -> tuple[int, int]:
        """(devices that report, of them with a monitoring fault now) for the coverage beside the grade."""
        return self.watched.get(estate_id, 0), self.estate_status.get(estate_id, (0, 0, 0, 0))[2]

    def stale(self, estate_id: str) -> bool:
        """True when the estate has devices that should report and every one of them is offline."""
        watched = self.watched.get(estate_id, 0)
        return watched > 0 and self.estate_status.get(estate_id, (0, 0, 0, 0))[0] >= watched

    def last_heard(self, estate_id: str) -> datetime | None:
        """When anything was last heard from the estate's devices (kept as records arrive: O(1))."""
        return self.last_heard_at.get(estate_id)

    def describe(self, device: Device, change: SignalChange) -> str:
        """A device hazard's description, in the policy's language (rules/texts.py)."""
        return describe_signal(device, change, self.rules[device.id].t, self.policy.language)
