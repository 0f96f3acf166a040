"""``firegw demo``: the whole chain on one machine with nothing to install.

In-process MQTT broker (amqtt) -> simulated estates (smoke detectors in three wire formats, hydrants over
Modbus TCP and over MQTT, fire-lane cameras) -> the gateway -> SQLite, with the live terminal summary.
``--broker`` and ``--influx-url`` point the same demo at real servers instead.

The UI and API ask for an account like a real gateway's: the demo makes one account per role with a new
random password at every start and prints them with the UI's address, so there is nothing to set up and no
default password that could survive into a real installation.
"""

from __future__ import annotations

import asyncio
import contextlib
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from gateway.app import Gateway
from gateway.auth.passwords import generate_password
from gateway.auth.principal import Role
from gateway.auth.service import AuthService
from gateway.config import parse_config
from gateway.console import live_summary, summary_line
from gateway.embedded_broker import EmbeddedBroker, free_port
from gateway.ingest.registry import Registry
from gateway.models import utc_now
from simulators.clock import SimClock
from simulators.scenarios.loading import load_scenario
from simulators.scenarios.simulate import (
    run_scenario_against_broker,
    start_modbus_servers,
    stop_modbus_servers,
)
from simulators.scenarios.stats import ScenarioStats


@dataclass(frozen=True, slots=True)
class DemoOptions:
    scenario: str | None = None
    speed: float | None = None
    duration_s: float | None = None
    broker: tuple[str, int] | None = None
    influx_url: str | None = None
    influx_database: str = "firegw"
    data_dir: Path = Path("var/demo")
    quiet: bool = False
    api_port: int = 8080


def builtin_scenario() -> Path:
    return Path(str(resources.files("simulators") / "scenarios" / "demo.toml"))


async def run_demo(options: DemoOptions) -> int:
    scenario = load_scenario(options.scenario or builtin_scenario())
    scenario = scenario.with_overrides(speed=options.speed, modbus_port=free_port())
    registry = scenario.registry()
    storage: dict[str, Any] = {"kind": "sqlite"}
    if options.influx_url:
        storage = {"kind": "influx_v1", "url": options.influx_url, "database": options.influx_database}

    broker = EmbeddedBroker() if options.broker is None else None
    host, port = options.broker or (broker.host, broker.port)  # type: ignore[union-attr]
    config = parse_config(
        {
            "gateway": {"id": "demo", "data_dir": str(options.data_dir.resolve()), "stats_interval_s": 10},
            "mqtt": {"host": host, "port": port, "client_id": "firegw-demo", "backoff_max_s": 5},
            "storage": storage,
            "modbus": {"request_timeout_s": 0.5},
            "rules": {"tick_interval_s": 0.5},
            "api": {"port": options.api_port},
            "notify": {"control_room_phone": DEMO_CONTROL_ROOM_PHONE},
        }
    )
    # One simulated clock for the devices and the gateway: hold times and offline windows run at demo speed.
    clock = SimClock(scenario.start, scenario.speed)
    sim_stats = ScenarioStats()

    def on_progress(stats: ScenarioStats) -> None:
        nonlocal sim_stats
        sim_stats = stats

    stop = asyncio.Event()
    if broker is not None:
        await broker.start()
    # The simulated Modbus TCP gateways come up before the gateway polls them (no start-up comm faults).
    modbus_servers = await start_modbus_servers(registry)
    gateway = Gateway(config, registry, clock=clock.now)
    assess_demo_estates(gateway)
    accounts: list[DemoAccount] = []
    if gateway.auth is not None:  # argon2 takes ~0.4 s a password: off the loop the broker runs on
        accounts = await asyncio.to_thread(create_demo_accounts, gateway.auth, registry)
    try:
        async with asyncio.TaskGroup() as group:
            gateway_task = group.create_task(gateway.run(), name="gateway")
            await asyncio.wait_for(gateway.ready.wait(), 30)
            if config.api.enabled:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(gateway.api_ready.wait(), 10)
                print(access_text(gateway, accounts), flush=True)
            sim_task = group.create_task(
                run_scenario_against_broker(
                    scenario,
                    host,
                    port,
                    progress=on_progress,
                    stop=stop,
                    modbus_servers=modbus_servers,
                    clock=clock,
                ),
                name="simulator",
            )
            ui_task = None
            if not options.quiet:
                ui_task = group.create_task(live_summary(gateway, lambda: sim_stats.summary()), name="ui")
            if options.duration_s is not None:
                await asyncio.sleep(options.duration_s)
                stop.set()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(sim_task), 10)
                await asyncio.sleep(1.0)  # let the last messages through the pipeline
                for task in (ui_task, gateway_task, sim_task):
                    if task is not None:
                        task.cancel()
    finally:
        await stop_modbus_servers(modbus_servers)
        if broker is not None:
            await broker.stop()
    print(summary_line(gateway))
    print(sim_stats.summary())
    if gateway.engine is not None:
        print(grades_line(gateway))
    print(f"data kept in {options.data_dir}/ (SQLite: telemetry.sqlite, hazards.sqlite, dead_letters.sqlite)")
    return 0


