"""Channels: Apprise URLs, delivered to one at a time with the reason a delivery failed, and scrubbed of
their secrets before they are stored or shown.

Apprise reports a failed delivery only as ``False`` and says why in its log (``Failed to send JSON
notification to 127.0.0.1: Internal Server Error error=500``): ``deliver`` keeps the warnings the calling
thread's delivery logs, so that each recorded failure says why. Each delivery calls the service's plugin
directly, in the calling thread (``Apprise.notify`` would hand it to a thread pool of its own, where the log
lines could no longer be told apart), with a plugin of its own: nothing is shared between the notifier's
threads.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import urlsplit, urlunsplit

import apprise

_local = threading.local()


class _ThreadCapture(logging.Handler):
    """Collects Apprise's warnings and errors for the thread that asked (``_local.lines``)."""

    def emit(self, record: logging.LogRecord) -> None:
        lines: list[str] | None = getattr(_local, "lines", None)
        if lines is not None and record.levelno >= logging.WARNING:
            lines.append(record.getMessage())


_capture = _ThreadCapture(logging.WARNING)
logging.getLogger("apprise").addHandler(_capture)


def check(url: str) -> bool:
    """Whether Apprise knows the URL's service and can parse it."""
    return apprise.Apprise.instantiate(url) is not None


def scheme(url: str) -> str:
    """The service an address is for (``wecombot``, ``dingtalk``, ``json``...), as ``[notify]
    rate_per_minute`` names it."""
    return url.split("://", 1)[0].lower() if "://" in url else ""


def scrub(url: str) -> str:
    """The URL without its secrets: Apprise's own privacy form (passwords as ``****``, tokens shortened to
    their first and last character); for a URL Apprise cannot read, the scheme and host only."""
    plugin = apprise.Apprise.instantiate(url)
    if plugin is not None:
        # Apprise adds its default options to the query; keep what identifies the channel.
        shown: str = plugin.url(privacy=True)  # type: ignore[no-untyped-call]
        return re.sub(r"[?&](overflow|retry|wait|optional|method|format|cto|rto)=[^&]*", "", shown).rstrip(
            "?"
        )
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, "/...", "", "")) if parts.scheme else "(unreadable address)"


def deliver(url: str, title: str, body: str) -> tuple[bool, str]:
    """Send one message to one channel: whether it was accepted, and if not, why (Apprise's words)."""
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return False, "not an address Apprise can use"
    _local.lines = []
    try:
        ok = bool(plugin.notify(body=body, title=title))
    except Exception as exc:  # a plugin bug must not end the worker
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        lines: list[str] = _local.lines
        _local.lines = None
    if ok:
        return True, ""
    return False, "; ".join(dict.fromkeys(lines)) or "delivery refused (no reason given)"
