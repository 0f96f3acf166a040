"""Device simulators, fleets and scenarios, so the whole gateway runs without hardware.

The simulators speak the documented wire formats (``docs/wire-formats.md``) with encoders of their own: they
never import ``collectors/``, so a decoding bug cannot hide behind shared code. Time comes from a
``SimClock`` that can run faster than real time or jump from event to event.

Entry points: ``generate_fleet`` (a realistic registry for a seed), ``load_scenario`` / ``ScenarioRunner``
(timed incidents on top of periodic reports), ``run_scenario_against_broker`` (what ``firegw simulate`` runs),
``MqttPublisher`` (reconnecting async publisher) and ``burst`` / ``make_burst`` (benchmarks).
"""

from simulators.clock import SimClock, parse_duration
from simulators.devices import (
    CameraSim,
    DeviceSim,
    HydrantDtuSim,
    HydrantModbusSim,
    Message,
    ReportIntervals,
    SmokeDetectorSim,
    make_sim,
)
from simulators.fleet import generate_fleet, modbus_gateways
from simulators.scenario import (
    FleetSpec,
    Incident,
    Scenario,
    ScenarioError,
    ScenarioRunner,
    ScenarioStats,
    load_scenario,
    parse_scenario,
    run_scenario_against_broker,
    start_modbus_servers,
    stop_modbus_servers,
)

__all__ = [
    "CameraSim",
    "DeviceSim",
    "FleetSpec",
    "HydrantDtuSim",
    "HydrantModbusSim",
    "Incident",
    "Message",
    "ReportIntervals",
    "Scenario",
    "ScenarioError",
    "ScenarioRunner",
    "ScenarioStats",
    "SimClock",
    "SmokeDetectorSim",
    "generate_fleet",
    "load_scenario",
    "make_sim",
    "modbus_gateways",
    "parse_duration",
    "parse_scenario",
    "run_scenario_against_broker",
    "start_modbus_servers",
    "stop_modbus_servers",
]
