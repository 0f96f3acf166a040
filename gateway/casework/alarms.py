"""Fire alarms (火警) as the casework handles them: raised and cleared by detectors, handled by people.

A smoke alarm is written with the gateway time it arrived (the response targets run from it). Inside a
store batch the event is also kept in the batch's writes, so that a rollback puts it in the backlog and it
is written again, in arrival order, by a later batch. Closing an alarm as a real fire records the fire,
which counts toward the grade at once.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from functools import partial
from typing import Any

from gateway.casework.desk import Desk
from gateway.casework.payloads import alarm_summary, property_party
from gateway.casework.points import alarm_point
from gateway.casework.redo import Writes
from gateway.casework.windows import WindowDesk
from gateway.models import Device, DeviceEvent, EventType
from gateway.store.parties import PartyRecord
from gateway.store.records import AlarmRecord
from rules.lifecycle import AlarmAction, AlarmOutcome, FalseAlarmCause

log = logging.getLogger(__name__)

#: The device events that open or clear an alarm.
ALARM_EVENTS = (EventType.ALARM, EventType.ALARM_CLEAR)
#: How long an alarm keeps using the property company (name, phone) it read for its estate.
PARTY_CACHE_S = 60.0


class AlarmDesk(Desk):
    """Alarms from detectors, and the steps people take on them."""

    #: The maintenance windows (the engine sets them): an alarm inside one is raised pre-marked as a test.
    windows: WindowDesk | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Estate id → its property company, and when they were read (monotonic): ``_property_party``.
        self._parties: dict[str, PartyRecord | None] = {}
        self._parties_read: float | None = None
        self._parties_changes = 0

    def device_event(self, device: Device, event: DeviceEvent, received: datetime, now: datetime) -> None:
        """Write a smoke alarm or the detector's clear. ``received`` is when it arrived and is what the store
        keeps (the response targets run from it); ``now`` is when it is written and announced, later than
        ``received`` for an event a rolled-back batch lost. Inside a batch the event is kept with it, so that
        a rollback puts it in the backlog."""
        if self.backlog.batch is not None:
            self.backlog.batch.alarms.append((device, event, received))
        if event.type is EventType.ALARM:
            self._raise(device, event, received, now)
        else:
            self._cleared(device, event, received, now)

    def _raise(self, device: Device, event: DeviceEvent, received: datetime, now: datetime) -> None:
        window = self.windows.covering(device, received) if self.windows is not None else None
        try:
            alarm, created = self.store.alarms.raise_or_repeat(
                estate_id=device.estate_id,
                device_id=device.id,
                building_id=device.building_id,
                floor=device.floor,
                location=device.location,
                raised_at=event.time,
                now=received,
                window_id=None if window is None else window.id,
            )
        except Exception as exc:
            self.counters.store_errors += 1
            log.exception("could not record the alarm from %s", device.id)
            self.backlog.lose(exc, Writes(alarms=[(device, event, received)]))
            return
        if created:
            self.counters.alarms_raised += 1
            if window is not None:
                log.info("alarm %d from %s in maintenance window %d: a test", alarm.id, device.id, window.id)
            self.changed(alarm, now, "raise")

    def _cleared(self, device: Device, event: DeviceEvent, received: datetime, now: datetime) -> None:
        try:
            alarm = self.store.alarms.cleared_by_device(device.id, received)
        except Exception as exc:
            self.counters.store_errors += 1
            log.exception("could not record alarm_clear from %s", device.id)
            self.backlog.lose(exc, Writes(alarms=[(device, event, received)]))
            return
        if alarm is not None:
            self.changed(alarm, now, "device_cleared")

    def step(
        self,
        alarm_id: int,
        action: AlarmAction,
        *,
        actor: str,
        outcome: AlarmOutcome | None = None,
        note: str = "",
        cause: FalseAlarmCause | None = None,
        cause_text: str = "",
        confirm: bool = False,
        fatal: bool | None = None,
        high_impact: bool | None = None,
        now: datetime | None = None,
    ) -> AlarmRecord:
        """A person's step (acknowledge, dispatch, on scene, close with an outcome). Closing as a false alarm
        needs ``cause``; as a real fire ``confirm`` and the ``fatal``/``high_impact`` answers (the store
        checks, ``rules.lifecycle.check_alarm_close``)."""
        now = now or self.clock()
        alarm, fire = self.store.alarms.transition(
            alarm_id,
            action,
            actor=actor,
            now=now,
            outcome=outcome,
            note=note,
            cause=cause,
            cause_text=cause_text,
            confirm=confirm,
            fatal=fatal,
            high_impact=high_impact,
        )
        self.changed(alarm, now, action.value)
        if fire is not None:
            self.index.count_fire(fire)
            self.grader.regrade({fire.estate_id}, now)
        return alarm

    def changed(self, alarm: AlarmRecord, now: datetime, action: str) -> None:
        self.outbox.announce(partial(self._publish, alarm, now, action))

    def _property_party(self, estate_id: str) -> PartyRecord | None:
        """The estate's property company, whose phone the alarm names; None when the store cannot say.

        From an index of every estate's property company, read from the store at most every
        ``PARTY_CACHE_S`` and whenever this process changed a party: every alarm change is published on the
        event loop, and reading the parties there (every party of the city, filtered) cost more than the rest
        of the alarm. A phone another gateway changed shows in alarms within that time."""
        clock = time.monotonic()
        changes = self.store.parties.changes
        if (
            self._parties_read is None
            or clock - self._parties_read >= PARTY_CACHE_S
            or changes != self._parties_changes
        ):
            try:
                everyone = self.store.parties.all()
            except Exception:
                log.exception("could not read the parties for an alarm of estate %s", estate_id)
                return self._parties.get(estate_id)
            serving: dict[str, list[PartyRecord]] = {}
            for party in everyone:
                for served in party.estate_ids:
                    serving.setdefault(served, []).append(party)
            self._parties = {e: property_party(ps, e) for e, ps in serving.items()}
            self._parties_read, self._parties_changes = clock, changes
        return self._parties.get(estate_id)

    def _publish(self, alarm: AlarmRecord, now: datetime, action: str) -> None:
        outbox = self.outbox
        data = alarm_summary(alarm, now, self.grader.registry, self._property_party(alarm.estate_id))
        data["action"] = action
        outbox.event("alarm", alarm.estate_id, now, data)
        tags = self.fleet.tags_of_estate(alarm.estate_id)
        outbox.points.append(alarm_point(tags, alarm, outbox.event_time(now)))
        outbox.wake()
