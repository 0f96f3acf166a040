"""Running a scenario (``simulators/scenarios/runner.py``) on a virtual and on a scaled clock."""

from __future__ import annotations

import asyncio
import time

import pytest
from simulator_helpers import discard, payload

from simulators.clock import SimClock, to_ms
from simulators.scenarios.loading import parse_scenario
from simulators.scenarios.model import Scenario
from simulators.scenarios.runner import ScenarioRunner
from simulators.scenarios.stats import ScenarioStats


async def test_runner_in_virtual_time_staggers_reports_and_applies_incidents() -> None:
    sc = parse_scenario(
        """
        start = 2026-11-23T08:00:00+08:00
        speed = 0
        duration = "1h"
        [fleet]
        estates = 2
        smoke_per_estate = 10
        hydrants_per_estate = 2
        cameras_per_estate = 2
        modbus_share = 0.0
        [intervals]
        smoke_heartbeat = "10m"
        hydrant_report = "5m"
        camera_event = "0"
        [[incidents]]
        at = "+15m"
        device = "SD-E001-0003"
        action = "alarm"
        duration = "5m"
        [[incidents]]
        at = "+16m"
        device = "CAM-E002-01"
        action = "occupy"
        duration = "10m"
        """
    )
    sent: list[tuple[str, bytes]] = []

    async def publish(topic: str, body: bytes) -> None:
        sent.append((topic, body))

    seen: list[ScenarioStats] = []
    runner = ScenarioRunner(sc, publish, None, SimClock(sc.start, 0), progress=seen.append)
    stats = await runner.run()
    assert stats.finished
    assert seen
    assert seen[-1] is stats
    assert stats.incidents_applied == 2
    assert stats.followups_applied == 2
    # 20 detectors x 6 heartbeats + 4 hydrants x 12 reports + alarm/clear + start/end + 4 cameras x 60
    # keep-alives (one a minute, even with background detections off)
    assert stats.messages == len(sent) == 20 * 6 + 4 * 12 + 2 + 2 + 4 * 60
    assert stats.by_kind == {"smoke_detector": 122, "hydrant": 48, "camera": 2 + 4 * 60}
    assert sum(stats.by_format.values()) == stats.messages
    start_ms = to_ms(sc.start)
    first_ts = {
        str(payload(m).get("ts") or payload(m).get("timestamp") or payload(m)["datetime"]) for m in sent[:20]
    }
    assert len(first_ts) > 10, "first reports are staggered, not all at t=0"
    alarm = next(payload(m) for m in sent if b'"alarm"' in m[1] or b'"alarm_code":1' in m[1])
    assert alarm.get("ts", alarm.get("timestamp")) == start_ms + 15 * 60_000
    cam = [payload(m) for m in sent if m[0].startswith("fire/camera/") and payload(m)["type"] != "heartbeat"]
    assert [c["state"] for c in cam] == ["start", "end"]
    assert cam[1]["ts"] - cam[0]["ts"] == 600_000


async def test_runner_with_a_scaled_clock_takes_duration_over_speed() -> None:
    sc = parse_scenario(
        'start = 2026-11-23T08:00:00+08:00\nspeed = 3000\nduration = "10m"\n'
        "[fleet]\nestates = 1\nsmoke_per_estate = 5\nhydrants_per_estate = 2\ncameras_per_estate = 0\n"
        'modbus_share = 0.0\n[intervals]\nsmoke_heartbeat = "1m"\nhydrant_report = "1m"\n'
    )
    count = 0

    async def publish(topic: str, body: bytes) -> None:
        nonlocal count
        count += 1

    t0 = time.perf_counter()
    stats = await ScenarioRunner(sc, publish).run()
    real = time.perf_counter() - t0
    assert 0.18 < real < 1.5, real  # 600 simulated seconds at 3000x = 0.2 s
    assert stats.messages == count == 7 * 10
    assert stats.max_lag_s < 60  # simulated seconds behind schedule: 20 ms of real time


async def test_stop_ends_a_scaled_run_while_it_waits() -> None:
    sc = parse_scenario('speed = 1\nduration = "1d"\n[fleet]\nestates = 1\nsmoke_per_estate = 1\n')
    runner = ScenarioRunner(sc, discard)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.1)
    t0 = time.perf_counter()
    runner.stop()
    stats = await asyncio.wait_for(task, 2)
    assert stats.finished
    assert time.perf_counter() - t0 < 0.5


def test_runner_needs_a_duration_on_a_virtual_clock() -> None:
    with pytest.raises(ValueError, match="needs a scenario duration"):
        asyncio.run(ScenarioRunner(Scenario(speed=0), discard).run())
