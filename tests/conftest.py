"""Shared fixtures: real Mosquitto and InfluxDB processes, started once per test session.

A missing server binary fails the tests (it does not skip them): a green run must mean the real-service
tests ran. ``scripts/ensure-services.sh`` installs both from Debian packages.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from services import InfluxService, MosquittoService, PostgresService, ServiceError

ServiceT = TypeVar("ServiceT", MosquittoService, InfluxService, PostgresService)


def _session_service(make: Callable[[], ServiceT]) -> Iterator[ServiceT]:
    """The body of a session fixture: make and start a service, hand it over, close it at the end.

    A service that cannot be made or started (no binary, a server that does not come up) fails the tests
    that use it with the server's log and no traceback.
    """
    try:
        service = make()
        service.start()
    except ServiceError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield service
    finally:
        service.close()


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[MosquittoService]:
    """A private Mosquitto on 127.0.0.1 and a free port (``.host``, ``.port``; ``stop()``/``start()``)."""
    yield from _session_service(MosquittoService)


@pytest.fixture(scope="session")
def influxdb() -> Iterator[InfluxService]:
    """A private InfluxDB 1.x on free ports (``.url``, ``query()``, ``count_points()``, ``stop()``, ...)."""
    yield from _session_service(InfluxService)


@pytest.fixture
def influx_db_name(influxdb: InfluxService, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for this test (dropped afterwards), named after the test."""
    influxdb.ensure_running()  # a previous test may have failed while InfluxDB was stopped
    stem = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:40]
    name = f"t_{stem}_{uuid.uuid4().hex[:6]}"
    influxdb.create_database(name)
    yield name
    if influxdb.running:
        influxdb.drop_database(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresService]:
    """A private PostgreSQL (the hazard store's option for many gateways), started once per session."""
    yield from _session_service(PostgresService)


@pytest.fixture
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash passwords with argon2's cheapest profile: the tests that create accounts by the dozen are not
    about the hash's cost (tests/test_auth_scope.py checks the real one is argon2id)."""
    import argon2

    from gateway.auth import passwords

    monkeypatch.setattr(passwords, "HASHER", argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST))
