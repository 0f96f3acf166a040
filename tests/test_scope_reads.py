"""Reading one item by its path, role by role: an item of an estate the role sees answers, and an item of any
other estate is 404 with exactly the body of an item that does not exist (so a caller cannot even learn that
it exists).

The world is tests/test_auth_scope.py's (four estates, each its own street, in two districts and two property
companies, each with a hazard and an alarm); here every estate also gets a photo of its hazard, a party
serving it alone and a handover of its street's control room. ``READS`` is the table: every GET route with a
path parameter, what the parameter names, and the status each role gets for an item of an estate it sees;
``SEES`` says which estates those are. A GET route added with a path parameter fails
``test_every_item_read_route_has_a_row`` until it has its row.
"""

from __future__ import annotations

import io

import pytest
import test_auth_scope
from PIL import Image
from test_auth_scope import ESTATES, World, api_routes, is_streaming, normalised

from gateway.store.parties import PartyKind

pytestmark = pytest.mark.usefixtures("cheap_hashes")

#: tests/test_auth_scope.py's fixture: its estates, accounts and the items of each estate, on the real app.
world = test_auth_scope.world

ROLES = ("brigade", "office", "property", "grid", "viewer")
#: The account of each role (tests/test_auth_scope.py's ACCOUNTS) and the estates it sees, written out.
ACCOUNT = {
    "brigade": "brigade",
    "office": "office_east",
    "property": "property_jx",
    "grid": "grid_west",
    "viewer": "viewer_company",
}
SEES = {
    "brigade": {"E001", "E002", "E003", "E004"},
    "office": {"E001", "E002"},  # 东城区
    "property": {"E001", "E003"},  # 锦绣物业
    "grid": {"E003", "E004"},  # 西城区
    "viewer": {"E002", "E004"},  # 绿城物业
}

