"""Checkpoints of one device's rule state: JSON-able data out, checked state back in. Pure: no I/O, no clock.

A gateway that takes over from another (or starts again) continues each device where the store's checkpoint
left it, instead of from nothing: when the device was last heard, and every hold rule that is not INACTIVE
(its state, timers, text and value). ``DeviceRules.checkpoint`` and ``DeviceRules.resume`` use these two
functions; the casework writes the data to the store (gateway/casework/checkpoints.py).

The format, one JSON object per device (keys left out when empty)::

    {"v": 1, "last_seen": "2026-11-23T02:00:00+00:00",
     "rules": {"hydrant_low_pressure": {"state": "pending", "pending_at": "...", "clear_at": "...",
                                        "since": "...", "value": 0.02,
                                        "detail": "sudden drop from 0.35 to 0.02 MPa (urgent)"}},
     "pressure": ["...", 0.02], "drop_reference": 0.35, "drop_urgent": true}

``drop_reference`` is the pressure before a sudden drop while the hydrant stays down, ``drop_urgent`` that the
open low-pressure episode began with one (its hold is then ``pressure_drop_hold_s``, rules/thresholds.py).

``load`` is lenient: what it does not understand (an unknown signal or state, a malformed time, a timer
missing for its state) is left out, so a checkpoint from another version never stops a takeover. A checkpoint
written before the sudden drop became part of the low-pressure rule may hold a ``hydrant_pressure_drop``
rule: it still loads (the signal still parses), and ``DeviceRules.resume`` leaves it out, since no device has
that rule any more. Gateway-clock times (``last_seen``, the timers) are never put after ``now``: a writer
whose clock ran ahead cannot push a device's silence or a hold into the future.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from rules.model import SignalKind

VERSION = 1

#: The rule states a checkpoint keeps (INACTIVE is what a rule without an entry is).
_KEPT_STATES = frozenset(("pending", "active", "recovering"))


class HoldLike(Protocol):
    """What ``dump`` reads of a hold rule (``rules.device_rules.HoldRule``)."""

    @property
    def signal(self) -> SignalKind: ...
    @property
    def state(self) -> str: ...
    @property
    def pending_at(self) -> datetime | None: ...
    @property
    def clear_at(self) -> datetime | None: ...
    @property
    def since(self) -> datetime | None: ...
    @property
    def detail(self) -> str: ...
    @property
    def value(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class HoldState:
    signal: SignalKind
    state: str  # pending / active / recovering
    pending_at: datetime | None
    clear_at: datetime | None
    since: datetime | None
    detail: str
    value: float | None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    last_seen: datetime | None
    holds: tuple[HoldState, ...]
    last_pressure: tuple[datetime, float] | None
    drop_reference: float | None
    drop_urgent: bool = False


def dump(
    last_seen: datetime,
    holds: Iterable[HoldLike],
    last_pressure: tuple[datetime, float] | None = None,
    drop_reference: float | None = None,
    drop_urgent: bool = False,
) -> dict[str, Any]:
    """The JSON-able checkpoint of one device (the rules that are INACTIVE are left out)."""
    data: dict[str, Any] = {"v": VERSION, "last_seen": last_seen.isoformat()}
    rules: dict[str, Any] = {}
    for hold in holds:
        state = hold.state
        if state not in _KEPT_STATES:
            continue
        entry: dict[str, Any] = {"state": str(state)}
        for key, at in (("pending_at", hold.pending_at), ("clear_at", hold.clear_at), ("since", hold.since)):
            if at is not None:
                entry[key] = at.isoformat()
        if hold.detail:
            entry["detail"] = hold.detail
        if hold.value is not None:
            entry["value"] = hold.value
        rules[hold.signal.value] = entry
    if rules:
        data["rules"] = rules
    if last_pressure is not None:
        data["pressure"] = [last_pressure[0].isoformat(), last_pressure[1]]
    if drop_reference is not None:
        data["drop_reference"] = drop_reference
    if drop_urgent:
        data["drop_urgent"] = True
    return data


def load(data: Mapping[str, Any], now: datetime) -> Checkpoint:
    """Read ``dump``'s data back, leaving out what is not understood; gateway-clock times at most ``now``."""
    holds: list[HoldState] = []
    rules = data.get("rules")
    if isinstance(rules, Mapping):
        for name, entry in rules.items():
            hold = _hold(name, entry, now)
            if hold is not None:
                holds.append(hold)
    last_pressure: tuple[datetime, float] | None = None
    pressure = data.get("pressure")
    if isinstance(pressure, list) and len(pressure) == 2:
        at, value = _time(pressure[0], now), _number(pressure[1])
        if at is not None and value is not None:
            last_pressure = (at, value)
    return Checkpoint(
        last_seen=_time(data.get("last_seen"), now),
        holds=tuple(holds),
        last_pressure=last_pressure,
        drop_reference=_number(data.get("drop_reference")),
        drop_urgent=data.get("drop_urgent") is True,
    )


def _hold(name: object, entry: object, now: datetime) -> HoldState | None:
    if not isinstance(name, str) or not isinstance(entry, Mapping):
        return None
    try:
        signal = SignalKind(name)
    except ValueError:
        return None
    state = entry.get("state")
    if state not in _KEPT_STATES:
        return None
    pending_at, clear_at = _time(entry.get("pending_at"), now), _time(entry.get("clear_at"), now)
    # A timer its state runs on must be there, or the rule would wait for ever.
    if (state == "pending" and pending_at is None) or (state == "recovering" and clear_at is None):
        return None
    detail = entry.get("detail", "")
    return HoldState(
        signal=signal,
        state=str(state),
        pending_at=pending_at,
        clear_at=clear_at,
        since=_time(entry.get("since"), None),  # event time (the hazard's "since"), not the gateway's clock
        detail=detail if isinstance(detail, str) else "",
        value=_number(entry.get("value")),
    )


def _time(value: object, now: datetime | None) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    return at if now is None or at <= now else now


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
