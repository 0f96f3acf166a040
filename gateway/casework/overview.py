"""The duty overview (值班总览 / 大屏): what a control room's wall screen shows at a glance, per scope.

Every figure comes from what the engine already keeps in memory (the per-estate device counts and statuses of
``DeviceFleet``, the open-hazard index, the grades, the maintenance windows) and from one small store query
(the open alarms), so that a screen asking every few seconds costs a few milliseconds for 20,000 devices
(figures in docs/control-room-ui.md). The last hours as trends are ``gateway/store/trends.py``.

- **Devices per kind**: registered; *online* (heard from and not offline); *offline* (silent past their
  reporting window); *fault* (an active fault signal: a detector fault, tamper or low battery, a hydrant
  without pressure or over pressure, a sensor fault or leak, a Modbus unit not answering; not a camera's
  finding, which is a hazard, not a device fault); *in a window* (inside a maintenance or test window now);
  *not heard* (registered, never heard from, not yet past its window). Online, offline and not heard add
  up to the total; a device in fault or in a window is also one of those.
- **Open alarms by age** against the micro fire station targets (``rules.lifecycle.ALARM_TARGETS_S``: 1 min to
  respond, 3 to arrive, 5 to handle): bands under 1 min, 1-3, 3-5 and over 5 min, each split into
  unacknowledged and in hand (acknowledged, dispatched or on scene). Test alarms (raised inside a window) are
  counted in the bands and also apart.
- **Hazards**: open and overdue hazards (maintenance tasks, the monitoring faults, counted apart), per state.
- **Estates per colour**: the grade in force, ``unknown`` for an estate not graded yet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from weakref import WeakKeyDictionary

from pydantic import BaseModel, Field

from gateway.casework.engine import RuleEngine
from gateway.models import DeviceKind
from gateway.store.hazards import MAINTENANCE_TASK
from gateway.store.windows import WindowScope
from rules.lifecycle import ALARM_TARGETS_S, AlarmState, is_overdue

#: The age bands of open alarms, from the targets: (name, from seconds, to seconds or None).
BANDS: tuple[tuple[str, float, float | None], ...] = (
    ("under_ack", 0.0, ALARM_TARGETS_S["ack"]),
    ("under_on_scene", ALARM_TARGETS_S["ack"], ALARM_TARGETS_S["on_scene"]),
    ("under_close", ALARM_TARGETS_S["on_scene"], ALARM_TARGETS_S["close"]),
    ("over_close", ALARM_TARGETS_S["close"], None),
)


class KindFigures(BaseModel):
    kind: str = Field(description="smoke_detector, hydrant or camera")
    total: int
    online: int = Field(description="heard from and not offline")
    offline: int = Field(description="silent past the reporting window")
    fault: int = Field(description="an active fault signal (not a camera's finding)")
    in_window: int = Field(description="inside a maintenance or test window now")
    not_heard: int = Field(description="never heard from, not yet past the reporting window")


class AlarmBand(BaseModel):
    band: str = Field(description="under_ack (< 1 min), under_on_scene (1-3), under_close (3-5), over_close")
    from_s: float
    to_s: float | None
    unacknowledged: int
    in_hand: int = Field(description="acknowledged, dispatched or on scene")


class AlarmFigures(BaseModel):
    open: int
    unacknowledged: int
    test: int = Field(description="raised inside a maintenance window (测试/维护中), also in the bands")
    estates: int = Field(description="estates with an open alarm")
    oldest_unacknowledged_s: float | None
    bands: list[AlarmBand]


class HazardFigures(BaseModel):
    open: int = Field(description="open hazards, maintenance tasks not included")
    overdue: int
    maintenance: int = Field(description="open maintenance tasks (monitoring faults)")
    by_state: dict[str, int] = Field(description="open hazards per state (reported, dispatched, ...)")


class EstateFigures(BaseModel):
    total: int
    by_grade: dict[str, int] = Field(description="colour -> estates; unknown: not graded yet")


class Overview(BaseModel):
    at: datetime
    targets_s: dict[str, float] = Field(description="acknowledge, on scene, close (seconds from arrival)")
    devices: list[KindFigures]
    alarms: AlarmFigures
    hazards: HazardFigures
    estates: EstateFigures


def overview(engine: RuleEngine, estate_ids: list[str], now: datetime, *, whole_city: bool) -> Overview:
    """The figures of ``estate_ids`` (the caller's scope; ``whole_city`` when that is every estate)."""
    return Overview(
        at=now,
        targets_s=dict(ALARM_TARGETS_S),
        devices=device_figures(engine, estate_ids, now),
        alarms=alarm_figures(engine, None if whole_city else estate_ids, now),
        hazards=hazard_figures(engine, estate_ids, now),
        estates=estate_figures(engine, estate_ids),
    )


def device_figures(engine: RuleEngine, estate_ids: Iterable[str], now: datetime) -> list[KindFigures]:
    per_estate = _figures_of(engine)
    kinds = per_estate.kinds
    sums = [[0] * len(_FIELDS) for _ in kinds]
    scoped = list(estate_ids)
    for estate_id in scoped:
        for kind_sums, figures in zip(sums, per_estate.of(estate_id), strict=True):
            for i, n in enumerate(figures):
                kind_sums[i] += n
    in_window = [0] * len(kinds)
    for device_id in windowed_devices(engine, set(scoped), now):
        in_window[per_estate.kind_of[device_id]] += 1
    return [
        KindFigures(kind=kind.value, in_window=in_window[k], **dict(zip(_FIELDS, sums[k], strict=True)))
        for k, kind in enumerate(kinds)
        if sums[k][0]
    ]


#: The figures kept per estate and kind, in this order.
_FIELDS = ("total", "online", "offline", "fault", "not_heard")


class _EstateFigures:
    """Per estate, its devices' figures per kind, kept until the engine's version of the estate changes (it is
    bumped whenever a device of it is first heard, goes offline or back, or starts or stops failing): a wall
    screen asking every few seconds then walks only the estates that changed, not 20,000 devices."""

    def __init__(self, engine: RuleEngine) -> None:
        self.engine = engine
        self.kinds = list(DeviceKind)
        index = {kind: i for i, kind in enumerate(self.kinds)}
        self.kind_of = {device_id: index[device.kind] for device_id, device in engine.fleet.devices.items()}
        self.camera = index[DeviceKind.CAMERA]
        self.kept: dict[str, tuple[int, list[list[int]]]] = {}

    def of(self, estate_id: str) -> list[list[int]]:
        """[kind][total, online, offline, fault, not heard] of the estate's devices."""
        engine = self.engine
        version = engine.estate_version.get(estate_id, 0)
        hit = self.kept.get(estate_id)
        if hit is not None and hit[0] == version:
            return hit[1]
        fleet, kind_of, heard = engine.fleet, self.kind_of, engine.fleet.heard
        figures = [[0] * len(_FIELDS) for _ in self.kinds]
        for device_id in fleet.estate_devices.get(estate_id, ()):
            kind = kind_of[device_id]
            counts = figures[kind]
            offline, failing, _, _ = fleet.status_of(device_id)
            counts[0] += 1
            if offline:
                counts[2] += 1
            elif device_id in heard:
                counts[1] += 1
            else:
                counts[4] += 1
            # Any signal but offline is a fault of a detector or a hydrant; a camera's are findings.
            if failing and kind != self.camera:
                counts[3] += 1
        self.kept[estate_id] = (version, figures)
        return figures


_KEPT: WeakKeyDictionary[RuleEngine, _EstateFigures] = WeakKeyDictionary()


def _figures_of(engine: RuleEngine) -> _EstateFigures:
    kept = _KEPT.get(engine)
    if kept is None:
        kept = _KEPT[engine] = _EstateFigures(engine)
    return kept


def windowed_devices(engine: RuleEngine, estate_ids: set[str], now: datetime) -> set[str]:
    """The devices of ``estate_ids`` inside a maintenance or test window at ``now``."""
    fleet = engine.fleet
    covered: set[str] = set()
    for window in engine.windows.windows.values():
        if window.estate_id not in estate_ids or not window.starts_at <= now < window.until:
            continue
        if window.scope is WindowScope.DEVICE:
            covered.add(window.target_id)
            continue
        for device_id in fleet.estate_devices.get(window.estate_id, ()):
            if window.scope is WindowScope.ESTATE or fleet.devices[device_id].building_id == window.target_id:
                covered.add(device_id)
    return covered


def alarm_figures(engine: RuleEngine, estate_ids: list[str] | None, now: datetime) -> AlarmFigures:
    """``estate_ids`` None: every estate."""
    alarms = engine.store.todo.open_alarms(estate_ids=estate_ids, limit=100_000)
    bands = {name: [0, 0] for name, _, _ in BANDS}
    oldest: float | None = None
    for alarm in alarms:
        age = (now - alarm.received_at).total_seconds()
        unacknowledged = alarm.state is AlarmState.OPEN
        name = next(n for n, _, hi in BANDS if hi is None or age < hi)  # the bands are in order
        bands[name][0 if unacknowledged else 1] += 1
        if unacknowledged and (oldest is None or age > oldest):
            oldest = age
    return AlarmFigures(
        open=len(alarms),
        unacknowledged=sum(a.state is AlarmState.OPEN for a in alarms),
        test=sum(a.window_id is not None for a in alarms),
        estates=len({a.estate_id for a in alarms}),
        oldest_unacknowledged_s=oldest,
        bands=[
            AlarmBand(band=name, from_s=lo, to_s=hi, unacknowledged=bands[name][0], in_hand=bands[name][1])
            for name, lo, hi in BANDS
        ],
    )


def hazard_figures(engine: RuleEngine, estate_ids: Iterable[str], now: datetime) -> HazardFigures:
    open_records = engine.index.open_records
    states: Counter[str] = Counter()
    overdue = maintenance = 0
    for estate_id in estate_ids:
        for hazard in open_records.get(estate_id, {}).values():
            if hazard.criterion == MAINTENANCE_TASK:
                maintenance += 1
                continue
            states[hazard.state.value] += 1
            overdue += is_overdue(hazard.state, hazard.deadline, now)
    return HazardFigures(open=sum(states.values()), overdue=overdue, maintenance=maintenance, by_state=states)


def estate_figures(engine: RuleEngine, estate_ids: Iterable[str]) -> EstateFigures:
    grades = engine.grader.grades
    colours: Counter[str] = Counter()
    for estate_id in estate_ids:
        grade = grades.get(estate_id)
        colours[grade.colour if grade is not None else "unknown"] += 1
    return EstateFigures(total=sum(colours.values()), by_grade=dict(colours))
