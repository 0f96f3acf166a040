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
RUN pip install --no-cache-dir . && useradd --system --home /var/lib/firegw firegw \
    && mkdir -p /var/lib/firegw && chown firegw /var/lib/firegw
USER firegw
EXPOSE 8080
CMD ["firegw", "run", "--config", "/etc/firegw/gateway.toml", "--quiet"]
