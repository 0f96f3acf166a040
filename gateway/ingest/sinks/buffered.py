"""The buffered sink: points are made durable on local disk first, then sent to InfluxDB in order.

Why: InfluxDB restarts, networks drop and disks fill up; the gateway must neither lose telemetry nor stall
ingestion meanwhile. ``write`` therefore never waits for InfluxDB. Telemetry points are gathered in memory
for at most ``flush_interval_s`` (or until ``batch_max_points``), encoded once into line protocol and
appended to the ``DurableBuffer``; priority points (alarms, faults) go to the buffer's priority lane as soon
as the spool task gets to them (milliseconds). A drain task sends the stored batches one by one, priority
lane first, and acknowledges each only after InfluxDB accepted it.

Why a spool task: appending is an ``fsync`` (several milliseconds on real disks) plus encoding. When the
pipeline awaited it, ingestion stood still for every batch that carried an alarm or fault and for every full
telemetry batch. Now ``write`` only hands points over; the spool task appends them, grouping what arrived
meanwhile into one append (a group commit). ``write`` waits only when more than ``_SPOOL_LIMIT_BATCHES``
batches are waiting for the disk (back-pressure instead of unbounded memory).

``committed()`` is how a transport knows when to acknowledge: a future done once every point written so far
is on disk. While anyone waits on one, the spool appends at once whatever has arrived instead of waiting out
``flush_interval_s``: the next append starts when the previous one ends, so under load each ``fsync`` covers
everything that arrived during the one before (group commit), and the cost per message stays small. Points
that nobody waits for (QoS 0 traffic, the Modbus poller) are still gathered for ``flush_interval_s``.
Without a running ``run()`` task (tools and tests that only write), ``write`` appends inline as before and
``committed()`` flushes.

What a failed write does (``SinkError`` from the inner sink, see ``gateway.ingest.sinks.base``):

- retryable (connection refused/reset, timeout, 429, 5xx): back off with jitter, then retry the same batch;
  the backlog grows on disk, bounded by the buffer's retention cap (drops are counted).
- not retryable, not kept (400, 413): the batch can never succeed; it goes to ``on_dead_letter`` with its
  bytes and the error, and the drain continues with the next batch.
- not retryable but kept (401/403/404): a configuration problem. The batch stays, an error saying what to
  fix is logged (once a minute), and the write is retried every ``backoff_max_s`` so that fixing the server
  side (creating the database, granting the user) resumes the flow without a restart.

At most ``flush_interval_s`` of telemetry is only in memory; ``flush()`` makes it durable on demand, and
``close()`` flushes, sends what it can within ``close_timeout_s`` and leaves the rest on disk, where the
next start resumes from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from types import TracebackType

from collectors.backoff import Backoff
from gateway.ingest.sinks.base import EncodedSink, Point, SinkError
from gateway.ingest.sinks.buffer import BufferedRecord, DurableBuffer
from gateway.ingest.sinks.commits import CommitTracker
from gateway.ingest.sinks.lineprotocol import encode_counted, encode_point

log = logging.getLogger(__name__)

DeadLetterCallback = Callable[[bytes, SinkError], None]

#: Error kinds counted in ``write_errors_<kind>``.
ERROR_KINDS = ("unavailable", "rejected", "config", "unexpected")
_LOG_EVERY_S = 60.0
#: Points kept in memory while the disk refuses appends (disk full), before the oldest are dropped.
_MEMORY_CAP_BATCHES = 20
#: Telemetry batches waiting for the spool task before ``write`` waits for the disk (back-pressure).
_SPOOL_LIMIT_BATCHES = 4


def _error_kind(error: SinkError) -> str:
    if error.retryable:
        return "unavailable"
    return "config" if error.keep else "rejected"


class BufferedSink:
    """A ``TelemetrySink`` in front of an ``EncodedSink`` (InfluxDB), through a ``DurableBuffer``.

    Run ``run()`` as a task (or use ``async with``) to drain the buffer; call ``close()`` at the end.
    """

    def __init__(
        self,
        inner: EncodedSink,
        buffer: DurableBuffer,
        *,
        batch_max_points: int = 10000,
        flush_interval_s: float = 0.5,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        on_dead_letter: DeadLetterCallback | None = None,
        close_timeout_s: float = 5.0,
    ) -> None:
        self.inner = inner
        self.buffer = buffer
        self.name = f"buffered {inner.name}"
        self.batch_max_points = batch_max_points
        self.flush_interval_s = flush_interval_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.on_dead_letter = on_dead_letter
        self.close_timeout_s = close_timeout_s

        self.points_written = 0
        self.batches_written = 0
        self.write_errors: Counter[str] = Counter()
        self.dead_lettered_points = 0
        self.dead_lettered_batches = 0
        self.invalid_points = 0  # points that could not be encoded at all (a bug upstream), logged
        self.memory_dropped_points = 0  # dropped from memory while the disk refused appends
        self.buffer_errors = 0
        #: The last write error's message (what to fix), or None after a success.
        self.last_error: str | None = None
        #: Wall-clock time (epoch seconds) of the last accepted batch, or None.
        self.last_success_time: float | None = None

        self._pending: list[Point] = []
        self._priority_pending: list[Point] = []  # handed over by ``write``, not yet appended by the spool
        self._spooling = False  # the spool task runs: ``write`` hands over instead of appending inline
        self._spool_wake = asyncio.Event()
        self._commits = CommitTracker()
        self._flush_lock = asyncio.Lock()
        self._inline_flush: asyncio.Task[None] | None = None  # ``committed`` without the spool task
        self._priority_lock = asyncio.Lock()
        self._wake = asyncio.Event()  # the drain's: belongs to the drain thread's loop while that runs
        self._drain_loop_ref: asyncio.AbstractEventLoop | None = None  # that loop, while it runs
        self._main_loop: asyncio.AbstractEventLoop | None = None
        self._held: BufferedRecord | None = None  # telemetry record being sent: retried as it is
        self._settled: deque[BufferedRecord] = deque()  # sent, to acknowledge on disk (``_settle``)
        self._disk_lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._failing_since: float | None = None
        self._last_error_log = 0.0
        self._last_buffer_error_log = 0.0

    # -- input --------------------------------------------------------------------------------------------

    async def write(self, points: Sequence[Point]) -> None:
        """Accept points. With the spool task running they are appended to the durable buffer within
        milliseconds (priority) or ``flush_interval_s`` (telemetry); without it, priority points are
        durable when this returns and telemetry within a flush."""
        if self._closed:
            raise RuntimeError(f"{self.name} is closed")
        if not points:
            return
        self._commits.wrote()
        priority = [p for p in points if p.priority]
        if priority:
            telemetry = [p for p in points if not p.priority]
            if self._spooling:
                self._priority_pending.extend(priority)
                self._spool_wake.set()
            else:
                await self._store_priority(priority)
        else:
            telemetry = list(points)
        if telemetry:
            self._pending.extend(telemetry)
            if len(self._pending) >= self.batch_max_points:
                if not self._spooling:
                    await self.flush()
                elif len(self._pending) >= _SPOOL_LIMIT_BATCHES * self.batch_max_points:
                    await self.flush()  # the disk is behind: wait for it rather than grow memory
                else:
                    self._spool_wake.set()

    def committed(self) -> asyncio.Future[None]:
        """A future done once every point written so far is in the durable buffer (see the module
        docstring). It stays pending while the disk refuses appends."""
        future = self._commits.future()
        if not future.done():
            if self._spooling:
                self._spool_wake.set()
            else:
                self._inline_flush = asyncio.get_running_loop().create_task(self.flush())
        return future

    async def flush(self) -> None:
        """Append everything held in memory to the durable buffer: priority points first, then telemetry.

        Priority points handed over while the telemetry is appended go first too, before each telemetry
        batch: under a steady stream the pipeline refills ``_pending`` as fast as it is appended, and this
        loop would otherwise hold alarms back until ingestion paused."""
        async with self._flush_lock:
            written = self._commits.written  # everything written up to here is in memory or on disk now
            while True:
                await self._store_priority_pending()
                if not self._pending:
                    async with self._priority_lock:  # a priority append under way elsewhere is finished
                        pass
                    self._commits.durable(written)
                    return
                batch = self._pending[: self.batch_max_points]
                del self._pending[: self.batch_max_points]
                if not await self._store(batch, priority=False):
                    self._pending[:0] = batch  # the disk refused it: keep it in memory, retry next flush
                    self._cap_memory()
                    return

    async def _store_priority_pending(self) -> None:
        if self._priority_pending:
            batch, self._priority_pending = self._priority_pending, []
            await self._store_priority(batch)

    async def _store_priority(self, points: list[Point]) -> None:
        async with self._priority_lock:  # FIFO: alarms keep their order
            await self._store(points, priority=True)

    async def _store(self, points: list[Point], *, priority: bool) -> bool:
        try:
            count, invalid = await asyncio.to_thread(self._encode_and_append, points, priority)
        except OSError as exc:
            self.buffer_errors += 1
            now = time.monotonic()
            if now - self._last_buffer_error_log >= _LOG_EVERY_S or self.buffer_errors == 1:
                self._last_buffer_error_log = now
                log.error(
                    "cannot append to the durable buffer in %s: %s. Points wait in memory (the oldest are"
                    " dropped beyond %d points); free disk space or fix [gateway] data_dir.",
                    self.buffer.directory,
                    exc,
                    _MEMORY_CAP_BATCHES * self.batch_max_points,
                )
            if priority:
                self._pending[:0] = points  # alarms must not vanish: they ride with telemetry from memory
                self._cap_memory()
            return False
        self.invalid_points += invalid
        if count:
            self._notify_drain()
        return True

    def _encode_and_append(self, points: list[Point], priority: bool) -> tuple[int, int]:
        """Runs in a worker thread: encoding and fsync stay off the event loop."""
        invalid = 0
        try:
            body, count = encode_counted(points)
        except (TypeError, ValueError):
            body, count, invalid = self._encode_salvaging(points)
        if count:
            self.buffer.append(body, priority=priority, points=count)
        return count, invalid

    @staticmethod
    def _encode_salvaging(points: list[Point]) -> tuple[bytes, int, int]:
        lines: list[str] = []
        invalid = 0
        for point in points:
            try:
                line = encode_point(point)
            except (TypeError, ValueError) as exc:
                invalid += 1
                log.error("point not storable, skipped: %s (%r)", exc, point)
                continue
            if line is not None:
                lines.append(line)
        body = ("\n".join(lines) + "\n").encode() if lines else b""
        return body, len(lines), invalid

    def _cap_memory(self) -> None:
        excess = len(self._pending) - _MEMORY_CAP_BATCHES * self.batch_max_points
        if excess > 0:
            del self._pending[:excess]
            self.memory_dropped_points += excess

    # -- drain --------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Spool points to disk and send the buffer's batches to the inner sink, until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._spool_loop(), name=f"{self.name} spool")
            group.create_task(self._drain_in_thread(), name=f"{self.name} drain")

    async def _drain_in_thread(self) -> None:
        """Run the drain (reading the buffer, HTTP to InfluxDB, acknowledging) on its own thread and event
        loop. Why: each write takes a few event-loop turns (the read from disk, the request, the response),
        and on the gateway's loop every turn waits behind a batch of messages being decoded; under load the
        writes fell behind ingestion (about 13,000 points/s while 25,000 messages/s came in). The thread
        spends its time in socket and disk calls, which release the GIL. Counters are plain numbers; the
        dead-letter callback is handed back to the gateway's loop."""
        self._main_loop = asyncio.get_running_loop()
        started = threading.Event()
        holder: dict[str, asyncio.Task[None]] = {}

        def thread_main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                self._wake = asyncio.Event()
                self._drain_loop_ref = loop
                holder["task"] = loop.create_task(self._drain_loop())
                started.set()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(holder["task"])
                loop.run_until_complete(self.inner.close())  # its session belongs to this loop
            finally:
                self._drain_loop_ref = None
                started.set()
                loop.close()

        thread = threading.Thread(target=thread_main, name=f"{self.name} drain", daemon=True)
        thread.start()
        await asyncio.to_thread(started.wait)
        try:
            await asyncio.to_thread(thread.join)
        finally:
            loop = self._drain_loop_ref
            task = holder.get("task")
            if loop is not None and task is not None:
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(task.cancel)
            await asyncio.shield(asyncio.to_thread(thread.join))
            self._wake = asyncio.Event()  # the main loop's again, for close()'s final drain

    def _notify_drain(self) -> None:
        """Wake the drain, on whichever loop it runs."""
        loop = self._drain_loop_ref
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake.set)
        else:
            self._wake.set()

    async def _spool_loop(self) -> None:
        """Append what ``write`` handed over: priority points at once, telemetry when a batch is full or
        ``flush_interval_s`` has passed. A flush under way finishes even if this task is cancelled (the
        points are taken from memory when it starts)."""
        self._spooling = True
        loop = asyncio.get_running_loop()
        last_flush = loop.time()
        try:
            while True:
                wait_s = last_flush + self.flush_interval_s - loop.time()
                waited_for = self._commits.waiting
                if (
                    wait_s > 0
                    and not waited_for
                    and not self._priority_pending
                    and len(self._pending) < self.batch_max_points
                ):
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait_s):
                            await self._spool_wake.wait()
                    waited_for = self._commits.waiting
                self._spool_wake.clear()
                if self._priority_pending and not waited_for:
                    await asyncio.shield(self._store_priority_pending())
                if waited_for:  # group commit: someone acknowledges when this is on disk
                    durable = self._commits.durable_upto
                    await asyncio.shield(self.flush())
                    if (
                        self._commits.durable_upto == durable
                    ):  # the disk refused: acknowledgements wait, try again later
                        await asyncio.sleep(self.flush_interval_s)
                    continue
                due = loop.time() - last_flush >= self.flush_interval_s
                if self._pending and (due or len(self._pending) >= self.batch_max_points):
                    await asyncio.shield(self.flush())
                if due:
                    last_flush = loop.time()
        finally:
            self._spooling = False

    async def _next_record(self) -> BufferedRecord | None:
        """``_ack_and_pick`` from the gateway's loop (the final drain at close), off the loop."""
        return await asyncio.to_thread(self._ack_and_pick)

    def _ack_and_pick(self) -> BufferedRecord | None:
        """The next record to send (priority lane first), after acknowledging on disk the ones settled
        since the last call. Blocking: the drain thread calls it directly."""
        with self._disk_lock:  # a cancelled drain's hop may still run while close() drains
            self._ack_settled_locked()
            record = self.buffer.peek(priority=True, max_points=self.batch_max_points)
            if record is not None:
                return record
            if self._held is None:
                self._held = self.buffer.peek(priority=False, max_points=self.batch_max_points)
            return self._held

    def _ack_settled_locked(self) -> None:
        while self._settled:
            self.buffer.ack(self._settled.popleft())

    async def _drain_loop(self) -> None:
        backoff = Backoff(self.backoff_initial_s, self.backoff_max_s)
        while True:
            self._wake.clear()
            record = self._ack_and_pick()  # on the drain's own thread: a blocking disk read is fine here
            if record is None:
                await self._wake.wait()
                continue
            delay = await self._send(record, backoff)
            if delay:
                await asyncio.sleep(delay)

    async def _send(self, record: BufferedRecord, backoff: Backoff) -> float:
        """Send one record; returns how long to wait before the next attempt (0 to go on at once)."""
        try:
            await self.inner.write_encoded(record.body, record.points)
        except SinkError as error:
            return await self._failed(record, error, backoff)
        except Exception as exc:  # a bug in the inner sink: keep the batch, keep the loop alive
            self.write_errors["unexpected"] += 1
            self.last_error = f"unexpected {type(exc).__name__}: {exc}"
            log.exception("%s: unexpected error writing a batch of %d points", self.inner.name, record.points)
            return backoff.next_delay()
        await self._settle(record)
        self.points_written += record.points
        self.batches_written += 1
        self.last_success_time = time.time()
        self.last_error = None
        backoff.reset()
        if self._failing_since is not None:
            log.info(
                "%s accepts writes again after %.0f s; %d points to catch up",
                self.inner.name,
                time.monotonic() - self._failing_since,
                self.buffer.pending_points,
            )
            self._failing_since = None
        return 0.0

    async def _failed(self, record: BufferedRecord, error: SinkError, backoff: Backoff) -> float:
        kind = _error_kind(error)
        self.write_errors[kind] += 1
        self.last_error = str(error)
        if kind == "rejected":
            self._dead_letter(record, error)
            await self._settle(record)
            return 0.0
        now = time.monotonic()
        first = self._failing_since is None
        if first:
            self._failing_since = now
        if first or now - self._last_error_log >= _LOG_EVERY_S:
            self._last_error_log = now
            if kind == "config":
                log.error(
                    "%s refuses writes: %s. %d points wait in the durable buffer; retrying every %.0f s"
                    " until this is fixed.",
                    self.inner.name,
                    error,
                    self.buffer.pending_points,
                    self.backoff_max_s,
                )
            else:
                log.warning(
                    "%s unavailable%s: %s. Buffering on disk (%d points waiting), retrying with back-off.",
                    self.inner.name,
                    "" if first else f" for {now - (self._failing_since or now):.0f} s",
                    error,
                    self.buffer.pending_points,
                )
        if kind == "config":
            return self.backoff_max_s
        return backoff.next_delay()

    def _dead_letter(self, record: BufferedRecord, error: SinkError) -> None:
        """A batch the server refused for good goes to the dead-letter store with its bytes. After a partial
        write (``error.dropped``) the server stored all but the dropped points: those are counted as
        written, and only the dropped ones as dead-lettered (the whole batch's bytes are kept, since the
        server does not say which lines it dropped)."""
        dropped = record.points if error.dropped is None else min(error.dropped, record.points)
        self.points_written += record.points - dropped
        self.dead_lettered_points += dropped
        self.dead_lettered_batches += 1
        if error.dropped is None:
            log.error(
                "%s rejected a batch of %d points permanently (%s); it goes to the dead-letter store",
                self.inner.name,
                record.points,
                error,
            )
        else:
            log.error(
                "%s stored %d of a batch of %d points and dropped %d (%s); the batch goes to the dead-letter"
                " store",
                self.inner.name,
                record.points - dropped,
                record.points,
                dropped,
                error,
            )
        if self.on_dead_letter is not None:
            main = self._main_loop
            if self._drain_loop_ref is not None and main is not None and not main.is_closed():
                main.call_soon_threadsafe(self._call_dead_letter, record, error)  # from the drain thread
            else:
                self._call_dead_letter(record, error)

    def _call_dead_letter(self, record: BufferedRecord, error: SinkError) -> None:
        assert self.on_dead_letter is not None
        try:
            self.on_dead_letter(record.body, error)
        except Exception:
            log.exception("dead-letter callback failed; the batch of %d points is lost", record.points)

    async def _settle(self, record: BufferedRecord) -> None:
        """Mark a record stored or dead-lettered; it is acknowledged on disk with the next ``_next_record``
        (or at close). Until then a crash would send it again: delivery is at-least-once anyway."""
        if not record.priority:
            self._held = None
        self._settled.append(record)

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def __aenter__(self) -> BufferedSink:
        self._task = asyncio.create_task(self.run(), name=self.name)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Flush memory to disk, send what can be sent within ``close_timeout_s``, keep the rest on disk."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
            await self._final_drain()
        finally:
            with self._disk_lock:
                self._ack_settled_locked()
            left = self.buffer.pending_points
            if left:
                log.info(
                    "%d points stay in the durable buffer %s for the next start", left, self.buffer.directory
                )
            try:
                await self.inner.close()
            finally:
                self.buffer.close()

    async def _final_drain(self) -> None:
        if self.close_timeout_s <= 0:
            return
        try:
            async with asyncio.timeout(self.close_timeout_s):
                while (record := await self._next_record()) is not None:
                    try:
                        await self.inner.write_encoded(record.body, record.points)
                    except SinkError as error:
                        if _error_kind(error) != "rejected":
                            return
                        self.write_errors["rejected"] += 1
                        self._dead_letter(record, error)
                    else:
                        self.points_written += record.points
                        self.batches_written += 1
                        self.last_success_time = time.time()
                    await self._settle(record)
        except TimeoutError:
            return

    # -- counters -----------------------------------------------------------------------------------------

    @property
    def failing_for_s(self) -> float | None:
        """How long the inner sink (InfluxDB) has been refusing or unreachable; None while it works."""
        since = self._failing_since
        return None if since is None else time.monotonic() - since

    @property
    def buffered_points(self) -> int:
        """The backlog: points not yet stored, on disk or still in memory."""
        return self.buffer.pending_points + len(self._pending) + len(self._priority_pending)

    def counters(self) -> dict[str, int | float]:
        """Numbers for the stats measurement and the console (``last_error`` is the text beside them)."""
        values: dict[str, int | float] = {
            "points_written": self.points_written,
            "batches_written": self.batches_written,
            "write_errors": sum(self.write_errors.values()),
        }
        for kind in ERROR_KINDS:
            values[f"write_errors_{kind}"] = self.write_errors[kind]
        values.update(
            buffered_points=self.buffered_points,
            buffered_priority_points=self.buffer.pending_priority_points,
            buffer_disk_bytes=self.buffer.disk_bytes_unlocked(),
            dropped_points=self.buffer.dropped_points + self.memory_dropped_points,
            dropped_batches=self.buffer.dropped_records,
            dead_lettered_points=self.dead_lettered_points,
            dead_lettered_batches=self.dead_lettered_batches,
            invalid_points=self.invalid_points,
            buffer_errors=self.buffer_errors,
            last_success_time=self.last_success_time or 0.0,
        )
        return values
