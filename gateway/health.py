"""What an operator (or Prometheus) asks of a running gateway: is it taking messages in, and is anything
waiting, lost or refused? One snapshot, read from the parts' own counters, so that ``/api/health`` and
``/metrics`` answer while InfluxDB or the hazard store is down (they read memory, not the stores).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class IngestHealth:
    #: The MQTT session is up, and how many messages read on it wait for their acknowledgement.
    broker_connected: bool
    mqtt_unacknowledged: int
    records_in: int
    rejects: int
    #: Rejected inputs kept with their bytes (``firegw deadletters``), and those evicted by the cap.
    dead_letters_stored: int
    dead_letters_evicted: int
    seq_gaps: int
    seq_missing: int
    #: Points not yet in InfluxDB (on disk or in memory), and for how long InfluxDB has been failing.
    backlog_points: int
    telemetry_failing_for_s: float | None
    telemetry_last_error: str | None
    #: Hazard store calls that failed (the rule layer redoes them), None without the rule layer.
    store_errors: int | None
    store_backlog: int | None
    #: Every counter of ``Gateway.stats_fields`` (what ``gateway_stats`` holds), for ``/metrics``.
    counters: dict[str, float] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``ok``, or ``degraded`` while something waits that should not (the broker gone, InfluxDB failing,
        the hazard store's backlog not empty)."""
        if not self.broker_connected or self.telemetry_failing_for_s is not None or self.store_backlog:
            return "degraded"
        return "ok"
