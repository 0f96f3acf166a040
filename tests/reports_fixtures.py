"""The ``scenario`` and ``november`` fixtures of the report tests, which take them with
``pytest_plugins = ["reports_fixtures"]``: the scenario runs once for all of them, since they only read the
store (the HTTP tests add their accounts)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from reports_scenario import Scenario, run_scenario

from gateway.reports.monthly.figures import build_monthly_report
from gateway.reports.monthly.model import MonthlyReport


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    s = run_scenario(tmp_path_factory.mktemp("reports"))
    yield s
    s.engine.store.close()


@pytest.fixture(scope="session")
def november(scenario: Scenario) -> MonthlyReport:
    return build_monthly_report(
        scenario.store, scenario.registry, scenario.policy, month="2026-11", now=scenario.clock.now
    )
