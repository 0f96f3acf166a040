"""Grafana dashboards as code (``boards/``, one module per board), generated to ``json/`` and provisioned
from ``provisioning/``; ``firegw dashboards generate|check|push`` (``cli.py``). See docs/dashboards.md."""
