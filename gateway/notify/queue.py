"""The messages waiting to be delivered, per channel: alarms before hazard messages, each channel within
its service's rate limit, the whole bounded.

A channel is one address (an Apprise URL). Chinese group bots take few messages a minute (WeCom and
DingTalk 20; DingTalk then refuses for 10 minutes), so a channel with a limit (``[notify] rate_per_minute``
by URL scheme) starts at most that many deliveries in any 60 s. Within it:

- alarms go first: every alarm waiting for a limited channel leaves in one delivery, as one message of
  several lines (up to ``COMBINE_MAX_BYTES``; the rest in the next);
- the first half of the minute's deliveries go out at once; after that the channel is paced, one delivery
  per ``60 / limit`` s (3 s for 20 a minute), so that a long burst of alarms never finds it spent: each
  alarm waits at most a few seconds, combined with those that arrived meanwhile, instead of a minute;
- hazard messages leave ``alarm_reserve`` of the minute to alarms: a hazard message waits (it is never
  dropped for the limit) while only the reserve is left;
- channels take turns: one busy channel never holds back another.

The bound (``queue_size``) counts every waiting message; a message beyond it drops the oldest hazard
message (the caller records it ``dropped``), never an alarm. Not thread-safe: the notifier calls it under
its lock.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

#: The window of a channel's rate limit.
WINDOW_S = 60.0
#: A combined alarm message stays within the strictest text limit of the group bots (WeCom: 2,048 bytes).
COMBINE_MAX_BYTES = 2000


@dataclass(slots=True, eq=False)
class Message:
    """One message to one channel, from its queueing to the end of its delivery."""

    kind: str  # alarm / alarm_escalation / hazard_dispatched / hazard_overdue / hazard_escalated / ...
    subject: str  # alarm / hazard
    subject_id: int
    estate_id: str
    #: Where the address came from (gateway/notify/routes.py), kept with the row to find it again.
    route: str
    url: str
    title: str
    body: str
    queued_at: datetime
    retry_s: list[float]
    attempts: int = 0
    error: str = ""
    #: Its row in ``notifications`` once written ``queued`` (None until then, or if that write failed).
    row_id: int | None = None
    #: The URL scrubbed of its secrets (``channels.scrub``), filled in off the event loop.
    channel: str = ""
    #: When it was made, and when it entered the queue (monotonic), and its place in the order of arrival.
    made_at: float = field(default_factory=time.monotonic)
    put_at: float = 0.0
    seq: int = 0
    #: Counted as held back by its channel's rate limit.
    held: bool = False

    @property
    def alarm(self) -> bool:
        return self.subject == "alarm"


@dataclass(slots=True)
class Channel:
    url: str
    limit: int | None
    alarms: deque[Message] = field(default_factory=deque)
    others: deque[Message] = field(default_factory=deque)
    #: Deliveries started within the last ``WINDOW_S`` (monotonic), oldest first.
    starts: deque[float] = field(default_factory=deque)
    #: The last time a waiting message found the channel at its limit.
    held_at: float = -math.inf

    def free(self, now: float) -> int | None:
        """Deliveries it may start now (None: no limit)."""
        if self.limit is None:
            return None
        while self.starts and self.starts[0] <= now - WINDOW_S:
            self.starts.popleft()
        return self.limit - len(self.starts)

    def holds(self, now: float, free: int, reserve: int) -> bool:
        """Whether a delivery must wait: no slot beyond ``reserve``, or the pace of the minute's second half
        (one per ``WINDOW_S / limit``) not yet allowing the next."""
        if free <= reserve:
            return True
        assert self.limit is not None
        return free <= self.limit // 2 and bool(self.starts) and now - self.starts[-1] < WINDOW_S / self.limit

    def next_change(self, now: float) -> float | None:
        """When a held delivery may be allowed: a slot frees, or the pace allows the next."""
        if self.limit is None or not self.starts:
            return None
        times = (self.starts[0] + WINDOW_S, self.starts[-1] + WINDOW_S / self.limit)
        future = [t for t in times if t > now]
        return min(future) if future else None

    def waiting(self) -> bool:
        return bool(self.alarms or self.others)


@dataclass(slots=True)
class QueueCounters:
    #: Messages that waited for their channel's rate limit (alarms among them).
    rate_limited: int = 0
    rate_limited_alarms: int = 0
    #: Alarm messages sent together with others in one delivery.
    combined: int = 0


class ChannelQueues:
    def __init__(
        self,
        limit_of: Callable[[str], int | None],
        size: int,
        alarm_reserve: float,
        counters: QueueCounters | None = None,
    ) -> None:
        self._limit_of = limit_of
        self.size = size
        self.alarm_reserve = alarm_reserve
        self.counters = counters if counters is not None else QueueCounters()
        self._channels: dict[str, Channel] = {}
        self._seq = itertools.count()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Message]:
        for channel in self._channels.values():
            yield from channel.alarms
            yield from channel.others

    def waiting_alarms(self) -> int:
        return sum(len(c.alarms) for c in self._channels.values())

    def _channel(self, url: str) -> Channel:
        channel = self._channels.get(url)
        if channel is None:
            channel = self._channels[url] = Channel(url, self._limit_of(url))
        return channel

    def put(self, message: Message, now: float, *, again: bool = False) -> Message | None:
        """Queue ``message`` (``again``: a retry, at the head of its channel's line); returns the message
        dropped to keep the bound (the oldest hazard message, or this one), if any."""
        dropped: Message | None = None
        if self._count >= self.size:
            dropped = self._oldest_other() or (None if message.alarm else message)
            if dropped is message:
                return message
            if dropped is not None:
                self._channels[dropped.url].others.popleft()
                self._count -= 1
        if not again:
            message.put_at, message.seq = now, next(self._seq)
        line = self._channel(message.url)
        lane = line.alarms if message.alarm else line.others
        lane.appendleft(message) if again else lane.append(message)
        self._count += 1
        return dropped

    def _oldest_other(self) -> Message | None:
        heads = [c.others[0] for c in self._channels.values() if c.others]
        return min(heads, key=lambda m: m.seq) if heads else None

    def take(self, now: float, capacity: int) -> list[list[Message]]:
        """Up to ``capacity`` deliveries that may start now, each a list of messages to one channel (more
        than one only for alarms combined): every channel's alarms first, then hazard messages."""
        deliveries: list[list[Message]] = []
        for alarms in (True, False):
            progress = True
            while progress and len(deliveries) < capacity:
                progress = False
                lines = [c for c in self._channels.values() if (c.alarms if alarms else c.others)]
                lines.sort(key=lambda c: (c.alarms if alarms else c.others)[0].seq)
                for line in lines:
                    if len(deliveries) >= capacity:
                        break
                    group = self._next(line, now, alarms)
                    if group:
                        deliveries.append(group)
                        progress = True
        return deliveries

    def _next(self, line: Channel, now: float, alarms: bool) -> list[Message]:
        """The next delivery of ``line``'s alarms (or hazard messages), if its limit lets one start now."""
        free = line.free(now)
        lane = line.alarms if alarms else line.others
        if free is not None and line.limit is not None:
            reserve = 0 if alarms else int(line.limit * self.alarm_reserve)
            if line.holds(now, free, reserve):
                line.held_at = now
                self._count_held(lane[0])
                return []
        group = [lane.popleft()]
        if alarms and free is not None:
            # A limited channel: every alarm waiting goes in this one message.
            size = len(group[0].body.encode())
            while lane and size + len(lane[0].body.encode()) + 1 <= COMBINE_MAX_BYTES:
                size += len(lane[0].body.encode()) + 1
                group.append(lane.popleft())
            if len(group) > 1:
                self.counters.combined += len(group)
        self._count -= len(group)
        if free is not None:
            line.starts.append(now)
        for message in group:
            if line.held_at >= message.put_at:
                self._count_held(message)
        if not line.waiting() and free is None:
            del self._channels[line.url]  # an unlimited channel keeps no state between messages
        return group

    def _count_held(self, message: Message) -> None:
        if not message.held:
            message.held = True
            self.counters.rate_limited += 1
            self.counters.rate_limited_alarms += message.alarm

    def next_free_in(self, now: float) -> float | None:
        """Seconds until a channel holding messages back for its limit may start one again."""
        times = [
            t
            for line in self._channels.values()
            if line.waiting() and line.held_at >= now - WINDOW_S
            if (t := line.next_change(now)) is not None
        ]
        return max(0.0, min(times) - now) if times else None

    def drain(self) -> list[Message]:
        """Every waiting message, taken out (at a stop)."""
        left = list(self)
        self._channels.clear()
        self._count = 0
        return left
