#!/bin/sh
# InfluxQL needs a database/retention-policy mapping to the bucket (InfluxDB 2.x v1 compatibility API).
set -e
BUCKET_ID=$(influx bucket list --name "${DOCKER_INFLUXDB_INIT_BUCKET}" --hide-headers | cut -f1)
influx v1 dbrp create --db firegw --rp autogen --bucket-id "${BUCKET_ID}" --default
