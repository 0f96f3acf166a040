"""The control room (消控室) a shift handover belongs to, and what is open in it when a shift hands over.

**A control room is the scope of the accounts that work it.** The accounts of one property company are the
people on duty in that company's control room, which watches the company's estates; an office's duty room
watches its district (or its street); the fire brigade's command centre watches the city. So a room is
identified by the scope those accounts already carry (``gateway/auth/principal.py``), written as a key:

    company:锦绣物业        the company's estates (a property account of 锦绣物业)
    area:东城区             a district (an office account of 东城区)
    area:东城区/和平街道     one street of it
    all                     every estate (brigade accounts)

No room is configured anywhere: an account works the room of its own scope, so two operators of 锦绣物业
hand over to each other without anyone registering a room first, and a room's estates follow the registry
the way every scope does (an estate moved to another company leaves its room at once). A viewer or a
supervisor reads the handovers of every room whose estates all lie in its own scope; anything else is "not
found", as an estate outside the scope is. A company that runs several physical rooms keeps one log under
this scheme; named rooms with their own estate lists would be the next step if one needs more.

**The snapshot** is what the gateway itself finds open in the room's estates at the moment of handover, so
that the log does not depend on what the outgoing operator remembered: open alarms with their state and age,
unacknowledged first; open hazards, overdue first and marked; devices offline or with an active fault
signal; maintenance windows running; estates graded red or yellow (any policy colour above its default one,
except the administrative out-of-use grey). Each list holds at most ``SNAPSHOT_LIMIT`` items; the counts are
always whole, and ``truncated`` names a list that was cut.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from pydantic import BaseModel, Field

from gateway.auth.principal import AccountScope, EstateScope, ScopeKind
from gateway.casework.engine import RuleEngine
from gateway.ingest.registry import Registry
from gateway.store.records import HazardRecord
from rules.grading import Reason
from rules.lifecycle import AlarmState, is_overdue
from rules.model import SignalKind

#: At most this many items per list of a snapshot (a city-wide room can have thousands of open hazards).
SNAPSHOT_LIMIT = 500

ALL_KEY = "all"


@dataclass(frozen=True, slots=True)
class ControlRoom:
    """A control room: the scope of the accounts that work it (see the module docstring)."""

    scope: AccountScope

    @classmethod
    def parse(cls, key: str) -> ControlRoom:
        """The room of a key; ``ValueError`` naming the accepted forms."""
        kind, _, name = key.strip().partition(":")
        if kind == ALL_KEY and not name:
            return cls(AccountScope())
        if kind == ScopeKind.COMPANY.value and name.strip():
            return cls(AccountScope(ScopeKind.COMPANY, company=name.strip()))
        district, _, street = name.partition("/")
        if kind == ScopeKind.AREA.value and district.strip():
            return cls(AccountScope(ScopeKind.AREA, district=district.strip(), street=street.strip() or None))
        raise ValueError(
            f"{key!r} is not a control room: give 'company:<property company>', 'area:<district>', "
            "'area:<district>/<street>' or 'all'"
        )

    @property
    def key(self) -> str:
        scope = self.scope
        if scope.kind is ScopeKind.COMPANY:
            return f"company:{scope.company}"
        if scope.kind is ScopeKind.AREA:
            return f"area:{scope.district}" + (f"/{scope.street}" if scope.street else "")
        return ALL_KEY

    @property
    def label(self) -> tuple[str, str]:
        """(Chinese, English) name of the room, for the log and the page."""
        scope = self.scope
        if scope.kind is ScopeKind.COMPANY:
            return f"{scope.company} 消防控制室", f"{scope.company} fire control room"
        if scope.kind is ScopeKind.AREA:
            area = " ".join(p for p in (scope.district, scope.street) if p)
            return f"{area} 值班室", f"{area} duty room"
        return "全市消防指挥中心", "city-wide fire command centre"

    def estates(self, registry: Registry) -> EstateScope:
        return self.scope.estates(registry)

    def readable_in(self, scope: EstateScope, own: ControlRoom, registry: Registry) -> bool:
        """Whether a caller who sees ``scope`` and works ``own`` may read this room's handovers: its own room,
        or one whose estates all lie in its scope (the city-wide room only for a city-wide scope)."""
        if self == own or scope.estate_ids is None:
            return True
        mine = self.estates(registry).estate_ids
        return bool(mine) and mine is not None and mine <= scope.estate_ids


# -- the snapshot -------------------------------------------------------------------------------------------


class AlarmItem(BaseModel):
    id: int
    estate_id: str
    device_id: str
    building_id: str
    floor: int | None
    location: str
    state: str
    acknowledged: bool
    received_at: datetime
    age_s: float = Field(description="seconds from its arrival to the snapshot")
    test: bool = Field(description="raised inside a maintenance window (测试/维护中)")


class HazardItem(BaseModel):
    id: int
    estate_id: str
    criterion: str
    state: str
    source: str
    device_id: str | None
    signal: str | None = None
    location: str
    description: str
    responsible: str
    opened_at: datetime
    deadline: datetime | None
    overdue: bool


class SignalItem(BaseModel):
    signal: str
    since: datetime | None
    detail: str
    monitoring: bool = Field(description="a monitoring fault: the facility's state is unknown, not failed")


class DeviceItem(BaseModel):
    id: str
    estate_id: str
    kind: str
    location: str
    offline: bool
    signals: list[SignalItem]
    window_id: int | None = Field(description="the maintenance window it is in, if any")


class WindowItem(BaseModel):
    id: int
    estate_id: str
    scope: str
    target_id: str
    starts_at: datetime
    ends_at: datetime
    declared_by: str
    reason: str


class EstateItem(BaseModel):
    id: str
    name: str
    grade: str
    level: int
    label_zh: str
    label_en: str
    why: str = Field(description="what decided the colour, in the policy's words")
    why_en: str = Field(default="", description="the same in English")


class SnapshotCounts(BaseModel):
    alarms: int = 0
    unacknowledged: int = 0
    hazards: int = 0
    overdue: int = 0
    devices: int = 0
    offline: int = 0
    windows: int = 0
    estates: int = 0


class HandoverSnapshot(BaseModel):
    """What was open in the room's estates at ``taken_at``, as the gateway found it."""

    taken_at: datetime
    counts: SnapshotCounts
    alarms: list[AlarmItem]
    hazards: list[HazardItem]
    devices: list[DeviceItem]
    windows: list[WindowItem]
    estates: list[EstateItem]
    truncated: list[str] = Field(
        default_factory=list, description=f"lists cut at {SNAPSHOT_LIMIT} items (their counts are whole)"
    )


