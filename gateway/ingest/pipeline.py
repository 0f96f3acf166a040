"""The pipeline: validated records in, fanned out to device state, the live feed, the rules hook and the sink.

It implements ``collectors.base.Ingest``. Per record it resolves the device (unknown devices are rejected
with their raw payload), checks the device's clock, tracks the device's state and sequence gaps, and turns
the record into a point.

A device clock that cannot be right (before ``device_time_floor``: a clock reset to 1970 or 2000 after a
battery change; or more than ``clock_ahead_max_s`` ahead of the gateway: local time sent as UTC) would put
the record where nobody looks (InfluxDB retention refuses it, and then the batch around it; "now" panels
miss it; a hazard would say "since 2000-01-01"). Such a record is kept, at the gateway's receive time, with
the device's offset as ``device_clock_offset_s`` (a metric, or an event attribute), and counted
(``clock_corrected``); the device is named in the log once. Records from the same device corrected in
one batch get times 1 µs apart, so none overwrites another in InfluxDB.
Priority events (alarms, faults) go to the live feed before anything is written, and are flagged so the sink
sends them ahead of telemetry batches. A record that cannot be handled never takes valid neighbours down:
everything per record is guarded, and the sink write is one call per batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from collectors.base import RejectReason
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.registry import Registry
from gateway.ingest.schema import device_tags, event_point, reading_point
from gateway.ingest.sequences import SequenceStore
from gateway.ingest.sinks.base import Point, TelemetrySink
from gateway.ingest.stats import GatewayStats
from gateway.models import DEVICE_TIME_FLOOR, Device, DeviceEvent, MetricValue, Reading, Record, utc_now

T = TypeVar("T")

log = logging.getLogger(__name__)

#: Measurements an event may carry besides its own attributes (a GB/T 45839 detector in fault keeps
#: reporting battery and signal in its status-3 messages, a native-JSON event has them too): they are the
#: device's latest values as much as a reading's, so the device state takes them from either.
CARRIED_METRICS = frozenset({"battery_pct", "signal_dbm", "pressure_mpa", "temperature_c"})


class RulesHook(Protocol):
    """Where the rule layer plugs in: called once per batch with the resolved records and the clock time."""

    def on_records(self, items: Sequence[tuple[Device, Record]], now: datetime) -> None: ...


@dataclass(slots=True)
class DeviceState:
    """What the gateway last heard from a device. ``last_seen`` is the gateway's clock, ``last_time`` the
    device's; the rule layer decides staleness from ``last_seen`` and its reporting window."""

    last_seen: datetime | None = None
    last_time: datetime | None = None
    last_event: str = ""
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    messages: int = 0
    last_seq: int | None = None
    seq_gaps: int = 0
    comm_ok: bool = True
    #: The device clock's offset from the gateway's (seconds) while it is wrong (None once a record comes
    #: with a plausible time), and the last time given to one of its records instead (``Pipeline``).
    clock_offset_s: float | None = None
    clock_corrected_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """An event as the live feed (control-room UI, terminal summary) shows it."""

    received_at: datetime
    device: Device
    event: DeviceEvent


class Broadcast(Generic[T]):
    """Fan-out to subscribers, each with a bounded queue.

    A slow subscriber (a browser tab on a bad network) loses its oldest undelivered items and the loss is
    counted; it never slows ingestion or other subscribers. What is broadcast is stored regardless.
    """

    def __init__(self, queue_size: int = 1000, history: int = 200) -> None:
        self._subscribers: set[asyncio.Queue[T]] = set()
        self._queue_size = queue_size
        self.recent: list[T] = []
        self._history = history
        self.dropped = 0

    def subscribe(self) -> asyncio.Queue[T]:
        queue: asyncio.Queue[T] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[T]) -> None:
        self._subscribers.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, item: T) -> None:
        self.recent.append(item)
        if len(self.recent) > self._history:
            del self.recent[: len(self.recent) - self._history]
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
                self.dropped += 1
            queue.put_nowait(item)


