"""A recording ``collectors.base.Ingest``: the pipeline side a transport hands its records and rejects to.

The transport tests (Modbus poller, MQTT collector) run the real transport against a real server and check
what reaches this side, and when. It is the tests' own collaborator, not a stand-in for an external system.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from collectors.base import RejectReason
from gateway.models import DeviceEvent, EventType, Reading, Record


@dataclass(frozen=True)
class Rejected:
    """One ``reject`` call, with the ``time.monotonic()`` it was made at."""

    reason: RejectReason
    detail: str
    source: str
    device_id: str | None
    raw: bytes | None
    topic: str | None
    at: float


class FakeIngest:
    """Records every submitted record with its arrival time, every reject, and how many submits it accepted.

    ``source`` is the only source the transport may name. ``with_topics`` says what the transport knows of
    topics: an MQTT collector hands over the (topic, payload) origin of every record and the topic of every
    reject; a Modbus poller has neither. A call that breaks this fails with an ``AssertionError``.
    ``fail_next_submits`` makes that many submits raise, as a pipeline hiccup would.
    """

    def __init__(self, source: str, *, with_topics: bool, fail_next_submits: int = 0) -> None:
        self.source = source
        self.with_topics = with_topics
        self.fail_next_submits = fail_next_submits
        self.records: list[Record] = []
        self.arrivals: list[float] = []  # time.monotonic() at each record's submit, parallel to records
        self.batches = 0  # accepted submits
        self.rejects: list[Rejected] = []
        #: ``committed`` futures held back (see ``committed``), and how often it was asked.
        self.hold_commits = False
        self.commits: list[asyncio.Future[None]] = []
        self.commit_calls = 0

    async def submit(
        self,
        records: list[Record],
        *,
        source: str,
        origins: Sequence[tuple[str, bytes]] | None = None,
    ) -> None:
        assert source == self.source, f"submit from {source!r}, expected {self.source!r}"
        if self.with_topics:
            assert origins is not None, "submit without origins"
            assert len(origins) == len(records), "origins not parallel to records"
        else:
            assert origins is None, "submit with origins from a transport without topics"
        if self.fail_next_submits:
            self.fail_next_submits -= 1
            raise RuntimeError("pipeline hiccup (injected by the test)")
        now = time.monotonic()
        self.batches += 1
        self.records.extend(records)
        self.arrivals.extend([now] * len(records))

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
        assert source == self.source, f"reject from {source!r}, expected {self.source!r}"
        assert (topic is not None) == self.with_topics, f"reject with topic {topic!r}"
        self.rejects.append(Rejected(reason, detail, source, device_id, raw, topic, time.monotonic()))

    def committed(self) -> asyncio.Future[None]:
        """Everything recorded is "stored" at once, unless ``hold_commits`` is set: then the futures wait
        in ``commits`` until the test releases them (``release_commits``), as a slow disk would."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.hold_commits:
            self.commits.append(future)
        else:
            future.set_result(None)
        self.commit_calls += 1
        return future

    def release_commits(self) -> None:
        for future in self.commits:
            if not future.done():
                future.set_result(None)
        self.commits.clear()

    # -- what arrived, by device --------------------------------------------------------------------------

    def of(self, device_id: str) -> list[Record]:
        """The device's records in arrival order, readings and events together."""
        return [r for r in self.records if r.device_id == device_id]

    def readings(self, device_id: str) -> list[Reading]:
        return [r for r in self.records if isinstance(r, Reading) and r.device_id == device_id]

    def reading_times(self, device_id: str) -> list[float]:
        """When each of the device's readings arrived (``time.monotonic()``)."""
        return [
            t
            for t, r in zip(self.arrivals, self.records, strict=True)
            if isinstance(r, Reading) and r.device_id == device_id
        ]

    def events(self, device_id: str, kind: EventType | None = None) -> list[DeviceEvent]:
        return [
            r
            for r in self.records
            if isinstance(r, DeviceEvent) and r.device_id == device_id and (kind is None or r.type == kind)
        ]

    def rejects_for(self, device_id: str) -> list[Rejected]:
        return [r for r in self.rejects if r.device_id == device_id]
