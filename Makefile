# The two commands a newcomer needs:  make demo   and   make test
# Everything they need is installed by the recipes below (Python venv; Debian packages for the tests).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench bench-cpu bench-rules bench-failover bench-notify screenshots services clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)  ## run the embedded default: in-process broker, simulators, SQLite, live summary
	$(BIN)/firegw demo $(ARGS)

services:  ## install Mosquitto and InfluxDB from Debian packages if missing (tests start private instances)
	@bash scripts/ensure-services.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) services
	$(BIN)/pytest -q $(ARGS)

test: lint typecheck pytest  ## the whole suite: lint, types, tests against real Mosquitto and InfluxDB

bench: $(STAMP) services  ## ingest benchmark: bare paho vs the gateway, real Mosquitto + InfluxDB
	$(BIN)/python bench/ingest_bench.py $(ARGS)

bench-cpu: $(STAMP)  ## ingest CPU per message by stage, in-process (ARGS="--compare HEAD~1" for a before/after)
	$(BIN)/python bench/ingest_cpu_bench.py $(ARGS)

bench-rules: $(STAMP) services  ## rule-layer benchmark: alarm and grade latency under load, re-grading a city
	$(BIN)/python bench/rules_bench.py $(ARGS)

bench-failover: $(STAMP) services  ## active/standby: takeover time and loss over repeated kill -9, ingest HA off vs on
	$(BIN)/python bench/failover_bench.py $(ARGS)

bench-notify: $(STAMP) services  ## alarm -> webhook delivery time under 5,000 msg/s of telemetry (issue 16)
	$(BIN)/python bench/notify_bench.py $(ARGS)

screenshots: $(STAMP) services  ## the README's screenshots (docs/screenshots/*.png): the control room in a telling state
	$(BIN)/python scripts/screenshots.py $(ARGS)

clean:
	rm -rf $(VENV) var build *.egg-info .mypy_cache .ruff_cache .pytest_cache
