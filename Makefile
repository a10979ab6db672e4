# unitcost: every target creates and uses .venv itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dashboards demo test lint typecheck pytest unit bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

## demo: the exporter on the simulated cluster, with a live showback table
demo: $(STAMP)
	$(BIN)/unitcost demo $(ARGS)

## test: fetch the pinned tools the tests run (tests/tools/), lint, type-check, every test
test: provision lint pytest

## provision: Prometheus 3.5 and 2.53, Alertmanager, VictoriaMetrics, the FOCUS validators (a
## Python 3.12 venv) into .cache/tools (pins:
## tests/tools/pins.txt), Chromium (apt-get as root); a second run does nothing
.PHONY: provision
provision:
	bash tests/tools/provision.sh

## pytest: every test, both lanes (no lint)
pytest: provision $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

## unit: the fast lane, pure and in-process tests only (e2e ones are sorted out in tests/conftest.py)
unit: provision $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not e2e" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check exporters tests benchmarks dashboards helm
	$(BIN)/ruff format --check exporters tests benchmarks dashboards helm
	$(BIN)/mypy

## docs: regenerate docs/metrics.md from the metric catalogue (exporters/unitcost/metrics/catalogue.py)
.PHONY: docs
docs: $(STAMP)
	$(BIN)/python -m unitcost.metrics.reference docs/metrics.md

## dashboards: regenerate helm/unitcost/files/dashboards from dashboards/*.dashboard.py (commit the JSON)
dashboards: $(STAMP)
	$(BIN)/python dashboards/generate.py

## bench: speed and memory figures against a baseline in the same run
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(ARGS)

## bench-prometheus: what unitcost costs Prometheus 3.5 (series, memory, rule time) at 150k pods,
## detail workload beside detail pod (ARGS='--pods 10000' for a quick run)
.PHONY: bench-prometheus
bench-prometheus: provision $(STAMP)
	$(BIN)/python benchmarks/prometheus.py $(ARGS)

## bench-chargeback: a month of 5k/10k/20k churning workloads backfilled into Prometheus 3.5;
## `unitcost chargeback --format focus-parquet` beside one query_range per series (ARGS="--workloads 2000")
.PHONY: bench-chargeback
bench-chargeback: $(STAMP)
	$(BIN)/python benchmarks/chargeback.py $(ARGS)

## fleet: three simulated clusters, Prometheus 3.5 agents remote-writing into a Prometheus 3.5
## receiver and VictoriaMetrics + vmalert (docs/fleet.md); Ctrl-C stops it
.PHONY: fleet bench-fleet
fleet: provision $(STAMP)
	$(BIN)/python benchmarks/fleet.py demo

## bench-fleet: 10 clusters x 5,000 pods into both global tiers: series, memory, rule time
bench-fleet: provision $(STAMP)
	$(BIN)/python benchmarks/fleet.py bench $(ARGS)

## lakehouse-demo: the chargeback tests' recorded cost history (a real Prometheus 3.5) written by
## `unitcost chargeback --format iceberg` into .cache/lakehouse-demo, read back with Ray Data
.PHONY: lakehouse-demo bench-lakehouse
lakehouse-demo: provision $(STAMP)
	$(BIN)/python benchmarks/lakehouse.py demo $(ARGS)

## bench-lakehouse: a month of FOCUS rows (20,000 workloads x 31 days) into Iceberg vs Parquet
bench-lakehouse: $(STAMP)
	$(BIN)/python benchmarks/lakehouse.py bench $(ARGS)

## chart: copy recording rules and alerts into the Helm chart (helm/sync.py; dashboards: make dashboards)
## soak: churn soak (10 min at 1,000 pod events/s; ARGS='--minutes 1' for a short run)
.PHONY: soak
soak: $(STAMP)
	$(BIN)/python benchmarks/soak.py $(ARGS)

.PHONY: chart
chart: $(STAMP)
	$(BIN)/python helm/sync.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
