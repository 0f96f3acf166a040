"""The quarter's figures, counted per estate from the hazard store and added up for any set of estates
(a company, a company's estates in one street or district, everything in scope).

Every figure is "as at the cutoff" (the end of the quarter, or now for the quarter in progress): states and
deadlines are replayed from the append-only transitions, so a report printed later has the same numbers.
Definitions (also in ``gateway.reports.quarterly.text.DEFINITIONS`` and ``docs/reports.md``):

隐患整改率 (rectification rate)
    Hazards rectified and verified by their deadline ÷ hazards due in the quarter. Due: people-worked
    hazards open at some moment of the quarter whose deadline (as it stood at the cutoff, or when the
    hazard was verified) falls inside the quarter up to the cutoff, or which were verified inside it. On
    time: verified (销号 by an inspector) at or before that deadline. A due hazard still open at the cutoff
    is not rectified, also when it waits for the inspector (counted as such). Counted apart and left out
    of both sides: device hazards that closed themselves (``close_kind`` ``auto``: the device recovered,
    nobody rectified anything), hazards withdrawn by a supervisor (``closed``: filed in error, duplicate),
    and maintenance tasks (criterion ``maint``: monitoring faults). Nothing due: no rate.

Overdue
    Open at the cutoff and past the deadline then, not yet rectified (``rules.lifecycle.is_overdue``);
    escalated: hazards with at least one escalation (督办升级) recorded in the quarter.

设施完好率 (facility intact rate)
    ``gateway.reports.monthly.facilities`` over the quarter: facility-hours intact ÷ monitored, per kind,
    hours of a monitoring fault left out of both.

Alarm response
    ``gateway.reports.monthly.figures.response_steps`` over the alarms received in the quarter.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import RowMapping

from gateway.models import Device, Estate
from gateway.reports.monthly import queries
from gateway.reports.monthly.facilities import (
    FACILITY_KINDS,
    DeviceHours,
    device_hours,
    facility_figures,
    facility_signals,
    intact,
)
from gateway.reports.monthly.figures import false_alarm_figures, ratio, response_steps
from gateway.reports.quarterly.model import (
    Alarms,
    Facilities,
    Maintenance,
    Overdue,
    QuarterFigures,
    Rectification,
)
from gateway.reports.quarterly.queries import escalations_in
from gateway.store import HazardStore
from gateway.store.hazards import MAINTENANCE_TASK
from rules.lifecycle import HazardState, is_overdue
from rules.policy import Policy


@dataclass(slots=True)
class EstateTally:
    """One estate's counts (keys as in ``Rectification``, ``Overdue`` and ``Maintenance``, the latter
    prefixed ``maintenance_``) and its alarms received in the quarter."""

    counts: Counter[str] = field(default_factory=Counter)
    alarms: list[RowMapping] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PeriodTally:
    """Everything the figures of any set of the estates are added up from, for one period."""

    estates: Mapping[str, EstateTally]
    devices: Mapping[str, Sequence[Device]]  # the facility devices of each estate
    hours: Mapping[str, DeviceHours]
    period_h: float

    def figures(self, estate_ids: Iterable[str]) -> QuarterFigures:
        chosen = sorted(set(estate_ids))
        counts: Counter[str] = Counter()
        alarms: list[RowMapping] = []
        for estate_id in chosen:
            tally = self.estates.get(estate_id, EstateTally())
            counts.update(tally.counts)
            alarms.extend(tally.alarms)
        devices = [d for estate_id in chosen for d in self.devices.get(estate_id, ())]
        facilities = facility_figures(devices, set(chosen), self.hours, self.period_h)
        causes, _ = false_alarm_figures(alarms)
        outcomes = Counter(a["outcome"] or "open" for a in alarms)
        return QuarterFigures(
            estates=tuple(chosen),
            rectification=Rectification(
                found=counts["found"],
                due=counts["due"],
                on_time=counts["on_time"],
                late=counts["late"],
                not_rectified=counts["not_rectified"],
                awaiting_verification=counts["awaiting_verification"],
                auto_closed=counts["auto_closed"],
                withdrawn=counts["withdrawn"],
                rate=ratio(counts["on_time"], counts["due"]),
            ),
            overdue=Overdue(
                open_at_end=counts["open_at_end"],
                overdue_at_end=counts["overdue_at_end"],
                escalated=counts["escalated"],
                escalations=counts["escalations"],
            ),
            maintenance=Maintenance(
                opened=counts["maintenance_opened"],
                closed=counts["maintenance_closed"],
                open_at_end=counts["maintenance_open_at_end"],
            ),
            facilities=Facilities(
                monitored_hours=facilities.monitored_hours,
                failed_hours=facilities.failed_hours,
                unmonitored_hours=facilities.unmonitored_hours,
                rate=intact(facilities.monitored_hours, facilities.failed_hours),
                by_kind=tuple(facilities.by_kind),
            ),
            alarms=Alarms(
                received=len(alarms),
                outcomes=dict(outcomes),
                steps=tuple(response_steps(alarms)),
                real_fires=outcomes["real_fire"],
                fires=counts["fires"],
                false_alarms=outcomes["false_alarm"],
                false_alarm_causes=causes,
            ),
        )


def tally_period(
    store: HazardStore,
    estates: Sequence[Estate],
    devices: Iterable[Device],
    policy: Policy,
    *,
    start: datetime,
    cutoff: datetime,
    everything: bool,
) -> PeriodTally:
    """The per-estate counts of ``[start, cutoff)`` for the ``estates`` (``everything``: they are every
    estate of the registry, so the store is read without an estate filter)."""
    wanted = {e.id for e in estates}
    ids = None if everything else sorted(wanted)
    tallies: dict[str, EstateTally] = defaultdict(EstateTally)

    found = [h for h in queries.hazards_open_in(store, ids, start, cutoff) if h["estate_id"] in wanted]
    hazards = [h for h in found if h["criterion"] != MAINTENANCE_TASK]
    states = queries.states_at(store, [h["id"] for h in hazards], cutoff)
    for h in hazards:
        _count_hazard(tallies[h["estate_id"]].counts, h, *states[h["id"]], start, cutoff)
    for h in found:
        if h["criterion"] == MAINTENANCE_TASK:
            _count_task(tallies[h["estate_id"]].counts, h, start, cutoff)
    for (_, estate_id), n in escalations_in(store, ids, start, cutoff).items():
        if estate_id in wanted:
            tallies[estate_id].counts["escalated"] += 1
            tallies[estate_id].counts["escalations"] += n

    for alarm in queries.alarms_received(store, ids, start, cutoff):
        if alarm["estate_id"] in wanted:
            tallies[alarm["estate_id"]].alarms.append(alarm)
    for estate_id, n in queries.fires_per_estate(store, ids, start, cutoff).items():
        if estate_id in wanted:
            tallies[estate_id].counts["fires"] += n

    facility_devices: dict[str, list[Device]] = defaultdict(list)
    for device in devices:
        if device.estate_id in wanted and device.kind in FACILITY_KINDS:
            facility_devices[device.estate_id].append(device)
    period_h = max(0.0, (cutoff - start).total_seconds() / 3600)
    hours: dict[str, DeviceHours] = {}
    if period_h:
        initial, changes = queries.signal_history(store, ids, facility_signals(policy), start, cutoff)
        by_id = {d.id: d for chosen in facility_devices.values() for d in chosen}
        hours = device_hours(initial, changes, by_id, policy, start, cutoff)
    return PeriodTally(dict(tallies), dict(facility_devices), hours, period_h)


def _count_hazard(
    counts: Counter[str],
    h: RowMapping,
    state: str,
    deadline: datetime | None,
    start: datetime,
    cutoff: datetime,
) -> None:
    """Count one hazard open at some moment of ``[start, cutoff)``, as it stood at the cutoff."""
    if h["opened_at"] >= start:
        counts["found"] += 1
    closed = h["closed_at"] is not None and h["closed_at"] < cutoff
    kind = h["close_kind"] if closed else None
    if kind == "closed":
        counts["withdrawn"] += 1
        return
    if kind == "auto":
        counts["auto_closed"] += 1
        return
    if not closed:
        counts["open_at_end"] += 1
        if is_overdue(HazardState(state), deadline, cutoff):
            counts["overdue_at_end"] += 1
    verified = kind == "verified"
    if not verified and (deadline is None or not start <= deadline < cutoff):
        return  # not due in the quarter
    counts["due"] += 1
    if verified:
        counts["on_time" if deadline is None or h["closed_at"] <= deadline else "late"] += 1
    else:
        counts["not_rectified"] += 1
        if state == HazardState.RECTIFIED.value:
            counts["awaiting_verification"] += 1


def _count_task(counts: Counter[str], h: RowMapping, start: datetime, cutoff: datetime) -> None:
    if h["opened_at"] >= start:
        counts["maintenance_opened"] += 1
    if h["closed_at"] is not None and h["closed_at"] < cutoff:
        counts["maintenance_closed"] += 1
    else:
        counts["maintenance_open_at_end"] += 1
