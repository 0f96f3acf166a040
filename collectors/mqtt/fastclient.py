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

A third change bounds memory: reading pauses while the inbox holds more than a high watermark (paho
acknowledges QoS 1 messages as it reads them, so an unbounded inbox would be the only buffer).

The overrides below touch aiomqtt 2.5 internals (``_on_socket_open`` and its reader callback,
``_on_socket_close``, ``_on_disconnect``); the version
is pinned to 2.5.x in pyproject.toml and tests/test_mqtt_transport.py exercises both paths against a real
Mosquitto, including a broker restart.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
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
    at least one message or for the connection to drop (then it raises the disconnect error, but only once
    nothing is left: messages paho has already acknowledged to the broker are never thrown away).
    """

    def __init__(self, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self._items: list[aiomqtt.Message] = []
        self._ready = asyncio.Event()
        self._error: BaseException | None = None
        #: Called after every ``take``: lets the client resume reading once the backlog is small again.
        self.on_taken: Callable[[], None] | None = None

    def put_nowait(self, item: aiomqtt.Message) -> None:
        self._items.append(item)
        if len(self._items) == 1:
            self._ready.set()

    def qsize(self) -> int:
        return len(self._items)

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._ready.set()

    async def take(self, limit: int | None = None) -> list[aiomqtt.Message]:
        """Everything received so far, or the oldest ``limit`` messages: a bounded batch keeps one hand-over
        from holding the event loop for seconds when the gateway is behind, so an alarm in the next batch
        does not wait for thousands of heartbeats to be decoded first."""
        while not self._items:
            if self._error is not None:
                raise self._error
            self._ready.clear()
            await self._ready.wait()
        if limit is not None and len(self._items) > limit:
            items = self._items[:limit]
            del self._items[:limit]
        else:
            items = self.take_nowait()
        if self.on_taken is not None:
            self.on_taken()
        return items

    def take_nowait(self) -> list[aiomqtt.Message]:
        items, self._items = self._items, []
        return items


class FastClient(aiomqtt.Client):
    """aiomqtt.Client delivering messages through a ``BatchInbox`` (see the module docstring).

    Reading pauses while more than ``high_watermark`` messages wait in the inbox and resumes below
    ``low_watermark``. Paho acknowledges QoS 1 messages as it reads them, so without this a consumer slower
    than the socket would let the inbox grow without bound; paused, the broker's in-flight window fills and
    the broker holds the rest (Mosquitto: ``max_queued_messages``).
    """

    def __init__(
        self, *args: Any, high_watermark: int = 20_000, low_watermark: int = 5_000, **kwargs: Any
    ) -> None:
        super().__init__(*args, queue_type=BatchInbox, **kwargs)
        inbox = self._queue
        assert isinstance(inbox, BatchInbox)
        self.inbox: BatchInbox = inbox
        inbox.on_taken = self._maybe_resume
        self.high_watermark = high_watermark
        self.low_watermark = low_watermark
        self.paused = False
        self.pauses = 0
        self._reader_fd: int | None = None

    def _read_ready(self) -> None:
        """aiomqtt's reader callback, plus the pause check (aiomqtt 2.5 ``_on_socket_open.callback``)."""
        client = self._client
        try:
            while True:
                client.loop_read()
                if self.inbox.qsize() >= self.high_watermark:
                    self._pause()
                    return
                pending = getattr(client._sock, "pending", None)
                if pending is not None and pending() > 0:
                    continue
                return
        except Exception as exc:  # the connection broke: let aiomqtt report the disconnection
            if not self._disconnected.done():
                self._disconnected.set_exception(exc)

    def _pause(self) -> None:
        if self._reader_fd is not None and not self.paused:
            self._loop.remove_reader(self._reader_fd)
            self.paused = True
            self.pauses += 1

    def _maybe_resume(self) -> None:
        if self.paused and self.inbox.qsize() <= self.low_watermark:
            self.paused = False
            sock = self._client._sock
            if sock is None or self._reader_fd is None or sock.fileno() != self._reader_fd:
                return  # the socket closed meanwhile; a reconnect registers a new reader
            self._loop.add_reader(self._reader_fd, self._read_ready)
            # Bytes already pulled into BufferedSocket would not make the fd readable again.
            self._loop.call_soon(self._read_ready)

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if isinstance(sock, socket.socket):  # plain TCP; an SSL socket is already buffered by OpenSSL
            sock = BufferedSocket(sock)
            client._sock = sock
        # paho writes a byte to this socket pair on every queued packet (PUBACKs included) only to wake its
        # own network thread, which aiomqtt does not use: one wasted syscall per message.
        client._sockpairW = None
        fd = sock.fileno()

        def register() -> None:  # paho calls this from aiomqtt's connect executor thread
            self._reader_fd = fd
            self.paused = False
            self._loop.add_reader(fd, self._read_ready)
            self._misc_task = self._loop.create_task(self._misc_loop())

        self._loop.call_soon_threadsafe(register)

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if self.paused:  # the reader is already removed; aiomqtt's remove_reader is harmless either way
            self.paused = False
        self._reader_fd = None
        super()._on_socket_close(client, userdata, sock)

    def _on_disconnect(self, *args: Any, **kwargs: Any) -> None:
        super()._on_disconnect(*args, **kwargs)
        self.inbox.fail(aiomqtt.MqttError("disconnected from the broker"))
