"""Counters for everything the gateway accepts, rejects, drops or retries.

Every drop, reject and sequence gap is counted here and written as points of the ``gateway_stats``
measurement, so the dashboards can show what would otherwise be silent.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class RateMeter:
    """Messages per second over the last interval between two ``sample`` calls."""

    _last_total: int = 0
    _last_time: float = field(default_factory=time.monotonic)
    rate: float = 0.0

    def sample(self, total: int) -> float:
        now = time.monotonic()
        elapsed = now - self._last_time
        if elapsed > 0:
            self.rate = (total - self._last_total) / elapsed
        self._last_total, self._last_time = total, now
        return self.rate


@dataclass(slots=True)
class GatewayStats:
    started_monotonic: float = field(default_factory=time.monotonic)
    records_in: int = 0
    readings: int = 0
    events: int = 0
    priority_events: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    seq_gaps: int = 0
    seq_missing: int = 0
    #: Records whose device clock could not be right, stored at the gateway's receive time (``Pipeline``).
    clock_corrected: int = 0
    task_restarts: Counter[str] = field(default_factory=Counter)
    records_rate: RateMeter = field(default_factory=RateMeter)

    @property
    def rejects_total(self) -> int:
        return sum(self.rejects.values())

    def uptime_s(self) -> float:
        return time.monotonic() - self.started_monotonic
