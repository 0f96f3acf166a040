"""``/metrics``: the gateway's counters in the Prometheus text format, for scrapers and alerting.

Read from memory on every scrape (``Gateway.health``), so it answers while InfluxDB or the hazard store is
down, which is when it is needed. Outside ``/api/`` and without credentials, as Prometheus expects: it
holds gateway-wide counters only, no estate, device or person. Names are ``firegw_<counter>``: the
``gateway_stats`` fields (docs/schema.md), counters with ``_total``, the rest gauges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.api.deps import ApiServices
from gateway.health import IngestHealth

router = APIRouter(tags=["meta"])

#: ``gateway_stats`` fields that only grow (exposed as Prometheus counters), with what they count.
COUNTERS = {
    "records_in": "records accepted from every transport",
    "readings": "readings accepted",
    "events": "device events accepted",
    "priority_events": "alarms, faults and other priority events accepted",
    "rejects": "inputs rejected (each kept as a dead letter unless the cap evicted it)",
    "seq_gaps": "gaps in devices' message counters (messages lost before the gateway)",
    "seq_missing": "messages missing in those gaps",
    "clock_corrected": "records stored at the receive time because the device clock was wrong",
    "task_restarts": "crashed tasks restarted by the supervisor",
    "mqtt_messages": "MQTT messages read",
    "mqtt_batches": "MQTT delivery batches handed to the pipeline",
    "dead_letters_stored": "dead letters written",
    "dead_letters_evicted": "dead letters evicted by the table's cap",
    "sink_points_written": "points InfluxDB accepted",
    "sink_write_errors": "failed writes to InfluxDB (retried or dead-lettered)",
    "sink_dropped_points": "points dropped by the durable buffer's retention cap",
    "notify_queued": "messages to people queued (alarms, escalations, hazards; one per channel)",
    "notify_sent": "messages delivered",
    "notify_failed": "messages given up after their last try",
    "notify_retries": "failed deliveries tried again",
    "notify_dropped": "hazard messages dropped because the queue was full (never an alarm)",
    "notify_escalations": "alarms escalated because nobody acknowledged them in time",
    "notify_record_errors": "messages whose outcome could not be written to the store",
    "notify_resumed": "messages taken up again at start or takeover (queued before a stop or crash)",
    "notify_late": "duty messages sent late for alarms raised before a start or takeover",
    "notify_abandoned": "messages recorded abandoned (no longer relevant, or too old to send late)",
    "notify_rate_limited": "deliveries held back by a channel's rate limit",
    "notify_rate_limited_alarms": "alarm deliveries held back by a channel's rate limit",
    "notify_combined": "waiting alarm messages sent together as one (a rate-limited channel)",
}
#: Gauges worth a sentence; any other numeric field is exported as a gauge named after it.
GAUGES = {
    "mqtt_connected": "1 while the MQTT session is up",
    "mqtt_unacknowledged": "MQTT messages read and not yet acknowledged (waiting to be durable)",
    "sink_buffered_points": "points not yet in InfluxDB (durable buffer and memory)",
    "sink_buffer_disk_bytes": "bytes the durable buffer uses on disk",
    "notify_waiting": "messages waiting for delivery (rate limits, retries)",
    "notify_waiting_alarms": "alarm messages waiting for delivery",
}


class _HealthCollector(Collector):
    def __init__(self, health: Callable[[], IngestHealth]) -> None:
        self._health = health

    def collect(self) -> Iterator[Metric]:
        health = self._health()
        for name, value in sorted(health.counters.items()):
            if name.startswith("reject_"):
                continue  # by reason, below
            if name in COUNTERS:
                yield CounterMetricFamily(f"firegw_{name}", COUNTERS[name], value=value)
            else:
                yield GaugeMetricFamily(
                    f"firegw_{name}", GAUGES.get(name, name.replace("_", " ")), value=value
                )
        by_reason = CounterMetricFamily(
            "firegw_rejects_by_reason", "inputs rejected, by reason", labels=["reason"]
        )
        for name, value in sorted(health.counters.items()):
            if name.startswith("reject_"):
                by_reason.add_metric([name.removeprefix("reject_")], value)
        yield by_reason
        telemetry_up = GaugeMetricFamily("firegw_telemetry_store_up", "1 while InfluxDB takes writes")
        telemetry_up.add_metric([], 0.0 if health.telemetry_failing_for_s is not None else 1.0)
        yield telemetry_up
        if health.store_errors is not None:
            yield CounterMetricFamily(
                "firegw_hazard_store_errors", "failed hazard store calls", value=health.store_errors
            )
            yield GaugeMetricFamily(
                "firegw_hazard_store_backlog",
                "hazard store writes waiting to be redone after a store failure",
                value=health.store_backlog or 0,
            )


_TEXT = {
    "schema": {"type": "string"},
    "example": "# TYPE firegw_records_in_total counter\nfiregw_records_in_total 42.0\n",
}


@router.get(
    "/metrics",
    summary="Counters in the Prometheus text format (no credentials)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: _TEXT}, "description": "the Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    services: ApiServices = request.app.state.services
    registry = CollectorRegistry(auto_describe=False)
    if services.health is not None:
        registry.register(_HealthCollector(services.health))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
