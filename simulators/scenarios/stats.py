"""The counters of a scenario run, and the one-line summary a live display shows.

``ScenarioRunner`` fills them in; ``progress`` hooks, ``firegw simulate`` and ``firegw demo`` read them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class ScenarioStats:
    """Live and final counters of a run; ``progress`` hooks receive this object."""

    scenario: str = ""
    devices: int = 0
    messages: int = 0
    bytes: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    by_format: Counter[str] = field(default_factory=Counter)
    by_topic: Counter[str] = field(default_factory=Counter, repr=False)
    publish_errors: int = 0
    incidents_total: int = 0
    incidents_applied: int = 0
    incidents_failed: int = 0
    followups_applied: int = 0
    modbus_updates: int = 0
    modbus_unattached: int = 0
    #: (simulated seconds since start, device id, action, note or "failed: why")
    incident_log: list[tuple[float, str, str, str]] = field(default_factory=list, repr=False)
    sim_start: datetime | None = None
    sim_now: datetime | None = None
    sim_elapsed_s: float = 0.0
    wall_s: float = 0.0
    max_lag_s: float = 0.0
    finished: bool = False

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        """One line for a live display."""
        kinds = " ".join(f"{k}={v}" for k, v in sorted(self.by_kind.items()))
        when = self.sim_now.isoformat(timespec="seconds") if self.sim_now else "-"
        return (
            f"[{self.scenario}] sim {when} (+{self.sim_elapsed_s / 60:.1f} min) wall {self.wall_s:.1f}s | "
            f"{self.messages} msgs ({kinds}) modbus updates {self.modbus_updates} | "
            f"incidents {self.incidents_applied}/{self.incidents_total} failed {self.incidents_failed} | "
            f"publish errors {self.publish_errors}"
        )
