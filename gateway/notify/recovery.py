"""What a start or a takeover owes the people: messages from before it, and alarms never pushed.

Read from the store when the notifier takes up a rule engine (``Notifier.attach``: at the start, and at each
``[ha]`` takeover), for this gateway's estates (the registry's: partitions sharing one store each take up
their own):

- rows still ``queued`` (a crash, a stop, or the gateway that died before this one took over) are sent again
  if still worth it: an alarm message while its alarm is not closed, an escalation while its alarm is still
  unacknowledged, a hazard message while its hazard is open (a re-check message whatever its state); one
  that is not is recorded ``abandoned`` with why. Its address is looked up again under its route
  (gateway/notify/routes.py); one removed meanwhile is abandoned too;
- open alarms with no duty message sent, queued or abandoned on a duty channel get one now, marked 补发
  with how late it is (the alarm was stored but the gateway died before its message was written, or
  nobody was configured then);
- open alarms nobody acknowledged and not yet escalated get their escalation scheduled at ``received_at +
  escalate_after_s`` (at once when that has passed).

Messages and alarms older than ``[notify] resume_within_s`` are recorded abandoned instead of sent late.
A message delivered just before a crash, whose end was not yet written, is sent a second time: delivery is
at least once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from gateway.casework.payloads import alarm_summary
from gateway.config import NotifySection
from gateway.ingest.registry import Registry
from gateway.notify.messages import alarm_text
from gateway.notify.queue import Message
from gateway.notify.routes import Recipient, configured, resolve
from gateway.store.database import NotFound
from gateway.store.notifications import NotificationRecord
from gateway.store.records import AlarmRecord
from rules.lifecycle import AlarmState

if TYPE_CHECKING:
    from gateway.store import HazardStore

#: Open alarms looked at per start (more than any estate set has open at once).
OPEN_ALARMS_MAX = 10_000


@dataclass(slots=True)
class Owed:
    #: Queued rows resumed (their ``row_id`` set) and duty messages owed for open alarms (not yet stored).
    resumed: list[Message] = field(default_factory=list)
    late: list[Message] = field(default_factory=list)
    #: Not worth sending any more; ``error`` says why (a queued row, or a new row to write).
    abandoned: list[Message] = field(default_factory=list)
    #: (alarm id, when to escalate it, its summary)
    escalations: list[tuple[int, datetime, dict[str, Any]]] = field(default_factory=list)


def retry_pauses(config: NotifySection, subject: str) -> list[float]:
    return list(config.alarm_retry_s if subject == "alarm" else config.hazard_retry_s)


@dataclass(slots=True)
class TakeUp:
    """One start's look at the store: what this notifier owes. ``live``: the messages it already has in
    hand; alarms received from ``attached_at`` on are the engine's own, announced to the notifier as they
    are raised."""

    store: HazardStore
    config: NotifySection
    registry: Registry
    attached_at: datetime
    now: datetime
    live: Collection[Message]
    scrubbed: Callable[[str], str]
    out: Owed = field(default_factory=Owed)

    def owed(self) -> Owed:
        estates = {e.id for e in self.registry.estates}
        live_ids = {m.row_id for m in self.live if m.row_id is not None}
        for row in self.store.notifications.owed():
            if row.id not in live_ids and row.estate_id in estates:
                self._take_up(row)
        self._open_alarms(sorted(estates))
        return self.out

    def _take_up(self, row: NotificationRecord) -> None:
        url = resolve(self.store, self.config, row.route, row.channel, self.scrubbed)
        message = Message(
            row.kind,
            row.subject,
            row.subject_id,
            row.estate_id,
            row.route or "",
            url or "",
            row.title,
            row.body,
            row.queued_at,
            retry_pauses(self.config, row.subject),
            attempts=row.attempts,
            row_id=row.id,
            channel=row.channel,
        )
        reason = self._stale(row)
        if reason is None and url is None:
            reason = (
                f"its channel {row.channel} is no longer among the addresses of {row.route or 'its route'}"
            )
        if reason is None:
            self.out.resumed.append(message)
        else:
            message.error = f"abandoned at a start: {reason}"
            self.out.abandoned.append(message)

    def _stale(self, row: NotificationRecord) -> str | None:
        """Why a queued message is not worth sending any more, or None."""
        age = (self.now - row.queued_at).total_seconds()
        if age > self.config.resume_within_s:
            return f"queued {age / 3600:.1f} h before, longer ago than [notify] resume_within_s"
        try:
            if row.subject == "alarm":
                alarm = self.store.alarms.get(row.subject_id)
                if row.kind == "alarm_escalation" and alarm.state is not AlarmState.OPEN:
                    return f"the alarm was {alarm.state.value} before its escalation was sent"
                if alarm.closed_at is not None:
                    outcome = alarm.outcome.value if alarm.outcome else "closed"
                    return f"the alarm was closed ({outcome}) before its message was sent"
            else:
                hazard = self.store.hazards.get(row.subject_id)
                if row.kind != "hazard_recheck_due" and not hazard.is_open:
                    return "the hazard was closed before its message was sent"
        except NotFound:
            return f"the {row.subject} is no longer in the store"
        return None

    def _open_alarms(self, estate_ids: list[str]) -> None:
        """Duty messages owed for open alarms, and their escalations."""
        found = self.store.alarms.find(estate_ids=estate_ids, open_only=True, limit=OPEN_ALARMS_MAX)
        alarms = [a for a in found if a.received_at < self.attached_at]
        if not alarms:
            return
        scrubbed, out = self.scrubbed, self.out
        settled = self.store.notifications.settled("alarm", [a.id for a in alarms])
        settled |= {(m.subject_id, m.kind, m.channel or scrubbed(m.url)) for m in self.live if m.alarm}
        settled |= {(m.subject_id, m.kind, m.channel) for m in out.resumed + out.abandoned if m.alarm}
        duty = configured(self.config, "duty")
        escalate = configured(self.config, "escalate")
        within = self.config.resume_within_s
        for alarm in alarms:
            late_s = (self.now - alarm.received_at).total_seconds()
            data = alarm_summary(alarm, self.now)
            for recipient in duty:
                channel = scrubbed(recipient.url)
                if (alarm.id, "alarm", channel) in settled:
                    continue
                message = self._late_message(alarm, recipient, data, late_s, channel)
                if late_s > within:
                    message.error = (
                        f"abandoned at a start: the alarm arrived {late_s / 3600:.1f} h before, longer ago "
                        "than [notify] resume_within_s, and was never pushed"
                    )
                    out.abandoned.append(message)
                else:
                    out.late.append(message)
            escalated = any((alarm.id, "alarm_escalation", scrubbed(r.url)) in settled for r in escalate)
            unanswered = alarm.state is AlarmState.OPEN and alarm.window_id is None  # not a test either
            if escalate and unanswered and not escalated and late_s <= within:
                due = alarm.received_at + timedelta(seconds=self.config.escalate_after_s)
                out.escalations.append((alarm.id, due, data))

    def _late_message(
        self,
        alarm: AlarmRecord,
        recipient: Recipient,
        data: dict[str, Any],
        late_s: float,
        channel: str,
    ) -> Message:
        title, body = alarm_text(self.registry, data, self.config.control_room_phone, late_s=late_s)
        return Message(
            "alarm",
            "alarm",
            alarm.id,
            alarm.estate_id,
            recipient.route,
            recipient.url,
            title,
            body,
            self.now,
            retry_pauses(self.config, "alarm"),
            channel=channel,
        )
