"""Fixtures for tests against a real PostgreSQL server and a real `mlflow server` backed by it.

PostgreSQL runs through scripts/postgres.sh (the script the demo and CI use) with its own data dir and a
free port; the MLflow server through `evergreen.devtools.mlflow_server.MlflowServer`. The fixtures are a pytest
plugin (registered in tests/conftest.py), so any test can ask for them by name. If either cannot start, the
fixture fails with the output: a skipped "PostgreSQL" test would prove nothing.

As root the server runs as the `postgres` user, which must reach the data dir: it lives in its own
/tmp/evergreen-pg-* folder (mode 711), not under the test run dir (mode 700).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.plugins.service_script import run_service_script

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_SH = ROOT / "scripts" / "postgres.sh"


class PostgresError(RuntimeError):
    """scripts/postgres.sh failed; the message carries its exit code and output."""


class PostgresServer:
    """One server of scripts/postgres.sh, bound to one data dir and one port."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.last_start_s: float | None = None

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PG_DATA_DIR": str(self.data_dir), "PG_PORT": str(self.port)}
        return run_service_script(
            POSTGRES_SH,
            args,
            env=env,
            timeout=timeout,
            check=check,
            error=PostgresError,
            context=f"PG_DATA_DIR={self.data_dir}, PG_PORT={self.port}",
        )

    def start(self) -> None:
        began = time.monotonic()
        self.run("start")
        self.last_start_s = time.monotonic() - began

    def stop(self) -> None:
        self.run("stop")

    def createdb(self, *names: str) -> None:
        self.run("createdb", *names)

    def url(self, database: str) -> str:
        return self.run("url", database).stdout.strip()


def _free_port() -> int:
    from evergreen.devtools.mlflow_server import free_port

    return free_port()


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    base = Path(tempfile.mkdtemp(prefix="evergreen-pg-"))
    base.chmod(0o711)
    server = PostgresServer(base / "postgres", _free_port())
    try:
        server.start()
    except PostgresError as e:
        server.run("stop", check=False)
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start:\n{e}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def mlflow_pg_server(postgres_server: PostgresServer, tmp_path_factory):
    """`mlflow server` with its backend store in PostgreSQL database `mlflow` and artifacts in a temp dir."""
    from evergreen.devtools.mlflow_server import MlflowServer, MlflowServerError

    postgres_server.createdb("mlflow")
    folder = tmp_path_factory.mktemp("mlflow-server")
    server = MlflowServer(postgres_server.url("mlflow"), folder / "artifacts", log_path=folder / "server.log")
    try:
        server.start()
    except MlflowServerError as e:
        pytest.fail(f"mlflow server (PostgreSQL backend) did not start:\n{e}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
