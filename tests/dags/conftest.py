"""Parse every DAG the way the DAG processor would, with connections faked through the environment."""

from __future__ import annotations

import os

import pytest

from tests.paths import DAGS_DIR

# Fake connections: parsing must never need a reachable service.
os.environ.setdefault("AIRFLOW_CONN_SPARK_DEFAULT", '{"conn_type": "spark", "host": "local[2]"}')
os.environ.setdefault(
    "AIRFLOW_CONN_KAFKA_DEFAULT", '{"conn_type": "kafka", "extra": {"bootstrap.servers": "127.0.0.1:1"}}'
)
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS_DIR))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def dag_files() -> list[str]:
    return sorted(p.name for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))
