"""Message counters across a restart (issue 15, item 3): a gap that spans a crash is counted and named.

The pipeline, the dead-letter store and the sequence store are the real ones on a real SQLite file; the sink
is the recorder of test_pipeline_clock.py (what reaches InfluxDB is not the subject here).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from clock import T0, FakeClock
from test_pipeline_clock import RecordingSink, heartbeat

from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.registry import Registry
from gateway.ingest.sequences import SequenceStore
from gateway.models import Device, DeviceKind
from simulators.fleet import generate_fleet


def fleet() -> tuple[Registry, Device]:
    registry = generate_fleet(
        estates=1, smoke_per_estate=2, hydrants_per_estate=1, cameras_per_estate=0, modbus_share=0.0, seed=3
    )
    return registry, next(d for d in registry.devices if d.kind is DeviceKind.SMOKE_DETECTOR)


def start(registry: Registry, data: Path) -> tuple[Pipeline, DeadLetterStore]:
    """A pipeline as ``firegw run`` builds one, on ``data`` (a restart is calling this again)."""
    deadletters = DeadLetterStore(data / "dead_letters.sqlite")
    pipeline = Pipeline(
        registry,
        RecordingSink(),  # type: ignore[arg-type]
        deadletters,
        clock=FakeClock(),
        sequences=SequenceStore(data / "sequences.sqlite"),
    )
    return pipeline, deadletters


async def test_a_gap_across_a_restart_is_counted_and_names_the_missing_numbers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry, detector = fleet()
    first, deadletters = start(registry, tmp_path)
    await first.submit([heartbeat(detector, T0, seq=s) for s in range(1, 6)], source="mqtt")
    await first.committed()  # what a batch's acknowledgement waits for
    # kill -9 here: no close(), the counters on disk are all that is left.
    deadletters.close()

    second, deadletters = start(registry, tmp_path)
    assert second.devices[detector.id].last_seq == 5, "read back at start-up"
    with caplog.at_level(logging.WARNING, logger="gateway.ingest.pipeline"):
        await second.submit([heartbeat(detector, T0, seq=5)], source="mqtt")  # sent again by the broker
        await second.submit([heartbeat(detector, T0, seq=9)], source="mqtt")
    assert second.stats.seq_gaps == 1, "the repeat of 5 is not a gap; 6..8 are missing"
    assert second.stats.seq_missing == 3
    (line,) = [r.getMessage() for r in caplog.records if "missing" in r.getMessage()]
    assert detector.id in line
    assert "6..8" in line
    second.close()
    deadletters.close()


async def test_counters_written_by_a_clean_stop_are_the_last_ones(tmp_path: Path) -> None:
    registry, detector = fleet()
    first, deadletters = start(registry, tmp_path)
    await first.submit([heartbeat(detector, T0, seq=s) for s in range(1, 4)], source="mqtt")
    first.close()  # no committed() call since: close writes them
    deadletters.close()
    second, deadletters = start(registry, tmp_path)
    assert second.devices[detector.id].last_seq == 3
    await second.submit([heartbeat(detector, T0, seq=4)], source="mqtt")
    assert second.stats.seq_gaps == 0
    second.close()
    deadletters.close()


async def test_without_a_sequence_store_a_restart_forgets_and_counts_nothing(tmp_path: Path) -> None:
    """What it was before: shown so that the test above cannot pass for a reason other than the store."""
    registry, detector = fleet()
    deadletters = DeadLetterStore(tmp_path / "dead_letters.sqlite")
    pipeline = Pipeline(registry, RecordingSink(), deadletters, clock=FakeClock())  # type: ignore[arg-type]
    await pipeline.submit([heartbeat(detector, T0, seq=9)], source="mqtt")
    assert pipeline.devices[detector.id].last_seq == 9
    assert pipeline.stats.seq_gaps == 0
    deadletters.close()
