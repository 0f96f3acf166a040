"""``firegw users ...`` and ``firegw tokens ...``: accounts and API tokens from the command line.

The first admin can only be made here (``users create-admin``): there is no default password to forget to
change. Passwords are typed twice at a prompt that does not echo, or read from standard input with
``--password-stdin`` for scripts (never from a command-line argument, which other users of the machine can
see in the process list). The commands open the account tables of the configured hazard store, so they
work while the gateway runs.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import timedelta

from gateway.auth.passwords import PasswordError, check_password
from gateway.auth.principal import Role
from gateway.auth.store import AccountError, AuthStore, UserRecord
from gateway.cli_refusals import reported
from gateway.config import GatewayConfig, load_config
from gateway.models import utc_now


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``users`` and ``tokens`` on the top-level parser (called from ``gateway.cli``)."""
    p = sub.add_parser("users", help="accounts for the HTTP API and the web UI")
    usub = p.add_subparsers(dest="users_command", required=True)

    u = usub.add_parser("create-admin", help="the first admin account (fire brigade, every estate)")
    _common(u)
    u.add_argument("--display-name", default="", help="the name recorded on what the account does")
    u.add_argument("--force", action="store_true", help="create it even though an admin exists")
    u.set_defaults(func=cmd_create_admin)

    u = usub.add_parser("add", help="add an account with a role and its scope")
    _common(u)
    u.add_argument("--role", required=True, choices=[r.value for r in Role])
    u.add_argument("--district", default=None, help="office, grid, viewer: the district of the area")
    u.add_argument("--street", default=None, help="office, grid, viewer: one street of the district")
    u.add_argument("--company", default=None, help="property, viewer: the estates' property_company")
    u.add_argument("--display-name", default="", help="the name recorded on what the account does")
    u.add_argument("--admin", action="store_true", help="may also manage API tokens")
    u.add_argument(
        "--no-password", action="store_true", help="signs in with API tokens only (scripts, integrations)"
    )
    u.set_defaults(func=cmd_add)

    u = usub.add_parser("list", help="every account with role, scope and sign-in counters")
    u.add_argument("--config", required=True)
    u.set_defaults(func=cmd_list)

    u = usub.add_parser("disable", help="disable an account: its sessions end and its API tokens are revoked")
    u.add_argument("--config", required=True)
    u.add_argument("--username", required=True)
    u.set_defaults(func=cmd_disable)

    u = usub.add_parser("enable", help="enable a disabled account again (its old tokens stay revoked)")
    u.add_argument("--config", required=True)
    u.add_argument("--username", required=True)
    u.set_defaults(func=cmd_enable)

    u = usub.add_parser("set-password", help="a new password; the account's sessions end")
    _common(u)
    u.set_defaults(func=cmd_set_password)

    p = sub.add_parser("tokens", help="API tokens (Authorization: Bearer ...) for scripts and integrations")
    tsub = p.add_subparsers(dest="tokens_command", required=True)
    t = tsub.add_parser("create", help="a new token for an account; printed once, stored only as a hash")
    t.add_argument("--config", required=True)
    t.add_argument("--user", required=True, help="the account the token acts as")
    t.add_argument("--ttl-days", type=float, default=None, help="lifetime (default: [auth] token_ttl_s)")
    t.add_argument("--label", default="", help="what the token is for")
    t.set_defaults(func=cmd_token_create)
    t = tsub.add_parser("list", help="tokens with their account, expiry and last use")
    t.add_argument("--config", required=True)
    t.add_argument("--user", default=None)
    t.set_defaults(func=cmd_token_list)
    t = tsub.add_parser("revoke", help="revoke a token by its id")
    t.add_argument("--config", required=True)
    t.add_argument("id", type=int)
    t.set_defaults(func=cmd_token_revoke)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True)
    p.add_argument("--username", required=True)
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input (one line)"
    )


def _open(config_path: str) -> tuple[GatewayConfig, AuthStore]:
    config = load_config(config_path)
    config.gateway.data_dir.mkdir(parents=True, exist_ok=True)
    if not config.auth.enabled:
        print(
            "note: [auth] enabled = false in this configuration: the accounts are kept, but the API does not "
            "ask for them until it is enabled",
            file=sys.stderr,
        )
    return config, AuthStore.open(config.hazard_store_url())


