"""Shared fixtures.

Every test run gets its own EVERGREEN_HOME and AIRFLOW_HOME under a temp folder, so tests never touch a
developer's demo state. One SparkSession serves the whole run: starting one costs ~5 s on 2 cores.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import pytest

# Fixtures that start real services, one module each: a Kafka broker per session, PostgreSQL and MLflow server,
# a Spark standalone cluster, an S3 server.
pytest_plugins = [
    "tests.plugins.kafka_broker",
    "tests.plugins.postgres",
    "tests.plugins.spark_cluster",
    "tests.plugins.s3_server",
]


_RUN_DIR = Path(tempfile.mkdtemp(prefix="evergreen-tests-"))
os.environ["EVERGREEN_HOME"] = str(_RUN_DIR / "evergreen")
# Forced, not defaulted: dag.test() writes into whatever metadata DB it points at, never the dev one.
os.environ["AIRFLOW_HOME"] = str(_RUN_DIR / "airflow")
os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# py4j logs "Closing down clientserver connection" from __del__ at interpreter exit, after pytest has
# closed its streams: a traceback-shaped "Logging error" that is noise, not a failure.
logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def run_dir() -> Path:
    return _RUN_DIR


@pytest.fixture(scope="session")
def spark():
    from evergreen.pipeline.spark import spark_session

    session = spark_session("evergreen-tests", master="local[2]")
    yield session
    session.stop()


@pytest.fixture
def lake_settings(tmp_path, monkeypatch):
    """Settings pointing at a fresh lake, source DB and evergreen DB (migrated, as setup leaves it) for one test."""
    from evergreen import config
    from evergreen.storage import migrate

    monkeypatch.setenv("EVERGREEN_HOME", str(tmp_path / "home"))
    s = config.reload()
    migrate.upgrade()
    yield s
    monkeypatch.undo()
    config.reload()


@pytest.fixture(scope="session")
def airflow_db(run_dir):
    """A migrated Airflow metadata DB (SQLite) in this test run's own AIRFLOW_HOME."""
    import subprocess
    import sys

    airflow = Path(sys.executable).parent / "airflow"
    out = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return os.environ["AIRFLOW_HOME"]


# Markers applied by where a test lives and what it starts, so `-m` selects tiers without anyone remembering
# to decorate: `make test-fast` runs `-m "not services"` (unit + DAG integrity, no JVM, broker or server).
FOLDER_MARKS = {"unit": "unit", "dags": "dags", "integration": "integration", "e2e": "e2e", "plugin": "plugin"}
FIXTURE_MARKS = {
    "spark": "spark",
    "spark_cluster": "spark",
    "s3_server": "s3",
    "kafka_broker": "kafka",
    "postgres_server": "postgres",
    "mlflow_pg_server": "postgres",
    "airflow_db": "airflow",
}
SERVICE_MARKS = {"integration", "e2e", "plugin", "browser", "spark", "kafka", "postgres", "airflow", "s3", "slow"}


def pytest_collection_modifyitems(config, items):
    tests_dir = Path(__file__).parent
    for item in items:
        folder = Path(str(item.fspath)).relative_to(tests_dir).parts[0]
        marks = {FOLDER_MARKS[folder]} if folder in FOLDER_MARKS else set()
        marks |= {mark for fixture, mark in FIXTURE_MARKS.items() if fixture in item.fixturenames}
        own = {m.name for m in item.iter_markers()}  # already on the test (some with arguments: never re-added)
        for name in sorted(marks - own):
            item.add_marker(name)
        if (marks | own) & SERVICE_MARKS:
            item.add_marker("services")


def pytest_configure(config):
    # Each run's tmp_path lives under its own run dir: pytest's shared /tmp/pytest-of-<user>/ prunes
    # older runs' folders, which deleted a concurrent run's SQLite files mid-test.
    if not config.option.basetemp:
        config.option.basetemp = str(_RUN_DIR / "pytest")
