"""``firegw window add|list|end``: maintenance and test windows (屏蔽 with a time limit), from a shell.

The commands write to the configured hazard store, with the same checks as the API (the registry and the
policy of the configuration). A running gateway takes a window declared or ended here in within
``REFRESH_S`` (30 s); the API (``POST /api/windows``) takes effect at once. Times without a UTC offset are
read in the policy's time zone (Asia/Shanghai by default); ``--to`` may also be a duration after ``--from``
(``+2h``, ``+90m``). Every refusal is one sentence per problem on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import getpass
from datetime import datetime
from zoneinfo import ZoneInfo

from gateway.casework.windows import REFRESH_S, window_problems
from gateway.cli_refusals import reported
from gateway.config import GatewayConfig, load_config
from gateway.ingest.registry import load_registry
from gateway.models import utc_now
from gateway.store import HazardStore
from gateway.store.database import NotFound
from gateway.store.windows import WindowRecord
from rules.lifecycle import TransitionError
from rules.policy import Policy, load_policy, parse_duration


class WindowCliError(ValueError):
    """A refused command: the message says what is wrong."""


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``window`` on the top-level parser (called from ``gateway.cli``)."""
    p = sub.add_parser("window", help="maintenance and test windows: no hazards from the devices inside")
    wsub = p.add_subparsers(dest="window_command", required=True)

    w = wsub.add_parser("add", help="declare a window for an estate, a building or a device")
    _config(w)
    w.add_argument("--estate", required=True, help="the estate id (E001)")
    target = w.add_mutually_exclusive_group()
    target.add_argument("--building", default=None, help="only this building's devices")
    target.add_argument("--device", default=None, help="only this device")
    w.add_argument("--from", dest="starts", default="now", help="start: ISO time, or now (default)")
    w.add_argument("--to", dest="ends", required=True, help="end: ISO time, or a duration after --from (+2h)")
    w.add_argument("--reason", required=True, help="what is tested or maintained")
    w.add_argument("--by", default=None, help="who declares it (default: your login name)")
    w.set_defaults(func=cmd_add)

    w = wsub.add_parser("list", help="windows not yet ended, or every window with --all")
    _config(w)
    w.add_argument("--estate", action="append", default=None, help="only this estate (repeatable)")
    w.add_argument("--all", action="store_true", help="also windows that ended (newest first, 200)")
    w.set_defaults(func=cmd_list)

    w = wsub.add_parser("end", help="end a window early: devices still failing then get their hazards")
    _config(w)
    w.add_argument("id", type=int)
    w.add_argument("--reason", default="", help="why it ends early")
    w.add_argument("--by", default=None, help="who ends it (default: your login name)")
    w.set_defaults(func=cmd_end)


def _config(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", default="gateway.toml", help="the gateway's configuration (default gateway.toml)"
    )


_reported = reported(WindowCliError, NotFound, TransitionError, split=True)


def _open(args: argparse.Namespace) -> tuple[GatewayConfig, HazardStore]:
    config = load_config(args.config)
    config.gateway.data_dir.mkdir(parents=True, exist_ok=True)
    return config, HazardStore(config.hazard_store_url())


def _who(given: str | None) -> str:
    if given:
        return given
    try:
        return f"{getpass.getuser()} (command line)"
    except OSError:
        return "command line"


def parse_time(
    value: str, *, now: datetime, zone: ZoneInfo, field: str, after: datetime | None = None
) -> datetime:
    """``now``, an ISO time (without an offset: in ``zone``) or, with ``after``, ``+2h`` after it."""
    text = value.strip()
    if text.lower() == "now":
        return now
    if text.startswith("+") and after is not None:
        try:
            return after + parse_duration(text[1:])
        except ValueError:
            raise WindowCliError(f"{field}: {value!r} is not a duration such as +2h, +90m or +1d") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        hint = ", or a duration after --from such as +2h" if after is not None else ""
        raise WindowCliError(
            f"{field}: {value!r} is not a time: give an ISO time such as 2026-11-23T10:00 (in {zone.key}) or "
            f"2026-11-23T10:00+08:00, or now{hint}"
        ) from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def _describe(window: WindowRecord, now: datetime, zone: ZoneInfo) -> str:
    def local(moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    ended = f", ended early by {window.ended_by} at {local(window.ended_at)}" if window.ended_at else ""
    return (
        f"window {window.id} [{window.state(now)}] estate {window.estate_id}, {window.scope.value} "
        f"{window.target_id}: {local(window.starts_at)} to {local(window.ends_at)} ({zone.key}), "
        f"declared by {window.declared_by}: {window.reason}{ended}"
    )


def _policy(config: GatewayConfig) -> Policy:
    return load_policy(config.rules.policy)


@_reported
def cmd_add(args: argparse.Namespace) -> int:
    config, store = _open(args)
    try:
        policy = _policy(config)
        zone = ZoneInfo(policy.timezone)
        registry = load_registry(config.gateway.registry)
        now = utc_now()
        starts_at = parse_time(args.starts, now=now, zone=zone, field="--from")
        ends_at = parse_time(args.ends, now=now, zone=zone, field="--to", after=starts_at)
        declared_by = _who(args.by)
        scope, target, problems = window_problems(
            registry,
            policy,
            estate_id=args.estate,
            building_id=args.building,
            device_id=args.device,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=args.reason,
            declared_by=declared_by,
            now=now,
        )
        if problems:
            names = {"estate_id": "--estate", "building_id": "--building", "device_id": "--device"}
            names |= {"starts_at": "--from", "ends_at": "--to", "reason": "--reason", "declared_by": "--by"}
            for field, option in names.items():
                problems = [p.replace(f"{field}:", f"{option}:", 1) for p in problems]
            raise WindowCliError("; ".join(problems))
        window = store.windows.add(
            estate_id=args.estate,
            scope=scope,
            target_id=target,
            starts_at=starts_at,
            ends_at=ends_at,
            declared_by=declared_by.strip(),
            reason=args.reason.strip(),
            now=now,
        )
    finally:
        store.close()
    print(f"declared {_describe(window, now, zone)}")
    print(f"a running gateway takes it in within {REFRESH_S:.0f} s")
    return 0


@_reported
def cmd_list(args: argparse.Namespace) -> int:
    config, store = _open(args)
    try:
        zone = ZoneInfo(_policy(config).timezone)
        now = utc_now()
        if args.all:
            windows = store.windows.find(args.estate, limit=200)
        else:
            windows = [
                w
                for w in store.windows.current_and_future(now)
                if not args.estate or w.estate_id in args.estate
            ]
    finally:
        store.close()
    if not windows:
        print("no windows" if args.all else "no window is active or scheduled (--all: also those that ended)")
    for window in windows:
        print(_describe(window, now, zone))
    return 0


@_reported
def cmd_end(args: argparse.Namespace) -> int:
    config, store = _open(args)
    try:
        zone = ZoneInfo(_policy(config).timezone)
        now = utc_now()
        window = store.windows.end_early(args.id, by=_who(args.by), reason=args.reason.strip(), now=now)
    finally:
        store.close()
    print(f"ended {_describe(window, now, zone)}")
    print(
        f"a running gateway settles it within {REFRESH_S:.0f} s: devices still failing then get their hazards"
    )
    return 0
