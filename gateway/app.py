"""Assembling the gateway from its configuration, and running it under a supervisor.

Everything runs on one event loop inside one ``asyncio.TaskGroup``. Each long-running part (MQTT collector,
Modbus poller, sink drain, dead-letter writer, stats writer, rule engine ticks, outbound MQTT publisher, the
HTTP API) is a named task wrapped by ``supervise``: if it
raises, the crash is logged and counted and the task is restarted after a back-off, so one bug can never
silently end ingestion. Cancelling ``run`` (Ctrl-C) stops the tasks and flushes the sink; what could not be
written stays in the durable buffer for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime

import uvicorn

from collectors.backoff import Backoff
from collectors.modbus.poller import ModbusPoller
from collectors.mqtt import MqttCollector
from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.casework.engine import RuleEngine
from gateway.casework.publisher import MqttPublisher
from gateway.config import GatewayConfig, InfluxV1, InfluxV2, SqliteStorage
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import LiveFeed, Pipeline, RulesHook
from gateway.ingest.registry import Registry, load_registry
from gateway.ingest.schema import STATS_MEASUREMENT, time_ns
from gateway.ingest.sinks.base import FieldValue, Point, TelemetrySink
from gateway.ingest.sinks.buffer import DurableBuffer
from gateway.ingest.sinks.buffered import BufferedSink
from gateway.ingest.sinks.influx import InfluxV1Sink, InfluxV2Sink
from gateway.ingest.sinks.sqlite import SqliteSink
from gateway.ingest.stats import GatewayStats
from gateway.models import utc_now
from gateway.store import HazardStore
from rules.policy import load_policy

log = logging.getLogger(__name__)


def build_sink(config: GatewayConfig, deadletters: DeadLetterStore) -> TelemetrySink:
    storage = config.storage
    if isinstance(storage, SqliteStorage):
        return SqliteSink(storage.path)
    inner: InfluxV1Sink | InfluxV2Sink
    if isinstance(storage, InfluxV1):
        inner = InfluxV1Sink(
            storage.url,
            storage.database,
            username=storage.username,
            password=storage.password.get_secret_value() if storage.password else None,
            retention_policy=storage.retention_policy,
        )
    elif isinstance(storage, InfluxV2):
        inner = InfluxV2Sink(storage.url, storage.org, storage.bucket, storage.token.get_secret_value())
    else:  # pragma: no cover - the discriminated union has no other members
        raise TypeError(f"unknown storage {storage!r}")
    buf = config.buffer
    buffer = DurableBuffer(
        config.gateway.data_dir / "buffer", max_bytes=buf.max_bytes, segment_bytes=buf.segment_bytes
    )

    def dead_letter(body: bytes, error: Exception) -> None:
        deadletters.add(
            source="sink",
            reason="sink_rejected",
            detail=f"{inner.name} refused a batch permanently: {error}",
            payload=body,
        )

    return BufferedSink(
        inner,
        buffer,
        batch_max_points=buf.batch_max_points,
        flush_interval_s=buf.flush_interval_s,
        backoff_max_s=buf.backoff_max_s,
        on_dead_letter=dead_letter,
    )


def build_engine(config: GatewayConfig, registry: Registry, clock: Callable[[], datetime]) -> RuleEngine:
    """The rule layer as configured: policy file, hazard store, outbound MQTT."""
    rules = config.rules
    store_url = rules.store_url or f"sqlite:///{config.gateway.data_dir / 'hazards.sqlite'}"
    publisher = None
    if rules.publish:
        publisher = MqttPublisher(config.mqtt, client_id=f"{config.mqtt.client_id}-publisher")
    return RuleEngine(
        registry,
        load_policy(rules.policy),
        HazardStore(store_url),
        clock=clock,
        publisher=publisher,
        topic_prefix=rules.topic_prefix,
        grade_repeat_s=rules.grade_repeat_s,
        store_sync_s=(
            rules.store_sync_s
            if rules.store_sync_s is not None
            else (0.0 if store_url.startswith("sqlite") else 30.0)
        ),
        redo_path=config.gateway.data_dir / "rules-redo.json",
    )


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside the gateway's TaskGroup: Ctrl-C belongs to the gateway, which cancels everything."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        registry: Registry | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        rules: RulesHook | None = None,
    ) -> None:
        self.config = config
        self.registry = registry or load_registry(config.gateway.registry)
        config.gateway.data_dir.mkdir(parents=True, exist_ok=True)
        self.stats = GatewayStats()
        self.deadletters = DeadLetterStore(
            config.gateway.data_dir / "dead_letters.sqlite", max_rows=config.dead_letters.max_rows
        )
        self.sink = build_sink(config, self.deadletters)
        self.live = LiveFeed()
        self.clock = clock
        self.engine: RuleEngine | None = None
        self.publisher: MqttPublisher | None = None
        if rules is None and config.rules.enabled:
            rules = self.engine = build_engine(config, self.registry, clock)
            self.publisher = self.engine.outbox.publisher
        #: Accounts for the API and UI, in the hazard store's database (None: accounts disabled or no API).
        self.auth: AuthService | None = None
        if config.api.enabled and config.auth.enabled:
            auth_store = (
                AuthStore(self.engine.store.engine)
                if self.engine is not None
                else AuthStore.open(config.hazard_store_url())
            )
            self.auth = AuthService.from_config(config.auth, auth_store)
        self.pipeline = Pipeline(
            self.registry,
            self.sink,
            self.deadletters,
            stats=self.stats,
            live=self.live,
            rules=rules,
            clock=clock,
            clock_ahead_max_s=config.gateway.device_clock_ahead_max_s,
            device_time_floor=config.gateway.device_time_floor,
        )
        self.mqtt = MqttCollector(config.mqtt, self.pipeline)
        modbus_devices = self.registry.modbus_devices()
        self.modbus: ModbusPoller | None = None
        if config.modbus.enabled and modbus_devices:
            self.modbus = ModbusPoller(
                modbus_devices,
                self.pipeline,
                clock=clock,
                request_timeout_s=config.modbus.request_timeout_s,
                retries=config.modbus.retries,
                backoff_max_s=config.modbus.backoff_max_s,
            )
        self.ready = asyncio.Event()
        self.api_ready = asyncio.Event()
        self.api_port: int | None = None

    async def run(self) -> None:
        """Run every part until cancelled; on the way out, flush the sink and the dead-letter store."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.supervise("mqtt", self.mqtt.run), name="mqtt")
                if self.modbus is not None:
                    group.create_task(self.supervise("modbus", self.modbus.run), name="modbus")
                if isinstance(self.sink, BufferedSink):
                    group.create_task(self.supervise("sink", self.sink.run), name="sink")
                group.create_task(self.supervise("dead_letters", self.deadletters.run), name="dead_letters")
                group.create_task(self.supervise("stats", self._write_stats), name="stats")
                if self.engine is not None:
                    engine = self.engine
                    tick = self.config.rules.tick_interval_s
                    group.create_task(
                        self.supervise("rules", lambda: engine.run(self.sink.write, tick)), name="rules"
                    )
                if self.publisher is not None:
                    group.create_task(self.supervise("publisher", self.publisher.run), name="publisher")
                if self.config.api.enabled:
                    group.create_task(self.supervise("api", self._serve_api), name="api")
                group.create_task(self._mark_ready(), name="ready")
        finally:
            await self.close()

    async def _mark_ready(self) -> None:
        await self.mqtt.wait_connected()
        self.ready.set()

    async def _serve_api(self) -> None:
        """Serve the HTTP API on this event loop; ``api_port`` says where once it listens (port 0 = any)."""
        from gateway.api import ApiServices, create_app
        from gateway.ingest.telemetry_query import reader_for

        app = create_app(
            ApiServices(
                registry=self.registry,
                pipeline=self.pipeline,
                engine=self.engine,
                deadletters=self.deadletters,
                clock=self.clock,
                telemetry=reader_for(self.config),
                uploads_dir=self.config.gateway.data_dir / "uploads",
                auth=self.auth,
            )
        )
        app.state.reports = self.config.reports  # placard hotline and font (gateway/api/routers/reports.py)
        api = self.config.api
        server = _EmbeddedServer(
            uvicorn.Config(app, host=api.host, port=api.port, log_level="warning", lifespan="off")
        )
        serving = asyncio.create_task(server.serve(), name="api-serve")
        try:
            while not server.started:
                if serving.done():
                    # uvicorn logs the cause and calls sys.exit(1) when it cannot bind: turn that into an
                    # error the supervisor counts and retries, instead of ending the whole gateway.
                    with contextlib.suppress(SystemExit):
                        await serving
                    raise OSError(
                        f"the API could not listen on {api.host}:{api.port} (port in use?); "
                        "set [api] port to a free one, or [api] enabled = false"
                    )
                await asyncio.sleep(0.05)
            self.api_port = server.servers[0].sockets[0].getsockname()[1]
            log.info("API on http://%s:%d/docs", api.host, self.api_port)
            if self.auth is None:
                log.warning(
                    "accounts are disabled ([auth] enabled = false): anyone who can reach %s:%d reads and "
                    "changes every estate with fire-brigade rights; use this only on a closed network",
                    api.host,
                    self.api_port,
                )
            self.api_ready.set()
            await serving
        finally:
            server.should_exit = True
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(serving, 5)

    async def close(self) -> None:
        try:
            await self.sink.close()
        finally:
            self.deadletters.close()
            if self.engine is not None:
                self.engine.store.close()
            if self.auth is not None:
                self.auth.store.close()

    async def supervise(self, name: str, target: Callable[[], Awaitable[None]]) -> None:
        """Keep ``target`` running: restart it after a crash, counting and logging each restart."""
        backoff = Backoff(initial_s=0.5, max_s=30.0)
        while True:
            try:
                await target()
                return  # a part that finishes on its own is done (e.g. no work configured)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.stats.task_restarts[name] += 1
                delay = backoff.next_delay()
                log.exception(
                    "task %s crashed (restart #%d in %.1f s)", name, self.stats.task_restarts[name], delay
                )
                await asyncio.sleep(delay)

    def stats_fields(self) -> dict[str, FieldValue]:
        """Counters as they are written to ``gateway_stats`` (and shown by the demo summary)."""
        s = self.stats
        fields: dict[str, FieldValue] = {
            "records_in": float(s.records_in),
            "readings": float(s.readings),
            "events": float(s.events),
            "priority_events": float(s.priority_events),
            "rejects": float(s.rejects_total),
            "seq_gaps": float(s.seq_gaps),
            "seq_missing": float(s.seq_missing),
            "clock_corrected": float(s.clock_corrected),
            "task_restarts": float(sum(s.task_restarts.values())),
            "mqtt_connected": self.mqtt.stats.connected,
            "mqtt_messages": float(self.mqtt.stats.messages),
            "mqtt_batches": float(self.mqtt.stats.batches),
            "dead_letters_evicted": float(self.deadletters.evicted),
            "live_feed_dropped": float(self.live.dropped),
        }
        for reason, count in s.rejects.items():
            fields[f"reject_{reason}"] = float(count)
        if self.modbus is not None:
            fields.update({k: float(v) for k, v in self.modbus.totals().items()})
        if isinstance(self.sink, BufferedSink):
            for key, value in self.sink.counters().items():
                fields[f"sink_{key}"] = float(value)
        return fields

    async def _write_stats(self) -> None:
        interval = self.config.gateway.stats_interval_s
        while True:
            await asyncio.sleep(interval)
            point = Point(
                measurement=STATS_MEASUREMENT,
                tags={"gateway": self.config.gateway.id},
                fields=self.stats_fields(),
                time_ns=time_ns(utc_now()),
                # The priority lane is sent first: the gateway's own counters reach Grafana while a telemetry
                # backlog drains, so an operator watching an outage recover sees the backlog shrink.
                priority=True,
            )
            await self.sink.write([point])
