"""Which writes are durable yet: the futures a transport waits on before it acknowledges (group commit).

``BufferedSink`` counts its ``write`` calls; ``future()`` is done once every write made before it is on
disk (``durable(n)`` after an append covered the first n). While anyone waits (``waiting``), the sink's
spool appends at once instead of gathering for ``flush_interval_s``.
"""

from __future__ import annotations

import asyncio
from collections import deque


class CommitTracker:
    def __init__(self) -> None:
        #: ``write`` calls with points so far, and how many of them are on disk.
        self.written = 0
        self.durable_upto = 0
        #: Futures with the ``written`` count each waits for, oldest first.
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def waiting(self) -> bool:
        return bool(self._waiters)

    def wrote(self) -> None:
        self.written += 1

    def future(self) -> asyncio.Future[None]:
        """Done once every write so far is durable (at once if it already is)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.written <= self.durable_upto:
            future.set_result(None)
        else:
            self._waiters.append((self.written, future))
        return future

    def durable(self, written: int) -> None:
        """The first ``written`` writes are on disk: wake whoever waits for them."""
        if written <= self.durable_upto:
            return
        self.durable_upto = written
        waiters = self._waiters
        while waiters and waiters[0][0] <= written:
            future = waiters.popleft()[1]
            if not future.done():
                future.set_result(None)
