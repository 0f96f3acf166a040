"""Grafana dashboards as code (``boards.py``), generated to ``json/`` and provisioned from ``provisioning/``;
``firegw dashboards generate|check|push`` (``cli.py``). See docs/dashboards.md."""
