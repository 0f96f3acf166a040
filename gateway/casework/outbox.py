"""Where the casework's results go out: telemetry points, live updates, MQTT events.

A hazard or alarm change made inside a store batch is announced only once the batch is committed, so that
nothing is announced that the store does not hold: ``hold`` collects the announcements, and the engine runs
or drops them when the batch ends. Points wait in ``points`` until ``RuleEngine.run`` hands them to the
telemetry sink (the rule hook is synchronous); ``wake`` tells it there are some.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from gateway.casework.model import RuleUpdate
from gateway.casework.publisher import MqttPublisher, grade_topic
from gateway.ingest.pipeline import Broadcast
from gateway.ingest.sinks.base import Point

log = logging.getLogger(__name__)


class Outbox:
    def __init__(self, publisher: MqttPublisher | None, topic_prefix: str) -> None:
        self.publisher = publisher
        self.topic_prefix = topic_prefix
        self.updates: Broadcast[RuleUpdate] = Broadcast()
        #: Points for the telemetry store, drained by ``RuleEngine.run``.
        self.points: list[Point] = []
        self.points_ready = asyncio.Event()
        #: Inside a store batch: the hazard and alarm changes to announce once it is committed.
        self.held: list[Callable[[], None]] | None = None
        self._last_event_time: datetime | None = None
        #: Called on the event loop with each hazard and alarm change (the notifier, gateway/notify): each
        #: must only queue what it needs and return at once; an exception from one is logged and ignored.
        self.listeners: list[Callable[[RuleUpdate], None]] = []

    def wake(self) -> None:
        self.points_ready.set()

    def announce(self, announce: Callable[[], None]) -> None:
        """Announce a hazard or alarm change now or, inside a store batch, once the batch is committed."""
        if self.held is None:
            announce()
        else:
            self.held.append(announce)

    def event_time(self, now: datetime) -> datetime:
        """``now``, or 1 µs after the previous hazard/alarm point: two transitions in the same instant (a
        drop and a low-pressure hazard closing in one tick) would otherwise be one point in InfluxDB, whose
        series are keyed by tags and time, and a count of transitions would lose one."""
        if self._last_event_time is not None and now <= self._last_event_time:
            now = self._last_event_time + timedelta(microseconds=1)
        self._last_event_time = now
        return now

    def event(self, kind: str, estate_id: str, now: datetime, data: dict[str, Any]) -> None:
        """A hazard or alarm change: to the live view and as an MQTT event."""
        update = RuleUpdate(kind, estate_id, now, data)
        self.updates.publish(update)
        if self.publisher is not None:
            self.publisher.event(f"{self.topic_prefix}/estates/{estate_id}/{kind}s", data)
        for listener in self.listeners:
            try:
                listener(update)
            except Exception:
                log.exception("a listener of the outbox failed on a %s change", kind)

    def grade(self, estate_id: str, now: datetime, payload: dict[str, Any]) -> None:
        """A changed grade: to the live view and as the estate's retained MQTT message."""
        self.updates.publish(RuleUpdate("grade", estate_id, now, payload))
        if self.publisher is not None:
            self.publisher.retain(grade_topic(self.topic_prefix, estate_id), payload)
