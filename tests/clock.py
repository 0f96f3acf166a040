"""The fake clock the rule-layer, API, auth and report tests step by hand (the gateway takes its clock as an
injected callable, so these tests never read the wall clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

#: The tests' usual start: 10:00 in China (UTC+8) on the day these tests were written.
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now