def take_snapshot(engine: RuleEngine, estates: EstateScope, now: datetime) -> HandoverSnapshot:
    """What is open in ``estates`` now (see the module docstring)."""
    estate_ids = estates.filter(None)
    room_estates = [e.id for e in engine.registry.estates if estates.allows(e.id)]
    todo = engine.store.todo
    alarms = [
        AlarmItem.model_validate(
            asdict(a)
            | {
                "acknowledged": a.state is not AlarmState.OPEN,
                "age_s": (now - a.received_at).total_seconds(),
                "test": a.window_id is not None,
            }
        )
        for a in todo.open_alarms(estate_ids=estate_ids, limit=SNAPSHOT_LIMIT)
    ]
    alarm_total, unacknowledged = todo.alarm_counts(estate_ids=estate_ids)
    hazards = _hazards(engine, room_estates, now)
    devices = _devices(engine, room_estates, now)
    windows = [
        WindowItem.model_validate(asdict(w) | {"ends_at": w.until})  # ended early: when it really ended
        for w in engine.store.windows.find(estate_ids, active_at=now, limit=SNAPSHOT_LIMIT)
    ]
    flagged = _flagged_estates(engine, room_estates)
    counts = SnapshotCounts(
        alarms=alarm_total,
        unacknowledged=unacknowledged,
        hazards=len(hazards),
        overdue=sum(h.overdue for h in hazards),
        devices=len(devices),
        offline=sum(d.offline for d in devices),
        windows=len(windows),
        estates=len(flagged),
    )
    cut = ("alarms", "hazards", "devices", "estates")
    truncated = [name for name in cut if getattr(counts, name) > SNAPSHOT_LIMIT]
    return HandoverSnapshot(
        taken_at=now,
        counts=counts,
        alarms=alarms,
        hazards=hazards[:SNAPSHOT_LIMIT],
        devices=devices[:SNAPSHOT_LIMIT],
        windows=windows,
        estates=flagged[:SNAPSHOT_LIMIT],
        truncated=truncated,
    )


