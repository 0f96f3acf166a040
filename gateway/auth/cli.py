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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from gateway.auth.passwords import PasswordError, check_password
from gateway.auth.principal import Role
from gateway.auth.store import AccountError, AuthStore, UserRecord
from gateway.auth.throttle import LoginThrottle, Subject
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
    _role_arguments(u)
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

    u = usub.add_parser("set-role", help="another role and scope; the account's sessions and live feeds end")
    u.add_argument("--config", required=True)
    u.add_argument("--username", required=True)
    _role_arguments(u)
    u.set_defaults(func=cmd_set_role)

    u = usub.add_parser("unlock", help="end a sign-in lock-out (after too many wrong passwords); audited")
    u.add_argument("--config", required=True)
    who = u.add_mutually_exclusive_group(required=True)
    who.add_argument("--username", help="the account name that is locked")
    who.add_argument("--address", help="a client address locked by too many failed sign-ins")
    u.set_defaults(func=cmd_unlock)

    u = usub.add_parser("lockouts", help="sign-in locks in force and the latest lock-outs and unlocks")
    u.add_argument("--config", required=True)
    u.add_argument("--last", type=int, default=20, help="how many audit records (default 20)")
    u.set_defaults(func=cmd_lockouts)

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


def _role_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--role", required=True, choices=[r.value for r in Role])
    p.add_argument("--district", default=None, help="office, grid, viewer: the district of the area")
    p.add_argument("--street", default=None, help="office, grid, viewer: one street of the district")
    p.add_argument("--company", default=None, help="property, viewer: the estates' property_company")


def _scope_of(args: argparse.Namespace) -> dict[str, str | None]:
    """The scope given by ``_role_arguments``, as the store takes it."""
    return {"district": args.district, "street": args.street, "company": args.company}


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


@contextmanager
def _opened(args: argparse.Namespace) -> Iterator[AuthStore]:
    """The account tables of ``args.config``'s store, closed afterwards."""
    _, store = _open(args.config)
    try:
        yield store
    finally:
        store.close()


def _read_password(args: argparse.Namespace) -> str:
    """From standard input (``--password-stdin``) or typed twice at a prompt; checked for length."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("password again: ") != password:
            raise AccountError("the two passwords differ")
    check_password(password, args.username)
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
    with _opened(args) as store:
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
    print(f"created {_describe(user)}")
    return 0


@_reported
def cmd_add(args: argparse.Namespace) -> int:
    with _opened(args) as store:
        password = None if args.no_password else _read_password(args)
        user = store.create_user(
            username=args.username,
            role=args.role,
            password=password,
            now=utc_now(),
            display_name=args.display_name,
            admin=args.admin,
            **_scope_of(args),
        )
    print(f"created {_describe(user)}")
    return 0


@_reported
def cmd_list(args: argparse.Namespace) -> int:
    with _opened(args) as store:
        users = store.users()
        locks = LoginThrottle(store.engine).locks(utc_now())
    locked = {k.name: k.locked_until for k in locks if k.kind is Subject.ACCOUNT}
    for user in users:
        last = f"{user.last_login_at:%Y-%m-%d %H:%M} UTC" if user.last_login_at else "never"
        print(_describe(user))
        lock = (
            f"; sign-in locked until {locked[user.username]:%Y-%m-%d %H:%M} UTC"
            if user.username in locked
            else ""
        )
        print(
            f"    last sign-in {last}; failed sign-ins {user.failed_logins} since, "
            f"{user.failed_logins_total} in all{lock}"
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
    with _opened(args) as store:
        user = store.set_disabled(args.username, disabled, utc_now())
    print(f"{'disabled' if disabled else 'enabled'} {_describe(user)}")
    return 0


@_reported
def cmd_set_password(args: argparse.Namespace) -> int:
    with _opened(args) as store:
        store.user(args.username)
        store.set_password(args.username, _read_password(args), utc_now())
    print(f"password of {args.username} changed; its sessions have ended")
    return 0


@_reported
def cmd_set_role(args: argparse.Namespace) -> int:
    with _opened(args) as store:
        user = store.set_role(args.username, args.role, utc_now(), **_scope_of(args))
    print(f"{_describe(user)}; its sessions have ended")
    return 0


@_reported
def cmd_unlock(args: argparse.Namespace) -> int:
    with _opened(args) as store:
        if args.username is not None:
            store.user(args.username)  # an unknown account is named as such
        kind, name = (Subject.ACCOUNT, args.username) if args.username else (Subject.ADDRESS, args.address)
        was = LoginThrottle(store.engine).unlock(kind, name, actor=_cli_actor(), now=utc_now())
    state = f"was locked until {was:%Y-%m-%d %H:%M} UTC" if was else "was not locked"
    print(f"sign-in of {kind.value} {name} unlocked ({state})")
    return 0


@_reported
def cmd_lockouts(args: argparse.Namespace) -> int:
    with _opened(args) as store:
        throttle = LoginThrottle(store.engine)
        locks, events = throttle.locks(utc_now()), throttle.events(max(args.last, 0))
    for lock in locks:
        print(
            f"locked   {lock.kind.value} {lock.name} until {lock.locked_until:%Y-%m-%d %H:%M} UTC "
            f"(lock-out {lock.lockouts})"
        )
    print(f"{len(locks)} locks in force; latest lock-outs and unlocks:")
    for e in events:
        until = f" until {e.locked_until:%Y-%m-%d %H:%M} UTC" if e.locked_until else ""
        by = f" by {e.actor}" if e.actor else f" after {e.failures} failures from {e.address}"
        print(f"{e.at:%Y-%m-%d %H:%M:%S} {e.event:<8} {e.kind.value} {e.name}{until}{by}")
    return 0


def _cli_actor() -> str:
    """Who ran a command, for the audit record: the login name on this machine."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


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
    with _opened(args) as store:
        tokens = store.tokens(args.user)
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
    with _opened(args) as store:
        record = store.revoke_token(args.id, utc_now())
    print(f"token {record.id} of {record.username} revoked")
    return 0
