"""The monthly report's figures for a district or a property company, computed from the hazard store.

``build_monthly_report`` reads the store (hazards and their transitions, alarms, complaints, fires, grade
changes, device signal changes; all through ``gateway.reports.monthly.queries``) for the estates chosen
(``scope``) and one calendar month in the policy's time zone; ``gateway.reports.monthly.render`` turns the
result into PDF, XLSX or CSV. Every figure is "as at the end of the month": a report printed weeks later
shows the same numbers, because states and deadlines are replayed from the append-only transition history
rather than read from the hazards' current state.

Definitions (also printed in the report, ``gateway.reports.monthly.text.DEFINITIONS``, and in
``docs/reports.md``):

Hazards are the items of the grading standard. Maintenance tasks (monitoring faults: a pressure sensor
offline, a low battery, a camera offline) are not hazards: they are counted apart, and their devices lower
the monitoring coverage.

隐患整改率 (rectification rate)
    Of the hazards found in the month (opened in it), the share closed as rectified by the end of the month:
    verified and closed by an inspector (销号), or closed automatically because the device recovered and
    stayed healthy. Hazards withdrawn by a supervisor (``close``: filed in error, duplicate) are not
    hazards and leave both the numerator and the denominator. A rectified item still waiting for the
    inspector at month end does not count yet. No hazards found: no rate (shown as "—").

设施完好率 (facility intact rate)
    Facility-hours intact ÷ facility-hours monitored, per device kind: hours in a monitoring fault leave
    both; ``gateway.reports.monthly.facilities`` defines it.

Complaints
    Distinct incidents, as grading counts them (Y14, R6): complaints received in the month that were
    neither voided (filed in error) nor merged into another by its end; those are counted apart.

Assessment, conditions due, coverage
    Each estate as it stood at the end of the month (``gateway.reports.monthly.standing``): its latest
    assessment (排查登记) and until when it holds, the green conditions without current evidence, and the
    share of its monitored devices without a monitoring fault.

Alarm response
    For smoke alarms received in the month (outcome ``test`` left out: a maintenance test is not a
    response), the seconds from arrival at the gateway to acknowledgement, to arrival on scene and to
    closing; p50 and p90 by linear interpolation between ranks, and the share within the micro fire
    station targets of 1, 3 and 5 minutes. The share's denominator is every such alarm for acknowledge
    and close (an alarm never acknowledged missed the target), and the dispatched ones for on scene.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import RowMapping

from gateway.ingest.registry import Registry
from gateway.models import Estate
from gateway.reports.criteria import criterion_order
from gateway.reports.monthly import queries
from gateway.reports.monthly.facilities import device_hours, facility_figures, facility_signals, intact
from gateway.reports.monthly.model import (
    CriterionRow,
    EstateRow,
    FalseAlarmRow,
    GradeChangeRow,
    MonthlyReport,
    StepStats,
)
from gateway.reports.monthly.scope import cutoff_of, month_bounds, report_heading, select_estates
from gateway.reports.monthly.standing import (
    assessment_standing,
    monitored_devices,
    monitoring_faults_at,
)
from gateway.store import HazardStore
from gateway.store.hazards import MAINTENANCE_TASK
from rules.lifecycle import ALARM_TARGETS_S, HazardState
from rules.policy import NOT_ASSESSED, UNKNOWN, Policy

#: What the printed tables call the engine's two colours, and an estate with no grade on record.
ENGINE_COLOUR_NAMES = {NOT_ASSESSED: "未评定", UNKNOWN: "未知", "": "暂无评定"}

#: Closed as rectified (verified by an inspector, or the device recovered) versus withdrawn by a supervisor.
RECTIFIED_KINDS = frozenset({"verified", "auto"})
WITHDRAWN_KIND = "closed"
_NOT_FIXED = frozenset(
    {HazardState.REPORTED.value, HazardState.DISPATCHED.value, HazardState.RECTIFYING.value}
)

STEP_LABELS = {
    "ack": ("接警响应", "acknowledged"),
    "on_scene": ("到场", "on scene"),
    "close": ("处置完毕", "closed"),
}


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def build_monthly_report(
    store: HazardStore,
    registry: Registry,
    policy: Policy,
    *,
    month: str,
    now: datetime,
    district: str | None = None,
    company: str | None = None,
    allowed: Callable[[str], bool] | None = None,
) -> MonthlyReport:
    """The month's figures for the chosen estates (``allowed``: the caller's scope; None: all)."""
    tz = ZoneInfo(policy.timezone)
    start, end = month_bounds(month, tz)
    cutoff = cutoff_of(f"month {month}", start, end, now, tz)
    estates = select_estates(registry, district=district, company=company, allowed=allowed)
    by_id = {e.id: e for e in estates}
    everything = len(estates) == len(registry.estates)
    ids: list[str] | None = None if everything else sorted(by_id)

    found = queries.hazards_open_in(store, ids, start, end)
    # Maintenance tasks (monitoring faults: a sensor offline, a low battery) are not hazards: counted apart.
    hazards = [h for h in found if h["criterion"] != MAINTENANCE_TASK]
    tasks = [h for h in found if h["criterion"] == MAINTENANCE_TASK and h["estate_id"] in by_id]
    states = queries.states_at(store, [h["id"] for h in hazards], end)
    alarms = queries.alarms_received(store, ids, start, end)
    # Complaints count distinct incidents, as grading does; the voided and merged ones are counted apart.
    complaints: Counter[str] = Counter()
    set_aside: Counter[str] = Counter()
    for (estate_id, state), n in queries.complaint_states(store, ids, start, end).items():
        if state == "counted":
            complaints[estate_id] += n
        else:
            set_aside[state] += n
    fires = queries.fires_per_estate(store, ids, start, end)

    # -- hazards --
    opened = [h for h in hazards if start <= h["opened_at"] < end and h["estate_id"] in by_id]
    rectified = [
        h for h in opened if h["close_kind"] in RECTIFIED_KINDS and h["closed_at"] and h["closed_at"] < end
    ]
    withdrawn = [h for h in opened if h["close_kind"] == WITHDRAWN_KIND]
    open_at_end = [
        h
        for h in hazards
        if h["estate_id"] in by_id
        and h["opened_at"] < end
        and (h["closed_at"] is None or h["closed_at"] >= end)
    ]
    overdue_at_end = [h for h in open_at_end if _overdue(*states[h["id"]], end)]
    awaiting = [h for h in open_at_end if states[h["id"]][0] == HazardState.RECTIFIED.value]
    closed_in_month = [
        h
        for h in hazards
        if h["estate_id"] in by_id
        and h["close_kind"] in RECTIFIED_KINDS
        and h["closed_at"] is not None
        and start <= h["closed_at"] < end
    ]

    rectified_ids = {h["id"] for h in rectified}
    withdrawn_ids = {h["id"] for h in withdrawn}
    open_end_ids = {h["id"] for h in open_at_end}
    per_code: dict[str, list[RowMapping]] = defaultdict(list)
    for h in opened:
        per_code[h["criterion"]].append(h)
    by_criterion = []
    for code in sorted(per_code, key=criterion_order):
        rows = per_code[code]
        criterion = policy.criteria.get(code)
        by_criterion.append(
            CriterionRow(
                code=code,
                zh=criterion.zh if criterion else code,
                en=criterion.en if criterion else "",
                category=policy.category(code) if criterion else "",
                opened=len(rows),
                rectified=sum(1 for h in rows if h["id"] in rectified_ids),
                withdrawn=sum(1 for h in rows if h["id"] in withdrawn_ids),
                open_at_end=sum(1 for h in rows if h["id"] in open_end_ids),
            )
        )
    hazards_by_hour = [0] * 24
    for h in opened:
        hazards_by_hour[h["opened_at"].astimezone(tz).hour] += 1

    # -- facilities: facility-hours, monitoring faults left out of both sides of the rate --
    devices = {d.id: d for d in registry.devices if d.estate_id in by_id}
    period_h = max(0.0, (cutoff - start).total_seconds() / 3600)
    hours = {}
    if period_h:
        initial, changes = queries.signal_history(store, ids, facility_signals(policy), start, end)
        hours = device_hours(initial, changes, devices, policy, start, cutoff)
    facilities = facility_figures(registry.devices, by_id, hours, period_h)

    # -- alarms --
    steps = response_steps(alarms)
    alarms_by_hour = [0] * 24
    for a in alarms:
        alarms_by_hour[a["received_at"].astimezone(tz).hour] += 1
    outcomes = Counter(a["outcome"] or "open" for a in alarms)
    false_causes, false_by_detector = false_alarm_figures(alarms)

    # -- grades --
    grade_start, grade_rows = queries.grade_history(store, ids, start, cutoff)
    grade_end, grade_changes = _grade_changes(grade_start, grade_rows, by_id, tz)
    change_counts = Counter(c.estate_id for c in grade_changes)

    # -- assessments, conditions due and monitoring coverage, as at the cutoff --
    standing = assessment_standing(queries.evidence_until(store, ids, cutoff), policy, cutoff)
    monitored = monitored_devices(registry.devices, by_id, policy)
    monitoring_signals = {s for signals in policy.monitoring.values() for s in signals}
    faults: dict[str, int] = {}
    if monitoring_signals and cutoff > start:
        initial_m, changes_m = queries.signal_history(store, ids, monitoring_signals, start, end)
        faults = monitoring_faults_at(initial_m, changes_m, devices, policy, cutoff)
    never = (None, None, tuple(policy.green_conditions()))

    # -- per estate --
    rows_by_estate: dict[str, list[RowMapping]] = defaultdict(list)
    for h in opened:
        rows_by_estate[h["estate_id"]].append(h)
    open_by_estate = Counter(h["estate_id"] for h in open_at_end)
    overdue_by_estate = Counter(h["estate_id"] for h in overdue_at_end)
    alarms_by_estate = Counter(a["estate_id"] for a in alarms)
    estate_rows = []
    for estate in estates:
        mine = rows_by_estate.get(estate.id, [])
        n_rect = sum(1 for h in mine if h["id"] in rectified_ids)
        n_withdrawn = sum(1 for h in mine if h["id"] in withdrawn_ids)
        estate_monitored = facilities.estate_monitored.get(estate.id, 0.0)
        estate_failed = facilities.estate_failed.get(estate.id, 0.0)
        assessed, valid_until, due = standing.get(estate.id, never)
        n_monitored, n_faults = (
            monitored.get(estate.id, 0),
            min(faults.get(estate.id, 0), monitored.get(estate.id, 0)),
        )
        estate_rows.append(
            EstateRow(
                estate_id=estate.id,
                name=estate.name,
                district=estate.district,
                street=estate.street,
                company=estate.property_company,
                opened=len(mine),
                rectified=n_rect,
                withdrawn=n_withdrawn,
                rectification_rate=ratio(n_rect, len(mine) - n_withdrawn),
                open_at_end=open_by_estate[estate.id],
                overdue_at_end=overdue_by_estate[estate.id],
                monitored_hours=estate_monitored,
                failed_hours=estate_failed,
                unmonitored_hours=facilities.estate_unmonitored.get(estate.id, 0.0),
                intact_rate=intact(estate_monitored, estate_failed),
                alarms=alarms_by_estate[estate.id],
                complaints=complaints[estate.id],
                fires=fires[estate.id],
                grade_start=grade_start.get(estate.id, ""),
                grade_end=grade_end.get(estate.id, ""),
                grade_changes=change_counts[estate.id],
                assessed_at=assessed.astimezone(tz) if assessed else None,
                assessment_valid_until=valid_until.astimezone(tz) if valid_until else None,
                conditions_due=due,
                monitored=n_monitored,
                monitoring_faults=n_faults,
                coverage=ratio(n_monitored - n_faults, n_monitored),
            )
        )

    colour_names = {c.id: c.zh for c in policy.colours} | ENGINE_COLOUR_NAMES
    heading = report_heading(
        policy, district=district, company=company, start=start, end=end, cutoff=cutoff, now=now
    )
    return MonthlyReport(
        month=month,
        **heading,
        colour_names=colour_names,
        estates=estate_rows,
        hazards_opened=len(opened),
        hazards_by_source=dict(Counter(h["source"] for h in opened)),
        rectified=len(rectified),
        withdrawn=len(withdrawn),
        rectification_rate=ratio(len(rectified), len(opened) - len(withdrawn)),
        awaiting_verification_at_end=len(awaiting),
        open_at_end=len(open_at_end),
        overdue_at_end=len(overdue_at_end),
        closed_in_month=len(closed_in_month),
        by_criterion=by_criterion,
        hazards_by_hour=hazards_by_hour,
        monitored_hours=facilities.monitored_hours,
        failed_hours=facilities.failed_hours,
        unmonitored_hours=facilities.unmonitored_hours,
        intact_rate=intact(facilities.monitored_hours, facilities.failed_hours),
        intact_by_kind=facilities.by_kind,
        alarms=len(alarms),
        alarms_by_hour=alarms_by_hour,
        alarm_outcomes=dict(outcomes),
        false_alarm_causes=false_causes,
        false_alarms_by_detector=false_by_detector,
        steps=steps,
        complaints=sum(complaints.values()),
        complaints_voided=set_aside["voided"],
        complaints_merged=set_aside["merged"],
        fires=sum(fires.values()),
        grades_at_end=dict(Counter(grade_end.get(e.id, "") for e in estates)),
        grade_changes=grade_changes,
        maintenance_opened=sum(1 for h in tasks if start <= h["opened_at"] < end),
        maintenance_open_at_end=sum(
            1 for h in tasks if h["opened_at"] < end and (h["closed_at"] is None or h["closed_at"] >= end)
        ),
    )


def response_steps(alarms: Sequence[RowMapping]) -> list[StepStats]:
    """Acknowledge, on scene and close against the 1/3/5-minute targets, for the ``alarms`` (rows of
    ``queries.alarms_received``; outcome ``test`` left out: a maintenance test is not a response)."""
    counted = [a for a in alarms if a["outcome"] != "test"]
    steps = []
    for step, column in (("ack", "acknowledged_at"), ("on_scene", "on_scene_at"), ("close", "closed_at")):
        eligible = [a for a in counted if step != "on_scene" or a["dispatched_at"] is not None]
        seconds = [(a[column] - a["received_at"]).total_seconds() for a in eligible if a[column] is not None]
        target = ALARM_TARGETS_S[step]
        within = sum(1 for s in seconds if s <= target)
        zh, en = STEP_LABELS[step]
        steps.append(
            StepStats(
                step=step,
                zh=zh,
                en=en,
                target_s=target,
                eligible=len(eligible),
                reached=len(seconds),
                within=within,
                share_within=ratio(within, len(eligible)),
                p50_s=percentile(seconds, 0.5),
                p90_s=percentile(seconds, 0.9),
            )
        )
    return steps


def _overdue(state: str, deadline: datetime | None, moment: datetime) -> bool:
    """Past its deadline at ``moment`` and not yet fixed (``rules.lifecycle.is_overdue`` at that moment)."""
    return state in _NOT_FIXED and deadline is not None and deadline < moment


def _grade_changes(
    at_start: dict[str, str], rows: Sequence[RowMapping], estates: dict[str, Estate], tz: ZoneInfo
) -> tuple[dict[str, str], list[GradeChangeRow]]:
    """Each estate's colour at the end of the month, and the changes of colour in it (from ``at_start``
    and the month's grade changes in order)."""
    at_end = dict(at_start)
    changes = []
    for row in rows:
        estate_id = row["estate_id"]
        if estate_id not in estates:
            continue
        previous = at_end.get(estate_id, "")
        at_end[estate_id] = row["colour"]
        if previous == row["colour"]:
            continue  # the items holding the grade changed, not the colour
        reasons = "; ".join(
            f"{', '.join(r.get('codes', []))}: {r.get('text', '')}" for r in (row["reasons"] or [])
        )
        changes.append(
            GradeChangeRow(
                at=row["at"].astimezone(tz),
                estate_id=estate_id,
                name=estates[estate_id].name,
                previous=previous,
                colour=row["colour"],
                reasons=reasons,
            )
        )
    return at_end, changes


def false_alarm_figures(alarms: Sequence[RowMapping]) -> tuple[dict[str, int], list[FalseAlarmRow]]:
    """False alarms by cause, and per detector (most first, then by detector id)."""
    false = [a for a in alarms if a["outcome"] == "false_alarm"]
    causes = Counter(a["cause"] or "unknown" for a in false)
    per_device: dict[str, list[RowMapping]] = defaultdict(list)
    for a in false:
        per_device[a["device_id"]].append(a)
    rows = [
        FalseAlarmRow(
            device_id=device_id,
            estate_id=mine[0]["estate_id"],
            location=" ".join(p for p in (mine[0]["building_id"], mine[0]["location"]) if p),
            false_alarms=len(mine),
            by_cause=dict(Counter(a["cause"] or "unknown" for a in mine)),
        )
        for device_id, mine in per_device.items()
    ]
    rows.sort(key=lambda r: (-r.false_alarms, r.device_id))
    return dict(causes), rows
