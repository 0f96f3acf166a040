"""Waiting in a test for something that happens in another task or process, with a bound and a reason."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def wait_until(
    predicate: Callable[[], object], timeout_s: float = 5.0, what: str = "condition", *, every_s: float = 0.05
) -> None:
    """Poll ``predicate`` every ``every_s`` until it is true; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(every_s)
