"""``firegw assessment add|list|void``: assessments (排查登记) and evidence records from the command line.

They work on the configured hazard store, so they work while the gateway runs; a running gateway grades a
record written here at its next store sync (``[rules] store_sync_s``; on at once with PostgreSQL) or start.
Records go through the same checks as the API's (gateway/casework/assessments.py): a refusal lists every
problem, one per line, and writes nothing.

    firegw assessment add --config gateway.toml --estate E001 --kind assessment --met G1,G2,G3 --not-met G8
    firegw assessment list --config gateway.toml --estate E001
    firegw assessment void --config gateway.toml 12 --reason "entered for the wrong estate"
"""

from __future__ import annotations

import argparse
import getpass
from datetime import datetime
from zoneinfo import ZoneInfo

from gateway.casework.assessments import codes, record_problems
from gateway.cli_refusals import reported
from gateway.config import GatewayConfig, load_config
from gateway.ingest.registry import Registry, load_registry
from gateway.models import utc_now
from gateway.store import HazardStore
from gateway.store.assessments import AssessmentRecord
from gateway.store.database import NotFound
from rules.lifecycle import TransitionError
from rules.policy import EVIDENCE_KINDS, Policy, load_policy


class Refused(Exception):
    """What the command cannot do, in sentences (printed after ``error:``, exit status 2)."""


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``assessment`` on the top-level parser (called from ``gateway.cli``)."""
    p = sub.add_parser("assessment", help="assessments (排查登记) and evidence records of estates")
    asub = p.add_subparsers(dest="assessment_command", required=True)

    a = asub.add_parser("add", help="record an assessment, patrol, drill, maintenance report or duty roster")
    a.add_argument("--config", required=True)
    a.add_argument("--estate", required=True, help="the estate's id, e.g. E001")
    a.add_argument("--kind", default="assessment", help=f"one of {', '.join(EVIDENCE_KINDS)}")
    a.add_argument("--met", default="", help="green conditions found to hold, e.g. G1,G2,G3")
    a.add_argument("--not-met", default="", help="green conditions found not to hold (an assessment only)")
    a.add_argument(
        "--at",
        default=None,
        help="when it took place, ISO 8601 (default: now); without a zone, the policy's local time",
    )
    a.add_argument("--by", default=None, help="who inspected (default: your user name)")
    a.add_argument("--note", default="")
    a.add_argument(
        "--attach",
        action="append",
        default=[],
        metavar="NAME=URL_OR_PATH",
        help="an attachment, e.g. 排查登记表.pdf=https://... (repeatable)",
    )
    a.set_defaults(func=cmd_add)

    a = asub.add_parser("list", help="an estate's records, newest first")
    a.add_argument("--config", required=True)
    a.add_argument("--estate", required=True)
    a.set_defaults(func=cmd_list)

    a = asub.add_parser("void", help="void a record entered in error (it stays, marked)")
    a.add_argument("--config", required=True)
    a.add_argument("id", type=int)
    a.add_argument("--reason", required=True)
    a.add_argument("--by", default=None, help="who voids it (default: your user name)")
    a.set_defaults(func=cmd_void)


_reported = reported(Refused, NotFound, TransitionError)


def _open(config: GatewayConfig) -> HazardStore:
    config.gateway.data_dir.mkdir(parents=True, exist_ok=True)
    return HazardStore(config.hazard_store_url())


def _estate(registry: Registry, estate_id: str) -> None:
    try:
        registry.estate(estate_id)
    except KeyError:
        known = [e.id for e in registry.estates]
        shown = ", ".join(known[:10]) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
        raise Refused(
            f"--estate: no estate {estate_id!r} in the registry; it has {shown or 'none'}"
        ) from None


def _when(value: str | None, policy: Policy) -> datetime:
    if value is None:
        return utc_now()
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Refused(f"--at: {value!r} is not a time; give ISO 8601, e.g. 2026-11-23T10:00+08:00") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=ZoneInfo(policy.timezone))


def _attachments(values: list[str]) -> list[dict[str, str]]:
    out = []
    for i, value in enumerate(values):
        name, sep, where = value.partition("=")
        if not sep or not name.strip() or not where.strip():
            raise Refused(f"--attach {i + 1}: {value!r} is not NAME=URL_OR_PATH")
        key = "url" if "://" in where else "path"
        out.append({"name": name.strip(), key: where.strip()})
    return out


def _who(given: str | None) -> str:
    return given if given is not None else getpass.getuser()


def _line(record: AssessmentRecord) -> str:
    met = ",".join(record.met) or "-"
    not_met = f"  not met {','.join(record.not_met)}" if record.not_met else ""
    void = f"  VOID ({record.void_reason}, {record.voided_by})" if record.voided else ""
    return (
        f"#{record.id:<5} {record.at:%Y-%m-%d %H:%M} UTC  {record.kind:<18} met {met}{not_met}  "
        f"by {record.recorded_by}{void}"
    )


@_reported
def cmd_add(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    registry = load_registry(config.gateway.registry)
    policy = load_policy(config.rules.policy)
    _estate(registry, args.estate)
    at = _when(args.at, policy)
    met, not_met = codes(args.met), codes(args.not_met)
    attachments = _attachments(args.attach)
    by = _who(args.by)
    now = utc_now()
    kind = args.kind.strip()
    problems = record_problems(
        policy, kind=kind, at=at, by=by, met=met, not_met=not_met, attachments=attachments, now=now
    )
    if problems:
        flags = {"met": "--met", "not_met": "--not-met", "kind": "--kind", "at": "--at", "by": "--by"}
        lines = []
        for problem in problems:
            field, _, rest = problem.partition(": ")
            named = ", ".join(flags.get(f.strip(), f.strip()) for f in field.split(","))
            lines.append(f"{named}: {rest}")
        raise Refused("nothing recorded:\n  " + "\n  ".join(lines))
    store = _open(config)
    try:
        record = store.assessments.add(
            estate_id=args.estate,
            kind=kind,
            at=at,
            recorded_by=by.strip(),
            met=met,
            not_met=not_met,
            note=args.note,
            attachments=attachments,
            now=now,
        )
    finally:
        store.close()
    print(f"recorded {_line(record)}")
    print("a running gateway grades it at its next store sync ([rules] store_sync_s) or start")
    return 0


@_reported
def cmd_list(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    _estate(load_registry(config.gateway.registry), args.estate)
    store = _open(config)
    try:
        records = store.assessments.find([args.estate])
    finally:
        store.close()
    if not records:
        print(f"{args.estate}: no assessment or evidence recorded (not assessed, 未评定)")
        return 0
    for record in records:
        print(_line(record))
    return 0


@_reported
def cmd_void(args: argparse.Namespace) -> int:
    if not args.reason.strip():
        raise Refused("--reason: say why the record is void (e.g. entered for the wrong estate)")
    store = _open(load_config(args.config))
    try:
        record = store.assessments.void(args.id, by=_who(args.by), reason=args.reason.strip(), now=utc_now())
    finally:
        store.close()
    print(f"voided {_line(record)}")
    return 0
