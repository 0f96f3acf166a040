"""The notifier: alarm and hazard changes in, messages to people out, off the event loop.

What goes where:

- a new alarm → every ``[notify] duty`` channel at once; still ``open`` (nobody acknowledged it)
  ``escalate_after_s`` after it arrived → every ``[notify] escalate`` channel (checked against the store
  first, so an acknowledgement made through another gateway counts too);
- a hazard dispatched (``dispatch``), overdue (``escalate``) or due for its re-check (``recheck_due``) →
  ``[notify] hazards`` (TODO: the party's own addresses once parties carry them).

How: ``on_update`` is called by the engine's outbox, on the event loop, for every hazard and alarm change
(``Outbox.listeners``); it only builds the messages and appends them to an in-memory queue under a lock,
which costs microseconds, so ingest and grading never wait for a delivery. A dispatcher thread hands them to
a pool of ``workers`` threads, alarms first; each delivery is one blocking Apprise call. A failed delivery
is tried again after the pauses of ``alarm_retry_s`` (alarms: 1 s, 3 s, so three tries well within 15 s)
or ``hazard_retry_s``, then recorded ``failed`` with Apprise's reason. Each message's end is one row of
``notifications`` (gateway/store/notifications.py), written from the worker thread.

The queue holds ``queue_size`` messages; when it is full the oldest hazard message is dropped (recorded
``dropped`` and counted), never an alarm: alarms are taken beyond the bound. Messages still queued when the
gateway stops are recorded ``abandoned``; a crash loses them without a record (the queue is in memory).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from gateway.casework.model import RuleUpdate
from gateway.config import NotifySection
from gateway.ingest.registry import Registry
from gateway.notify.channels import check, deliver, scrub
from gateway.notify.messages import alarm_text, escalation_text, hazard_text
from rules.lifecycle import AlarmState

if TYPE_CHECKING:
    from gateway.casework.engine import RuleEngine
    from gateway.store import HazardStore

log = logging.getLogger(__name__)

#: Hazard actions (``hazard_summary``'s ``action``) that make a message, and its kind.
HAZARD_ACTIONS = {
    "dispatch": "hazard_dispatched",
    "escalate": "hazard_overdue",
    "recheck_due": "hazard_recheck_due",
}


@dataclass(slots=True)
class Message:
    kind: str  # alarm / alarm_escalation / hazard_dispatched / hazard_overdue / hazard_recheck_due
    subject: str  # alarm / hazard
    subject_id: int
    estate_id: str
    url: str
    title: str
    body: str
    queued_at: datetime
    retry_s: list[float]
    attempts: int = 0
    error: str = ""

    @property
    def alarm(self) -> bool:
        return self.subject == "alarm"


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
    #: Seconds from queueing to delivery of the last alarm messages (for /metrics and the bench).
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
        self._alarms: deque[tuple[float, Message]] = deque()
        self._others: deque[tuple[float, Message]] = deque()
        #: (due on the monotonic clock, sequence, message): failed deliveries waiting for their next try.
        self._retries: list[tuple[float, int, Message]] = []
        self._seq = itertools.count()
        #: Alarm id → (when to escalate it on the gateway clock, its summary).
        self._escalations: dict[int, tuple[datetime, dict[str, Any]]] = {}
        #: Work for the pool that reads the store (who a hazard message goes to).
        self._jobs: list[Callable[[], None]] = []
        #: Messages to record from a worker (dropped ones: the loop never writes).
        self._to_record: list[Message] = []
        self._in_flight = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    # -- on the event loop ------------------------------------------------------------------------------

    def attach(self, engine: RuleEngine) -> None:
        """Take the hazard and alarm changes of ``engine`` (called again with each new engine under HA)."""
        self.store = engine.store
        if self.on_update not in engine.outbox.listeners:
            engine.outbox.listeners.append(self.on_update)

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
            self._queue("alarm", "alarm", data, self.config.duty, title, body)
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
        self, subject: str, kind: str, data: dict[str, Any], urls: list[str], title: str, body: str
    ) -> None:
        retry = self.config.alarm_retry_s if subject == "alarm" else self.config.hazard_retry_s
        now = self.clock()
        with self._cond:
            for url in urls:
                message = Message(
                    kind, subject, int(data["id"]), data["estate"], url, title, body, now, retry
                )
                self._put(message)
            self._cond.notify()

    def _put(self, message: Message) -> None:
        """Under the lock: queue ``message``, dropping the oldest hazard message when the queue is full."""
        if len(self._alarms) + len(self._others) >= self.config.queue_size:
            if self._others:
                dropped = self._others.popleft()[1]
            elif not message.alarm:
                dropped = message
            else:
                dropped = None  # only alarms queued: an alarm is never dropped
            if dropped is not None:
                dropped.error = f"dropped: the queue was full ({self.config.queue_size} messages)"
                self.counters.dropped += 1
                self._to_record.append(dropped)
                if dropped is message:
                    return
        self.counters.queued += 1
        (self._alarms if message.alarm else self._others).append((time.monotonic(), message))

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._pool = ThreadPoolExecutor(self.config.workers, thread_name_prefix="notify")
        self._thread = threading.Thread(target=self._dispatch, name="notify-dispatch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages from the queue, let deliveries under way end, record the rest abandoned."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        with self._cond:
            left = (
                [m for _, m in self._alarms] + [m for _, m in self._others] + [m for *_, m in self._retries]
            )
            self._alarms.clear()
            self._others.clear()
            self._retries.clear()
            left += self._to_record
            self._to_record.clear()
        for message in left:
            if not message.error.startswith("dropped"):
                message.error = "abandoned: the gateway stopped before it was sent" + (
                    f" (last error: {message.error})" if message.error else ""
                )
            self._record(message, sent=False)

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
            jobs: list[Callable[[], None]] = []
            with self._cond:
                if self._stopping:
                    return
                now = time.monotonic()
                while self._retries and self._retries[0][0] <= now:
                    _, _, message = heapq.heappop(self._retries)
                    (self._alarms if message.alarm else self._others).appendleft((now, message))
                if self._escalations:
                    gateway_now = self.clock()
                    for alarm_id, (due, data) in list(self._escalations.items()):
                        if gateway_now >= due:
                            del self._escalations[alarm_id]
                            jobs.append(lambda a=alarm_id, d=data: self._check_escalation(a, d))  # type: ignore[misc]
                if self._jobs:
                    jobs.extend(self._jobs)
                    self._jobs.clear()
                if self._to_record:
                    jobs.extend(partial(self._record, m, sent=False) for m in self._to_record)
                    self._to_record = []
                while self._in_flight < self.config.workers and (self._alarms or self._others):
                    _, message = (self._alarms or self._others).popleft()
                    self._in_flight += 1
                    jobs.append(lambda m=message: self._deliver(m))  # type: ignore[misc]
                if not jobs:
                    wait = 0.2
                    if self._retries:
                        wait = max(0.0, min(wait, self._retries[0][0] - now))
                    self._cond.wait(wait)
                    continue
            pool = self._pool
            for job in jobs:
                if pool is not None:
                    pool.submit(self._guarded, job)

    def _guarded(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:
            log.exception("notification job failed")

    # -- the worker threads -----------------------------------------------------------------------------

    def _deliver(self, message: Message) -> None:
        try:
            message.attempts += 1
            started = time.monotonic()
            ok, error = deliver(message.url, message.title, message.body)
            if ok:
                self.counters.sent += 1
                if message.alarm:
                    self.counters.alarm_delivery_s.append(time.monotonic() - started)
                self._record(message, sent=True)
                return
            message.error = error
            tries = len(message.retry_s) + 1
            if message.attempts < tries:
                self.counters.retries += 1
                pause = message.retry_s[message.attempts - 1]
                with self._cond:
                    heapq.heappush(self._retries, (time.monotonic() + pause, next(self._seq), message))
                log.info(
                    "notification %s #%d to %s failed (try %d of %d, again in %.0f s): %s",
                    message.kind,
                    message.subject_id,
                    scrub(message.url),
                    message.attempts,
                    tries,
                    pause,
                    error,
                )
                return
            self.counters.failed += 1
            log.warning(
                "notification %s #%d to %s failed after %d tries: %s",
                message.kind,
                message.subject_id,
                scrub(message.url),
                message.attempts,
                error,
            )
            self._record(message, sent=False)
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify()

    def _hazard(self, kind: str, data: dict[str, Any]) -> None:
        """A hazard message to the channels of its party (the one it was dispatched to), or else to
        ``[notify] hazards``."""
        urls: list[str] = []
        store = self.store
        parties = getattr(store, "parties", None)
        if store is not None and parties is not None:
            try:
                party_id = data.get("party_id", store.hazards.get(int(data["id"])).party_id)
                if party_id is not None:
                    urls = [u for u in parties.get(int(party_id)).channels if check(u)]
            except Exception:
                log.exception("could not read the party of hazard %s; using [notify] hazards", data.get("id"))
        urls = urls or self.config.hazards
        if urls:
            title, body = hazard_text(self.registry, kind, data)
            self._queue("hazard", kind, data, urls, title, body)

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
        self._queue("alarm", "alarm_escalation", data, self.config.escalate, title, body)

    def _record(self, message: Message, *, sent: bool) -> None:
        store = self.store
        if store is None:
            return
        if sent:
            state = "sent"
        elif message.error.startswith("dropped"):
            state = "dropped"
        elif message.error.startswith("abandoned"):
            state = "abandoned"
        else:
            state = "failed"
        try:
            store.notifications.record(
                kind=message.kind,
                subject=message.subject,
                subject_id=message.subject_id,
                estate_id=message.estate_id,
                channel=scrub(message.url),
                title=message.title,
                body=message.body,
                queued_at=message.queued_at,
                sent_at=self.clock() if sent else None,
                attempts=message.attempts,
                state=state,
                error="" if sent else message.error,
            )
        except Exception:
            self.counters.record_errors += 1
            log.exception("could not record notification %s #%d", message.kind, message.subject_id)
