"""Device clocks that cannot be right (gateway/ingest/pipeline.py): a clock reset to 2000-01-01 after a
battery change, or local China time sent as UTC (eight hours ahead). The record is kept, at the gateway's
receive time, with the device's offset beside it; without this InfluxDB's retention refuses the point (and
with it the batch around it) and a hazard would be dated 2000.

The sink here only records what the pipeline hands it (the sinks have their own tests against a real
InfluxDB); the pipeline, the registry and the dead-letter store are the real ones.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clock import T0, FakeClock

from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.schema import time_ns
from gateway.ingest.sinks.base import Point, already_committed
from gateway.models import Device, DeviceEvent, DeviceKind, EventType, Reading, Record
from simulators.fleet import generate_fleet


class RecordingSink:
    name = "recording"

    def __init__(self) -> None:
        self.points: list[Point] = []

    async def write(self, points: Sequence[Point]) -> None:
        self.points.extend(points)

    async def flush(self) -> None:
        pass

    def committed(self) -> asyncio.Future[None]:
        return already_committed()  # ``write`` keeps the points as it returns

    async def close(self) -> None:
        pass


class RecordingRules:
    def __init__(self) -> None:
        self.records: list[Record] = []

    def on_records(self, items: Sequence[tuple[Device, Record]], now: datetime) -> None:
        self.records.extend(record for _, record in items)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Pipeline, RecordingSink, RecordingRules, FakeClock, Device]]:
    registry = generate_fleet(
        estates=1, smoke_per_estate=2, hydrants_per_estate=1, cameras_per_estate=0, modbus_share=0.0, seed=3
    )
    sink, rules, clock = RecordingSink(), RecordingRules(), FakeClock()
    deadletters = DeadLetterStore(tmp_path / "dead_letters.sqlite")
    pipeline = Pipeline(registry, sink, deadletters, rules=rules, clock=clock)  # type: ignore[arg-type]
    detector = next(d for d in registry.devices if d.kind is DeviceKind.SMOKE_DETECTOR)
    yield pipeline, sink, rules, clock, detector
    deadletters.close()


def heartbeat(device: Device, at: datetime, seq: int = 1) -> Reading:
    return Reading(device_id=device.id, time=at, metrics={"battery_pct": 90, "signal_dbm": -95}, seq=seq)


async def test_a_reset_clock_is_stored_at_the_receive_time_with_its_offset(
    setup: tuple[Pipeline, RecordingSink, RecordingRules, FakeClock, Device], caplog: pytest.LogCaptureFixture
) -> None:
    pipeline, sink, rules, clock, detector = setup
    reset = datetime(2000, 1, 1, tzinfo=UTC)
    await pipeline.submit([heartbeat(detector, reset, 1), heartbeat(detector, reset, 2)], source="test")
    assert [p.time_ns for p in sink.points] == [time_ns(T0), time_ns(T0 + timedelta(microseconds=1))], (
        "at the receive time, 1 µs apart: neither overwrites the other"
    )
    offset = (reset - T0).total_seconds()
    assert [p.fields["device_clock_offset_s"] for p in sink.points] == [offset, offset]
    assert [p.fields["battery_pct"] for p in sink.points] == [90.0, 90.0], "the reading itself is kept"
    assert [r.time for r in rules.records] == [T0, T0 + timedelta(microseconds=1)], "the rules see it too"
    assert pipeline.stats.clock_corrected == 2
    assert pipeline.devices[detector.id].clock_offset_s == offset
    warnings = [r.getMessage() for r in caplog.records if "its clock says" in r.getMessage()]
    assert len(warnings) == 1, "named once, then counted"
    assert detector.id in warnings[0]
    assert "2000-01-01" in warnings[0]
    # The next batch, a second later: the receive time again, not 1 µs after the last.
    clock.advance(seconds=1)
    await pipeline.submit([heartbeat(detector, reset, 3)], source="test")
    assert sink.points[-1].time_ns == time_ns(T0 + timedelta(seconds=1))
    # Its clock is set right: its own time again, and no offset on the device any more.
    clock.advance(seconds=1)
    await pipeline.submit([heartbeat(detector, clock(), 4)], source="test")
    assert "device_clock_offset_s" not in sink.points[-1].fields
    assert pipeline.devices[detector.id].clock_offset_s is None


async def test_a_clock_running_ahead_is_corrected_beyond_the_limit_only(
    setup: tuple[Pipeline, RecordingSink, RecordingRules, FakeClock, Device],
) -> None:
    pipeline, sink, _, _, detector = setup
    late_but_fine = T0 - timedelta(days=3)  # NB-IoT devices send what they buffered: kept as it is
    slightly_ahead = T0 + timedelta(minutes=10)
    local_as_utc = T0 + timedelta(hours=8)
    await pipeline.submit(
        [heartbeat(detector, late_but_fine, 1), heartbeat(detector, slightly_ahead, 2)], source="test"
    )
    await pipeline.submit([heartbeat(detector, local_as_utc, 3)], source="test")
    assert [p.time_ns for p in sink.points] == [time_ns(late_but_fine), time_ns(slightly_ahead), time_ns(T0)]
    assert "device_clock_offset_s" not in sink.points[0].fields
    assert "device_clock_offset_s" not in sink.points[1].fields
    assert sink.points[2].fields["device_clock_offset_s"] == 8 * 3600.0
    assert pipeline.stats.clock_corrected == 1


async def test_an_alarm_from_a_wrong_clock_stays_a_priority_event(
    setup: tuple[Pipeline, RecordingSink, RecordingRules, FakeClock, Device],
) -> None:
    pipeline, sink, rules, _, detector = setup
    alarm = DeviceEvent(device_id=detector.id, time=datetime(1970, 1, 1, tzinfo=UTC), type=EventType.ALARM)
    feed = pipeline.live.subscribe()
    await pipeline.submit([alarm], source="test")
    (point,) = sink.points
    assert point.priority
    assert point.time_ns == time_ns(T0)
    assert point.tags["event"] == "alarm"
    assert point.fields["device_clock_offset_s"] == (datetime(1970, 1, 1, tzinfo=UTC) - T0).total_seconds()
    assert feed.get_nowait().event.time == T0, "the control room sees when it arrived"
    assert rules.records[0].time == T0


def test_the_limits_are_configuration(tmp_path: Path) -> None:
    from gateway.config import GatewaySection

    section = GatewaySection.model_validate(
        {"device_clock_ahead_max_s": 60, "device_time_floor": "2024-01-01T00:00:00+08:00"}
    )
    assert section.device_clock_ahead_max_s == 60
    assert section.device_time_floor == datetime(2023, 12, 31, 16, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone"):
        GatewaySection.model_validate({"device_time_floor": "2024-01-01T00:00:00"})


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.ingest.pipeline")