#: Who records the demo's assessments (排查登记): the street office, as before an estate's first placard.
DEMO_ASSESSOR = "演示街道办"
#: The demo control room's phone, named on every alarm (a made-up number in the 0571 area).
DEMO_CONTROL_ROOM_PHONE = "0571-8765 0119"


def assess_demo_estates(gateway: Gateway) -> int:
    """Record an assessment with every green condition met for each estate without a current one, so that
    the demo's estates are graded from the start instead of 未评定 (not assessed). Returns how many."""
    engine = gateway.engine
    if engine is None:
        return 0
    now = engine.clock()
    valid_for = engine.policy.assessment.valid_for
    recorded = 0
    for estate in gateway.registry.estates:
        held = engine.index.evidence.get(estate.id, ())
        if any(e.kind == "assessment" and e.at <= now < e.at + valid_for for e in held):
            continue  # assessed in an earlier run on the same data folder
        engine.assessments.record(
            estate_id=estate.id,
            kind="assessment",
            at=now,
            by=DEMO_ASSESSOR,
            met=list(engine.policy.conditions),
            note="演示数据：开始时排查登记，各项绿色条件均符合",
            now=now,
        )
        recorded += 1
    return recorded


@dataclass(frozen=True, slots=True)
class DemoAccount:
    username: str
    password: str
    role: Role
    scope: str
    admin: bool


def create_demo_accounts(auth: AuthService, registry: Registry) -> list[DemoAccount]:
    """One account per role, named after the role, with a fresh random password (an account left from an
    earlier run in the same data folder gets the new one). Office, property and grid accounts are scoped to
    the first estate's district, company and street, so that their narrower view can be tried at once."""
    first = registry.estates[0] if registry.estates else None
    district = (first.district if first else "") or None
    street = (first.street if first else "") or None
    company = (first.property_company if first else "") or None
    # role: (district, street, company)
    plans: dict[Role, tuple[str | None, str | None, str | None]] = {
        Role.BRIGADE: (None, None, None),
        Role.OFFICE: (district, None, None),
        Role.PROPERTY: (None, None, company),
        Role.GRID: (district, street, None),
        Role.VIEWER: (None, None, None),
    }
    out = []
    for role, (d, s, c) in plans.items():
        if role in (Role.OFFICE, Role.GRID, Role.PROPERTY) and not (d or c):
            continue  # the registry has no district or company to scope it by
        password = generate_password()
        admin = role is Role.BRIGADE
        user = auth.store.ensure_user(
            username=role.value,
            role=role,
            password=password,
            now=utc_now(),
            display_name=f"演示 {role.zh}",
            district=d,
            street=s,
            company=c,
            admin=admin,
        )
        out.append(DemoAccount(role.value, password, role, user.scope.describe(), admin))
    return out


def access_text(gateway: Gateway, accounts: list[DemoAccount]) -> str:
    """Where the UI is and how to sign in, printed once before the live summary."""
    api = gateway.config.api
    port = gateway.api_port if gateway.api_port is not None else api.port
    lines = [f"web UI: http://{api.host}:{port}/   (API: http://{api.host}:{port}/docs)"]
    if gateway.auth is None:
        lines.append("accounts are disabled: the UI and API are open")
    else:
        lines.append("sign in with one of these demo accounts (new random passwords at every start):")
        for a in accounts:
            extra = ", admin" if a.admin else ""
            width = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in a.role.zh)
            label = a.role.zh + " " * (14 - width)  # CJK characters take two columns
            who = f"{a.role.value:<9} {label} user {a.username:<9}"
            lines.append(f"  {who} password {a.password}  ({a.scope}{extra})")
    return "\n".join(lines)


def grades_line(gateway: Gateway) -> str:
    """``grades: 3 green, 1 yellow (E002: Y10, G4, G6 ...); hazards opened 4, auto-closed 2; alarms 3``."""
    engine = gateway.engine
    if engine is None:
        return "grades: rule layer disabled"
    counts: dict[str, int] = {}
    flagged = []
    for estate_id, grade in sorted(engine.grader.grades.items()):
        counts[grade.colour] = counts.get(grade.colour, 0) + 1
        if grade.reasons:
            flagged.append(f"{estate_id}: {grade.summary}")
    c = engine.counters
    text = ", ".join(f"{n} {colour}" for colour, n in sorted(counts.items()))
    lines = [
        f"grades: {text}; hazards opened {c.hazards_opened}, auto-closed {c.hazards_auto_closed}; "
        f"alarms {c.alarms_raised}; grade changes {c.grade_changes}"
    ]
    lines += [f"  {line}" for line in flagged[:10]]
    return "\n".join(lines)
