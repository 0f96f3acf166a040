"""``firegw``: the command line. Each sub-command is a short function; the work lives in the modules it calls.

firegw demo                      embedded default: in-process broker, simulators, SQLite, live summary
firegw run --config gateway.toml the gateway against real infrastructure
firegw check --config gateway.toml  validate config and registry, print what would run
firegw simulate --scenario S --broker host:port   simulated devices against any broker
firegw registry import devices.csv -o registry.toml
firegw registry generate --estates 20 -o registry.toml
firegw deadletters --config gateway.toml [--reason R] [--device D]
firegw policy [FILE] [--show-criteria]   validate a grading policy and show what it decides
firegw grades --config gateway.toml      the latest grade of every estate, with reasons
firegw assessment add|list|void --config gateway.toml --estate E001 ...   assessments (排查登记), evidence
firegw users create-admin|add|list|disable|enable|set-password|set-role|unlock|lockouts ...  accounts
firegw tokens create|list|revoke --config gateway.toml ...   API tokens (Authorization: Bearer)
firegw window add|list|end --config gateway.toml ...   maintenance and test windows (屏蔽 with a time limit)
firegw placard ESTATE --config gateway.toml [-o placard.png]   the estate's grade placard (公示牌)
firegw report --month 2026-11 --config gateway.toml [--district D | --company C] [--format xlsx]
firegw dashboards generate|check|push [--grafana-url URL --token T]   Grafana dashboards (docs/dashboards.md)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.casework.model import EngineError
from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.ingest.registry import Registry, RegistryError, load_registry, registry_to_toml
from rules.policy import Policy, PolicyError, load_policy
from simulators.scenarios.model import ScenarioError

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger(__name__)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def _run_async(coro: Coroutine[Any, Any, int]) -> int:
    """Run until done or Ctrl-C; Ctrl-C cancels the main task so that everything shuts down cleanly."""
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        print("\nstopped.", file=sys.stderr)
        return 0


def _broker(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT with a port from 1 to 65535, got {value!r}")
    return host, int(port)


def _number(kind: type[int] | type[float], low: float, high: float | None = None) -> Any:
    """An argparse type: a number of ``kind`` from ``low`` (to ``high``), refused with the range."""
    span = f"from {low:g} to {high:g}" if high is not None else f"of at least {low:g}"
    noun = "a whole number" if kind is int else "a number"

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun} {span}, got {text!r}") from None
        if value != value or value < low or (high is not None and value > high):  # NaN fails too
            raise argparse.ArgumentTypeError(f"expected {noun} {span}, got {text!r}")
        return value

    return parse


COUNT = _number(int, 0)
SHARE = _number(float, 0, 1)
PORT = _number(int, 0, 65535)
#: Seconds, speeds: above zero (0.001 s is the shortest that means anything here).
POSITIVE = _number(float, 0.001)


def cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    _setup_logging(config.gateway.log_level)
    from gateway.app import Gateway
    from gateway.console import live_summary

    async def main() -> int:
        gateway = Gateway(config)
        settle_heap()
        _stop_on_signals(gateway)
        summary = None if args.quiet else asyncio.create_task(live_summary(gateway))
        try:
            await gateway.run()
        finally:
            if summary is not None:
                summary.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await summary
        return 0

    return _run_async(main())


def _stop_on_signals(gateway: Gateway) -> None:
    """SIGTERM (systemctl stop, docker stop) and SIGINT (Ctrl-C) both stop cleanly (``Gateway.request_stop``);
    a second one stops at once, leaving what was not acknowledged to the broker."""
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if gateway.stop_reason:
            log.warning("%s again: stopping at once", name)
            if main_task is not None:
                main_task.cancel()
            return
        gateway.request_stop(name)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


def settle_heap() -> None:
    """Move everything built at start-up (registry, decoders, modules) out of the garbage collector's
    view, and collect young objects less often. At tens of thousands of messages per second the cyclic
    collector otherwise re-scans the whole registry over and over; nothing in the hot path makes cycles."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def cmd_check(args: argparse.Namespace) -> int:
    """The configuration, then the registry, the grading policy and each device's thresholds under that
    policy: every problem of all of them in one run (``error:`` lines, exit status 2), or what would run."""
    config = load_config(args.config)
    problems: list[str] = []
    registry: Registry | None = None
    policy: Policy | None = None
    try:
        registry = load_registry(config.gateway.registry)
    except RegistryError as exc:
        problems.append(str(exc))
    if config.rules.enabled:
        try:
            policy = load_policy(config.rules.policy)
        except PolicyError as exc:
            problems.append(str(exc))
    if registry is not None and policy is not None:
        problems += _threshold_problems(registry, policy)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 2
    assert registry is not None
    _print_plan(config, len(registry.estates), len(registry.devices), len(registry.modbus_devices()))
    return 0


