"""Telemetry sinks: where points go (InfluxDB v1/v2, SQLite) and the durable buffer in front of them."""
