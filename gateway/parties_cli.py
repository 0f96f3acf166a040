"""``firegw parties list|add|update|import``: the responsible parties (责任单位) hazards are dispatched to.

A street office keeps its list of property companies, communities and maintenance companies in a spreadsheet;
these commands let it load that list, and script changes, without the UI. They work on the configured hazard
store (like ``firegw window`` and ``firegw assessment``) with the API's checks (gateway/casework/parties.py)
and the configuration's registry for the estates; a running gateway reads parties from the store at each
dispatch and message, so a change made here counts at once. Every change records ``--actor`` in a version.
A refusal names every problem, one per line, on stderr with exit status 2, and writes nothing.

    firegw parties list --config gateway.toml --estate E001 --kind property_company [--json]
    firegw parties add --config gateway.toml --actor "和平街道 王" --kind community --name 和平社区居委会 \\
        --contact 张主任 --phone 010-12345678 --estate E001 --estate E002
    firegw parties update --config gateway.toml --actor "和平街道 王" --id 3 --phone 13800138000
    firegw parties update --config gateway.toml --actor "和平街道 王" --id 3 --deactivate --reason 合同到期
    firegw parties import --config gateway.toml --actor "和平街道 王" --file parties.csv

The CSV (UTF-8, or GB18030 as Excel saves "CSV" on a Chinese Windows) has a header line with the columns
``kind,name,contact,phone,channels,estate_ids`` (contact, phone and channels may be left out); several
channels or estates in one cell are separated by ``;``. A line is the party of that kind and name: a new one
is added; an existing one gets the line's contact, phone and channels where the cell is not empty, and the
line's estates added to those it serves (none is taken away: another street's estates stay). An import run
twice changes nothing; inactive parties stay inactive (``update --reactivate``).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.casework.model import EngineError
from gateway.casework.parties import check_party
from gateway.cli_refusals import reported
from gateway.config import load_config
from gateway.csv_input import CsvRefused, header_problems, read_rows
from gateway.ingest.registry import Registry, load_registry
from gateway.models import utc_now
from gateway.store import HazardStore
from gateway.store.database import NotFound
from gateway.store.parties import FIELDS, PartyKind, PartyRecord


class Refused(Exception):
    """What the command cannot do, in sentences (printed after ``error:``, exit status 2)."""


#: The import's bounds: a district's parties many times over.
MAX_BYTES = 4 << 20
MAX_ROWS = 10_000
#: The import's columns, in the order a template lists them; the first ones are required.
COLUMNS = ("kind", "name", "estate_ids", "contact", "phone", "channels")
REQUIRED_COLUMNS = COLUMNS[:3]
#: Between the channels or estates of one cell (the full-width ；, as a Chinese keyboard types it, too).
LIST_SEPARATOR = re.compile(r"[;；]")
#: How the add and update commands name the fields the checks name.
FLAGS = {
    "kind": "--kind",
    "name": "--name",
    "contact": "--contact",
    "phone": "--phone",
    "channels": "--channel",
    "estate_ids": "--estate",
}
KINDS_ALLOWED = ", ".join(f"{k.value} ({k.zh})" for k in PartyKind)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``parties`` on the top-level parser (called from ``gateway.cli``)."""
    p = sub.add_parser("parties", help="responsible parties (责任单位) hazards are dispatched to")
    psub = p.add_subparsers(dest="parties_command", required=True)

    c = psub.add_parser("list", help="the parties, by id; inactive ones marked")
    c.add_argument("--config", required=True)
    c.add_argument("--estate", default=None, help="only the parties serving this estate (E001)")
    c.add_argument("--kind", default=None, help=f"only this kind: {KINDS_ALLOWED}")
    c.add_argument("--json", action="store_true", help="as JSON (every field, channel addresses too)")
    c.set_defaults(func=cmd_list)

    c = psub.add_parser("add", help="add a party serving one or more estates")
    _writer(c)
    c.add_argument("--kind", required=True, help=KINDS_ALLOWED)
    c.add_argument("--name", required=True, help="e.g. 锦绣物业, 和平街道办事处")
    c.add_argument("--estate", action="append", required=True, help="an estate it serves (repeatable)")
    _contact(c)
    c.set_defaults(func=cmd_add)

    c = psub.add_parser("update", help="change a party: only the options given change")
    _writer(c)
    c.add_argument("--id", type=int, required=True, help="the party's id (firegw parties list)")
    c.add_argument("--kind", default=None, help=KINDS_ALLOWED)
    c.add_argument("--name", default=None)
    c.add_argument("--estate", action="append", default=None, help="replaces its estates (repeatable)")
    _contact(c)
    c.add_argument("--no-channels", action="store_true", help="remove every channel address")
    state = c.add_mutually_exclusive_group()
    state.add_argument("--deactivate", action="store_true", help="no more dispatches to it (needs --reason)")
    state.add_argument("--reactivate", action="store_true", help="dispatch to it again (needs --reason)")
    c.set_defaults(func=cmd_update)

    c = psub.add_parser("import", help="add and update parties from a CSV file (all lines or none)")
    _writer(c)
    c.add_argument("--file", required=True, type=Path, help=f"CSV with the columns {','.join(COLUMNS)}")
    c.set_defaults(func=cmd_import)