def _reason_en(reason: Reason) -> str:
    text = reason.text_en or reason.text
    return f"{', '.join(reason.codes)}: {text}" if reason.codes else text


def _hazards(engine: RuleEngine, estate_ids: list[str], now: datetime) -> list[HazardItem]:
    """Every open hazard of the estates, from the engine's index (what grading and the board count),
    overdue first, then by deadline, then oldest first."""
    records: list[HazardRecord] = []
    for estate_id in estate_ids:
        records.extend(engine.index.open_records.get(estate_id, {}).values())
    items = [
        HazardItem.model_validate(asdict(h) | {"overdue": is_overdue(h.state, h.deadline, now)})
        for h in records
    ]
    never = datetime.max.replace(tzinfo=now.tzinfo)
    return sorted(items, key=lambda h: (not h.overdue, h.deadline or never, h.id))


def _devices(engine: RuleEngine, estate_ids: list[str], now: datetime) -> list[DeviceItem]:
    """Devices offline or with another active signal, by estate and id."""
    fleet, policy = engine.fleet, engine.policy
    items = []
    for estate_id in estate_ids:
        if not any(fleet.estate_status.get(estate_id, ())):
            continue  # nothing offline or failing here: skip its devices (a city has 200,000)
        for device_id in sorted(fleet.estate_devices.get(estate_id, ())):
            rules = fleet.rules[device_id]
            active = rules.active_signals()
            if not active:
                continue
            device = fleet.devices[device_id]
            monitoring = policy.monitoring.get(device.kind, ())
            window = engine.windows.covering(device, now)
            items.append(
                DeviceItem(
                    id=device_id,
                    estate_id=estate_id,
                    kind=device.kind.value,
                    location=device.location,
                    offline=SignalKind.OFFLINE in active,
                    signals=[
                        SignalItem(
                            signal=kind.value,
                            since=rules.rules[kind].since,
                            detail=rules.rules[kind].detail,
                            monitoring=kind in monitoring,
                        )
                        for kind in active
                    ],
                    window_id=None if window is None else window.id,
                )
            )
    return items


def _flagged_estates(engine: RuleEngine, estate_ids: list[str]) -> list[EstateItem]:
    """Estates graded a policy colour above its default (red, yellow), worst first."""
    policy = engine.policy
    quiet = {policy.default, policy.out_of_use_colour}
    items = []
    for estate_id in estate_ids:
        grade = engine.grader.grades.get(estate_id)
        colour = policy.colour(grade.colour) if grade is not None else None
        if grade is None or colour is None or grade.colour in quiet:
            continue
        items.append(
            EstateItem(
                id=estate_id,
                name=engine.registry.estate(estate_id).name,
                grade=grade.colour,
                level=grade.level,
                label_zh=colour.zh,
                label_en=colour.en,
                why="; ".join(str(r) for r in grade.decisive) or grade.rule,
                why_en="; ".join(_reason_en(r) for r in grade.decisive) or grade.rule_en,
            )
        )
    return sorted(items, key=lambda e: (-e.level, e.id))
