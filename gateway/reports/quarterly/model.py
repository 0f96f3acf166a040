"""What a quarterly assessment of property companies is: its figures as plain data, and their JSON form.

``gateway.reports.quarterly.build`` fills a ``QuarterlyReport`` from the hazard store; ``pdf`` and ``xlsx``
print it and the HTTP API answers ``as_json``. The figures of one company (or of one company's estates in a
street or district) are a ``QuarterFigures``; the same type holds the previous quarter's, so that the change
is a subtraction.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from typing import Any, Literal

from gateway.reports.monthly.model import KindIntact, StepStats

Format = Literal["json", "pdf", "xlsx"]
MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True, slots=True)
class Rectification:
    """隐患整改率 and what it is made of (``gateway.reports.quarterly.tally`` defines each count)."""

    #: Hazards opened in the quarter (maintenance tasks apart), whatever became of them.
    found: int
    #: People-worked hazards due in the quarter, and of them: verified by the deadline, verified after it,
    #: not verified by the quarter's end (of which rectified and waiting for the inspector).
    due: int
    on_time: int
    late: int
    not_rectified: int
    awaiting_verification: int
    #: Counted apart: device hazards that closed themselves, hazards withdrawn by a supervisor.
    auto_closed: int
    withdrawn: int
    rate: float | None


@dataclass(frozen=True, slots=True)
class Overdue:
    open_at_end: int
    overdue_at_end: int
    #: Hazards escalated (督办升级) at least once in the quarter, and the escalations.
    escalated: int
    escalations: int


@dataclass(frozen=True, slots=True)
class Maintenance:
    """Maintenance tasks (monitoring faults: a sensor offline, a low battery): not hazards, counted apart."""

    opened: int
    closed: int
    open_at_end: int


@dataclass(frozen=True, slots=True)
class Facilities:
    """设施完好率: facility-hours intact ÷ monitored, per kind; hours of a monitoring fault apart."""

    monitored_hours: float
    failed_hours: float
    unmonitored_hours: float
    rate: float | None
    by_kind: tuple[KindIntact, ...]


@dataclass(frozen=True, slots=True)
class Alarms:
    received: int
    outcomes: dict[str, int]
    steps: tuple[StepStats, ...]
    #: Alarms closed as a real fire; fires recorded (from alarms or entered by hand).
    real_fires: int
    fires: int
    false_alarms: int
    false_alarm_causes: dict[str, int]

    def share_within(self, step: str) -> float | None:
        return next((s.share_within for s in self.steps if s.step == step), None)


@dataclass(frozen=True, slots=True)
class QuarterFigures:
    estates: tuple[str, ...]
    rectification: Rectification
    overdue: Overdue
    maintenance: Maintenance
    facilities: Facilities
    alarms: Alarms


@dataclass(frozen=True, slots=True)
class Change:
    """Against the previous quarter: rate differences as shares (0.1 = ten percentage points; None when
    either quarter has no rate), the overdue count's difference, and places gained in the ranking."""

    rectification_rate: float | None
    intact_rate: float | None
    overdue_at_end: int
    rank: int | None = None


@dataclass(frozen=True, slots=True)
class CompanyRow:
    company: str
    figures: QuarterFigures
    previous: QuarterFigures
    change: Change


@dataclass(frozen=True, slots=True)
class RankingRow:
    #: 1 for the first; companies with equal keys share a rank (1, 1, 3).
    rank: int
    company: str
    figures: QuarterFigures
    previous_rank: int | None
    change: Change


@dataclass(frozen=True, slots=True)
class RankingGroup:
    level: Literal["district", "street"]
    district: str
    #: The street, for a street's ranking ("" for a district's).
    street: str
    #: Companies ranked (rows may be fewer when the report is about one company).
    ranked: int
    rows: tuple[RankingRow, ...]


@dataclass(frozen=True, slots=True)
class QuarterlyReport:
    quarter: str
    previous_quarter: str
    #: What the report covers, for titles: "全部小区", "锦江区", "锦绣物业", "锦江区 · 锦绣物业".
    scope_zh: str
    scope_en: str
    district: str | None
    company: str | None
    start: datetime  # local, inclusive
    end: datetime  # local, exclusive
    #: Figures run to here: the end of the quarter, or "now" for the quarter in progress.
    cutoff: datetime
    generated_at: datetime  # local
    timezone: str
    policy_zh: str
    policy_ref: str
    total: QuarterFigures
    previous_total: QuarterFigures
    companies: tuple[CompanyRow, ...]
    districts: tuple[RankingGroup, ...]
    streets: tuple[RankingGroup, ...]

    @property
    def in_progress(self) -> bool:
        return self.cutoff < self.end


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses as objects, tuples as lists, datetimes in ISO 8601."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
