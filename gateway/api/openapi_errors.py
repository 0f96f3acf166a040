"""The refusals in the OpenAPI document: every operation lists the error answers it can give, each with the
body every refusal has (``{"error": "<kind>", "detail": "<a sentence>"}``).

FastAPI documents only the 422 of a request it validates, and with its own body (a list of problems), while
``create_app`` answers every refusal with the one body above. ``document_errors`` adds to each operation
the answers that come from the app rather than from the route (so no route has to repeat them):

- under ``/api/``: 401 (no valid session or token; at the sign-in, a wrong password), 403 (the role lacks a
  permission, or a write signed in by the session cookie lacks its CSRF proof), 404 (outside the caller's
  scope or missing, or accounts or the rule layer disabled);
- with a request body: 413 (past ``[limits] body_bytes``) and 422;
- a write under ``/api/`` but the sign-in routes: 409 (the state does not allow it now);

and gives every 4xx/5xx answer the error body (a route's own description is kept). The 401 names its
``WWW-Authenticate`` header, a 429 its ``Retry-After``. ``tests/test_api_schema_fuzz.py`` holds every
answer of every operation, for every role, to this document.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

ERROR_BODY: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {
            "type": "string",
            "description": "the kind: unauthenticated, forbidden, not_found, transition_refused, invalid, "
            "too_large, too_many_attempts, daily_share, unavailable, ...",
        },
        "detail": {"type": "string", "description": "what is wrong, and what would be right"},
    },
}
_REF = {"$ref": "#/components/schemas/Error"}

#: The answers the app gives on its own (``_common_codes`` says which operations can get which).
_COMMON: dict[str, str] = {
    "401": "no valid session or API token (at the sign-in: wrong username or password)",
    "403": "the caller's role lacks a permission this needs, or a write signed in by the session cookie "
    "came without X-Requested-With",
    "404": "not found, or outside the caller's scope (the same answer); or accounts or the rule layer are "
    "disabled in this gateway",
    "409": "the current state does not allow this (a transition the state machine forbids)",
    "413": "the request body is larger than [limits] body_bytes (photos: [photos] max_bytes)",
    "422": "a parameter or a field that cannot be right; the detail names it and what is allowed",
}
_HEADERS: dict[str, dict[str, Any]] = {
    "401": {
        "WWW-Authenticate": {
            "required": True,
            "description": 'Bearer realm="firegw"',
            "schema": {"type": "string"},
        }
    },
    "429": {
        "Retry-After": {
            "required": False,
            "description": "seconds until it is allowed again (absent where waiting would not help)",
            "schema": {"type": "string"},
        }
    },
}
_WRITES = frozenset({"post", "put", "patch", "delete"})


def install_error_docs(app: FastAPI) -> None:
    """Have ``app.openapi()`` (``/openapi.json``, ``/docs``) document the refusals (built once, cached)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema


def _common_codes(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    if not path.startswith("/api/"):
        return []
    codes = ["401", "403", "404"]
    if "requestBody" in operation:
        codes += ["413", "422"]
    if method in _WRITES and not path.startswith("/api/auth/"):
        codes.append("409")
    return codes


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the common refusals added to each operation and the error body on every 4xx/5xx."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_BODY
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code in _common_codes(path, method, operation):
                responses.setdefault(code, {"description": _COMMON[code]})
            for code, response in responses.items():
                if code[0] not in "45":
                    continue
                if response.get("description") == "Validation Error":  # FastAPI's words for its own 422
                    response["description"] = _COMMON["422"]
                response["content"] = {"application/json": {"schema": _REF}}
                if code in _HEADERS:
                    response["headers"] = _HEADERS[code]
    # FastAPI's own validation body is the answer of no route now.
    if "#/components/schemas/HTTPValidationError" not in json.dumps(schema["paths"]):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
    return schema
