"""Capped exponential back-off with full jitter, for every reconnect loop.

Jitter matters here: after a broker or Modbus gateway restart, hundreds of gateways (or one gateway's many
connections) would otherwise reconnect in lock-step and knock the peer over again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    attempts: int = 0
    _rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        """The delay before the next attempt: uniform in [initial/2, min(max, initial * factor**n)]."""
        ceiling = min(self.max_s, self.initial_s * self.factor**self.attempts)
        self.attempts += 1
        return self._rng.uniform(min(self.initial_s / 2, ceiling), ceiling)

    def reset(self) -> None:
        self.attempts = 0
