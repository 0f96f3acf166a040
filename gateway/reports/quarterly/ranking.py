"""How property companies are ranked within a street and within a district: a lexicographic order, stated
in every output (``gateway.reports.quarterly.text.ORDER``) and in docs/reports.md.

1. 隐患整改率, higher first;
2. 设施完好率, higher first;
3. overdue at the quarter's end, fewer first;
4. alarms acknowledged within a minute (share), higher first.

Each rate is compared as printed, to 0.1 percentage point (per mille, rounded half up), so two companies
that read the same in the table share their place. A company without a rate (nothing due, nothing
monitored, no alarm) comes after every company with one on that key. Companies equal on all four keys
share a rank, and the next rank skips (1, 1, 3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gateway.reports.quarterly.model import Change, QuarterFigures

RankKey = tuple[bool, int, bool, int, int, bool, int]


def per_mille(share: float | None) -> int | None:
    """A share in 0.1 % steps, rounded half up: what the tables print and what the ranking compares."""
    return None if share is None else math.floor(share * 1000 + 0.5)


def _descending(share: float | None) -> tuple[bool, int]:
    value = per_mille(share)
    return value is None, -(value or 0)


def rank_key(figures: QuarterFigures) -> RankKey:
    return (
        *_descending(figures.rectification.rate),
        *_descending(figures.facilities.rate),
        figures.overdue.overdue_at_end,
        *_descending(figures.alarms.share_within("ack")),
    )


def ranked(rows: Sequence[tuple[str, QuarterFigures]]) -> list[tuple[int, str, QuarterFigures]]:
    """``(company, figures)`` in rank order with their ranks; ties share the rank and are listed by name."""
    ordered = sorted(rows, key=lambda row: (rank_key(row[1]), row[0]))
    out: list[tuple[int, str, QuarterFigures]] = []
    for i, (company, figures) in enumerate(ordered):
        rank = out[-1][0] if out and rank_key(out[-1][2]) == rank_key(figures) else i + 1
        out.append((rank, company, figures))
    return out


def _difference(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else now - before


def change(
    now: QuarterFigures, before: QuarterFigures, rank: int | None = None, previous_rank: int | None = None
) -> Change:
    """Against the previous quarter; ``rank``: places gained (positive) or lost since ``previous_rank``."""
    return Change(
        rectification_rate=_difference(now.rectification.rate, before.rectification.rate),
        intact_rate=_difference(now.facilities.rate, before.facilities.rate),
        overdue_at_end=now.overdue.overdue_at_end - before.overdue.overdue_at_end,
        rank=None if rank is None or previous_rank is None else previous_rank - rank,
    )
