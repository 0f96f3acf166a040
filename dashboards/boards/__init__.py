"""The fire brigade's five dashboards, one module each, listed in ``BOARDS`` in the order of the folder.

A board module (``city_overview``, ``device_health``, ``hydrant_pressure``, ``fire_lanes``, ``alarms``) holds
what its panels answer and the InfluxQL that answers it, and exposes ``build()``. What the boards share lives
beside them: ``frame`` (folder, tags, time range, links, place variables), ``legend`` (the texts and colours
of the rule layer's values, and the limits from ``rules.thresholds``) and ``queries`` (the InfluxQL patterns
more than one board needs). ``dashboards.build`` turns ``BOARDS`` into the committed JSON.
"""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.models import dashboard as dm

from dashboards.boards import alarms, city_overview, device_health, fire_lanes, hydrant_pressure

#: Every dashboard, in the order of the folder: file name stem -> builder.
BOARDS: dict[str, Callable[[], dm.Dashboard]] = {
    "city-overview": city_overview.build,
    "device-health": device_health.build,
    "hydrant-pressure": hydrant_pressure.build,
    "fire-lanes": fire_lanes.build,
    "alarms": alarms.build,
}
