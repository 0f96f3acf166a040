"""The gateway runtime: config, device registry, pipeline, sinks, stores, API, CLI."""
