"""Browser hardening, server side: the headers on every response, and the proof a cookie-signed write needs.

Every response (the UI page, ``/static/*``, the API, the public placard page) carries:

- ``Content-Security-Policy``: scripts only from this origin's files (no inline script, no ``eval``, no
  ``on...=`` attributes), requests only to this origin, nothing may frame the page. ``style-src`` allows
  ``'unsafe-inline'`` because the UI draws a few elements with a ``style`` attribute (bar widths, photo
  sizes) and the placard page has its own ``<style>``: styles cannot run code, scripts are what matters.
  ``/docs`` and ``/redoc`` (FastAPI's API pages) load their scripts from a CDN with an inline start-up
  script, so they get a policy that allows exactly that, and nothing more: they hold no data of their own.
  A deployment with an AMap key (``[ui] amap_key``) lets its pages load AMap's scripts, styles, tiles and
  requests from AMap's hosts too, and workers from ``blob:`` (AMap draws in them); nothing else changes.
- ``X-Frame-Options: DENY`` (for browsers without ``frame-ancestors``), ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: same-origin``, ``Cross-Origin-Opener-Policy: same-origin``, and a
  ``Permissions-Policy`` that turns off what the control room never uses.

A header the route set itself is kept (the placard page sends ``Referrer-Policy: no-referrer``).

CSRF: the session cookie is ``SameSite=Strict`` and, besides, a write (any method but GET/HEAD/OPTIONS)
signed in by the cookie must prove it comes from the control room's own pages: the browser's
``Sec-Fetch-Site: same-origin`` (which no page can forge) or an ``X-Requested-With`` header (which another
site cannot send without a CORS pre-flight, and this API answers none). A browser that says the request
comes from another site (``Sec-Fetch-Site: cross-site`` or ``same-site``) is refused for a cookie-signed
write, a sign-in and, on a gateway without accounts, any write. Requests with ``Authorization: Bearer``
carry no ambient credential and are not affected.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth.principal import Forbidden, Principal

#: The header the UI's ``api()`` sends with every request (gateway/web/static/core.js).
CSRF_HEADER = "X-Requested-With"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: FastAPI's own API pages: their scripts come from the jsDelivr CDN with an inline start-up script.
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})


def _page_policy(hosts: str = "") -> str:
    """The pages' Content-Security-Policy: this origin only, or this origin and ``hosts`` for scripts, styles,
    images and requests, with workers from ``blob:`` (AMap draws in workers made that way)."""
    more = f" {hosts}" if hosts else ""
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self'{more}",
            f"style-src 'self' 'unsafe-inline'{more}",
            f"img-src 'self' data: blob:{more}",
            "font-src 'self'",
            f"connect-src 'self'{more}",
            *(["worker-src blob:"] if hosts else []),
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


_CSP = _page_policy()
#: AMap's hosts (高德: its loader, API, styles, tiles and their workers), allowed only where ``[ui] amap_key``
#: is set (docs/control-room-ui.md, "The online base map").
_AMAP_CSP = _page_policy("https://*.amap.com https://*.autonavi.com")
_CDN = "https://cdn.jsdelivr.net"
_DOCS_CSP = (
    f"default-src 'self'; script-src 'self' 'unsafe-inline' {_CDN}; "
    f"style-src 'self' 'unsafe-inline' {_CDN} https://fonts.googleapis.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; worker-src blob:; "
    "font-src 'self' https://fonts.gstatic.com; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
HEADERS: dict[str, str] = {
    "Content-Security-Policy": _CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=(), usb=()",
}


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP response (streams included; nothing is buffered)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope.get("path", "") in DOCS_PATHS
        amap = _draws_on_amap(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if docs:
                    headers["Content-Security-Policy"] = _DOCS_CSP
                elif amap and headers["Content-Security-Policy"] == _CSP:
                    headers["Content-Security-Policy"] = _AMAP_CSP
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _draws_on_amap(scope: Scope) -> bool:
    """Whether this gateway's map draws on AMap (``[ui] amap_key``; gateway/app.py puts ``[ui]`` on the app's
    state, and an app without it draws the outline only)."""
    ui = getattr(getattr(scope.get("app"), "state", None), "ui", None)
    return bool(getattr(ui, "amap_key", ""))


def check_origin(request: Request, principal: Principal | None) -> None:
    """``Forbidden`` for a write a browser may have been made to send by another site: see the module.
    ``principal`` is None for the sign-in (which has no caller yet)."""
    if request.method in SAFE_METHODS or (principal is not None and principal.via == "token"):
        return
    site = request.headers.get("sec-fetch-site", "")
    if site in ("cross-site", "same-site"):
        raise Forbidden(
            f"a {request.method} from a page of another site is refused (Sec-Fetch-Site: {site}); "
            "use the control room's own pages, or a script with 'Authorization: Bearer <token>'"
        )
    if principal is None or principal.via != "session" or site == "same-origin":
        return
    if not request.headers.get(CSRF_HEADER):
        raise Forbidden(
            f"a {request.method} signed in by the session cookie needs the header '{CSRF_HEADER}' (the "
            "control room's pages send it); scripts sign in with 'Authorization: Bearer <token>' instead"
        )
