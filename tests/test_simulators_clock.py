"""The simulated clock (``simulators/clock.py``): virtual and scaled time, durations."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from simulator_helpers import CST

from simulators.clock import SimClock, parse_duration, to_ms


async def test_virtual_clock_jumps_and_never_goes_back() -> None:
    start = datetime(2026, 11, 23, 8, 0, tzinfo=CST)
    clock = SimClock(start, speed=0)
    assert clock.virtual
    assert clock.now() == start
    assert clock.now_ms() == to_ms(start)
    t0 = time.perf_counter()
    await clock.sleep_until(start + timedelta(days=30))
    assert clock.now() == start + timedelta(days=30)
    await clock.sleep_until(start)  # the past: returns at once, time stays
    assert clock.now() == start + timedelta(days=30)
    await clock.sleep(3600)
    assert clock.elapsed_s() == 30 * 86400 + 3600
    assert time.perf_counter() - t0 < 0.1
    clock.advance(1.5)
    assert clock.now_ms() == to_ms(start) + (30 * 86400 + 3601.5) * 1000
    clock.advance_to(start)  # never backwards
    assert clock.elapsed_s() == 30 * 86400 + 3601.5
    clock.advance_to(start + timedelta(days=31))
    assert clock.elapsed_s() == 31 * 86400


async def test_scaled_clock_runs_speed_times_real_time() -> None:
    clock = SimClock(datetime(2026, 1, 1, tzinfo=UTC), speed=200)
    t0 = time.perf_counter()
    await clock.sleep(10.0)  # 10 simulated seconds = 50 ms
    real = time.perf_counter() - t0
    assert 0.04 < real < 0.5
    assert clock.elapsed_s() >= 10.0
    with pytest.raises(RuntimeError):
        clock.advance(1)


def test_clock_and_duration_inputs() -> None:
    with pytest.raises(ValueError, match="timezone"):
        SimClock(datetime(2026, 1, 1), speed=1)  # naive
    with pytest.raises(ValueError, match="speed"):
        SimClock(datetime(2026, 1, 1, tzinfo=UTC), speed=-1)
    assert SimClock(speed=float("inf")).virtual
    assert parse_duration("+2h30m") == 9000
    assert parse_duration("90") == 90
    assert parse_duration(1.5) == 1.5
    assert parse_duration("1d") == 86400
    assert parse_duration("500ms") == 0.5
    for bad in ("2m2h", "1x", "", "-5", "h"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)
