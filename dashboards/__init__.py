"""Grafana dashboards as code and their provisioning (dashboards come with the Grafana issue)."""
