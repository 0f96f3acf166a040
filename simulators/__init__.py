"""Device simulators, fleets and scenarios, so the whole gateway runs without hardware.

The simulators speak the documented wire formats (``docs/wire-formats.md``) with encoders of their own: they
never import ``collectors/``, so a decoding bug cannot hide behind shared code. Time comes from a
``SimClock`` that can run faster than real time or jump from event to event.

Where things are: ``devices/`` (one module per device family, plus what they share and ``make_sim``),
``scenarios/`` (the scenario format, its runner, and the built-in scenario files), ``fleet``, ``clock``,
``modbus_server`` (a simulated Modbus TCP gateway), ``publisher`` and ``burst``.

Entry points: ``generate_fleet`` (a realistic registry for a seed), ``load_scenario`` / ``ScenarioRunner``
(timed incidents on top of periodic reports), ``run_scenario_against_broker`` (what ``firegw simulate`` runs),
``MqttPublisher`` (reconnecting async publisher, ``simulators.publisher``) and ``burst`` / ``make_burst``
(benchmarks, ``simulators.burst``).
"""

from simulators.clock import SimClock, parse_duration
from simulators.devices.base import DeviceSim, Message
from simulators.devices.camera import CameraSim
from simulators.devices.factory import ReportIntervals, make_sim
from simulators.devices.hydrant import HydrantDtuSim, HydrantModbusSim
from simulators.devices.smoke import SmokeDetectorSim
from simulators.fleet import generate_fleet, modbus_gateways
from simulators.scenarios.loading import load_scenario, parse_scenario
from simulators.scenarios.model import FleetSpec, Incident, Scenario, ScenarioError
from simulators.scenarios.runner import ScenarioRunner
from simulators.scenarios.simulate import (
    run_scenario_against_broker,
    start_modbus_servers,
    stop_modbus_servers,
)
from simulators.scenarios.stats import ScenarioStats

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
