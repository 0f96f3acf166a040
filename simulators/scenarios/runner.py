"""Running a scenario: every device's periodic reports, the incidents and their follow-ups, on a ``SimClock``.

The runner publishes through whatever ``publish`` coroutine it is given (an MQTT client, a list in a test)
and drives Modbus hydrants through the ``HydrantModbusSimulator`` units it is handed; ``simulate`` wires it
to a real broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from simulators.clock import SimClock, to_ms
from simulators.devices.base import ActionError, DeviceSim, FollowUp, Message
from simulators.devices.factory import make_sim
from simulators.devices.hydrant import HydrantModbusSim, ModbusUnits
from simulators.scenarios.model import Incident, Scenario
from simulators.scenarios.stats import ScenarioStats

log = logging.getLogger(__name__)

PublishFn = Callable[[str, bytes], Awaitable[None]]
#: Called with the live ``ScenarioStats`` (``str(stats)`` is the one-line summary, so a hook that just prints
#: text works too, hence ``Any``); an awaitable result is awaited.
ProgressHook = Callable[[Any], object]
ModbusTargets = ModbusUnits | Mapping[tuple[str, int], ModbusUnits]

#: The kinds of work in the runner's heap.
_PERIODIC, _INCIDENT, _FOLLOWUP = 0, 1, 2


class ScenarioRunner:
    """Runs a scenario: every device's periodic reports, the incidents, and their follow-ups.

    All future work sits in one heap keyed by simulated time; the loop waits on the ``SimClock`` for the
    earliest item, so a virtual clock jumps straight there and a scaled clock sleeps in real time. First
    reports are staggered (each device draws its offset from its own random stream) so that 10,000 daily
    heartbeats spread over the day instead of arriving at t = 0 like a thundering herd.

    Message timestamps are the simulated time the message is due, which keeps a run reproducible for a seed
    even when publishing falls behind a fast clock (``max_lag_s`` says by how much).

    Publishing: up to ``max_in_flight`` publishes run concurrently; they are started in schedule order, and
    an MQTT client sends in call order, so each device's messages stay in order on the wire.
    """

    def __init__(
        self,
        scenario: Scenario,
        publish: PublishFn,
        modbus: ModbusTargets | None = None,
        clock: SimClock | None = None,
        *,
        progress: ProgressHook | None = None,
        progress_every_s: float = 1.0,
        max_in_flight: int = 64,
    ) -> None:
        self.scenario = scenario
        self.publish = publish
        self.clock = clock or SimClock(scenario.start, scenario.speed)
        self.progress = progress
        self.progress_every_s = progress_every_s
        self.registry = scenario.registry()
        self.stats = ScenarioStats(scenario=scenario.name, incidents_total=len(scenario.incidents))
        self._sem = asyncio.Semaphore(max(1, max_in_flight))
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._heap: list[tuple[float, int, int, Any]] = []
        self._order = 0
        self.sims: dict[str, DeviceSim] = {}
        self._build(modbus)

    # -- set-up --------------------------------------------------------------------------------------

    def _build(self, modbus: ModbusTargets | None) -> None:
        gateways = sorted({(d.modbus.host, d.modbus.port) for d in self.registry.devices if d.modbus})
        servers: dict[tuple[str, int], ModbusUnits] = {}
        if isinstance(modbus, Mapping):
            servers = dict(modbus)
        elif modbus is not None and gateways:
            # One simulator given: it serves the gateway whose port it is bound to, else the first one.
            port = getattr(modbus, "port", None)
            match = [g for g in gateways if g[1] == port] or gateways[:1]
            servers = {match[0]: modbus}
        for device in self.registry.devices:
            sim = make_sim(device, seed=self.scenario.seed, intervals=self.scenario.intervals)
            self.sims[device.id] = sim
            if isinstance(sim, HydrantModbusSim):
                assert device.modbus is not None
                server = servers.get((device.modbus.host, device.modbus.port))
                if server is None:
                    self.stats.modbus_unattached += 1
                else:
                    sim.attach(server)
        self.stats.devices = len(self.sims)

    def _push(self, at_s: float, kind: int, item: Any) -> None:
        self._order += 1
        heapq.heappush(self._heap, (at_s, self._order, kind, item))

    def _schedule_initial(self) -> None:
        for incident in self.scenario.incidents:
            self._push(incident.at_s, _INCIDENT, incident)
        for sim in self.sims.values():
            if isinstance(sim, HydrantModbusSim) and sim.server is None:
                continue  # nobody can poll it: refreshing its registers would only cost time
            interval = sim.next_interval_s()
            if not math.isfinite(interval) or interval <= 0:
                continue
            window = self.scenario.stagger_s if self.scenario.stagger_s is not None else interval
            self._push(sim.rng.uniform(0.0, min(window, interval)), _PERIODIC, sim)

    # -- control -------------------------------------------------------------------------------------

    def stop(self) -> None:
        """End the run now, even mid-wait (in-flight publishes are still awaited)."""
        self._stopping = True
        self._stop_event.set()

    async def _wait_until(self, at_s: float) -> None:
        """Sleep on the scaled clock until ``at_s``, or until ``stop()``."""
        delay = self.clock.real_delay(at_s - self.clock.elapsed_s())
        if delay <= 0:
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), timeout=delay)

    async def run(self) -> ScenarioStats:
        """Run until the scenario's duration has passed (or ``stop()``); returns the final counters."""
        if self.clock.virtual and self.scenario.duration_s is None:
            raise ValueError("a virtual clock (speed 0/inf) needs a scenario duration, or it never ends")
        stats = self.stats
        stats.sim_start = self.clock.now()
        wall0 = time.monotonic()
        next_progress = wall0 + self.progress_every_s
        start_ms = to_ms(self.clock.start)
        base_s = self.clock.elapsed_s()
        end_s = math.inf if self.scenario.duration_s is None else base_s + self.scenario.duration_s
        self._schedule_initial()
        if base_s:
            self._heap = [(t + base_s, o, k, i) for t, o, k, i in self._heap]
            heapq.heapify(self._heap)
        virtual = self.clock.virtual
        since_yield = 0
        try:
            while self._heap and not self._stopping:
                at_s, _, kind, item = self._heap[0]
                if at_s > end_s:
                    break
                heapq.heappop(self._heap)
                if virtual:
                    self.clock.advance_to(at_s)
                    since_yield += 1
                    if since_yield >= 256:
                        since_yield = 0
                        await asyncio.sleep(0)
                elif at_s > self.clock.elapsed_s():
                    await self._wait_until(at_s)
                    if self._stopping:
                        break
                else:
                    stats.max_lag_s = max(stats.max_lag_s, self.clock.elapsed_s() - at_s)
                ts_ms = start_ms + round(at_s * 1000)
                if kind == _PERIODIC:
                    await self._periodic(item, at_s, ts_ms)
                elif kind == _INCIDENT:
                    await self._incident(item, at_s, ts_ms)
                else:
                    await self._followup(item, ts_ms)
                if time.monotonic() >= next_progress:
                    next_progress = time.monotonic() + self.progress_every_s
                    self._update_time(wall0, at_s - base_s)
                    await self._report_progress()
            if not self._stopping and math.isfinite(end_s):
                # Let simulated time run to the end even when nothing is left to do.
                if virtual:
                    self.clock.advance_to(end_s)
                else:
                    await self._wait_until(end_s)
        finally:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            stats.finished = True
            self._update_time(wall0, (min(end_s, self.clock.elapsed_s())) - base_s)
            await self._report_progress()
        return stats

    def _update_time(self, wall0: float, sim_elapsed: float) -> None:
        self.stats.wall_s = time.monotonic() - wall0
        self.stats.sim_elapsed_s = sim_elapsed
        self.stats.sim_now = self.clock.now()

    async def _report_progress(self) -> None:
        if self.progress is None:
            return
        result = self.progress(self.stats)
        if inspect.isawaitable(result):
            await result

    # -- work items ----------------------------------------------------------------------------------

    async def _periodic(self, sim: DeviceSim, at_s: float, ts_ms: int) -> None:
        messages = sim.report(ts_ms)
        if isinstance(sim, HydrantModbusSim) and sim.server is not None:
            self.stats.modbus_updates += 1
        await self._emit(sim, messages, at_s)
        interval = sim.next_interval_s()
        if math.isfinite(interval) and interval > 0:
            self._push(at_s + interval, _PERIODIC, sim)

    async def _incident(self, incident: Incident, at_s: float, ts_ms: int) -> None:
        failures = 0
        for device_id in incident.devices:
            sim = self.sims[device_id]
            try:
                messages = sim.act(incident.action, ts_ms, incident.params)
            except ActionError as exc:
                failures += 1
                self.stats.incident_log.append((at_s, device_id, incident.action, f"failed: {exc}"))
                log.warning(
                    "%s: incident %s on %s failed: %s", incident.where, incident.action, device_id, exc
                )
                continue
            self.stats.incident_log.append((at_s, device_id, incident.action, incident.note or "applied"))
            log.info("incident +%.0fs %s %s %s", at_s, device_id, incident.action, incident.note)
            await self._emit(sim, messages, at_s)
        if failures == len(incident.devices):
            self.stats.incidents_failed += 1
        else:
            self.stats.incidents_applied += 1

    async def _followup(self, item: tuple[DeviceSim, FollowUp], ts_ms: int) -> None:
        sim, follow = item
        try:
            messages = sim.act(follow.action, ts_ms, follow.params)
        except ActionError as exc:  # pragma: no cover - follow-ups are generated by the devices themselves
            log.warning("follow-up %s on %s failed: %s", follow.action, sim.device.id, exc)
            return
        self.stats.followups_applied += 1
        await self._emit(sim, messages, (ts_ms - to_ms(self.clock.start)) / 1000)

    async def _emit(self, sim: DeviceSim, messages: list[Message], at_s: float) -> None:
        for follow in sim.take_followups():
            self._push(at_s + follow.delay_s, _FOLLOWUP, (sim, follow))
        if not messages:
            return
        kind = sim.device.kind.value
        fmt = sim.format_label
        for message in messages:
            await self._sem.acquire()
            task = asyncio.create_task(self._publish_one(message, kind, fmt))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _publish_one(self, message: Message, kind: str, fmt: str) -> None:
        try:
            await self.publish(message.topic, message.payload)
        except Exception as exc:  # the transport reconnects; a lost message is counted, not fatal
            self.stats.publish_errors += 1
            log.debug("publish to %s failed: %s", message.topic, exc)
        else:
            stats = self.stats
            stats.messages += 1
            stats.bytes += len(message.payload)
            stats.by_kind[kind] += 1
            stats.by_format[fmt] += 1
            stats.by_topic[message.topic] += 1
        finally:
            self._sem.release()
