"""Responsible parties as the casework checks them: what a party may hold (refusals name the field), the
parties taken from the registry at start-up, and the party a dispatch (派单) goes to.

A dispatch goes to an active party that serves the hazard's estate, picked by ``party_id``. An old client that
sends only the free-text ``responsible`` is still served when, and only when, that text is exactly the name
of one such party (then it is that party, as if picked); any other text is refused, naming ``party_id`` and
listing the estate's parties, so that no hazard is dispatched to nobody in particular.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from gateway.casework.model import EngineError
from gateway.ingest.registry import Registry
from gateway.store import HazardStore
from gateway.store.database import NotFound
from gateway.store.parties import PartyKind, PartyRecord

log = logging.getLogger(__name__)

#: Mainland numbers: a mobile (1[3-9] + 9 digits), a landline with its area code (0 + 2–3 digits, then 7–8
#: digits, an optional extension), a 400/800 service number, or a short public service number (119, 12345,
#: 96119). Spaces and hyphens are allowed between groups; +86 / 0086 before a mobile or landline.
_PHONE = re.compile(
    r"(?:(?:\+|00)86)?(?:1[3-9]\d{9}|0\d{2,3}\d{7,8}(?:(?:ext|转|#)\d{1,6})?)|[48]00\d{7}|1\d{2}|1\d{4}|9\d{4}"
)
_EMAIL = re.compile(r"(?:mailto:)?[^@\s/]+@[^@\s/]+\.[^@\s/]+")
_URL = re.compile(r"[a-z][a-z0-9+.-]{1,31}://\S+", re.IGNORECASE)
MAX_CHANNELS = 10


def check_phone(phone: str) -> str:
    """The phone as given (trimmed), or ``EngineError`` naming ``phone``; empty is allowed (not known yet)."""
    phone = phone.strip()
    if not phone:
        return ""
    compact = re.sub(r"[\s\-()]", "", phone)
    if len(phone) > 32 or not _PHONE.fullmatch(compact):
        raise EngineError(
            f"phone: {phone!r} is not a phone number (a mobile such as 13800138000, a landline with its area "
            "code such as 010-12345678, a 400/800 number, or a service number such as 96119)"
        )
    return phone


def check_channels(channels: Sequence[str]) -> list[str]:
    """Channel addresses: URLs with a scheme (``https://qyapi.weixin.qq.com/...``, ``wecombot://...``,
    ``dingtalk://...``) or e-mail addresses; ``EngineError`` naming ``channels[i]`` otherwise."""
    if len(channels) > MAX_CHANNELS:
        raise EngineError(f"channels: at most {MAX_CHANNELS} addresses, {len(channels)} given")
    out: list[str] = []
    for i, raw in enumerate(channels):
        value = raw.strip()
        if not value or len(value) > 2000 or not (_URL.fullmatch(value) or _EMAIL.fullmatch(value)):
            raise EngineError(
                f"channels[{i}]: {raw!r} is neither a URL with a scheme (a WeCom or DingTalk webhook, an "
                "Apprise URL) nor an e-mail address"
            )
        if value not in out:
            out.append(value)
    return out


def check_party(
    data: dict[str, Any], *, known_estate: Callable[[str], bool], creating: bool
) -> dict[str, Any]:
    """The fields of ``data`` a party may hold, checked and trimmed, or ``EngineError`` naming the field.
    ``known_estate``: whether an estate id may be named (one outside the caller's scope is as unknown as one
    that does not exist, so the answer is the same)."""
    out: dict[str, Any] = {}
    if "kind" in data:
        try:
            out["kind"] = PartyKind(data["kind"])
        except ValueError:
            kinds = ", ".join(f"{k.value} ({k.zh})" for k in PartyKind)
            raise EngineError(f"kind: {data['kind']!r} is not a kind of party; one of: {kinds}") from None
    elif creating:
        raise EngineError("kind: required")
    if "name" in data or creating:
        name = str(data.get("name") or "").strip()
        if not name:
            raise EngineError("name: a party needs a name (e.g. 锦绣物业, 和平街道办事处)")
        if len(name) > 256:
            raise EngineError("name: at most 256 characters")
        out["name"] = name
    if "contact" in data:
        contact = str(data["contact"] or "").strip()
        if len(contact) > 128:
            raise EngineError("contact: at most 128 characters")
        out["contact"] = contact
    if "phone" in data:
        out["phone"] = check_phone(str(data["phone"] or ""))
    if "channels" in data:
        out["channels"] = check_channels(list(data["channels"] or []))
    if "estate_ids" in data:
        estate_ids: list[str] = []
        for estate_id in data["estate_ids"] or []:
            if not known_estate(estate_id):
                raise EngineError(f"estate_ids: no estate {estate_id!r}")
            if estate_id not in estate_ids:
                estate_ids.append(estate_id)
        out["estate_ids"] = estate_ids
    if "active" in data:
        out["active"] = bool(data["active"])
    return out


def seed_from_registry(store: HazardStore, registry: Registry, now: datetime) -> None:
    """Each estate's property company (the registry's ``property_company``) becomes a party serving it."""
    created, extended = store.parties.seed_property_companies(
        ((e.id, e.property_company) for e in registry.estates), now
    )
    if created or extended:
        log.info(
            "parties from the registry: %d property companies added, %d given more estates",
            len(created),
            len(extended),
        )


def describe(parties: Sequence[PartyRecord]) -> str:
    return "; ".join(f"{p.id} {p.name} ({p.kind.zh})" for p in parties)


def dispatch_party(
    store: HazardStore, estate_id: str, party_id: int | None, responsible: str | None
) -> PartyRecord:
    """The party a hazard of ``estate_id`` is dispatched to, or ``EngineError`` naming ``party_id`` and
    listing the estate's active parties."""
    serving = store.parties.serving(estate_id)
    listing = (
        f"the parties of estate {estate_id}: {describe(serving)}"
        if serving
        else f"estate {estate_id} has no active party yet (an office or brigade account adds one)"
    )
    if party_id is not None:
        try:
            party = store.parties.get(party_id)
        except NotFound:
            raise EngineError(f"party_id: no party {party_id}; {listing}") from None
        if not party.active:
            raise EngineError(f"party_id: party {party_id} ({party.name}) is inactive; {listing}")
        if not party.serves(estate_id):
            raise EngineError(
                f"party_id: party {party_id} ({party.name}) does not serve estate {estate_id}; {listing}"
            )
        return party
    text = (responsible or "").strip()
    if text:
        named = [p for p in serving if text in (p.name, p.label)]
        if len(named) == 1:
            return named[0]
        raise EngineError(
            f"party_id: dispatch needs the responsible party picked from the estate's parties; 'responsible' "
            f"{text!r} names {'more than one' if named else 'none'} of them; {listing}"
        )
    raise EngineError(f"party_id: dispatch needs the responsible party ('party_id'); {listing}")
