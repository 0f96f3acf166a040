"""The monthly report for a district or a property company: the figures, computed from the hazard store.

``build_monthly_report`` reads the store (hazards and their transitions, alarms, complaints, fires, grade
changes, device signal changes) for the estates chosen (a district, a property company, both, or every
estate the caller may see) and one calendar month in the policy's time zone; ``gateway.reports.render``
turns the result into PDF, XLSX or CSV. Every figure is "as at the end of the month": a report printed
weeks later shows the same numbers, because states and deadlines are replayed from the append-only
transition history rather than read from the hazards' current state.

Definitions (also printed in the report, and in ``docs/reports.md``):

隐患整改率 (rectification rate)
    Of the hazards found in the month (opened in it), the share closed as rectified by the end of the month:
    verified and closed by an inspector (销号), or closed automatically because the device recovered and
    stayed healthy. Hazards withdrawn by a supervisor (``close``: filed in error, duplicate) are not
    hazards and leave both the numerator and the denominator. A rectified item still waiting for the
    inspector at month end does not count yet. No hazards found: no rate (shown as "—").

设施完好率 (facility intact rate)
    The share of device-days without a failure: over every smoke detector and hydrant sensor of the estates
    (cameras watch the estate, not its fire facilities) and every day of the month up to now, a device-day
    is failed when any failure signal of the device (offline, fault, tamper, low battery, Modbus
    communication, low/high pressure, sudden drop, sensor fault, leak) was active at any time that day,
    as the gateway recorded it in ``signal_changes`` (from the moment the rule became active, after its
    hold time, to the moment it resolved).

Alarm response
    For smoke alarms received in the month (outcome ``test`` left out: a maintenance test is not a
    response), the seconds from arrival at the gateway to acknowledgement, to arrival on scene and to
    closing; p50 and p90 by linear interpolation between ranks, and the share within the micro fire
    station targets of 1, 3 and 5 minutes. The share's denominator is every such alarm for acknowledge
    and close (an alarm never acknowledged missed the target), and the dispatched ones for on scene.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.engine import RowMapping

from gateway import store as tables
from gateway.models import DeviceKind, Estate
from gateway.registry import Registry
from gateway.store import HazardStore
from rules.lifecycle import ALARM_TARGETS_S, HazardState
from rules.model import SignalKind
from rules.policy import UNKNOWN, Policy

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MEDIA_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}

#: Signals that mean a fire facility is not intact (camera signals are about the estate, not a facility).
FAILURE_SIGNALS: frozenset[SignalKind] = frozenset(
    {
        SignalKind.OFFLINE,
        SignalKind.DEVICE_FAULT,
        SignalKind.TAMPER,
        SignalKind.LOW_BATTERY,
        SignalKind.COMM_FAULT,
        SignalKind.HYDRANT_LOW_PRESSURE,
        SignalKind.HYDRANT_HIGH_PRESSURE,
        SignalKind.HYDRANT_PRESSURE_DROP,
        SignalKind.HYDRANT_SENSOR_FAULT,
        SignalKind.HYDRANT_LEAK,
    }
)
FACILITY_KINDS: tuple[DeviceKind, ...] = (DeviceKind.SMOKE_DETECTOR, DeviceKind.HYDRANT)
KIND_ZH = {
    DeviceKind.SMOKE_DETECTOR: "独立式烟感",
    DeviceKind.HYDRANT: "消火栓水压",
    DeviceKind.CAMERA: "摄像机",
}
KIND_EN = {DeviceKind.SMOKE_DETECTOR: "smoke detectors", DeviceKind.HYDRANT: "hydrant sensors"}

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
OUTCOME_ZH = {
    "real_fire": "真实火警",
    "false_alarm": "误报",
    "test": "测试",
    "fault": "设备故障",
    "open": "未关闭",
}


class ReportError(ValueError):
    """A report that cannot be made as asked (bad month, nothing matches); the message says why."""


class NothingToReport(ReportError):
    """No estate (in scope) matches the district or company asked for."""


# -- the figures -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CriterionRow:
    code: str
    zh: str
    en: str
    category: str
    opened: int
    rectified: int
    withdrawn: int
    open_at_end: int


@dataclass(frozen=True, slots=True)
class EstateRow:
    estate_id: str
    name: str
    district: str
    street: str
    company: str
    opened: int
    rectified: int
    withdrawn: int
    rectification_rate: float | None
    open_at_end: int
    overdue_at_end: int
    device_days: int
    failed_device_days: int
    intact_rate: float | None
    alarms: int
    complaints: int
    fires: int
    grade_start: str
    grade_end: str
    grade_changes: int


@dataclass(frozen=True, slots=True)
class KindIntact:
    kind: str
    zh: str
    en: str
    devices: int
    device_days: int
    failed_device_days: int
    intact_rate: float | None


@dataclass(frozen=True, slots=True)
class StepStats:
    step: str
    zh: str
    en: str
    target_s: float
    #: Alarms the target applies to, those that reached the step, and those that did within the target.
    eligible: int
    reached: int
    within: int
    share_within: float | None
    p50_s: float | None
    p90_s: float | None


@dataclass(frozen=True, slots=True)
class GradeChangeRow:
    at: datetime  # local time
    estate_id: str
    name: str
    previous: str  # colour id, or "" for the first grade
    colour: str
    reasons: str


@dataclass(slots=True)
class MonthlyReport:
    month: str
    #: What the report covers, for titles: "锦江区", "锦绣物业", "锦江区 · 锦绣物业" or "全部小区".
    scope_zh: str
    scope_en: str
    district: str | None
    company: str | None
    start: datetime  # local, inclusive
    end: datetime  # local, exclusive
    #: Figures run to here: the end of the month, or "now" for the month in progress.
    cutoff: datetime
    generated_at: datetime  # local
    timezone: str
    policy_zh: str
    policy_ref: str
    colour_names: dict[str, str]
    estates: list[EstateRow]
    # hazards
    hazards_opened: int
    hazards_by_source: dict[str, int]
    rectified: int
    withdrawn: int
    rectification_rate: float | None
    awaiting_verification_at_end: int
    open_at_end: int
    overdue_at_end: int
    closed_in_month: int
    by_criterion: list[CriterionRow]
    hazards_by_hour: list[int]
    # facilities
    device_days: int
    failed_device_days: int
    intact_rate: float | None
    intact_by_kind: list[KindIntact]
    # alarms
    alarms: int
    alarms_by_hour: list[int]
    alarm_outcomes: dict[str, int]
    steps: list[StepStats]
    # records and grades
    complaints: int
    fires: int
    grades_at_end: dict[str, int]
    grade_changes: list[GradeChangeRow] = field(default_factory=list)

    @property
    def rectification_denominator(self) -> int:
        return self.hazards_opened - self.withdrawn

    def colour_name(self, colour: str) -> str:
        return self.colour_names.get(colour, colour or "—")


# -- helpers ---------------------------------------------------------------------------------------------


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The first instant of the month and of the next one, in ``tz``."""
    match = MONTH.match(month)
    if match is None:
        raise ReportError(f"month: expected YYYY-MM (e.g. 2026-11), got {month!r}")
    year, mon = int(match.group(1)), int(match.group(2))
    start = datetime(year, mon, 1, tzinfo=tz)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz)
    return start, end


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