def _read_password(args: argparse.Namespace) -> str:
    """From standard input (``--password-stdin``) or typed twice at a prompt; checked for length."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("password again: ") != password:
            raise AccountError("the two passwords differ")
    check_password(password)
    return password


_reported = reported(AccountError, PasswordError)


def _describe(user: UserRecord) -> str:
    flags = [f for f, on in (("admin", user.admin), ("disabled", user.disabled)) if on]
    if not user.has_password:
        flags.append("tokens only")
    name = f" ({user.display_name})" if user.display_name else ""
    extra = f" [{', '.join(flags)}]" if flags else ""
    return f"{user.username}{name}: {user.role.value} {user.role.zh}, {user.scope.describe()}{extra}"


@_reported
def cmd_create_admin(args: argparse.Namespace) -> int:
    _, store = _open(args.config)
    try:
        if store.has_admin() and not args.force:
            raise AccountError(
                "an admin account exists already; add more with 'users add --admin', or --force"
            )
        password = _read_password(args)
        user = store.create_user(
            username=args.username,
            role=Role.BRIGADE,
            password=password,
            now=utc_now(),
            display_name=args.display_name,
            admin=True,
        )
    finally:
        store.close()
    print(f"created {_describe(user)}")
    return 0


@_reported
def cmd_add(args: argparse.Namespace) -> int:
    _, store = _open(args.config)
    try:
        password = None if args.no_password else _read_password(args)
        user = store.create_user(
            username=args.username,
            role=args.role,
            password=password,
            now=utc_now(),
            display_name=args.display_name,
            district=args.district,
            street=args.street,
            company=args.company,
            admin=args.admin,
        )
    finally:
        store.close()
    print(f"created {_describe(user)}")
    return 0


@_reported
def cmd_list(args: argparse.Namespace) -> int:
    _, store = _open(args.config)
    try:
        users = store.users()
    finally:
        store.close()
    for user in users:
        last = f"{user.last_login_at:%Y-%m-%d %H:%M} UTC" if user.last_login_at else "never"
        print(_describe(user))
        print(
            f"    last sign-in {last}; failed sign-ins {user.failed_logins} since, "
            f"{user.failed_logins_total} in all"
        )
    print(f"{len(users)} accounts")
    return 0


@_reported
def cmd_disable(args: argparse.Namespace) -> int:
    return _set_disabled(args, True)


@_reported
def cmd_enable(args: argparse.Namespace) -> int:
    return _set_disabled(args, False)


def _set_disabled(args: argparse.Namespace, disabled: bool) -> int:
    _, store = _open(args.config)
    try:
        user = store.set_disabled(args.username, disabled, utc_now())
    finally:
        store.close()
    print(f"{'disabled' if disabled else 'enabled'} {_describe(user)}")
    return 0


@_reported
def cmd_set_password(args: argparse.Namespace) -> int:
    _, store = _open(args.config)
    try:
        store.user(args.username)
        store.set_password(args.username, _read_password(args), utc_now())
    finally:
        store.close()
    print(f"password of {args.username} changed; its sessions have ended")
    return 0


@_reported
def cmd_token_create(args: argparse.Namespace) -> int:
    config, store = _open(args.config)
    ttl = (
        timedelta(days=args.ttl_days)
        if args.ttl_days is not None
        else timedelta(seconds=config.auth.token_ttl_s)
    )
    try:
        record, secret = store.create_token(
            args.user, now=utc_now(), ttl=ttl, label=args.label, created_by="cli"
        )
    finally:
        store.close()
    # The secret alone on stdout (TOKEN=$(firegw tokens create ...)); what it is on stderr.
    print(
        f"token {record.id} for {record.username}, valid until {record.expires_at:%Y-%m-%d %H:%M} UTC; "
        "it is shown only now:",
        file=sys.stderr,
    )
    print(secret)
    return 0


@_reported
def cmd_token_list(args: argparse.Namespace) -> int:
    _, store = _open(args.config)
    try:
        tokens = store.tokens(args.user)
    finally:
        store.close()
    now = utc_now()
    for t in tokens:
        state = "revoked" if t.revoked_at else "expired" if t.expires_at <= now else "active"
        used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
        line = f"{t.id:>5} {t.username:<20} {state:<8} until {t.expires_at:%Y-%m-%d} used {used}  {t.label}"
        print(line.rstrip())
    print(f"{len(tokens)} tokens")
    return 0


@_reported
def cmd_token_revoke(args: argparse.Namespace) -> int:
    _, store = _open(args.config)
    try:
        record = store.revoke_token(args.id, utc_now())
    finally:
        store.close()
    print(f"token {record.id} of {record.username} revoked")
    return 0
