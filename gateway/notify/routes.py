"""Who a message goes to, and how a resumed message finds its address again.

Addresses come from ``[notify]`` (``duty``, ``escalate``, ``hazards``, ``escalation_levels``) and from the
parties (gateway/store/parties.py, ``channels``). Each is kept with its route (``duty``, ``escalate``,
``hazards``, ``level:<name>``, ``party:<id>``): the store keeps only the scrubbed channel, never the URL with
its token, so a message resumed after a restart looks its URL up again under its route, by the scrubbed
form. An address no longer there (removed from the configuration or the party) cannot be resumed.

Hazard messages go to the party the hazard was dispatched to, on its own channels; a hazard escalated to
a level (``community``, ``street``, ``district``, ``brigade``) goes to ``[notify] escalation_levels`` of that
level and to the active parties of that kind serving the estate. Either falls back to ``[notify] hazards``
when it finds no address.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.config import NotifySection
from gateway.notify.channels import check
from gateway.store.parties import PartyKind

if TYPE_CHECKING:
    from gateway.store import HazardStore

log = logging.getLogger(__name__)

#: The parties a level's escalation reaches, besides its configured addresses.
LEVEL_PARTY_KINDS: dict[str, tuple[PartyKind, ...]] = {
    "community": (PartyKind.COMMUNITY,),
    "street": (PartyKind.STREET,),
    "district": (PartyKind.DISTRICT,),
    "brigade": (PartyKind.BRIGADE,),
}


@dataclass(frozen=True, slots=True)
class Recipient:
    route: str
    url: str


def configured(config: NotifySection, route: str) -> list[Recipient]:
    """The addresses ``[notify]`` lists under ``route`` (``duty``, ``escalate``, ``hazards``, ``level:X``)."""
    if route.startswith("level:"):
        urls = config.escalation_levels.get(route.removeprefix("level:"), [])  # type: ignore[call-overload]
    else:
        urls = {"duty": config.duty, "escalate": config.escalate, "hazards": config.hazards}.get(route, [])
    return [Recipient(route, url) for url in urls]


def party(store: HazardStore, party_id: int) -> list[Recipient]:
    """The usable channels of an active party (none if it is inactive)."""
    record = store.parties.get(party_id)
    if not record.active:
        return []
    return [Recipient(f"party:{record.id}", url) for url in record.channels if check(url)]


def for_hazard(store: HazardStore | None, config: NotifySection, data: dict[str, Any]) -> list[Recipient]:
    """The dispatched party's channels, else ``[notify] hazards`` (worker thread: reads the store)."""
    found: list[Recipient] = []
    if store is not None:
        try:
            party_id = data["party_id"] if "party_id" in data else store.hazards.get(int(data["id"])).party_id
            if party_id is not None:
                found = party(store, int(party_id))
        except Exception:
            log.exception("could not read the party of hazard %s; using [notify] hazards", data.get("id"))
    return found or configured(config, "hazards")


def for_level(
    store: HazardStore | None, config: NotifySection, estate_id: str, level: str
) -> list[Recipient]:
    """A hazard escalated to ``level``: its configured addresses and the parties of that kind serving the
    estate, else ``[notify] hazards``."""
    found = configured(config, f"level:{level}")
    kinds = LEVEL_PARTY_KINDS.get(level, ())
    if store is not None and kinds:
        try:
            for record in store.parties.serving(estate_id):
                if record.kind in kinds:
                    found += party(store, record.id)
        except Exception:
            log.exception("could not read the parties of %s for an escalation to %s", estate_id, level)
    if not found:
        log.warning("no address for hazard escalations to %r; using [notify] hazards", level)
    return found or configured(config, "hazards")


def resolve(
    store: HazardStore | None,
    config: NotifySection,
    route: str | None,
    channel: str,
    scrubbed: Callable[[str], str],
) -> str | None:
    """The URL under ``route`` whose scrubbed form is ``channel``, if it is still there."""
    if route is None:
        return None
    candidates: list[Recipient] = []
    if route.startswith("party:"):
        if store is None:
            return None
        try:
            candidates = party(store, int(route.removeprefix("party:")))
        except Exception:
            return None
    else:
        candidates = configured(config, route)
    return next((r.url for r in candidates if scrubbed(r.url) == channel), None)
