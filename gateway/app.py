"""Assembling the gateway from its configuration, and running it under a supervisor.

Everything runs on one event loop inside one ``asyncio.TaskGroup``. Each long-running part (MQTT collector,
Modbus poller, sink drain, dead-letter writer, stats writer, rule engine ticks, outbound MQTT publisher, the
HTTP API) is a named task wrapped by ``supervise``: if it
raises, the crash is logged and counted and the task is restarted after a back-off, so one bug can never
silently end ingestion.

Stopping: ``request_stop`` (what ``firegw run`` calls on SIGTERM and SIGINT alike) stops cleanly: the MQTT
session stops reading, stores and acknowledges what it read, and disconnects; then every task ends, the sink
flushes memory to the durable buffer and sends what it can, and one log line says what was flushed and
what waits for the next start. Cancelling ``run`` is the hard stop: nothing more is acknowledged, and the
broker sends what was not to the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

import uvicorn

from collectors.backoff import Backoff
from collectors.modbus.poller import ModbusPoller
from collectors.mqtt import MqttCollector
from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.casework.engine import RuleEngine
from gateway.casework.publisher import MqttPublisher
from gateway.config import GatewayConfig, InfluxV1, InfluxV2, SqliteStorage
from gateway.health import IngestHealth
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import LiveFeed, Pipeline, RulesHook
from gateway.ingest.registry import Registry, load_registry
from gateway.ingest.schema import STATS_MEASUREMENT, time_ns
from gateway.ingest.sequences import SequenceStore
from gateway.ingest.sinks.base import FieldValue, Point, TelemetrySink
from gateway.ingest.sinks.buffer import DurableBuffer
from gateway.ingest.sinks.buffered import BufferedSink
from gateway.ingest.sinks.influx import InfluxV1Sink, InfluxV2Sink
from gateway.ingest.sinks.sqlite import SqliteSink
from gateway.ingest.stats import GatewayStats
from gateway.models import utc_now
from gateway.store import HazardStore
from rules.policy import load_policy

if TYPE_CHECKING:
    from fastapi import FastAPI

    from gateway.ha import ActiveStandby
    from gateway.notify import Notifier
    from gateway.store.listen import ChangeListener

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
        checkpoint_s=(
            rules.checkpoint_s if rules.checkpoint_s is not None else (10.0 if config.ha.enabled else 0.0)
        ),
        photos=config.photos,
    )


class _CleanStop(Exception):
    """Ends the gateway's TaskGroup once ``request_stop`` closed the MQTT session (not an error)."""

    def __init__(self, started: float, clean: bool, unacknowledged: int, left: int) -> None:
        super().__init__("clean stop")
        self.started = started
        self.clean = clean
        self.unacknowledged = unacknowledged
        self.left = left


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
        #: Active/standby on a PostgreSQL lease (``[ha]``): the rule engine is built at each takeover instead
        #: (``_run_active``), from what the store holds then.
        self.ha: ActiveStandby | None = None
        if config.ha.enabled:
            from gateway.ha import ActiveStandby  # psycopg: installed with firegw[postgresql]

            self.ha = ActiveStandby(config.ha, config.rules.store_url, config.gateway.id)
        elif rules is None and config.rules.enabled:
            rules = self.engine = build_engine(config, self.registry, clock)
            self.publisher = self.engine.outbox.publisher
        #: Messages to people on duty and to hazards' parties (``[notify]``, gateway/notify), from threads of
        #: its own; fed by the rule engine's outbox (each new engine's under ``[ha]``, ``_attach_engine``),
        #: taking up at each attach what the store says is owed. On whenever the rules are: a party's own
        #: channels (``/api/parties``) need no ``[notify]`` address.
        self.notifier: Notifier | None = None
        notify = config.notify
        if config.rules.enabled and notify.enabled:
            from gateway.notify import Notifier

            self.notifier = Notifier(notify, self.registry, clock)
            if self.engine is not None:
                self.notifier.attach(self.engine)
        #: Other gateways' changes to a shared PostgreSQL store, heard at once (gateway/store/listen.py).
        self.store_changes: ChangeListener | None = None
        store_url = config.hazard_store_url()
        if (self.engine is not None or self.ha is not None) and store_url.startswith("postgresql"):
            from gateway.store.listen import ChangeListener

            origin = self.engine.store.db.origin if self.engine is not None else ""
            self.store_changes = ChangeListener(store_url, origin)
        #: The API app (``_serve_api``), whose engine changes at each takeover (``_attach_engine``).
        self.api_app: FastAPI | None = None
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
            sequences=SequenceStore(config.gateway.data_dir / "sequences.sqlite"),
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
        #: Set by ``request_stop``, with what asked (a signal's name).
        self._stop_requested = asyncio.Event()
        self.stop_reason = ""

    def request_stop(self, reason: str) -> None:
        """Begin a clean stop (see the module docstring); ``run`` returns once it is done."""
        if not self._stop_requested.is_set():
            log.info(
                "%s: stopping (taking no more messages; storing and acknowledging what was read)", reason
            )
            self.stop_reason = reason
            self._stop_requested.set()

    async def run(self) -> None:
        """Run every part until ``request_stop`` or cancellation; on the way out, flush the sink and the
        dead-letter store."""
        stopping: _CleanStop | None = None
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._stop_when_asked(), name="stop")
                if self.ha is not None:  # MQTT, Modbus and the rules run while this gateway is active
                    ha = self.ha
                    group.create_task(self.supervise("ha", lambda: ha.run(self._run_active)), name="ha")
                else:
                    group.create_task(self.supervise("mqtt", self.mqtt.run), name="mqtt")
                    if self.modbus is not None:
                        group.create_task(self.supervise("modbus", self.modbus.run), name="modbus")
                if (listener := self.store_changes) is not None:
                    group.create_task(self.supervise("store_listen", listener.run), name="store_listen")
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
                    self._follow_store(group, engine)
                if self.publisher is not None:
                    group.create_task(self.supervise("publisher", self.publisher.run), name="publisher")
                if (notifier := self.notifier) is not None:
                    group.create_task(self.supervise("notify", notifier.run), name="notify")
                if self.config.api.enabled:
                    group.create_task(self.supervise("api", self._serve_api), name="api")
                group.create_task(self._mark_ready(), name="ready")
        except* _CleanStop as stopped:
            stopping = stopped.exceptions[0]  # type: ignore[assignment]
        finally:
            in_memory = self.sink.buffered_points if isinstance(self.sink, BufferedSink) else 0
            await self.close()
        if stopping is not None:
            self._log_stopped(stopping, in_memory)

    async def _stop_when_asked(self) -> None:
        """Wait for ``request_stop``; close the MQTT session cleanly; then end the TaskGroup."""
        await self._stop_requested.wait()
        started = time.monotonic()
        unacknowledged = self.mqtt.unacknowledged
        if self.ha is not None and not self.ha.active:
            clean = True  # a standby has no MQTT session to close
        else:
            clean = await self.mqtt.stop(self.config.gateway.stop_timeout_s)
        left = self.mqtt.unacknowledged if not clean else 0
        raise _CleanStop(started, clean, unacknowledged, left)

    def _log_stopped(self, stop: _CleanStop, flushed_points: int) -> None:
        elapsed = time.monotonic() - stop.started
        waiting = self.sink.buffer.pending_points if isinstance(self.sink, BufferedSink) else 0
        where = self.sink.buffer.directory if isinstance(self.sink, BufferedSink) else "the store"
        if stop.clean:
            mqtt = f"{stop.unacknowledged} messages read at the stop were stored and acknowledged"
        else:
            mqtt = (
                f"{stop.left} messages read were not stored within {self.config.gateway.stop_timeout_s:.0f} s"
                " and stay unacknowledged: the broker sends them again to the next start"
            )
        log.log(
            logging.INFO if stop.clean else logging.WARNING,
            "stopped (%s) in %.1f s: %s; %d points flushed to the durable buffer; %d points wait in %s"
            " for the next start",
            self.stop_reason,
            elapsed,
            mqtt,
            flushed_points,
            waiting,
            where,
        )

    async def _run_active(self) -> None:
        """``[ha]``: what only the partition's active gateway runs, from each takeover until it loses the
        lease or stops (gateway/ha/standby.py cancels it): a rule engine built now, from the hazards the store
        holds now (not from what this gateway knew before it stood by); the MQTT session under the partition's
        shared client id, so the broker hands over what the previous holder never acknowledged; the Modbus
        poller; the rule ticks, the store follower and the outbound publisher."""
        engine = build_engine(self.config, self.registry, self.clock) if self.config.rules.enabled else None
        # Another gateway took the devices' messages since this one last did: its message counters are
        # stale, and a jump from them is not a gap (a gap across the takeover itself goes uncounted).
        for state in self.pipeline.devices.values():
            state.last_seq = None
        self.mqtt = MqttCollector(self.config.mqtt, self.pipeline)
        self._attach_engine(engine)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.supervise("mqtt", self.mqtt.run), name="mqtt")
                if self.modbus is not None:
                    group.create_task(self.supervise("modbus", self.modbus.run), name="modbus")
                if engine is not None:
                    tick = self.config.rules.tick_interval_s
                    group.create_task(
                        self.supervise("rules", lambda: engine.run(self.sink.write, tick)), name="rules"
                    )
                    self._follow_store(group, engine)
                    if (publisher := engine.outbox.publisher) is not None:
                        group.create_task(self.supervise("publisher", publisher.run), name="publisher")
                group.create_task(self._mark_ready(), name="ready")
        finally:
            self.mqtt.stats.connected = False  # cancelled: the session is gone, whatever it last said
            if engine is not None:
                self._attach_engine(None)
                engine.checkpoints.close(self.clock())  # the next active gateway continues from here
                engine.store.close()

    def _attach_engine(self, engine: RuleEngine | None) -> None:
        """``[ha]``: the rule engine built at a takeover (None once stood down) is the one that records, the
        API and the store listener use."""
        if not self.config.rules.enabled:
            return
        self.engine = engine
        self.publisher = engine.outbox.publisher if engine is not None else None
        self.pipeline.rules = engine
        if engine is not None and self.notifier is not None:
            self.notifier.attach(engine)
        if self.api_app is not None:
            self.api_app.state.services.engine = engine
            # The estate board's cache is keyed by the engine's per-estate versions, which start again.
            self.api_app.state.estate_board_cache = {}
        if engine is not None and self.store_changes is not None:
            self.store_changes.origin = engine.store.db.origin

    def _follow_store(self, group: asyncio.TaskGroup, engine: RuleEngine) -> None:
        """Take in other gateways' changes as soon as they are announced (LISTEN/NOTIFY on PostgreSQL)."""
        if self.store_changes is not None:
            changed, clock = self.store_changes.changed, self.clock
            group.create_task(self.supervise("store_sync", lambda: engine.sync.follow(changed, clock)))

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
                health=self.health,
                control_room_phone=self.config.notify.control_room_phone,
                limits=self.config.limits,
            )
        )
        self.api_app = app
        app.state.reports = self.config.reports  # placard hotline and font (gateway/api/routers/reports.py)
        app.state.ui = self.config.ui  # the map and its base map (gateway/api/routers/overview.py)
        app.state.public_url = self.config.api.public_url  # the placard's QR code (docs/reports.md)
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
            self.pipeline.close()
            self.deadletters.close()
            if self.engine is not None:
                self.engine.checkpoints.close(self.clock())
                self.engine.store.close()
            if self.auth is not None:
                self.auth.store.close()
            if self.ha is not None:
                self.ha.close()

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
            "mqtt_unacknowledged": float(self.mqtt.unacknowledged),
            "dead_letters_stored": float(self.deadletters.stored),
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
        if self.notifier is not None:
            fields.update(self.notifier.counters.fields())
        if self.ha is not None:
            fields["ha_active"] = self.ha.active
            fields["ha_takeovers"] = float(self.ha.takeovers)
        return fields

    def health(self) -> IngestHealth:
        """The snapshot ``/api/health`` and ``/metrics`` show (gateway/health.py)."""
        sink = self.sink if isinstance(self.sink, BufferedSink) else None
        engine = self.engine
        due = engine.backlog.due if engine is not None else None
        fields = self.stats_fields()
        return IngestHealth(
            broker_connected=self.mqtt.stats.connected,
            mqtt_unacknowledged=self.mqtt.unacknowledged,
            records_in=self.stats.records_in,
            rejects=self.stats.rejects_total,
            dead_letters_stored=self.deadletters.stored,
            dead_letters_evicted=self.deadletters.evicted,
            seq_gaps=self.stats.seq_gaps,
            seq_missing=self.stats.seq_missing,
            backlog_points=sink.buffered_points if sink is not None else 0,
            telemetry_failing_for_s=sink.failing_for_s if sink is not None else None,
            telemetry_last_error=sink.last_error if sink is not None else None,
            store_errors=engine.counters.store_errors if engine is not None else None,
            store_backlog=(
                len(due.pairs) + len(due.alarms) + len(due.signal_rows) + len(due.grade_rows)
                if due is not None
                else None
            ),
            counters={
                name: float(value) for name, value in fields.items() if isinstance(value, (int, float))
            },
        )

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
