"""What a monthly report covers: the estates (a district, a property company, both, or all the caller may
see) and the period (one calendar month in the policy's time zone, and its days up to the cutoff)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.ingest.registry import Registry
from gateway.models import Estate
from gateway.reports.monthly.model import NothingToReport, ReportError, ReportHeading
from rules.policy import Policy

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


#: The years a report may be asked for: the gateway's records start after 2000, and beyond these the
#: calendar arithmetic (the next month, the previous quarter, a time zone's offset) leaves ``datetime``.
YEARS = range(2000, 3000)


def check_year(field: str, period: str, year: int) -> None:
    if year not in YEARS:
        raise ReportError(f"{field}: {period!r} is outside the years {YEARS.start} to {YEARS.stop - 1}")


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The first instant of the month and of the next one, in ``tz``."""
    match = MONTH.match(month)
    if match is None:
        raise ReportError(f"month: expected YYYY-MM (e.g. 2026-11), got {month!r}")
    year, mon = int(match.group(1)), int(match.group(2))
    check_year("month", month, year)
    start = datetime(year, mon, 1, tzinfo=tz)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz)
    return start, end


def cutoff_of(period: str, start: datetime, end: datetime, now: datetime, tz: ZoneInfo) -> datetime:
    """Where a period's figures run to: its end, or ``now`` for the period in progress (local time); a
    period that has not started (``period``: "month 2027-01") is refused."""
    if now < start:
        raise ReportError(f"{period} has not started yet")
    return min(end, now.astimezone(tz))


def days_until(start: datetime, cutoff: datetime) -> list[date]:
    """The local days from ``start`` that begin before ``cutoff``: the days device-days are counted over."""
    days = []
    day = start.date()
    while datetime(day.year, day.month, day.day, tzinfo=start.tzinfo) < cutoff:
        days.append(day)
        day += timedelta(days=1)
    return days


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


def scope_names(district: str | None, company: str | None) -> tuple[str, str]:
    """What the report covers, in Chinese and English, for its titles."""
    if district and company:
        return f"{district} · {company}", f"{district} · {company}"
    if district or company:
        return str(district or company), str(district or company)
    return "全部小区", "all estates"


def report_heading(
    policy: Policy,
    *,
    district: str | None,
    company: str | None,
    start: datetime,
    end: datetime,
    cutoff: datetime,
    now: datetime,
) -> ReportHeading:
    """What a report says of itself, whatever its period: scope, period, cutoff, when, policy."""
    scope_zh, scope_en = scope_names(district, company)
    return ReportHeading(
        scope_zh=scope_zh,
        scope_en=scope_en,
        district=district,
        company=company,
        start=start,
        end=end,
        cutoff=cutoff,
        generated_at=now.astimezone(start.tzinfo),
        timezone=policy.timezone,
        policy_zh=policy.name.zh,
        policy_ref=f"{policy.id} {policy.version}",
    )
