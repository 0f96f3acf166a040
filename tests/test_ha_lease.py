"""The pieces of active/standby (gateway/ha) and of the store's change announcements, in one process.

Against a real PostgreSQL: the partition lease (``Lease.claim``: take, renew, take over once expired, release;
partitions independent); ``ActiveStandby`` with two gateways (one active at a time, a crash taken over within
the TTL, a lease taken away stands the holder down at once, a stuck event loop is fenced by the watchdog);
NOTIFY after hazard, complaint and fire writes and the listener that makes another engine's grades follow
within a second; two ``Gateway`` objects with their API (a standby has no rule engine; the API follows the
takeover). Without a server: the ``[ha]`` configuration and what it refuses.

The whole failover with real processes is tests/test_failover.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from waiting import wait_until

from gateway.app import Gateway
from gateway.casework.engine import RuleEngine
from gateway.config import ConfigError, HaSection, parse_config
from gateway.ha import ActiveStandby, Lease
from gateway.ha.lease import TABLE
from gateway.ha.standby import FENCED_EXIT_CODE
from gateway.store import HazardStore
from gateway.store.listen import ChangeListener, libpq_dsn
from rules.policy import load_policy
from simulators.fleet import generate_fleet

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
PG = "postgresql+psycopg://u:p@db.example/firegw"


@pytest.fixture
def store_url(postgres: Any) -> str:
    postgres.ensure_running()
    return str(postgres.create_database(f"l_{uuid.uuid4().hex[:10]}"))


# -- configuration (no server) ----------------------------------------------------------------------------


def test_ha_is_off_by_default_and_needs_postgresql_and_a_persistent_session() -> None:
    assert parse_config({}).ha.enabled is False
    with pytest.raises(ConfigError) as err:
        parse_config({"ha": {"enabled": True}})
    assert "ha.enabled" in str(err.value)
    assert "[rules] store_url" in str(err.value)
    assert "SQLite" in str(err.value)
    with pytest.raises(ConfigError, match="rules] store_url on PostgreSQL"):
        parse_config({"ha": {"enabled": True}, "rules": {"store_url": "sqlite:///x.sqlite"}})
    with pytest.raises(ConfigError, match=r"mqtt\.clean_session = false"):
        parse_config({"ha": {"enabled": True}, "rules": {"store_url": PG}, "mqtt": {"clean_session": True}})
    with pytest.raises(ConfigError, match="at least twice heartbeat_s"):
        parse_config({"ha": {"enabled": True, "ttl_s": 1.5}, "rules": {"store_url": PG}})
    config = parse_config({"ha": {"enabled": True, "partition": "east"}, "rules": {"store_url": PG}})
    assert (config.ha.partition, config.ha.ttl_s, config.ha.heartbeat_s) == ("east", 5.0, 1.0)


def test_the_example_configuration_documents_every_ha_key() -> None:
    text = (Path(__file__).resolve().parent.parent / "examples" / "gateway.toml").read_text()
    section = text[text.index("[ha]") :]
    for key in HaSection.model_fields:
        assert f"{key} =" in section, key


def test_a_libpq_dsn_keeps_the_sqlalchemy_urls_parts() -> None:
    dsn = libpq_dsn("postgresql+psycopg://firegw:s%40cret@db:5433/firegw?sslmode=require")
    assert dsn == "postgresql://firegw:s%40cret@db:5433/firegw?sslmode=require"


# -- the lease ----------------------------------------------------------------------------------------------


@pytest.mark.services
def test_the_lease_is_held_by_one_gateway_and_taken_over_once_expired(store_url: str) -> None:
    a = Lease(store_url, "all", "gw-a", ttl_s=0.6, timeout_s=1.0)
    b = Lease(store_url, "all", "gw-b", ttl_s=0.6, timeout_s=1.0)
    east = Lease(store_url, "east", "gw-e", ttl_s=0.6, timeout_s=1.0)
    try:
        first = a.claim()
        assert first.held
        assert first.term == 1
        seen = b.claim()
        assert not seen.held
        assert (seen.gateway, seen.holder) == ("gw-a", a.holder)
        assert 0 < seen.expires_in_s <= 0.6
        assert east.claim().held, "another partition has its own lease"
        assert a.claim().held, "renewed"
        time.sleep(0.7)
        taken = b.claim()
        assert taken.held
        assert taken.term == 2
        assert not a.claim().held, "the old holder cannot renew a lease taken over"
        b.release()
        assert a.claim().held, "a released lease is free at once"
        assert a.claim().term == 3
    finally:
        for lease in (a, b, east):
            lease.close()


# -- active/standby ---------------------------------------------------------------------------------------


class Side:
    """One gateway's ``ActiveStandby`` with an active part that only says it is running."""

    def __init__(self, store_url: str, name: str, log: list[tuple[float, str, bool]]) -> None:
        settings = HaSection(enabled=True, ttl_s=1.0, heartbeat_s=0.25)
        self.exits: list[int] = []
        self.ha = ActiveStandby(settings, store_url, name, exit_process=self.exits.append)
        self.name = name
        self.log = log
        self.running = False
        self.task: asyncio.Task[None] | None = None

    async def active_part(self) -> None:
        self.running = True
        self.log.append((time.monotonic(), self.name, True))
        try:
            await asyncio.Event().wait()
        finally:
            self.running = False
            self.log.append((time.monotonic(), self.name, False))

    def start(self) -> None:
        self.task = asyncio.create_task(self.ha.run(self.active_part))

    async def crash(self) -> None:
        """Gone without releasing the lease (as after kill -9)."""
        self.ha._holding = False
        assert self.task is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task

    async def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await self.task
        self.ha.close()


