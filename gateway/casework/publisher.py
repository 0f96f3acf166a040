"""Outbound MQTT: each estate's grade as a retained message, hazard changes and alarms as events.

Topics (``prefix`` is ``rules.topic_prefix``, default ``firegw``)::

    {prefix}/estates/{estate}/grade     retained, QoS 1: the current grade with reasons (JSON)
    {prefix}/estates/{estate}/hazards   QoS 1: a hazard opened, changed or closed
    {prefix}/estates/{estate}/alarms    QoS 1: an alarm raised or stepped

The rule engine calls ``retain``/``event`` synchronously and never waits for the broker. Grades coalesce:
only the latest per estate is kept until it is sent, so an outage costs nothing but time and the broker ends
up with the current grade of every estate. Events wait in a bounded queue; when it is full the oldest is
dropped and counted (the same facts are in the hazard store and InfluxDB, which are the records).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections import deque
from typing import Any

import aiomqtt

from collectors.backoff import Backoff
from collectors.mqtt.config import MqttConfig

log = logging.getLogger(__name__)


def grade_topic(prefix: str, estate_id: str) -> str:
    return f"{prefix}/estates/{estate_id}/grade"


class MqttPublisher:
    #: Messages sent before their acknowledgements are awaited (paho's in-flight window for this client).
    BATCH = 100

    def __init__(self, config: MqttConfig, *, client_id: str, max_events: int = 10_000) -> None:
        self.config = config
        self.client_id = client_id
        self._retained: dict[str, bytes] = {}
        self._events: deque[tuple[str, bytes]] = deque()
        self._max_events = max_events
        self._wake = asyncio.Event()
        self.published = 0
        self.dropped = 0
        self.connected = False

    def retain(self, topic: str, payload: dict[str, Any]) -> None:
        self._retained[topic] = _encode(payload)
        self._wake.set()

    def event(self, topic: str, payload: dict[str, Any]) -> None:
        if len(self._events) >= self._max_events:
            self._events.popleft()
            self.dropped += 1
        self._events.append((topic, _encode(payload)))
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._retained) + len(self._events)

    async def run(self) -> None:
        """Connect, send what is pending, wait for more; reconnect forever with jittered back-off."""
        cfg = self.config
        backoff = Backoff(initial_s=cfg.backoff_initial_s, max_s=cfg.backoff_max_s)
        while True:
            try:
                async with aiomqtt.Client(
                    cfg.host,
                    cfg.port,
                    username=cfg.username,
                    password=cfg.password.get_secret_value() if cfg.password else None,
                    identifier=self.client_id,
                    keepalive=cfg.keepalive_s,
                    tls_context=cfg.tls_context(),
                    max_inflight_messages=self.BATCH,
                ) as client:
                    client.pending_calls_threshold = self.BATCH + 1  # aiomqtt warns above this many
                    self.connected = True
                    backoff.reset()
                    log.info("publishing grades and events to %s:%d", cfg.host, cfg.port)
                    await self._send_forever(client)
            except aiomqtt.MqttError as exc:
                self.connected = False
                delay = backoff.next_delay()
                log.warning("MQTT publisher: %s; retrying in %.1f s (%d pending)", exc, delay, self.pending)
                await asyncio.sleep(delay)

    async def _send_forever(self, client: aiomqtt.Client) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._retained or self._events:
                await self._send_batch(client)

    async def _send_batch(self, client: aiomqtt.Client) -> None:
        """Send up to ``BATCH`` pending messages (grades first) and await their PUBACKs together.

        One broker round trip per batch instead of one per message: on a gateway busy ingesting, every
        round trip costs event-loop turns, and awaiting them one by one made grades and alarms queue up
        behind each other (bench/rules_bench.py). paho sends them in this order.
        """
        retained = list(itertools.islice(self._retained.items(), self.BATCH))
        events = list(itertools.islice(self._events, self.BATCH - len(retained)))
        results = await asyncio.gather(
            *(client.publish(topic, payload, qos=1, retain=True) for topic, payload in retained),
            *(client.publish(topic, payload, qos=1) for topic, payload in events),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        for (topic, payload), result in zip(retained, results, strict=False):
            if result is None:
                # Only forget it if no newer grade for the estate arrived while we were sending.
                if self._retained.get(topic) is payload:
                    del self._retained[topic]
                self.published += 1
        for item, result in zip(events, results[len(retained) :], strict=True):
            if result is not None:
                break  # this one and the rest are sent again after the reconnect (QoS 1: at least once)
            if self._events and self._events[0] is item:  # (unless dropped meanwhile as the oldest)
                self._events.popleft()
            self.published += 1
        if errors:
            raise errors[0]


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()