def _threshold_problems(registry: Registry, policy: Policy) -> list[str]:
    """Each device whose thresholds the policy cannot resolve (a limit of its own against the policy's)."""
    from rules.thresholds import ThresholdError

    resolved: set[tuple[object, ...]] = set()  # devices alike in kind, point and limits: resolved once
    problems = []
    for d in registry.devices:
        key = (d.kind, d.point, d.reading, tuple(sorted(d.thresholds.items())))
        if key in resolved:
            continue
        try:
            policy.thresholds_for(d.kind, d.thresholds, f"device {d.id!r}", point=d.point, reading=d.reading)
            resolved.add(key)
        except ThresholdError as exc:
            problems.append(f"thresholds of {exc}")
    return problems


def _print_plan(config: GatewayConfig, estates: int, devices: int, modbus: int) -> None:
    print(f"configuration OK: gateway {config.gateway.id!r}")
    print(
        f"  registry   {config.gateway.registry}: {estates} estates, {devices} devices ({modbus} on Modbus)"
    )
    print(f"  MQTT       {config.mqtt.host}:{config.mqtt.port} as {config.mqtt.client_id!r}")
    for sub in config.mqtt.subscriptions:
        print(f"             {sub.topic:<28} -> {sub.decoder}")
    print(f"  storage    {config.storage.kind}")
    print(f"  data dir   {config.gateway.data_dir}")
    if config.ha.enabled:
        ha = config.ha
        lease = f"lease ttl {ha.ttl_s:g} s, heartbeat {ha.heartbeat_s:g} s"
        print(f"  HA         partition {ha.partition!r}, active or standing by ({lease})")


def cmd_demo(args: argparse.Namespace) -> int:
    _setup_logging("WARNING" if not args.verbose else "INFO")
    args.data_dir.mkdir(parents=True, exist_ok=True)  # before the broker starts: a bad folder is one line
    from gateway.demo import DemoOptions, run_demo

    options = DemoOptions(
        scenario=args.scenario,
        speed=args.speed,
        duration_s=args.duration,
        broker=args.broker,
        influx_url=args.influx_url,
        influx_database=args.influx_db,
        data_dir=args.data_dir,
        quiet=args.quiet,
        api_port=args.api_port,
    )
    return _run_async(run_demo(options))


def cmd_simulate(args: argparse.Namespace) -> int:
    _setup_logging("INFO" if args.verbose else "WARNING")
    from simulators.scenarios.simulate import run_scenario_against_broker

    host, port = args.broker

    def progress(stats: object) -> None:
        print(stats, flush=True)

    async def main() -> int:
        await run_scenario_against_broker(
            args.scenario, host, port, speed=args.speed, modbus_port=args.modbus_port, progress=progress
        )
        return 0

    return _run_async(main())


def cmd_registry_import(args: argparse.Namespace) -> int:
    registry = load_registry(args.source)
    text = registry_to_toml(registry)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(
            f"wrote {args.output}: {len(registry.estates)} estates, {len(registry.buildings)} buildings,"
            f" {len(registry.devices)} devices"
        )
    return 0


def cmd_registry_generate(args: argparse.Namespace) -> int:
    from simulators.fleet import generate_fleet

    registry = generate_fleet(
        estates=args.estates,
        smoke_per_estate=args.smoke,
        hydrants_per_estate=args.hydrants,
        cameras_per_estate=args.cameras,
        modbus_share=args.modbus_share,
        seed=args.seed,
    )
    Path(args.output).write_text(registry_to_toml(registry), encoding="utf-8")
    print(f"wrote {args.output}: {len(registry.estates)} estates, {len(registry.devices)} devices")
    return 0