def never_two_at_once(log: list[tuple[float, str, bool]]) -> None:
    running: set[str] = set()
    for _, name, up in sorted(log):
        if up:
            running.add(name)
            assert len(running) == 1, f"two active at once: {running}"
        else:
            running.discard(name)


@pytest.mark.services
async def test_one_side_is_active_and_the_other_takes_over_a_crash_within_the_ttl(store_url: str) -> None:
    log: list[tuple[float, str, bool]] = []
    a, b = Side(store_url, "gw-a", log), Side(store_url, "gw-b", log)
    try:
        a.start()
        await wait_until(lambda: a.running, 5, "a active")
        b.start()
        await wait_until(lambda: b.ha.state == "standby", 5, "b standing by")
        await asyncio.sleep(0.6)
        assert not b.running
        await a.crash()
        crashed = time.monotonic()
        await wait_until(lambda: b.running, 3, "b active")
        took = time.monotonic() - crashed
        assert took <= 1.0 + 0.25 + 0.3, f"takeover in {took:.2f} s"
        assert b.ha.term == 2
        # A clean stop releases the lease: a standby takes it within a heartbeat, not a TTL.
        a = Side(store_url, "gw-a2", log)
        a.start()
        await wait_until(lambda: a.ha.state == "standby", 5, "a2 standing by")
        await b.stop()
        released = time.monotonic()
        await wait_until(lambda: a.running, 2, "a2 active")
        assert time.monotonic() - released < 0.6
        never_two_at_once(log)
    finally:
        await a.stop()
        await b.stop()


@pytest.mark.services
async def test_an_active_side_whose_lease_is_taken_stands_down_at_once(store_url: str) -> None:
    log: list[tuple[float, str, bool]] = []
    a = Side(store_url, "gw-a", log)
    try:
        a.start()
        await wait_until(lambda: a.running, 5, "a active")
        with psycopg.connect(libpq_dsn(store_url), autocommit=True) as conn:
            conn.execute(f"UPDATE {TABLE} SET holder = 'someone else', gateway = 'gw-x'")
        await wait_until(lambda: not a.running, 1.0, "a standing down")
        assert a.ha.state == "standby"
        assert not a.exits
    finally:
        await a.stop()


@pytest.mark.services
async def test_a_stuck_event_loop_is_fenced_by_the_watchdog(store_url: str) -> None:
    log: list[tuple[float, str, bool]] = []
    a = Side(store_url, "gw-a", log)
    try:
        a.start()
        await wait_until(lambda: a.running, 5, "a active")
        time.sleep(1.2)  # noqa: ASYNC251 - the loop is stuck past the lease's stand-down time (ttl 1 s)
        assert a.exits == [FENCED_EXIT_CODE]
    finally:
        await a.stop()


# -- change announcements ---------------------------------------------------------------------------------


@pytest.mark.services
async def test_a_change_through_one_gateway_reaches_the_others_grades_within_a_second(store_url: str) -> None:
    registry = generate_fleet(
        estates=2, smoke_per_estate=2, hydrants_per_estate=1, cameras_per_estate=0, modbus_share=0.0, seed=2
    )
    a = RuleEngine(registry, load_policy(), HazardStore(store_url), clock=lambda: T0, store_sync_s=30)
    b = RuleEngine(registry, load_policy(), HazardStore(store_url), clock=lambda: T0, store_sync_s=30)
    listener = ChangeListener(store_url, b.store.db.origin, poll_s=0.2)
    own = ChangeListener(store_url, a.store.db.origin, poll_s=0.2)
    tasks = [
        asyncio.create_task(listener.run()),
        asyncio.create_task(own.run()),
        asyncio.create_task(b.sync.follow(listener.changed, lambda: T0)),
    ]
    try:
        await wait_until(lambda: listener.listening and own.listening, 5, "listening")
        await asyncio.sleep(0.3)  # the catch-up sync after connecting
        filed = time.monotonic()
        a.hazards.file(
            estate_id="E001",
            criterion="R2",
            location="3号楼",
            description="违规设置夹层住人",
            reporter="巡查员",
        )
        await wait_until(lambda: b.grader.grades["E001"].colour == "red", 1.0, "b's grade red", every_s=0.01)
        print(f"\nhazard filed at a: b's grade red {1000 * (time.monotonic() - filed):.0f} ms later")
        a.incidents.add_complaint(
            estate_id="E002", received_at=T0, channel="12345", description="", reporter="x"
        )
        await wait_until(
            lambda: b.grader.grades["E002"].yellow_items == ("Y14",), 1.0, "b's complaint", every_s=0.01
        )
        assert own.heard == 0, "a gateway does not react to its own announcements"
        assert listener.heard == 2
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        a.store.close()
        b.store.close()


