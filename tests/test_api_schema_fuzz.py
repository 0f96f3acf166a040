"""The HTTP API fuzzed against its own OpenAPI document, once with each role's API token.

schemathesis makes requests from ``/openapi.json`` (every operation but the never-ending live feed: its scope
and its end are tested in tests/test_auth_scope.py and tests/test_hostile_people.py) and checks each answer:
no 5xx, a status the operation documents, the documented content type, headers and body. The world is
tests/test_auth_scope.py's: four estates in two districts and two property companies, each with a hazard,
an alarm, a complaint and a fire, the real app on SQLite. Half the examples of an operation with a path
parameter name a real item of some estate (in the caller's scope or not), so that answers other than 404
are reached and checked too; half the bodies that name an estate name a real one.

Requests go through httpx to the app on the test's own event loop (as the gateway serves it); hypothesis
runs beside it in a worker thread. (schemathesis's own ASGI client is not used: it builds urllib3 responses,
and urllib3-future, which grafana-client brings in through niquests, takes urllib3's place and breaks it.)

Examples per operation and role: ``FIREGW_FUZZ_EXAMPLES`` (default 5, so 25 per operation; derandomized, so
a run is repeatable). A failure lists every operation that failed, each with its smallest failing request
as a curl command.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests
import schemathesis
import test_auth_scope
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from test_auth_scope import ESTATES, World

pytestmark = pytest.mark.usefixtures("cheap_hashes")

#: tests/test_auth_scope.py's fixture: its estates, accounts and the items of each estate, on the real app.
world = test_auth_scope.world


#: One account of each role (tests/test_auth_scope.py's ACCOUNTS), none an admin: an admin would revoke the
#: other accounts' tokens with the ids hypothesis draws first.
ROLE_ACCOUNTS = {
    "brigade": "brigade",
    "office": "office_east",
    "property": "property_jx",
    "grid": "grid_west",
    "viewer": "viewer_company",
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: Not fuzzed: a stream that ends only when its session does.
SKIPPED = {("GET", "/api/live")}
EXAMPLES = int(os.environ.get("FIREGW_FUZZ_EXAMPLES", "5"))
BASE_URL = "http://test"

Send = Callable[[requests.PreparedRequest], httpx.Response]


def real_values(w: World) -> dict[str, Callable[[str], str]]:
    """Path parameters that name an item of an estate: a real one of estate ``e``."""
    complaints = {c.estate_id: c.id for c in w.engine.store.complaints.find()}
    return {
        "estate_id": lambda e: e,
        "hazard_id": lambda e: str(w.hazards[e]),
        "alarm_id": lambda e: str(w.alarms[e]),
        "device_id": lambda e: w.device(e),
        "complaint_id": lambda e: str(complaints[e]),
    }


def cases(operation: Any, w: World) -> st.SearchStrategy[Any]:
    """The operation's generated requests; half of them, where it has path parameters that name an item of
    an estate, with real ones; half the bodies that name an estate, with a real one."""
    real = real_values(w)
    generated = operation.as_strategy()
    named = [p.name for p in operation.path_parameters if p.name in real]
    if named:
        with_real = st.sampled_from(sorted(ESTATES)).flatmap(
            lambda e: operation.as_strategy(path_parameters={p: real[p](e) for p in named})
        )
        generated = st.one_of(generated, with_real)

    def real_estate(drawn: tuple[Any, str, bool]) -> Any:
        case, estate, replace = drawn
        if replace and isinstance(case.body, dict) and "estate_id" in case.body:
            case.body["estate_id"] = estate
        return case

    return st.tuples(generated, st.sampled_from(sorted(ESTATES)), st.booleans()).map(real_estate)


def fuzz(schema: Any, w: World, send: Send) -> tuple[list[str], int]:
    """Every operation with every role's token; the failures (one text each) and the requests made."""
    failures: list[str] = []
    made = 0

    def examples(strategy: st.SearchStrategy[Any], headers: dict[str, str]) -> Callable[[], None]:
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: Any) -> None:
            nonlocal made
            kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
            kwargs.pop("timeout", None)
            response = send(requests.Request(**kwargs).prepare())
            made += 1
            case.validate_response(response, checks=CHECKS)

        return check

    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        strategy = cases(operation, w)
        for role, username in ROLE_ACCOUNTS.items():
            try:
                examples(strategy, {"Authorization": f"Bearer {w.tokens[username]}"})()
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.method.upper()} {operation.path} as {role}: {exc}")
    return failures, made


def tuples_for_schemathesis(node: Any) -> Any:
    """The document with each tuple (``prefixItems``, OpenAPI 3.1) as an array of its item types in any
    order: schemathesis 4.32 turns a response's ``prefixItems`` into a Draft 4 ``items`` list and then
    refuses that as a 2020-12 schema ("Invalid Schema Object in response definition"). Only the
    device series' ``[time, value]`` points are tuples, and they are empty here (no telemetry reader)."""
    if isinstance(node, list):
        return [tuples_for_schemathesis(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: tuples_for_schemathesis(v) for k, v in node.items()}
    if "prefixItems" in out:
        out["items"] = {"anyOf": out.pop("prefixItems")}
    return out


async def test_every_operation_answers_within_its_schema_for_every_role(world: World) -> None:
    schema = schemathesis.openapi.from_dict(tuples_for_schemathesis(world.app.openapi()))
    loop = asyncio.get_running_loop()

    def send(prepared: requests.PreparedRequest) -> httpx.Response:
        world.http.cookies.clear()  # a sign-in the fuzzer made must not stand in for the token
        headers = [(k, v if isinstance(v, str) else v.decode("latin-1")) for k, v in prepared.headers.items()]
        body = prepared.body if isinstance(prepared.body, bytes | str) else None  # never a stream here
        request = world.http.request(str(prepared.method), str(prepared.url), headers=headers, content=body)
        return asyncio.run_coroutine_threadsafe(request, loop).result(timeout=60)

    started = time.monotonic()
    failures, made = await asyncio.to_thread(fuzz, schema, world, send)
    took = time.monotonic() - started
    print(f"\n{made} requests in {took:.1f} s ({EXAMPLES} examples per operation and role)")
    assert not failures, f"{len(failures)} operation(s) answered outside the schema:\n\n" + "\n\n".join(
        failures
    )
    operations = sum(1 for _ in schema.get_all_operations()) - len(SKIPPED)
    assert made >= operations * len(ROLE_ACCOUNTS), "every operation was called with every role"


def test_every_api_operation_documents_its_refusals_with_the_error_body(world: World) -> None:
    document = world.app.openapi()
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    assert document["components"]["schemas"]["Error"]["required"] == ["error", "detail"]
    assert "HTTPValidationError" not in document["components"]["schemas"], "FastAPI's 422 body is nobody's"
    checked = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            refusals = {code: r for code, r in responses.items() if code[0] in "45"}
            assert all(r["content"] == error for r in refusals.values()), f"{method} {path}: {refusals}"
            if path.startswith("/api/"):
                assert {"401", "403", "404"} <= set(refusals), f"{method} {path}: {sorted(refusals)}"
                assert "WWW-Authenticate" in responses["401"]["headers"]
                if "requestBody" in operation:
                    assert {"413", "422"} <= set(refusals), f"{method} {path}: {sorted(refusals)}"
                checked += 1
    assert checked >= 60
