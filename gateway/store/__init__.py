"""The hazard store: hazards, alarms, complaints, fires, grade and signal history, on SQLite or PostgreSQL.

One repository module per aggregate, each owning its tables' queries:

- ``tables``: the schema and the rules it enforces; ``records``: what callers get back;
- ``database``: the engine, one transaction per call or one shared ``batch``;
- ``hazards``, ``alarms``, ``incidents`` (complaints and fires), ``history`` (grades and signals);
- ``checkpoints``: each device's rule state, for a gateway that takes over.
- ``windows``: maintenance and test windows (屏蔽 with a time limit).
- ``assessments``: assessments (排查登记) and later evidence, and estates set out of use.
- ``placards``: the serial printed on each placard (公示牌) and who posted it, when, with a photo.
- ``parties``: responsible parties (责任单位) hazards are dispatched to; ``todo``: what waits for an account.
- ``notifications``: each message pushed to people (alarms, escalations, hazards) and how it went.
- ``handovers``: the shift handover log (交接班记录) of each control room, signed by both shifts.
- ``photos``: every stored upload (the daily quota counts them) and the photos of each hazard step.

``HazardStore`` wires them to one database: ``store.hazards.file(...)``, ``store.alarms.transition(...)``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from sqlalchemy.engine import Engine

from gateway.store.alarms import AlarmRepository
from gateway.store.assessments import AssessmentRepository, EstateStatusRepository
from gateway.store.checkpoints import CheckpointRepository
from gateway.store.database import Batch, Database
from gateway.store.handovers import HandoverRepository
from gateway.store.hazards import HazardRepository
from gateway.store.history import GradeRepository, SignalRepository
from gateway.store.incidents import ComplaintRepository, FireRepository
from gateway.store.notifications import NotificationRepository
from gateway.store.parties import PartyRepository
from gateway.store.photos import PhotoRepository
from gateway.store.placards import PlacardRepository
from gateway.store.todo import TodoQueries
from gateway.store.windows import WindowRepository


class HazardStore:
    """The repositories of one database (``sqlite:///path`` or ``postgresql+psycopg://...``)."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.hazards = HazardRepository(self.db)
        self.alarms = AlarmRepository(self.db)
        self.complaints = ComplaintRepository(self.db)
        self.fires = FireRepository(self.db)
        self.grades = GradeRepository(self.db)
        self.signals = SignalRepository(self.db)
        self.checkpoints = CheckpointRepository(self.db)
        self.windows = WindowRepository(self.db)
        self.assessments = AssessmentRepository(self.db)
        self.estate_status = EstateStatusRepository(self.db)
        self.placards = PlacardRepository(self.db)
        self.parties = PartyRepository(self.db)
        self.todo = TodoQueries(self.db)
        self.notifications = NotificationRepository(self.db)
        self.handovers = HandoverRepository(self.db)
        self.photos = PhotoRepository(self.db)

    @property
    def url(self) -> str:
        return self.db.url

    @property
    def engine(self) -> Engine:
        return self.db.engine

    def batch(self) -> AbstractContextManager[Batch]:
        """See ``Database.batch``: the calls made inside share one transaction (no wrapper of its own: the
        rule engine opens one per batch of device events)."""
        return self.db.batch()

    def counts(self) -> dict[str, int]:
        return self.db.counts()

    def close(self) -> None:
        self.db.close()
