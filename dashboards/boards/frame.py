"""What every board has around its panels: the folder it lives in, its tags, time range and refresh, the
menu linking it to the other boards, and the place variables (district → street → estate) it filters by.

A board module passes only what is its own (uid, title, description, extra variables); a change to how all
boards behave in Grafana is made here once. ``push`` creates the folder under the same uid and title that the
provisioning file gives it.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import dashboard as dm

from dashboards.influxql import district_variable, estate_variable, street_variable

FOLDER_TITLE = "Fire safety"
FOLDER_UID = "fire-safety"
TAGS = ["firegw", "fire-safety"]


def new_dashboard(uid: str, title: str, description: str, variables: list[Any]) -> dash.Dashboard:
    """A read-only board over the last 24 hours, refreshed every minute, linked to the other firegw boards."""
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .time("now-24h", "now")
        .refresh("1m")
        .timezone("browser")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .readonly()
        .annotations([])  # Grafana adds its built-in annotation query to an empty list, not to a missing one
        .link(
            dash.DashboardLink("消防看板 Fire safety")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags(["firegw"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
            .target_blank(False)
            .icon("external link")
            .tooltip("")
            .url("")
        )
        .variables(variables)
    )


def place_variables(*extra: Any) -> list[Any]:
    """District, street and estate (each narrowing the next), then the board's own variables."""
    return [district_variable(), street_variable(), estate_variable(), *extra]
