"""Simulated time for device simulators and scenarios.

The gateway runs on event time carried by messages and on an injected clock for timeouts, so a scenario can
replay a day in minutes (``speed=1440``) or as fast as the broker accepts messages (``speed=0``) and still
exercise offline windows and hold times. The simulators take every timestamp they put on the wire from this
clock, never from the wall clock, so that a run is reproducible for a seed.

Two modes:

* **scaled** (``0 < speed < inf``): simulated time advances ``speed`` times faster than real (monotonic) time
  from ``start``. ``sleep_until`` really sleeps ``(target - now) / speed`` seconds.
* **virtual** (``speed == 0`` or ``speed == inf``, "as fast as possible"): time only moves when somebody
  waits. ``sleep_until(t)`` jumps the clock to ``t`` (never backwards) and yields to the event loop once. The
  scenario runner keeps all its future work in one priority queue and always waits for the earliest item, so
  jumping straight to it is exactly "skip the idle time". Tests get a deterministic clock for free.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from datetime import UTC, datetime, timedelta


class SimClock:
    """Simulated wall clock: ``now()`` is an aware UTC datetime, ``now_ms()`` epoch milliseconds."""

    def __init__(self, start: datetime | None = None, speed: float = 1.0) -> None:
        if speed < 0 or math.isnan(speed):
            raise ValueError(f"speed must be >= 0 (0 or inf = as fast as possible), got {speed!r}")
        if start is None:
            start = datetime.now(UTC).replace(microsecond=0)
        if start.tzinfo is None:
            # A naive start time would silently mean "the machine's zone"; the wire formats need UTC epochs.
            raise ValueError("start must carry a timezone (e.g. 2026-11-23T08:00:00+08:00)")
        self.start = start.astimezone(UTC)
        self.speed = speed
        self.virtual = speed == 0 or math.isinf(speed)
        self._real_origin = time.monotonic()
        self._offset_s = 0.0  # virtual mode: simulated seconds since start

    def now(self) -> datetime:
        """The simulated time."""
        return self.start + timedelta(seconds=self.elapsed_s())

    def now_ms(self) -> int:
        """The simulated time as epoch milliseconds (what the wire formats carry)."""
        return to_ms(self.start) + round(self.elapsed_s() * 1000)

    def elapsed_s(self) -> float:
        """Simulated seconds since ``start``."""
        if self.virtual:
            return self._offset_s
        return (time.monotonic() - self._real_origin) * self.speed

    def real_delay(self, sim_seconds: float) -> float:
        """How many real seconds ``sim_seconds`` of simulated time take (0 in virtual mode)."""
        if self.virtual or sim_seconds <= 0:
            return 0.0
        return sim_seconds / self.speed

    async def sleep_until(self, sim_time: datetime | float) -> None:
        """Wait until the simulated time reaches ``sim_time`` (a datetime or seconds since ``start``).

        In virtual mode the clock jumps there at once; it never goes backwards, so waiting for a time in the
        past returns immediately in both modes (after one yield, so a tight loop cannot starve the loop).
        """
        target_s = self._to_offset(sim_time)
        if self.virtual:
            self._offset_s = max(self._offset_s, target_s)
            await asyncio.sleep(0)
            return
        delay = self.real_delay(target_s - self.elapsed_s())
        await asyncio.sleep(delay)

    async def sleep(self, sim_seconds: float) -> None:
        """Wait ``sim_seconds`` of simulated time."""
        await self.sleep_until(self.elapsed_s() + sim_seconds)

    def advance(self, sim_seconds: float) -> None:
        """Move a virtual clock forward by hand (tests). Scaled clocks follow real time and refuse."""
        if not self.virtual:
            raise RuntimeError("only a virtual clock (speed 0/inf) can be advanced by hand")
        if sim_seconds < 0:
            raise ValueError("time does not go backwards")
        self._offset_s += sim_seconds

    def advance_to(self, sim_time: datetime | float) -> None:
        """Jump a virtual clock to ``sim_time`` without yielding (never backwards).

        The scenario runner uses this in virtual mode and yields to the event loop every few hundred items
        instead of once per item: an event-loop round per message would cost more than the message.
        """
        if not self.virtual:
            raise RuntimeError("only a virtual clock (speed 0/inf) can jump")
        self._offset_s = max(self._offset_s, self._to_offset(sim_time))

    def _to_offset(self, sim_time: datetime | float) -> float:
        if isinstance(sim_time, datetime):
            if sim_time.tzinfo is None:
                raise ValueError("sim_time must carry a timezone")
            return (sim_time - self.start).total_seconds()
        return float(sim_time)

    def __repr__(self) -> str:
        mode = "virtual" if self.virtual else f"x{self.speed:g}"
        return f"SimClock({self.now().isoformat()}, {mode})"


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime, exact (no float rounding of large epochs)."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


_DURATION_TOKEN = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: str | float) -> float:
    """Seconds in a duration written as a number of seconds or ``"1d2h30m15s"`` (``+`` prefix allowed).

    Scenario files say ``at = "+2h30m"`` and ``duration = "20m"``; plain numbers are seconds. Units: ``d``,
    ``h``, ``m``, ``s``, ``ms``; each at most once, largest first, so typos like ``"2m2h"`` fail loudly.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    if isinstance(value, int | float):
        if value < 0 or math.isnan(value) or math.isinf(value):
            raise ValueError(f"duration must be a finite number >= 0, got {value!r}")
        return float(value)
    text = value.strip().removeprefix("+").replace(" ", "")
    if not text:
        raise ValueError("empty duration")
    try:
        return parse_duration(float(text))
    except ValueError:
        pass
    total = 0.0
    pos = 0
    last_rank = -1
    order = ["d", "h", "m", "s", "ms"]
    for match in _DURATION_TOKEN.finditer(text):
        if match.start() != pos:
            break
        rank = order.index(match.group(2))
        if rank <= last_rank:
            raise ValueError(f"duration {value!r}: units must appear once each, largest first (e.g. 1h30m)")
        last_rank = rank
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        pos = match.end()
    if pos != len(text) or last_rank < 0:
        raise ValueError(f'cannot read duration {value!r}; write e.g. 90, "90s", "+2h30m", "1d"')
    return total
