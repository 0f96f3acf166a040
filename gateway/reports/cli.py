"""``firegw placard`` and ``firegw report``: the placard, the monthly report and the quarterly assessment of
property companies from the command line.

firegw placard ESTATE --config gateway.toml [-o placard.pdf|placard.png]
firegw report --month 2026-11 --config gateway.toml [--district D | --company C] [--format xlsx] [-o F]
firegw report quarterly --quarter 2026Q4 --config gateway.toml [--district D] [--company C] [--format xlsx]

All read the hazard store the gateway writes (works while it runs) and the registry and policy of the
configuration; the heavy imports (reportlab, openpyxl) happen only when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gateway.cli_refusals import reported
from gateway.config import GatewayConfig, load_config
from gateway.ingest.registry import Registry, load_registry
from gateway.models import Estate
from gateway.reports.fonts import FontMissing
from gateway.reports.monthly.model import ReportError

if TYPE_CHECKING:
    from gateway.store import HazardStore
    from rules.policy import Policy

PLACARD_FORMATS = ("pdf", "png")
REPORT_FORMATS: dict[str, Literal["pdf", "xlsx", "csv"]] = {"pdf": "pdf", "xlsx": "xlsx", "csv": "csv"}
QUARTERLY_FORMATS: dict[str, Literal["json", "pdf", "xlsx"]] = {"pdf": "pdf", "xlsx": "xlsx", "json": "json"}


def _store_url(config: GatewayConfig) -> str:
    return config.rules.store_url or f"sqlite:///{config.gateway.data_dir / 'hazards.sqlite'}"


def _open(args: argparse.Namespace) -> tuple[GatewayConfig, Registry, Policy, HazardStore]:
    """The configuration, its registry and policy, and the hazard store a report reads."""
    from gateway.store import HazardStore
    from rules.policy import load_policy

    config = load_config(args.config)
    registry = load_registry(config.gateway.registry)
    policy = load_policy(config.rules.policy)
    return config, registry, policy, HazardStore(_store_url(config))


def find_estate(registry: Registry, key: str) -> Estate | None:
    """An estate by id, or by its exact name."""
    for estate in registry.estates:
        if estate.id == key:
            return estate
    matches = [e for e in registry.estates if e.name == key]
    return matches[0] if len(matches) == 1 else None


def _format(output: Path | None, given: str | None, known: Iterable[str], default: str) -> str:
    if given:
        return given
    if output is not None and output.suffix.lower().lstrip(".") in set(known):
        return output.suffix.lower().lstrip(".")
    return default


def _write(output: Path, data: bytes) -> None:
    if str(output) == "-":
        sys.stdout.buffer.write(data)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    print(f"wrote {output} ({len(data):,} bytes)")


def cmd_placard(args: argparse.Namespace) -> int:
    from gateway.reports.placard import placard_for, render_placard
    from gateway.store import HazardStore
    from rules.policy import load_policy

    config = load_config(args.config)
    registry = load_registry(config.gateway.registry)
    estate = find_estate(registry, args.estate)
    if estate is None:
        known = ", ".join(e.id for e in registry.estates[:20])
        more = " ..." if len(registry.estates) > 20 else ""
        print(
            f"error: no estate {args.estate!r} in {config.gateway.registry}; estates: {known}{more}",
            file=sys.stderr,
        )
        return 2
    fmt = _format(args.output, args.format, PLACARD_FORMATS, "pdf")
    output = args.output or Path(f"placard-{estate.id}.{fmt}")
    policy = load_policy(config.rules.policy)
    store = HazardStore(_store_url(config))
    try:
        # The QR code needs an address residents reach: [api] public_url, or the API's own address.
        api = config.api
        public_url = api.public_url or f"http://{api.host}:{api.port}"
        data = placard_for(
            store,
            estate,
            policy,
            hotline=config.reports.hotline,
            now=datetime.now(UTC),
            public_url=public_url,
        )
    finally:
        store.close()
    try:
        content = render_placard(data, "png" if fmt == "png" else "pdf", config.reports.font or None)
    except FontMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _write(output, content)
    return 0


@reported(ReportError, FontMissing)
def cmd_report(args: argparse.Namespace) -> int:
    if args.month is None:
        print(
            "error: say which report: --month YYYY-MM for the monthly report, or "
            "'firegw report quarterly --quarter YYYYQn' for the quarterly assessment",
            file=sys.stderr,
        )
        return 2
    from gateway.reports.monthly.figures import build_monthly_report
    from gateway.reports.monthly.render import render_report

    config, registry, policy, store = _open(args)
    fmt = _format(args.output, args.format, REPORT_FORMATS, "pdf")
    try:
        report = build_monthly_report(
            store,
            registry,
            policy,
            month=args.month,
            now=datetime.now(UTC),
            district=args.district,
            company=args.company,
        )
    finally:
        store.close()
    content = render_report(report, REPORT_FORMATS[fmt], config.reports.font or None)
    scope = "-" + (args.district or args.company) if (args.district or args.company) else ""
    _write(args.output or Path(f"report-{args.month}{scope}.{fmt}"), content)
    return 0


@reported(ReportError, FontMissing)
def cmd_quarterly(args: argparse.Namespace) -> int:
    """Refusals (a bad or future quarter, a district or company with no estate, no font, the store out of
    reach) are one sentence on stderr and exit status 2."""
    from gateway.reports.quarterly.build import build_quarterly_report
    from gateway.reports.quarterly.render import render_report

    config, registry, policy, store = _open(args)
    fmt = _format(args.output, args.format, QUARTERLY_FORMATS, "pdf")
    try:
        report = build_quarterly_report(
            store,
            registry,
            policy,
            quarter=args.quarter,
            now=datetime.now(UTC),
            district=args.district,
            company=args.company,
        )
    finally:
        store.close()
    content = render_report(report, QUARTERLY_FORMATS[fmt], config.reports.font or None)
    if report.in_progress:
        print(
            f"note: {report.quarter} is in progress: figures up to {report.cutoff:%Y-%m-%d %H:%M}",
            file=sys.stderr,
        )
    scope = "".join(f"-{name}" for name in (args.district, args.company) if name)
    _write(args.output or Path(f"quarterly-{args.quarter}{scope}.{fmt}"), content)
    return 0


def add_report_parsers(subparsers: Any) -> None:
    """Register ``placard`` and ``report`` on the ``firegw`` sub-command parser."""
    p = subparsers.add_parser("placard", help="print an estate's grade placard (公示牌) as PDF or PNG")
    p.add_argument("estate", help="estate id (or its exact name)")
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("-o", "--output", type=Path, default=None, help="file (.pdf or .png); '-' for stdout")
    p.add_argument("--format", choices=PLACARD_FORMATS, default=None, help="default: from -o, else pdf")
    p.set_defaults(func=cmd_placard)

    p = subparsers.add_parser(
        "report",
        help="the monthly report of a district or property company (--month), or 'report quarterly'",
    )
    # Not required by argparse: ``firegw report quarterly ...`` has neither; ``cmd_report`` asks for them.
    p.add_argument("--month", default=None, help="YYYY-MM, in the policy's time zone")
    p.add_argument("--config", type=Path, default=Path("gateway.toml"), help="default gateway.toml")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--district", default=None, help="only estates in this district (区)")
    who.add_argument("--company", default=None, help="only estates of this property company (物业)")
    p.add_argument("--format", choices=list(REPORT_FORMATS), default=None, help="default: from -o, else pdf")
    p.add_argument("-o", "--output", type=Path, default=None, help="file; '-' for stdout")
    p.set_defaults(func=cmd_report)

    kinds = p.add_subparsers(dest="report_kind", metavar="{quarterly}")
    q = kinds.add_parser(
        "quarterly", help="the quarterly assessment of property companies (季度考核), ranked per street"
    )
    q.add_argument("--quarter", required=True, help="YYYYQn (2026Q4), in the policy's time zone")
    q.add_argument("--config", type=Path, default=Path("gateway.toml"), help="default gateway.toml")
    q.add_argument("--district", default=None, help="only estates in this district (区)")
    q.add_argument("--company", default=None, help="only this property company's rows (物业)")
    q.add_argument(
        "--format", choices=list(QUARTERLY_FORMATS), default=None, help="default: from -o, else pdf"
    )
    q.add_argument("-o", "--output", type=Path, default=None, help="file; '-' for stdout")
    q.set_defaults(func=cmd_quarterly)
