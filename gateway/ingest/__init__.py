"""Ingest: what happens to a message between the collectors and the stores.

- ``registry``: which estates, buildings and devices exist (resolves a wire identity to a device).
- ``pipeline``: validated records in, fanned out to device state, the live feed, the rule hook and the sink.
- ``deadletter``: every rejected input with its raw bytes and what to fix.
- ``stats``: counters for everything accepted, rejected, dropped or retried.
- ``schema``: how records become InfluxDB points; ``sinks/``: where points go (InfluxDB, SQLite, the
  durable buffer in front of them); ``telemetry_query``: reading them back for the UI's charts.
"""
