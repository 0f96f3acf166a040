FROM python:3.11-slim
# A CJK font for the placards and monthly reports (PDF/PNG).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-zenhei \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY collectors ./collectors
COPY rules ./rules
COPY dashboards ./dashboards
COPY simulators ./simulators
# EXTRAS="[postgresql]" adds the PostgreSQL driver: a hazard store shared by several gateways, and
# active/standby gateways (deploy/compose.ha.yml, docs/high-availability.md).
ARG EXTRAS=""
RUN pip install --no-cache-dir ".${EXTRAS}" && useradd --system --home /var/lib/firegw firegw \
    && mkdir -p /var/lib/firegw && chown firegw /var/lib/firegw
USER firegw
EXPOSE 8080
# docker stop sends this; the gateway stores and acknowledges what it read, flushes, and exits 0
# (gateway.stop_timeout_s bounds it; give the container more than that: docker-compose.yml stop_grace_period).
STOPSIGNAL SIGTERM
CMD ["firegw", "run", "--config", "/etc/firegw/gateway.toml", "--quiet"]