def cmd_deadletters(args: argparse.Namespace) -> int:
    from gateway.ingest.deadletter import DeadLetterStore

    config = load_config(args.config)
    store = DeadLetterStore(config.gateway.data_dir / "dead_letters.sqlite")
    rows = store.recent(limit=args.limit, device_id=args.device, reason=args.reason)
    for row in rows:
        payload = (row.payload or b"")[:200].decode("utf-8", "replace")
        print(f"{row.received_at:%Y-%m-%d %H:%M:%S} {row.reason:<16} {row.device_id or '-':<18} {row.detail}")
        print(f"    topic={row.topic or '-'} payload={payload!r}")
    print(f"{len(rows)} shown, {store.count()} stored")
    return 0


def cmd_policy(args: argparse.Namespace) -> int:
    """Validate a policy file (every problem listed with its key) and summarise what it decides."""
    from rules.policy import load_policy

    policy = load_policy(args.file)
    colours = " < ".join(f"{c.id} ({c.zh}, {c.meaning.en})" for c in policy.colours)
    print(f"{policy.id} {policy.version}: {policy.name.zh} / {policy.name.en}")
    print(f"  colours: {colours}; default {policy.default}")
    for rule in policy.grade_rules:
        print(f"  {rule.colour:<8} when {rule.count} >= {rule.at_least}  {rule.why.zh} / {rule.why.en}")
    for counted in policy.counted:
        window = f"within {_span(counted.window)}" if counted.window else "until the next assessment"
        print(f"  {counted.criterion:<4} when {counted.source} >= {counted.at_least} {window}")
    print(f"  assessment valid {_span(policy.assessment.valid_for)}; green conditions:")
    for code, condition in policy.conditions.items():
        kinds = ", ".join(condition.evidence)
        print(
            f"    {code:<4} valid {_span(condition.valid_for):<6} evidence: {kinds}  ({condition.source.zh})"
        )
    for item, conditions in policy.contradicts.items():
        print(f"    {item} contradicts {', '.join(conditions)}")
    d = policy.deadlines
    print(
        f"  deadlines: red {_span(d.red)}, yellow {_span(d.yellow)}, green {_span(d.green)}; "
        f"recheck after {_span(d.recheck_after)}, escalate every {_span(d.escalate_every)}"
    )
    print(f"  {len(policy.criteria)} criteria; device signals feed:")
    for kind, table in policy.signals.items():
        for signal_kind, codes in table.items():
            print(
                f"    {kind.value:<15} {signal_kind.value:<24} -> "
                f"{', '.join(codes) or '(event, grades nothing)'}"
            )
    for kind, monitoring in policy.monitoring.items():
        names = ", ".join(s.value for s in monitoring)
        print(f"    {kind.value:<15} monitoring faults (maintenance task, coverage): {names}")
    if args.show_criteria:
        for code, criterion in policy.criteria.items():
            print(f"  {code:<4} [{policy.category(code)}] {criterion.zh} / {criterion.en}")
    return 0


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86_400 == 0:
        return f"{seconds // 86_400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


