"""Scenarios: a fleet, a clock speed, reporting intervals and timed incidents, read from TOML and run.

A scenario is what a demo, a soak test or a regression test replays: "four estates, at 60x, and at +3 min the
hydrant HY-E001-03 loses its water". See ``docs/simulators.md`` for the format with a full example.

* ``model`` – what a scenario is (``Scenario``, ``FleetSpec``, ``Incident``, ``ScenarioError``).
* ``loading`` – reading and validating a scenario file (``load_scenario``, ``parse_scenario``).
* ``runner`` – running one on a ``SimClock`` (``ScenarioRunner``), counting into ``stats.ScenarioStats``.
* ``simulate`` – what ``firegw simulate`` runs: a scenario against an MQTT broker, with its simulated Modbus
  gateways served (``run_scenario_against_broker``, ``start_modbus_servers``).
* ``*.toml`` – the built-in scenarios (``demo.toml`` for ``firegw demo``, ``failed_hydrant.toml``).
"""