def _writer(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True)
    p.add_argument("--actor", required=True, help="who makes the change, recorded with it (和平街道 王)")
    p.add_argument("--reason", default="", help="why, recorded with the change")


def _contact(p: argparse.ArgumentParser) -> None:
    p.add_argument("--contact", default=None, help="the contact person")
    p.add_argument("--phone", default=None, help="a mobile, a landline with its area code, 400/800, 96119")
    p.add_argument(
        "--channel",
        action="append",
        default=None,
        help="a webhook URL (WeCom, DingTalk, Apprise URL) or e-mail address (repeatable; replaces them)",
    )


_reported = reported(Refused, NotFound)


# -- checks --------------------------------------------------------------------------------------------------


KnownEstate = Callable[[object], bool]


def _estates(registry: Registry) -> tuple[KnownEstate, str]:
    """Whether an estate id is in the registry, and what to say when one is not."""
    known = [e.id for e in registry.estates]
    ids = set(known)
    shown = ", ".join(known[:10]) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
    return (lambda estate_id: estate_id in ids), f"the registry has {shown or 'no estate'}"


def kind_value(text: str) -> str:
    """A kind as the checks take it: its value, or its Chinese name (物业公司) as a spreadsheet has it."""
    text = text.strip()
    return next((k.value for k in PartyKind if text in (k.value, k.zh)), text)


def split_list(cell: str) -> list[str]:
    return [item.strip() for item in LIST_SEPARATOR.split(cell) if item.strip()]


