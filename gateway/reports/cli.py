"""``firegw placard`` and ``firegw report``: the placard and the monthly report from the command line.

firegw placard ESTATE --config gateway.toml [-o placard.pdf|placard.png]
firegw report --month 2026-11 --config gateway.toml [--district D | --company C] [--format xlsx] [-o F]

Both read the hazard store the gateway writes (works while it runs) and the registry and policy of the
configuration; the heavy imports (reportlab, openpyxl) happen only when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from gateway.config import GatewayConfig, load_config
from gateway.ingest.registry import Registry, load_registry
from gateway.models import Estate

PLACARD_FORMATS = ("pdf", "png")
REPORT_FORMATS: dict[str, Literal["pdf", "xlsx", "csv"]] = {"pdf": "pdf", "xlsx": "xlsx", "csv": "csv"}


def _store_url(config: GatewayConfig) -> str:
    return config.rules.store_url or f"sqlite:///{config.gateway.data_dir / 'hazards.sqlite'}"


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
    from gateway.reports.fonts import FontMissing
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


def cmd_report(args: argparse.Namespace) -> int:
    from gateway.reports.fonts import FontMissing
    from gateway.reports.monthly.figures import build_monthly_report
    from gateway.reports.monthly.model import ReportError
    from gateway.reports.monthly.render import render_report
    from gateway.store import HazardStore
    from rules.policy import load_policy

    config = load_config(args.config)
    registry = load_registry(config.gateway.registry)
    policy = load_policy(config.rules.policy)
    fmt = _format(args.output, args.format, REPORT_FORMATS, "pdf")
    store = HazardStore(_store_url(config))
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
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    try:
        content = render_report(report, REPORT_FORMATS[fmt], config.reports.font or None)
    except FontMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scope = "-" + (args.district or args.company) if (args.district or args.company) else ""
    _write(args.output or Path(f"report-{args.month}{scope}.{fmt}"), content)
    return 0


def add_report_parsers(subparsers: Any) -> None:
    """Register ``placard`` and ``report`` on the ``firegw`` sub-command parser."""
    p = subparsers.add_parser("placard", help="print an estate's grade placard (公示牌) as PDF or PNG")
    p.add_argument("estate", help="estate id (or its exact name)")
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("-o", "--output", type=Path, default=None, help="file (.pdf or .png); '-' for stdout")
    p.add_argument("--format", choices=PLACARD_FORMATS, default=None, help="default: from -o, else pdf")
    p.set_defaults(func=cmd_placard)

    p = subparsers.add_parser("report", help="the monthly report of a district or property company")
    p.add_argument("--month", required=True, help="YYYY-MM, in the policy's time zone")
    p.add_argument("--config", required=True, type=Path)
    who = p.add_mutually_exclusive_group()
    who.add_argument("--district", default=None, help="only estates in this district (区)")
    who.add_argument("--company", default=None, help="only estates of this property company (物业)")
    p.add_argument("--format", choices=list(REPORT_FORMATS), default=None, help="default: from -o, else pdf")
    p.add_argument("-o", "--output", type=Path, default=None, help="file; '-' for stdout")
    p.set_defaults(func=cmd_report)
