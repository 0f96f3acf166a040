"""Sign-in lock-outs as the people who end them see them (issue 17's open points): the limits are ``[auth]``
settings, ``GET /api/auth/lockouts`` lists what the caller may end, the brigade and admins end a client
address's lock, and the UI's 登录锁定 page does it with one button, for the accounts that may.

The accounts, estates and app are test_hostile_people.py's (its ``world`` fixture): two districts, one
office each, a grid worker and a property company in 东城区, an admin brigade account.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Dialog, async_playwright, expect
from pydantic import ValidationError
from served_app import served, signed_in
from test_hostile_people import CHROMIUM, World, password_of, sign_in, world

from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.auth.throttle import Subject
from gateway.config import AuthSection

pytestmark = pytest.mark.usefixtures("cheap_hashes")
__all__ = ["world"]  # the fixture, used by name below


def test_the_limits_are_settings(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    store = AuthStore(create_engine(f"sqlite:///{tmp_path / 'auth.sqlite'}"))
    auth = AuthService.from_config(AuthSection(lock_after_failures=2, lock_s=60, max_lock_s=90), store)
    rules = auth.throttle.rules
    assert (rules[Subject.ACCOUNT].limit, rules[Subject.ACCOUNT].lock.total_seconds()) == (2, 60)
    assert rules[Subject.ACCOUNT].max_lock.total_seconds() == 90
    assert (rules[Subject.ADDRESS].limit, rules[Subject.ADDRESS].doubling) == (20, False)
    with pytest.raises(ValidationError, match=r"max_lock_s \(30\) must not be shorter than lock_s \(60\)"):
        AuthSection(lock_s=60, max_lock_s=30)
    with pytest.raises(ValidationError, match="lock_after_failures"):
        AuthSection(lock_after_failures=0)


async def test_each_sees_the_locks_it_may_end_and_only_the_city_wide_end_an_address(world: World) -> None:
    async with world.client("10.0.0.9") as http:
        for name in ("grid_east", "office_west", "ghost", "ghost2"):
            for _ in range(5):
                await sign_in(http, name, "wrong-password-1")  # 20 from one address: it locks too

        async def listed(by: str) -> list[tuple[str, str, str, bool]]:
            r = await http.get("/api/auth/lockouts", headers=world.bearer(by))
            assert r.status_code == 200, r.text
            return [(lock["kind"], lock["name"], lock["display_name"], lock["known"]) for lock in r.json()]

        assert await listed("office_east") == [("account", "grid_east", "grid_east 某", True)]
        assert await listed("office_west") == [("account", "office_west", "office_west 某", True)]
        every = await listed("brigade")
        assert sorted(every) == [
            ("account", "ghost", "", False),
            ("account", "ghost2", "", False),
            ("account", "grid_east", "grid_east 某", True),
            ("account", "office_west", "office_west 某", True),
            ("address", "10.0.0.9", "", False),
        ]
        for who in ("property_jx", "grid_east", "viewer_all"):
            r = await http.get("/api/auth/lockouts", headers=world.bearer(who))
            assert r.status_code == 403, who
            assert "needs unlock_accounts" in r.json()["detail"]

        r = await http.post("/api/auth/addresses/10.0.0.9/unlock", headers=world.bearer("office_east"))
        assert r.status_code == 403
        assert "only the brigade and admins unlock a client address" in r.json()["detail"]
        r = await http.post("/api/auth/addresses/10.0.0.9/unlock", headers=world.bearer("brigade"))
        assert r.status_code == 200, r.text
        assert r.json()["address"] == "10.0.0.9"
        assert r.json()["was_locked_until"] is not None
        assert r.json()["unlocked_by"] == "brigade 某"
        assert ("address", "10.0.0.9", "", False) not in await listed("brigade")
    (last, *_) = world.auth.throttle.events()
    assert (last.event, last.kind, last.name) == ("unlock", Subject.ADDRESS, "10.0.0.9")
    assert last.actor == "brigade 某"


async def test_an_office_ends_a_colleagues_lock_from_the_page(world: World, tmp_path: Path) -> None:
    async with world.client("10.0.0.7") as http:
        for _ in range(5):
            await sign_in(http, "grid_east", "wrong-password-1")
        assert (await sign_in(http, "grid_east")).status_code == 429
    async with served(world.engine, world.auth, tmp_path) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        errors: list[str] = []
        try:
            page = await signed_in(browser, base, "office_east", password_of("office_east"), errors)
            link = page.locator('#top nav a[href="#/lockouts"]')
            await expect(link).to_be_visible()
            await expect(link).to_have_text("登录锁定")
            await link.click()
            row = page.locator('tr[data-lock="account:grid_east"]')
            await expect(row).to_contain_text("grid_east 某")
            asked: list[str] = []

            async def accept(dialog: Dialog) -> None:
                asked.append(dialog.message)
                await dialog.accept()

            page.on("dialog", accept)
            await row.get_by_role("button", name="解锁").click()
            await expect(page.locator('[data-testid="lockouts-none"]')).to_be_visible()
            await expect(page.locator("#lo-result")).to_have_text("已解锁：grid_east")
            assert asked == ["确认已联系到本人，解锁 grid_east？"]
            assert world.auth.throttle.locks(world.auth.clock()) == []

            # An account that may not unlock has no such link.
            grid = await signed_in(browser, base, "property_jx", password_of("property_jx"), errors)
            await expect(grid.locator("#whoami")).to_have_text(re.compile("property_jx"))
            await expect(grid.locator('#top nav a[href="#/lockouts"]')).to_be_hidden()
            assert errors == []
        finally:
            await browser.close()