class LiveFeed(Broadcast[LiveEvent]):
    """Priority device events (alarms, faults, tamper, comm faults) the moment they are accepted."""


SEQ_WRAP = 2**32
#: Sequence gaps named in the log per minute, at most (then one summary line for the rest).
_GAP_LOG_LINES = 20
#: Device message counters are written at most this often (an acknowledgement waits for the next write).
_SEQ_WRITE_EVERY_S = 0.05
#: Devices named in the log for a wrong clock, at most (then only counted).
_CLOCK_LOG_MAX = 1000
_MICROSECOND = timedelta(microseconds=1)


class Pipeline:
    def __init__(
        self,
        registry: Registry,
        sink: TelemetrySink,
        deadletters: DeadLetterStore,
        *,
        stats: GatewayStats | None = None,
        live: LiveFeed | None = None,
        rules: RulesHook | None = None,
        clock: Callable[[], datetime] = utc_now,
        clock_ahead_max_s: float = 900.0,
        device_time_floor: datetime = DEVICE_TIME_FLOOR,
        sequences: SequenceStore | None = None,
    ) -> None:
        """``sequences``: where each device's last message counter is kept across restarts (None: memory
        only, as in tools and tests)."""
        self.registry = registry
        self.clock_ahead_max = timedelta(seconds=clock_ahead_max_s)
        self.device_time_floor = device_time_floor
        self._clock_logged: set[str] = set()
        self.sink = sink
        self.deadletters = deadletters
        self.stats = stats or GatewayStats()
        self.live = live or LiveFeed()
        self.rules = rules
        self.clock = clock
        self.devices: dict[str, DeviceState] = {d.id: DeviceState() for d in registry.devices}
        # Wire identity (id or IMEI) -> device, as a plain dict: this lookup runs for every message, and
        # going through the registry's pydantic private attributes costs several microseconds each.
        self._by_wire_id: dict[str, Device] = {d.imei: d for d in registry.devices if d.imei}
        self._by_wire_id.update({d.id: d for d in registry.devices})
        self._tags: dict[str, dict[str, str]] = {
            d.id: device_tags(d, registry.estate(d.estate_id)) for d in registry.devices
        }
        self.sequences = sequences
        #: Devices whose counter changed since the last ``committed``: written before the acknowledgement.
        self._seq_changed: dict[str, int] = {}
        self._seq_writer: ThreadPoolExecutor | None = None
        #: The future of the next counters write (``_counters_written``) and when the last one started.
        self._seq_next: asyncio.Future[None] | None = None
        self._seq_last_write = float("-inf")
        if sequences is not None:
            for device_id, seq in sequences.load().items():
                if device_id in self.devices:
                    self.devices[device_id].last_seq = seq
            # One thread, so that the counters of batch n+1 are never written before those of batch n.
            self._seq_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seq-writer")
        self._gap_log = _GapLog()

    # -- Ingest -------------------------------------------------------------------------------------------

    def reject(
        self,
        reason: RejectReason,
        detail: str,
        *,
        source: str,
        device_id: str | None = None,
        raw: bytes | None = None,
        topic: str | None = None,
    ) -> None:
        self.stats.rejects[reason.value] += 1
        self.deadletters.add(
            source=source, reason=reason.value, detail=detail, device_id=device_id, topic=topic, payload=raw
        )

    async def submit(
        self,
        records: list[Record],
        *,
        source: str,
        origins: Sequence[tuple[str, bytes]] | None = None,
    ) -> None:
        now = self.clock()
        stats = self.stats
        resolve = self._by_wire_id.get
        ahead_limit = now + self.clock_ahead_max
        floor = self.device_time_floor
        points: list[Point] = []
        accepted: list[tuple[Device, Record]] = []
        for index, record in enumerate(records):
            device = resolve(record.device_id)
            if device is None:
                topic, raw = origins[index] if origins is not None else (None, None)
                self.reject(
                    RejectReason.UNKNOWN_DEVICE,
                    f"device {record.device_id!r} is not in the registry; add it to the registry file "
                    "(or check the id/IMEI the device sends)",
                    source=source,
                    device_id=record.device_id,
                    raw=raw if raw is not None else record.model_dump_json().encode(),
                    topic=topic,
                )
                continue
            tags = self._tags[device.id]
            state = self.devices[device.id]
            if record.time > ahead_limit or record.time < floor:
                record = self._correct_clock(device, state, record, now)
            elif state.clock_offset_s is not None:
                state.clock_offset_s = None  # its clock was set right
            state.last_seen = now
            state.last_time = record.time
            state.messages += 1
            if record.seq is not None:
                self._track_seq(device.id, state, record.seq)
            if isinstance(record, Reading):
                state.metrics.update(record.metrics)
                state.comm_ok = True
                points.append(reading_point(record, tags, device.kind))
                stats.readings += 1
            else:
                state.last_event = record.type.value
                for key in CARRIED_METRICS.intersection(record.attributes):
                    state.metrics[key] = record.attributes[key]
                point = event_point(record, tags)
                points.append(point)
                stats.events += 1
                if point.priority:
                    stats.priority_events += 1
                    self.live.publish(LiveEvent(now, device, record))
                if record.type.value == "comm_fault":
                    state.comm_ok = False
                elif record.type.value == "comm_restored":
                    state.comm_ok = True
            accepted.append((device, record))
        stats.records_in += len(accepted)
        if self.rules is not None and accepted:
            try:
                self.rules.on_records(accepted, now)
            except Exception:  # the rule layer must never stop telemetry from being stored
                stats.task_restarts["rules_hook_error"] += 1
                log.exception("rules hook failed on a batch of %d records", len(accepted))
        if points:
            await self.sink.write(points)

    def _correct_clock(self, device: Device, state: DeviceState, record: Record, now: datetime) -> Record:
        """The record at the gateway's time, with the device's clock offset (see the module docstring)."""
        offset = (record.time - now).total_seconds()
        last = state.clock_corrected_at
        corrected = now if last is None or now > last else last + _MICROSECOND
        state.clock_offset_s, state.clock_corrected_at = offset, corrected
        self.stats.clock_corrected += 1
        if device.id not in self._clock_logged and len(self._clock_logged) < _CLOCK_LOG_MAX:
            self._clock_logged.add(device.id)
            log.warning(
                "device %s: its clock says %s, %.0f s from the gateway's; its records are stored at the"
                " gateway's receive time (with device_clock_offset_s) until its clock is set right"
                " (NTP, or the carrier's network time)",
                device.id,
                record.time.isoformat(),
                offset,
            )
        if isinstance(record, Reading):
            metrics = {**record.metrics, "device_clock_offset_s": offset}
            return record.model_copy(update={"time": corrected, "metrics": metrics})
        attributes = {**record.attributes, "device_clock_offset_s": offset}
        return record.model_copy(update={"time": corrected, "attributes": attributes})

    def _track_seq(self, device_id: str, state: DeviceState, seq: int) -> None:
        last = state.last_seq
        state.last_seq = seq
        self._seq_changed[device_id] = seq
        if last is None:
            return
        missing = (seq - last - 1) % SEQ_WRAP
        # A small positive gap is lost messages; a huge one is a device reboot or a replay (a message the
        # broker sent again after a crash): not counted.
        if 0 < missing < 10_000:
            state.seq_gaps += 1
            self.stats.seq_gaps += 1
            self.stats.seq_missing += missing
            self._gap_log.gap(device_id, last, seq, missing)

    def committed(self) -> asyncio.Future[None]:
        """Done once everything submitted so far is durable: the points in the sink (or its durable
        buffer), the dead letters in their store, the devices' message counters on disk. Hazards and
        alarms are in the hazard store already: the rule hook writes them before ``submit`` returns."""
        self.deadletters.flush()  # rejects are rare; when there are some, they are kept before the ack
        stored = self.sink.committed()
        if self._seq_writer is None or not self._seq_changed:
            return stored
        counters = self._counters_written()
        both: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def settle(_: asyncio.Future[None]) -> None:
            if both.done() or not (stored.done() and counters.done()):
                return
            failed = counters.exception() or stored.exception()
            if failed is not None:
                both.set_exception(failed)
            else:
                both.set_result(None)

        stored.add_done_callback(settle)
        counters.add_done_callback(settle)
        return both

    def _counters_written(self) -> asyncio.Future[None]:
        """A future done once the counters changed so far are on disk. Writes are grouped: at most one
        every ``_SEQ_WRITE_EVERY_S`` (a transaction per batch of messages cost the event loop's thread a
        few per cent at 5,000 msg/s), and every batch submitted before a write starts rides on it."""
        if self._seq_next is not None:
            return self._seq_next
        loop = asyncio.get_running_loop()
        self._seq_next = loop.create_future()
        delay = self._seq_last_write + _SEQ_WRITE_EVERY_S - loop.time()
        loop.call_later(max(0.0, delay), self._write_counters)
        return self._seq_next

    def _write_counters(self) -> None:
        waiting, self._seq_next = self._seq_next, None
        changed, self._seq_changed = self._seq_changed, {}
        loop = asyncio.get_running_loop()
        self._seq_last_write = loop.time()
        if waiting is None:
            return
        if self._seq_writer is None or self.sequences is None:  # closed meanwhile: close() wrote them
            waiting.set_result(None)
            return
        written = loop.run_in_executor(self._seq_writer, self.sequences.save, changed)

        def done(future: asyncio.Future[None]) -> None:
            if waiting.done():
                return
            if future.exception() is not None:
                waiting.set_exception(future.exception())  # type: ignore[arg-type]
            else:
                waiting.set_result(None)

        written.add_done_callback(done)

    def close(self) -> None:
        """Write the last counters and release the writer thread (the gateway calls it at the end)."""
        if self._seq_writer is not None and self.sequences is not None:
            self._seq_writer.shutdown(wait=True)
            self.sequences.save(self._seq_changed)
            self._seq_changed = {}
            self.sequences.close()
            self._seq_writer = None


