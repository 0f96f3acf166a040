"""Which quarter a quarterly assessment covers: ``2026Q4`` is October to December 2026 in the policy's time
zone; the one before it, for the change against the previous quarter."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from gateway.reports.monthly.model import ReportError
from gateway.reports.monthly.scope import check_year

QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
QUARTER_PATTERN = QUARTER.pattern


def _parse(quarter: str) -> tuple[int, int]:
    match = QUARTER.match(quarter)
    if match is None:
        raise ReportError(f"quarter: expected YYYYQn with n from 1 to 4 (e.g. 2026Q4), got {quarter!r}")
    check_year("quarter", quarter, int(match.group(1)))
    return int(match.group(1)), int(match.group(2))


def quarter_bounds(quarter: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The first instant of the quarter and of the next one, in ``tz``."""
    year, q = _parse(quarter)
    start = datetime(year, 3 * q - 2, 1, tzinfo=tz)
    end = datetime(year + (q == 4), 3 * q % 12 + 1, 1, tzinfo=tz)
    return start, end


def previous_quarter(quarter: str) -> str:
    year, q = _parse(quarter)
    return f"{year - 1}Q4" if q == 1 else f"{year}Q{q - 1}"


def quarter_zh(quarter: str) -> str:
    """``2026年第四季度``."""
    year, q = _parse(quarter)
    return f"{year}年第{'一二三四'[q - 1]}季度"
