"""Estate grades: derived from what the index and the fleet hold, recorded when they change, published.

``grade_estate`` (rules/grading.py) is pure; this module feeds it, notices a changed grade (colour or the
items behind it), writes the grade history row, the ``estate_grade`` point, the retained MQTT message and
the live update. A history row the store cannot write waits in the backlog: the grade was published all
the same, and its history must not get a hole.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from gateway.casework.fleet import DeviceFleet
from gateway.casework.index import CaseIndex
from gateway.casework.model import EngineCounters
from gateway.casework.outbox import Outbox
from gateway.casework.payloads import grade_payload
from gateway.casework.points import device_summary_points, grade_point
from gateway.casework.redo import StoreBacklog, Writes
from gateway.ingest.registry import Registry
from gateway.ingest.sinks.base import Point
from gateway.store import HazardStore
from gateway.store.records import GradeChangeRecord
from rules.grading import Grade, GradeInputs, grade_estate
from rules.policy import Policy

log = logging.getLogger(__name__)


def same_grade(stored: GradeChangeRecord, grade: Grade) -> bool:
    """A recorded grade says what ``grade`` says: same colour, same red and yellow items."""
    return stored.colour == grade.colour and sorted(stored.red_items + stored.yellow_items) == sorted(
        grade.red_items + grade.yellow_items
    )


class Grader:
    def __init__(
        self,
        registry: Registry,
        policy: Policy,
        store: HazardStore,
        fleet: DeviceFleet,
        index: CaseIndex,
        outbox: Outbox,
        backlog: StoreBacklog,
        counters: EngineCounters,
        estate_version: dict[str, int],
    ) -> None:
        self.registry = registry
        self.policy = policy
        self.store = store
        self.fleet = fleet
        self.index = index
        self.outbox = outbox
        self.backlog = backlog
        self.counters = counters
        self.estate_version = estate_version
        #: The current grade of every estate.
        self.grades: dict[str, Grade] = {}

    def grade(self, estate_id: str, now: datetime) -> Grade:
        fleet, index = self.fleet, self.index
        monitored, monitoring_faults = fleet.monitoring(estate_id)
        inputs = GradeInputs(
            estate_id=estate_id,
            hazards=list(index.open.get(estate_id, {}).values()),
            devices=dict(fleet.kind_counts.get(estate_id, {})),
            complaints=index.complaint_times.get(estate_id, []),
            fires=index.fire_times.get(estate_id, []),
            stale=fleet.stale(estate_id),
            last_heard=fleet.last_heard(estate_id),
            evidence=index.evidence.get(estate_id, ()),
            out_of_use=estate_id in index.out_of_use,
            monitored=monitored,
            monitoring_faults=monitoring_faults,
        )
        self.counters.regrades += 1
        return grade_estate(inputs, self.policy, now)

    def restore(self, now: datetime) -> None:
        """Grade every estate at start-up; record those whose last recorded grade says something else."""
        previous = self.store.grades.latest()
        for estate in self.registry.estates:
            grade = self.grade(estate.id, now)
            last = previous.get(estate.id)
            self.grades[estate.id] = grade
            self.estate_version[estate.id] += 1
            if last is None or not same_grade(last, grade):
                self.record(grade, last.colour if last else None, now)

    def regrade(
        self, estates: set[str], now: datetime, *, recorded: dict[str, GradeChangeRecord] | None = None
    ) -> None:
        """Re-grade ``estates``; a changed grade is recorded, published and announced. ``recorded``: the
        latest grade rows another gateway may have written (``StoreSync``): a grade the store already
        holds is published but not recorded again."""
        for estate_id in estates:
            grade = self.grade(estate_id, now)
            previous = self.grades.get(estate_id)
            self.grades[estate_id] = grade
            self.estate_version[estate_id] += 1
            if previous is None or previous.key != grade.key:
                stored = recorded.get(estate_id) if recorded else None
                write_row = stored is None or not same_grade(stored, grade)
                self.record(grade, previous.colour if previous else None, now, write_row=write_row)

    def regrade_all(self, now: datetime, *, repeat: bool = False) -> int:
        """Re-derive every estate's grade (counted records age out of their windows); with ``repeat``, also
        write every grade and device summary to the telemetry store. Returns how many grades changed."""
        changed = 0
        points = self.outbox.points
        rules = self.fleet.rules
        for estate in self.registry.estates:
            grade = self.grade(estate.id, now)
            previous = self.grades.get(estate.id)
            self.grades[estate.id] = grade
            self.estate_version[estate.id] += 1
            if previous is None or previous.key != grade.key:
                self.record(grade, previous.colour if previous else None, now)
                changed += 1
            elif repeat:
                points.append(self._point(grade, now))
            if repeat:
                devices = (rules[d] for d in self.fleet.estate_devices.get(estate.id, ()))
                points.extend(device_summary_points(self.fleet.tags_of_estate(estate.id), devices, now))
        self.outbox.wake()
        return changed

    def record(self, grade: Grade, previous: str | None, now: datetime, *, write_row: bool = True) -> None:
        self.counters.grade_changes += 1
        payload = grade_payload(grade, self.policy)
        if write_row:
            self.write_row(
                {
                    "estate_id": grade.estate_id,
                    "at": now,
                    "colour": grade.colour,
                    "level": grade.level,
                    "previous": previous,
                    "rule": grade.rule,
                    "reasons": payload["reasons"],
                    "red_items": list(grade.red_items),
                    "yellow_items": list(grade.yellow_items),
                    "missing_green": list(grade.missing_green),
                    "tolerated": list(grade.tolerated),
                    "open_hazards": grade.open_hazards,
                    "stale": grade.stale,
                    "policy": grade.policy,
                }
            )
        self.outbox.points.append(self._point(grade, now))
        payload["previous"] = previous
        self.outbox.grade(grade.estate_id, now, payload)
        if previous is not None and previous != grade.colour:
            log.info("estate %s: %s -> %s (%s)", grade.estate_id, previous, grade.colour, grade.summary)
        self.outbox.wake()

    def write_row(self, row: dict[str, Any]) -> None:
        """Add a row to the grade history (``/api/estates/{id}/grade-history``, reports). A store failure
        keeps it in the backlog: the grade was published all the same, and its history must not get a hole."""
        if self.backlog.batch is not None:
            self.backlog.batch.grade_rows.append(row)
        try:
            self.store.grades.record(row)
        except Exception as exc:
            self.counters.store_errors += 1
            log.exception("could not record the grade of %s", row["estate_id"])
            self.backlog.lose(exc, Writes(grade_rows=[row]))

    def _point(self, grade: Grade, now: datetime) -> Point:
        return grade_point(self.registry, self.fleet.tags_of_estate(grade.estate_id), grade, now)
