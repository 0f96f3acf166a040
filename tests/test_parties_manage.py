"""Managing responsible parties (责任单位) without writing API calls (issue 16): ``firegw parties`` on the
configured store (list, add, update, a spreadsheet's CSV import), the version history over the API, and the
#/parties page in a browser as a street office uses it.

Three estates::

    E001 东城区 锦绣物业      E002 东城区 绿城物业      E003 西城区 锦绣物业

Every check compares with what the store holds afterwards, not with fixed counts alone.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from clock import FakeClock
from laid_out import laid_out_registry
from playwright.async_api import async_playwright, expect
from role_clients import role_clients
from served_app import served, signed_in

from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.casework.engine import RuleEngine
from gateway.casework.parties import seed_from_registry
from gateway.cli import main
from gateway.config import load_config
from gateway.ingest.registry import Registry, registry_to_toml
from gateway.store import HazardStore
from gateway.store.parties import PartyKind, PartyRecord
from rules.policy import load_policy

LAYOUT = {"E001": ("东城区", "锦绣物业"), "E002": ("东城区", "绿城物业"), "E003": ("西城区", "锦绣物业")}
ACTOR = "和平街道 王"

pytestmark = pytest.mark.usefixtures("cheap_hashes")


def make_registry() -> Registry:
    return laid_out_registry(LAYOUT, smoke_per_estate=2, seed=7)


@dataclass
class Place:
    """A gateway's configuration on disk, and a way to read its store as the CLI left it."""

    config: Path

    @contextlib.contextmanager
    def store(self) -> Iterator[HazardStore]:
        store = HazardStore(load_config(self.config).hazard_store_url())
        try:
            yield store
        finally:
            store.close()

    def parties(self) -> list[PartyRecord]:
        with self.store() as store:
            return store.parties.all()

    def version_count(self) -> int:
        with self.store() as store:
            return store.counts()["party_versions"]

    def run(self, *args: str) -> int:
        return main([*args[:2], "--config", str(self.config), *args[2:]])


@pytest.fixture
def place(tmp_path: Path) -> Place:
    (tmp_path / "registry.toml").write_text(registry_to_toml(make_registry()), encoding="utf-8")
    (tmp_path / "data").mkdir()
    config = tmp_path / "gateway.toml"
    config.write_text('[gateway]\nregistry = "registry.toml"\ndata_dir = "data"\n', encoding="utf-8")
    return Place(config)


def errors(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line.strip() for line in capsys.readouterr().err.splitlines()]


# -- add, list, update ---------------------------------------------------------------------------------------


def test_the_cli_adds_lists_and_updates_with_a_version_per_change(
    place: Place, capsys: pytest.CaptureFixture[str]
) -> None:
    assert place.run("parties", "list") == 0
    assert "no party" in capsys.readouterr().out
    add = [
        "parties",
        "add",
        "--actor",
        ACTOR,
        "--kind",
        "社区",
        "--name",
        "和平社区居委会",
        "--contact",
        "张主任",
    ]
    add += ["--phone", "010-12345678", "--estate", "E001", "--estate", "E002"]
    assert place.run(*add, "--channel", "https://oapi.dingtalk.com/robot/send?access_token=k") == 0
    assert capsys.readouterr().out.startswith(
        "added #1    社区 (community) 和平社区居委会  张主任 010-12345678"
    )
    (party,) = place.parties()
    assert (party.kind, party.estate_ids, party.channels) == (
        PartyKind.COMMUNITY, ["E001", "E002"], ["https://oapi.dingtalk.com/robot/send?access_token=k"]
    )  # fmt: skip

    assert place.run(*add) == 2, "a second party of that kind and name would make imports ambiguous"
    assert errors(capsys)[1].startswith("--name: a 社区 named 和平社区居委会 exists already (party 1)")

    assert place.run("parties", "list", "--estate", "E002", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(p["id"], p["kind_zh"], p["channels"]) for p in listed] == [(1, "社区", party.channels)]
    assert place.run("parties", "list", "--estate", "E003") == 0
    assert "no party" in capsys.readouterr().out
    assert place.run("parties", "list", "--kind", "维保") == 2
    assert errors(capsys) == [
        "error: --kind: '维保' is not a kind of party; one of: property_company (物业公司), "
        "community (社区), street (街道), maintenance_company (维保公司), owners_committee (业主委员会), "
        "district (区消安委), "
        "brigade (消防救援大队)"
    ]

    update = ["parties", "update", "--actor", "街道 李", "--id", "1"]
    assert place.run(*update, "--phone", "13800138000", "--estate", "E002") == 0
    assert "updated: #1" in capsys.readouterr().out
    assert place.run(*update, "--phone", "13800138000") == 0
    assert "unchanged" in capsys.readouterr().out
    assert place.run(*update, "--deactivate") == 2
    assert errors(capsys) == [
        "error: --reason: say why the party is deactivated (e.g. 合同到期, 重新签约); it is recorded"
    ]
    assert place.run(*update, "--deactivate", "--reason", "合同到期", "--no-channels") == 0
    assert capsys.readouterr().out.rstrip().endswith("0 channels  [inactive]")
    with place.store() as store:
        versions = store.parties.versions(1)
    assert [(v.action, v.actor, v.reason) for v in versions] == [
        ("create", ACTOR, ""), ("update", "街道 李", ""), ("update", "街道 李", "合同到期")
    ], "one version per change; none for the update that changed nothing"  # fmt: skip
    assert [(v.data["phone"], v.data["estate_ids"], v.data["active"]) for v in versions] == [
        ("010-12345678", ["E001", "E002"], True),
        ("13800138000", ["E002"], True),
        ("13800138000", ["E002"], False),
    ]

    assert (
        place.run(
            "parties", "add", "--actor", ACTOR, "--kind", "community", "--name", "二社区", "--estate", "E001"
        )
        == 0
    )
    assert place.run(*update, "--name", "二社区") == 2
    assert errors(capsys)[1].startswith("--name: a 社区 named 二社区 exists already (party 2)")
    assert place.run("parties", "update", "--actor", "x", "--id", "9", "--phone", "13800138000") == 2
    assert errors(capsys) == ["error: --id: no party 9; firegw parties list shows their ids"]
    assert place.run("parties", "update", "--actor", " ", "--id", "1", "--name", "x") == 2
    assert errors(capsys)[0].startswith("error: --actor: say who makes the change")


