"""What a monthly report is: its figures as plain data, the formats it is printed in, and its errors.

``gateway.reports.monthly.figures`` fills a ``MonthlyReport`` from the hazard store; the output modules
(``pdf``, ``xlsx``, ``csv_table``) print it. This module imports neither side, so the HTTP API can name the
formats and the errors without loading the store queries or reportlab and openpyxl.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypedDict

Format = Literal["pdf", "xlsx", "csv"]
MEDIA_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


class ReportError(ValueError):
    """A report that cannot be made as asked (bad month, nothing matches); the message says why."""


class NothingToReport(ReportError):
    """No estate (in scope) matches the district or company asked for."""


class ReportHeading(TypedDict):
    """The fields every report (monthly, quarterly) has about itself (``scope.report_heading``)."""

    scope_zh: str
    scope_en: str
    district: str | None
    company: str | None
    start: datetime
    end: datetime
    cutoff: datetime
    generated_at: datetime
    timezone: str
    policy_zh: str
    policy_ref: str


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
    #: Facility-hours monitored and, of them, failed; facility-hours not monitored (monitoring faults), apart.
    monitored_hours: float
    failed_hours: float
    unmonitored_hours: float
    intact_rate: float | None
    alarms: int
    #: Distinct incidents: complaints received in the month, neither voided nor merged by its end.
    complaints: int
    fires: int
    grade_start: str
    grade_end: str
    grade_changes: int
    #: At the end of the month (or now): the latest assessment (排查登记, local time) and until when it holds.
    assessed_at: datetime | None = None
    assessment_valid_until: datetime | None = None
    #: Green conditions without current evidence (never evidenced, or expired), e.g. ("G2",).
    conditions_due: tuple[str, ...] = ()
    #: Devices that must report, of them with a monitoring fault, and the share without one (None: none).
    monitored: int = 0
    monitoring_faults: int = 0
    coverage: float | None = None


@dataclass(frozen=True, slots=True)
class KindIntact:
    kind: str
    zh: str
    en: str
    devices: int
    monitored_hours: float
    failed_hours: float
    unmonitored_hours: float
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
class FalseAlarmRow:
    """One detector's false alarms received in the month, by cause (``unknown``: closed before causes)."""

    device_id: str
    estate_id: str
    location: str
    false_alarms: int
    by_cause: dict[str, int]


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
    # facilities: facility-hours monitored, of them failed, and not monitored (monitoring faults)
    monitored_hours: float
    failed_hours: float
    unmonitored_hours: float
    intact_rate: float | None
    intact_by_kind: list[KindIntact]
    # alarms
    alarms: int
    alarms_by_hour: list[int]
    alarm_outcomes: dict[str, int]
    steps: list[StepStats]
    # records and grades; complaints are distinct incidents (voided and merged ones counted apart)
    complaints: int
    fires: int
    grades_at_end: dict[str, int]
    grade_changes: list[GradeChangeRow] = field(default_factory=list)
    #: Complaints received in the month that were voided (filed in error) or merged into another by its end.
    complaints_voided: int = 0
    complaints_merged: int = 0
    #: Maintenance tasks (monitoring faults), not hazards: opened in the month, open at its end.
    maintenance_opened: int = 0
    maintenance_open_at_end: int = 0
    #: False alarms received in the month by cause (``rules.lifecycle.FalseAlarmCause``), and per detector
    #: (most first).
    false_alarm_causes: dict[str, int] = field(default_factory=dict)
    false_alarms_by_detector: list[FalseAlarmRow] = field(default_factory=list)

    @property
    def rectification_denominator(self) -> int:
        return self.hazards_opened - self.withdrawn

    def colour_name(self, colour: str) -> str:
        return self.colour_names.get(colour, colour or "—")

    @property
    def not_assessed_at_end(self) -> int:
        """Estates without a current assessment at the end of the month."""
        return sum(
            1
            for e in self.estates
            if e.assessment_valid_until is None or e.assessment_valid_until <= self.cutoff
        )

    @property
    def conditions_due_at_end(self) -> int:
        """Estates with at least one green condition due at the end of the month."""
        return sum(1 for e in self.estates if e.conditions_due)
