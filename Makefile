# Evergreen: every target installs what it needs, and is safe to run again.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
ENV := source scripts/env.sh &&

help:  ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' Makefile | sed 's/:.*## /\t/'

setup: $(STAMP) kafka-jars spark-jars s3-jar airflow-db db-upgrade  ## venv, requirements, Kafka/Delta/S3Proxy jars, Airflow DB, evergreen DB (idempotent)

# Runtime pins (requirements.txt) and tools (requirements-dev.txt), every version held to the generated lock;
# then the package itself with --no-deps: its ranges (pyproject.toml) are met by the pins, and pip check proves it.
$(STAMP): requirements.txt requirements-lock.txt requirements-dev.txt pyproject.toml scripts/system-deps.sh
	bash scripts/system-deps.sh
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip==24.3.1
	$(VENV)/bin/pip install -q -r requirements.txt -r requirements-dev.txt -c requirements-lock.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	$(VENV)/bin/pip check
	touch $@

# Not a stamp file: the script checks the jars themselves (.cache/kafka/libs/.complete against the pom), so a
# removed cache is fetched again and a present one costs nothing.
kafka-jars:  ## Apache Kafka's jars from Maven Central into .cache/kafka (idempotent)
	bash scripts/kafka.sh install

spark-jars: $(STAMP)  ## Delta Lake's jars for pyspark's Spark from Maven Central into .cache/spark-jars (idempotent)
	bash scripts/spark-jars.sh install delta

s3-jar:  ## S3Proxy (the local S3 server) from Maven Central into .cache/s3proxy (idempotent)
	bash scripts/s3.sh install

# Always run: it is idempotent and takes ~2 s, and AIRFLOW_HOME may point anywhere (no stamp can know).
airflow-db: $(STAMP)
	mkdir -p .run
	$(ENV) airflow db migrate > .run/airflow-migrate.log 2>&1 || { tail -30 .run/airflow-migrate.log; exit 1; }

# Idempotent; adopts a DB an older checkout made with plain DDL. Code never migrates at run time: it checks
# the revision and refuses with "run `evergreen db upgrade`".
db-upgrade: $(STAMP)  ## the project's own DB (promotions, drift reports, event ledger) to the code's migrations
	$(ENV) python -m evergreen.cli db upgrade

demo: setup  ## the whole loop: 30 days of data, a champion, drift, a Kafka event, retrainings by Airflow (~50 min on 2 cores)
	$(ENV) python -m evergreen.cli demo

test: setup  ## the whole suite but the 8-day replay: unit, DAG, integration (real Spark, GX, Kafka, PostgreSQL, MLflow), e2e (running Airflow)
	$(ENV) pytest -q -m "not long"

test-long: setup  ## the running-stack tests marked long: 8-day replay, two models, triggerer kills (about 80 minutes)
	$(ENV) pytest -q -m long

test-fast: $(STAMP)  ## unit + DAG integrity: no JVM, broker or server (under 2 minutes)
	$(ENV) pytest -q -m "not services"

lint: $(STAMP)  ## ruff check + format check + the architecture's import contracts + dependency files agree
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/python scripts/check_deps.py

lock: $(STAMP)  ## regenerate requirements-lock.txt from the requirements files (needs the package index)
	bash scripts/lock.sh

up: setup  ## start PostgreSQL, Kafka, MLflow and Airflow as local services (idempotent); prints URLs and login
	$(ENV) python -m evergreen.cli up

status: $(STAMP)  ## each local service: pid, port, health, log file; says which are dead
	$(ENV) python -m evergreen.cli status

down: $(STAMP)  ## stop the local services `make up` started (by process group), leaving no process
	$(ENV) python -m evergreen.cli down

kafka-up: kafka-jars  ## start the project's Kafka broker (127.0.0.1:9092) and its topics
	bash scripts/kafka.sh start
	bash scripts/kafka.sh topics evergreen.drift evergreen.drift.dead-letter

kafka-down:  ## stop it
	bash scripts/kafka.sh stop

spark-cluster-up: $(STAMP)  ## start a Spark standalone master + worker on 127.0.0.1:7077 (scripts/spark-cluster.sh)
	$(ENV) bash scripts/spark-cluster.sh start

spark-cluster-down:  ## stop it
	bash scripts/spark-cluster.sh stop

s3-up: $(STAMP)  ## start the project's S3 server (S3Proxy on 127.0.0.1:9000, scripts/s3.sh); prints its URL
	$(ENV) bash scripts/s3.sh start

s3-down:  ## stop it (objects stay in .run/s3)
	bash scripts/s3.sh stop

bench: setup  ## benchmarks (minutes; not part of the tests)
	$(ENV) python bench/pipeline_vs_pandas.py

clean:  ## stop the local services, remove run state (lake, Airflow DB, broker data); keeps the venv and jar cache
	if [ -x $(VENV)/bin/python ]; then $(ENV) python -m evergreen.cli down || true; fi
	bash scripts/kafka.sh stop || true
	rm -rf .run

.PHONY: help setup kafka-jars spark-jars s3-jar airflow-db db-upgrade demo test test-long test-fast lint lock up status down kafka-up kafka-down spark-cluster-up spark-cluster-down s3-up s3-down bench clean
