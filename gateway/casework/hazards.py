"""Hazards (隐患) as the casework handles them: opened and auto-closed by device rules, filed and stepped by
people, escalated when overdue, reconciled after the store lost a batch.

Every change goes to the store first, then into the index (what grading reads), then out through the
``Outbox`` (held until the store batch commits). The grade is not touched here for device-rule changes:
the engine re-grades the estates a batch affected, once, at the end of the batch. A person's change
re-grades its estate at once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from gateway.casework.desk import Desk
from gateway.casework.model import EngineError, check_estate
from gateway.casework.parties import dispatch_party
from gateway.casework.payloads import hazard_summary
from gateway.casework.points import hazard_point
from gateway.casework.redo import Writes
from gateway.config import PhotosSection
from gateway.models import Device
from gateway.store.hazards import MAINTENANCE_TASK
from gateway.store.records import HazardRecord
from gateway.uploads import after_photo_missing
from rules.lifecycle import HazardAction, HazardState, RecheckOutcome, escalation_due, escalation_level
from rules.model import SignalChange, SignalKind

log = logging.getLogger(__name__)


class HazardDesk(Desk):
    """Hazards from device rules (opened, auto-closed, reconciled, escalated) and from people."""

    #: ``[photos]``: what a rectified step needs. The engine sets the gateway's; an engine built without
    #: them (tests, tools) asks for no after-photo.
    photo_rules = PhotosSection(rectified_needs_after_photo=False)

    # -- device rules ----------------------------------------------------------------------------------

    def follow_signal(self, device: Device, change: SignalChange, criteria: list[str], now: datetime) -> None:
        """Open the device's hazard for an active signal, auto-close it for a signal no longer active."""
        if change.active:
            self.open_for_device(device, change, criteria, now)
        else:
            self.auto_close(device, change, now)

    def open_for_device(
        self, device: Device, change: SignalChange, criteria: list[str], now: datetime
    ) -> None:
        hazard, created = self.store.hazards.open_for_device(
            estate_id=device.estate_id,
            device_id=device.id,
            signal=change.signal.value,
            criteria=criteria,
            description=self.fleet.describe(device, change),
            location=device.location,
            since=change.since,
            value=change.value,
            now=now,
        )
        self.index.add(hazard)
        if created:
            self.counters.hazards_opened += 1
            self.changed(hazard, now, "report")

    def auto_close(self, device: Device, change: SignalChange, now: datetime) -> None:
        hazard_id = self.index.by_signal.get((device.id, change.signal.value))
        if hazard_id is None:
            return
        rules = self.fleet.rules[device.id].rules.get(change.signal)
        held = f" and stayed healthy for {rules.recovery_s:.0f} s" if rules and rules.recovery_s else ""
        reason = f"device recovered ({change.detail or change.signal.value}){held}; closed automatically"
        hazard = self.store.hazards.transition(
            hazard_id, HazardAction.AUTO_CLOSE, actor="system", now=now, reason=reason
        )
        self.index.remove(hazard)
        self.counters.hazards_auto_closed += 1
        self.changed(hazard, now, "auto_close")

    def retire(self, hazard: HazardRecord, now: datetime) -> None:
        """Close an open device hazard whose rule this version no longer has (``hydrant_pressure_drop``:
        since issue 14 a sudden drop is the first signal of the low-pressure hazard, not a hazard of its own),
        so that it does not stay open for ever; the record says why. A store failure leaves it open (and out
        of grading: its signal is no item of the policy any more), to be tried again at the next start."""
        reason = (
            f"rule {hazard.signal} retired in this version (one physical problem, one hazard: the device's "
            "other rules follow it); closed automatically"
        )
        try:
            closed = self.store.hazards.transition(
                hazard.id, HazardAction.AUTO_CLOSE, actor="system", now=now, reason=reason
            )
        except Exception:
            self.counters.store_errors += 1
            log.exception("could not close the retired hazard %d", hazard.id)
            return
        self.changed(closed, now, "auto_close")

    def reconcile(self, device_id: str, signal: SignalKind, now: datetime, affected: set[str]) -> None:
        """Make the store agree with one device rule: open its hazard if the rule is active and none is open,
        auto-close its device hazard if the rule is no longer active, the way the rule's edge would have.

        Only signals whose hazard a lost batch opened or closed are reconciled, not every signal of the
        device: a device hazard that a person closed while the rule stays active is meant to stay closed
        until the rule sees the condition afresh (``step_hazard``), and must not come back here.
        """
        device = self.fleet.devices.get(device_id)
        if device is None:
            return
        criteria = self.policy.criteria_for(device.kind, signal)
        if not criteria and not self.policy.is_monitoring_fault(device.kind, signal):
            return
        if self.backlog.batch is not None:  # if this batch fails too, it is tried again
            self.backlog.batch.pairs.add((device_id, signal))
        rule = self.fleet.rules[device_id].rules.get(signal)  # dict.get: a rule never touched is inactive
        hazard_id = self.index.by_signal.get((device_id, signal.value))
        active = rule is not None and rule.active
        if active:
            if hazard_id is not None:
                return
            since = now
        else:
            hazard = None if hazard_id is None else self.index.record(device.estate_id, hazard_id)
            if hazard is None or hazard.source != "device":
                return
            since = hazard.since
        change = SignalChange(
            device_id=device_id,
            estate_id=device.estate_id,
            signal=signal,
            active=active,
            at=now,
            since=(rule.since if rule else None) or since,
            detail=rule.detail if rule else "",
            value=rule.value if rule else None,
        )
        try:
            self.follow_signal(device, change, criteria, now)
        except Exception as exc:
            self.counters.store_errors += 1
            log.exception("could not reconcile the hazard of %s %s", device_id, signal.value)
            self.backlog.lose(exc, Writes(pairs={(device_id, signal)}))
            return
        affected.add(device.estate_id)

    def escalate(self, now: datetime) -> set[str]:
        """Escalate every hazard whose next escalation is due (overdue ones, and red ones from the moment they
        are reported); returns the estates to re-grade."""
        affected: set[str] = set()
        policy = self.policy
        red = [code for code in policy.criteria if policy.category(code) == "red"]
        try:
            due = self.store.hazards.to_escalate(now, red)
        except Exception:
            self.counters.store_errors += 1
            log.exception("could not read the hazards to escalate")
            return affected
        for hazard in due:
            why = self.escalation_due(hazard, now)
            if why is None:
                continue
            try:
                self.escalate_one(hazard, why, now)
            except Exception:
                # Not fatal to the tick (and so to ``run``): the next sweep finds the hazard still due.
                self.counters.store_errors += 1
                log.exception("could not escalate hazard %d", hazard.id)
                continue
            affected.add(hazard.estate_id)
        return affected

    def escalation_due(self, hazard: HazardRecord, now: datetime) -> str | None:
        """Why ``hazard`` escalates now ("overdue", "red"), or None when its next escalation is not due: an
        overdue item when its deadline passes and every ``escalate_every`` after; a red item (immediate
        measures) at once when the policy says so, then every ``red_every``, overdue or not."""
        policy = self.policy
        overdue = hazard.deadline is not None and now > hazard.deadline
        is_red = hazard.criterion in policy.criteria and policy.category(hazard.criterion) == "red"
        if is_red and policy.escalation.red_at_once:
            last = hazard.last_escalated_at
            if last is None or now - last >= policy.escalation.red_every:
                return "overdue" if overdue else "red"
            return None
        every = policy.escalation.red_every if is_red else policy.deadlines.escalate_every
        return "overdue" if escalation_due(hazard.deadline, hazard.last_escalated_at, now, every) else None

    def escalate_one(self, hazard: HazardRecord, why: str, now: datetime) -> HazardRecord:
        """One escalation, one level further up than the last (``policy.escalation.levels``): recorded as a
        transition with its level, and announced (the notifier sends it to that level)."""
        reason, data = self.escalation(hazard.escalations + 1, why, hazard.criterion, hazard.deadline, now)
        updated = self.store.hazards.transition(
            hazard.id, HazardAction.ESCALATE, actor="system", now=now, reason=reason, data=data
        )
        self.escalated(updated, data, now)
        return updated

    def escalation(
        self, number: int, why: str, criterion: str, deadline: datetime | None, now: datetime
    ) -> tuple[str, dict[str, Any]]:
        """The reason and data of a hazard's ``number``-th escalation (its level: one up each time)."""
        level = escalation_level(number, self.policy.escalation.levels)
        if why == "overdue":
            late = now - deadline if deadline else timedelta(0)
            because = f"overdue by {late.days} d {late.seconds // 3600} h"
        else:
            because = f"red item {criterion}: immediate measures"
        reason = f"{because}; escalated to the {level} (escalation #{number})"
        return reason, {"level": level, "why": why, "escalation": number}

    def escalated(self, hazard: HazardRecord, data: dict[str, Any], now: datetime) -> None:
        self.counters.escalations += 1
        self.changed(hazard, now, "escalate", data)

    def announce_rechecks(self, now: datetime) -> None:
        """Announce each re-check that came due, once: the to-do lists show it, the party gets a message."""
        try:
            due = self.store.hazards.announce_rechecks(now)
        except Exception:
            self.counters.store_errors += 1
            log.exception("could not read the re-checks due")
            return
        for hazard in due:
            self.changed(hazard, now, "recheck_due")

    # -- people (the API calls these) ------------------------------------------------------------------

    def file(
        self,
        *,
        estate_id: str,
        criterion: str,
        location: str,
        description: str,
        photo: str = "",
        reporter: str,
        now: datetime | None = None,
    ) -> HazardRecord:
        now = now or self.clock()
        check_estate(self.grader.registry, estate_id)
        try:
            self.policy.check_code(criterion)
        except ValueError as exc:
            raise EngineError(str(exc)) from None
        # A red item goes up at once: in the same transaction as the filing, so that nobody (another gateway
        # on the store included) sees it filed and not yet escalated.
        escalation = None
        if self.policy.escalation.red_at_once and self.policy.category(criterion) == "red":
            escalation = self.escalation(1, "red", criterion, None, now)
        hazard = self.store.hazards.file(
            estate_id=estate_id,
            criterion=criterion,
            location=location,
            description=description,
            photo=photo,
            reporter=reporter,
            now=now,
            escalation=escalation,
        )
        self.index.add(hazard)
        self.changed(hazard, now, "report")
        if escalation is not None:
            self.escalated(hazard, escalation[1], now)
        self.grader.regrade({estate_id}, now)
        return hazard

    def step(
        self,
        hazard_id: int,
        action: HazardAction,
        *,
        actor: str,
        reason: str = "",
        deadline: datetime | None = None,
        responsible: str | None = None,
        evidence: str = "",
        now: datetime | None = None,
        party_id: int | None = None,
        outcome: RecheckOutcome | None = None,
    ) -> HazardRecord:
        """One step by a person. A dispatch goes to a party (``party_id``, or a ``responsible`` that is
        exactly the name of one: ``casework.parties.dispatch_party``), whose name and contact become the
        hazard's ``responsible``. A re-check takes its ``outcome`` (``recheck``)."""
        now = now or self.clock()
        if action in (HazardAction.AUTO_CLOSE, HazardAction.ESCALATE):
            raise EngineError(f"{action.value!r} is done by the gateway itself, not by a person")
        if action is HazardAction.RECHECK:
            if outcome is None:
                raise EngineError("outcome: a re-check needs its outcome, 'passed' or 'failed'")
            return self.recheck(hazard_id, outcome, actor=actor, reason=reason, now=now)[0]
        current = self.store.hazards.get(hazard_id)
        if action is HazardAction.RECTIFIED and (
            missing := after_photo_missing(self.store, current, self.photo_rules)
        ):
            raise EngineError(missing)
        if action is HazardAction.DISPATCH and current.state is HazardState.REPORTED:
            party = dispatch_party(self.store, current.estate_id, party_id, responsible)
            party_id, responsible = party.id, party.label
        elif party_id is not None and action is not HazardAction.DISPATCH:
            raise EngineError(f"party_id: only 'dispatch' takes a party, not {action.value!r}")
        if current.criterion == MAINTENANCE_TASK:
            default: timedelta | None = self.policy.deadlines.maintenance
        elif current.criterion in self.policy.criteria:
            default = self.policy.deadline_for(current.criterion)
        else:
            default = None
        hazard = self.store.hazards.transition(
            hazard_id,
            action,
            actor=actor,
            now=now,
            reason=reason,
            deadline=deadline,
            default_deadline_s=default.total_seconds() if default else None,
            responsible=responsible,
            evidence=evidence,
            recheck_after_s=self.policy.deadlines.recheck_after.total_seconds(),
            party_id=party_id,
        )
        if hazard.is_open:
            self.index.add(hazard)
        else:
            self.index.remove(hazard)
            # A device hazard closed by a person while the device still fails would re-open at once:
            # let the rule see the condition afresh instead.
        self.changed(hazard, now, action.value)
        self.grader.regrade({hazard.estate_id}, now)
        return hazard

    def recheck(
        self, hazard_id: int, outcome: RecheckOutcome, *, actor: str, reason: str, now: datetime | None = None
    ) -> tuple[HazardRecord, HazardRecord | None]:
        """The re-check (复查) of a verified hazard, due ``recheck_after`` after it was closed: passed, or
        failed, which opens a new hazard about the same problem linked to this one and dispatched back to the
        party that fixed it (a to-do for them, and a message). Refused before it is due."""
        now = now or self.clock()
        checked, reopened = self.store.hazards.recheck(
            hazard_id, outcome, actor=actor, now=now, reason=reason
        )
        self.changed(checked, now, HazardAction.RECHECK.value, {"outcome": outcome.value})
        if reopened is not None:
            self.index.add(reopened)
            self.changed(reopened, now, "report", {"reopened_from": hazard_id})
            if reopened.party_id is not None:
                self.changed(reopened, now, HazardAction.DISPATCH.value)
            why = self.escalation_due(reopened, now)
            if why is not None:
                self.escalate_one(reopened, why, now)
            self.grader.regrade({reopened.estate_id}, now)
        return checked, reopened

    # -- out -------------------------------------------------------------------------------------------

    def changed(
        self, hazard: HazardRecord, now: datetime, action: str, extra: dict[str, Any] | None = None
    ) -> None:
        """Announce a change (once the store batch commits): a point, and an event for the live feed and the
        notifier, with ``extra`` (an escalation's level, a re-check's outcome) beside the summary."""
        self.outbox.announce(partial(self._publish, hazard, now, action, extra))

    def _publish(
        self, hazard: HazardRecord, now: datetime, action: str, extra: dict[str, Any] | None
    ) -> None:
        outbox = self.outbox
        tags = self.fleet.tags_of_estate(hazard.estate_id)
        outbox.points.append(hazard_point(tags, hazard, now, outbox.event_time(now)))
        data = hazard_summary(hazard, now)
        if extra:
            data.update(extra)
        data["action"] = action
        outbox.event("hazard", hazard.estate_id, now, data)
        outbox.wake()