@pytest.mark.services
def test_a_batch_announces_once_at_commit_and_not_at_all_when_rolled_back(store_url: str) -> None:
    store = HazardStore(store_url)

    def complaint(text: str) -> None:
        store.complaints.add(
            estate_id="E001", received_at=T0, channel="12345", description=text, reporter="x", now=T0
        )

    with psycopg.connect(libpq_dsn(store_url), autocommit=True) as conn:
        conn.execute("LISTEN firegw_store_changes")
        with store.batch() as batch:
            for i in range(3):
                complaint(str(i))
        assert not batch.failed
        with store.batch() as batch:
            complaint("lost with the batch")
            with pytest.raises(DBAPIError), store.db.tx() as tx:
                tx.execute(text("SELECT 1/0"))
        assert batch.failed
        complaint("on its own")
        heard = list(conn.notifies(timeout=0.5))
        assert [n.payload for n in heard] == [store.db.origin] * 2
    assert len(store.complaints.find()) == 4
    store.close()


# -- the gateway's wiring (in process) ---------------------------------------------------------------------


@pytest.mark.services
async def test_the_api_follows_the_takeover_and_a_standby_has_no_rule_engine(
    store_url: str, mosquitto: Any, tmp_path: Path
) -> None:
    """Two ``Gateway`` objects on one loop: the standby serves the API without a rule engine; a clean stop of
    the active one hands the partition over, and the new active gateway's API files hazards and grades with
    an engine built from the store at the takeover (it shows the hazard filed through the other)."""
    mosquitto.ensure_running()
    registry = generate_fleet(
        estates=1, smoke_per_estate=2, hydrants_per_estate=0, cameras_per_estate=0, modbus_share=0.0, seed=3
    )
    client_id = f"ha-inproc-{uuid.uuid4().hex[:8]}"

    def gateway(name: str) -> Gateway:
        config = parse_config(
            {
                "gateway": {"id": name, "data_dir": str(tmp_path / name), "stats_interval_s": 3600},
                "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "client_id": client_id},
                "storage": {"kind": "sqlite"},
                "modbus": {"enabled": False},
                "rules": {"store_url": store_url, "publish": False},
                "auth": {"enabled": False},
                "api": {"port": 0},
                "ha": {"enabled": True, "ttl_s": 2.0, "heartbeat_s": 0.5},
            },
            base=tmp_path,
        )
        return Gateway(config, registry)

    a, b = gateway("gw-a"), gateway("gw-b")
    runs = [asyncio.create_task(a.run())]
    try:
        await asyncio.wait_for(a.ready.wait(), 15)
        runs.append(asyncio.create_task(b.run()))
        await asyncio.wait_for(b.api_ready.wait(), 15)
        await wait_until(lambda: b.ha is not None and b.ha.state == "standby", 5, "b standing by")
        assert a.engine is not None
        assert b.engine is None
        hazard = {"estate_id": "E001", "criterion": "R2", "description": "夹层住人", "reporter": "巡查员"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{a.api_port}") as http:
            assert (await http.post("/api/hazards", json=hazard)).status_code == 201
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{b.api_port}") as http:
            board = (await http.get("/api/estates")).json()
            assert board[0]["grade"] is None, "a standby grades nothing"
            assert (await http.get("/api/hazards")).status_code == 404
            a.request_stop("test")
            await asyncio.wait_for(runs[0], 15)
            await wait_until(lambda: b.ha is not None and b.ha.active and b.engine is not None, 3, "b active")
            await asyncio.wait_for(b.ready.wait(), 10)
            board = (await http.get("/api/estates")).json()
            assert board[0]["grade"]["grade"] == "red", "the hazard filed through a, read at the takeover"
            hazard["criterion"] = "Y2"
            assert (await http.post("/api/hazards", json=hazard)).status_code == 201
            assert len((await http.get("/api/hazards")).json()) == 2
        assert b.stats_fields()["ha_active"] is True
    finally:
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