def test_the_cli_names_every_mistake_of_an_add_and_writes_nothing(
    place: Place, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["parties", "add", "--actor", ACTOR, "--kind", "物管", "--name", " ", "--estate", "E009"]
    assert place.run(*args, "--phone", "12345", "--channel", "mailto:a@b.cn", "--channel", "钉钉群") == 2
    lines = errors(capsys)
    assert lines[0] == "error: nothing added:"
    assert [line.split(":")[0] for line in lines[1:]] == ["--kind", "--name", "--estate", "--channel #2"]
    assert "the registry has E001, E002, E003" in lines[3]
    assert place.parties() == []


# -- import --------------------------------------------------------------------------------------------------

BAD_CSV = """kind,name,contact,phone,channels,estate_ids
物业公司,锦绣物业,王经理,13800138000,https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k,E001;E003
维修站,安消维保,,,,E001
community,和平社区,张主任,12,,E009

street,,,,,E001
property_company,锦绣物业,,,,E003
owners_committee,E002业委会,,010-1234567,,
maintenance_company,"多行
名称",,,not-an-address,E001,extra
"""

GOOD_CSV = """kind,name,contact,phone,channels,estate_ids
物业公司,锦绣物业,王经理,13800138000,https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k；wang@jx.cn,E001;E003
community,和平社区居委会,张主任,010-12345678,,E001;E002
maintenance_company,安消维保,李工,400-800-1234,,E001; E002 ;E003
"""


def test_an_import_with_mistakes_names_every_bad_line_and_writes_nothing(
    place: Place, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "parties.csv"
    path.write_text(BAD_CSV, encoding="utf-8")
    assert place.run("parties", "import", "--actor", ACTOR, "--file", str(path)) == 2
    lines = errors(capsys)
    assert lines[0] == f"error: nothing imported from {path}, 7 problems on 6 lines:"
    named = [line.split(": ")[0] for line in lines[1:]]
    assert named == ["line 3", "line 4", "line 4", "line 6", "line 7", "line 8", "line 9"]
    assert lines[1].startswith(
        "line 3: kind: '维修站' is not a kind of party; one of: property_company (物业公司)"
    )
    assert lines[2].startswith("line 4: phone: '12' is not a phone number (a mobile such as 13800138000")
    assert lines[3] == "line 4: estate_ids: no estate 'E009'; the registry has E001, E002, E003"
    assert lines[4].startswith("line 6: name: a party needs a name")
    assert lines[5] == "line 7: 物业公司 锦绣物业 is on line 2 already; one line per party"
    assert lines[6].startswith("line 8: estate_ids: name at least one estate")
    assert lines[7] == "line 9: 7 cells, but the header names 6 columns", "a quoted cell may span lines"
    assert place.parties() == [], "nothing written"
    assert place.version_count() == 0

    path.write_text("kind,nom,estate_ids,remark\n", encoding="utf-8")
    assert place.run("parties", "import", "--actor", ACTOR, "--file", str(path)) == 2
    assert errors(capsys)[1:] == [
        "line 1: unknown column 'nom'",
        "line 1: unknown column 'remark'",
        "line 1: column 'name' is missing",
        "the first line names the columns: kind,name,estate_ids,contact,phone,channels "
        "(kind, name, estate_ids required)",
    ]
    assert place.run("parties", "import", "--actor", ACTOR, "--file", str(tmp_path / "none.csv")) == 2
    assert errors(capsys)[0].startswith(f"error: --file: {tmp_path / 'none.csv'} cannot be read")


def test_a_good_import_adds_and_updates_and_a_second_run_changes_nothing(
    place: Place, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The gateway started once: the registry's property companies are parties already (锦绣物业 E001, E003);
    # the 东城区 street's spreadsheet names E001 only for 锦绣物业.
    with place.store() as store:
        seed_from_registry(store, make_registry(), FakeClock()())
    path = tmp_path / "parties.csv"
    path.write_text(GOOD_CSV.replace("E001;E003\n", "E001\n", 1), encoding="utf-8")
    before = place.version_count()
    assert place.run("parties", "import", "--actor", ACTOR, "--file", str(path)) == 0
    assert capsys.readouterr().out.splitlines() == ["parties.csv: 2 added, 1 updated, 0 unchanged"]
    parties = {p.name: p for p in place.parties()}
    assert set(parties) == {"锦绣物业", "绿城物业", "和平社区居委会", "安消维保"}
    jx = parties["锦绣物业"]
    assert (jx.contact, jx.phone, jx.estate_ids) == ("王经理", "13800138000", ["E001", "E003"]), (
        "the line's contact and phone, its estates added: none taken away"
    )
    assert jx.channels == ["https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", "wang@jx.cn"]
    assert parties["安消维保"].estate_ids == ["E001", "E002", "E003"]
    assert parties["绿城物业"].contact == "", "a party not in the file is left as it was"
    assert place.version_count() == before + 3
    with place.store() as store:
        last = store.parties.versions(parties["和平社区居委会"].id)[-1]
    assert (last.actor, last.reason) == (ACTOR, "imported from parties.csv")

    # Run again, and once more as Excel on a Chinese Windows saves it (GB18030): nothing changes.
    assert place.run("parties", "import", "--actor", ACTOR, "--file", str(path)) == 0
    assert capsys.readouterr().out.splitlines() == ["parties.csv: 0 added, 0 updated, 3 unchanged"]
    excel = tmp_path / "excel.csv"
    excel.write_bytes(path.read_text(encoding="utf-8").encode("gb18030"))
    assert place.run("parties", "import", "--actor", ACTOR, "--file", str(excel)) == 0
    assert capsys.readouterr().out.splitlines() == ["excel.csv: 0 added, 0 updated, 3 unchanged"]
    assert place.version_count() == before + 3
    assert {p.name: p for p in place.parties()} == parties

    # An inactive party stays inactive: the import says so instead of bringing it back.
    assert (
        place.run(
            "parties", "update", "--actor", ACTOR, "--id", str(jx.id), "--deactivate", "--reason", "解约"
        )
        == 0
    )
    capsys.readouterr()
    assert place.run("parties", "import", "--actor", ACTOR, "--file", str(path)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"note: party {jx.id} 锦绣物业 is inactive and stays so")
    assert out[1] == "parties.csv: 0 added, 0 updated, 3 unchanged"


# -- versions over the API -----------------------------------------------------------------------------------

ROLES: dict[str, dict[str, Any]] = {
    "brigade": {},
    "office": {"district": "东城区"},
    "property": {"company": "锦绣物业"},
}
HOOK = "https://oapi.dingtalk.com/robot/send?access_token=secret"


async def test_a_partys_versions_are_read_as_the_caller_may_see_the_party(tmp_path: Path) -> None:
    clock = FakeClock()
    engine = RuleEngine(
        make_registry(), load_policy(), HazardStore(f"sqlite:///{tmp_path / 'h.sqlite'}"), clock=clock
    )
    async with role_clients(engine, clock, tmp_path, ROLES) as (http, tokens):

        def as_(role: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[role]}"}

        body = {
            "kind": "maintenance_company",
            "name": "安消维保",
            "estate_ids": ["E001", "E003"],
            "phone": "",
        }
        created = (await http.post("/api/parties", json=body, headers=as_("brigade"))).json()
        clock.advance(hours=1)
        change = {"phone": "400-800-1234", "channels": [HOOK], "reason": "合同续签"}
        r = await http.patch(f"/api/parties/{created['id']}", json=change, headers=as_("office"))
        assert r.status_code == 200, r.text
        versions_url = f"/api/parties/{created['id']}/versions"

        office = (await http.get(versions_url, headers=as_("office"))).json()
        assert [(v["action"], v["actor"], v["reason"]) for v in office] == [
            ("create", "brigade 某某", ""), ("update", "office 某某", "合同续签")
        ]  # fmt: skip
        assert office[1]["changed"] == ["phone", "channels"]
        assert office[0]["changed"] == [
            "kind",
            "name",
            "contact",
            "phone",
            "channels",
            "estate_ids",
            "active",
        ]
        assert [v["party"]["estate_ids"] for v in office] == [["E001"], ["E001"]], "E003 is outside 东城区"
        assert office[1]["party"]["channels"] == [HOOK], "a manager sees the addresses"
        assert office[0]["at"] < office[1]["at"]

        company = (await http.get(versions_url, headers=as_("property"))).json()
        assert [v["party"]["channels"] for v in company] == [None, None], "webhook keys only to managers"
        assert [v["party"]["channel_count"] for v in company] == [0, 1]
        assert company[1]["changed"] == ["phone", "channels"], "that the count changed is visible"

        # A party serving only an estate outside the scope is as unknown as one that does not exist.
        west = engine.store.parties.create(
            kind=PartyKind.COMMUNITY, name="金融街社区", estate_ids=["E003"], actor="setup", now=clock()
        )
        hidden = await http.get(f"/api/parties/{west.id}/versions", headers=as_("office"))
        missing = await http.get("/api/parties/999999/versions", headers=as_("office"))
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["detail"].replace(str(west.id), "N") == missing.json()["detail"].replace(
            "999999", "N"
        )
        seen = await http.get(f"/api/parties/{west.id}/versions", headers=as_("brigade"))
        assert seen.json()[0]["party"]["estate_ids"] == ["E003"], "the brigade sees every estate"


# -- the page, in a browser ----------------------------------------------------------------------------------

CHROMIUM = os.environ.get("FIREGW_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery staple"


async def test_an_office_adds_and_edits_a_party_on_the_page(tmp_path: Path) -> None:
    clock = FakeClock()
    engine = RuleEngine(
        make_registry(), load_policy(), HazardStore(f"sqlite:///{tmp_path / 'h.sqlite'}"), clock=clock
    )
    auth = AuthService(AuthStore(engine.store.engine))
    auth.store.create_user(
        username="office",
        role="office",
        password=PASSWORD,
        now=clock(),
        display_name="街道 王",
        district="东城区",
    )
    async with served(engine, auth, tmp_path) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        errors: list[str] = []
        try:
            page = await signed_in(browser, base, "office", PASSWORD, errors)
            await page.locator('#top nav a[href="#/parties"]').click()
            table = page.locator('[data-testid="parties"]')
            await expect(table).to_contain_text("锦绣物业")  # the registry's, with only the estates in scope
            assert await page.locator("#pf-estates input").count() == 2, (
                "E001 and E002: the estates in 东城区"
            )

            await page.locator("#party-add summary").click()
            form = page.locator("#party-form")
            await form.get_by_label("类型").select_option("community")
            await form.get_by_label("名称", exact=True).fill("和平社区居委会")
            await form.get_by_label("联系人").fill("张主任")
            await form.get_by_label("电话").fill("12")
            await page.locator('#pf-estates input[value="E001"]').check()
            await page.locator('#party-form button[type="submit"]').click()
            refusal = page.locator("#party-form [data-form-result] .error")
            await expect(refusal).to_contain_text("phone: '12' is not a phone number")
            await form.get_by_label("电话").fill("010-12345678")
            await page.locator('#party-form button[type="submit"]').click()

            detail = page.locator('[data-testid="party-detail"]')
            await expect(detail).to_contain_text("和平社区居委会")
            (party,) = [p for p in engine.store.parties.all() if p.name == "和平社区居委会"]
            assert (party.kind, party.phone, party.estate_ids) == (
                PartyKind.COMMUNITY,
                "010-12345678",
                ["E001"],
            )

            await form.get_by_label("联系人").fill("李主任")
            await page.locator('#pf-estates input[value="E002"]').check()
            await page.locator("#pf-reason").fill("换届")
            await page.locator('#party-form button[type="submit"]').click()
            versions = page.locator('[data-testid="party-versions"] tr[data-version-action]')
            await expect(versions).to_have_count(2)
            await expect(versions.first).to_contain_text("联系人、服务小区")
            await expect(versions.first).to_contain_text("换届")

            await page.locator("#ps-reason").fill("合同到期")
            await page.locator("#ps-submit").click()
            await expect(detail).to_have_attribute("data-active", "false")
            await expect(page.locator("#ps-submit")).to_have_text("恢复启用")
            party = engine.store.parties.get(party.id)
            assert (party.contact, party.estate_ids, party.active) == ("李主任", ["E001", "E002"], False)
            assert [v.actor for v in engine.store.parties.versions(party.id)] == ["街道 王"] * 3
            assert errors == []
        finally:
            await browser.close()
