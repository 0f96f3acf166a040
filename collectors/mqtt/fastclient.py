"""aiomqtt with batched delivery: the same client, without a loop turn per message.

Measured on the 2-core test machine (bench/mqtt_client_ceiling.py), stock aiomqtt's ``messages`` iterator
drains about 60 % of what a bare paho-mqtt subscriber does, because every message costs a task, an
``asyncio.wait`` and three event-loop turns, and paho reads every packet with three ``recv`` syscalls. Two
changes, both inside this module, lift the gateway above bare paho:

1. ``queue_type`` (a public aiomqtt parameter) is an inbox that collects messages into a list and wakes one
   consumer per batch instead of once per message.
2. The socket paho reads from is wrapped in ``BufferedSocket``: one large ``recv`` serves paho's many small
   reads, and its ``pending()`` makes aiomqtt's reader callback keep calling ``loop_read()`` (the same hook
   aiomqtt uses for SSL sockets) until the chunk is consumed.

The two overrides below touch aiomqtt 2.5 internals (``_on_socket_open``, ``_on_disconnect``); the version
is pinned to 2.5.x in pyproject.toml and tests/test_mqtt_transport.py exercises both paths against a real
Mosquitto, including a broker restart.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiomqtt
import paho.mqtt.client as paho


class BufferedSocket:
    """Serves paho's tiny ``recv`` calls from one large ``recv``; everything else goes to the real socket."""

    __slots__ = ("_buf", "_pos", "_sock")

    CHUNK = 256 * 1024

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            buf = bytes(self._sock.recv(max(bufsize, self.CHUNK)))
            pos = 0
            self._buf = buf
            if not buf:
                self._pos = 0
                return buf
        end = pos + bufsize
        self._pos = end if end < len(buf) else len(buf)
        return buf[pos:end]

    def pending(self) -> int:
        pending = len(self._buf) - self._pos
        inner = getattr(self._sock, "pending", None)  # an SSL socket may hold decrypted bytes too
        return pending + (inner() if inner is not None else 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BatchInbox(asyncio.Queue[aiomqtt.Message]):
    """An ``asyncio.Queue`` look-alike that the consumer drains a whole batch at a time.

    aiomqtt only ever calls ``put_nowait`` on it; ``take`` returns everything received so far, waiting for
    at least one message or for the connection to drop (then it raises the disconnect error).
    """

    def __init__(self, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self._items: list[aiomqtt.Message] = []
        self._ready = asyncio.Event()
        self._error: BaseException | None = None

    def put_nowait(self, item: aiomqtt.Message) -> None:
        self._items.append(item)
        if len(self._items) == 1:
            self._ready.set()

    def qsize(self) -> int:
        return len(self._items)

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._ready.set()

    async def take(self) -> list[aiomqtt.Message]:
        while not self._items:
            if self._error is not None:
                raise self._error
            self._ready.clear()
            await self._ready.wait()
        items, self._items = self._items, []
        return items


class FastClient(aiomqtt.Client):
    """aiomqtt.Client delivering messages through a ``BatchInbox`` (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, queue_type=BatchInbox, **kwargs)
        inbox = self._queue
        assert isinstance(inbox, BatchInbox)
        self.inbox: BatchInbox = inbox

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if isinstance(sock, socket.socket):  # plain TCP; an SSL socket is already buffered by OpenSSL
            sock = BufferedSocket(sock)
            client._sock = sock
        super()._on_socket_open(client, userdata, sock)
        # paho writes a byte to this socket pair on every queued packet (PUBACKs included) only to wake its
        # own network thread, which aiomqtt does not use: one wasted syscall per message.
        client._sockpairW = None

    def _on_disconnect(self, *args: Any, **kwargs: Any) -> None:
        super()._on_disconnect(*args, **kwargs)
        self.inbox.fail(aiomqtt.MqttError("disconnected from the broker"))
