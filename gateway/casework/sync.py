"""Several gateways on one store: take in what the others changed.

The casework indexes open hazards and counted records in memory (grading reads them thousands of times a
second); with one store for many gateways that index would otherwise only learn of another gateway's
changes at a restart. ``StoreSync.sync`` reads what changed by its write time and re-grades the estates
that changed: at once when another gateway announces a change on PostgreSQL (``follow``, with the store's
LISTEN/NOTIFY listener, gateway/store/listen.py), and every ``every_s`` from the engine's tick as a fallback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from gateway.casework.assessments import take_in
from gateway.casework.fleet import DeviceFleet
from gateway.casework.grades import Grader
from gateway.casework.incidents import complaint_window
from gateway.casework.index import CaseIndex
from gateway.casework.model import EngineCounters
from gateway.store import HazardStore
from gateway.store.records import GradeChangeRecord, HazardRecord

log = logging.getLogger(__name__)

#: ``sync`` reads changes written up to this long before its last run: gateway clocks differ a little, and a
#: transaction may commit after a sync that started later than its writes.
STORE_SYNC_MARGIN_S = 120.0
#: ``follow`` syncs at most this often: a burst of announcements (a storm of device hazards on another
#: gateway) costs one read per interval, and a change still reaches the grades well within a second.
FOLLOW_MIN_INTERVAL_S = 0.25


class StoreSync:
    def __init__(
        self,
        store: HazardStore,
        fleet: DeviceFleet,
        index: CaseIndex,
        grader: Grader,
        counters: EngineCounters,
        every_s: float,
        now: datetime,
    ) -> None:
        """``every_s``: how often the engine's tick calls ``sync``; 0 turns it off."""
        self.store = store
        self.fleet = fleet
        self.index = index
        self.grader = grader
        self.counters = counters
        self.every_s = every_s
        #: Everything changed before this has been read (start-up read it all); last tried at ``tried_at``
        #: (a store that is down is tried again every ``every_s``, not every tick); ``failing`` keeps the log
        #: to one line per outage.
        self.synced_at = now
        self.tried_at = now
        self.failing = False

    async def follow(self, changed: asyncio.Event, clock: Callable[[], datetime]) -> None:
        """Sync whenever ``changed`` is set (another gateway announced a change: ``ChangeListener``), at most
        every ``FOLLOW_MIN_INTERVAL_S``; runs until cancelled. Off with the periodic sync (``every_s`` 0)."""
        if self.every_s <= 0:
            return
        while True:
            await changed.wait()
            changed.clear()
            self.sync(clock())
            await asyncio.sleep(FOLLOW_MIN_INTERVAL_S)

    def due(self, now: datetime) -> bool:
        return self.every_s > 0 and (now - self.tried_at).total_seconds() >= self.every_s

    def sync(self, now: datetime) -> set[str]:
        """Take in what other gateways on the same store changed: hazards filed, stepped or closed through
        their API or by their device rules, complaints and fires entered there, complaints voided or merged
        there (the estate's distinct incidents in the policy's window are read again). Re-grades the estates
        that changed and returns them.

        What changed is read by its write time, from ``STORE_SYNC_MARGIN_S`` before the last sync (gateway
        clocks differ a little, and a transaction can commit after a sync that began later than its writes);
        what is read twice is recognised and changes nothing. A grade that another gateway already recorded
        is not recorded again (``grade_changes`` would show it twice); it is still published, and identical
        retained MQTT messages are harmless.
        """
        since = self.synced_at - timedelta(seconds=STORE_SYNC_MARGIN_S)
        self.tried_at = now
        index = self.index
        known = self.fleet.estate_devices.keys() | self.fleet.estate_tags.keys()
        try:
            # Most of what changed is this gateway's own writes, already in the index with the same
            # ``updated_at``: only the others are fetched whole.
            to_fetch: list[int] = []
            closed: list[HazardRecord] = []
            for version in self.store.hazards.updated_since(since):
                if version.estate_id not in known:
                    continue
                current = index.record(version.estate_id, version.id)
                if version.is_open:
                    if current is None or current.updated_at != version.updated_at:
                        to_fetch.append(version.id)
                elif current is not None:
                    closed.append(current)
            changed = self.store.hazards.by_ids(to_fetch)
            complaints = self.store.complaints.find(recorded_since=since)
            # Voided or merged since: those estates' distinct incidents are counted again from the store.
            recount = sorted(self.store.complaints.changed_since(since) & known)
            window = complaint_window(self.grader.policy)
            distinct = self.store.complaints.counted(recount, since=now - window) if recount else []
            fires = self.store.fires.find(recorded_since=since)
            evidence = self.store.assessments.changed_since(since)  # assessments, evidence, voids
            statuses = self.store.estate_status.changed_since(since)
        except SQLAlchemyError as exc:
            if not self.failing:
                self.failing = True
                log.warning(
                    "cannot read other gateways' changes from the hazard store (%s); retrying every %.0f s",
                    exc,
                    self.every_s,
                )
            return set()
        if self.failing:
            self.failing = False
            log.info("reading other gateways' changes from the hazard store works again")
        self.synced_at = now
        affected: set[str] = set()
        for hazard in closed:  # closed elsewhere: the indexed record says what to take out
            index.remove(hazard)
            affected.add(hazard.estate_id)
        for hazard in changed:
            if hazard.is_open:
                index.add(hazard)
            else:  # closed between the two reads
                current = index.record(hazard.estate_id, hazard.id)
                if current is None:
                    continue
                index.remove(current)
            affected.add(hazard.estate_id)
        for complaint in complaints:
            counted = complaint.state == "counted"  # a voided or merged one stays out
            if counted and complaint.estate_id in known and complaint.id not in index.complaint_ids:
                index.count_complaint(complaint.id, complaint.estate_id, complaint.received_at)
                affected.add(complaint.estate_id)
        incidents: dict[str, list[tuple[int, datetime]]] = {estate_id: [] for estate_id in recount}
        for complaint in distinct:
            incidents[complaint.estate_id].append((complaint.id, complaint.received_at))
        for estate_id, pairs in incidents.items():
            before = sorted(index.complaints_of.get(estate_id, []))
            index.set_complaints(estate_id, pairs)
            if sorted(pairs) != before:  # read again within the margin: nothing changed, no re-grade
                affected.add(estate_id)
        for fire in fires:
            if fire.estate_id in known and fire.id not in index.fire_ids:
                index.count_fire(fire)
                affected.add(fire.estate_id)
        affected |= take_in(index, evidence, statuses, known)
        if affected:
            self.counters.store_syncs += 1
            self.grader.regrade(affected, now, recorded=self._recorded_grades(affected))
        return affected

    def _recorded_grades(self, estates: set[str]) -> dict[str, GradeChangeRecord]:
        """The latest recorded grade of each of ``estates`` (another gateway may have recorded it)."""
        try:
            latest = self.store.grades.latest()
        except SQLAlchemyError:
            return {}
        return {estate: latest[estate] for estate in estates if estate in latest}