def select_estates(
    registry: Registry,
    *,
    district: str | None = None,
    company: str | None = None,
    allowed: Callable[[str], bool] | None = None,
) -> list[Estate]:
    """The estates a report covers: in scope, in the district and of the company asked for."""
    visible = [e for e in registry.estates if allowed is None or allowed(e.id)]
    chosen = visible
    if district:
        chosen = [e for e in chosen if e.district == district]
        if not chosen:
            known = ", ".join(sorted({e.district for e in visible if e.district})) or "none"
            raise NothingToReport(f"no estate in district {district!r}; districts: {known}")
    if company:
        chosen = [e for e in chosen if e.property_company == company]
        if not chosen:
            pool = [e for e in visible if not district or e.district == district]
            known = ", ".join(sorted({e.property_company for e in pool if e.property_company})) or "none"
            where = f" in {district}" if district else ""
            raise NothingToReport(f"no estate of company {company!r}{where}; companies: {known}")
    if not chosen:
        raise NothingToReport("no estates to report on")
    return chosen


def _in(column: Any, ids: Sequence[str] | None) -> ColumnElement[bool]:
    return true() if ids is None else column.in_(list(ids))


def _rows(store: HazardStore, query: Any) -> list[RowMapping]:
    with store.engine.connect() as conn:
        return list(conn.execute(query).mappings())


def _code_order(code: str) -> tuple[int, int, str]:
    letter = {"R": 0, "Y": 1, "G": 2}.get(code[:1], 3)
    return letter, int(code[1:]) if code[1:].isdigit() else 0, code