#: route: (what its path parameter names, the status for an item of an estate the role sees, by role:
#: brigade, office, property, grid, viewer). An item of an estate the role does not see: 404, the same as
#: a missing one, for every role and every row.
READS: dict[str, tuple[str, tuple[int, int, int, int, int]]] = {
    "/api/estates/{estate_id}": ("estate", (200, 200, 200, 200, 200)),
    "/api/estates/{estate_id}/grade-history": ("estate", (200, 200, 200, 200, 200)),
    "/api/estates/{estate_id}/assessments": ("estate", (200, 200, 200, 200, 200)),
    "/api/estates/{estate_id}/status": ("estate", (200, 200, 200, 200, 200)),
    "/api/estates/{estate_id}/placard.pdf": ("estate", (200, 200, 200, 200, 200)),
    "/api/estates/{estate_id}/placard.png": ("estate", (200, 200, 200, 200, 200)),
    "/api/estates/{estate_id}/placard-postings": ("estate", (200, 200, 200, 200, 200)),
    "/api/hazards/{hazard_id}": ("hazard", (200, 200, 200, 200, 200)),
    "/api/hazards/{hazard_id}/photos": ("hazard", (200, 200, 200, 200, 200)),
    "/api/uploads/{name}": ("photo", (200, 200, 200, 200, 200)),
    "/api/alarms/{alarm_id}": ("alarm", (200, 200, 200, 200, 200)),
    "/api/devices/{device_id}": ("device", (200, 200, 200, 200, 200)),
    "/api/devices/{device_id}/series": ("device", (200, 200, 200, 200, 200)),
    "/api/devices/{device_id}/recent": ("device", (200, 200, 200, 200, 200)),
    "/api/parties/{party_id}/versions": ("party", (200, 200, 200, 200, 200)),
    "/api/handovers/{handover_id}": ("handover", (200, 200, 200, 200, 200)),
}
#: A value of each kind that names nothing.
MISSING = {
    "estate": "E999",
    "hazard": "999999",
    "alarm": "999999",
    "device": "NO-SUCH-DEVICE",
    "photo": "0" * 32 + ".png",
    "party": "999999",
    "handover": "999999",
}


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (30, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


async def items_of(w: World) -> dict[str, dict[str, str]]:
    """Each kind's item of each estate: kind → estate → path value (photos, parties, handovers made here)."""
    now = w.engine.clock()
    photos, parties, handovers = {}, {}, {}
    for estate, (district, street, _) in ESTATES.items():
        r = await w.http.post(
            f"/api/hazards/{w.hazards[estate]}/photos",
            files={"photo": ("p.png", png(), "image/png")},
            data={"step": "before"},
            headers=w.as_("brigade"),
        )
        assert r.status_code == 201, r.text
        photos[estate] = r.json()["photo"].removeprefix("uploads/")
        party = w.engine.store.parties.create(
            kind=PartyKind.COMMUNITY, name=f"{estate} 社区", estate_ids=[estate], actor="setup", now=now
        )
        parties[estate] = str(party.id)
        # The street's own office hands its control room (one estate) over.
        username = f"street_{estate}"
        w.auth.store.create_user(
            username=username,
            role="office",
            password=None,
            now=w.auth_clock(),
            district=district,
            street=street,
        )
        token = w.auth.create_token(username)[1]
        r = await w.http.post(
            "/api/handovers", json={"note": "交班"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 201, r.text
        assert r.json()["room"] == f"area:{district}/{street}"
        handovers[estate] = str(r.json()["id"])
    return {
        "estate": {e: e for e in ESTATES},
        "hazard": {e: str(w.hazards[e]) for e in ESTATES},
        "alarm": {e: str(w.alarms[e]) for e in ESTATES},
        "device": {e: w.device(e) for e in ESTATES},
        "photo": photos,
        "party": parties,
        "handover": handovers,
    }


def url(route: str, value: str) -> str:
    head, _, rest = route.partition("{")
    return head + value + rest.partition("}")[2]


def test_every_item_read_route_has_a_row(world: World) -> None:
    reads = {p for m, p, r in api_routes(world.app) if m == "GET" and "{" in p and not is_streaming(r)}
    missing = sorted(reads - set(READS))
    assert not missing, f"GET routes with a path parameter and no row in READS: {missing}"
    assert not set(READS) - reads, f"rows of routes that are gone: {sorted(set(READS) - reads)}"
    assert all(route.count("{") == 1 for route in READS), "a route with two parameters needs a new table"


async def test_an_item_outside_the_scope_answers_as_a_missing_one_for_every_role(world: World) -> None:
    items = await items_of(world)
    checked: list[tuple[str, str, str, int]] = []
    wrong: list[str] = []
    for route, (kind, statuses) in READS.items():
        for role, in_scope in zip(ROLES, statuses, strict=True):
            headers = world.as_(ACCOUNT[role])
            absent = MISSING[kind]
            missing = await world.http.get(url(route, absent), headers=headers)
            if missing.status_code != 404:
                wrong.append(f"{role} GET {url(route, absent)}: {missing.status_code}, not 404")
            for estate in sorted(ESTATES):
                value = items[kind][estate]
                r = await world.http.get(url(route, value), headers=headers)
                expected = in_scope if estate in SEES[role] else 404
                checked.append((role, route, estate, r.status_code))
                where = f"{role} GET {url(route, value)} ({estate})"
                if r.status_code != expected:
                    wrong.append(f"{where}: {r.status_code}, expected {expected}: {r.text[:200]}")
                elif expected == 404 and normalised(r, value) != normalised(missing, absent):
                    wrong.append(f"{where}: answers unlike a missing {kind}: {r.text} / {missing.text}")
    assert not wrong, "\n".join(wrong)
    assert len(checked) == len(READS) * len(ROLES) * len(ESTATES)
    outside = sum(1 for role, _, estate, _ in checked if estate not in SEES[role])
    assert outside == len(READS) * sum(len(ESTATES) - len(s) for s in SEES.values())
