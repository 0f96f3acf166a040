"""Responsible parties (责任单位): who a hazard is dispatched to (派单), with a person, a phone and the
channels that reach them. Nothing is deleted: a party is made inactive, and every change keeps a version
(who, when, what it became).

A party serves a list of estates; dispatching a hazard picks one of the active parties serving its estate.
Parties are few (a handful per estate), so the estates they serve are kept as a JSON list on the row and
filtered here rather than in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Integer, String, Table, Text, insert, select, update

from gateway.store.database import Database, NotFound, new_id
from gateway.store.tables import UtcDateTime, metadata


class PartyKind(StrEnum):
    PROPERTY_COMPANY = "property_company"
    COMMUNITY = "community"
    STREET = "street"
    MAINTENANCE_COMPANY = "maintenance_company"
    OWNERS_COMMITTEE = "owners_committee"
    #: The district above the streets (区消防安全委员会办公室): the second level of escalation.
    DISTRICT = "district"
    BRIGADE = "brigade"

    @property
    def zh(self) -> str:
        return PARTY_KIND_ZH[self]


PARTY_KIND_ZH: dict[PartyKind, str] = {
    PartyKind.PROPERTY_COMPANY: "物业公司",
    PartyKind.COMMUNITY: "社区",
    PartyKind.STREET: "街道",
    PartyKind.MAINTENANCE_COMPANY: "维保公司",
    PartyKind.OWNERS_COMMITTEE: "业主委员会",
    PartyKind.DISTRICT: "区消安委",
    PartyKind.BRIGADE: "消防救援大队",
}

parties = Table(
    "parties",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("name", String(256), nullable=False, index=True),
    Column("contact", String(128), nullable=False, default=""),
    Column("phone", String(32), nullable=False, default=""),
    #: Where messages reach the party: webhook URLs (WeCom, DingTalk, Apprise URLs), e-mail addresses.
    Column("channels", JSON, nullable=False),
    #: The estates it serves (estate ids of the registry).
    Column("estate_ids", JSON, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

#: Every version of every party, oldest first: the first is its creation.
party_versions = Table(
    "party_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("party_id", Integer, ForeignKey("parties.id"), nullable=False, index=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(16), nullable=False),  # create / update
    Column("reason", Text, nullable=False, default=""),
    #: The party as it became (every field but the id and times).
    Column("data", JSON, nullable=False),
)

#: The fields a version records and an update may change.
FIELDS = ("kind", "name", "contact", "phone", "channels", "estate_ids", "active")


@dataclass(frozen=True, slots=True)
class PartyRecord:
    id: int
    kind: PartyKind
    name: str
    contact: str
    phone: str
    channels: list[str]
    estate_ids: list[str]
    active: bool
    created_at: datetime
    updated_at: datetime

    def serves(self, estate_id: str) -> bool:
        return estate_id in self.estate_ids

    @property
    def label(self) -> str:
        """How the hazard's free-text ``responsible`` names it: name, then contact and phone if known."""
        who = " ".join(p for p in (self.contact, self.phone) if p)
        return f"{self.name}（{who}）" if who else self.name


@dataclass(frozen=True, slots=True)
class PartyVersion:
    at: datetime
    actor: str
    action: str
    reason: str
    data: dict[str, Any]