def checked(
    data: Mapping[str, Any], known: KnownEstate, estates_hint: str, names: Mapping[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """Each field of ``data`` checked on its own, so that every problem is named at once (the API stops at
    the first); problems name the field as ``names`` says (an option, a column)."""
    out: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in data.items():
        try:
            out |= check_party({key: value}, known_estate=known, creating=False)
        except EngineError as exc:
            problem = str(exc)
            if key == "kind":
                problem += ", or the Chinese name in brackets"
            if key == "estate_ids":
                problem += f"; {estates_hint}"
            problems.append(_renamed(problem, names))
    return out, problems


def _renamed(problem: str, names: Mapping[str, str]) -> str:
    """``channels[2]: ...`` as ``--channel #3: ...`` (or the column's name)."""
    field, sep, rest = problem.partition(": ")
    match = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", field)
    if not sep or match is None or match[1] not in names:
        return problem
    item = f" #{int(match[2]) + 1}" if match[2] is not None else ""
    return f"{names[match[1]]}{item}: {rest}"


def differences(party: PartyRecord, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values that would change ``party`` (a store update writes a version even when nothing changes)."""
    return {k: v for k, v in values.items() if getattr(party, k) != v}


def _name_taken(store: HazardStore, kind: PartyKind, name: str, party_id: int | None) -> list[str]:
    """Two parties of one kind and name would leave an import unable to tell them apart."""
    others = [i for i in store.parties.ids_named(kind, name) if i != party_id]
    if not others:
        return []
    return [
        f"--name: a {kind.zh} named {name} exists already (party {others[0]}); "
        f"change that one with firegw parties update --id {others[0]}"
    ]


def _refuse(problems: Sequence[str], what: str) -> None:
    if problems:
        raise Refused(f"{what}:\n  " + "\n  ".join(problems))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _actor(args: argparse.Namespace) -> str:
    actor = str(args.actor).strip()
    if not actor:
        raise Refused("--actor: say who makes the change (e.g. 和平街道 王); it is recorded with it")
    return actor


def _open(config_path: str) -> tuple[Registry, HazardStore]:
    config = load_config(config_path)
    registry = load_registry(config.gateway.registry)
    config.gateway.data_dir.mkdir(parents=True, exist_ok=True)
    return registry, HazardStore(config.hazard_store_url())


# -- output --------------------------------------------------------------------------------------------------


def describe(party: PartyRecord) -> str:
    """One line: id, kind, name, contact, estates, channels; inactive marked."""
    who = " ".join(x for x in (party.contact, party.phone) if x)
    state = "" if party.active else "  [inactive]"
    channels = _count(len(party.channels), "channel")
    return (
        f"#{party.id:<4} {party.kind.zh} ({party.kind.value}) {party.name}"
        f"{f'  {who}' if who else ''}  estates {','.join(party.estate_ids) or '-'}  {channels}{state}"
    )


def as_json(party: PartyRecord) -> dict[str, Any]:
    return {
        "id": party.id,
        "kind": party.kind.value,
        "kind_zh": party.kind.zh,
        **{f: getattr(party, f) for f in FIELDS if f != "kind"},
        "created_at": party.created_at.isoformat(),
        "updated_at": party.updated_at.isoformat(),
    }


# -- commands ------------------------------------------------------------------------------------------------


@_reported
def cmd_list(args: argparse.Namespace) -> int:
    registry, store = _open(args.config)
    try:
        parties = store.parties.all()
    finally:
        store.close()
    if args.estate is not None:
        known, hint = _estates(registry)
        if not known(args.estate):
            raise Refused(f"--estate: no estate {args.estate!r}; {hint}")
        parties = [p for p in parties if p.serves(args.estate)]
    if args.kind is not None:
        kind = kind_value(args.kind)
        if kind not in {k.value for k in PartyKind}:
            raise Refused(f"--kind: {args.kind!r} is not a kind of party; one of: {KINDS_ALLOWED}")
        parties = [p for p in parties if p.kind.value == kind]
    if args.json:
        print(json.dumps([as_json(p) for p in parties], ensure_ascii=False, indent=2))
        return 0
    if not parties:
        print("no party (add one with firegw parties add, or import a list with firegw parties import)")
    for party in parties:
        print(describe(party))
        for address in party.channels:
            print(f"      {address}")
    return 0


@_reported
def cmd_add(args: argparse.Namespace) -> int:
    actor = _actor(args)
    registry, store = _open(args.config)
    try:
        known, hint = _estates(registry)
        given: dict[str, Any] = {"kind": kind_value(args.kind), "name": args.name, "estate_ids": args.estate}
        given |= {k: v for k in ("contact", "phone") if (v := getattr(args, k)) is not None}
        if args.channel is not None:
            given["channels"] = args.channel
        fields, problems = checked(given, known, hint, FLAGS)
        if not problems:
            problems += _name_taken(store, fields["kind"], fields["name"], None)
        _refuse(problems, "nothing added")
        party = store.parties.create(**fields, actor=actor, now=utc_now(), reason=args.reason.strip())
    finally:
        store.close()
    print(f"added {describe(party)}")
    return 0


@_reported
def cmd_update(args: argparse.Namespace) -> int:
    actor = _actor(args)
    if (args.deactivate or args.reactivate) and not args.reason.strip():
        flag = "--deactivate" if args.deactivate else "--reactivate"
        raise Refused(f"--reason: say why the party is {flag[2:]}d (e.g. 合同到期, 重新签约); it is recorded")
    if args.channel is not None and args.no_channels:
        raise Refused("--no-channels: give either --channel (the new addresses) or --no-channels, not both")
    given: dict[str, Any] = {
        k: v for k in ("name", "contact", "phone") if (v := getattr(args, k)) is not None
    }
    if args.kind is not None:
        given["kind"] = kind_value(args.kind)
    if args.estate is not None:
        given["estate_ids"] = args.estate
    if args.channel is not None or args.no_channels:
        given["channels"] = args.channel or []
    if args.deactivate or args.reactivate:
        given["active"] = bool(args.reactivate)
    if not given:
        raise Refused(
            "nothing to change: give --kind, --name, --contact, --phone, --channel, --no-channels, --estate, "
            "--deactivate or --reactivate"
        )
    registry, store = _open(args.config)
    try:
        known, hint = _estates(registry)
        try:
            party = store.parties.get(args.id)
        except NotFound:
            raise Refused(f"--id: no party {args.id}; firegw parties list shows their ids") from None
        fields, problems = checked(given, known, hint, FLAGS)
        if "estate_ids" in fields and not fields["estate_ids"]:
            problems.append("--estate: name at least one estate the party serves (or --deactivate it)")
        if not problems and ("kind" in fields or "name" in fields):
            kind, name = fields.get("kind", party.kind), fields.get("name", party.name)
            problems += _name_taken(store, kind, name, party.id)
        _refuse(problems, f"party {args.id} not changed")
        changes = differences(party, fields)
        if changes:
            party = store.parties.update(
                args.id, changes, actor=actor, now=utc_now(), reason=args.reason.strip()
            )
    finally:
        store.close()
    print(f"{'updated' if changes else 'unchanged (it is already so)'}: {describe(party)}")
    return 0


# -- import --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportLine:
    """A checked line of the file: the party it names (None: a new one) and what it sets."""

    line: int
    party: PartyRecord | None
    values: dict[str, Any]


def read_csv(path: Path) -> list[tuple[int, list[str]]]:
    """The file's rows with the line each starts on (a quoted cell may span lines); blank rows left out.
    At most ``MAX_BYTES`` and ``MAX_ROWS`` rows after the header (gateway/csv_input.py)."""
    try:
        return read_rows(path, max_bytes=MAX_BYTES, max_rows=MAX_ROWS)
    except CsvRefused as exc:
        raise Refused(f"--file: {exc}") from None


def header_columns(line: int, header: Sequence[str]) -> list[str]:
    columns = [cell.strip().lower() for cell in header]
    problems = header_problems(line, columns, COLUMNS, REQUIRED_COLUMNS)
    _refuse(problems, "nothing imported, the header is wrong")
    return columns


def plan_import(
    rows: Sequence[tuple[int, list[str]]], parties: Sequence[PartyRecord], registry: Registry
) -> tuple[list[ImportLine], list[str]]:
    """What each line would do, and every bad line's problems (each prefixed with its line number)."""
    if not rows:
        raise Refused("--file: the file is empty; its first line names the columns: " + ",".join(COLUMNS))
    columns = header_columns(*rows[0])
    known, hint = _estates(registry)
    names = {c: c for c in COLUMNS}
    plan: list[ImportLine] = []
    problems: list[str] = []
    first_line: dict[tuple[str, str], int] = {}
    for line, row in rows[1:]:
        if len(row) > len(columns):
            problems.append(f"line {line}: {len(row)} cells, but the header names {len(columns)} columns")
            continue
        cells = dict(zip(columns, [c.strip() for c in row] + [""] * (len(columns) - len(row)), strict=True))
        given: dict[str, Any] = {"kind": kind_value(cells["kind"]), "name": cells["name"]}
        given |= {k: cells[k] for k in ("contact", "phone") if cells.get(k)}
        if cells.get("channels"):
            given["channels"] = split_list(cells["channels"])
        given["estate_ids"] = split_list(cells["estate_ids"])
        values, wrong = checked(given, known, hint, names)
        if "estate_ids" in values and not values["estate_ids"]:
            wrong.append("estate_ids: name at least one estate the party serves (E001;E002)")
        problems += [f"line {line}: {p}" for p in wrong]
        if wrong:
            continue
        key = (values["kind"].value, values["name"])
        if key in first_line:
            problems.append(
                f"line {line}: {values['kind'].zh} {values['name']} is on line {first_line[key]} already; "
                "one line per party"
            )
            continue
        first_line[key] = line
        same = [p for p in parties if p.kind is values["kind"] and p.name == values["name"]]
        if len(same) > 1:
            ids = ", ".join(str(p.id) for p in same)
            problems.append(
                f"line {line}: {len(same)} parties are {values['kind'].zh} {values['name']} (ids {ids}); "
                "change them with firegw parties update --id"
            )
            continue
        plan.append(ImportLine(line, same[0] if same else None, values))
    if not plan and not problems:
        raise Refused("--file: the file names no party: one line per party after the header")
    return plan, problems


def merged(party: PartyRecord, values: Mapping[str, Any]) -> dict[str, Any]:
    """What a line makes of an existing party: its non-empty cells, its estates added to the party's."""
    out = {k: v for k, v in values.items() if k not in ("kind", "name", "estate_ids")}
    out["estate_ids"] = [*party.estate_ids, *(e for e in values["estate_ids"] if e not in party.estate_ids)]
    return differences(party, out)


@_reported
def cmd_import(args: argparse.Namespace) -> int:
    actor = _actor(args)
    rows = read_csv(args.file)
    registry, store = _open(args.config)
    reason = args.reason.strip() or f"imported from {args.file.name}"
    added = updated = unchanged = 0
    inactive: list[PartyRecord] = []
    try:
        plan, problems = plan_import(rows, store.parties.all(), registry)
        bad = _count(len({p.partition(":")[0] for p in problems}), "line")
        _refuse(problems, f"nothing imported from {args.file}, {_count(len(problems), 'problem')} on {bad}")
        now = utc_now()
        with store.batch() as batch:  # all lines in one transaction: all or none
            for item in plan:
                if item.party is None:
                    store.parties.create(**item.values, actor=actor, now=now, reason=reason)
                    added += 1
                    continue
                if not item.party.active:
                    inactive.append(item.party)
                changes = merged(item.party, item.values)
                if changes:
                    store.parties.update(item.party.id, changes, actor=actor, now=now, reason=reason)
                    updated += 1
                else:
                    unchanged += 1
        if batch.failed:
            raise Refused(f"the hazard store did not take the import ({batch.error}); nothing was imported")
    finally:
        store.close()
    for party in inactive:
        print(
            f"note: party {party.id} {party.name} is inactive and stays so "
            f"(firegw parties update --id {party.id} --reactivate --reason ...)"
        )
    print(f"{args.file.name}: {added} added, {updated} updated, {unchanged} unchanged")
    return 0