# -- the builder -----------------------------------------------------------------------------------------


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
    if now < start:
        raise ReportError(f"month {month} has not started yet")
    cutoff = min(end, now.astimezone(tz))
    estates = select_estates(registry, district=district, company=company, allowed=allowed)
    by_id = {e.id: e for e in estates}
    everything = len(estates) == len(registry.estates)
    ids: list[str] | None = None if everything else sorted(by_id)

    hazards = _hazards(store, ids, start, end)
    states = _states_at(store, [h["id"] for h in hazards], end)
    alarms = _rows(
        store,
        select(tables.alarms).where(
            _in(tables.alarms.c.estate_id, ids),
            tables.alarms.c.received_at >= start,
            tables.alarms.c.received_at < end,
        ),
    )
    complaints = Counter(
        r["estate_id"]
        for r in _rows(
            store,
            select(tables.complaints.c.estate_id).where(
                _in(tables.complaints.c.estate_id, ids),
                tables.complaints.c.received_at >= start,
                tables.complaints.c.received_at < end,
            ),
        )
    )
    fires = Counter(
        r["estate_id"]
        for r in _rows(
            store,
            select(tables.fires.c.estate_id).where(
                _in(tables.fires.c.estate_id, ids),
                tables.fires.c.occurred_at >= start,
                tables.fires.c.occurred_at < end,
            ),
        )
    )

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
    for code in sorted(per_code, key=_code_order):
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

    # -- facilities --
    days = _days(start, cutoff)
    failed = _failed_days(store, ids, set(by_id), start, end, cutoff, days, tz)
    devices = [d for d in registry.devices if d.estate_id in by_id and d.kind in FACILITY_KINDS]
    n_days = len(days)
    estate_days: Counter[str] = Counter()
    estate_failed: Counter[str] = Counter()
    kind_devices: Counter[DeviceKind] = Counter()
    kind_failed: Counter[DeviceKind] = Counter()
    for device in devices:
        bad = len(failed.get(device.id, ()))
        estate_days[device.estate_id] += n_days
        estate_failed[device.estate_id] += bad
        kind_devices[device.kind] += 1
        kind_failed[device.kind] += bad
    device_days = len(devices) * n_days
    failed_days = sum(kind_failed.values())
    intact_by_kind = [
        KindIntact(
            kind=kind.value,
            zh=KIND_ZH[kind],
            en=KIND_EN[kind],
            devices=kind_devices[kind],
            device_days=kind_devices[kind] * n_days,
            failed_device_days=kind_failed[kind],
            intact_rate=_intact(kind_devices[kind] * n_days, kind_failed[kind]),
        )
        for kind in FACILITY_KINDS
    ]

    # -- alarms --
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
    alarms_by_hour = [0] * 24
    for a in alarms:
        alarms_by_hour[a["received_at"].astimezone(tz).hour] += 1
    outcomes = Counter(a["outcome"] or "open" for a in alarms)

    # -- grades --
    grade_start, grade_end, changes = _grades(store, ids, start, end, policy, by_id)
    change_counts = Counter(c.estate_id for c in changes)

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
                device_days=estate_days[estate.id],
                failed_device_days=estate_failed[estate.id],
                intact_rate=_intact(estate_days[estate.id], estate_failed[estate.id]),
                alarms=alarms_by_estate[estate.id],
                complaints=complaints[estate.id],
                fires=fires[estate.id],
                grade_start=grade_start.get(estate.id, ""),
                grade_end=grade_end.get(estate.id, ""),
                grade_changes=change_counts[estate.id],
            )
        )

    colour_names = {c.id: c.zh for c in policy.colours}
    colour_names[UNKNOWN] = "暂无评定"
    if district and company:
        scope_zh = scope_en = f"{district} · {company}"
    elif district or company:
        scope_zh = scope_en = str(district or company)
    else:
        scope_zh, scope_en = "全部小区", "all estates"
    return MonthlyReport(
        month=month,
        scope_zh=scope_zh,
        scope_en=scope_en,
        district=district,
        company=company,
        start=start,
        end=end,
        cutoff=cutoff,
        generated_at=now.astimezone(tz),
        timezone=policy.timezone,
        policy_zh=policy.name.zh,
        policy_ref=f"{policy.id} {policy.version}",
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
        device_days=device_days,
        failed_device_days=failed_days,
        intact_rate=_intact(device_days, failed_days),
        intact_by_kind=intact_by_kind,
        alarms=len(alarms),
        alarms_by_hour=alarms_by_hour,
        alarm_outcomes=dict(outcomes),
        steps=steps,
        complaints=sum(complaints.values()),
        fires=sum(fires.values()),
        grades_at_end=dict(Counter(grade_end.get(e.id, UNKNOWN) for e in estates)),
        grade_changes=changes,
    )


def _overdue(state: str, deadline: datetime | None, moment: datetime) -> bool:
    """Past its deadline at ``moment`` and not yet fixed (``rules.lifecycle.is_overdue`` at that moment)."""
    return state in _NOT_FIXED and deadline is not None and deadline < moment


def _intact(device_days: int, failed: int) -> float | None:
    return (device_days - failed) / device_days if device_days else None


def _hazards(
    store: HazardStore, ids: Sequence[str] | None, start: datetime, end: datetime
) -> list[RowMapping]:
    """Hazards open at some moment of the month: opened before its end, not closed before its start."""
    h = tables.hazards.c
    query = select(h.id, h.estate_id, h.criterion, h.source, h.opened_at, h.closed_at, h.close_kind).where(
        _in(h.estate_id, ids), h.opened_at < end, (h.closed_at.is_(None)) | (h.closed_at >= start)
    )
    return _rows(store, query)