def _record(row: Mapping[Any, Any]) -> PartyRecord:
    return PartyRecord(
        id=row["id"],
        kind=PartyKind(row["kind"]),
        name=row["name"],
        contact=row["contact"],
        phone=row["phone"],
        channels=list(row["channels"] or []),
        estate_ids=list(row["estate_ids"] or []),
        active=bool(row["active"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class PartyRepository:
    """Parties and their versions (append-only)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        #: Counts the parties this process created or changed: a reader that keeps parties in memory (the
        #: alarm desk's index) reads them again when it moved.
        self.changes = 0

    def create(
        self,
        *,
        kind: PartyKind,
        name: str,
        actor: str,
        now: datetime,
        contact: str = "",
        phone: str = "",
        channels: Sequence[str] = (),
        estate_ids: Sequence[str] = (),
        active: bool = True,
        reason: str = "",
    ) -> PartyRecord:
        values = {
            "kind": kind.value,
            "name": name,
            "contact": contact,
            "phone": phone,
            "channels": list(channels),
            "estate_ids": list(estate_ids),
            "active": active,
        }
        with self._db.tx() as conn:
            party_id = new_id(conn.execute(insert(parties), {**values, "created_at": now, "updated_at": now}))
            conn.execute(
                insert(party_versions),
                {"party_id": party_id, "at": now, "actor": actor, "action": "create", "reason": reason,
                 "data": values},
            )  # fmt: skip
            self.changes += 1
            return self._get(conn, party_id)

    def update(
        self, party_id: int, changes: Mapping[str, Any], *, actor: str, now: datetime, reason: str = ""
    ) -> PartyRecord:
        """Change the given fields (of ``FIELDS``); a version records the party as it became."""
        unknown = set(changes) - set(FIELDS)
        if unknown:
            raise ValueError(f"not fields of a party: {sorted(unknown)}")
        values = {k: (v.value if isinstance(v, PartyKind) else v) for k, v in changes.items()}
        with self._db.tx() as conn:
            self._get(conn, party_id)  # NotFound before anything is written
            conn.execute(update(parties).where(parties.c.id == party_id), {**values, "updated_at": now})
            after = self._get(conn, party_id)
            conn.execute(
                insert(party_versions),
                {"party_id": party_id, "at": now, "actor": actor, "action": "update", "reason": reason,
                 "data": _data(after)},
            )  # fmt: skip
            self.changes += 1
            return after

    def _get(self, conn: Any, party_id: int) -> PartyRecord:
        row = conn.execute(select(parties).where(parties.c.id == party_id)).mappings().first()
        if row is None:
            raise NotFound(f"no party {party_id}")
        return _record(row)

    def get(self, party_id: int) -> PartyRecord:
        with self._db.tx() as conn:
            return self._get(conn, party_id)

    def all(self) -> list[PartyRecord]:
        with self._db.tx() as conn:
            return [_record(r) for r in conn.execute(select(parties).order_by(parties.c.id)).mappings()]

    def serving(self, estate_id: str, *, active_only: bool = True) -> list[PartyRecord]:
        """The parties serving an estate (active ones only, unless asked), by id."""
        return [p for p in self.all() if p.serves(estate_id) and (p.active or not active_only)]

    def ids_named(self, kind: PartyKind, name: str) -> list[int]:
        """The ids of the parties of ``kind`` called ``name`` (active or not)."""
        query = select(parties.c.id).where(parties.c.kind == kind.value, parties.c.name == name)
        with self._db.tx() as conn:
            return [int(r.id) for r in conn.execute(query)]

    def versions(self, party_id: int) -> list[PartyVersion]:
        query = (
            select(party_versions).where(party_versions.c.party_id == party_id).order_by(party_versions.c.id)
        )
        with self._db.tx() as conn:
            self._get(conn, party_id)
            return [
                PartyVersion(r["at"], r["actor"], r["action"], r["reason"], dict(r["data"]))
                for r in conn.execute(query).mappings()
            ]

    def seed_property_companies(
        self, companies: Iterable[tuple[str, str]], now: datetime
    ) -> tuple[list[PartyRecord], list[PartyRecord]]:
        """Make each ``(estate_id, company)`` of the registry a property-company party serving the estate:
        a new party when none of that kind and name exists; otherwise the estate is added to the existing one
        only if no property-company party serves the estate yet (an office that moved an estate elsewhere is
        not undone). Returns (created, extended)."""
        by_company: dict[str, list[str]] = {}
        for estate_id, company in companies:
            if company.strip():
                by_company.setdefault(company.strip(), []).append(estate_id)
        if not by_company:
            return [], []
        existing = self.all()
        served = {e for p in existing if p.kind is PartyKind.PROPERTY_COMPANY for e in p.estate_ids}
        created: list[PartyRecord] = []
        extended: list[PartyRecord] = []
        for company, estate_ids in sorted(by_company.items()):
            same = [p for p in existing if p.kind is PartyKind.PROPERTY_COMPANY and p.name == company]
            if not same:
                created.append(
                    self.create(
                        kind=PartyKind.PROPERTY_COMPANY,
                        name=company,
                        estate_ids=sorted(estate_ids),
                        actor="registry",
                        now=now,
                        reason="the estates' property company in the device registry",
                    )
                )
                continue
            missing = sorted(e for e in estate_ids if e not in served)
            if missing:
                party = same[0]
                extended.append(
                    self.update(
                        party.id,
                        {"estate_ids": [*party.estate_ids, *missing]},
                        actor="registry",
                        now=now,
                        reason="the estates' property company in the device registry",
                    )
                )
        return created, extended


def _data(party: PartyRecord) -> dict[str, Any]:
    return {
        "kind": party.kind.value,
        "name": party.name,
        "contact": party.contact,
        "phone": party.phone,
        "channels": party.channels,
        "estate_ids": party.estate_ids,
        "active": party.active,
    }


def version_record(party: PartyRecord, version: PartyVersion) -> PartyRecord:
    """``party`` as ``version`` recorded it (its id and creation time, the version's fields and time)."""
    data = version.data
    return PartyRecord(
        id=party.id,
        kind=PartyKind(data["kind"]),
        name=data["name"],
        contact=data["contact"],
        phone=data["phone"],
        channels=list(data["channels"]),
        estate_ids=list(data["estate_ids"]),
        active=bool(data["active"]),
        created_at=party.created_at,
        updated_at=version.at,
    )
