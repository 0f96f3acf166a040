"""An HTTP client on the API of an engine, with one signed-in account per role (a bearer token each).

Shared by the tests that step the engine with a fake clock and then check what each role may do over HTTP.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from gateway.api import ApiServices, create_app
from gateway.auth.service import AuthService
from gateway.auth.store import AuthStore
from gateway.casework.engine import RuleEngine
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.sinks.sqlite import SqliteSink


@contextlib.asynccontextmanager
async def role_clients(
    engine: RuleEngine,
    clock: Callable[[], datetime],
    tmp_path: Path,
    roles: Mapping[str, Mapping[str, Any]],
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """The client and each role's token; ``roles`` maps a role (also the username) to its scope."""
    deadletters = DeadLetterStore(tmp_path / "dl.sqlite")
    registry = engine.registry
    pipeline = Pipeline(registry, SqliteSink(tmp_path / "t.sqlite"), deadletters, clock=clock)
    auth = AuthService(AuthStore(engine.store.engine))
    app = create_app(ApiServices(registry, pipeline, engine, deadletters, clock, auth=auth))
    tokens = {}
    for role, scope in roles.items():
        auth.store.create_user(
            username=role, role=role, password=None, now=clock(), display_name=f"{role} 某某", **scope
        )
        tokens[role] = auth.create_token(role)[1]
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            yield http, tokens
    finally:
        deadletters.close()