def _states_at(
    store: HazardStore, hazard_ids: Iterable[int], moment: datetime
) -> dict[int, tuple[str, datetime | None]]:
    """Each hazard's state and deadline at ``moment``, replayed from its transitions."""
    wanted = list(hazard_ids)
    out: dict[int, tuple[str, datetime | None]] = {}
    t = tables.hazard_transitions.c
    for chunk in range(0, len(wanted), 500):
        query = (
            select(t.hazard_id, t.at, t.to_state, t.data)
            .where(t.hazard_id.in_(wanted[chunk : chunk + 500]), t.at < moment)
            .order_by(t.id)
        )
        for row in _rows(store, query):
            _, deadline = out.get(row["hazard_id"], ("", None))
            text = (row["data"] or {}).get("deadline")
            if text:
                deadline = datetime.fromisoformat(text)
            out[row["hazard_id"]] = (row["to_state"], deadline)
    for hazard_id in wanted:
        out.setdefault(hazard_id, (HazardState.REPORTED.value, None))
    return out


def _days(start: datetime, cutoff: datetime) -> list[date]:
    days = []
    day = start.date()
    while datetime(day.year, day.month, day.day, tzinfo=start.tzinfo) < cutoff:
        days.append(day)
        day += timedelta(days=1)
    return days


def _failed_days(
    store: HazardStore,
    ids: Sequence[str] | None,
    estates: set[str],
    start: datetime,
    end: datetime,
    cutoff: datetime,
    days: list[date],
    tz: ZoneInfo,
) -> dict[str, set[int]]:
    """Per device, the indexes of the month's days on which a failure signal was active at some time."""
    if not days:
        return {}
    s = tables.signal_changes.c
    signals = sorted(k.value for k in FAILURE_SIGNALS)
    before = (
        select(func.max(s.id))
        .where(_in(s.estate_id, ids), s.signal.in_(signals), s.at < start)
        .group_by(s.device_id, s.signal)
        .scalar_subquery()
    )
    initial = _rows(store, select(s.device_id, s.signal, s.active).where(s.id.in_(before), s.active))
    changes = _rows(
        store,
        select(s.device_id, s.signal, s.active, s.at)
        .where(_in(s.estate_id, ids), s.signal.in_(signals), s.at >= start, s.at < end)
        .order_by(s.at, s.id),
    )
    first = days[0]
    last = len(days) - 1

    def index(moment: datetime) -> int:
        return min(last, max(0, (moment.astimezone(tz).date() - first).days))

    active: dict[str, set[str]] = defaultdict(set)
    since: dict[str, datetime] = {}
    failed: dict[str, set[int]] = defaultdict(set)

    def mark(device: str, a: datetime, b: datetime) -> None:
        b = min(b, cutoff)
        if b > a:
            failed[device].update(range(index(a), index(b - timedelta(microseconds=1)) + 1))
        elif b == a and a < cutoff:
            failed[device].add(index(a))

    for row in initial:
        active[row["device_id"]].add(row["signal"])
        since[row["device_id"]] = start
    for row in changes:
        device = row["device_id"]
        if row["at"] >= cutoff:
            break
        was = bool(active[device])
        if row["active"]:
            active[device].add(row["signal"])
        else:
            active[device].discard(row["signal"])
        if not was and active[device]:
            since[device] = row["at"]
        elif was and not active[device]:
            mark(device, since.pop(device), row["at"])
    for device, held in active.items():
        if held and device in since:
            mark(device, since[device], cutoff)
    return {device: idx for device, idx in failed.items() if device and idx}


def _grades(
    store: HazardStore,
    ids: Sequence[str] | None,
    start: datetime,
    end: datetime,
    policy: Policy,
    estates: dict[str, Estate],
) -> tuple[dict[str, str], dict[str, str], list[GradeChangeRow]]:
    """Each estate's colour at the start and end of the month, and the colour changes in it."""
    g = tables.grade_changes.c
    tz = ZoneInfo(policy.timezone)
    before = (
        select(func.max(g.id))
        .where(_in(g.estate_id, ids), g.at < start)
        .group_by(g.estate_id)
        .scalar_subquery()
    )
    at_start = {
        r["estate_id"]: r["colour"]
        for r in _rows(store, select(g.estate_id, g.colour).where(g.id.in_(before)))
    }
    rows = _rows(
        store,
        select(g.estate_id, g.at, g.colour, g.previous, g.reasons)
        .where(_in(g.estate_id, ids), g.at >= start, g.at < end)
        .order_by(g.id),
    )
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
    return at_start, at_end, changes