class _GapLog:
    """Names each device whose messages went missing, with the numbers, without flooding the log: the first
    ``_GAP_LOG_LINES`` gaps of each minute in full, the rest of that minute as one summary line."""

    def __init__(self) -> None:
        self._minute_start = time.monotonic()
        self._lines = 0
        self._suppressed_gaps = 0
        self._suppressed_missing = 0
        self._suppressed_devices: set[str] = set()

    def gap(self, device_id: str, last: int, seq: int, missing: int) -> None:
        now = time.monotonic()
        if now - self._minute_start >= 60:
            self._summarise()
            self._minute_start, self._lines = now, 0
        if self._lines < _GAP_LOG_LINES:
            self._lines += 1
            first = (last + 1) % SEQ_WRAP
            numbers = str(first) if missing == 1 else f"{first}..{(seq - 1) % SEQ_WRAP}"
            log.warning(
                "device %s: %d message(s) missing (seq %s; the last one before was %d, this one is %d)",
                device_id,
                missing,
                numbers,
                last,
                seq,
            )
            return
        self._suppressed_gaps += 1
        self._suppressed_missing += missing
        self._suppressed_devices.add(device_id)

    def _summarise(self) -> None:
        if self._suppressed_gaps:
            log.warning(
                "and %d more sequence gaps (%d messages missing) on %d devices in the last minute",
                self._suppressed_gaps,
                self._suppressed_missing,
                len(self._suppressed_devices),
            )
        self._suppressed_gaps = self._suppressed_missing = 0
        self._suppressed_devices = set()
