"""The live terminal summary: what a person watching the demo or a fresh installation wants to see.

Devices heard from, messages per second, rejects by reason, the sink's backlog, and the latest alarms and
faults, refreshed once a second with rich. When stdout is not a terminal (CI, systemd) it prints one plain
summary line every ``plain_interval_s`` instead.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from datetime import timedelta

from rich.console import Console, Group
from rich.live import Live
from rich.logging import RichHandler
from rich.panel import Panel
from rich.table import Table

from gateway.app import Gateway
from gateway.ingest.sinks.buffered import BufferedSink
from gateway.models import utc_now

RECENT_WINDOW = timedelta(minutes=10)


def _heard(gateway: Gateway) -> tuple[int, int]:
    now = utc_now()
    states = gateway.pipeline.devices.values()
    recent = sum(1 for s in states if s.last_seen is not None and now - s.last_seen <= RECENT_WINDOW)
    return recent, len(gateway.pipeline.devices)


def summary_line(gateway: Gateway, extra: str = "") -> str:
    s = gateway.stats
    rate = s.records_rate.sample(s.records_in)
    heard, total = _heard(gateway)
    backlog = ""
    if isinstance(gateway.sink, BufferedSink):
        backlog = f" backlog={gateway.sink.counters().get('buffered_points', 0)}"
    rejects = ",".join(f"{k}={v}" for k, v in sorted(s.rejects.items())) or "0"
    return (
        f"up {s.uptime_s():.0f}s | devices heard {heard}/{total} | {rate:.0f} rec/s | records {s.records_in}"
        f" | alarms/faults {s.priority_events} | rejects {rejects} | seq gaps {s.seq_gaps}{backlog}{extra}"
    )


def render(gateway: Gateway, extra: Callable[[], str] | None = None) -> Group:
    s = gateway.stats
    rate = s.records_rate.sample(s.records_in)
    heard, total = _heard(gateway)
    head = Table.grid(padding=(0, 3))
    head.add_row(
        f"[b]uptime[/b] {s.uptime_s():.0f} s",
        f"[b]MQTT[/b] {'[green]connected' if gateway.mqtt.stats.connected else '[red]disconnected'}",
        f"[b]devices heard (10 min)[/b] {heard}/{total}",
        f"[b]records/s[/b] {rate:,.0f}",
    )
    head.add_row(
        f"[b]records[/b] {s.records_in:,}",
        f"[b]readings[/b] {s.readings:,}",
        f"[b]events[/b] {s.events:,}",
        f"[b]alarms/faults[/b] {s.priority_events:,}",
    )
    sink = gateway.sink
    if isinstance(sink, BufferedSink):
        c = sink.counters()
        head.add_row(
            f"[b]stored[/b] {c.get('points_written', 0):,}",
            f"[b]backlog[/b] {c.get('buffered_points', 0):,}",
            f"[b]write errors[/b] {c.get('write_errors', 0):,}",
            f"[b]dropped[/b] {c.get('dropped_points', 0):,}",
        )
    rejects = Table(title="rejected inputs (kept in dead letters)", expand=True)
    rejects.add_column("reason")
    rejects.add_column("count", justify="right")
    for reason, count in s.rejects.most_common():
        rejects.add_row(reason, f"{count:,}")
    if not s.rejects:
        rejects.add_row("[dim]none[/dim]", "0")
    events = Table(title="latest alarms and faults", expand=True)
    for col in ("received", "event", "device", "estate / location"):
        events.add_column(col)
    for item in reversed(gateway.live.recent[-8:]):
        dev = item.device
        estate = gateway.registry.estate(dev.estate_id)
        style = "bold red" if item.event.type.value == "alarm" else "yellow"
        events.add_row(
            item.received_at.astimezone().strftime("%H:%M:%S"),
            f"[{style}]{item.event.type.value}[/{style}]",
            dev.id,
            f"{estate.name} {dev.location}".strip(),
        )
    parts: list[Panel | Table] = [Panel(head, title=f"firegw {gateway.config.gateway.id}"), rejects, events]
    if extra is not None:
        parts.insert(1, Panel(extra(), title="simulator"))
    return Group(*parts)


async def live_summary(
    gateway: Gateway, extra: Callable[[], str] | None = None, *, plain_interval_s: float = 10.0
) -> None:
    """Show the summary until cancelled."""
    if not sys.stdout.isatty():
        while True:
            await asyncio.sleep(plain_interval_s)
            print(summary_line(gateway, f" | {extra()}" if extra else ""), flush=True)
    console = Console()
    # Log records go through the same console, printed above the live panel instead of tearing it.
    root = logging.getLogger()
    handler = RichHandler(console=console, show_path=False, log_time_format="%H:%M:%S")
    handler.setLevel(min((h.level for h in root.handlers), default=logging.WARNING))
    saved = root.handlers[:]
    root.handlers = [handler]
    try:
        await _live(console, gateway, extra)
    finally:
        root.handlers = saved


async def _live(console: Console, gateway: Gateway, extra: Callable[[], str] | None) -> None:
    with Live(render(gateway, extra), console=console, refresh_per_second=2, transient=False) as live:
        while True:
            await asyncio.sleep(1.0)
            live.update(render(gateway, extra))
