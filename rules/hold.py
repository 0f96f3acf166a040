"""The hold rule: one condition of one device, with a hold time before active and a recovery hold before
resolved. Pure: no I/O, no wall clock; ``rules/device_rules.py`` runs one per device and condition.

Each rule is a small state machine, an enum plus timestamps, in the manner of Prometheus alerting rules:

    INACTIVE --condition holds--> PENDING --held for hold_s--> ACTIVE --condition clears--> RECOVERING
        ^                            |                            ^                            |
        +-- clear for recovery_s ----+                            +------ holds again ---------+
        +------------------------------- clear for recovery_s ---------------------------------+

A rule emits a ``SignalChange`` only on the edges PENDING->ACTIVE (``active=True``) and RECOVERING->INACTIVE
(``active=False``), so a sensor hovering around its threshold produces no churn: the pending hold filters
short excursions, the recovery hold and the value hysteresis (the condition to leave is stricter than the
condition to enter) filter short recoveries.

The recovery hold counts while PENDING too: a hold is not restarted by one healthy reading, only by the
condition staying clear for ``recovery_s``. So a hydrant that reads low four minutes out of five still
opens its hazard once ``hold_s`` has passed since the condition was first seen (it becomes ACTIVE on the
next reading that holds); a single good reading cannot hide an intermittent fault. Rules without a
recovery hold (``recovery_s == 0``) restart on the first clear reading, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from rules.model import SignalKind


class RuleState(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    ACTIVE = "active"
    RECOVERING = "recovering"


@dataclass(slots=True)
class HoldRule:
    """One condition of one device with a hold time before active and a recovery hold before resolved.

    ``pending_at``/``clear_at`` are gateway-clock times (they drive the timers); ``clear_at`` is when the
    condition was last seen to clear (in RECOVERING, and in PENDING during a healthy spell that has not yet
    lasted ``recovery_s``). ``since`` is the event time at which the condition was first seen, for the
    hazard's text ("0.02 MPa since 10:41").
    """

    signal: SignalKind
    hold_s: float
    recovery_s: float
    state: RuleState = RuleState.INACTIVE
    pending_at: datetime | None = None
    clear_at: datetime | None = None
    since: datetime | None = None
    detail: str = ""
    value: float | None = None

    @property
    def active(self) -> bool:
        """True while a hazard should be open: ACTIVE, or ACTIVE and waiting out its recovery hold."""
        return self.state in (RuleState.ACTIVE, RuleState.RECOVERING)

    def observe(
        self,
        holds: bool,
        now: datetime,
        *,
        seen_at: datetime | None = None,
        detail: str = "",
        value: float | None = None,
    ) -> bool | None:
        """Feed one evaluation of the condition; returns the new ``active`` flag on an edge, else None."""
        if holds:
            if detail:
                self.detail = detail
            if value is not None:
                self.value = value
            if self.state is RuleState.INACTIVE:
                self.state, self.pending_at, self.since = RuleState.PENDING, now, seen_at or now
                self.clear_at = None
            elif self.state is RuleState.PENDING and self.clear_at is not None:
                if (now - self.clear_at).total_seconds() >= self.recovery_s:  # the clear spell counted
                    self.pending_at, self.since = now, seen_at or now
                self.clear_at = None
            elif self.state is RuleState.RECOVERING:
                self.state, self.clear_at = RuleState.ACTIVE, None
            return self._advance(now)
        if self.state is RuleState.PENDING:
            if self.recovery_s <= 0:
                self.state, self.pending_at, self.since = RuleState.INACTIVE, None, None
            elif self.clear_at is None:
                self.clear_at = now
        elif self.state is RuleState.ACTIVE:
            self.state, self.clear_at = RuleState.RECOVERING, now
            if value is not None:
                self.value = value
        return self._advance(now)

    def tick(self, now: datetime) -> bool | None:
        return self._advance(now)

    def force(self, active: bool, now: datetime, *, detail: str = "", value: float | None = None) -> bool:
        """Set the state without hold times (an explicit device report such as CTWing "offline")."""
        if active == self.active:
            if active:
                self.state, self.clear_at = RuleState.ACTIVE, None
            return False
        if active:
            self.state, self.pending_at, self.since = RuleState.ACTIVE, now, now
            self.detail, self.value = detail or self.detail, value
        else:
            # ``since`` stays for the resolving SignalChange; entering PENDING sets it afresh.
            self.state, self.pending_at, self.clear_at = RuleState.INACTIVE, None, None
        return True

    def unconfirmed(self) -> None:
        """The condition cannot be judged (no valid input): a pending hold or a recovery starts again."""
        if self.state is RuleState.PENDING:
            self.state, self.pending_at, self.clear_at, self.since = RuleState.INACTIVE, None, None, None
        elif self.state is RuleState.RECOVERING:
            self.state, self.clear_at = RuleState.ACTIVE, None

    def restore_active(self, since: datetime, now: datetime, detail: str = "") -> None:
        """At start-up, continue an open hazard: the condition must be seen clear to resolve it."""
        self.state, self.pending_at, self.since, self.detail = RuleState.ACTIVE, now, since, detail

    def _advance(self, now: datetime) -> bool | None:
        if self.state is RuleState.PENDING and self.pending_at is not None:
            if self.clear_at is not None:  # clear right now: active only when seen again; reset if clear long
                if (now - self.clear_at).total_seconds() >= self.recovery_s:
                    self.state, self.pending_at, self.clear_at = RuleState.INACTIVE, None, None
                    self.since = None
            elif (now - self.pending_at).total_seconds() >= self.hold_s:
                self.state = RuleState.ACTIVE
                return True
        elif (
            self.state is RuleState.RECOVERING
            and self.clear_at is not None
            and (now - self.clear_at).total_seconds() >= self.recovery_s
        ):
            self.state, self.pending_at, self.clear_at = RuleState.INACTIVE, None, None
            return False
        return None
