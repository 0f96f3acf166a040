"""``firegw dashboards generate|check|push``.

firegw dashboards generate [--out DIR]        write dashboards/json/*.json from dashboards/boards/
firegw dashboards check [--out DIR]           exit 1 when the committed JSON is stale or invalid
firegw dashboards push --grafana-url URL (--token T | --basic-auth USER:PASS) [--influx-url URL ...]
                                              folder, datasource and dashboards into a running Grafana

Registered in ``gateway/cli.py`` through ``add_dashboards_parser``, so the gateway's CLI does not import
the SDK or grafana-client until a dashboards command runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


def add_dashboards_parser(subparsers: Any) -> None:
    """Add ``dashboards`` and its sub-commands to the ``firegw`` parser's sub-parsers."""
    p = subparsers.add_parser(
        "dashboards",
        help="Grafana dashboards: generate the JSON, check it is current, push it to a Grafana",
        description="Grafana dashboards as code (docs/dashboards.md).",
    )
    sub = p.add_subparsers(dest="dashboards_command", required=True)

    g = sub.add_parser("generate", help="write dashboards/json/*.json from dashboards/boards/")
    g.add_argument("--out", type=Path, default=None, help="output folder (default: dashboards/json)")
    g.set_defaults(func=cmd_generate)

    c = sub.add_parser("check", help="exit 1 when the committed JSON is stale or invalid for Grafana 11.3")
    c.add_argument("--out", type=Path, default=None, help="folder to check (default: dashboards/json)")
    c.set_defaults(func=cmd_check)

    s = sub.add_parser(
        "push",
        help="create or update the 'Fire safety' folder, the datasource and every dashboard via the HTTP API",
        description="Idempotent: objects that already match are left alone, and each is reported as "
        "created, updated or unchanged. Secrets may be given as env:NAME.",
    )
    s.add_argument("--grafana-url", required=True, help="e.g. http://grafana:3000 or https://host/grafana")
    auth = s.add_mutually_exclusive_group()
    auth.add_argument("--token", help="service-account token (default: $GRAFANA_TOKEN); env:NAME allowed")
    auth.add_argument("--basic-auth", metavar="USER:PASS", help="user and password instead of a token")
    s.add_argument("--influx-url", default="http://localhost:8086", help="InfluxDB as Grafana reaches it")
    s.add_argument(
        "--influx-database", default="firegw", help="InfluxQL database (2.x: the DBRP-mapped name)"
    )
    s.add_argument("--influx-token", default=None, help="InfluxDB 2/3 token (Authorization: Token); env:NAME")
    s.add_argument("--influx-user", default="", help="InfluxDB 1.x user")
    s.add_argument("--influx-password", default=None, help="InfluxDB 1.x password; env:NAME")
    s.add_argument("--no-datasource", action="store_true", help="leave the datasource alone")
    s.add_argument(
        "--update-secrets",
        action="store_true",
        help="send the InfluxDB token/password even when Grafana already holds one (secrets cannot be "
        "compared, so by default they are sent only on creation)",
    )
    s.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request")
    s.set_defaults(func=cmd_push)


def cmd_generate(args: argparse.Namespace) -> int:
    from dashboards.build import JSON_DIR, write_all

    out: Path = args.out or JSON_DIR
    for path, changed in write_all(out):
        state = ("removed" if not path.exists() else "written") if changed else "unchanged"
        print(f"{path}: {state}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from dashboards.build import JSON_DIR, generate_all, problems, stale

    out: Path = args.out or JSON_DIR
    found = stale(out)
    for board in generate_all():
        found += problems(board.data)
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print("run `firegw dashboards generate` and commit dashboards/json/", file=sys.stderr)
        return 1
    print(f"{out}: up to date and valid for Grafana 11.3")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from dashboards.push import Grafana, InfluxSettings, PushError, push, secret

    try:
        basic: tuple[str, str] | None = None
        token: str | None = None
        if args.basic_auth:
            user, sep, password = secret(args.basic_auth, "--basic-auth").partition(":")
            if not sep or not user:
                print("error: --basic-auth expects USER:PASS", file=sys.stderr)
                return 2
            basic = (user, password)
        else:
            token = secret(args.token, "--token") or os.environ.get("GRAFANA_TOKEN") or None
        influx = None
        if not args.no_datasource:
            influx = InfluxSettings(
                url=args.influx_url,
                database=args.influx_database,
                token=secret(args.influx_token, "--influx-token"),
                user=args.influx_user,
                password=secret(args.influx_password, "--influx-password"),
            )
        grafana = Grafana.connect(args.grafana_url, token=token, basic_auth=basic, timeout=args.timeout)
        report = push(grafana, influx, update_secrets=args.update_secrets)
    except PushError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for change in report.changes:
        print(change)
    print(f"{args.grafana_url}: {report.summary()}")
    return 0
