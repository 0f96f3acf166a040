"""What each desk (hazards, alarms, incidents) works through: the store, the in-memory state, the way out."""

from __future__ import annotations

from gateway.casework.fleet import DeviceFleet
from gateway.casework.grades import Grader
from gateway.casework.index import CaseIndex
from gateway.casework.model import Clock, EngineCounters
from gateway.casework.outbox import Outbox
from gateway.casework.redo import StoreBacklog
from gateway.store import HazardStore


class Desk:
    def __init__(
        self,
        store: HazardStore,
        fleet: DeviceFleet,
        index: CaseIndex,
        grader: Grader,
        outbox: Outbox,
        backlog: StoreBacklog,
        counters: EngineCounters,
        clock: Clock,
    ) -> None:
        self.store = store
        self.fleet = fleet
        self.index = index
        #: Re-grades after a person's change; its ``registry`` and ``policy`` are the engine's.
        self.grader = grader
        self.policy = grader.policy
        self.outbox = outbox
        #: Where a device event's writes go while a store batch is open, and what the store lost.
        self.backlog = backlog
        self.counters = counters
        self.clock = clock
