"""Hearing at once what other gateways changed in a shared PostgreSQL store (LISTEN/NOTIFY).

Every write of a hazard, complaint or fire announces itself (``Database.announce_change``: a ``NOTIFY`` on
``CHANGES_CHANNEL`` with the writer's ``Database.origin``, delivered at commit). ``ChangeListener`` holds one
connection that ``LISTEN``\\s on the channel, in a thread of its own so that a slow or cut network never
stalls the event loop, and sets ``changed`` (an ``asyncio.Event``) whenever another origin announced a change;
``StoreSync.follow`` (gateway/casework/sync.py) then reads the changes. It also sets ``changed`` each time it
(re)connects, because what was announced while it was not listening is lost: the reader catches up then.

The connection has TCP keepalives and a user timeout, so a network cut is noticed within seconds and the
thread reconnects with a capped back-off; the periodic poll (``[rules] store_sync_s``) stays as the fallback.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from gateway.store.database import CHANGES_CHANNEL

log = logging.getLogger(__name__)


def libpq_dsn(sqlalchemy_url: str) -> str:
    """The libpq connection string of an SQLAlchemy URL (``postgresql+psycopg://u:p@h/db?sslmode=...``)."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


#: Keepalives and a TCP user timeout: a dead peer or a cut network ends the connection within seconds.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 1,
    "keepalives_count": 3,
    "tcp_user_timeout": 5000,
}


class ChangeListener:
    """LISTEN for other gateways' change announcements on a PostgreSQL store; see the module docstring."""

    def __init__(
        self, store_url: str, origin: str, *, poll_s: float = 1.0, backoff_max_s: float = 10.0
    ) -> None:
        self.dsn = libpq_dsn(store_url)
        self.origin = origin
        self.poll_s = poll_s
        self.backoff_max_s = backoff_max_s
        #: Set (on the event loop) when another gateway announced a change, or the listener (re)connected.
        self.changed = asyncio.Event()
        #: Announcements from other gateways heard so far.
        self.heard = 0
        self.listening = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self) -> None:
        """Listen until cancelled (a supervised gateway task)."""
        self._loop = asyncio.get_running_loop()
        closing = threading.Event()
        threading.Thread(target=self._listen, args=(closing,), name="store-listen", daemon=True).start()
        try:
            await asyncio.Event().wait()
        finally:
            closing.set()  # the thread ends within ``poll_s``
            self.listening = False

    def _signal(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.changed.set)

    def _listen(self, closing: threading.Event) -> None:
        delay = 0.5
        failing = False
        while not closing.is_set():
            try:
                conninfo = make_conninfo(self.dsn, connect_timeout=5, **KEEPALIVES)
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANGES_CHANNEL}")
                    self.listening = True
                    if failing:
                        log.info("listening to other gateways' changes in the hazard store again")
                    failing, delay = False, 0.5
                    self._signal()  # catch up with what was announced while nobody listened
                    while not closing.is_set():
                        for notify in conn.notifies(timeout=self.poll_s):
                            if notify.payload != self.origin:
                                self.heard += 1
                                self._signal()
            except psycopg.Error as exc:
                self.listening = False
                if not failing:
                    failing = True
                    log.warning(
                        "cannot listen to other gateways' changes in the hazard store (%s); their changes "
                        "reach this gateway at the periodic store sync until it works again",
                        str(exc).strip() or type(exc).__name__,
                    )
                closing.wait(delay)
                delay = min(delay * 2, self.backoff_max_s)
        self.listening = False
