"""The notifier: alarm and hazard changes in, messages to people out, off the event loop, recorded before
they are delivered.

What goes where (gateway/notify/routes.py):

- a new alarm → every ``[notify] duty`` channel at once; still ``open`` (nobody acknowledged it)
  ``escalate_after_s`` after it arrived → every ``[notify] escalate`` channel (checked against the store
  first, so an acknowledgement made through another gateway counts too);
- a hazard dispatched (``dispatch``), overdue (``escalate``) or due for its re-check (``recheck_due``) → the
  channels of the party it was dispatched to, else ``[notify] hazards``; a hazard escalated to a level
  (``escalate`` with ``data["level"]``: street, district, brigade) → also ``[notify] escalation_levels`` of
  that level and the parties of that kind serving the estate.

How: ``on_update`` is called by the engine's outbox, on the event loop, for every hazard and alarm change
(``Outbox.listeners``); it only builds the messages and appends them to a list under a lock, which costs
microseconds, so ingest and grading never wait for a delivery or a database. A dispatcher thread writes
the new messages to ``notifications`` as ``queued`` (one transaction per batch of them), then hands them to
a pool of ``workers`` threads through the per-channel queues of gateway/notify/queue.py (alarms first,
within each channel's rate limit, alarms combined when a limit would make them wait); each delivery is one
blocking Apprise call. A failed delivery is tried again after the pauses of ``alarm_retry_s`` (alarms: 1 s,
3 s, so three tries well within 15 s) or ``hazard_retry_s``. The worker then finishes the row: ``sent``, or
``failed`` with Apprise's reason.

Nothing owed is lost without a record:

- a clean stop lets deliveries under way end and leaves the rest ``queued`` in the store;
- at each start (and ``[ha]`` takeover) the notifier takes up what the store says it owes
  (gateway/notify/recovery.py): queued rows still worth sending, duty messages for open alarms that never
  had one, escalations of open unacknowledged alarms; the rest is recorded ``abandoned`` with why;
- a crash (kill -9) loses only messages in memory not yet written ``queued``: those of the last few
  milliseconds. For an alarm that is no loss: the alarm is in the store before the notifier hears of it
  (the outbox announces after the engine's commit), so the next start finds it open without a duty message
  and sends one. A hazard message in that window is lost (the hazard and its to-do list entry are not);
- a message delivered whose end was not yet written when the gateway died is sent again at the next start.

The queue holds ``queue_size`` messages; when it is full the oldest hazard message is dropped (recorded
``dropped`` and counted), never an alarm: alarms are taken beyond the bound.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from gateway.casework.model import RuleUpdate
from gateway.config import NotifySection
from gateway.ingest.registry import Registry
from gateway.notify.channels import deliver, scheme, scrub
from gateway.notify.messages import alarm_text, combined_text, escalation_text, hazard_text
from gateway.notify.queue import ChannelQueues, Message, QueueCounters
from gateway.notify.recovery import TakeUp, retry_pauses
from gateway.notify.routes import Recipient, configured, for_hazard, for_level
from gateway.store.notifications import Outcome
from rules.lifecycle import AlarmState

if TYPE_CHECKING:
    from gateway.casework.engine import RuleEngine
    from gateway.store import HazardStore

log = logging.getLogger(__name__)

#: Hazard actions (``hazard_summary``'s ``action``) that make a message to the party, and its kind.
HAZARD_ACTIONS = {
    "dispatch": "hazard_dispatched",
    "escalate": "hazard_overdue",
    "recheck_due": "hazard_recheck_due",
}
#: A start whose store could not be read tries again after this long.
TAKE_UP_RETRY_S = 5.0


@dataclass(slots=True)
class NotifyCounters:
    queued: int = 0
    sent: int = 0
    failed: int = 0
    retries: int = 0
    #: Hazard messages dropped because the queue was full (alarms never are).
    dropped: int = 0
    escalations: int = 0
    record_errors: int = 0
    #: Taken up at a start: queued rows resumed, duty messages owed for open alarms, messages abandoned.
    resumed: int = 0
    late: int = 0
    abandoned: int = 0
    #: Rate limits (gateway/notify/queue.py).
    queue: QueueCounters = field(default_factory=QueueCounters)
    #: Messages waiting now (alarms among them).
    waiting: int = 0
    waiting_alarms: int = 0
    #: Seconds from the alarm handed to the notifier to its delivery, of the last alarm messages (for
    #: /metrics and the bench).
    alarm_delivery_s: deque[float] = field(default_factory=lambda: deque(maxlen=1000))

    def fields(self) -> dict[str, float]:
        out = {
            "notify_queued": float(self.queued),
            "notify_sent": float(self.sent),
            "notify_failed": float(self.failed),
            "notify_retries": float(self.retries),
            "notify_dropped": float(self.dropped),
            "notify_escalations": float(self.escalations),
            "notify_record_errors": float(self.record_errors),
            "notify_resumed": float(self.resumed),
            "notify_late": float(self.late),
            "notify_abandoned": float(self.abandoned),
            "notify_rate_limited": float(self.queue.rate_limited),
            "notify_rate_limited_alarms": float(self.queue.rate_limited_alarms),
            "notify_combined": float(self.queue.combined),
            "notify_waiting": float(self.waiting),
            "notify_waiting_alarms": float(self.waiting_alarms),
        }
        if self.alarm_delivery_s:
            out["notify_alarm_delivery_max_s"] = max(self.alarm_delivery_s)
        return out


class Notifier:
    def __init__(self, config: NotifySection, registry: Registry, clock: Callable[[], datetime]) -> None:
        self.config = config
        self.registry = registry
        self.clock = clock
        self.store: HazardStore | None = None
        self.counters = NotifyCounters()
        self._cond = threading.Condition()
        #: New messages, not yet written ``queued`` (the event loop only appends here).
        self._incoming: list[Message] = []
        self._queues = ChannelQueues(
            self._limit_of, config.queue_size, config.alarm_reserve, self.counters.queue
        )
        #: (due on the monotonic clock, sequence, message): failed deliveries waiting for their next try.
        self._retries: list[tuple[float, int, Message]] = []
        self._seq = itertools.count()
        #: Alarm id → (when to escalate it on the gateway clock, its summary).
        self._escalations: dict[int, tuple[datetime, dict[str, Any]]] = {}
        #: Work for the pool that reads the store (who a hazard message goes to, whether to escalate).
        self._jobs: list[Callable[[], None]] = []
        #: Every message not yet finished in the store: incoming, waiting, in delivery, waiting for a retry.
        self._live: set[Message] = set()
        #: A store whose owed messages are to be taken up (``attach``), and not before when (monotonic).
        self._take_up_from: HazardStore | None = None
        self._take_up_at = 0.0
        #: When the engine was attached: alarms it raises from then on reach ``on_update``.
        self._attached_at = clock()
        self._in_flight = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._scrubbed: dict[str, str] = {}

    def _limit_of(self, url: str) -> int | None:
        return self.config.rate_per_minute.get(scheme(url))

    def _scrub(self, url: str) -> str:
        """``scrub`` once per address (it parses the URL with Apprise)."""
        shown = self._scrubbed.get(url)
        if shown is None:
            shown = self._scrubbed[url] = scrub(url)
        return shown

    # -- on the event loop ------------------------------------------------------------------------------

    def attach(self, engine: RuleEngine) -> None:
        """Take the hazard and alarm changes of ``engine`` (called again with each new engine under HA), and
        take up what its store says is owed (off the loop, in the dispatcher thread)."""
        self.store = engine.store
        if self.on_update not in engine.outbox.listeners:
            engine.outbox.listeners.append(self.on_update)
        with self._cond:
            self._take_up_from, self._take_up_at = engine.store, 0.0
            self._attached_at = self.clock()
            self._cond.notify()

    def on_update(self, update: RuleUpdate) -> None:
        """A hazard or alarm change from the outbox (event loop): queue its messages, nothing more."""
        if update.kind == "alarm":
            self._alarm(update)
        elif update.kind == "hazard":
            kind = HAZARD_ACTIONS.get(update.data.get("action", ""))
            if kind is not None:
                # Who gets it (the party's addresses) is read from the store by a worker, not here.
                with self._cond:
                    self._jobs.append(lambda k=kind, d=update.data: self._hazard(k, d))  # type: ignore[misc]
                    self._cond.notify()

    def _alarm(self, update: RuleUpdate) -> None:
        data = update.data
        alarm_id = int(data["id"])
        if data.get("action") == "raise" and data.get("state") == AlarmState.OPEN.value:
            title, body = alarm_text(self.registry, data, self.config.control_room_phone)
            self._queue("alarm", "alarm", data, configured(self.config, "duty"), title, body)
            if self.config.escalate and not data.get("test"):
                received = datetime.fromisoformat(data["received_at"])
                due = received + timedelta(seconds=self.config.escalate_after_s)
                with self._cond:
                    self._escalations[alarm_id] = (due, data)
                    self._cond.notify()
        elif data.get("state") != AlarmState.OPEN.value:
            with self._cond:
                self._escalations.pop(alarm_id, None)

    def _queue(
        self,
        subject: str,
        kind: str,
        data: dict[str, Any],
        recipients: Sequence[Recipient],
        title: str,
        body: str,
    ) -> None:
        now = self.clock()
        retry = retry_pauses(self.config, subject)
        messages = [
            Message(kind, subject, int(data["id"]), data["estate"], r.route, r.url, title, body, now, retry)
            for r in recipients
        ]
        self._hand_in(messages)

    def _hand_in(self, messages: list[Message]) -> None:
        with self._cond:
            self._incoming.extend(messages)
            self._live.update(messages)
            self._cond.notify()

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._pool = ThreadPoolExecutor(self.config.workers, thread_name_prefix="notify")
        self._thread = threading.Thread(target=self._dispatch, name="notify-dispatch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages from the queue, let deliveries under way end, and leave every message not
        sent ``queued`` in the store for the next start."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)  # deliveries not begun return at once (``_deliver``)
            self._pool = None
        with self._cond:
            left = list(self._live)
            self._live.clear()
            self._incoming.clear()
            self._queues.drain()
            self._retries.clear()
        self._journal([m for m in left if m.row_id is None])
        if left:
            log.info(
                "notifier stopped: %d messages not sent wait in the store (queued) for the next start",
                len(left),
            )

    async def run(self) -> None:
        """The gateway's task: the threads run while it does."""
        self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.to_thread(self.stop)

    # -- the dispatcher thread --------------------------------------------------------------------------

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                incoming, self._incoming = self._incoming, []
                jobs, self._jobs = self._jobs, []
                take_up = None
                if self._take_up_from is not None and time.monotonic() >= self._take_up_at:
                    take_up, self._take_up_from = self._take_up_from, None
                dropped = self._due(jobs)
            # Written queued before any of them is delivered; a take-up then sees them as settled.
            self._journal(incoming)
            if take_up is not None:
                self._take_up(take_up)
            with self._cond:
                now = time.monotonic()
                dropped += self._enqueue(incoming, now)
                deliveries = self._queues.take(now, self.config.workers - self._in_flight)
                self._in_flight += len(deliveries)
                self.counters.waiting = len(self._queues)
                self.counters.waiting_alarms = self._queues.waiting_alarms()
                if not (incoming or jobs or deliveries or take_up or self._incoming or self._jobs):
                    self._cond.wait(self._wait_s(now))
                    continue
            pool = self._pool
            if pool is None:
                continue
            for job in jobs:
                pool.submit(self._guarded, job)
            for group in deliveries:
                pool.submit(self._guarded, lambda g=group: self._deliver(g))  # type: ignore[misc]
            if dropped:
                pool.submit(self._guarded, lambda d=dropped: self._finish(d, "dropped"))  # type: ignore[misc]

    def _due(self, jobs: list[Callable[[], None]]) -> list[Message]:
        """Under the lock: retries whose pause is over back to their queue (the hazard messages dropped to
        make room for them returned); escalations due to the pool."""
        now = time.monotonic()
        dropped: list[Message] = []
        while self._retries and self._retries[0][0] <= now:
            _, _, message = heapq.heappop(self._retries)
            dropped += self._enqueue([message], now, again=True)
        if self._escalations:
            gateway_now = self.clock()
            for alarm_id, (due, data) in list(self._escalations.items()):
                if gateway_now >= due:
                    del self._escalations[alarm_id]
                    jobs.append(lambda a=alarm_id, d=data: self._check_escalation(a, d))  # type: ignore[misc]
        return dropped

    def _wait_s(self, now: float) -> float:
        wait = 0.2
        if self._retries:
            wait = min(wait, self._retries[0][0] - now)
        if (free_in := self._queues.next_free_in(now)) is not None:
            wait = min(wait, free_in)
        return max(0.0, wait)

    def _enqueue(self, messages: list[Message], now: float, *, again: bool = False) -> list[Message]:
        """Under the lock: queue ``messages`` (``again``: retries); the ones dropped to keep the bound."""
        dropped: list[Message] = []
        for message in messages:
            out = self._queues.put(message, now, again=again)
            if out is not None:
                out.error = f"dropped: the queue was full ({self.config.queue_size} messages)" + (
                    f" (last error: {out.error})" if out.error else ""
                )
                self.counters.dropped += 1
                dropped.append(out)
            if out is not message and not again:
                self.counters.queued += 1
        return dropped

    def _journal(self, messages: list[Message]) -> None:
        """Write new messages ``queued`` (one transaction); on failure they are still delivered, and their
        end is written as a row of its own."""
        new = [m for m in messages if m.row_id is None]
        for message in new:
            message.channel = message.channel or self._scrub(message.url)
        store = self.store
        if not new or store is None:
            return
        rows = [
            {
                "kind": m.kind,
                "subject": m.subject,
                "subject_id": m.subject_id,
                "estate_id": m.estate_id,
                "channel": m.channel,
                "route": m.route,
                "title": m.title,
                "body": m.body,
                "queued_at": m.queued_at,
            }
            for m in new
        ]
        try:
            for message, row_id in zip(new, store.notifications.queue(rows), strict=True):
                message.row_id = row_id
        except Exception:
            self.counters.record_errors += len(new)
            log.exception("could not write %d notifications as queued; delivering them anyway", len(new))

    def _take_up(self, store: HazardStore) -> None:
        """Take up what ``store`` says is owed (gateway/notify/recovery.py)."""
        with self._cond:
            live, attached_at = list(self._live), self._attached_at
        try:
            look = TakeUp(store, self.config, self.registry, attached_at, self.clock(), live, self._scrub)
            owed = look.owed()
        except Exception:
            log.exception("could not read the notifications owed; trying again in %.0f s", TAKE_UP_RETRY_S)
            with self._cond:
                if self._take_up_from is None:
                    self._take_up_from, self._take_up_at = store, time.monotonic() + TAKE_UP_RETRY_S
            return
        self._journal(owed.late)
        self._finish(owed.abandoned, "abandoned", live=False)
        self.counters.resumed += len(owed.resumed)
        self.counters.late += len(owed.late)
        self.counters.abandoned += len(owed.abandoned)
        self._hand_in(owed.resumed + owed.late)
        with self._cond:
            for alarm_id, due, data in owed.escalations:
                self._escalations.setdefault(alarm_id, (due, data))
        if owed.resumed or owed.late or owed.abandoned or owed.escalations:
            log.info(
                "notifications owed from before this start: %d resumed, %d alarms never pushed sent late, "
                "%d abandoned (see GET /api/notifications?state=abandoned), %d escalations scheduled",
                len(owed.resumed),
                len(owed.late),
                len(owed.abandoned),
                len(owed.escalations),
            )

    def _guarded(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:
            log.exception("notification job failed")

    # -- the worker threads -----------------------------------------------------------------------------

    def _deliver(self, group: list[Message]) -> None:
        """One delivery to one channel (several alarm messages combined when its limit held them back)."""
        try:
            if self._stopping:
                return  # stays queued in the store for the next start
            for message in group:
                message.attempts += 1
            url = group[0].url
            title, body = combined_text([(m.title, m.body) for m in group])
            ok, error = deliver(url, title, body)
            if ok:
                self.counters.sent += len(group)
                done = time.monotonic()
                self.counters.alarm_delivery_s.extend(done - m.made_at for m in group if m.alarm)
                self._finish(group, "sent")
                return
            failed = [m for m in group if not self._retry(m, error)]
            if failed:
                self.counters.failed += len(failed)
                log.warning(
                    "notification %s #%d to %s failed after %d tries: %s",
                    failed[0].kind,
                    failed[0].subject_id,
                    failed[0].channel,
                    failed[0].attempts,
                    error,
                )
                self._finish(failed, "failed")
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify()

    def _retry(self, message: Message, error: str) -> bool:
        """Schedule the next try of a failed delivery; False when it had its last."""
        message.error = error
        tries = len(message.retry_s) + 1
        if message.attempts >= tries:
            return False
        self.counters.retries += 1
        pause = message.retry_s[message.attempts - 1]
        with self._cond:
            heapq.heappush(self._retries, (time.monotonic() + pause, next(self._seq), message))
        log.info(
            "notification %s #%d to %s failed (try %d of %d, again in %.0f s): %s",
            message.kind,
            message.subject_id,
            message.channel,
            message.attempts,
            tries,
            pause,
            error,
        )
        return True

    def _hazard(self, kind: str, data: dict[str, Any]) -> None:
        """A hazard message to its party (or ``[notify] hazards``); an escalation with a level also to that
        level's addresses (a red item's, which is not overdue, only to them)."""
        red_item = kind == "hazard_overdue" and data.get("why") == "red"
        recipients = [] if red_item else for_hazard(self.store, self.config, data)
        if recipients:
            title, body = hazard_text(self.registry, kind, data)
            self._queue("hazard", kind, data, recipients, title, body)
        level = data.get("level")
        if kind == "hazard_overdue" and level:
            recipients = for_level(self.store, self.config, data["estate"], str(level))
            if recipients:
                title, body = hazard_text(self.registry, "hazard_escalated", data)
                self._queue("hazard", "hazard_escalated", data, recipients, title, body)

    def _check_escalation(self, alarm_id: int, data: dict[str, Any]) -> None:
        """Escalate the alarm if the store still has it open (nobody acknowledged it anywhere)."""
        store = self.store
        if store is not None:
            try:
                if store.alarms.get(alarm_id).state is not AlarmState.OPEN:
                    return
            except Exception:
                log.exception("could not read alarm %d before escalating it; escalating", alarm_id)
        self.counters.escalations += 1
        title, body = escalation_text(
            self.registry, data, self.config.escalate_after_s, self.config.control_room_phone
        )
        self._queue("alarm", "alarm_escalation", data, configured(self.config, "escalate"), title, body)

    def _finish(self, messages: list[Message], state: str, *, live: bool = True) -> None:
        """Write how ``messages`` ended: their queued rows finished, or rows of their own if they had none
        (``live``: they were in hand until now)."""
        if live:
            with self._cond:
                self._live.difference_update(messages)
        store = self.store
        if store is None or not messages:
            return
        sent_at = self.clock() if state == "sent" else None
        try:
            queued = [
                Outcome(m.row_id, state, m.attempts, sent_at, "" if state == "sent" else m.error)
                for m in messages
                if m.row_id is not None
            ]
            if queued:
                store.notifications.finish(queued)
            for m in messages:
                if m.row_id is None:
                    store.notifications.record(
                        kind=m.kind,
                        subject=m.subject,
                        subject_id=m.subject_id,
                        estate_id=m.estate_id,
                        channel=m.channel or self._scrub(m.url),
                        title=m.title,
                        body=m.body,
                        queued_at=m.queued_at,
                        sent_at=sent_at,
                        attempts=m.attempts,
                        state=state,
                        error="" if state == "sent" else m.error,
                        route=m.route,
                    )
        except Exception:
            self.counters.record_errors += len(messages)
            log.exception("could not record %d notifications as %s", len(messages), state)
