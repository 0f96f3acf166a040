FROM python:3.11-slim
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
