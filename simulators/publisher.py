"""Getting simulated messages onto an MQTT broker, the way scenarios do: a resilient async publisher.

``MqttPublisher`` is asyncio, built on aiomqtt 2.5, QoS 1 by default, and it keeps reconnecting with capped,
jittered exponential back-off, so a broker restart in the middle of a soak test costs a pause, not the run
(publishes wait for the connection and are retried: at-least-once). Benchmarks use ``simulators.burst``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from types import TracebackType

import aiomqtt

log = logging.getLogger(__name__)


class MqttPublisher:
    """An always-reconnecting async MQTT publisher (aiomqtt 2.5 on paho-mqtt 2.x).

    Use as ``async with MqttPublisher(host, port) as pub: await pub.publish(topic, payload)``.
    ``publish`` returns once the broker acknowledged the message (QoS 1) or it was written (QoS 0); while
    the connection is down it waits for the reconnect and tries again.
    """

    def __init__(
        self,
        host: str,
        port: int = 1883,
        client_id: str | None = None,
        qos: int = 1,
        *,
        keepalive: int = 30,
        max_inflight: int = 1000,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        publish_timeout_s: float = 30.0,
        connect_timeout_s: float | None = None,
    ) -> None:
        if qos not in (0, 1, 2):
            raise ValueError(f"qos must be 0, 1 or 2, got {qos}")
        self.host = host
        self.port = port
        # A fixed id per publisher: a reconnect replaces the old session instead of leaving a ghost.
        self.client_id = client_id or f"firegw-sim-{uuid.uuid4().hex[:12]}"
        self.qos = qos
        self.keepalive = keepalive
        self.max_inflight = max_inflight
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.publish_timeout_s = publish_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.published = 0
        self.retries = 0
        self.connects = 0
        self.last_error: str = ""
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def reconnects(self) -> int:
        """Connections made after the first one."""
        return max(0, self.connects - 1)

    async def start(self, *, wait: bool = True) -> None:
        """Start the connection supervisor; with ``wait``, return once connected (``connect_timeout_s``)."""
        if self._task is None:
            self._closing.clear()
            self._task = asyncio.create_task(self._supervise(), name=f"mqtt-publisher-{self.client_id}")
        if wait:
            await asyncio.wait_for(self._wait_connected(), timeout=self.connect_timeout_s)

    async def close(self) -> None:
        """Disconnect and stop reconnecting."""
        self._closing.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task
        self._connected.clear()

    async def __aenter__(self) -> MqttPublisher:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def backoff(self, attempt: int) -> float:
        """Capped exponential back-off with jitter (50-100 %), so many simulators do not reconnect in step."""
        ceiling = min(self.backoff_max_s, self.backoff_initial_s * float(2 ** min(attempt, 30)))
        return ceiling * random.uniform(0.5, 1.0)

    async def _supervise(self) -> None:
        attempt = 0
        while not self._closing.is_set():
            client = aiomqtt.Client(
                self.host,
                self.port,
                identifier=self.client_id,
                keepalive=self.keepalive,
                max_inflight_messages=self.max_inflight,
                timeout=self.publish_timeout_s,
            )
            # aiomqtt logs a warning per publish once more than 10 are pending; a window of hundreds of
            # concurrent QoS 1 publishes is the normal state here.
            client.pending_calls_threshold = 1 << 30
            try:
                async with client:
                    self._client = client
                    self.connects += 1
                    attempt = 0
                    self._connected.set()
                    log.info("connected to MQTT broker %s:%s as %s", self.host, self.port, self.client_id)
                    try:
                        # Nothing is subscribed; the iterator only ends (MqttError) when the connection drops.
                        async for _ in client.messages:
                            pass
                    finally:
                        self._connected.clear()
                        self._client = None
            except aiomqtt.MqttError as exc:
                self.last_error = str(exc)
                log.warning("MQTT connection to %s:%s lost/failed: %s", self.host, self.port, exc)
            if self._closing.is_set():
                break
            delay = self.backoff(attempt)
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), timeout=delay)

    async def _wait_connected(self) -> aiomqtt.Client:
        while True:
            await self._connected.wait()
            client = self._client
            if client is not None:
                return client
            await asyncio.sleep(0.01)

    async def publish(self, topic: str, payload: bytes, qos: int | None = None, retain: bool = False) -> None:
        """Publish, waiting out disconnections; raises only if the publisher is closed."""
        level = self.qos if qos is None else qos
        while True:
            if self._closing.is_set() or self._task is None:
                raise RuntimeError("MqttPublisher is closed")
            client = await self._wait_connected()
            try:
                await client.publish(topic, payload, qos=level, retain=retain, timeout=self.publish_timeout_s)
            except aiomqtt.MqttError as exc:
                self.retries += 1
                self.last_error = str(exc)
                # Wait until the supervisor notices the drop (or the broker was only slow), then retry.
                await asyncio.sleep(0.05)
                continue
            self.published += 1
            return