def cmd_grades(args: argparse.Namespace) -> int:
    """The latest grade of every estate, from the hazard store (works while the gateway runs)."""
    from gateway.store import HazardStore

    config = load_config(args.config)
    url = config.rules.store_url or f"sqlite:///{config.gateway.data_dir / 'hazards.sqlite'}"
    store = HazardStore(url)
    latest = store.grades.latest()
    if not latest:
        print("no grades recorded yet (has the gateway run with [rules] enabled?)")
        return 0
    for estate_id, change in sorted(latest.items()):
        reasons = "; ".join(f"{', '.join(r['codes'])}: {r['text']}" for r in change.reasons) or "-"
        print(f"{estate_id:<10} {change.colour:<8} since {change.at:%Y-%m-%d %H:%M} UTC  {reasons}")
    store.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="firegw", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="run everything embedded: broker, simulators, gateway, SQLite")
    p.add_argument("--scenario", default=None, help="scenario file (default: the built-in demo)")
    p.add_argument("--speed", type=POSITIVE, default=None, help="simulated seconds per real second")
    p.add_argument("--duration", type=POSITIVE, default=None, help="stop after this many real seconds")
    p.add_argument(
        "--broker", type=_broker, default=None, help="use this MQTT broker instead of the embedded one"
    )
    p.add_argument("--influx-url", default=None, help="write to this InfluxDB 1.x (v1 API) instead of SQLite")
    p.add_argument("--influx-db", default="firegw", help="InfluxDB database (with --influx-url)")
    p.add_argument("--data-dir", type=Path, default=Path("var/demo"), help="where the demo keeps its data")
    p.add_argument("--quiet", action="store_true", help="no live summary; print one line at the end")
    p.add_argument("--api-port", type=PORT, default=8080, help="HTTP API and web UI port (0: any free port)")
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", help="run the gateway with a configuration file")
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("--quiet", action="store_true", help="no live summary (logs only)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check", help="validate the configuration and the registry")
    p.add_argument("--config", required=True, type=Path)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("simulate", help="run a scenario's simulated devices against an MQTT broker")
    p.add_argument("--scenario", required=True)
    p.add_argument("--broker", type=_broker, required=True, help="HOST:PORT")
    p.add_argument("--speed", type=POSITIVE, default=None)
    p.add_argument("--modbus-port", type=PORT, default=None, help="serve simulated Modbus hydrants here")
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("registry", help="device registry tools")
    rsub = p.add_subparsers(dest="registry_command", required=True)
    r = rsub.add_parser("import", help="convert/validate a registry (CSV, YAML, JSON, TOML) to TOML")
    r.add_argument("source", type=Path)
    r.add_argument("-o", "--output", default="-")
    r.set_defaults(func=cmd_registry_import)
    r = rsub.add_parser("generate", help="generate a synthetic registry (for tests and benchmarks)")
    r.add_argument("--estates", type=COUNT, default=10)
    r.add_argument("--smoke", type=COUNT, default=40, help="smoke detectors per estate")
    r.add_argument("--hydrants", type=COUNT, default=6, help="hydrant sensors per estate")
    r.add_argument("--cameras", type=COUNT, default=2, help="cameras per estate")
    r.add_argument("--modbus-share", type=SHARE, default=0.5, help="share of hydrants polled over Modbus")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("-o", "--output", required=True)
    r.set_defaults(func=cmd_registry_generate)

    p = sub.add_parser("deadletters", help="show rejected inputs with their reasons")
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("--reason", default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--limit", type=_number(int, 1), default=20)
    p.set_defaults(func=cmd_deadletters)

    p = sub.add_parser("policy", help="check a grading policy file and show what it decides")
    p.add_argument("file", nargs="?", type=Path, default=None, help="policy TOML (default: the built-in one)")
    p.add_argument("--show-criteria", action="store_true", help="also list the criteria catalogue")
    p.set_defaults(func=cmd_policy)

    p = sub.add_parser("grades", help="the latest grade of every estate, with reasons")
    p.add_argument("--config", required=True, type=Path)
    p.set_defaults(func=cmd_grades)

    from gateway.auth.cli import add_parsers as add_account_parsers  # firegw users, firegw tokens

    add_account_parsers(sub)

    from gateway.window_cli import add_parsers as add_window_parsers  # firegw window add|list|end

    add_window_parsers(sub)

    from gateway.assessment_cli import add_parsers as add_assessment_parsers  # firegw assessment ...

    add_assessment_parsers(sub)

    from gateway.parties_cli import add_parsers as add_party_parsers  # firegw parties list|add|update|import

    add_party_parsers(sub)

    from gateway.reports.cli import add_report_parsers  # firegw placard, firegw report

    add_report_parsers(sub)

    from dashboards.cli import add_dashboards_parser  # firegw dashboards generate|check|push

    add_dashboards_parser(sub)
    return parser


#: What a command refuses with a sentence (printed after ``error:``, exit status 2).
REFUSALS = (ConfigError, RegistryError, PolicyError, ScenarioError, EngineError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. A refusal, or a file that cannot be read or written, is a sentence on stderr with
    exit status 2; anything else that escapes a command is one line with exit status 1 (set
    ``FIREGW_TRACEBACK=1`` to see where it came from). No input makes ``firegw`` print a traceback."""
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except REFUSALS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if os.environ.get("FIREGW_TRACEBACK"):
            raise
        print(
            f"error: firegw {args.command} failed: {type(exc).__name__}: {exc} "
            "(a bug: please report it; FIREGW_TRACEBACK=1 shows where)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
