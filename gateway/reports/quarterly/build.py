"""``build_quarterly_report``: the quarterly assessment of property companies (季度考核, seed 001 §(二)7)
for the estates in the caller's scope, from the hazard store.

The figures cover the estates the caller may see (and the district asked for): what a caller is not
allowed to see does not enter its report, so a ranking is among the companies whose estates are in scope
(a property company sees itself alone). ``company`` then picks one company's rows from that report: its
ranks are still among every company in scope. Estates without a property company (无物业, run by the
street) count in the total and in no company's row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from gateway.ingest.registry import Registry
from gateway.models import Estate
from gateway.reports.monthly.scope import cutoff_of, report_heading, select_estates
from gateway.reports.quarterly.model import CompanyRow, QuarterlyReport, RankingGroup, RankingRow
from gateway.reports.quarterly.period import previous_quarter, quarter_bounds
from gateway.reports.quarterly.ranking import change, ranked
from gateway.reports.quarterly.tally import PeriodTally, tally_period
from gateway.store import HazardStore
from rules.policy import Policy

#: (district, street): "" for the street of a district's ranking.
Area = tuple[str, str]


def build_quarterly_report(
    store: HazardStore,
    registry: Registry,
    policy: Policy,
    *,
    quarter: str,
    now: datetime,
    district: str | None = None,
    company: str | None = None,
    allowed: Callable[[str], bool] | None = None,
) -> QuarterlyReport:
    """The quarter's assessment; ``allowed``: the caller's scope (None: every estate)."""
    tz = ZoneInfo(policy.timezone)
    start, end = quarter_bounds(quarter, tz)
    cutoff = cutoff_of(f"quarter {quarter}", start, end, now, tz)
    base = select_estates(registry, district=district, allowed=allowed)
    if company:
        select_estates(registry, district=district, company=company, allowed=allowed)  # 404 if none
    everything = len(base) == len(registry.estates)
    earlier = previous_quarter(quarter)
    before_start, before_end = quarter_bounds(earlier, tz)
    current = tally_period(
        store, base, registry.devices, policy, start=start, cutoff=cutoff, everything=everything
    )
    previous = tally_period(
        store, base, registry.devices, policy, start=before_start, cutoff=before_end, everything=everything
    )

    def shown(name: str) -> bool:
        return not company or name == company

    companies = []
    for name, ids in sorted(_estates_by(base, lambda e: ("", "")).get(("", ""), {}).items()):
        if shown(name):
            now_figures, before_figures = current.figures(ids), previous.figures(ids)
            companies.append(
                CompanyRow(name, now_figures, before_figures, change(now_figures, before_figures))
            )
    districts = _rankings("district", _estates_by(base, lambda e: (e.district, "")), current, previous, shown)
    streets = _rankings(
        "street", _estates_by(base, lambda e: (e.district, e.street)), current, previous, shown
    )
    chosen = [e.id for e in base if shown(e.property_company)]
    heading = report_heading(
        policy, district=district, company=company, start=start, end=end, cutoff=cutoff, now=now
    )
    return QuarterlyReport(
        quarter=quarter,
        previous_quarter=earlier,
        **heading,
        total=current.figures(chosen),
        previous_total=previous.figures(chosen),
        companies=tuple(companies),
        districts=districts,
        streets=streets,
    )


def _estates_by(
    estates: Sequence[Estate], area: Callable[[Estate], Area]
) -> dict[Area, dict[str, list[str]]]:
    """The estate ids of each company in each area (estates without a company left out)."""
    out: dict[Area, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for estate in estates:
        if estate.property_company:
            out[area(estate)][estate.property_company].append(estate.id)
    return out


def _rankings(
    level: Literal["district", "street"],
    areas: dict[Area, dict[str, list[str]]],
    current: PeriodTally,
    previous: PeriodTally,
    shown: Callable[[str], bool],
) -> tuple[RankingGroup, ...]:
    """One ranking per area, this quarter's against the previous one's; rows only of companies shown."""
    groups = []
    for (district, street), companies in sorted(areas.items()):
        now_rows = ranked([(name, current.figures(ids)) for name, ids in companies.items()])
        before_rows = ranked([(name, previous.figures(ids)) for name, ids in companies.items()])
        before = {name: (rank, figures) for rank, name, figures in before_rows}
        rows = tuple(
            RankingRow(
                rank, name, figures, before[name][0], change(figures, before[name][1], rank, before[name][0])
            )
            for rank, name, figures in now_rows
            if shown(name)
        )
        if rows:
            groups.append(
                RankingGroup(
                    level=level,
                    district=district,
                    street=street,
                    ranked=len(now_rows),
                    rows=rows,
                )
            )
    return tuple(groups)
